package generate

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
)

// Message bodies (spec §6.1, §9, §10.1) for decode.json. Inputs are bodies,
// without the 4-byte message header.

func init() {
	decodeStructures = append(decodeStructures, decodeClientHello, decodeServerHello, decodeServerIdentity,
		decodeWelcome, decodeAck, decodeBatchHeader)
}

// u16list encodes a uint16 list with a uint8 count.
func u16list(vs ...uint16) []byte {
	b := []byte{byte(len(vs))}
	for _, v := range vs {
		b = wire.AppendUint16(b, v)
	}
	return b
}

func decodeClientHello(a *area) (*decoder, error) {
	d := newDecoder(a, "ClientHello")
	share := randBytes(a.name, "ch/share", 32)
	m := &handshake.ClientHello{Versions: []uint16{1}, AEADs: []uint16{1, 2},
		KeyShares:  []handshake.KeyShare{{Group: 1, KeyExchange: share}},
		Extensions: []wire.Extension{{Type: wire.ExtRealm, Data: []byte("push.example")}}}
	copy(m.Random[:], randBytes(a.name, "ch/random", 32))
	body := m.AppendTo(nil)[4:]
	d.valid("x25519", "one X25519 share, two AEADs, a realm extension", "WIRE-011", body, "Normal")
	g := *m
	g.Versions = []uint16{0x2a2a, 1}
	g.AEADs = []uint16{0x2a2a, 1}
	g.KeyShares = []handshake.KeyShare{{Group: 0x2a2a, KeyExchange: []byte{0}}, {Group: 1, KeyExchange: share}}
	g.Extensions = append([]wire.Extension{{Type: wire.ExtRealm, Data: []byte("r")}}, wire.Extension{Type: 0x4a4a})
	d.valid("grease", "GREASE in every list and a GREASE extension", "EXT-003", g.AppendTo(nil)[4:], "GREASE")
	u := *m
	u.KeyShares = []handshake.KeyShare{{Group: 0x0999, KeyExchange: []byte{1, 2, 3}}, {Group: 1, KeyExchange: share}}
	d.valid("unknown-group", "an unknown group with a 3-byte share: its length is not checked", "HS-003", u.AppendTo(nil)[4:], "UnknownType")
	// Field boundaries: random 32, versions 1+2, shares 1+2+2+32, aeads 1+4, extensions.
	d.truncate("x25519", body, 0, 16, 32, 33, 35, 36, 38, 40, 72, 73, 77, 78, len(body)-1)
	d.trailing("x25519", body, "WIRE-011")
	rnd := body[:32]
	rest := func(parts ...[]byte) []byte { return cat(append([][]byte{rnd}, parts...)...) }
	shares := cat([]byte{1}, wire.AppendUint16(nil, 1), wire.AppendOpaque(nil, share, 0xffff))
	aeads := u16list(1, 2)
	exts := wire.AppendExtensions(nil, nil)
	d.invalid("versions-empty", "an empty versions list (versions<1..16>)", "WIRE-001", alert.DecodeError, rest(u16list(), shares, aeads, exts), "LengthMismatch")
	var v17 []uint16
	for i := 0; i < 17; i++ {
		v17 = append(v17, uint16(0x100+i))
	}
	d.invalid("versions-17", "17 versions", "WIRE-001", alert.DecodeError, rest(u16list(v17...), shares, aeads, exts), "LengthMismatch", "Oversize")
	d.invalid("versions-duplicate", "version 1 twice", "HS-002", alert.IllegalParameter, rest(u16list(1, 1), shares, aeads, exts), "Duplicate")
	d.invalid("aeads-duplicate", "AEAD 2 twice", "HS-002", alert.IllegalParameter, rest(u16list(1), shares, u16list(2, 1, 2), exts), "Duplicate")
	d.invalid("aeads-empty", "an empty AEAD list", "WIRE-001", alert.DecodeError, rest(u16list(1), shares, u16list(), exts), "LengthMismatch")
	d.invalid("shares-empty", "no key share (key_shares<1..4>)", "WIRE-001", alert.DecodeError, rest(u16list(1), []byte{0}, aeads, exts), "LengthMismatch")
	var five []byte
	for i := 0; i < 5; i++ {
		five = append(five, wire.AppendUint16(nil, uint16(0x100+i))...)
		five = append(five, wire.AppendOpaque(nil, []byte{1}, 0xffff)...)
	}
	d.invalid("shares-5", "five key shares", "WIRE-001", alert.DecodeError, rest(u16list(1), append([]byte{5}, five...), aeads, exts), "LengthMismatch", "Oversize")
	d.invalid("share-empty", "a key share with an empty key_exchange (key_exchange<1..65535>)", "WIRE-001", alert.DecodeError,
		rest(u16list(1), cat([]byte{1}, wire.AppendUint16(nil, 1), []byte{0, 0}), aeads, exts), "LengthMismatch")
	dup := cat([]byte{2}, wire.AppendUint16(nil, 1), wire.AppendOpaque(nil, share, 0xffff), wire.AppendUint16(nil, 1), wire.AppendOpaque(nil, share, 0xffff))
	d.invalid("shares-duplicate-group", "two shares of group 1", "HS-002", alert.IllegalParameter, rest(u16list(1), dup, aeads, exts), "Duplicate")
	d.invalid("extensions-out-of-order", "extensions 2 then 1", "HS-004", alert.IllegalParameter,
		rest(u16list(1), shares, aeads, wire.AppendExtensions(nil, []wire.Extension{{Type: 2, Data: []byte{1}}, {Type: 1, Data: []byte{1}}})), "OutOfOrder")
	d.invalid("share-length-beyond", "a key_exchange length beyond the body", "WIRE-003", alert.DecodeError,
		rest(u16list(1), cat([]byte{1}, wire.AppendUint16(nil, 1), []byte{0xff, 0xff}, share), aeads, exts), "LengthMismatch")
	return d, nil
}

