package generate

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() {
	note("Webhook", "BASIC", "A webhook POST signed as the server sends it (API-103).", "")
	note("WebhookModified", "MODIFIED", "The body, a covered field, the target or the signature changed after signing (API-103, API-104).",
		"A webhook altered in transit, or sent to another receiver path, is acted on.")
	note("WebhookWrongKey", "WRONG_KEY", "Signed by a key other than the deployment's webhook key, under its key ID or another (API-104, API-107).",
		"Anyone who can reach the receiver forges events.")
	note("WebhookProfile", "MALFORMED", "A parameter or component of the webhook profile missing or out of range: the tag, alg, expires, a covered component (API-103, API-104).",
		"A signature made for another purpose or protecting less of the request is accepted.")
	note("WebhookStale", "EXPIRY", "created more than 60 s ahead of the receiver's clock, or expires passed (API-104).",
		"A captured webhook is replayed long after it was sent.")
	note("DuplicateLabel", "MALLEABILITY", "Two signatures under the label sealfeed-webhook in one field: a structured-field parser keeps the last (RFC 8941 §4.2.2) (API-104).",
		"A verifier and a parser that disagree on which signature counts.")
	note("CrossProfile", "WRONG_KEY", "A request signed with the publisher-request profile (label sealfeed, API-001) presented as a webhook (API-109).", "")
}

// webhookNow is the receiver's clock: 2026-01-01T00:00:00Z.
const webhookNow = credNow

const webhookTarget = "https://hooks.example.com/sealfeed/events?tenant=7"

// webhookReq is a webhook POST under construction.
type webhookReq struct {
	method, target string
	body           []byte
	idem           string
	created        int64
	expires        int64 // 0: created + 300
	keyID          string
	tag            string // "-": none
	alg            string // "-": none
	components     []string
	noExpires      bool
}

