package vectors_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() { runners["handshake"] = runHandshake }

func concat(parts []vectors.NamedBytes) *bytes.Reader {
	var b []byte
	for _, p := range parts {
		b = append(b, p.Value...)
	}
	return bytes.NewReader(b)
}

// hsConfigs builds the reference configurations of a test from the vector
// alone, with its randomness and a trace into tr.
func hsConfigs(t *testing.T, tc *vectors.HandshakeTest, tr map[string][]byte) (*handshake.ClientConfig, *bytes.Reader, *handshake.ServerConfig, *bytes.Reader) {
	t.Helper()
	now := func() time.Time { return time.Unix(int64(tc.Now), 0) }
	trace := func(side string) handshake.Tracer {
		return func(n string, v []byte) {
			if old, ok := tr[n]; ok && !bytes.Equal(old, v) {
				t.Errorf("tcId %d: client and server trace different %s", tc.TcID, n)
			}
			tr[n] = v
		}
	}
	c, s := tc.Client, tc.Server
	crand, srand := concat(c.Random), concat(s.Random)
	cc := &handshake.ClientConfig{Rand: crand, Now: now, Versions: c.Versions, Groups: c.Groups, AEADs: c.AEADs, GREASE: c.GREASE,
		Trace: trace("client")}
	if len(c.PinnedKeyID) == 32 {
		var id [32]byte
		copy(id[:], c.PinnedKeyID)
		cc.PinnedKeyID = &id
	} else {
		ak, err := sig.ParsePublicKey(c.AuthorityKey)
		if err != nil {
			t.Fatal(err)
		}
		cc.Trust = &credential.Trust{Authority: ak, Realm: c.Realm, MinRevocationNumber: uint64(c.MinRevocationNumber)}
	}
	if len(c.IdentitySeed) > 0 {
		cc.Identity = ed25519.NewKeyFromSeed(c.IdentitySeed)
	}
	if c.Ticket != nil {
		tk := &handshake.Ticket{Bytes: c.Ticket.Ticket, PSK: c.Ticket.PSK, Expires: time.Unix(int64(c.Ticket.Expires), 0)}
		copy(tk.ClientID[:], c.Ticket.ClientID)
		cc.Ticket = tk
	}
	for _, e := range c.ExtraExtensions {
		cc.ExtraExtensions = append(cc.ExtraExtensions, wire.Extension{Type: e.Type, Data: e.Data})
	}
	sc := &handshake.ServerConfig{Rand: srand, Now: now, Versions: s.Versions, Groups: s.Groups, AEADs: s.AEADs,
		Key: ed25519.NewKeyFromSeed(s.KeySeed), TicketLifetime: time.Duration(s.TicketLifetimeSec) * time.Second,
		RequireClientKey: s.RequireClientKey, MaxPayload: s.MaxPayload, IdleTimeoutMs: s.IdleTimeoutMs, Trace: trace("server")}
	if len(s.Credential) > 0 {
		sc.Credential, sc.RevocationList = s.Credential, s.RevocationList
	}
	if len(s.TicketKey) > 0 {
		sc.TicketKey = s.TicketKey
	}
	return cc, crand, sc, srand
}

func runHandshake(t *testing.T, file string) {
	f := load[vectors.HandshakeGroup](t, file)
	for _, g := range f.TestGroups {
		for i := range g.Tests {
			tc := &g.Tests[i]
			t.Run(fmt.Sprint(tc.TcID), func(t *testing.T) {
				switch tc.Role {
				case "both":
					runHandshakeBoth(t, tc)
				case "client", "server":
					runHandshakeSide(t, tc)
				default:
					t.Fatalf("role %q", tc.Role)
				}
			})
		}
	}
}

