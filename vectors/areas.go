package vectors

// This file holds the group and test types of each area. Field comments
// name the spec section that defines the value; README.md describes how to
// run each area.

// ExpandLabelGroup is a group of expand_label.json (spec §7).
type ExpandLabelGroup struct {
	Type  string            `json:"type"` // "ExpandLabel"
	Hash  string            `json:"hash"` // "SHA-256"
	Tests []ExpandLabelTest `json:"tests"`
}

// ExpandLabelTest checks ExpandLabel(secret, label, context, length): Info is
// the encoded HkdfLabel, with the "sealfeed v1 " prefix, and Output the
// HKDF-Expand result.
type ExpandLabelTest struct {
	Test
	Secret  Hex    `json:"secret"`
	Label   string `json:"label"` // without the "sealfeed v1 " prefix
	Context Hex    `json:"context"`
	Length  int    `json:"length"`
	Info    Hex    `json:"info"`
	Output  Hex    `json:"output"`
}

// KeyScheduleGroup is a group of keyschedule.json (spec §7).
type KeyScheduleGroup struct {
	Type  string            `json:"type"` // "KeySchedule"
	Hash  string            `json:"hash"` // "SHA-256"
	Tests []KeyScheduleTest `json:"tests"`
}

// KeyScheduleTest runs the whole key schedule from its inputs. PSK is empty
// when no PSK is used (the schedule then uses 32 zero bytes). The transcript
// hashes are SHA-256 of ClientHello…ServerHello, …server Finished and
// …client Finished. KeyUpdates is the number of traffic updates applied to
// each application secret. Secrets maps the spec's names to values:
// early_secret, handshake_secret, c_hs_traffic, s_hs_traffic, master_secret,
// c_ap_traffic_N and s_ap_traffic_N for N = 0…KeyUpdates, envelope_secret,
// resumption_psk; the derived keys c_hs_key, c_hs_iv, s_hs_key, s_hs_iv,
// c_finished_key, s_finished_key, c_ap_key_N, c_ap_iv_N, s_ap_key_N,
// s_ap_iv_N; the envelope keys env_key, env_iv, tag_key.
type KeyScheduleTest struct {
	Test
	PSK                Hex            `json:"psk"`
	SharedSecret       Hex            `json:"sharedSecret"`
	HelloHash          Hex            `json:"helloHash"`
	ServerFinishedHash Hex            `json:"serverFinishedHash"`
	ClientFinishedHash Hex            `json:"clientFinishedHash"`
	KeyUpdates         int            `json:"keyUpdates"`
	Secrets            map[string]Hex `json:"secrets"`
}

// X25519Group is a group of x25519.json (SUITE-002).
type X25519Group struct {
	Type  string       `json:"type"`  // "X25519"
	Curve string       `json:"curve"` // "curve25519"
	Tests []X25519Test `json:"tests"`
}

// X25519Test: Private is a 32-byte X25519 private key (clamped by the
// function, RFC 7748), Public the peer's 32-byte share as received, Shared
// the expected shared secret. An all-zero result (a low-order peer share) is
// rejected with illegal_parameter; a share of the wrong length too (HS-003).
type X25519Test struct {
	Test
	Private Hex `json:"private"`
	Public  Hex `json:"public"`
	Shared  Hex `json:"shared"`
}

// HybridGroup is a group of x25519mlkem768.json (SUITE-003).
type HybridGroup struct {
	Type  string       `json:"type"`  // "X25519MLKEM768"
	Group uint16       `json:"group"` // 0x0002
	Tests []HybridTest `json:"tests"`
}

// HybridTest is one key exchange of the hybrid group. Operation says which
// side runs:
//
//   - "exchange": the client derives ClientShare from ClientSeed; the server
//     responds to it with ServerRandom, producing ServerShare and Shared; the
//     client finishes with ServerShare and obtains Shared. Both sides run.
//   - "respond": the server responds to ClientShare with ServerRandom.
//   - "finish": the client with ClientSeed receives ServerShare.
//
// ClientSeed is the 64-byte ML-KEM-768 seed (d || z, FIPS 203) followed by
// the 32-byte X25519 private key. ServerRandom is the 32-byte ML-KEM
// encapsulation randomness m followed by the 32-byte X25519 private key.
type HybridTest struct {
	Test
	Operation    string `json:"operation"`
	ClientSeed   Hex    `json:"clientSeed"`
	ClientShare  Hex    `json:"clientShare"`
	ServerRandom Hex    `json:"serverRandom"`
	ServerShare  Hex    `json:"serverShare"`
	Shared       Hex    `json:"shared"`
}

