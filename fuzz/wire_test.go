package fuzz

import (
	"bytes"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/wire"
)

func FuzzParseFrame(f *testing.F) {
	msg := wire.AppendMessage(nil, wire.TypeClientHello, []byte("body"))
	f.Add(wire.AppendPlaintextFrame(nil, msg))
	f.Add(wire.AppendPlaintextFrame(nil, wire.AppendAlert(nil, 40)))
	f.Add([]byte{0x17, 0, 0, 3, 1, 2, 3})
	f.Add([]byte{0x16, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		ft, hdr, frag, err := wire.ParseFrame(frame)
		if err != nil {
			return
		}
		again := append(wire.AppendFrameHeader(nil, ft, len(frag)), frag...)
		if !bytes.Equal(again, frame) || !bytes.Equal(hdr, frame[:4]) {
			t.Fatal("accepted frame does not re-encode to the same bytes")
		}
		if typ, body, raw, err := wire.ParsePlaintextFrame(frame); err == nil {
			if !bytes.Equal(wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, typ, body)), frame) || !bytes.Equal(raw, frag) {
				t.Fatal("plaintext frame does not re-encode")
			}
		}
	})
}

func FuzzReadExtensions(f *testing.F) {
	f.Add(wire.AppendExtensions(nil, []wire.Extension{{Type: 1, Data: []byte("realm")}, {Type: 0x0a0a}}))
	f.Add([]byte{2, 0, 2, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := wire.NewReader(in)
		exts := r.ReadExtensions()
		if r.Finish("extensions") != nil {
			return
		}
		if !bytes.Equal(wire.AppendExtensions(nil, exts), in) {
			t.Fatal("extensions do not re-encode to the same bytes")
		}
		for i := 1; i < len(exts); i++ {
			if exts[i].Type <= exts[i-1].Type {
				t.Fatal("accepted unsorted extensions")
			}
		}
	})
}
