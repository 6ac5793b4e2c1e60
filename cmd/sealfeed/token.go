package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/protocol/token"
)

// tokenCommand is "sealfeed token": it issues an access token (spec §6.8)
// with a publisher key, for a client key, and prints it in base64 (or
// writes it to -out). An application back end does the same with
// publisher.IssueToken.
func tokenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "the publisher's private key `FILE` (PKCS #8 PEM), registered on the server with -publisher")
	sub := fs.String("sub", "", "the user the token names (`SUBJECT`, 1 to 255 bytes of UTF-8)")
	device := fs.String("device", "", "optional `DEVICE` name (up to 255 bytes)")
	clientKey := fs.String("client-key", "", "the client's identity `KEY` the token binds: a key file (public or private PEM, hex or base64) or the key in hex or base64")
	realm := fs.String("realm", "", "audience: the deployment's `REALM` (clients trust it by authority)")
	server := fs.String("server", "", "audience: the server key's `FINGERPRINT` (clients pin it); one of -realm and -server")
	notBefore := fs.String("not-before", "now", "start of validity: RFC 3339 `TIME` or \"now\"")
	valid := fs.Duration("valid", token.DefaultLifetime, "validity `DURATION`, at most 1h (TOK-003)")
	out := fs.String("out", "", "write the binary token to `FILE` (mode 0600) instead of printing base64")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed token -key PUBLISHER.pem -sub SUBJECT -client-key KEY (-realm REALM | -server FINGERPRINT)\n                     [-device DEVICE] [-not-before TIME|now] [-valid DURATION] [-out FILE]\n\nIssues an access token (spec §6.8) that binds the client key to the user for a\nclient to present in its handshake (listen -token).")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if err := requireFlags(fs, "key", "sub", "client-key"); err != nil {
		return err
	}
	aud := token.Audience{Type: token.AudienceRealm, Realm: *realm}
	switch {
	case (*realm == "") == (*server == ""):
		return errors.New("set exactly one of -realm and -server (TOK-005)")
	case *server != "":
		b, err := hex.DecodeString(*server)
		if err != nil || len(b) != 32 {
			return errors.New("-server: want the 64-hex-digit fingerprint of the server key")
		}
		aud = token.Audience{Type: token.AudienceServerKey, ServerKeyID: [32]byte(b)}
	}
	if err := checkValid(*valid, token.MaxLifetime, "token lifetime", "1 h, TOK-003"); err != nil {
		return err
	}
	from, err := parseTimeFlag("-not-before", *notBefore)
	if err != nil {
		return err
	}
	key, err := keyfile.LoadPrivate(*keyPath)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	ck, err := loadPublicKeyArg(*clientKey)
	if err != nil {
		return fmt.Errorf("-client-key: %w", err)
	}
	t, err := token.Issue(key, token.Params{Subject: *sub, Device: *device, Audience: aud, ClientKey: ck,
		NotBefore: from, Lifetime: *valid})
	if err != nil {
		return err
	}
	raw := t.Marshal()
	fmt.Fprintf(stderr, "token %x for %q, client %s, valid %s … %s\n", t.ID, t.Subject, sig.Fingerprint(ck),
		time.Unix(int64(t.NotBefore), 0).UTC().Format(time.RFC3339), time.Unix(int64(t.NotAfter), 0).UTC().Format(time.RFC3339))
	if *out != "" {
		return keyfile.WriteAtomic(*out, raw, 0o600)
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(raw))
	return nil
}

// readTokenFile reads a token written by 'sealfeed token': binary (-out) or
// its printed base64. It is read anew for every handshake and refresh, so
// another process may replace it.
func readTokenFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		if d, err := base64.StdEncoding.DecodeString(s); err == nil {
			if _, perr := token.Parse(d); perr == nil {
				return d, nil
			}
		}
	}
	return b, nil
}
