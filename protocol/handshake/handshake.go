// Package handshake implements the two SealFeed handshake state machines
// (spec §6) over the key schedule of §7. It is transport agnostic: each side
// consumes frames and produces frames; once done it hands over a
// session.Session.
package handshake

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/sealfeed/sealfeed/internal/hstrace"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/keyschedule"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// HandshakeTimeout is the limit of HS-051; the transport enforces it.
const HandshakeTimeout = 10 * time.Second

// Defaults of the server's Welcome.
const (
	DefaultMaxPayload    = 65536
	DefaultIdleTimeoutMs = 60_000
	MaxTicketLifetime    = 7 * 24 * time.Hour
)

// tracer observes every handshake message and derived secret by name, for
// the test vectors and the conformance suite (internal/hstrace). It sees
// secrets, so it is not part of the public API: only internal/hstrace.Set,
// installed below, sets it.
type tracer func(name string, value []byte)

func init() {
	hstrace.Set = func(cfg any, f hstrace.Func) {
		switch c := cfg.(type) {
		case *ClientConfig:
			c.trace = tracer(f)
		case *ServerConfig:
			c.trace = tracer(f)
		default:
			panic(fmt.Sprintf("hstrace.Set: %T is not a handshake config", cfg))
		}
	}
}

func (t tracer) trace(name string, v []byte) {
	if t != nil {
		t(name, append([]byte(nil), v...))
	}
}

// transcript is the running SHA-256 of the concatenated encoded messages
// (spec §6.1). TH(…) of the messages added so far is hash(); Sum does not
// change the running state, so no copy of the transcript is kept.
type transcript struct{ h hash.Hash }

func (t *transcript) add(raw []byte) {
	if t.h == nil {
		t.h = sha256.New()
	}
	t.h.Write(raw)
}

func (t *transcript) hash() []byte {
	if t.h == nil {
		t.h = sha256.New()
	}
	return t.h.Sum(nil)
}

func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

func readRandom(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(randReader(r), b); err != nil {
		return alert.New(alert.InternalError, "randomness source failed")
	}
	return nil
}

func now(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// secrets holds the schedule of one handshake (KS-001).
type secrets struct {
	handshake, master    []byte
	clientHS, serverHS   []byte
	clientApp, serverApp []byte
	envelope, resumption []byte
}

// erase clears every secret except the resumption PSK, which the client's
// new ticket holds and the server clears once the ticket is sealed (KS-003).
// Record states hold their own copies of traffic secrets.
func (s *secrets) erase() {
	for _, b := range [][]byte{s.handshake, s.master, s.clientHS, s.serverHS, s.clientApp, s.serverApp, s.envelope} {
		clear(b)
	}
}

func (s *secrets) deriveHandshake(psk, shared []byte, th []byte, tr tracer) {
	early := keyschedule.EarlySecret(psk)
	s.handshake = keyschedule.HandshakeSecret(early, shared)
	s.clientHS = keyschedule.DeriveSecret(s.handshake, keyschedule.LabelClientHandshake, th)
	s.serverHS = keyschedule.DeriveSecret(s.handshake, keyschedule.LabelServerHandshake, th)
	s.master = keyschedule.MasterSecret(s.handshake)
	tr.trace("early_secret", early)
	tr.trace("shared_secret", shared)
	tr.trace("handshake_secret", s.handshake)
	tr.trace("c_hs_traffic", s.clientHS)
	tr.trace("s_hs_traffic", s.serverHS)
	tr.trace("master_secret", s.master)
	clear(early)
}

func (s *secrets) deriveApp(th []byte, tr tracer) {
	s.clientApp = keyschedule.DeriveSecret(s.master, keyschedule.LabelClientApp, th)
	s.serverApp = keyschedule.DeriveSecret(s.master, keyschedule.LabelServerApp, th)
	tr.trace("c_ap_traffic_0", s.clientApp)
	tr.trace("s_ap_traffic_0", s.serverApp)
}

func (s *secrets) deriveFinal(th []byte, tr tracer) {
	s.envelope = keyschedule.DeriveSecret(s.master, keyschedule.LabelEnvelope, th)
	s.resumption = keyschedule.DeriveSecret(s.master, keyschedule.LabelResumption, th)
	tr.trace("envelope_secret", s.envelope)
	tr.trace("resumption_psk", s.resumption)
}

// peerAlert returns the peer's code if frame is a plaintext Alert, which
// ends the handshake in any state (ALERT-004), and nil otherwise.
func peerAlert(frame []byte) error {
	if len(frame) == 0 || wire.FrameType(frame[0]) != wire.FramePlaintext {
		return nil
	}
	t, body, _, err := wire.ParsePlaintextFrame(frame)
	if err != nil || t != wire.TypeAlert {
		return nil
	}
	code, err := wire.ParseAlert(body)
	if err != nil {
		return err
	}
	return session.PeerAlert(code)
}

// grease returns a GREASE value drawn from rnd (EXT-003).
func grease(rnd io.Reader, nonCritical bool) (uint16, error) {
	var b [1]byte
	if err := readRandom(rnd, b[:]); err != nil {
		return 0, err
	}
	n := uint16(b[0] & 0x0f)
	if nonCritical {
		n &= 0x07
	}
	return n<<12 | 0x0a00 | n<<4 | 0x0a, nil
}

func contains(list []uint16, v uint16) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func orDefault(v, d []uint16) []uint16 {
	if len(v) == 0 {
		return d
	}
	return v
}

// supportedVersion reports whether this implementation speaks version v.
func supportedVersion(v uint16) bool { return contains(suite.SupportedVersions, v) }
