package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/buildinfo"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/internal/wsframe"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server"
)

// scrape reads the node's /metrics with the Prometheus text parser.
func scrape(t *testing.T, tn *testNode) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(tn.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mf
}

// sample returns the value of the counter, gauge or histogram count of
// family name whose labels include want; ok is false if there is none.
func sample(mf map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsLabelledAndStandard: OPS-040, OPS-041, OPS-042, OPS-043,
// OPS-044, OPS-045. Two nodes in one
// process each serve their own registry; a scrape parses with the
// Prometheus text parser and holds the process and Go collectors, the
// build info, the handshake failure counted under its alert, a rejected
// request under its problem type, and the handshake and batch histograms.
func TestMetricsLabelledAndStandard(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	other := startNode(t, t.TempDir(), 0, nil) // its own registry (OPS-040)

	// A handshake that fails: a ClientHello that does not parse.
	ws, err := wsframe.Dial(context.Background(), tn.ws, nil, 5*time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff})
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	ws.Close()

	// A rejected publish: unsigned.
	resp, err := http.Post(tn.base+"/v1/messages", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A delivered and acknowledged message.
	c := tn.dial(t, nil)
	if _, err := tn.pubs[0].Publish(context.Background(), publisher.Message{To: [][32]byte{c.ClientID()}, Payload: []byte("m")}, ""); err != nil {
		t.Fatal(err)
	}
	collect(t, c, 1, 10*time.Second)

	var mf map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		mf = scrape(t, tn)
		if v, _ := sample(mf, "sealfeed_messages_acked_total", nil); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the acknowledgement is not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	bi := buildinfo.Read()
	if v, ok := sample(mf, "sealfeed_build_info", map[string]string{"goversion": runtime.Version(), "version": bi.Version,
		"protocol": buildinfo.ProtocolList()}); !ok || v != 1 {
		t.Errorf("sealfeed_build_info %v %v", v, ok)
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "go_goroutines",
		"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"} {
		if _, ok := sample(mf, name, nil); !ok {
			t.Errorf("no %s", name)
		}
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sealfeed_handshake_failures_total", map[string]string{"alert": "decode_error"}, 1},
		{"sealfeed_handshake_failures_total", map[string]string{"alert": "none"}, 0},
		{"sealfeed_requests_rejected_total", map[string]string{"problem": "unsigned"}, 1},
		{"sealfeed_handshakes_total", nil, 1},
		{"sealfeed_handshake_seconds", nil, 1},
		{"sealfeed_connections", nil, 1},
		{"sealfeed_messages_published_total", nil, 1},
		{"sealfeed_messages_delivered_total", nil, 1},
	}
	for _, c := range checks {
		if v, ok := sample(mf, c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if v, _ := sample(mf, "sealfeed_publish_to_sent_seconds", nil); v != 1 {
		t.Errorf("sealfeed_publish_to_sent_seconds holds %v samples, want 1", v)
	}
	if v, _ := sample(mf, "sealfeed_batch_build_seconds", nil); v < 1 {
		t.Errorf("sealfeed_batch_build_seconds holds %v samples", v)
	}
	// The other node saw none of this.
	om := scrape(t, other)
	if v, _ := sample(om, "sealfeed_requests_rejected_total", map[string]string{"problem": "unsigned"}); v != 0 {
		t.Errorf("another node's registry counted %v rejects", v)
	}
	if v, _ := sample(om, "sealfeed_handshake_failures_total", map[string]string{"alert": "decode_error"}); v != 0 {
		t.Errorf("another node's registry counted %v handshake failures", v)
	}
}

// dashboardMetrics returns the metric names the expressions of the
// Grafana dashboard use, histogram suffixes removed.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	re := regexp.MustCompile(`\b(?:sealfeed|process|go)_[a-z0-9_]+`)
	seen := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 && p.Title != "" {
			continue
		}
		for _, tg := range p.Targets {
			for _, n := range re.FindAllString(tg.Expr, -1) {
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if base, ok := strings.CutSuffix(n, suf); ok && strings.HasSuffix(base, "_seconds") {
						n = base
					}
				}
				seen[n] = true
			}
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestDashboardMetricsExist: OPS-046. Every metric the Grafana dashboard
// in docs/ names is in a live node's scrape.
func TestDashboardMetricsExist(t *testing.T) {
	names := dashboardMetrics(t)
	if len(names) < 10 {
		t.Fatalf("the dashboard names only %d metrics: %v", len(names), names)
	}
	tn := startNode(t, t.TempDir(), 0, nil)
	// A labelled counter has no series before its first count.
	resp, err := http.Post(tn.base+"/v1/messages", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mf := scrape(t, tn)
	for _, n := range names {
		if mf[n] == nil {
			t.Errorf("the dashboard names %s, which no scrape holds", n)
		}
	}
}

// TestBacklogGauges: OPS-045. The pending backlog counts unexpired,
// unacknowledged messages of every client, and the age of the oldest
// follows the node's clock.
func TestBacklogGauges(t *testing.T) {
	var skew atomic.Int64
	tn := startNode(t, t.TempDir(), 1, func(c *server.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	mf := scrape(t, tn)
	if v, ok := sample(mf, "sealfeed_pending_messages", nil); !ok || v != 0 {
		t.Fatalf("sealfeed_pending_messages %v (present %v) on an empty node", v, ok)
	}
	if v, ok := sample(mf, "sealfeed_oldest_pending_age_seconds", nil); !ok || v != 0 {
		t.Fatalf("sealfeed_oldest_pending_age_seconds %v (present %v) on an empty node", v, ok)
	}
	ctx := context.Background()
	// A client that goes away before its message is published.
	k, _ := keyfile.Generate()
	late := tn.dial(t, func(c *client.Config) { c.Identity = k })
	lateID := late.ClientID()
	late.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if v, _ := sample(scrape(t, tn), "sealfeed_connections", nil); v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client stays connected")
		}
	}
	// Two messages for it, 90 s and 60 s before it comes back.
	for _, at := range []time.Duration{0, 30 * time.Second} {
		skew.Store(int64(at))
		if _, err := tn.pubs[0].Publish(ctx, publisher.Message{To: [][32]byte{lateID}, Payload: []byte("late")}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := tn.pubs[0].Publish(ctx, publisher.Message{To: [][32]byte{{byte(i + 1)}, {9}}, Payload: []byte("m")}, ""); err != nil {
			t.Fatal(err)
		}
	}
	skew.Store(int64(90 * time.Second))
	mf = scrape(t, tn)
	if v, _ := sample(mf, "sealfeed_pending_messages", nil); v != 8 {
		t.Errorf("sealfeed_pending_messages %v, want 8", v)
	}
	if v, _ := sample(mf, "sealfeed_oldest_pending_age_seconds", nil); v < 90 || v > 150 {
		t.Errorf("sealfeed_oldest_pending_age_seconds %v, want 90 s and a little", v)
	}

	// Published 90 s and 60 s ago by the node's clock, sent now (OPS-044).
	collect(t, tn.dial(t, func(c *client.Config) { c.Identity = k }), 2, 10*time.Second)
	h := scrape(t, tn)["sealfeed_publish_to_sent_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 150 || h.GetSampleSum() > 170 {
		t.Errorf("sealfeed_publish_to_sent_seconds: %d samples, sum %v s; want 90 s and 60 s and a little", h.GetSampleCount(), h.GetSampleSum())
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h = scrape(t, tn)["sealfeed_publish_to_acked_seconds"].GetMetric()[0].GetHistogram()
		if h.GetSampleCount() > 1 || time.Now().After(deadline) {
			break
		}
	}
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 150 || h.GetSampleSum() > 170 {
		t.Errorf("sealfeed_publish_to_acked_seconds: %d samples, sum %v s; want 90 s and 60 s and a little", h.GetSampleCount(), h.GetSampleSum())
	}
}