// sign signs q with key and returns the header lines and the base.
func (q webhookReq) sign(key ed25519.PrivateKey) ([]vectors.WebhookHeader, []byte) {
	r, _ := http.NewRequest(q.method, q.target, bytes.NewReader(q.body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", q.idem)
	r.Header.Set("Content-Digest", httpsig.ContentDigest(q.body))
	il := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, c := range q.components {
		il.Items = append(il.Items, httpsfv.NewItem(c))
	}
	il.Params.Add("created", q.created)
	if !q.noExpires {
		exp := q.expires
		if exp == 0 {
			exp = q.created + 300
		}
		il.Params.Add("expires", exp)
	}
	il.Params.Add("keyid", q.keyID)
	if q.alg != "-" {
		il.Params.Add("alg", q.alg)
	}
	if q.tag != "-" {
		il.Params.Add("tag", q.tag)
	}
	base, err := httpsig.SignatureBase(r, il)
	if err != nil {
		panic(err)
	}
	in := httpsfv.NewDictionary()
	in.Add(httpsig.WebhookLabel, il)
	sigIn, _ := httpsfv.Marshal(in)
	sd := httpsfv.NewDictionary()
	sd.Add(httpsig.WebhookLabel, httpsfv.NewItem(ed25519.Sign(key, base)))
	sigVal, _ := httpsfv.Marshal(sd)
	return []vectors.WebhookHeader{{Name: "Content-Type", Value: "application/json"}, {Name: "Idempotency-Key", Value: q.idem},
		{Name: "Content-Digest", Value: r.Header.Get("Content-Digest")}, {Name: "Signature-Input", Value: sigIn}, {Name: "Signature", Value: sigVal}}, base
}

func setHeader(hs []vectors.WebhookHeader, name, value string) []vectors.WebhookHeader {
	out := append([]vectors.WebhookHeader(nil), hs...)
	for i := range out {
		if strings.EqualFold(out[i].Name, name) {
			out[i].Value = value
		}
	}
	return out
}

func headerValue(hs []vectors.WebhookHeader, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

var webhookArea = areaDef{
	name: "webhook",
	build: func(a *area) (any, error) {
		seed := randBytes(a.name, "webhook-key", 32)
		key := ed25519.NewKeyFromSeed(seed)
		other := ed25519.NewKeyFromSeed(randBytes(a.name, "other-key", 32))
		pub := func(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }
		keyID := sig.Fingerprint(pub(key))
		now := int64(webhookNow)
		body := []byte(`{"publisher":"` + sig.Fingerprint(pub(other))[:16] + `","events":[` +
			`{"type":"acknowledged","id":"0b5e3f2a9c1d47e8a6b4c2d0e8f6a4b2","client_id":"` + strings.Repeat("c1", 32) + `","message_id":41,"time":"2025-12-31T23:59:58.250Z"},` +
			`{"type":"expired","id":"7d2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f","client_id":"` + strings.Repeat("d2", 32) + `","message_id":7,"time":"2025-12-31T23:59:59.000Z"}]}`)
		base := webhookReq{method: "POST", target: webhookTarget, body: body, idem: "5f0c7a9e2b4d6f8a1c3e5a7b9d0f2e4c",
			created: now - 30, keyID: keyID, tag: httpsig.WebhookTag, alg: "ed25519", components: httpsig.WebhookComponents}

		g := vectors.WebhookGroup{Type: "WebhookVerify", PublicKey: pub(key), KeyID: keyID, SigningSeed: seed, Now: vectors.U64(now)}
		add := func(t vectors.Test, q webhookReq, hs []vectors.WebhookHeader, out []byte) {
			g.Tests = append(g.Tests, vectors.WebhookTest{Test: t, Method: q.method, TargetURI: q.target, Headers: hs, Body: nonNil(q.body),
				SignatureBase: nonNil(out)})
		}
		valid := func(name, comment, req string, q webhookReq, flags ...string) {
			hs, b := q.sign(key)
			add(a.valid(name, comment, req, flags...), q, hs, b)
		}
		invalid := func(name, comment, req string, code alert.Code, q webhookReq, hs []vectors.WebhookHeader, flags ...string) {
			add(a.invalid(name, comment, req, code.String(), flags...), q, hs, nil)
		}
		signed := func(q webhookReq) []vectors.WebhookHeader { hs, _ := q.sign(key); return hs }

		// Valid requests.
		valid("valid", "a batch of two events, signed as the server signs it, received 30 s later", "API-103", base, "Webhook")
		{
			q := base
			q.target = "https://hooks.example.com:8443/sealfeed"
			valid("valid-port-no-query", "a target with a port and no query: @authority keeps the port, @query is \"?\"", "API-103", q, "Webhook")
			q = base
			q.created, q.expires = now+60, now+360
			valid("created-at-skew", "created 60 s ahead of the receiver's clock: within the skew", "API-104", q, "WebhookStale")
			q = base
			q.created, q.expires = now-300, now
			valid("expires-now", "expires equal to the receiver's clock", "API-104", q, "WebhookStale")
			q = base
			q.components = []string{"content-digest", "@path", "idempotency-key", "@method", "@query", "content-type", "@authority"}
			valid("components-reordered", "the components covered in another order (the base follows Signature-Input)", "API-104", q, "Webhook")
		}
		{
			q := base
			hs := signed(q)
			hs = setHeader(hs, "Signature-Input", `proxy=("@method");created=1;keyid="p", `+headerValue(hs, "Signature-Input"))
			hs = setHeader(hs, "Signature", `proxy=:`+strings.Repeat("A", 86)+`==:, `+headerValue(hs, "Signature"))
			_, b := q.sign(key)
			add(a.valid("other-label-ignored", "another signature under another label beside the webhook's: only sealfeed-webhook is checked", "API-104", "Webhook"), q, hs, b)
		}

		// Altered in transit (API-103).
		{
			hs := signed(base)
			q := base
			q.body = bytes.Replace(base.body, []byte(`"message_id":41`), []byte(`"message_id":42`), 1)
			invalid("body-changed", "one digit of the body changed after signing: the digest does not match", "API-104", alert.BadSignature, q, hs, "WebhookModified")
			qd := q
			invalid("body-and-digest-changed", "the body changed and Content-Digest recomputed: the signature does not verify", "API-103", alert.BadSignature,
				qd, setHeader(hs, "Content-Digest", httpsig.ContentDigest(q.body)), "WebhookModified")
			invalid("idempotency-key-changed", "the Idempotency-Key changed after signing", "API-103", alert.BadSignature,
				base, setHeader(hs, "Idempotency-Key", "5f0c7a9e2b4d6f8a1c3e5a7b9d0f2e4d"), "WebhookModified")
			invalid("content-type-changed", "Content-Type changed after signing", "API-103", alert.BadSignature,
				base, setHeader(hs, "Content-Type", "text/plain"), "WebhookModified")
			q = base
			q.target = "https://hooks.example.com/sealfeed/other?tenant=7"
			invalid("path-changed", "sent to another path of the receiver", "API-103", alert.BadSignature, q, hs, "WebhookModified")
			q = base
			q.target = "https://hooks.example.com/sealfeed/events?tenant=8"
			invalid("query-changed", "sent with another query", "API-103", alert.BadSignature, q, hs, "WebhookModified")
			q = base
			q.target = "https://hooks.example.net/sealfeed/events?tenant=7"
			invalid("authority-changed", "sent to another host", "API-103", alert.BadSignature, q, hs, "WebhookModified")
			q = base
			q.method = "PUT"
			invalid("method-changed", "the method changed to PUT", "API-103", alert.BadSignature, q, hs, "WebhookModified")
			sv := headerValue(hs, "Signature")
			i := len("sealfeed-webhook=:") + 4
			c := byte('A')
			if sv[i] == 'A' {
				c = 'B'
			}
			flipped := sv[:i] + string(c) + sv[i+1:]
			invalid("signature-changed", "one base64 character of the signature changed", "API-104", alert.BadSignature, base, setHeader(hs, "Signature", flipped), "WebhookModified")
		}

		// Keys (API-104, API-107).
		{
			hs, _ := base.sign(other)
			invalid("wrong-key", "signed by another key under the webhook key's ID", "API-104", alert.BadSignature, base, hs, "WebhookWrongKey")
			q := base
			q.keyID = sig.Fingerprint(pub(other))
			hs, _ = q.sign(other)
			invalid("other-keyid", "signed by another key under its own key ID", "API-104", alert.UnknownSigner, q, hs, "WebhookWrongKey")
		}

		// Profile (API-103, API-104, API-109).
		{
			q := base
			q.tag = "sealfeed-webhook-v2"
			invalid("wrong-tag", "tag sealfeed-webhook-v2", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			q.tag = "-"
			invalid("no-tag", "no tag parameter", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			q = base
			q.alg = "-"
			invalid("no-alg", "no alg parameter", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			q.alg = "rsa-pss-sha512"
			invalid("alg-rsa", "alg rsa-pss-sha512", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			q = base
			q.noExpires = true
			invalid("no-expires", "no expires parameter", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			q = base
			q.expires = q.created + 301
			invalid("lifetime-301", "expires 301 s after created", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			q.expires = q.created - 1
			invalid("expires-before-created", "expires before created", "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			for i, c := range httpsig.WebhookComponents {
				q = base
				q.components = append(append([]string(nil), httpsig.WebhookComponents[:i]...), httpsig.WebhookComponents[i+1:]...)
				invalid("missing-"+strings.TrimPrefix(c, "@"), "the signature does not cover "+c, "API-104", alert.IllegalParameter, q, signed(q), "WebhookProfile")
			}
			// The publisher-request profile: label sealfeed, a nonce, no tag.
			r, _ := http.NewRequest(base.method, base.target, bytes.NewReader(base.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Idempotency-Key", base.idem)
			if err := httpsig.Sign(r, base.body, keyID, key, timeUnix(base.created), "bm9uY2Utb2YtMTYtYnl0ZXM"); err != nil {
				return nil, err
			}
			hs := []vectors.WebhookHeader{{Name: "Content-Type", Value: "application/json"}, {Name: "Idempotency-Key", Value: base.idem},
				{Name: "Content-Digest", Value: r.Header.Get("Content-Digest")}, {Name: "Signature-Input", Value: r.Header.Get("Signature-Input")}, {Name: "Signature", Value: r.Header.Get("Signature")}}
			invalid("publisher-profile", "a publisher request's signature (label sealfeed, API-001) by the webhook key", "API-109", alert.DecodeError, base, hs, "CrossProfile")
		}

		// Freshness (API-104).
		{
			q := base
			q.created, q.expires = now+61, now+361
			invalid("created-future", "created 61 s ahead of the receiver's clock", "API-104", alert.StaleMessage, q, signed(q), "WebhookStale")
			q.created, q.expires = now-301, now-1
			invalid("expired", "expires 1 s before the receiver's clock", "API-104", alert.StaleMessage, q, signed(q), "WebhookStale")
			q.created, q.expires = now-86400, now-86100
			invalid("expired-day", "sent a day ago", "API-104", alert.StaleMessage, q, signed(q), "WebhookStale")
		}

		// Duplicate labels (API-104).
		{
			hs := signed(base)
			si, sv := headerValue(hs, "Signature-Input"), headerValue(hs, "Signature")
			q2 := base
			q2.idem = "00000000000000000000000000000000"
			hs2 := signed(q2)
			si2, sv2 := headerValue(hs2, "Signature-Input"), headerValue(hs2, "Signature")
			invalid("duplicate-label-input", "Signature-Input holds sealfeed-webhook twice (another request's first, this one's last)", "API-104",
				alert.DecodeError, base, setHeader(hs, "Signature-Input", si2+", "+si), "DuplicateLabel")
			invalid("duplicate-label-signature", "Signature holds sealfeed-webhook twice (another signature first)", "API-104",
				alert.DecodeError, base, setHeader(hs, "Signature", sv2+", "+sv), "DuplicateLabel")
			lines := append(append([]vectors.WebhookHeader(nil), hs...), vectors.WebhookHeader{Name: "Signature", Value: sv})
			invalid("duplicate-label-two-lines", "the Signature field line repeated: two members labelled sealfeed-webhook", "API-104",
				alert.DecodeError, base, lines, "DuplicateLabel")
		}
		return file(a, []string{
			"Delivery webhooks (spec/api.md, Delivery webhooks) as a publisher's receiver checks them (API-104): RFC 9421 signatures labelled sealfeed-webhook with tag sealfeed-webhook-v1 by the deployment's webhook key, over @method, @authority, @path, @query, content-digest (RFC 9530), content-type and idempotency-key.",
			"Each test is a request as received (method, target URI, header field lines, body); the group gives the trusted key, its key ID (the key's fingerprint) and the receiver's clock (Unix seconds). On success the output is the signature base the signature verified over (RFC 9421 §2.5).",
			"Alerts classify failures: decode_error (fields that do not parse, a label repeated, no sealfeed-webhook signature), illegal_parameter (a component or parameter missing or out of range, the tag included), unknown_signer (another keyid), stale_message (created more than 60 s ahead, expires passed), bad_signature (digest or signature).",
			"signingSeed is the webhook key's Ed25519 seed: a signer reproduces the valid requests' Signature byte for byte.",
		}, []vectors.WebhookGroup{g}), nil
	},
	schema: func() map[string]any {
		header := strict(obj{"name": str(), "value": str()})
		return fileSchema("webhook", "SealFeed v1 delivery webhook vectors",
			obj{"type": constant("WebhookVerify"), "publicKey": hexLen(32), "keyId": obj{"type": "string", "pattern": "^[0-9a-f]{64}$"},
				"signingSeed": hexLen(32), "now": u64()}, nil,
			obj{"method": str(), "targetUri": str(), "headers": arrayOf(header), "body": hexAny(), "signatureBase": hexAny()}, nil)
	},
}

func timeUnix(s int64) time.Time { return time.Unix(s, 0) }
