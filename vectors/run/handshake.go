package run

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sealfeed/sealfeed/internal/detrand"
	"github.com/sealfeed/sealfeed/internal/hstrace"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	runs["handshake"] = runHandshake
}

// transcriptSteps are the messages of the transcript in order, with the
// name of TH(…) after each (spec §6.1).
var transcriptSteps = []struct{ msg, th string }{
	{"ClientHello", ""}, {"ServerHello", "th_server_hello"}, {"ServerIdentity", "th_server_identity"},
	{"ServerVerify", "th_server_verify"}, {"ServerFinished", "th_server_finished"},
	{"ClientIdentity", "th_client_identity"}, {"AccessToken", "th_access_token"}, {"ClientVerify", "th_client_verify"},
	{"ClientFinished", "th_client_finished"},
}

// hsRun is one handshake test being run: the configurations built from the
// vector alone, the randomness sources and everything traced.
type hsRun struct {
	tc           *vectors.HandshakeTest
	cc           *handshake.ClientConfig
	sc           *handshake.ServerConfig
	crand, srand *bytes.Reader

	mu       sync.Mutex
	trace    map[string][]byte
	conflict []string // names the two sides traced with different values
}

func concat(parts []vectors.NamedBytes) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p.Value...)
	}
	return b
}

// newHSRun builds the reference configurations of a test from the vector.
func newHSRun(tc *vectors.HandshakeTest) (*hsRun, error) {
	r := &hsRun{tc: tc, trace: map[string][]byte{}}
	now := func() time.Time { return time.Unix(int64(tc.Now), 0) }
	tracer := func(n string, v []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if old, ok := r.trace[n]; ok && !bytes.Equal(old, v) {
			r.conflict = append(r.conflict, n)
		}
		r.trace[n] = bytes.Clone(v)
	}
	c, s := tc.Client, tc.Server
	r.crand, r.srand = bytes.NewReader(concat(c.Random)), bytes.NewReader(concat(s.Random))
	cc := &handshake.ClientConfig{Rand: r.crand, Now: now, Versions: c.Versions, Groups: c.Groups, AEADs: c.AEADs, GREASE: c.GREASE}
	hstrace.Set(cc, tracer)
	if len(c.PinnedKeyID) == 32 {
		var id [32]byte
		copy(id[:], c.PinnedKeyID)
		cc.PinnedKeyID = &id
		if len(c.NextPinnedKeyID) == 32 {
			next := [32]byte(c.NextPinnedKeyID)
			cc.NextPinnedKeyID = &next
		} else if len(c.NextPinnedKeyID) != 0 {
			return nil, fmt.Errorf("client next pinned key ID of %d bytes", len(c.NextPinnedKeyID))
		}
	} else {
		ak, err := sig.ParsePublicKey(c.AuthorityKey)
		if err != nil {
			return nil, fmt.Errorf("client authority key: %w", err)
		}
		cc.Trust = &credential.Trust{Authority: ak, Realm: c.Realm, MinRevocationNumber: uint64(c.MinRevocationNumber)}
	}
	if len(c.IdentitySeed) > 0 {
		if len(c.IdentitySeed) != ed25519.SeedSize {
			return nil, fmt.Errorf("client identity seed of %d bytes", len(c.IdentitySeed))
		}
		cc.Identity = ed25519.NewKeyFromSeed(c.IdentitySeed)
	}
	if len(c.Token) > 0 {
		cc.Token = c.Token
	}
	if c.Ticket != nil {
		tk := &handshake.Ticket{Bytes: c.Ticket.Ticket, PSK: c.Ticket.PSK, Expires: time.Unix(int64(c.Ticket.Expires), 0)}
		copy(tk.ClientID[:], c.Ticket.ClientID)
		cc.Ticket = tk
	}
	for _, e := range c.ExtraExtensions {
		cc.ExtraExtensions = append(cc.ExtraExtensions, wire.Extension{Type: e.Type, Data: e.Data})
	}
	if len(s.KeySeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("server key seed of %d bytes", len(s.KeySeed))
	}
	sc := &handshake.ServerConfig{Rand: detrand.New(r.srand), Now: now, Versions: s.Versions, Groups: s.Groups, AEADs: s.AEADs,
		Key: ed25519.NewKeyFromSeed(s.KeySeed), TicketLifetime: time.Duration(s.TicketLifetimeSec) * time.Second,
		RequireClientKey: s.RequireClientKey, MaxPayload: s.MaxPayload, IdleTimeoutMs: s.IdleTimeoutMs}
	hstrace.Set(sc, tracer)
	if len(s.Credential) > 0 {
		sc.Credential, sc.RevocationList = s.Credential, s.RevocationList
	}
	if len(s.NextKey) > 0 {
		nk, err := sig.ParsePublicKey(s.NextKey)
		if err != nil {
			return nil, fmt.Errorf("server next key: %w", err)
		}
		sc.NextKey = nk
	}
	keys, gens, err := s.TicketConfig(now)
	if err != nil {
		return nil, err
	}
	if keys != nil {
		sc.TicketKeys, sc.Generations = keys, gens
	}
	if len(s.StoreEpoch) != len(sc.StoreEpoch) {
		return nil, fmt.Errorf("server store epoch of %d bytes", len(s.StoreEpoch))
	}
	copy(sc.StoreEpoch[:], s.StoreEpoch)
	tv, err := s.TokenVerifier()
	if err != nil {
		return nil, err
	}
	sc.Tokens, sc.RequireToken = tv, s.RequireToken
	r.cc, r.sc = cc, sc
	return r, nil
}

