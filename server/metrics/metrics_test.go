package metrics

import (
	"sync/atomic"
	"testing"
)

// BenchmarkObservePerMessage is what the delivery path pays per message
// sent for sealfeed_publish_to_sent_seconds (OPS-044): one histogram
// observation, no allocation.
func BenchmarkObservePerMessage(b *testing.B) {
	n := New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n.PublishToSentSeconds.Observe(float64(i%1000) / 100)
	}
}

// BenchmarkAtomicAdd is the yardstick for BenchmarkObservePerMessage: one
// atomic add, what a counter of core.Metrics costs.
func BenchmarkAtomicAdd(b *testing.B) {
	var c atomic.Uint64
	for b.Loop() {
		c.Add(1)
	}
}

// TestObserveAllocatesNothing: OPS-044, the per-message observation
// allocates nothing.
func TestObserveAllocatesNothing(t *testing.T) {
	n := New()
	if a := testing.AllocsPerRun(1000, func() { n.PublishToSentSeconds.Observe(0.25) }); a != 0 {
		t.Errorf("an observation allocates %v times", a)
	}
}