// DecodeGroup is a group of decode.json: one structure's strict decoder
// (WIRE-001, WIRE-002) applied to encodings.
//
// Structure names the decoder: "Frame" (§3.2), "PlaintextFrame" (the frame
// and its single message, WIRE-020), "Alert" (Alert body, POST-006),
// "Extensions" (an extension list, then EXT-002 with the types in Known as
// the implemented ones), and the message bodies and structures named after
// the spec's struct names. A valid encoding decodes, and where the reference
// has an encoder, re-encodes to the same bytes.
type DecodeGroup struct {
	Type      string       `json:"type"` // "Decode"
	Structure string       `json:"structure"`
	Known     []uint16     `json:"known,omitempty"`
	Tests     []DecodeTest `json:"tests"`
}

// DecodeTest is one encoding of the group's structure.
type DecodeTest struct {
	Test
	Input Hex `json:"input"`
}

// Ed25519Group is a group of ed25519.json (spec §4.2): signatures over
// Label || 0x00 || Msg, one group per label (the handshake's, the batch
// signature's), all checked by the one rule of §4.2.
type Ed25519Group struct {
	Type  string        `json:"type"` // "Ed25519Verify"
	Label string        `json:"label"`
	Tests []Ed25519Test `json:"tests"`
}

// Ed25519Test is one verification. An invalid key yields bad_key (SIG-001),
// any other failure bad_signature.
type Ed25519Test struct {
	Test
	PublicKey Hex `json:"publicKey"`
	Msg       Hex `json:"msg"`
	Sig       Hex `json:"sig"`
}

// CredentialGroup is a group of credential.json (spec §5.1, §5.2): a client
// configured for authority trust with AuthorityKey and Realm, whose clock
// reads Now (Unix seconds; ClockSkew is 60 s). AcceptedNumber, when present,
// is the number of the newest revocation list the client has accepted before
// from this authority (CRED-013).
type CredentialGroup struct {
	Type           string           `json:"type"` // "CredentialVerify"
	AuthorityKey   Hex              `json:"authorityKey"`
	Realm          Hex              `json:"realm"`
	Now            U64              `json:"now"`
	AcceptedNumber *U64             `json:"acceptedNumber,omitempty"`
	Tests          []CredentialTest `json:"tests"`
}

// CredentialTest checks a credential and its stapled revocation list
// (CRED-001 … CRED-015), as a client does with a ServerIdentity of type
// credential. On success the client trusts ServerKey and records the list's
// number.
type CredentialTest struct {
	Test
	Credential     Hex `json:"credential"`
	RevocationList Hex `json:"revocationList"`
	ServerKey      Hex `json:"serverKey"`
}

// TokenGroup is a group of token.json (spec §6.8): a server whose
// registered publisher keys are IssuerKeys, whose credential names Realm
// (empty: the server has none) and whose key has KeyID ServerKeyID, with
// its clock at Now (Unix seconds; ClockSkew is 60 s), checks an access token
// presented by a client that proved ClientKey in the same handshake
// (TOK-007).
type TokenGroup struct {
	Type        string      `json:"type"` // "TokenVerify"
	IssuerKeys  []Hex       `json:"issuerKeys"`
	Realm       Hex         `json:"realm"`
	ServerKeyID Hex         `json:"serverKeyId"`
	ClientKey   Hex         `json:"clientKey"`
	Now         U64         `json:"now"`
	Tests       []TokenTest `json:"tests"`
}

// TokenTest checks one encoded AccessTokenBody. On success the server
// records Subject, Device and TokenID for the session (TOK-009) and closes
// it at NotAfter + ClockSkew unless refreshed (TOK-011); on failure these
// are empty.
type TokenTest struct {
	Test
	Token    Hex `json:"token"`
	Subject  Hex `json:"subject"`
	Device   Hex `json:"device"`
	TokenID  Hex `json:"tokenId"`
	NotAfter U64 `json:"notAfter"`
}

