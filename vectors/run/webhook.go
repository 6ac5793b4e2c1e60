package run

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sealfeed/sealfeed/internal/httpsig"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() { runs["webhook"] = runWebhook }

// runWebhook checks a webhook POST as a publisher's receiver does
// (API-104); on success the output is the signature base it verified.
func runWebhook(group, test json.RawMessage) Answer {
	g, tc, err := decode[vectors.WebhookGroup, vectors.WebhookTest](group, test)
	if err != nil {
		return internal(err)
	}
	if len(g.PublicKey) != ed25519.PublicKeySize {
		return internalf("public key of %d bytes", len(g.PublicKey))
	}
	r, err := WebhookRequest(*tc)
	if err != nil {
		return internal(err)
	}
	err = httpsig.VerifyWebhook(r, tc.Body, ed25519.PublicKey(g.PublicKey), g.KeyID, time.Unix(int64(g.Now), 0))
	a := fromErr(err)
	if err == nil {
		base, err := httpsig.WebhookBase(r)
		if err != nil {
			return internal(err)
		}
		a.Outputs["signatureBase"] = vectors.Hex(base)
	}
	return a
}

// WebhookRequest builds the request a receiver got from a webhook test.
func WebhookRequest(tc vectors.WebhookTest) (*http.Request, error) {
	r, err := http.NewRequest(tc.Method, tc.TargetURI, bytes.NewReader(tc.Body))
	if err != nil {
		return nil, err
	}
	for _, h := range tc.Headers {
		r.Header.Add(h.Name, h.Value)
	}
	return r, nil
}
