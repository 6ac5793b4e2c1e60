package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// runOK runs the CLI and fails the test unless it exits 0; it returns stdout.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
	}
	return out.String()
}

// runFail runs the CLI, expects a non-zero exit and stderr containing
// every one of want, and returns stderr.
func runFail(t *testing.T, args []string, want ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	if code == 0 {
		t.Fatalf("%v: exit 0, want failure\nstdout:\n%s", args, out.String())
	}
	for _, w := range want {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("%v: stderr lacks %q:\n%s", args, w, errb.String())
		}
	}
	return errb.String()
}

// keyLines parses keygen's "fingerprint X" and "public Y" lines.
func keyLines(t *testing.T, out string) (fingerprint string, pub []byte) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "fingerprint ") || !strings.HasPrefix(lines[1], "public ") {
		t.Fatalf("keygen output %q, want fingerprint and public lines", out)
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "public "))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public line %q: %v", lines[1], err)
	}
	return strings.TrimPrefix(lines[0], "fingerprint "), pub
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestKeygenWritesKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "keys", "server.pem"), filepath.Join(dir, "server.pub")
	fp, raw := keyLines(t, runOK(t, "keygen", "-out", priv, "-pub", pub))

	if m := mode(t, priv); m != 0o600 {
		t.Errorf("private key mode %o, want 600", m)
	}
	if m := mode(t, pub); m != 0o644 {
		t.Errorf("public key mode %o, want 644", m)
	}
	k, err := keyfile.LoadPrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	kp := k.Public().(ed25519.PublicKey)
	if got := sig.Fingerprint(kp); got != fp {
		t.Errorf("stdout fingerprint %s, key file's %s", fp, got)
	}
	if !bytes.Equal(raw, kp) {
		t.Errorf("stdout public key %x, key file's %x", raw, kp)
	}
	pk, err := keyfile.LoadPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pk.Bytes(), kp) {
		t.Errorf("-pub file holds %x, want %x", pk.Bytes(), kp)
	}
	b, _ := os.ReadFile(priv)
	if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("private key file is not PKCS #8 PEM:\n%s", b)
	}

	// -show prints the same two lines for the private key, the public key
	// file and a file holding the key in hex.
	hexFile := filepath.Join(dir, "server.hex")
	if err := os.WriteFile(hexFile, []byte(hex.EncodeToString(kp)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "fingerprint " + fp + "\npublic " + base64.StdEncoding.EncodeToString(kp) + "\n"
	for _, f := range []string{priv, pub, hexFile} {
		if got := runOK(t, "keygen", "-show", f); got != want {
			t.Errorf("keygen -show %s:\n%s\nwant:\n%s", f, got, want)
		}
	}
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "k.pem")
	runOK(t, "keygen", "-out", priv)
	before, _ := os.ReadFile(priv)
	runFail(t, []string{"keygen", "-out", priv}, "-out "+priv, "file exists")
	after, _ := os.ReadFile(priv)
	if !bytes.Equal(before, after) {
		t.Fatal("keygen replaced an existing key")
	}

	// A taken -pub is found before anything is written.
	taken := filepath.Join(dir, "taken.pub")
	if err := os.WriteFile(taken, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.pem")
	runFail(t, []string{"keygen", "-out", fresh, "-pub", taken}, "-pub "+taken, "file exists")
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("keygen wrote %s although -pub was taken", fresh)
	}
	runFail(t, []string{"keygen", "-out", fresh, "-pub", fresh}, "same file")
}

func TestKeygenRequiresOut(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"keygen"}, &out, &errb); code == 0 {
		t.Fatal("keygen without -out succeeded")
	}
	if !strings.Contains(errb.String(), "keygen: -out is required") {
		t.Errorf("stderr %q", errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("keygen without -out printed %q", out.String())
	}
}

