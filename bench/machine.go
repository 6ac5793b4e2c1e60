package bench

import (
	"bufio"
	"os"
	"strings"
)

// CPUModel returns the CPU's model name from /proc/cpuinfo, for the
// reports' machine lines ("unknown CPU" where there is none).
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
