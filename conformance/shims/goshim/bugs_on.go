//go:build sealfeed_testhooks

package main

import "github.com/sealfeed/sealfeed/internal/bugs"

// setBugs switches on the defect named bug (bugNames) and reports true.
// Every defect is an internal/bugs switch of the library or the protocol
// packages.
func setBugs(bug string) bool {
	bugs.AcceptUnimplementedVersion = bug == "accept-downgrade"
	bugs.IgnoreCredentialValidity = bug == "accept-expired-credential"
	bugs.SkipMerkleProof = bug == "ignore-merkle-proof"
	bugs.SkipBatchSignature = bug == "skip-batch-signature"
	bugs.NoReplayWindow = bug == "no-replay-window"
	bugs.SkipBatchSeqCheck = bug == "no-batch-seq-check"
	bugs.IgnoreStoreEpoch = bug == "no-store-epoch"
	return true
}
