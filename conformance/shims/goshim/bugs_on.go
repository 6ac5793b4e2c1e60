//go:build sealfeed_testhooks

package main

import "github.com/sealfeed/sealfeed/internal/bugs"

// setBugs switches on the defect named bug (bugNames) and reports true.
// Defects of the protocol packages are internal/bugs switches; the others
// are in the shim itself.
func setBugs(bug string) bool {
	bugs.AcceptUnimplementedVersion = bug == "accept-downgrade"
	bugs.IgnoreCredentialValidity = bug == "accept-expired-credential"
	bugs.SkipMerkleProof = bug == "ignore-merkle-proof"
	bugs.SkipBatchSignature = bug == "skip-batch-signature"
	return true
}
