package bugs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Only the protocol packages that read a switch and the conformance shims
// may import bugs; a production package that imported it could flip a
// check off.
func TestOnlyShimsAndReadersImportBugs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/sealfeed/sealfeed/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/sealfeed/sealfeed/protocol/handshake":  true, // reads AcceptUnimplementedVersion
		"github.com/sealfeed/sealfeed/protocol/credential": true, // reads IgnoreCredentialValidity
		"github.com/sealfeed/sealfeed/protocol/batch":      true, // reads SkipMerkleProof, SkipBatchSignature
		"github.com/sealfeed/sealfeed/protocol/receiver":   true, // reads SkipBatchSeqCheck, NoReplayWindow, IgnoreStoreEpoch
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp != "github.com/sealfeed/sealfeed/internal/bugs" {
				continue
			}
			if !allowed[f[0]] && !strings.HasPrefix(f[0], "github.com/sealfeed/sealfeed/conformance/shims/") {
				t.Errorf("%s imports internal/bugs", f[0])
			}
		}
	}
}