// SealRecordGroup is a group of sealed.json (spec/sealed.md): a publisher
// that knows the client's Ed25519 identity key IdentityKey (from the token
// flow), with its clock at Now (Unix seconds; ClockSkew is 60 s), checks a
// seal key record before sealing to it (SEAL-006).
type SealRecordGroup struct {
	Type        string           `json:"type"` // "SealKeyRecordVerify"
	IdentityKey Hex              `json:"identityKey"`
	Now         U64              `json:"now"`
	Tests       []SealRecordTest `json:"tests"`
}

// SealRecordTest checks one encoded seal key record. On success the outputs
// are its ID (the recipient_id of envelopes sealed to it, SEAL-009), its
// HPKE public key and its not_after; on failure they are empty.
type SealRecordTest struct {
	Test
	Record    Hex `json:"record"`
	RecordID  Hex `json:"recordId"`
	PublicKey Hex `json:"publicKey"`
	NotAfter  U64 `json:"notAfter"`
}

// SealOpenGroup is a group of sealed.json: a client holding the HPKE
// private key RecipientPrivateKey (SerializePrivateKey, RFC 9180 §7.1.2)
// of the record RecipientRecord, which trusts the Ed25519 publisher keys
// PublisherKeys, opens envelopes (SEAL-020).
type SealOpenGroup struct {
	Type                string         `json:"type"` // "SealedOpen"
	RecipientRecord     Hex            `json:"recipientRecord"`
	RecipientPrivateKey Hex            `json:"recipientPrivateKey"`
	PublisherKeys       []Hex          `json:"publisherKeys"`
	Tests               []SealOpenTest `json:"tests"`
}

// SealOpenTest opens one envelope. On success the outputs are the payload,
// the KeyID of the publisher key that signed it and the time it states
// (SEAL-016); on failure they are empty.
type SealOpenTest struct {
	Test
	Envelope       Hex `json:"envelope"`
	Payload        Hex `json:"payload"`
	PublisherKeyID Hex `json:"publisherKeyId"`
	SealedAt       U64 `json:"sealedAt"`
}

// MerkleGroup is a group of merkle.json (spec §10.3): the RFC 9162 tree over
// Leaves (each an encoded Leaf structure, hashed as SHA-256(0x00 || leaf)),
// with the tree head Root. Leaves is omitted for trees too large to list;
// LeafCount is the tree's size.
type MerkleGroup struct {
	Type      string       `json:"type"` // "MerkleInclusion"
	LeafCount int          `json:"leafCount"`
	Leaves    []Hex        `json:"leaves,omitempty"`
	Root      Hex          `json:"root"`
	Tests     []MerkleTest `json:"tests"`
}

// MerkleTest is one inclusion proof to verify against the group's Root:
// the leaf's encoding, its index, the tree size claimed by the batch header
// (LeafCount, usually the group's) and the audit path, leaf to root
// (MERKLE-001, MERKLE-002).
type MerkleTest struct {
	Test
	LeafIndex uint32 `json:"leafIndex"`
	LeafCount uint32 `json:"leafCount"`
	Leaf      Hex    `json:"leaf"`
	Path      []Hex  `json:"path"`
}

// ReplayGroup is a group of replay.json (spec §11). Type is
// "MessageWindow" (REPLAY-011, REPLAY-012: the per-client message-ID window
// of WindowSize IDs) or "BatchSequence" (REPLAY-010: the highest batch_seq
// accepted in the current session, 0 at the start of each session).
type ReplayGroup struct {
	Type       string       `json:"type"`
	WindowSize int          `json:"windowSize"`
	Tests      []ReplayTest `json:"tests"`
}

// ReplayTest is a sequence of decisions from a fresh state. Each step
// presents an ID; its Result is "accept" (the ID is then recorded) or the
// alert the receiver reports (nothing is recorded). The test's result and
// alert are those of its last step.
type ReplayTest struct {
	Test
	Steps []ReplayStep `json:"steps"`
}

// ReplayStep is one decision. Session (BatchSequence only) numbers the
// client's successive sessions with one server key, from 0, never
// decreasing from one step to the next: a step with a higher number than
// the step before starts a new session, whose batch sequence starts again
// from 0 (REPLAY-010).
type ReplayStep struct {
	Session int    `json:"session"`
	ID      U64    `json:"id"`
	Result  string `json:"result"`
}

