package testclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func near(t *testing.T, got time.Time, off time.Duration) {
	t.Helper()
	if d := got.Sub(time.Now().Add(off)); d < -time.Second || d > time.Second {
		t.Fatalf("clock is %v off the wall clock, want %v", time.Until(got), off)
	}
}

func TestFromEnvOffset(t *testing.T) {
	if now, _, err := fromEnv(env(nil)); now != nil || err != nil {
		t.Fatalf("unset: %v %v, want the wall clock", now != nil, err)
	}
	now, _, err := fromEnv(env(map[string]string{OffsetEnv: "-2m"}))
	if err != nil {
		t.Fatal(err)
	}
	near(t, now(), -2*time.Minute)
	if _, _, err := fromEnv(env(map[string]string{OffsetEnv: "2 minutes"})); err == nil {
		t.Fatal("a malformed offset was accepted")
	}
}

// A test skews a running node by rewriting the file.
func TestFromEnvFileRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offset")
	if err := os.WriteFile(path, []byte("90s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now, _, err := fromEnv(env(map[string]string{OffsetEnv: "10s", FileEnv: path}))
	if err != nil {
		t.Fatal(err)
	}
	near(t, now(), 100*time.Second)
	if err := os.WriteFile(path, []byte("-3m"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for now().After(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the rewritten offset was never read")
		}
		time.Sleep(20 * time.Millisecond)
	}
	near(t, now(), 10*time.Second-3*time.Minute)
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * reread)
	near(t, now(), 10*time.Second-3*time.Minute) // a malformed file keeps the last offset
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fromEnv(env(map[string]string{FileEnv: path})); err == nil {
		t.Fatal("a malformed file was accepted at start")
	}
}
