package client_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleBuildsOutsideModule copies example_test.go into a new module in
// a temporary directory that requires this one through a replace directive,
// and runs its examples there: what a program using the client needs is
// exported (keys, client, publisher, server), not behind internal/. It
// needs no network: dependencies come from the module cache (GOPROXY=off).
func TestExampleBuildsOutsideModule(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the example module: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goMod := "module example.com/sealfeedexample\n\ngo 1.26.0\n\n" +
		"require github.com/sealfeed/sealfeed v0.0.0\n\n" +
		"replace github.com/sealfeed/sealfeed => " + root + "\n"
	for name, data := range map[string][]byte{"go.mod": []byte(goMod), "go.sum": sum, "example_test.go": example} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "test", "-v", "-count=1", "-run", "^Example", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the example does not build or run outside the module: %v\n%s", err, out.String())
	}
	for _, want := range []string{"--- PASS: Example ", "--- PASS: ExampleMessage_Ack "} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("%q missing from the output of the example module:\n%s", want, out.String())
		}
	}
}
