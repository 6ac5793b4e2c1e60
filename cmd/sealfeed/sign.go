package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// signCommand prints the header fields that sign one request (spec/api.md,
// API-001 … API-004, API-038), one "Name: value" a line, for tools that
// send the request themselves: curl -H @FILE reads them.
func signCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", "-key FILE -url URL [-method POST] [-body FILE|-] [-idempotency-key K]",
		"Prints the header fields that sign a request to the publisher API with a publisher key:\n"+
			"Idempotency-Key (when given), Content-Digest, Signature-Input and Signature, one a line.\n"+
			"Send the body's exact bytes and these fields, once, within 5 minutes, e.g.\n"+
			"  sealfeed sign -key publisher.key -url $URL/v1/messages -body msg.json > headers.txt\n"+
			"  curl -H @headers.txt -H 'Content-Type: application/json' --data-binary @msg.json $URL/v1/messages", stderr)
	var key, rawURL, method, body, idem, nonce, keyID, config string
	var created int64
	fs.StringVar(&key, "key", "", "publisher private key file (PEM)")
	fs.StringVar(&rawURL, "url", "", "the request's URL, exactly as it is sent (scheme, host[:port], path, query)")
	fs.StringVar(&method, "method", http.MethodPost, "the request method")
	fs.StringVar(&body, "body", "", "file holding the exact body bytes ('-' for standard input; none: an empty body)")
	fs.StringVar(&idem, "idempotency-key", "", "Idempotency-Key to send and sign (API-038)")
	fs.StringVar(&nonce, "nonce", "", "the signature's nonce (default: 24 random bytes; a nonce is good for one request)")
	fs.Int64Var(&created, "created", 0, "the signature's created, Unix seconds (default: now)")
	fs.StringVar(&keyID, "keyid", "", "the key ID (default: the key's fingerprint)")
	fs.StringVar(&config, "config", "", "JSON config file keyed by flag name")
	if err := parseFlags(fs, args, &config); err != nil {
		return err
	}
	if key == "" || rawURL == "" {
		return errors.New("-key and -url are required")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want an absolute http:// or https:// URL", rawURL)
	}
	k, err := keyfile.LoadPrivate(key)
	if err != nil {
		return err
	}
	var b []byte
	switch body {
	case "":
	case "-":
		if b, err = io.ReadAll(io.LimitReader(stdin, 8<<20)); err != nil {
			return err
		}
	default:
		if b, err = os.ReadFile(body); err != nil {
			return err
		}
	}
	r, err := http.NewRequest(method, rawURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("-method %q: %w", method, err)
	}
	if idem != "" {
		r.Header.Set("Idempotency-Key", idem)
	}
	at := time.Now()
	if created != 0 {
		at = time.Unix(created, 0)
	}
	if nonce != "" && (len(nonce) < httpsig.MinNonceLen || len(nonce) > httpsig.MaxNonceLen) {
		return fmt.Errorf("-nonce: want %d to %d characters (API-003)", httpsig.MinNonceLen, httpsig.MaxNonceLen)
	}
	if nonce == "" {
		var n [24]byte
		rand.Read(n[:])
		nonce = base64.RawURLEncoding.EncodeToString(n[:])
	}
	if keyID == "" {
		keyID = sig.Fingerprint(k.Public().(ed25519.PublicKey))
	}
	if err := httpsig.Sign(r, b, keyID, k, at, nonce); err != nil {
		return err
	}
	for _, name := range []string{"Idempotency-Key", "Content-Digest", "Signature-Input", "Signature"} {
		if v := r.Header.Get(name); v != "" {
			fmt.Fprintf(stdout, "%s: %s\n", name, v)
		}
	}
	return nil
}