// authority sets up an authority key (private and public files) and a
// server key in dir.
func authority(t *testing.T, dir string) (authPriv, authPub, serverPriv string, serverKey ed25519.PublicKey) {
	t.Helper()
	authPriv, authPub = filepath.Join(dir, "authority.pem"), filepath.Join(dir, "authority.pub")
	serverPriv = filepath.Join(dir, "server.pem")
	runOK(t, "keygen", "-out", authPriv, "-pub", authPub)
	_, raw := keyLines(t, runOK(t, "keygen", "-out", serverPriv))
	return authPriv, authPub, serverPriv, raw
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCredentialIssueAndRevokeValidate(t *testing.T) {
	dir := t.TempDir()
	authPriv, authPub, serverPriv, serverKey := authority(t, dir)
	credFile, listFile := filepath.Join(dir, "server.cred"), filepath.Join(dir, "crl.bin")

	out := runOK(t, "credential", "issue", "-authority", authPriv, "-server", serverPriv,
		"-realm", "feeds.example", "-serial", "42", "-out", credFile)
	authK, err := keyfile.LoadPublic(authPub)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`realm="feeds.example"`, "serial=42", "server=" + sig.Fingerprint(serverKey),
		"authority=" + sig.Fingerprint(authK.Bytes()), "not_before=", "not_after="} {
		if !strings.Contains(out, want) {
			t.Errorf("issue summary lacks %q: %s", want, out)
		}
	}
	if m := mode(t, credFile); m != 0o644 {
		t.Errorf("credential mode %o, want 644", m)
	}
	credBytes := readFile(t, credFile)
	c, err := credential.ParseCredential(credBytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "feeds.example" || c.Serial != 42 || !bytes.Equal(c.ServerKey[:], serverKey) {
		t.Errorf("credential realm %q serial %d server key %x", c.Realm, c.Serial, c.ServerKey)
	}
	if c.AuthorityID != authK.ID() {
		t.Errorf("credential authority_id %x, want %x", c.AuthorityID, authK.ID())
	}
	if life := time.Duration(c.NotAfter-c.NotBefore) * time.Second; life != credential.MaxCredentialLifetime {
		t.Errorf("default lifetime %v, want 720h", life)
	}

	out = runOK(t, "credential", "revoke", "-authority", authPriv, "-number", "3", "-serials", "9, 3,5,3", "-out", listFile)
	if !strings.Contains(out, "number=3") || !strings.Contains(out, "revoked=3,5,9") {
		t.Errorf("revoke summary: %s", out)
	}
	listBytes := readFile(t, listFile)
	l, err := credential.ParseRevocationList(listBytes)
	if err != nil {
		t.Fatal(err)
	}
	if l.Number != 3 || !slices.Equal(l.Revoked, []uint64{3, 5, 9}) {
		t.Errorf("list number %d revoked %v", l.Number, l.Revoked)
	}
	if life := time.Duration(l.NextUpdate-l.ThisUpdate) * time.Second; life != 24*time.Hour {
		t.Errorf("default list lifetime %v, want 24h (CRED-011)", life)
	}

	trust := credential.Trust{Authority: authK, Realm: "feeds.example"}
	got, gotList, err := credential.Validate(trust, credBytes, listBytes, time.Now())
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !bytes.Equal(got.Bytes(), serverKey) || gotList.Number != 3 {
		t.Errorf("Validate returned key %x list %d", got.Bytes(), gotList.Number)
	}

	// The server key given as a public PEM file, in hex and in base64 gives
	// the same server key.
	for i, server := range []string{filepath.Join(dir, "authority.pub"), hex.EncodeToString(serverKey),
		base64.StdEncoding.EncodeToString(serverKey), base64.RawURLEncoding.EncodeToString(serverKey)} {
		f := filepath.Join(dir, "c"+string(rune('a'+i)))
		runOK(t, "credential", "issue", "-authority", authPriv, "-server", server, "-realm", "r", "-serial", "1", "-out", f)
		c, err := credential.ParseCredential(readFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		want := serverKey
		if i == 0 {
			want = authK.Bytes()
		}
		if !bytes.Equal(c.ServerKey[:], want) {
			t.Errorf("-server %s: credential holds %x, want %x", server, c.ServerKey, want)
		}
	}

	// show prints both kinds.
	show := runOK(t, "credential", "show", credFile)
	for _, want := range []string{`realm        "feeds.example"`, "serial       42", sig.Fingerprint(serverKey),
		hex.EncodeToString(c.AuthorityID[:]), time.Unix(int64(c.NotAfter), 0).UTC().Format(time.RFC3339)} {
		if !strings.Contains(show, want) {
			t.Errorf("credential show lacks %q:\n%s", want, show)
		}
	}
	show = runOK(t, "credential", "show", listFile)
	for _, want := range []string{"revocation list", "number       3", "revoked      3,5,9",
		time.Unix(int64(l.NextUpdate), 0).UTC().Format(time.RFC3339)} {
		if !strings.Contains(show, want) {
			t.Errorf("credential show (list) lacks %q:\n%s", want, show)
		}
	}
	runFail(t, []string{"credential", "show", authPriv}, authPriv, "neither a credential")
}

func TestCredentialRevokedSerialRejected(t *testing.T) {
	dir := t.TempDir()
	authPriv, authPub, serverPriv, _ := authority(t, dir)
	credFile, listFile := filepath.Join(dir, "c"), filepath.Join(dir, "l")
	runOK(t, "credential", "issue", "-authority", authPriv, "-server", serverPriv, "-realm", "r", "-serial", "7", "-out", credFile)
	runOK(t, "credential", "revoke", "-authority", authPriv, "-number", "1", "-serials", "9,7", "-out", listFile)
	authK, err := keyfile.LoadPublic(authPub)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = credential.Validate(credential.Trust{Authority: authK, Realm: "r"}, readFile(t, credFile), readFile(t, listFile), time.Now())
	if code, _ := alert.CodeOf(err); code != alert.CredentialRevoked {
		t.Fatalf("Validate: %v, want credential_revoked", err)
	}
}

func TestCredentialNotBeforeAndValid(t *testing.T) {
	dir := t.TempDir()
	authPriv, _, serverPriv, _ := authority(t, dir)
	f := filepath.Join(dir, "c")
	runOK(t, "credential", "issue", "-authority", authPriv, "-server", serverPriv, "-realm", "r", "-serial", "1",
		"-not-before", "2030-01-02T03:04:05+01:00", "-valid", "36h", "-out", f)
	c, err := credential.ParseCredential(readFile(t, f))
	if err != nil {
		t.Fatal(err)
	}
	nb := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC)
	if c.NotBefore != uint64(nb.Unix()) || c.NotAfter != uint64(nb.Add(36*time.Hour).Unix()) {
		t.Errorf("validity %d..%d, want %d..%d", c.NotBefore, c.NotAfter, nb.Unix(), nb.Add(36*time.Hour).Unix())
	}
}

func TestCredentialValidAboveMaximum(t *testing.T) {
	dir := t.TempDir()
	authPriv, _, serverPriv, _ := authority(t, dir)
	f := filepath.Join(dir, "out")
	runFail(t, []string{"credential", "issue", "-authority", authPriv, "-server", serverPriv, "-realm", "r",
		"-serial", "1", "-valid", "721h", "-out", f}, "-valid 721h", "maximum credential lifetime of 720h")
	runFail(t, []string{"credential", "revoke", "-authority", authPriv, "-number", "1", "-valid", "169h", "-out", f},
		"-valid 169h", "maximum revocation list lifetime of 168h")
	runFail(t, []string{"credential", "revoke", "-authority", authPriv, "-number", "1", "-valid", "0s", "-out", f},
		"must be positive")
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Errorf("a failed command wrote %s", f)
	}
	// The maxima themselves are accepted.
	runOK(t, "credential", "issue", "-authority", authPriv, "-server", serverPriv, "-realm", "r", "-serial", "1",
		"-valid", "720h", "-out", filepath.Join(dir, "c"))
	runOK(t, "credential", "revoke", "-authority", authPriv, "-number", "1", "-valid", "168h", "-out", filepath.Join(dir, "l"))
}

