package keyschedule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	xhkdf "golang.org/x/crypto/hkdf"
)

// The HkdfLabel layout is checked against an independent HKDF
// implementation (x/crypto) and a hand-built info string.
// KS-001: HkdfLabel layout.
func TestExpandLabelLayout(t *testing.T) {
	secret := bytes.Repeat([]byte{0x42}, 32)
	ctx := []byte("context")
	info := []byte{0x00, 0x0c, byte(len("sealfeed v1 key"))}
	info = append(info, "sealfeed v1 key"...)
	info = append(info, byte(len(ctx)))
	info = append(info, ctx...)
	want := make([]byte, 12)
	if _, err := io.ReadFull(xhkdf.Expand(sha256.New, secret, info), want); err != nil {
		t.Fatal(err)
	}
	if got := ExpandLabel(secret, "key", ctx, 12); !bytes.Equal(got, want) {
		t.Fatalf("ExpandLabel = %x, want %x", got, want)
	}
}

// RFC 5869 Appendix A.1 through the package's Extract.
func TestExtractRFC5869(t *testing.T) {
	ikm, _ := hex.DecodeString("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b")
	salt, _ := hex.DecodeString("000102030405060708090a0b0c")
	prk := Extract(salt, ikm)
	if hex.EncodeToString(prk) != "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5" {
		t.Fatalf("PRK %x", prk)
	}
}

func TestLabelsAreDistinct(t *testing.T) {
	labels := []string{LabelDerived, LabelClientHandshake, LabelServerHandshake, LabelClientApp,
		LabelServerApp, LabelEnvelope, LabelResumption, LabelKey, LabelIV, LabelFinished,
		LabelTrafficUpdate, LabelEnvKey, LabelEnvIV, LabelEnvTag}
	full := []string{SigServer, SigClient, SigCredential, SigRevocationList, SigBatch, HashKeyID,
		HashClientID, MACRecipientTag}
	seen := map[string]bool{}
	for _, l := range labels {
		full = append(full, LabelPrefix+l)
	}
	for _, l := range full {
		if seen[l] {
			t.Fatalf("label %q used twice (KS-002)", l)
		}
		if len(l) > 255 || l[:len(LabelPrefix)] != LabelPrefix {
			t.Fatalf("label %q lacks the prefix (SUITE-010)", l)
		}
		seen[l] = true
	}
}

func TestDerivationsSeparate(t *testing.T) {
	s := EarlySecret(nil)
	if bytes.Equal(s, EarlySecret(bytes.Repeat([]byte{1}, 32))) {
		t.Fatal("PSK not mixed into the early secret")
	}
	hs := HandshakeSecret(s, bytes.Repeat([]byte{9}, 32))
	th := sha256.Sum256([]byte("transcript"))
	c := DeriveSecret(hs, LabelClientHandshake, th[:])
	sv := DeriveSecret(hs, LabelServerHandshake, th[:])
	if bytes.Equal(c, sv) {
		t.Fatal("client and server secrets equal")
	}
	k := Traffic(c)
	if len(k.Key) != 32 || len(k.IV) != 12 || bytes.Equal(NextTrafficSecret(c), c) {
		t.Fatal("traffic keys")
	}
	e := Envelope(DeriveSecret(MasterSecret(hs), LabelEnvelope, th[:]))
	if len(e.Key) != 32 || len(e.IV) != 12 || len(e.TagKey) != 32 || bytes.Equal(e.Key, e.TagKey) {
		t.Fatal("envelope keys")
	}
	if len(FinishedMAC(c, th[:])) != 32 || bytes.Equal(FinishedMAC(c, th[:]), FinishedMAC(sv, th[:])) {
		t.Fatal("finished MACs")
	}
}
