package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestEveryMutantCompiles (SEALFEED_MUTATE_BUILD=1) compiles the package
// of every mutant, without linking: an invalid mutant is caught while the
// catalogue is written rather than in a harness run.
func TestEveryMutantCompiles(t *testing.T) {
	if os.Getenv("SEALFEED_MUTATE_BUILD") == "" {
		t.Skip("set SEALFEED_MUTATE_BUILD=1")
	}
	abs, _ := filepath.Abs(root)
	for _, m := range catalogue(t) {
		path := filepath.Join(abs, filepath.FromSlash(m.File))
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		mut, err := m.apply(string(src))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		mf := filepath.Join(dir, "m.go")
		os.WriteFile(mf, []byte(mut), 0o644)
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {path: mf}})
		os.WriteFile(filepath.Join(dir, "o.json"), ov, 0o644)
		cmd := exec.Command("go", "build", "-o", os.DevNull, "-overlay", filepath.Join(dir, "o.json"), "./"+filepath.ToSlash(filepath.Dir(m.File)))
		cmd.Dir = abs
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", m.ID, err, out)
		}
	}
}
