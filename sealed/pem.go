package sealed

import (
	"bytes"
	"crypto/hpke"
	"encoding/binary"
	"encoding/pem"
	"errors"
)

// PEM block types of the files `sealfeed keys seal-key` writes (spec/sealed.md §6).
const (
	PEMRecord     = "SEALFEED SEAL KEY RECORD"
	PEMPrivateKey = "SEALFEED SEAL PRIVATE KEY"
)

// MarshalRecordPEM returns the record as one PEM block, the file a client
// hands to its application's back end.
func MarshalRecordPEM(k *KeyRecord) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PEMRecord, Bytes: k.raw})
}

// ParseRecordPEM decodes one record PEM block; anything else in the input
// is an error. It returns the record's bytes for VerifyRecord.
func ParseRecordPEM(b []byte) ([]byte, error) {
	blk, rest := pem.Decode(bytes.TrimSpace(b))
	if blk == nil || blk.Type != PEMRecord || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("not exactly one PEM \"" + PEMRecord + "\" block")
	}
	return blk.Bytes, nil
}

// MarshalKeyPEM returns the private key (kem_id || SerializePrivateKey)
// followed by its record: everything a client needs to open envelopes.
func MarshalKeyPEM(k *Key) ([]byte, error) {
	sk, err := k.Private.Bytes()
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint16(nil, k.Private.KEM().ID())
	out := pem.EncodeToMemory(&pem.Block{Type: PEMPrivateKey, Bytes: append(body, sk...)})
	return append(out, MarshalRecordPEM(k.Record)...), nil
}

// ParseKeyPEM reads what MarshalKeyPEM wrote and checks that the record is
// the private key's and signed by the record's identity key (SEAL-004); it
// does not check the record's validity period (SEAL-025).
func ParseKeyPEM(b []byte) (*Key, error) {
	blk, rest := pem.Decode(bytes.TrimSpace(b))
	if blk == nil || blk.Type != PEMPrivateKey || len(blk.Bytes) < 2 {
		return nil, errors.New("not a PEM \"" + PEMPrivateKey + "\" block")
	}
	raw, err := ParseRecordPEM(rest)
	if err != nil {
		return nil, err
	}
	rec, err := ParseRecord(raw)
	if err != nil {
		return nil, err
	}
	kemID := binary.BigEndian.Uint16(blk.Bytes)
	if kemID != rec.Suite.KEM {
		return nil, errors.New("sealing key and record of different KEMs")
	}
	kem, _, _ := rec.Suite.hpke()
	priv, err := kem.NewPrivateKey(blk.Bytes[2:])
	if err != nil {
		return nil, errors.New("malformed sealing private key")
	}
	return NewOpenerKey(priv, raw)
}

// NewOpenerKey pairs a private key with its record for an Opener: the
// record must be the key's and its signature must verify under its own
// identity key (SEAL-004). The validity period is not checked (SEAL-025).
func NewOpenerKey(priv hpke.PrivateKey, rawRecord []byte) (*Key, error) {
	rec, err := ParseRecord(rawRecord)
	if err != nil {
		return nil, err
	}
	if err := rec.verifySignature(); err != nil {
		return nil, err
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), rec.PublicKey) {
		return nil, errors.New("sealing key record is not this private key's")
	}
	return &Key{Private: priv, Record: rec}, nil
}
