//go:build sealfeed_testhooks

// Package bugs holds deliberate defects that the conformance suite's broken
// shims switch on, to prove that the suite catches implementations that skip
// a check (spec/conformance.md, "Proving the suite"). Each switch disables
// exactly one rule of the spec in the reference implementation.
//
// The switches exist only in a build with the sealfeed_testhooks tag, which
// the conformance suite's tests pass when they build the shims. In a normal
// build they are constants that are false (bugs_off.go): the checks cannot
// be switched off and the compiler drops the dead branches, so the
// sealfeed binary links no switch (cmd/sealfeed's TestBinaryLinksNoTestHooks).
//
// Nothing but conformance/shims may set them: a test in this package fails
// if any other package of the module imports bugs outside the protocol
// packages that read the switches. They are set once, before a shim does
// anything, and read without locks.
package bugs

var (
	// AcceptUnimplementedVersion skips HS-014's version check in the client:
	// it accepts whatever version the ServerHello names (a downgrade).
	AcceptUnimplementedVersion bool
	// IgnoreCredentialValidity skips CRED-005 (the validity period) in
	// credential validation: an expired credential is accepted.
	IgnoreCredentialValidity bool
	// SkipMerkleProof skips MERKLE-001 for a delivery's own leaf.
	SkipMerkleProof bool
	// SkipBatchSignature skips the batch signature check of BATCH-011
	// (SIG-003) when a delivery is opened.
	SkipBatchSignature bool
)

var (
	// SkipBatchSeqCheck skips REPLAY-010 in the client's receiver: any
	// batch sequence number is accepted.
	SkipBatchSeqCheck bool
	// NoReplayWindow hands duplicate and stale messages to the application
	// again (REPLAY-011, REPLAY-012) in the client's receiver.
	NoReplayWindow bool
	// IgnoreStoreEpoch keeps one window per client ID whatever the store
	// epoch (REPLAY-020, REPLAY-021) in the client's receiver.
	IgnoreStoreEpoch bool
)