func decodeServerHello(a *area) (*decoder, error) {
	d := newDecoder(a, "ServerHello")
	m := &handshake.ServerHello{Version: 1, AEAD: 1, KeyShare: handshake.KeyShare{Group: 1, KeyExchange: randBytes(a.name, "sh/share", 32)}}
	copy(m.Random[:], randBytes(a.name, "sh/random", 32))
	body := m.AppendTo(nil)[4:]
	d.valid("x25519", "a ServerHello choosing version 1, ChaCha20-Poly1305 and X25519", "WIRE-011", body, "Normal")
	p := *m
	p.Extensions = []wire.Extension{{Type: wire.ExtPSKAccepted}}
	pb := p.AppendTo(nil)[4:]
	d.valid("psk-accepted", "with the psk_accepted extension", "HS-040", pb, "Normal")
	d.truncate("x25519", body, 0, 31, 32, 34, 36, 38, 40, len(body)-1)
	d.trailing("x25519", body, "WIRE-011")
	d.trailing("psk-accepted", pb, "WIRE-011")
	e := *m
	e.KeyShare.KeyExchange = nil
	d.invalid("share-empty", "an empty key_exchange", "WIRE-001", alert.DecodeError, e.AppendTo(nil)[4:], "LengthMismatch")
	return d, nil
}

