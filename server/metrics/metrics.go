// Package metrics is a node's Prometheus registry (OPS-040): one per node,
// never the global one, so that tests run several nodes in one process.
// It holds the standard process and Go collectors, sealfeed_build_info,
// and the labelled counters and histograms that the node's parts observe
// on their reject and timing paths. Counters a part already keeps as
// atomics are exported by functions reading them at scrape time, so the
// message path pays nothing for them.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealfeed/sealfeed/internal/buildinfo"
	"github.com/sealfeed/sealfeed/protocol/alert"
)

// NoAlert is the alert label of a handshake that failed without an alert:
// the connection closed or timed out (OPS-042).
const NoAlert = "none"

// Node is one node's registry and the metrics its parts observe.
type Node struct {
	Registry *prometheus.Registry

	// HandshakeFailures counts failed handshakes by alert name (OPS-042).
	HandshakeFailures *prometheus.CounterVec
	// Rejected counts REST requests answered with a problem, by problem
	// type (OPS-043).
	Rejected *prometheus.CounterVec
	// HandshakeSeconds is the time from the first frame read to the
	// session's attachment (OPS-044).
	HandshakeSeconds prometheus.Histogram
	// BatchBuildSeconds is the time to build, sign and queue one batch
	// (OPS-044).
	BatchBuildSeconds prometheus.Histogram
	// PublishToSentSeconds is the time from a message's commit to each
	// batch that carries it to its client (OPS-044).
	PublishToSentSeconds prometheus.Histogram
	// PublishToAckedSeconds is the time from a message's commit to the
	// Ack that acknowledges it (OPS-044).
	PublishToAckedSeconds prometheus.Histogram
}

// New returns a Node with its own registry.
func New() *Node {
	r := prometheus.NewRegistry()
	n := &Node{Registry: r}
	r.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	bi := buildinfo.Read()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sealfeed_build_info",
		Help: "Always 1; the labels say which build runs (OPS-041), as `sealfeed version` prints it.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.Go,
			"protocol": buildinfo.ProtocolList()},
	})
	info.Set(1)
	r.MustRegister(info)

	n.HandshakeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealfeed_handshake_failures_total",
		Help: "Failed handshakes by the alert that ended them; alert=\"none\": the connection closed or timed out (OPS-042).",
	}, []string{"alert"})
	for _, c := range alert.Codes() {
		n.HandshakeFailures.WithLabelValues(c.String())
	}
	n.HandshakeFailures.WithLabelValues(NoAlert)
	n.Rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealfeed_requests_rejected_total",
		Help: "REST requests answered with a problem, by problem type (OPS-043).",
	}, []string{"problem"})
	n.HandshakeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sealfeed_handshake_seconds",
		Help:    "Time from a connection's first frame to its attached session (OPS-044).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
	})
	n.BatchBuildSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sealfeed_batch_build_seconds",
		Help:    "Time to build, sign and queue one batch (OPS-044).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms … 3.3 s
	})
	n.PublishToSentSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sealfeed_publish_to_sent_seconds",
		Help:    "Time from a message's commit to the batch that sends it, redeliveries included (OPS-044).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18), // 1 ms … 131 s
	})
	n.PublishToAckedSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sealfeed_publish_to_acked_seconds",
		Help:    "Time from a message's commit to the arrival of the client's Ack for it (OPS-044).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18), // 1 ms … 131 s
	})
	r.MustRegister(n.HandshakeFailures, n.Rejected, n.HandshakeSeconds, n.BatchBuildSeconds, n.PublishToSentSeconds,
		n.PublishToAckedSeconds)
	return n
}

// Counter exports a monotonic value read at scrape time.
func (n *Node) Counter(name, help string, f func() float64) {
	n.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Gauge exports a value read at scrape time.
func (n *Node) Gauge(name, help string, f func() float64) {
	n.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Handler serves the registry in the Prometheus exposition formats.
func (n *Node) Handler() http.Handler {
	return promhttp.HandlerFor(n.Registry, promhttp.HandlerOpts{})
}

// Backlog exports the store's backlog, read once per scrape within
// timeout (OPS-045): sealfeed_pending_messages and
// sealfeed_oldest_pending_age_seconds (0 when nothing is pending). A scrape
// during which the store fails or does not answer omits both.
func (n *Node) Backlog(f func(ctx context.Context) (int, time.Time, error), now func() time.Time, timeout time.Duration) {
	n.Registry.MustRegister(&backlog{f: f, now: now, timeout: timeout})
}

var (
	pendingDesc = prometheus.NewDesc("sealfeed_pending_messages",
		"Unexpired messages not yet acknowledged, every client's together (OPS-045).", nil, nil)
	oldestDesc = prometheus.NewDesc("sealfeed_oldest_pending_age_seconds",
		"Age of the oldest unexpired pending message; 0 when none is pending (OPS-045).", nil, nil)
)

type backlog struct {
	f       func(ctx context.Context) (int, time.Time, error)
	now     func() time.Time
	timeout time.Duration
}

func (b *backlog) Describe(ch chan<- *prometheus.Desc) { ch <- pendingDesc; ch <- oldestDesc }

func (b *backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	pending, oldest, err := b.f(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, b.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}