// finish completes an answer with the diagnostics of the run.
func (r *hsRun) finish(a Answer, frames []vectors.HandshakeFrame) Answer {
	if a.Outputs == nil {
		a.Outputs = map[string]any{}
	}
	a.Outputs["frames"] = frames
	r.mu.Lock()
	defer r.mu.Unlock()
	a.Held = map[string][]byte{}
	for n, v := range r.trace {
		a.Held[n] = v
	}
	a.Drawn = map[string]int{
		"client": len(concat(r.tc.Client.Random)) - r.crand.Len(),
		"server": len(concat(r.tc.Server.Random)) - r.srand.Len(),
	}
	return a
}

func runHandshake(group, test json.RawMessage) Answer {
	_, tc, err := decode[vectors.HandshakeGroup, vectors.HandshakeTest](group, test)
	if err != nil {
		return internal(err)
	}
	r, err := newHSRun(tc)
	if err != nil {
		return internal(err)
	}
	switch tc.Role {
	case "both":
		return r.both()
	case "client", "server":
		return r.side()
	}
	return Answer{Result: Unimplemented, Err: fmt.Errorf("run: handshake role %q", tc.Role)}
}

// both runs client and server against each other; the outputs are every
// frame, every traced message and secret, the transcript hashes, the
// envelope keys, the client ID and the ticket.
func (r *hsRun) both() Answer {
	frames := []vectors.HandshakeFrame{}
	add := func(from string, fs ...[]byte) {
		for _, f := range fs {
			frames = append(frames, vectors.HandshakeFrame{From: from, Frame: bytes.Clone(f)})
		}
	}
	cl, err := handshake.NewClient(r.cc)
	if err != nil {
		return internal(err)
	}
	sv, err := handshake.NewServer(r.sc)
	if err != nil {
		return internal(err)
	}
	fail := func(err error) Answer { return r.finish(fromErr(err), frames) }
	ch, err := cl.Start()
	if err != nil {
		return fail(err)
	}
	add("client", ch)
	out, _, err := sv.Handle(ch)
	if err != nil {
		return fail(err)
	}
	if len(out) != 2 {
		return r.finish(internalf("the server answered ClientHello with %d frames", len(out)), frames)
	}
	add("server", out...)
	if _, _, err := cl.Handle(out[0]); err != nil {
		return fail(err)
	}
	cf, _, err := cl.Handle(out[1])
	if err != nil {
		return fail(err)
	}
	if len(cf) != 1 {
		return r.finish(internalf("the client answered the server flight with %d frames", len(cf)), frames)
	}
	add("client", cf...)
	w, done, err := sv.Handle(cf[0])
	if err != nil {
		return fail(err)
	}
	if !done || len(w) != 1 {
		return r.finish(internalf("the server is not done after the client flight (%d frames)", len(w)), frames)
	}
	add("server", w...)
	if _, done, err := cl.Handle(w[0]); err != nil {
		return fail(err)
	} else if !done {
		return r.finish(internalf("the client is not done after Welcome"), frames)
	}
	cs, ss := cl.Session(), sv.Session()
	if cs.State().ClientID != ss.State().ClientID {
		return r.finish(internalf("client and server disagree on the client ID"), frames)
	}
	if r.crand.Len() != 0 || r.srand.Len() != 0 {
		return r.finish(internalf("randomness left unread: client %d bytes, server %d bytes", r.crand.Len(), r.srand.Len()), frames)
	}
	r.mu.Lock()
	conflict := r.conflict
	messages, secrets := map[string]vectors.Hex{}, map[string]vectors.Hex{}
	for n, v := range r.trace {
		switch {
		case strings.HasSuffix(n, "_frame"):
		case n[0] >= 'A' && n[0] <= 'Z':
			messages[n] = v
		default:
			secrets[n] = v
		}
	}
	r.mu.Unlock()
	if len(conflict) > 0 {
		return r.finish(internalf("client and server trace different %v", conflict), frames)
	}
	env := keyschedule.Envelope(secrets["envelope_secret"])
	secrets["env_key"], secrets["env_iv"], secrets["tag_key"] = env.Key, env.IV, env.TagKey
	var tr []byte
	for _, st := range transcriptSteps {
		m, ok := messages[st.msg]
		if !ok {
			continue
		}
		tr = append(tr, m...)
		if st.th != "" {
			h := sha256.Sum256(tr)
			secrets[st.th] = h[:]
		}
	}
	ticket := vectors.Hex{}
	if tk := cl.NewTicket(); tk != nil {
		ticket = bytes.Clone(tk.Bytes)
	}
	a := fromErr(nil)
	a.Outputs["messages"] = messages
	a.Outputs["secrets"] = secrets
	clientID := cs.State().ClientID
	a.Outputs["clientId"] = vectors.Hex(clientID[:])
	a.Outputs["ticket"] = ticket
	next := vectors.Hex{}
	if k := cl.NextServerKey(); k != nil {
		next = k.Bytes()
	}
	a.Outputs["nextServerKey"] = next
	return r.finish(a, frames)
}