func decodeServerIdentity(a *area) (*decoder, error) {
	d := newDecoder(a, "ServerIdentity")
	pub := ed25519.NewKeyFromSeed(randBytes(a.name, "si/key", 32)).Public().(ed25519.PublicKey)
	raw := (&handshake.ServerIdentity{Type: handshake.IdentityRawKey, PublicKey: pub}).AppendTo(nil)[4:]
	cr := (&handshake.ServerIdentity{Type: handshake.IdentityCredential, Credential: randBytes(a.name, "si/cred", 40),
		RevocationList: randBytes(a.name, "si/rl", 20)}).AppendTo(nil)[4:]
	d.valid("raw-key", "identity_type raw_key", "WIRE-011", raw, "Normal")
	d.valid("credential", "identity_type credential (the credential and list are decoded by their own decoders)", "WIRE-011", cr, "Normal")
	d.truncate("raw-key", raw, 0, 1, 16, 33)
	d.truncate("credential", cr, 1, 2, 3, 42, 45, 64)
	d.trailing("raw-key", raw, "WIRE-011")
	d.trailing("credential", cr, "WIRE-011")
	for _, t := range []byte{0, 3, 0xff} {
		b := bytes.Clone(raw)
		b[0] = t
		d.invalid(fmt.Sprintf("type-%d", t), fmt.Sprintf("identity_type %d", t), "WIRE-001", alert.DecodeError, b, "UnknownType")
	}
	d.invalid("credential-empty", "an empty credential (credential<1..65535>)", "WIRE-001", alert.DecodeError,
		cat([]byte{2, 0, 0}, wire.AppendOpaque(nil, []byte{1}, 1<<24-1), []byte{0}), "LengthMismatch")
	d.invalid("revocation-list-empty", "an empty revocation list (revocation_list<1..2^24-1>)", "CRED-015", alert.DecodeError,
		cat([]byte{2}, wire.AppendOpaque(nil, []byte{1}, 0xffff), []byte{0, 0, 0}, []byte{0}), "LengthMismatch")
	return d, nil
}

func decodeWelcome(a *area) (*decoder, error) {
	d := newDecoder(a, "Welcome")
	w := &session.Welcome{MaxPayload: 65536, MaxRecord: 1 << 20, IdleTimeoutMs: 30000,
		Ticket: randBytes(a.name, "w/ticket", 93), TicketLifetime: 86400}
	copy(w.ClientID[:], randBytes(a.name, "w/id", 32))
	copy(w.StoreEpoch[:], randBytes(a.name, "w/epoch", 16))
	body := w.AppendTo(nil)[4:]
	d.valid("anonymous", "a Welcome with a ticket", "POST-002", body, "Normal")
	k := *w
	k.Ticket, k.TicketLifetime = nil, 0
	kb := k.AppendTo(nil)[4:]
	d.valid("key-identified", "a Welcome without a ticket", "POST-002", kb, "Normal")
	r := *w
	r.Resumed, r.TicketLifetime = true, 7*86400
	d.valid("resumed-max-lifetime", "resumed, ticket lifetime exactly 7 days", "POST-002", r.AppendTo(nil)[4:], "MaxSize")
	e := k
	e.Extensions = []wire.Extension{{Type: 0x1a1a, Data: []byte{1}}}
	d.valid("grease-extension", "a GREASE extension", "EXT-003", e.AppendTo(nil)[4:], "GREASE")
	// 51: store_epoch missing, 59: half of it (POST-010).
	d.truncate("key-identified", kb, 0, 32, 33, 37, 41, 45, 47, 51, 59, len(kb)-1)
	d.trailing("key-identified", kb, "WIRE-011")
	set := func(b []byte, f func([]byte)) []byte { b = bytes.Clone(b); f(b); return b }
	for _, fl := range []byte{0x02, 0x80, 0xff} {
		d.invalid(fmt.Sprintf("flags-%02x", fl), fmt.Sprintf("flags 0x%02x: undefined bits", fl), "POST-002", alert.IllegalParameter,
			set(kb, func(b []byte) { b[32] = fl }), "UnknownType")
	}
	d.invalid("max-record-over", "max_record = MaxRecordPlaintext + 1", "POST-002", alert.IllegalParameter,
		set(kb, func(b []byte) { copy(b[37:41], wire.AppendUint32(nil, 1<<20+1)) }), "Oversize")
	t0 := *w
	t0.TicketLifetime = 0
	d.invalid("ticket-lifetime-zero", "a ticket with ticket_lifetime 0", "POST-002", alert.IllegalParameter, t0.AppendTo(nil)[4:], "LengthMismatch")
	d.invalid("lifetime-without-ticket", "ticket_lifetime 60 without a ticket", "POST-002", alert.IllegalParameter,
		set(kb, func(b []byte) { copy(b[47:51], wire.AppendUint32(nil, 60)) }), "LengthMismatch")
	tl := *w
	tl.TicketLifetime = 7*86400 + 1
	d.invalid("ticket-lifetime-over", "ticket_lifetime 7 days + 1 s", "POST-002", alert.IllegalParameter, tl.AppendTo(nil)[4:], "Oversize")
	c := k
	c.Extensions = []wire.Extension{{Type: 0x8123}}
	d.invalid("critical-extension", "an unknown critical extension", "EXT-002", alert.UnknownCriticalExtension, c.AppendTo(nil)[4:], "UnknownCriticalExtension")
	return d, nil
}

