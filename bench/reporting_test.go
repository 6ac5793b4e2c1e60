package bench

import (
	"errors"
	"slices"
	"testing"
)

// Medians runs round after round over every measurement and keeps each
// one's median; an error stops it.
func TestMedians(t *testing.T) {
	values := [][]float64{{5, 1, 3}, {10, 30, 20}} // [measurement][round]
	var order []int
	got, err := Medians(3, 2, func(r, i int) (float64, error) {
		order = append(order, r*10+i)
		return values[i][r], nil
	}, func(v float64) float64 { return v })
	if err != nil || got[0] != 3 || got[1] != 20 {
		t.Fatalf("medians %v, %v; want [3 20]", got, err)
	}
	if want := []int{0, 1, 10, 11, 20, 21}; !slices.Equal(order, want) {
		t.Fatalf("run order %v, want %v (rounds interleaved)", order, want)
	}
	boom := errors.New("boom")
	if _, err := Medians(2, 2, func(r, i int) (float64, error) { return 0, boom }, func(v float64) float64 { return v }); err != boom {
		t.Fatalf("error %v, want %v", err, boom)
	}
}
