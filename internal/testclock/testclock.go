// Package testclock gives a sealfeed serve process a clock of its own, so
// that tests can run the nodes of one deployment with clocks that disagree
// (issue 15, DLV-040, DLV-041). Only a build with the sealfeed_testhooks
// tag reads the environment (testclock_on.go); in a normal build FromEnv
// returns nil whatever the environment says (testclock_off.go), nothing
// calls the code of this file, and the sealfeed binary links none of it
// (cmd/sealfeed's TestBinaryLinksNoTestHooks). The tests of this file run
// in a normal build.
//
// Two variables set the node's clock, the wall clock plus both offsets:
//
//   - SEALFEED_TEST_CLOCK_OFFSET: a Go duration, "90s", "-2m", fixed for
//     the life of the process;
//   - SEALFEED_TEST_CLOCK_FILE: a file holding a Go duration, read again at
//     most every 100 ms, so a test skews a running node by rewriting it; a
//     missing or empty file is 0, and a malformed one keeps the offset read
//     before.
package testclock

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// The environment variables FromEnv reads.
const (
	OffsetEnv = "SEALFEED_TEST_CLOCK_OFFSET"
	FileEnv   = "SEALFEED_TEST_CLOCK_FILE"
)

// reread is how old the file's offset may be.
const reread = 100 * time.Millisecond

// fromEnv returns the node clock getenv asks for, with a description for
// the log, or nil when neither variable is set (the wall clock).
func fromEnv(getenv func(string) string) (now func() time.Time, desc string, err error) {
	var fixed time.Duration
	if v := getenv(OffsetEnv); v != "" {
		if fixed, err = time.ParseDuration(v); err != nil {
			return nil, "", fmt.Errorf("%s: %w", OffsetEnv, err)
		}
	}
	path := getenv(FileEnv)
	if path == "" {
		if fixed == 0 {
			return nil, "", nil
		}
		return func() time.Time { return time.Now().Add(fixed) }, fmt.Sprintf("%s=%v", OffsetEnv, fixed), nil
	}
	c := &fileClock{path: path, fixed: fixed}
	off, err := readOffset(path)
	if err != nil {
		return nil, "", err
	}
	c.offset.Store(int64(off))
	c.read.Store(time.Now().UnixNano())
	return c.now, fmt.Sprintf("%s=%v %s=%s", OffsetEnv, fixed, FileEnv, path), nil
}

type fileClock struct {
	path   string
	fixed  time.Duration
	offset atomic.Int64 // the file's offset, ns
	read   atomic.Int64 // when it was read, Unix ns
}

func (c *fileClock) now() time.Time {
	wall := time.Now()
	if last := c.read.Load(); wall.UnixNano()-last >= int64(reread) && c.read.CompareAndSwap(last, wall.UnixNano()) {
		if off, err := readOffset(c.path); err == nil {
			c.offset.Store(int64(off))
		}
	}
	return wall.Add(c.fixed + time.Duration(c.offset.Load()))
}

func readOffset(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", FileEnv, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", FileEnv, path, err)
	}
	return d, nil
}
