package vectors

// WebhookGroup is a group of webhook.json (spec/api.md, API-103, API-104,
// API-109): a publisher's receiver that trusts the deployment's webhook key
// PublicKey under the key ID KeyID, with its clock at Now (Unix seconds),
// checks each test's request. SigningSeed is the key's Ed25519 seed, so
// that a signer can reproduce the valid requests byte for byte (Ed25519
// signatures are deterministic).
type WebhookGroup struct {
	Type        string        `json:"type"` // "WebhookVerify"
	PublicKey   Hex           `json:"publicKey"`
	KeyID       string        `json:"keyId"`
	SigningSeed Hex           `json:"signingSeed"`
	Now         U64           `json:"now"`
	Tests       []WebhookTest `json:"tests"`
}

// WebhookTest is one webhook POST as the receiver got it: Method,
// TargetURI (scheme://authority/path?query, the URL the operator
// configured), the header field lines in order and the body. On success
// the output SignatureBase is the RFC 9421 signature base the signature
// verified over; it is empty on failure.
type WebhookTest struct {
	Test
	Method        string          `json:"method"`
	TargetURI     string          `json:"targetUri"`
	Headers       []WebhookHeader `json:"headers"`
	Body          Hex             `json:"body"`
	SignatureBase Hex             `json:"signatureBase"`
}

// WebhookHeader is one header field line.
type WebhookHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
