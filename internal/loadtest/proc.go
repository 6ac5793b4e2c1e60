package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sealfeed/sealfeed/internal/loadtest/floor"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the user + system CPU seconds process pid has used, from
// /proc/PID/stat.
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields count from after its closing one.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("loadtest: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("loadtest: short /proc stat")
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("loadtest: malformed /proc stat times")
	}
	return float64(ut+st) / clockTicks, nil
}

// ProcRSS returns process pid's resident set in bytes, from
// /proc/PID/status.
func ProcRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("loadtest: no VmRSS")
}

// ProcMeter samples server processes of this machine: CPU and RSS from
// /proc, Go heap and stacks (and SealFeed's batches) from each /metrics.
type ProcMeter struct {
	PIDs []int
	// Metrics are the base URLs whose /metrics carry the Go collector's
	// go_memstats_heap_inuse_bytes and go_memstats_stack_inuse_bytes, and
	// Prefix_batches_total; Prefix is "sealfeed" or "floor".
	Metrics []string
	Prefix  string
}

// Sample reads every process and sums.
func (m ProcMeter) Sample(ctx context.Context) (Sample, error) {
	var s Sample
	for _, pid := range m.PIDs {
		c, err := ProcCPU(pid)
		if err != nil {
			return s, err
		}
		r, err := ProcRSS(pid)
		if err != nil {
			return s, err
		}
		s.CPUSeconds += c
		s.RSSBytes += r
	}
	for _, u := range m.Metrics {
		v, err := Metrics(ctx, u)
		if err != nil {
			return s, err
		}
		s.HeapStackBytes += v["go_memstats_heap_inuse_bytes"] + v["go_memstats_stack_inuse_bytes"]
		s.Batches += v[m.Prefix+"_batches_total"]
	}
	return s, nil
}

// floorSystem drives a floor server (package floor).
type floorSystem struct{ base, ws string }

// NewFloor returns the System of the floor server at base
// (http://host:port).
func NewFloor(base string) System {
	base = strings.TrimRight(base, "/")
	return floorSystem{base: base, ws: "ws" + strings.TrimPrefix(base, "http") + "/ws"}
}

func (f floorSystem) Dial(ctx context.Context, _ int, netDial NetDial) (Conn, error) {
	c, err := floor.Dial(ctx, f.ws, netDial)
	if err != nil {
		return nil, err
	}
	return floorConn{c}, nil
}

func (f floorSystem) Publisher(int) Poster { return floor.NewPublisher(f.base) }

type floorConn struct{ c *floor.Client }

func (c floorConn) ID() [32]byte { return c.c.ID() }
func (c floorConn) Close()       { c.c.Close() }
func (c floorConn) Receive(msg func([]byte)) {
	c.c.Receive(nil, msg)
}
