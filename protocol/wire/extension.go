package wire

import (
	"github.com/sealfeed/sealfeed/protocol/alert"
)

// Extension is one extension (spec §6.1, §13).
type Extension struct {
	Type uint16
	Data []byte
}

// Extension types (registries.md §Extensions). The high bit marks critical
// extensions (EXT-001).
const (
	ExtRealm            uint16 = 0x0001 // ClientHello: realm the client expects
	ExtResumptionTicket uint16 = 0x0002 // ClientHello: ticket from Welcome
	ExtPSKAccepted      uint16 = 0x0003 // ServerHello: the ticket's PSK is in use
	ExtNextServerKey    uint16 = 0x0004 // ServerIdentity (raw_key): the key the server uses next (HS-070)

	CriticalBit uint16 = 0x8000

	MaxExtensions   = 32
	MaxExtensionLen = 0xffff
)

// Critical reports whether an extension type is critical (EXT-001).
func Critical(t uint16) bool { return t&CriticalBit != 0 }

// IsGREASE reports whether v is a GREASE value for versions, groups and
// AEADs: 0x?A?A with both nibbles equal (EXT-003).
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>12 == (v>>4)&0x0f }

// IsGREASEExtension reports whether t is a non-critical GREASE extension type.
func IsGREASEExtension(t uint16) bool { return IsGREASE(t) && !Critical(t) }

// AppendExtensions appends an extension list. The caller supplies them in
// strictly ascending type order (HS-004).
func AppendExtensions(b []byte, exts []Extension) []byte {
	b = AppendPrefix(b, len(exts), MaxExtensions)
	for _, e := range exts {
		b = AppendUint16(b, e.Type)
		b = AppendOpaque(b, e.Data, MaxExtensionLen)
	}
	return b
}

// ReadExtensions reads an extension list and enforces strictly ascending
// types (HS-004, WIRE-002).
func (r *Reader) ReadExtensions() []Extension {
	n := r.Count(0, MaxExtensions, 4, "extensions")
	if r.err != nil || n == 0 {
		return nil
	}
	exts := make([]Extension, n)
	for i := range exts {
		exts[i].Type = r.Uint16("extension type")
		exts[i].Data = r.Opaque(0, MaxExtensionLen, "extension data")
		if r.err != nil {
			return nil
		}
		if i > 0 && exts[i].Type <= exts[i-1].Type {
			r.Fail(alert.Errorf(alert.IllegalParameter, "extension 0x%04x out of order", exts[i].Type))
			return nil
		}
	}
	return exts
}

// CheckExtensions applies EXT-002 and EXT-005 to a received extension list:
// known reports whether this receiver implements a type in this message.
// Unknown critical types are unknown_critical_extension; unknown non-critical
// ones are ignored.
func CheckExtensions(exts []Extension, known func(uint16) bool) error {
	for _, e := range exts {
		if known(e.Type) {
			continue
		}
		if Critical(e.Type) {
			return alert.Errorf(alert.UnknownCriticalExtension, "extension 0x%04x", e.Type)
		}
	}
	return nil
}

// FindExtension returns the extension of type t, if present.
func FindExtension(exts []Extension, t uint16) (Extension, bool) {
	for _, e := range exts {
		if e.Type == t {
			return e, true
		}
	}
	return Extension{}, false
}