// runHandshakeBoth runs client and server against each other and compares
// every frame, traced value and result with the vector.
func runHandshakeBoth(t *testing.T, tc *vectors.HandshakeTest) {
	tr := map[string][]byte{}
	cc, crand, sc, srand := hsConfigs(t, tc, tr)
	cl, err := handshake.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := handshake.NewServer(sc)
	if err != nil {
		t.Fatal(err)
	}
	var frames []vectors.HandshakeFrame
	add := func(from string, fs ...[]byte) {
		for _, f := range fs {
			frames = append(frames, vectors.HandshakeFrame{From: from, Frame: bytes.Clone(f)})
		}
	}
	ch, err := cl.Start()
	outcome(t, &tc.Test, err)
	add("client", ch)
	out, _, err := sv.Handle(ch)
	if !outcome(t, &tc.Test, err) || len(out) != 2 {
		return
	}
	add("server", out...)
	if _, _, err := cl.Handle(out[0]); !outcome(t, &tc.Test, err) {
		return
	}
	cf, _, err := cl.Handle(out[1])
	if !outcome(t, &tc.Test, err) || len(cf) != 1 {
		return
	}
	add("client", cf...)
	w, done, err := sv.Handle(cf[0])
	if !outcome(t, &tc.Test, err) || !done || len(w) != 1 {
		return
	}
	add("server", w...)
	if _, done, err := cl.Handle(w[0]); !outcome(t, &tc.Test, err) || !done {
		return
	}
	if len(frames) != len(tc.Frames) {
		t.Fatalf("%d frames, want %d", len(frames), len(tc.Frames))
	}
	for i := range frames {
		if frames[i].From != tc.Frames[i].From {
			t.Errorf("frame %d from %s, want %s", i, frames[i].From, tc.Frames[i].From)
		}
		equal(t, &tc.Test, fmt.Sprintf("frame %d", i), frames[i].Frame, tc.Frames[i].Frame)
	}
	for n, want := range tc.Messages {
		equal(t, &tc.Test, "message "+n, tr[n], want)
	}
	for n, want := range tc.Secrets {
		got, ok := tr[n]
		if !ok {
			// Values the reference does not trace: envelope keys and
			// transcript hashes.
			s := cl.Session()
			switch {
			case n == "env_key":
				got = s.Envelope.Key
			case n == "env_iv":
				got = s.Envelope.IV
			case n == "tag_key":
				got = s.Envelope.TagKey
			case strings.HasPrefix(n, "th_"):
				continue // checked by the generator's checkTranscript
			default:
				t.Errorf("secret %s is not traced", n)
				continue
			}
		}
		equal(t, &tc.Test, "secret "+n, got, want)
	}
	for n, v := range tr {
		_, m := tc.Messages[n]
		_, s := tc.Secrets[n]
		if !m && !s && !strings.HasSuffix(n, "_frame") {
			t.Errorf("traced %s (%x) is not in the vector", n, v)
		}
	}
	id := cl.Session().ClientID
	equal(t, &tc.Test, "client ID", id[:], tc.ClientID)
	if sid := sv.Session().ClientID; sid != id {
		t.Error("client and server disagree on the client ID")
	}
	var ticket []byte
	if tk := cl.NewTicket(); tk != nil {
		ticket = tk.Bytes
	}
	equal(t, &tc.Test, "ticket", ticket, tc.Ticket)
	if crand.Len() != 0 || srand.Len() != 0 {
		t.Errorf("randomness left unread: client %d bytes, server %d bytes", crand.Len(), srand.Len())
	}
}

// runHandshakeSide runs the side under test alone: it consumes the other
// side's frames, must produce its own frames, and must reject the last
// input with the expected alert.
func runHandshakeSide(t *testing.T, tc *vectors.HandshakeTest) {
	tr := map[string][]byte{}
	cc, _, sc, srand := hsConfigs(t, tc, tr)
	var handle func([]byte) ([][]byte, bool, error)
	var pending [][]byte // frames the side produced, not yet compared
	if tc.Role == "client" {
		cl, err := handshake.NewClient(cc)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := cl.Start()
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, ch)
		handle = cl.Handle
	} else {
		sv, err := handshake.NewServer(sc)
		if err != nil {
			t.Fatal(err)
		}
		handle = sv.Handle
	}
	var last error
	for i, fr := range tc.Frames {
		if fr.From == tc.Role {
			if len(pending) == 0 {
				t.Fatalf("frame %d: the %s produced nothing here", i, tc.Role)
			}
			equal(t, &tc.Test, fmt.Sprintf("frame %d", i), pending[0], fr.Frame)
			pending = pending[1:]
			continue
		}
		out, _, err := handle(bytes.Clone(fr.Frame))
		last = err
		if err != nil {
			if i != len(tc.Frames)-1 {
				t.Errorf("frame %d of %d rejected early: %v", i, len(tc.Frames), err)
			}
			break
		}
		pending = append(pending, out...)
	}
	outcome(t, &tc.Test, last)
	// LIM-002: a ClientHello that does not decode costs the server no
	// asymmetric work, so it draws no randomness (no ephemeral key).
	if tc.Role == "server" && len(tc.Frames) == 1 {
		if c, _ := alert.CodeOf(last); c == alert.DecodeError || c == alert.IllegalParameter && tc.Requirement != "SUITE-002" && tc.Requirement != "SUITE-003" && tc.Requirement != "HS-003" {
			if srand.Len() != len(concatBytes(tc.Server.Random)) {
				t.Errorf("tcId %d: the server drew randomness for a ClientHello it rejects as malformed (LIM-002)", tc.TcID)
			}
		}
	}
	// ALERT-003: the error names no secret the side holds.
	noSecrets(t, &tc.Test, last, tr)
}

func concatBytes(parts []vectors.NamedBytes) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p.Value...)
	}
	return b
}
