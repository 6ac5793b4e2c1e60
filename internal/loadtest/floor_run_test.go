package loadtest

import (
	"context"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/internal/loadtest/floor"
)

// TestRunFloorCountsEveryMessage drives an in-process floor with 20
// clients for a second: every accepted message arrives once, and the
// report has its CPU and latency.
func TestRunFloorCountsEveryMessage(t *testing.T) {
	s := floor.New(floor.DefaultTick, 0)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	rep, err := Run(context.Background(), Config{System: NewFloor(hs.URL), PublisherCount: 2, Clients: 20,
		Rate: 400, Duration: time.Second, PayloadSize: 256, Bulk: 10,
		LocalAddrs: []string{"127.0.0.2", "127.0.0.3"},
		Meter:      ProcMeter{PIDs: []int{os.Getpid()}, Metrics: []string{hs.URL}, Prefix: "floor"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Published < 100 || rep.PublishErrors != 0 {
		t.Fatalf("published %d with %d errors", rep.Published, rep.PublishErrors)
	}
	if rep.Lost != 0 || rep.Duplicates != 0 || rep.Delivered != rep.Published {
		t.Fatalf("published %d, delivered %d, lost %d, duplicated %d", rep.Published, rep.Delivered, rep.Lost, rep.Duplicates)
	}
	if st := s.Stats(); st.Messages != rep.Published {
		t.Fatalf("floor queued %d, the run published %d", st.Messages, rep.Published)
	}
	if rep.ServerCPUSeconds <= 0 || rep.LatencyP99Ms <= 0 || rep.IdleHeapPerConn == 0 {
		t.Fatalf("no CPU, latency or memory measured: %+v", rep)
	}
}

// TestProcCPU: /proc/PID/stat's utime + stime agree with getrusage on
// this process, to the 10 ms clock tick.
func TestProcCPU(t *testing.T) {
	rusage := func() float64 {
		var r syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
			t.Fatal(err)
		}
		return time.Duration(r.Utime.Nano() + r.Stime.Nano()).Seconds()
	}
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	lo := rusage()
	c, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	hi := rusage()
	if c < lo-0.02 || c > hi+0.02 {
		t.Fatalf("/proc says %.3f s of CPU, getrusage %.3f … %.3f s", c, lo, hi)
	}
	if r, err := ProcRSS(os.Getpid()); err != nil || r < 1<<20 {
		t.Fatalf("RSS %v, %v", r, err)
	}
}
