package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/publisher"
)

// The test clock that the fault suite gives a node (DLV-041,
// internal/testclock): a sealfeed binary built with -tags
// sealfeed_testhooks runs `serve` on the wall clock plus
// SEALFEED_TEST_CLOCK_OFFSET, so a publish signed now is 10 minutes
// before that node's clock and refused as stale (API-013); the shipped
// build ignores the variable and stores the publish.
func TestServeTestClockOnlyInTestBuild(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sealfeed-testhooks")
	if out, err := exec.Command("go", "build", "-tags", "sealfeed_testhooks", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key, _ := keyfile.Generate()
	pubFile := filepath.Join(dir, "publisher.pub")
	pem, _ := keyfile.MarshalPublic(key.Public().(ed25519.PublicKey))
	if err := os.WriteFile(pubFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEALFEED_TEST_CLOCK_OFFSET", "10m")
	publish := func(base string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := publisher.New(base, key).Publish(ctx, publisher.Message{To: [][32]byte{{1}}, Payload: []byte("x")}, "")
		return err
	}

	shipped := startServe(t, freeAddr(t), "-data", filepath.Join(dir, "shipped"), "-publisher", pubFile)
	if err := publish(shipped.base); err != nil {
		t.Fatalf("the shipped build: %v, want the publish stored", err)
	}
	if strings.Contains(shipped.output(), "TEST BUILD") {
		t.Fatalf("the shipped build reports a test clock:\n%s", shipped.output())
	}

	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "-listen", addr, "-data", filepath.Join(dir, "tagged"), "-publisher", pubFile)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = lockedWriter{shipped.mu, &out}, lockedWriter{shipped.mu, &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the test build did not come up")
		}
	}
	var pr *publisher.Problem
	if err := publish(base); !errors.As(err, &pr) || pr.Status != 401 || !strings.HasSuffix(pr.Type, "/stale-request") {
		t.Fatalf("the test build 10 minutes ahead: %v, want 401 stale-request", err)
	}
	shipped.mu.Lock()
	logged := out.String()
	shipped.mu.Unlock()
	if !strings.Contains(logged, "TEST BUILD") || !strings.Contains(logged, "SEALFEED_TEST_CLOCK_OFFSET=10m0s") {
		t.Fatalf("the test build does not log its clock:\n%s", logged)
	}
}