func TestCredentialOverwriteRules(t *testing.T) {
	dir := t.TempDir()
	authPriv, _, serverPriv, _ := authority(t, dir)
	f := filepath.Join(dir, "c")
	issue := func(serial string, extra ...string) []string {
		return append([]string{"credential", "issue", "-authority", authPriv, "-server", serverPriv,
			"-realm", "r", "-serial", serial, "-out", f}, extra...)
	}
	runOK(t, issue("1")...)
	runFail(t, issue("2"), "-out "+f, "file exists", "-force")
	c, _ := credential.ParseCredential(readFile(t, f))
	if c == nil || c.Serial != 1 {
		t.Fatal("refused issue replaced the file")
	}
	runOK(t, issue("2", "-force")...)
	if c, _ := credential.ParseCredential(readFile(t, f)); c == nil || c.Serial != 2 {
		t.Fatal("-force did not replace the file")
	}
	if m := mode(t, f); m != 0o644 {
		t.Errorf("replaced file mode %o, want 644", m)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// -force never replaces an input.
	keyBefore := readFile(t, authPriv)
	runFail(t, []string{"credential", "issue", "-authority", authPriv, "-server", serverPriv, "-realm", "r",
		"-serial", "3", "-out", authPriv, "-force"}, "input file")
	runFail(t, []string{"credential", "revoke", "-authority", authPriv, "-number", "1", "-out", authPriv, "-force"}, "input file")
	if !bytes.Equal(keyBefore, readFile(t, authPriv)) {
		t.Fatal("authority key replaced")
	}

	l := filepath.Join(dir, "l")
	runOK(t, "credential", "revoke", "-authority", authPriv, "-number", "1", "-out", l)
	runFail(t, []string{"credential", "revoke", "-authority", authPriv, "-number", "2", "-out", l}, "file exists")
	runOK(t, "credential", "revoke", "-authority", authPriv, "-number", "2", "-out", l, "-force")
	if rl, _ := credential.ParseRevocationList(readFile(t, l)); rl == nil || rl.Number != 2 || len(rl.Revoked) != 0 {
		t.Fatalf("replaced list: %+v", rl)
	}
}

func TestKeysBadFlags(t *testing.T) {
	dir := t.TempDir()
	authPriv, authPub, serverPriv, _ := authority(t, dir)
	out := filepath.Join(dir, "out")
	small := make([]byte, 32)
	small[0] = 1 // the identity point: small order (SIG-001)
	// issue returns a valid "credential issue" command line with flag name
	// set to value, or left out if value is unset.
	const unset = "<unset>"
	issue := func(name, value string) []string {
		a, found := []string{"credential", "issue"}, false
		for _, f := range [][2]string{{"-authority", authPriv}, {"-server", serverPriv}, {"-realm", "r"}, {"-serial", "1"}, {"-out", out}} {
			if f[0] == name {
				found, f[1] = true, value
			}
			if f[1] != unset {
				a = append(a, f[0], f[1])
			}
		}
		if !found {
			a = append(a, name, value)
		}
		return a
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"keygen", "-bogus"}, []string{"flag provided but not defined: -bogus"}},
		{[]string{"keygen", "-out", out, "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"keygen", "-show", filepath.Join(dir, "missing")}, []string{"-show", "missing"}},
		{[]string{"keygen", "-show", authPriv, "-out", out}, []string{"cannot be combined"}},
		{[]string{"credential"}, []string{"missing subcommand"}},
		{[]string{"credential", "frob"}, []string{`unknown subcommand "frob"`}},
		{[]string{"credential", "show"}, []string{"exactly one FILE"}},
		{[]string{"credential", "show", filepath.Join(dir, "missing")}, []string{"missing"}},
		{issue("-authority", unset), []string{"-authority is required"}},
		{issue("-server", unset), []string{"-server is required"}},
		{issue("-realm", unset), []string{"-realm is required"}},
		{issue("-serial", unset), []string{"-serial is required"}},
		{issue("-out", unset), []string{"-out is required"}},
		{issue("-serial", "-1"), []string{"-serial"}},
		{issue("-serial", "x"), []string{"-serial"}},
		{issue("-realm", ""), []string{"-realm is 0 bytes"}},
		{issue("-realm", strings.Repeat("r", 256)), []string{"-realm is 256 bytes"}},
		{issue("-authority", filepath.Join(dir, "missing.pem")), []string{"-authority", "missing.pem"}},
		{issue("-authority", authPub), []string{"-authority", authPub, "PRIVATE KEY"}},
		{issue("-server", "nonsense"), []string{"-server", "nonsense", "no such file"}},
		{issue("-server", hex.EncodeToString(small)), []string{"-server", "bad_key"}},
		{issue("-not-before", "yesterday"), []string{"-not-before", "RFC 3339"}},
		{issue("-valid", "forever"), []string{"-valid"}},
		{issue("-not-before", "1969-12-31T00:00:00Z"), []string{"bad_credential", "before 1970"}},
		{[]string{"credential", "revoke", "-authority", authPriv, "-out", out}, []string{"-number is required"}},
		{[]string{"credential", "revoke", "-authority", authPriv, "-number", "1", "-serials", "1,x", "-out", out}, []string{"-serials", `"x"`}},
		{[]string{"credential", "revoke", "-authority", authPriv, "-number", "1", "-serials", "1,,2", "-out", out}, []string{"-serials"}},
		{[]string{"credential", "revoke", "-number", "1", "-out", out}, []string{"-authority is required"}},
	} {
		runFail(t, tc.args, tc.want...)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failing command wrote %s", out)
	}
}

func TestKeysHelp(t *testing.T) {
	for _, args := range [][]string{
		{"keygen", "--help"}, {"keygen", "-h"}, {"credential", "--help"}, {"credential", "help"},
		{"credential", "issue", "--help"}, {"credential", "revoke", "--help"}, {"credential", "show", "--help"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Errorf("%v: exit %d, stderr %s", args, code, errb.String())
		}
		if !strings.Contains(errb.String(), "usage: sealfeed") {
			t.Errorf("%v: no usage in %q", args, errb.String())
		}
	}
	var out, errb bytes.Buffer
	run([]string{"help"}, &out, &errb)
	for _, c := range []string{"keygen", "credential"} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("top-level usage lacks %q", c)
		}
	}
}
