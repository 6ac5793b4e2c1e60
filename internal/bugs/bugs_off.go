//go:build !sealfeed_testhooks

package bugs

// Without the sealfeed_testhooks tag every switch is a constant false: no
// check of the reference implementation can be switched off.
const (
	AcceptUnimplementedVersion = false
	IgnoreCredentialValidity   = false
	SkipMerkleProof            = false
	SkipBatchSignature         = false
	SkipBatchSeqCheck          = false
	NoReplayWindow             = false
	IgnoreStoreEpoch           = false
)
