package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sealfeed/sealfeed/protocol/batch"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	runs["decode"] = runDecode
}

// decodeFunc decodes one structure of decode.json. It returns the
// re-encoding of what it decoded when the reference has an encoder for the
// structure, or nil.
type decodeFunc func(g *vectors.DecodeGroup, in []byte) (again []byte, err error)

// decoders maps decode.json structure names to the reference decoders.
var decoders = map[string]decodeFunc{
	"Frame": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		ft, _, frag, err := wire.ParseFrame(in)
		if err != nil {
			return nil, err
		}
		return append(wire.AppendFrameHeader(nil, ft, len(frag)), frag...), nil
	},
	"PlaintextFrame": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		typ, body, _, err := wire.ParsePlaintextFrame(in)
		if err != nil {
			return nil, err
		}
		return wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, typ, body)), nil
	},
	"Alert": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		_, err := wire.ParseAlert(in)
		return nil, err
	},
	"Extensions": func(g *vectors.DecodeGroup, in []byte) ([]byte, error) {
		r := wire.NewReader(in)
		exts := r.ReadExtensions()
		if err := r.Finish("extensions"); err != nil {
			return nil, err
		}
		if err := wire.CheckExtensions(exts, func(t uint16) bool { return slices.Contains(g.Known, t) }); err != nil {
			return nil, err
		}
		return wire.AppendExtensions(nil, exts), nil
	},
	"ClientHello": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		m, err := handshake.ParseClientHello(in)
		if err != nil {
			return nil, err
		}
		return m.AppendTo(nil)[4:], nil
	},
	"ServerHello": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		m, err := handshake.ParseServerHello(in)
		if err != nil {
			return nil, err
		}
		return m.AppendTo(nil)[4:], nil
	},
	"ServerIdentity": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		m, err := handshake.ParseServerIdentity(in)
		if err != nil {
			return nil, err
		}
		return m.AppendTo(nil)[4:], nil
	},
	"Welcome": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		m, err := session.ParseWelcome(in)
		if err != nil {
			return nil, err
		}
		return m.AppendTo(nil)[4:], nil
	},
	"Ack": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		ids, err := session.ParseAck(in)
		if err != nil {
			return nil, err
		}
		return session.AppendAck(nil, ids)[4:], nil
	},
	"BatchHeader": func(_ *vectors.DecodeGroup, in []byte) ([]byte, error) {
		h, err := batch.ParseHeader(in)
		if err != nil {
			return nil, err
		}
		return h.AppendTo(nil), nil
	},
}

// runDecode decodes the input strictly as the group's structure; what
// decodes must re-encode to the same bytes where the reference has an
// encoder.
func runDecode(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.DecodeGroup, vectors.DecodeTest](group, test)
	if err != nil {
		return internal(err)
	}
	dec, ok := decoders[g.Structure]
	if !ok {
		return Answer{Result: Unimplemented, Err: fmt.Errorf("run: no decoder for structure %q", g.Structure)}
	}
	again, err := dec(g, bytes.Clone(tc.Input))
	if err == nil && again != nil && !bytes.Equal(again, tc.Input) {
		return internalf("%s re-encodes to %x", g.Structure, again)
	}
	return fromErr(err)
}