// side runs the side under test alone: it consumes the other side's frames
// as given and produces its own, which fill the places the vector marks
// with {"from": role}. It stops at the first frame the side rejects. Frames
// the side produced beyond the vector's places are appended.
func (r *hsRun) side() Answer {
	role := r.tc.Role
	var handle func([]byte) ([][]byte, bool, error)
	var pending [][]byte // frames the side produced, not yet placed
	frames := []vectors.HandshakeFrame{}
	if role == "client" {
		cl, err := handshake.NewClient(r.cc)
		if err != nil {
			return internal(err)
		}
		ch, err := cl.Start()
		if err != nil {
			return r.finish(fromErr(err), frames)
		}
		pending = append(pending, ch)
		handle = cl.Handle
	} else {
		sv, err := handshake.NewServer(r.sc)
		if err != nil {
			return internal(err)
		}
		handle = sv.Handle
	}
	var last error
	for i, fr := range r.tc.Frames {
		if fr.From == role {
			if len(pending) == 0 {
				return r.finish(internalf("frame %d: the %s produced nothing here", i, role), frames)
			}
			frames = append(frames, vectors.HandshakeFrame{From: role, Frame: bytes.Clone(pending[0])})
			pending = pending[1:]
			continue
		}
		frames = append(frames, vectors.HandshakeFrame{From: fr.From, Frame: bytes.Clone(fr.Frame)})
		out, _, err := handle(bytes.Clone(fr.Frame))
		if err != nil {
			last = err
			break
		}
		pending = append(pending, out...)
	}
	for _, f := range pending {
		frames = append(frames, vectors.HandshakeFrame{From: role, Frame: bytes.Clone(f)})
	}
	return r.finish(fromErr(last), frames)
}
