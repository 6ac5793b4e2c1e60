//go:build sealfeed_testhooks

package testclock

import "time"

// FromEnv returns the node clock SEALFEED_TEST_CLOCK_OFFSET and
// SEALFEED_TEST_CLOCK_FILE ask for, with a description for the log, or nil
// for the wall clock. Only this build has it.
func FromEnv(getenv func(string) string) (now func() time.Time, desc string, err error) {
	return fromEnv(getenv)
}
