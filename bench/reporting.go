package bench

import (
	"bufio"
	"cmp"
	"os"
	"slices"
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

// Medians runs each of n measurements rounds times (at least once), one
// round after another, measurement i of round r by measure(r, i), and
// returns each measurement's median by ns. Rounds interleave the
// measurements, so that a burst of load on a shared machine hits both sides
// of a ratio alike, and the median drops the outliers. The first error
// stops the runs.
func Medians[T any](rounds, n int, measure func(round, i int) (T, error), ns func(T) float64) ([]T, error) {
	runs := make([][]T, n)
	for r := 0; r < max(rounds, 1); r++ {
		for i := range runs {
			v, err := measure(r, i)
			if err != nil {
				return nil, err
			}
			runs[i] = append(runs[i], v)
		}
	}
	out := make([]T, n)
	for i, rs := range runs {
		slices.SortFunc(rs, func(a, b T) int { return cmp.Compare(ns(a), ns(b)) })
		out[i] = rs[len(rs)/2]
	}
	return out, nil
}