// RecordGroup is a group of record.json (spec §8): a receiver of protected
// frames under the AEAD AEAD (registry ID) whose traffic secret is
// TrafficSecret; Key and IV are derived from it (KS-001).
type RecordGroup struct {
	Type          string       `json:"type"` // "RecordOpen"
	AEAD          uint16       `json:"aead"`
	TrafficSecret Hex          `json:"trafficSecret"`
	Key           Hex          `json:"key"`
	IV            Hex          `json:"iv"`
	Tests         []RecordTest `json:"tests"`
}

// RecordTest feeds Steps, in order, to a receiver whose next sequence
// number is StartSequence. The test's result and alert are those of its
// last step; every step before the last is accepted.
type RecordTest struct {
	Test
	StartSequence U64          `json:"startSequence"`
	Steps         []RecordStep `json:"steps"`
}

// RecordStep is one protected frame. Sequence is the sequence number the
// receiver uses for it, Nonce the resulting AEAD nonce (informative). When
// accepted, Messages are the messages of its inner plaintext, each encoded
// with its header, padding removed. UpdateKey says that the frame carried a
// KeyUpdate: the receiver switches to the next traffic secret, sequence 0,
// after it (POST-003).
type RecordStep struct {
	Sequence  U64    `json:"sequence"`
	Nonce     Hex    `json:"nonce"`
	Frame     Hex    `json:"frame"`
	Messages  []Hex  `json:"messages"`
	UpdateKey bool   `json:"updateKey"`
	Result    string `json:"result"`
}

// BatchGroup is a group of batch.json (spec §10): one batch as the server
// built it, and the deliveries its recipients open. With SigningSeed, the
// data keys and each recipient's entries, a builder can reproduce every
// leaf, the header and the signature byte for byte.
type BatchGroup struct {
	Type        string           `json:"type"`        // "BatchOpen"
	SigningSeed Hex              `json:"signingSeed"` // Ed25519 seed of the key that signed (RFC 8032)
	SignerKey   Hex              `json:"signerKey"`   // the server key the client authenticated
	SignerID    Hex              `json:"signerId"`
	BatchSeq    U64              `json:"batchSeq"`
	TimestampMs U64              `json:"timestampMs"`
	Leaves      []Hex            `json:"leaves"` // every encoded Leaf, in index order
	Root        Hex              `json:"root"`
	Header      Hex              `json:"header"` // encoded BatchHeader
	Signature   Hex              `json:"signature"`
	Recipients  []BatchRecipient `json:"recipients"`
	Blobs       []BatchBlob      `json:"blobs"`
	Tests       []BatchTest      `json:"tests"`
}

// BatchRecipient is one client session of the batch: its envelope secret,
// the keys derived from it (spec §7), its AEAD, its leaf and the leaf's
// plaintext, the encoded LeafContent.
type BatchRecipient struct {
	EnvelopeSecret Hex    `json:"envelopeSecret"`
	EnvKey         Hex    `json:"envKey"`
	EnvIV          Hex    `json:"envIv"`
	TagKey         Hex    `json:"tagKey"`
	AEAD           uint16 `json:"aead"`
	LeafIndex      uint32 `json:"leafIndex"`
	Tag            Hex    `json:"tag"`
	Nonce          Hex    `json:"nonce"`
	AAD            Hex    `json:"aad"`
	LeafContent    Hex    `json:"leafContent"`
}

// BatchBlob is one broadcast blob of the batch: its leaf index, AEAD, data
// key, additional data and plaintext payload.
type BatchBlob struct {
	LeafIndex uint32 `json:"leafIndex"`
	AEAD      uint16 `json:"aead"`
	DataKey   Hex    `json:"dataKey"`
	AAD       Hex    `json:"aad"`
	Payload   Hex    `json:"payload"`
}

