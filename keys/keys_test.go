package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

func genKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// identity is the encoding of the neutral element, a small-order point
// that SIG-001 rejects.
func identity() []byte {
	b := make([]byte, 32)
	b[0] = 1
	return b
}

func TestPrivateRoundTrip(t *testing.T) {
	k := genKey(t)
	b, err := MarshalPrivate(k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("not PKCS #8 PEM:\n%s", b)
	}
	got, err := ParsePrivate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Fatal("round trip changed the key")
	}
	// Surrounding white space is allowed.
	if _, err := ParsePrivate(append(append([]byte("\n\n"), b...), "  \n\n"...)); err != nil {
		t.Errorf("white space around the block: %v", err)
	}
}

func TestPublicRoundTrip(t *testing.T) {
	k := genKey(t)
	b, err := MarshalPublic(pubOf(k))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("not PKIX PEM:\n%s", b)
	}
	got, err := ParsePublic(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), pubOf(k)) {
		t.Fatal("round trip changed the key")
	}
}

func TestParsePublicForms(t *testing.T) {
	k := genKey(t)
	pub := pubOf(k)
	pubPEM, _ := MarshalPublic(pub)
	privPEM, _ := MarshalPrivate(k)
	for name, in := range map[string]string{
		"PKIX PEM":           string(pubPEM),
		"PKCS #8 PEM":        string(privPEM),
		"hex":                hex.EncodeToString(pub),
		"upper-case hex":     strings.ToUpper(hex.EncodeToString(pub)),
		"hex with newline":   hex.EncodeToString(pub) + "\n",
		"base64":             base64.StdEncoding.EncodeToString(pub),
		"base64 unpadded":    base64.RawStdEncoding.EncodeToString(pub),
		"base64url":          base64.URLEncoding.EncodeToString(pub),
		"base64url unpadded": base64.RawURLEncoding.EncodeToString(pub),
		"base64 in spaces":   "  " + base64.StdEncoding.EncodeToString(pub) + " \n",
	} {
		got, err := ParsePublic([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got.Bytes(), pub) {
			t.Errorf("%s: got %x, want %x", name, got.Bytes(), pub)
		}
	}
}

func TestParseRejectsTrailingData(t *testing.T) {
	k := genKey(t)
	privPEM, _ := MarshalPrivate(k)
	pubPEM, _ := MarshalPublic(pubOf(k))
	for name, in := range map[string][]byte{
		"private + text":      append(bytes.Clone(privPEM), "trailing"...),
		"text + private":      append([]byte("leading\n"), privPEM...),
		"private + private":   append(bytes.Clone(privPEM), privPEM...),
		"private + public":    append(bytes.Clone(privPEM), pubPEM...),
		"private, cut short":  privPEM[:len(privPEM)-30],
		"empty":               nil,
		"base64 of the PKCS8": []byte(base64.StdEncoding.EncodeToString(privPEM)),
	} {
		if _, err := ParsePrivate(in); err == nil {
			t.Errorf("ParsePrivate accepted %s", name)
		}
	}
	hexKey := hex.EncodeToString(pubOf(k))
	for name, in := range map[string][]byte{
		"public + text":         append(bytes.Clone(pubPEM), "trailing"...),
		"public + public":       append(bytes.Clone(pubPEM), pubPEM...),
		"text + public":         append([]byte("leading\n"), pubPEM...),
		"private + text":        append(bytes.Clone(privPEM), "trailing"...),
		"hex + byte":            []byte(hexKey + "00"),
		"hex, 31 bytes":         []byte(hexKey[:62]),
		"hex + text":            []byte(hexKey + " x"),
		"base64 of 33 bytes":    []byte(base64.StdEncoding.EncodeToString(append(pubOf(k), 0))),
		"base64 of 31 bytes":    []byte(base64.StdEncoding.EncodeToString(pubOf(k)[:31])),
		"base64 + text":         []byte(base64.StdEncoding.EncodeToString(pubOf(k)) + " x"),
		"not hex, 64 chars":     []byte(strings.Repeat("g", 64)),
		"empty":                 nil,
		"raw 32 bytes (binary)": pubOf(k),
	} {
		if _, err := ParsePublic(in); err == nil {
			t.Errorf("ParsePublic accepted %s", name)
		}
	}
}

func TestParseRejectsWrongPEMType(t *testing.T) {
	k := genKey(t)
	privPEM, _ := MarshalPrivate(k)
	pubPEM, _ := MarshalPublic(pubOf(k))
	retype := func(b []byte, typ string) []byte {
		blk, _ := pem.Decode(b)
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: blk.Bytes})
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPriv := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	ecPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER})

	for name, in := range map[string][]byte{
		"PUBLIC KEY block":          pubPEM,
		"ED25519 PRIVATE KEY block": retype(privPEM, "ED25519 PRIVATE KEY"),
		"ENCRYPTED PRIVATE KEY":     retype(privPEM, "ENCRYPTED PRIVATE KEY"),
		"PKIX bytes as PRIVATE KEY": retype(pubPEM, "PRIVATE KEY"),
		"ECDSA PKCS #8":             ecPriv,
	} {
		if _, err := ParsePrivate(in); err == nil {
			t.Errorf("ParsePrivate accepted %s", name)
		}
	}
	for name, in := range map[string][]byte{
		"CERTIFICATE block":           retype(pubPEM, "CERTIFICATE"),
		"RSA PUBLIC KEY block":        retype(pubPEM, "RSA PUBLIC KEY"),
		"PKCS #8 bytes as PUBLIC KEY": retype(privPEM, "PUBLIC KEY"),
		"ECDSA PKIX":                  ecPub,
		"ECDSA PKCS #8":               ecPriv,
	} {
		if _, err := ParsePublic(in); err == nil {
			t.Errorf("ParsePublic accepted %s", name)
		}
	}
}

