package system

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(ChildEnv) != "" {
		os.Exit(Child(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestFloorPhaseAndReport runs the floor phase as a child process at tiny
// scale (20 clients, 1 s) and renders and writes the report.
func TestFloorPhaseAndReport(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{Exe: exe, Clients: 20, Publishers: 2, Rate: 400, PayloadSize: 256, Bulk: 10,
		Duration: time.Second, IdleWindow: 300 * time.Millisecond, LocalAddrs: []string{"127.0.0.2", "127.0.0.3"}, TmpDir: t.TempDir()})
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("%v %v", err, res.Errors)
	}
	f := res.Floor
	if f == nil || f.Published < 100 || f.Delivered != f.Published || f.Lost != 0 || f.Duplicates != 0 {
		t.Fatalf("floor phase: %+v", f)
	}
	if f.ServerCPUSeconds <= 0 {
		t.Fatalf("the floor child's CPU was not measured: %+v", f)
	}
	md := res.Section("Before", "test run")
	for _, want := range []string{"## Before", "| lost / duplicated | 0 / 0 |", "**server CPU per delivered message**", "(not run or failed)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	path := filepath.Join(t.TempDir(), "system.md")
	if err := WriteSection(path, "before", "BEFORE 1\n"); err != nil {
		t.Fatal(err)
	}
	WriteSection(path, "after", "AFTER 1\n")
	WriteSection(path, "before", "BEFORE 2\n")
	b, _ := os.ReadFile(path)
	s := string(b)
	if !strings.HasPrefix(s, Header) || strings.Contains(s, "BEFORE 1") || !strings.Contains(s, "BEFORE 2") || !strings.Contains(s, "AFTER 1") ||
		strings.Index(s, "BEFORE 2") > strings.Index(s, "AFTER 1") {
		t.Fatalf("sections not kept in place:\n%s", s)
	}
}

const traces = `File: sealfeed
Type: cpu
Duration: 10s, Total samples = 100ms ( 1.00%)
-----------+-------------------------------------------------------
      50ms   modernc.org/libc.Xmemcpy
             modernc.org/sqlite/lib.sqlite3_step
             github.com/sealfeed/sealfeed/server/store/sqlitestore.(*Store).Publish
             net/http.(*conn).serve
-----------+-------------------------------------------------------
      30ms   crypto/internal/fips140/sha256.blockAVX2
             github.com/sealfeed/sealfeed/protocol/batch.Build
-----------+-------------------------------------------------------
      10ms   runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      10ms   internal/runtime/syscall/linux.Syscall6
             syscall.write
             internal/poll.(*FD).Write
             github.com/gorilla/websocket.(*Conn).WriteMessage
-----------+-------------------------------------------------------
`

func TestParseTraces(t *testing.T) {
	p, err := parseTraces([]byte(traces))
	if err != nil {
		t.Fatal(err)
	}
	get := func(ss []Share, prefix string) float64 {
		for _, s := range ss {
			if strings.HasPrefix(s.Group, prefix) {
				return s.Share
			}
		}
		t.Fatalf("no group %q", prefix)
		return 0
	}
	if p.Seconds != 10 || p.CPU < 0.0999 || p.CPU > 0.1001 {
		t.Fatalf("duration %v, CPU %v", p.Seconds, p.CPU)
	}
	for _, c := range []struct {
		ss     []Share
		group  string
		expect float64
	}{
		{p.Inclusive, "SQLite", 0.5}, {p.Inclusive, "Store.Publish", 0.5}, {p.Inclusive, "HTTP", 0.5},
		{p.Inclusive, "crypto", 0.3}, {p.Inclusive, "GC", 0.1}, {p.Inclusive, "Store.Ack", 0},
		{p.Inclusive, "WebSocket", 0.1}, {p.Inclusive, "system calls", 0.1},
		{p.Self, "SQLite", 0.5}, {p.Self, "crypto", 0.3}, {p.Self, "system calls", 0.1}, {p.Self, "GC", 0.1}, {p.Self, "other", 0},
	} {
		if got := get(c.ss, c.group); got < c.expect-1e-9 || got > c.expect+1e-9 {
			t.Errorf("%s: %.3f, want %.3f", c.group, got, c.expect)
		}
	}
}
