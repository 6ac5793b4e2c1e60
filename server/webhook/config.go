// Package webhook delivers a node's webhook events (spec/api.md, API-100
// … API-109): it reads the events the store recorded in its outbox with
// each acknowledgement and expiry (STORE-030), batches them per publisher,
// signs each POST with the deployment's webhook key (RFC 9421, the
// sealfeed-webhook profile of internal/httpsig), sends it to the URL the
// operator configured for the publisher's key, retries with exponential
// backoff and jitter, and deletes the events once the receiver answered
// 2xx. Delivery is at least once.
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ParseConfig reads a webhook configuration file (API-108): one JSON
// object, {"publishers": {"<publisher key ID>": {"url": "<URL>"}, …}},
// with no other member. Every URL must pass CheckURL. It returns key ID →
// URL.
func ParseConfig(b []byte) (map[string]string, error) {
	var c struct {
		Publishers map[string]struct {
			URL string `json:"url"`
		} `json:"publishers"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("webhook config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("webhook config: data after the JSON object")
	}
	out := make(map[string]string, len(c.Publishers))
	for id, p := range c.Publishers {
		if err := CheckURL(p.URL); err != nil {
			return nil, fmt.Errorf("webhook config: publisher %s: %w", id, err)
		}
		out[id] = p.URL
	}
	return out, nil
}

// CheckURL accepts a webhook URL (API-108): absolute, https, or http to a
// loopback host (127.0.0.0/8, ::1, localhost: tests and a receiver on the
// node's own machine); no user information, no fragment.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("URL %q: want scheme://host[:port]/path, without user information or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("URL %q: http is allowed only to a loopback host; use https", raw)
	}
	return fmt.Errorf("URL %q: scheme must be https", raw)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