func decodeAck(a *area) (*decoder, error) {
	d := newDecoder(a, "Ack")
	ack := func(ids ...uint64) []byte { return session.AppendAck(nil, ids)[4:] }
	raw := func(ids ...uint64) []byte {
		b := wire.AppendUint16(nil, uint16(len(ids)))
		for _, id := range ids {
			b = wire.AppendUint64(b, id)
		}
		return b
	}
	d.valid("one", "one message ID", "POST-005", ack(1), "Normal")
	d.valid("ascending", "IDs 1, 2, 1000", "POST-005", ack(1, 2, 1000), "Normal")
	d.valid("max-id", "ID 2^64 − 1", "POST-005", ack(1<<64-1), "MaxID")
	var many []uint64
	for i := uint64(1); i <= 4096; i++ {
		many = append(many, i)
	}
	d.valid("4096", "4096 IDs, the most an Ack holds", "POST-005", ack(many...), "MaxSize")
	d.invalid("empty", "no IDs (message_ids<1..4096>)", "WIRE-001", alert.DecodeError, raw(), "Empty")
	d.invalid("4097", "4097 IDs", "WIRE-001", alert.DecodeError, raw(append(many, 4097)...), "Oversize")
	d.invalid("descending", "IDs 2, 1", "POST-005", alert.IllegalParameter, raw(2, 1), "OutOfOrder")
	d.invalid("duplicate", "ID 5 twice", "POST-005", alert.IllegalParameter, raw(5, 5), "Duplicate")
	d.invalid("zero", "ID 0", "POST-005", alert.IllegalParameter, raw(0), "ZeroID")
	d.invalid("zero-after", "IDs 3, 0", "POST-005", alert.IllegalParameter, raw(3, 0), "ZeroID")
	b := ack(1, 2)
	d.truncate("two", b, 0, 1, 2, 9, 17)
	d.trailing("two", b, "WIRE-001")
	return d, nil
}

func decodeBatchHeader(a *area) (*decoder, error) {
	d := newDecoder(a, "BatchHeader")
	h := wire.AppendUint16(nil, 1)
	h = append(h, keyID(ed25519.NewKeyFromSeed(randBytes(a.name, "bh/key", 32)).Public().(ed25519.PublicKey))...)
	h = wire.AppendUint64(h, 7)
	h = wire.AppendUint64(h, 1767225600000)
	h = wire.AppendUint32(h, 3)
	h = append(h, randBytes(a.name, "bh/root", 32)...)
	if len(h) != 86 {
		return nil, fmt.Errorf("batch header of %d bytes", len(h))
	}
	d.valid("header", "an 86-byte header", "WIRE-001", h, "Normal")
	d.truncate("header", h, 0, 2, 34, 42, 50, 54, 85)
	d.trailing("header", h, "WIRE-001")
	return d, nil
}
