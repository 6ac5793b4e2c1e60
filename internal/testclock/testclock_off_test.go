//go:build !sealfeed_testhooks

package testclock

import "testing"

// Without the tag the environment sets no clock.
func TestFromEnvOffWithoutTag(t *testing.T) {
	env := map[string]string{OffsetEnv: "10m", FileEnv: "/nonexistent"}
	if now, _, err := FromEnv(func(k string) string { return env[k] }); now != nil || err != nil {
		t.Fatalf("FromEnv in a normal build: %v %v, want nil", now != nil, err)
	}
}
