package httpsig

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// API-004. RFC 9421 Appendix B.2.6: the test request signed with test-key-ed25519
// (Appendix B.1.4). The signature base must match the RFC byte for byte and
// the RFC's signature must verify over it.
func TestRFC9421AppendixB26(t *testing.T) {
	body := `{"hello": "world"}`
	r := httptest.NewRequest("POST", "http://example.com/foo?param=Value&Pet=dog", strings.NewReader(body))
	r.Header.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = 18
	in, err := httpsfv.UnmarshalDictionary([]string{`sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := in.Get("sig-b26")
	base, err := SignatureBase(r, m.(httpsfv.InnerList))
	if err != nil {
		t.Fatal(err)
	}
	want := `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	if string(base) != want {
		t.Fatalf("signature base:\n%s\nwant:\n%s", base, want)
	}
	pub, _ := hex.DecodeString("26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb")
	sig, _ := base64.StdEncoding.DecodeString("wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==")
	if !ed25519.Verify(pub, base, sig) {
		t.Fatal("the RFC's Ed25519 signature does not verify over our signature base")
	}
}

// API-001: RFC 9530 §2 example.
func TestContentDigestRFC9530(t *testing.T) {
	if got := ContentDigest([]byte(`{"hello": "world"}`)); got != "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" {
		t.Fatalf("Content-Digest %s", got)
	}
}

type nonces struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (n *nonces) Seen(_ context.Context, keyID, nonce string, _ time.Time) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := keyID + "\x00" + nonce
	if n.seen[k] {
		return true, nil
	}
	n.seen[k] = true
	return false, nil
}

var (
	pubKey, privKey = func() (ed25519.PublicKey, ed25519.PrivateKey) {
		k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
		return k.Public().(ed25519.PublicKey), k
	}()
	now = time.Unix(1_800_000_000, 0)
)

func verifier() *Verifier {
	return &Verifier{
		Key: func(id string) (ed25519.PublicKey, bool) {
			if id == "publisher-1" {
				return pubKey, true
			}
			return nil, false
		},
		Nonces: &nonces{seen: map[string]bool{}},
		Now:    func() time.Time { return now },
	}
}

func signed(t *testing.T, body string, created time.Time, nonce string) *http.Request {
	r := httptest.NewRequest("POST", "https://push.example/v1/messages?x=1", strings.NewReader(body))
	if err := Sign(r, []byte(body), "publisher-1", privKey, created, "0123456789abcdef-"+nonce); err != nil {
		t.Fatal(err)
	}
	return r
}

// What Sign covers: API-001, API-002, API-003. Each rejection: API-010,
// API-011, API-012, API-013, API-014, API-015, API-016; API-018 (a rejected
// request does not burn its nonce). Together the REST replay protection of
// REPLAY-014.
func TestSignVerifyAndRejects(t *testing.T) {
	v := verifier()
	body := `{"client":"abc","payload":"aGk="}`
	if id, err := v.Verify(signed(t, body, now, "n1"), []byte(body)); err != nil || id != "publisher-1" {
		t.Fatalf("valid request: %v", err)
	}
	cases := []struct {
		name string
		req  func() (*http.Request, []byte)
		want error
	}{
		{"replayed nonce", func() (*http.Request, []byte) { return signed(t, body, now, "n1"), []byte(body) }, ErrReplay},
		{"stale", func() (*http.Request, []byte) { return signed(t, body, now.Add(-10*time.Minute), "n2"), []byte(body) }, ErrStale},
		{"from the future", func() (*http.Request, []byte) { return signed(t, body, now.Add(10*time.Minute), "n3"), []byte(body) }, ErrStale},
		{"body changed", func() (*http.Request, []byte) { return signed(t, body, now, "n4"), []byte(body + " ") }, ErrBadDigest},
		{"unsigned", func() (*http.Request, []byte) {
			return httptest.NewRequest("POST", "https://push.example/v1/messages", nil), nil
		}, ErrMissingSignature},
		{"unknown key", func() (*http.Request, []byte) {
			r := httptest.NewRequest("POST", "https://push.example/v1/messages?x=1", nil)
			Sign(r, nil, "publisher-9", privKey, now, "0123456789abcdef-n5")
			return r, nil
		}, ErrUnknownKey},
		{"path changed", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n6")
			r.URL.Path = "/v1/other"
			return r, []byte(body)
		}, ErrBadSignature},
		{"method changed", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n7")
			r.Method = "PUT"
			return r, []byte(body)
		}, ErrBadSignature},
		{"query changed", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n8")
			r.URL.RawQuery = "x=2"
			return r, []byte(body)
		}, ErrBadSignature},
		{"digest not covered", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n9")
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), ` "content-digest"`, "", 1))
			return r, []byte(body)
		}, ErrMissingComponent},
		{"no nonce", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n10")
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), `;nonce="0123456789abcdef-n10"`, "", 1))
			return r, []byte(body)
		}, ErrMissingComponent},
		{"garbage Signature-Input", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n11")
			r.Header.Set("Signature-Input", "sealfeed=(((")
			return r, []byte(body)
		}, ErrMalformed},
		{"short signature", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n12")
			r.Header.Set("Signature", "sealfeed=:AAAA:")
			return r, []byte(body)
		}, ErrMalformed},
		{"short nonce", func() (*http.Request, []byte) {
			r := httptest.NewRequest("POST", "https://push.example/v1/messages?x=1", strings.NewReader(body))
			Sign(r, []byte(body), "publisher-1", privKey, now, "short")
			return r, []byte(body)
		}, ErrMalformed},
		{"wrong alg", func() (*http.Request, []byte) {
			r := signed(t, body, now, "n13")
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), `alg="ed25519"`, `alg="hmac-sha256"`, 1))
			return r, []byte(body)
		}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, b := c.req()
			if _, err := v.Verify(r, b); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A request whose signature failed did not burn its nonce.
	if _, err := v.Verify(signed(t, body, now, "n6"), []byte(body)); err != nil {
		t.Fatalf("nonce of a rejected request was recorded: %v", err)
	}
}