// BatchTest opens Delivery, the body of a BatchDelivery message (msg_type
// 0x12), as the client of recipient Recipient: its session authenticated
// the group's SignerKey, delivers payloads of at most MaxPayload bytes, and
// its replay state is HighestBatchSeq (the highest batch_seq accepted in
// this session, absent if none) and AcceptedIDs (message IDs accepted
// before, in order). A valid test lists every entry in Messages, in order,
// with its status: "deliver", or the local result "replayed_message" or
// "stale_message" for a message not handed to the application
// (REPLAY-012).
type BatchTest struct {
	Test
	Recipient       int            `json:"recipient"`
	MaxPayload      uint32         `json:"maxPayload"`
	HighestBatchSeq *U64           `json:"highestBatchSeq,omitempty"`
	AcceptedIDs     []U64          `json:"acceptedIds"`
	Delivery        Hex            `json:"delivery"`
	Messages        []BatchMessage `json:"messages"`
}

// BatchMessage is one message a valid delivery yields.
type BatchMessage struct {
	MessageID U64    `json:"messageId"`
	Payload   Hex    `json:"payload"`
	Status    string `json:"status"`
}

// HandshakeGroup is a group of handshake.json (spec §6, §7): complete
// handshakes and handshakes with one frame altered in flight.
type HandshakeGroup struct {
	Type  string          `json:"type"` // "Handshake"
	Tests []HandshakeTest `json:"tests"`
}

// HandshakeTest is one handshake between a client configured by Client and
// a server configured by Server, both reading the clock Now (Unix seconds).
//
// Role names the side under test. "both": a valid handshake; run both sides
// against each other: every frame, every message in Messages and every
// secret in Secrets must match, and ClientID and Ticket are the results.
// "client" or "server": run that side alone; Frames lists every frame in
// order; the frames of the other side are its input, and the frames of the
// side under test are what it must produce. The last frame is the input that
// the side under test rejects with the test's alert. NextServerKey (role
// both) is the next key the client learned from the completed handshake
// (HS-070, ID-010), empty when the server announced none.
type HandshakeTest struct {
	Test
	Role     string           `json:"role"`
	Now      U64              `json:"now"`
	Client   HandshakeClient  `json:"client"`
	Server   HandshakeServer  `json:"server"`
	Frames   []HandshakeFrame `json:"frames"`
	Messages map[string]Hex   `json:"messages"`
	Secrets  map[string]Hex   `json:"secrets"`
	ClientID Hex              `json:"clientId"`
	Ticket   Hex              `json:"ticket"`
	// NextServerKey is the key announced in next_server_key and learned
	// by the client (role both), or empty.
	NextServerKey Hex `json:"nextServerKey"`
}

// HandshakeFrame is one frame and the side that sent it.
type HandshakeFrame struct {
	From  string `json:"from"` // "client" or "server"
	Frame Hex    `json:"frame"`
}

// NamedBytes is one value drawn from a side's randomness source.
type NamedBytes struct {
	Name  string `json:"name"`
	Value Hex    `json:"value"`
}

// HandshakeExtension is an extension the client adds to ClientHello.
type HandshakeExtension struct {
	Type uint16 `json:"type"`
	Data Hex    `json:"data"`
}

// HandshakeTicket is a resumption ticket the client holds (HS-040).
type HandshakeTicket struct {
	Ticket   Hex `json:"ticket"`
	PSK      Hex `json:"psk"`
	ClientID Hex `json:"clientId"`
	Expires  U64 `json:"expires"` // Unix seconds
}

// HandshakeClient configures the client. Versions, Groups and AEADs are its
// offer in preference order; GREASE adds a GREASE version, group (with a
// one-byte share), AEAD (each first in its list) and non-critical extension.
// Exactly one of PinnedKeyID (ID-003) and AuthorityKey with Realm (CRED-*)
// is set; NextPinnedKeyID, with PinnedKeyID only, is a second pinned
// KeyID the client also accepts (ID-010), empty if none. IdentitySeed makes
// it key-identified (HS-030). Random lists, in
// order, every value the client draws from its randomness source: its
// random, then per offered group the ML-KEM-768 seed d || z and the X25519
// private key, then the two GREASE bytes.
type HandshakeClient struct {
	Versions            []uint16         `json:"versions"`
	Groups              []uint16         `json:"groups"`
	AEADs               []uint16         `json:"aeads"`
	GREASE              bool             `json:"grease"`
	PinnedKeyID         Hex              `json:"pinnedKeyId"`
	NextPinnedKeyID     Hex              `json:"nextPinnedKeyId"`
	AuthorityKey        Hex              `json:"authorityKey"`
	Realm               string           `json:"realm"`
	MinRevocationNumber U64              `json:"minRevocationNumber"`
	IdentitySeed        Hex              `json:"identitySeed"`
	Ticket              *HandshakeTicket `json:"ticket,omitempty"`
	// Token is the access token the client presents in its flight
	// (HS-060); absent: none.
	Token           Hex                  `json:"token,omitempty"`
	ExtraExtensions []HandshakeExtension `json:"extraExtensions"`
	Random          []NamedBytes         `json:"random"`
}