func TestParsePublicRejectsSmallOrderKey(t *testing.T) {
	id := identity()
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(id))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"hex":      []byte(hex.EncodeToString(id)),
		"base64":   []byte(base64.StdEncoding.EncodeToString(id)),
		"PKIX PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"zeros":    []byte(hex.EncodeToString(make([]byte, 32))),
	} {
		_, err := ParsePublic(in)
		if code, _ := alert.CodeOf(err); code != alert.BadKey {
			t.Errorf("%s: %v, want bad_key", name, err)
		}
	}
}

func TestSavePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dir", "key.pem")
	k := genKey(t)
	if err := SavePrivate(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", st.Mode().Perm())
	}
	got, err := LoadPrivate(path)
	if err != nil || !got.Equal(k) {
		t.Fatalf("LoadPrivate: %v (equal %v)", err, err == nil && got.Equal(k))
	}
	before, _ := os.ReadFile(path)

	err = SavePrivate(path, genKey(t))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second SavePrivate: %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("SavePrivate overwrote a key")
	}
	// A symbolic link in the way counts as existing, even a dangling one.
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), link); err != nil {
		t.Skip("no symlinks:", err)
	}
	if err := SavePrivate(link, k); !errors.Is(err, ErrExists) {
		t.Errorf("SavePrivate through a dangling link: %v, want ErrExists", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("SavePrivate wrote through a link")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files in the key's directory, want 1 (temporary files left?)", len(entries))
	}
}

func TestWriteNewMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pub.pem")
	if err := WriteNew(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %o, want 644", st.Mode().Perm())
	}
	if err := WriteNew(path, []byte("y"), 0o644); !errors.Is(err, ErrExists) {
		t.Errorf("WriteNew over an existing file: %v", err)
	}
}

func TestLoadOrCreatePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.pem")
	k1, created, err := LoadOrCreatePrivate(path)
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	k2, created, err := LoadOrCreatePrivate(path)
	if err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second call returned another key")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", st.Mode().Perm())
	}

	// A damaged key file is an error, never silently replaced.
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreatePrivate(bad); err == nil {
		t.Fatal("LoadOrCreatePrivate accepted a damaged file")
	}
	if b, _ := os.ReadFile(bad); string(b) != "not a key" {
		t.Fatal("LoadOrCreatePrivate replaced a damaged file")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPrivate(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadPrivate of a missing file: %v", err)
	}
	if _, err := LoadPublic(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadPublic of a missing file: %v", err)
	}
	// A public key file given as a private key: the error names the file and
	// does not repeat its contents.
	k := genKey(t)
	pubPEM, _ := MarshalPublic(pubOf(k))
	path := filepath.Join(dir, "key.pub")
	if err := os.WriteFile(path, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPrivate(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadPrivate of a public key: %v", err)
	}
	blk, _ := pem.Decode(pubPEM)
	if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(blk.Bytes)[:16]) {
		t.Errorf("error repeats key material: %v", err)
	}
	got, err := LoadPublic(path)
	if err != nil || !bytes.Equal(got.Bytes(), pubOf(k)) {
		t.Fatalf("LoadPublic: %v", err)
	}
}

// SIG-006: a key whose public half is not its seed's never reaches a file,
// and a file that states another public key (PKCS #8 v2, RFC 8410
// OneAsymmetricKey with publicKey [1]) loads with the seed's own half.
func TestPrivateKeyHalvesMatch(t *testing.T) {
	k, other := genKey(t), genKey(t)
	mixed := append(bytes.Clone(k[:32]), other[32:]...)
	if _, err := MarshalPrivate(mixed); !errors.As(err, new(*alert.Error)) {
		t.Fatalf("MarshalPrivate of mismatched halves: %v", err)
	}
	if err := SavePrivate(filepath.Join(t.TempDir(), "k.pem"), mixed); err == nil {
		t.Fatal("SavePrivate of mismatched halves succeeded")
	}
	type pkcs8v2 struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
		Public     asn1.BitString `asn1:"optional,tag:1"`
	}
	inner, _ := asn1.Marshal(k.Seed())
	der, err := asn1.Marshal(pkcs8v2{1, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 101, 112}}, inner,
		asn1.BitString{Bytes: other[32:], BitLength: 256}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePrivate(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatalf("PKCS #8 v2: %v", err)
	}
	if !got.Equal(k) {
		t.Fatal("the public key stored in the file replaced the seed's")
	}
}