// API-038: an Idempotency-Key field is covered by Sign whenever present,
// and a request that carries one outside its signature — added, or
// changed after signing — is refused with a ComponentError naming it.
func TestIdempotencyKeyMustBeSigned(t *testing.T) {
	v := verifier()
	body := `{}`
	withKey := func(nonce, key string) *http.Request {
		r := httptest.NewRequest("POST", "https://push.example/v1/messages", strings.NewReader(body))
		r.Header.Set("Idempotency-Key", key)
		if err := Sign(r, []byte(body), "publisher-1", privKey, now, "0123456789abcdef-"+nonce); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := withKey("i1", "key-1")
	if !strings.Contains(r.Header.Get("Signature-Input"), `"idempotency-key"`) {
		t.Fatalf("Sign did not cover Idempotency-Key: %s", r.Header.Get("Signature-Input"))
	}
	if _, err := v.Verify(r, []byte(body)); err != nil {
		t.Fatalf("signed Idempotency-Key: %v", err)
	}
	// Added after signing.
	r = signed(t, body, now, "i2")
	r.Header.Set("Idempotency-Key", "key-2")
	_, err := v.Verify(r, []byte(body))
	var ce *ComponentError
	if !errors.Is(err, ErrMissingComponent) || !errors.As(err, &ce) || ce.Component != "idempotency-key" {
		t.Fatalf("unsigned Idempotency-Key: %v", err)
	}
	// Changed after signing: the signature covers the old value.
	r = withKey("i3", "key-3")
	r.Header.Set("Idempotency-Key", "key-4")
	if _, err := v.Verify(r, []byte(body)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("altered Idempotency-Key: %v", err)
	}
}

// API-039: with authorities configured, a request signed for another
// authority is refused before its key is looked up, with the expected
// authorities in the error; case does not matter; without authorities any
// is accepted.
func TestAuthorityMustBeTheServers(t *testing.T) {
	v := verifier()
	v.Authorities = []string{"push.example", "push.example:8443"}
	body := `{}`
	at := func(url, nonce string) *http.Request {
		r := httptest.NewRequest("POST", url, strings.NewReader(body))
		if err := Sign(r, []byte(body), "publisher-1", privKey, now, "0123456789abcdef-"+nonce); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i, url := range []string{"https://push.example/v1/messages", "https://PUSH.example:8443/v1/messages"} {
		if _, err := v.Verify(at(url, "a"+string(rune('0'+i))), []byte(body)); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	// Captured on another deployment that trusts the same key.
	_, err := v.Verify(at("https://other.example/v1/messages", "a3"), []byte(body))
	var ae *AuthorityError
	if !errors.Is(err, ErrWrongAuthority) || !errors.As(err, &ae) || strings.Join(ae.Want, ",") != "push.example,push.example:8443" {
		t.Fatalf("other authority: %v", err)
	}
	if _, err := v.Verify(at("https://push.example:9999/v1/messages", "a4"), []byte(body)); !errors.Is(err, ErrWrongAuthority) {
		t.Fatalf("other port: %v", err)
	}
	v.Authorities = nil
	if _, err := v.Verify(at("https://other.example/v1/messages", "a5"), []byte(body)); err != nil {
		t.Fatalf("no authorities configured: %v", err)
	}
}

// API-039 with RFC 9421 §2.2.3: a signer sends and signs the authority
// without the scheme's default port, in lower case, whatever its base URL
// says; the server compares authorities with a default port removed, so
// neither "push.example:443" in a base URL nor in -authority refuses the
// other.
func TestDefaultPortIsNotPartOfTheAuthority(t *testing.T) {
	for _, c := range []struct{ scheme, host, want string }{
		{"https", "Push.Example:443", "push.example"},
		{"http", "push.example:80", "push.example"},
		{"https", "push.example:80", "push.example:80"},
		{"http", "push.example:443", "push.example:443"},
		{"https", "push.example:8443", "push.example:8443"},
		{"https", "[::1]:443", "[::1]"},
	} {
		if got := NormalizeAuthority(c.scheme, c.host); got != c.want {
			t.Errorf("NormalizeAuthority(%s, %s) = %s, want %s", c.scheme, c.host, got, c.want)
		}
	}
	body := `{}`
	n := 0
	at := func(url, host string) *http.Request {
		r := httptest.NewRequest("POST", url, strings.NewReader(body))
		if host != "" { // a signer that does not normalize: no scheme, its own Host
			r.URL.Scheme, r.Host = "", host
		}
		n++
		if err := Sign(r, []byte(body), "publisher-1", privKey, now, fmt.Sprintf("0123456789abcdef-p%d", n)); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := at("https://Push.Example:443/v1/messages", "")
	if r.Host != "push.example" {
		t.Fatalf("Sign left Host %q: Go's transport would send the default port it did not sign", r.Host)
	}
	base, err := SignatureBase(r, mustInput(t, r))
	if err != nil || !strings.Contains(string(base), "\"@authority\": push.example\n") {
		t.Fatalf("signature base: %v\n%s", err, base)
	}
	for _, c := range []struct {
		configured []string
		r          *http.Request
		ok         bool
	}{
		{[]string{"push.example"}, at("https://push.example:443/v1/messages", ""), true},
		{[]string{"push.example:443"}, at("https://push.example/v1/messages", ""), true},
		{[]string{"push.example"}, at("/v1/messages", "push.example:443"), true},
		{[]string{"push.example"}, at("/v1/messages", "push.example:8443"), false},
		{[]string{"push.example:8443"}, at("/v1/messages", "push.example"), false},
		{[]string{"push.example"}, at("/v1/messages", "push.example:"), false},
	} {
		v := verifier()
		v.Authorities = c.configured
		_, err := v.Verify(c.r, []byte(body))
		if (err == nil) != c.ok {
			t.Errorf("Host %s against %v: %v, want ok=%v", c.r.Host, c.configured, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrWrongAuthority) {
			t.Errorf("Host %s against %v: %v, want wrong authority", c.r.Host, c.configured, err)
		}
	}
}

// mustInput is the inner list of r's signature.
func mustInput(t *testing.T, r *http.Request) httpsfv.InnerList {
	t.Helper()
	d, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := d.Get(Label)
	il, ok2 := m.(httpsfv.InnerList)
	if !ok || !ok2 {
		t.Fatal("no signature input")
	}
	return il
}

// API-080, API-081: a signature that does not verify says what the base
// was built from (covered components, the derived values), and a stale one
// the values compared; neither repeats a field value, the digest or the
// signature.
func TestRejectionsSayWhatWasCompared(t *testing.T) {
	v := verifier()
	body := `{}`
	r := httptest.NewRequest("POST", "https://push.example/v1/messages?x=1", strings.NewReader(body))
	r.Header.Set("Idempotency-Key", "idem-value-not-repeated")
	if err := Sign(r, []byte(body), "publisher-1", privKey, now, "0123456789abcdef-d1"); err != nil {
		t.Fatal(err)
	}
	r.URL.Path = "/v1/other"
	_, err := v.Verify(r, []byte(body))
	var se *SignatureError
	if !errors.As(err, &se) || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want a SignatureError", err)
	}
	want := `covered ("@method" "@authority" "@path" "@query" "content-digest" "idempotency-key") with ` +
		`@method "POST", @authority "push.example", @path "/v1/other", @query "?x=1"`
	if se.Detail() != want {
		t.Fatalf("detail %q\nwant   %q", se.Detail(), want)
	}
	sigValue := strings.Trim(strings.TrimPrefix(r.Header.Get("Signature"), "sealfeed="), ":")
	for _, secret := range []string{"idem-value-not-repeated", sigValue[:16], ContentDigest([]byte(body))[9:25]} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error repeats %q: %v", secret, err)
		}
	}

	_, err = v.Verify(signed(t, body, now.Add(-400*time.Second), "d2"), []byte(body))
	var st *StaleError
	if !errors.As(err, &st) || !errors.Is(err, ErrStale) {
		t.Fatalf("got %v, want a StaleError", err)
	}
	if want := "created 1799999600 is -400 s from the server's clock (1800000000); the window is ±300 s"; st.Detail() != want {
		t.Fatalf("detail %q\nwant   %q", st.Detail(), want)
	}

	r = signed(t, body, now, "d3")
	r.Header.Set("Signature-Input", r.Header.Get("Signature-Input")+";expires=1799999999")
	_, err = v.Verify(r, []byte(body))
	if !errors.As(err, &st) || st.Detail() != "expires 1799999999 has passed: the server's clock reads 1800000000" {
		t.Fatalf("expired: %v", err)
	}
}