// HandshakeServer configures the server: its preferences, its Ed25519 key
// (KeySeed), its credential and revocation list (both empty in raw-key
// mode), its ticket key set (HS-045: the current key first, then the
// previous one if any; empty: no tickets), the ticket records of its
// client IDs (HS-046), its ticket lifetime, whether it
// requires key-identified clients, and its Welcome parameters. Random lists
// the values it draws: the ML-KEM encapsulation randomness m (hybrid only),
// its X25519 private key, its random, then for an anonymous client the
// client ID (unless resumed) and the 12-byte ticket nonce. StoreEpoch is
// the 16-byte store epoch its Welcome carries (POST-010). NextKey is the
// public key it announces in next_server_key (HS-070), empty if none.
type HandshakeServer struct {
	Versions          []uint16                `json:"versions"`
	Groups            []uint16                `json:"groups"`
	AEADs             []uint16                `json:"aeads"`
	KeySeed           Hex                     `json:"keySeed"`
	Credential        Hex                     `json:"credential"`
	RevocationList    Hex                     `json:"revocationList"`
	TicketKeys        []HandshakeTicketKey    `json:"ticketKeys"`
	TicketRecords     []HandshakeTicketRecord `json:"ticketRecords"`
	TicketLifetimeSec uint32                  `json:"ticketLifetimeSec"`
	RequireClientKey  bool                    `json:"requireClientKey"`
	// TokenIssuers are the publisher keys whose access tokens the server
	// accepts (TOK-002), its audience being its key's KeyID (TOK-005);
	// RequireToken refuses a flight without one (HS-062). Absent: none.
	TokenIssuers  []Hex        `json:"tokenIssuers,omitempty"`
	RequireToken  bool         `json:"requireToken,omitempty"`
	MaxPayload    uint32       `json:"maxPayload"`
	IdleTimeoutMs uint32       `json:"idleTimeoutMs"`
	StoreEpoch    Hex          `json:"storeEpoch"`
	NextKey       Hex          `json:"nextKey"`
	Random        []NamedBytes `json:"random"`
}

// HandshakeTicketKey is one key of a server's ticket key set (HS-045).
type HandshakeTicketKey struct {
	ID  uint32 `json:"id"`
	Key Hex    `json:"key"`
}

// HandshakeTicketRecord is a server's record of one anonymous client ID
// (HS-046): the latest generation issued and whether the one before may
// still be presented.
type HandshakeTicketRecord struct {
	ClientID Hex  `json:"clientId"`
	Latest   U64  `json:"latest"`
	Retry    bool `json:"retry"`
}

// SessionGroup is a group of session.json (spec §9): the connected state of
// a Role ("client" or "server") whose peer sends under ReceiveSecret and who
// sends under SendSecret, both application traffic secrets of generation 0.
type SessionGroup struct {
	Type          string        `json:"type"` // "SessionOpen"
	Role          string        `json:"role"`
	AEAD          uint16        `json:"aead"`
	ReceiveSecret Hex           `json:"receiveSecret"`
	SendSecret    Hex           `json:"sendSecret"`
	Tests         []SessionTest `json:"tests"`
}

// SessionTest feeds Steps, in order, to a fresh session; each step gives its
// own result, and the test's result and alert are those of its last step.
// After a failed step the session is closed (HS-050).
type SessionTest struct {
	Test
	Steps []SessionStep `json:"steps"`
}

// SessionStep is one protected frame from the peer. When accepted, Messages
// are the application messages it yields (KeyUpdate is handled by the
// session, not returned) and Answers the frames the session then owes the
// peer (a KeyUpdate(0) answering KeyUpdate(1), POST-003), protected under its
// sending key.
type SessionStep struct {
	Frame    Hex    `json:"frame"`
	Messages []Hex  `json:"messages"`
	Answers  []Hex  `json:"answers"`
	Result   string `json:"result"`
}
