// Package loadtest drives a SealFeed server with many WebSocket clients and
// publishers on loopback and measures what operators size machines by:
// memory per idle connection, handshakes per second, delivered messages
// per second, publish→deliver latency and server CPU per message. It is
// bounded in clients and time and stops by itself.
package loadtest

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/publisher"
)

// Limits that keep a run bounded.
const (
	MaxClients  = 100000
	MaxDuration = 10 * time.Minute
)

// Config describes one run.
type Config struct {
	BaseURL     string // the server, e.g. http://127.0.0.1:8080
	Fingerprint string // the server key's fingerprint (hex)
	// Targets, if set, are the nodes of a cluster: client i connects to
	// Targets[i mod n] and publisher k posts to Targets[k mod n]; memory
	// and CPU are summed over the nodes.
	Targets    []Target
	Publishers []ed25519.PrivateKey // registered publisher keys; one publishing goroutine each
	Clients    int
	// Rate is the target of published messages per second over all
	// publishers; 0 publishes as fast as the server accepts.
	Rate        int
	Duration    time.Duration
	PayloadSize int // at least 16 (timestamp and sequence)
	Bulk        int // messages per publish request; 0: 1
	// DialConcurrency bounds handshakes in flight; 0: 32.
	DialConcurrency int
	Progress        io.Writer // live progress line; nil: none

	// System, if set, is what the run drives instead of the SealFeed
	// servers at BaseURL or Targets (e.g. the floor); PublisherCount then
	// sets how many publishing goroutines there are.
	System         System
	PublisherCount int
	// Meter, if set, samples the servers' CPU and memory instead of their
	// /metrics (e.g. ProcMeter, which reads /proc/PID/stat of each).
	Meter Meter
	// LocalAddrs, if set, are the source addresses clients dial from, in
	// turn (e.g. 127.0.0.2 … 127.0.0.9): the ephemeral port range is per
	// source address.
	LocalAddrs []string
	// IdleWindow, if positive, is how long the server's CPU is read with
	// every client connected and nothing published, before the publish
	// phase: the cost of liveness and ticks that no message pays for.
	IdleWindow time.Duration
	// OnLoad, if set, is called as the publish phase starts (e.g. to start
	// a CPU profile of the server for Duration).
	OnLoad func()
}

// System is what a run drives: a SealFeed server, a cluster of them, or
// the floor.
type System interface {
	// Dial connects client i; netDial opens its TCP connection.
	Dial(ctx context.Context, i int, netDial NetDial) (Conn, error)
	// Publisher returns publisher k's way to post a request.
	Publisher(k int) Poster
}

// NetDial opens a TCP connection (net.Dialer.DialContext's shape).
type NetDial = func(ctx context.Context, network, addr string) (net.Conn, error)

// Conn is one connected client.
type Conn interface {
	ID() [32]byte
	// Receive calls msg with each message's payload until the connection
	// is closed; a SealFeed client acknowledges each one (DLV-016).
	Receive(msg func(payload []byte))
	Close()
}

// Poster posts one publish request of several messages.
type Poster interface {
	PublishMany(ctx context.Context, ms []publisher.Message) error
}

// Sample is one reading of the servers' counters, summed over them.
type Sample struct {
	CPUSeconds     float64 // user + system
	RSSBytes       float64
	HeapStackBytes float64 // Go heap and stacks in use
	Batches        float64 // SealFeed batches built; 0 for the floor
}

// Meter samples the servers.
type Meter interface {
	Sample(ctx context.Context) (Sample, error)
}

// Report is the result of a run.
type Report struct {
	Clients           int     `json:"clients"`
	Publishers        int     `json:"publishers"`
	PayloadSize       int     `json:"payload_bytes"`
	Bulk              int     `json:"messages_per_request"`
	ConnectSeconds    float64 `json:"connect_seconds"`
	HandshakesPerSec  float64 `json:"handshakes_per_second"`
	IdleRSSPerConn    float64 `json:"server_rss_bytes_per_idle_connection"`
	IdleHeapPerConn   float64 `json:"server_heap_and_stack_bytes_per_idle_connection"`
	Published         int64   `json:"published"`
	Delivered         int64   `json:"delivered"`
	Duplicates        int64   `json:"duplicates"`
	Lost              int64   `json:"lost"`
	LoadSeconds       float64 `json:"load_seconds"`
	PublishedPerSec   float64 `json:"published_per_second"`
	DeliveredPerSec   float64 `json:"delivered_per_second"`
	LatencyP50Ms      float64 `json:"latency_p50_ms"`
	LatencyP99Ms      float64 `json:"latency_p99_ms"`
	LatencyMaxMs      float64 `json:"latency_max_ms"`
	ServerCPUPerMsgUs float64 `json:"server_cpu_us_per_message"`
	ServerBatches     float64 `json:"server_batches"`
	PublishErrors     int64   `json:"publish_errors"`
	// OfferedRate is Config.Rate (0: as fast as accepted).
	OfferedRate int `json:"offered_rate"`
	// DeliveredInLoad is what arrived before the publish phase ended; with
	// Published it tells whether the delivery backlog grew.
	DeliveredInLoad  int64   `json:"delivered_during_load"`
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	// IdleCPUPerSec is the server's CPU per second of Config.IdleWindow.
	IdleCPUPerSec float64 `json:"server_idle_cpu_per_second"`
}

// SustainedPerSec is the rate the run sustained: the accepted rate, or
// the rate delivered during the publish phase where that is lower (the
// delivery backlog grew).
func (r *Report) SustainedPerSec() float64 {
	if r.LoadSeconds <= 0 {
		return 0
	}
	return min(r.PublishedPerSec, float64(r.DeliveredInLoad)/r.LoadSeconds)
}

// Metrics scrapes the server's Prometheus text metrics into a map.
func Metrics(ctx context.Context, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// Target is one server node.
type Target struct {
	BaseURL     string
	Fingerprint string
}

// metricsAll scrapes every target and sums the values.
func metricsAll(ctx context.Context, ts []Target) (map[string]float64, error) {
	sum := map[string]float64{}
	for _, t := range ts {
		m, err := Metrics(ctx, t.BaseURL)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			sum[k] += v
		}
	}
	return sum, nil
}

// metricsMeter samples SealFeed nodes through their /metrics.
type metricsMeter []Target

func (m metricsMeter) Sample(ctx context.Context) (Sample, error) {
	v, err := metricsAll(ctx, m)
	if err != nil {
		return Sample{}, err
	}
	return Sample{CPUSeconds: v["process_cpu_seconds_total"], RSSBytes: v["process_resident_memory_bytes"],
		HeapStackBytes: v["go_memstats_heap_inuse_bytes"] + v["go_memstats_stack_inuse_bytes"], Batches: v["sealfeed_batches_total"]}, nil
}

// sealfeedSystem is SealFeed: the client library and the signing
// publisher, the code users ship.
type sealfeedSystem struct {
	wss  []string
	pins [][32]byte
	base []string
	keys []ed25519.PrivateKey
}

// NewSealFeed returns the System of SealFeed nodes: client i connects to
// targets[i mod n], publisher k posts to targets[k mod n] with keys[k].
func NewSealFeed(targets []Target, keys []ed25519.PrivateKey) (System, error) {
	s := &sealfeedSystem{keys: keys}
	for _, t := range targets {
		fp, err := hex.DecodeString(t.Fingerprint)
		if err != nil || len(fp) != 32 {
			return nil, errors.New("loadtest: fingerprint must be 64 hex digits")
		}
		s.pins = append(s.pins, [32]byte(fp))
		s.base = append(s.base, strings.TrimRight(t.BaseURL, "/"))
		s.wss = append(s.wss, "ws"+strings.TrimPrefix(strings.TrimRight(t.BaseURL, "/"), "http")+"/v1/ws")
	}
	if len(s.wss) == 0 || len(keys) == 0 {
		return nil, errors.New("loadtest: at least one target and one publisher key")
	}
	return s, nil
}

func (s *sealfeedSystem) Dial(ctx context.Context, i int, netDial NetDial) (Conn, error) {
	n := i % len(s.wss)
	c, err := client.Dial(ctx, client.Config{URL: s.wss[n], PinnedKeyID: &s.pins[n], Buffer: 64,
		MinBackoff: 200 * time.Millisecond, NetDial: netDial})
	if err != nil {
		return nil, err
	}
	return sealfeedConn{c}, nil
}

func (s *sealfeedSystem) Publisher(k int) Poster {
	p := publisher.New(s.base[k%len(s.base)], s.keys[k%len(s.keys)])
	p.Retries = -1
	return sealfeedPoster{p}
}

type sealfeedConn struct{ c *client.Client }

func (c sealfeedConn) ID() [32]byte { return c.c.ClientID() }
func (c sealfeedConn) Close()       { c.c.Close() }
func (c sealfeedConn) Receive(msg func([]byte)) {
	for m := range c.c.Messages() {
		m.Ack() // counted: taken (DLV-016)
		msg(m.Payload)
	}
}

type sealfeedPoster struct{ p *publisher.Publisher }

func (p sealfeedPoster) PublishMany(ctx context.Context, ms []publisher.Message) error {
	var err error
	if len(ms) == 1 {
		_, err = p.p.Publish(ctx, ms[0], "")
	} else {
		_, err = p.p.PublishMany(ctx, ms, "")
	}
	return err
}

// localDialer returns a NetDial from addrs[i mod n], or nil for none.
func localDialer(addrs []string, i int) (NetDial, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	ip := net.ParseIP(addrs[i%len(addrs)])
	if ip == nil {
		return nil, fmt.Errorf("loadtest: bad source address %q", addrs[i%len(addrs)])
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	return d.DialContext, nil
}

// Run executes one load test.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Clients < 1 || cfg.Clients > MaxClients {
		return nil, fmt.Errorf("loadtest: clients must be 1 to %d", MaxClients)
	}
	if cfg.Duration <= 0 || cfg.Duration > MaxDuration {
		return nil, fmt.Errorf("loadtest: duration must be positive and at most %v", MaxDuration)
	}
	npub := len(cfg.Publishers)
	if cfg.System != nil {
		npub = cfg.PublisherCount
	}
	if npub == 0 {
		return nil, errors.New("loadtest: at least one publisher")
	}
	if cfg.PayloadSize < 16 {
		cfg.PayloadSize = 16
	}
	if cfg.Bulk <= 0 {
		cfg.Bulk = 1
	}
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 32
	}
	if len(cfg.Targets) == 0 {
		cfg.Targets = []Target{{BaseURL: cfg.BaseURL, Fingerprint: cfg.Fingerprint}}
	}
	sys := cfg.System
	if sys == nil {
		var err error
		if sys, err = NewSealFeed(cfg.Targets, cfg.Publishers); err != nil {
			return nil, err
		}
	}
	meter := cfg.Meter
	if meter == nil {
		meter = metricsMeter(cfg.Targets)
	}
	for i := range cfg.LocalAddrs {
		if _, err := localDialer(cfg.LocalAddrs, i); err != nil {
			return nil, err
		}
	}
	rep := &Report{Clients: cfg.Clients, Publishers: npub, PayloadSize: cfg.PayloadSize, Bulk: cfg.Bulk, OfferedRate: cfg.Rate}

	prog := newProgress(cfg.Progress)
	defer prog.stop()

	// Phase 1: connect every client; measure handshakes/s and memory.
	before, err := meter.Sample(ctx)
	if err != nil {
		return nil, err
	}
	clients := make([]Conn, cfg.Clients)
	ids := make([][32]byte, cfg.Clients)
	var connected atomic.Int64
	prog.set(func() string { return fmt.Sprintf("connecting %d/%d", connected.Load(), cfg.Clients) })
	start := time.Now()
	sem := make(chan struct{}, cfg.DialConcurrency)
	var wg sync.WaitGroup
	var dialErr error
	var dialMu sync.Mutex
	for i := range clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			nd, _ := localDialer(cfg.LocalAddrs, i)
			c, err := sys.Dial(dctx, i, nd)
			if err != nil {
				dialMu.Lock()
				dialErr = errors.Join(dialErr, err)
				dialMu.Unlock()
				return
			}
			clients[i], ids[i] = c, c.ID()
			connected.Add(1)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				go c.Close()
			}
		}
	}()
	if dialErr != nil {
		return nil, fmt.Errorf("loadtest: %d of %d clients failed to connect: %w", cfg.Clients-int(connected.Load()), cfg.Clients, dialErr)
	}
	rep.ConnectSeconds = time.Since(start).Seconds()
	rep.HandshakesPerSec = float64(cfg.Clients) / rep.ConnectSeconds
	time.Sleep(time.Second) // let buffers settle
	idle, err := meter.Sample(ctx)
	if err != nil {
		return nil, err
	}
	n := float64(cfg.Clients)
	rep.IdleRSSPerConn = (idle.RSSBytes - before.RSSBytes) / n
	rep.IdleHeapPerConn = (idle.HeapStackBytes - before.HeapStackBytes) / n
	if cfg.IdleWindow > 0 {
		t0 := time.Now()
		time.Sleep(cfg.IdleWindow)
		s, err := meter.Sample(ctx)
		if err != nil {
			return nil, err
		}
		rep.IdleCPUPerSec = (s.CPUSeconds - idle.CPUSeconds) / time.Since(t0).Seconds()
		idle = s
	}

	// Phase 2: publish load; every client records what it receives.
	var delivered, dups atomic.Int64
	lat := make([][]int32, len(clients)) // microseconds, per client (no shared lock)
	seen := make([]map[uint64]bool, len(clients))
	var rwg sync.WaitGroup
	for i, c := range clients {
		seen[i] = map[uint64]bool{}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			c.Receive(func(p []byte) {
				if len(p) < 16 {
					return
				}
				ts := int64(binary.BigEndian.Uint64(p))
				sq := binary.BigEndian.Uint64(p[8:])
				if seen[i][sq] {
					dups.Add(1)
					return
				}
				seen[i][sq] = true
				lat[i] = append(lat[i], int32(time.Since(time.Unix(0, ts)).Microseconds()))
				delivered.Add(1)
			})
		}()
	}
	var published, pubErrs atomic.Int64
	var seqGen atomic.Uint64
	loadStart := time.Now()
	prog.set(func() string {
		el := time.Since(loadStart).Seconds()
		return fmt.Sprintf("load %4.1fs  published %d  delivered %d (%.0f/s)  errors %d", el, published.Load(), delivered.Load(),
			float64(delivered.Load())/max(el, 0.001), pubErrs.Load())
	})
	if cfg.OnLoad != nil {
		cfg.OnLoad()
	}
	lctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var pwg sync.WaitGroup
	perPub := float64(cfg.Rate) / float64(npub)
	for pi := range npub {
		p := sys.Publisher(pi)
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			next := time.Now()
			for lctx.Err() == nil {
				if perPub > 0 {
					next = next.Add(time.Duration(float64(cfg.Bulk) / perPub * float64(time.Second)))
					if d := time.Until(next); d > 0 {
						select {
						case <-lctx.Done():
							return
						case <-time.After(d):
						}
					}
				}
				ms := make([]publisher.Message, cfg.Bulk)
				for j := range ms {
					payload := make([]byte, cfg.PayloadSize)
					binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
					binary.BigEndian.PutUint64(payload[8:], seqGen.Add(1))
					ms[j] = publisher.Message{To: [][32]byte{ids[rng.IntN(len(ids))]}, Payload: payload}
				}
				if err := p.PublishMany(context.WithoutCancel(lctx), ms); err != nil {
					pubErrs.Add(1)
					continue
				}
				published.Add(int64(len(ms)))
			}
		}()
	}
	pwg.Wait()
	loadEnd := time.Now()
	rep.DeliveredInLoad = delivered.Load()
	// Drain: wait for what was published to arrive.
	for deadline := time.Now().Add(15 * time.Second); delivered.Load() < published.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	drained := time.Now()
	after, err := meter.Sample(ctx)
	if err != nil {
		return nil, err
	}
	prog.stop()
	rep.Published, rep.Delivered, rep.Duplicates, rep.PublishErrors = published.Load(), delivered.Load(), dups.Load(), pubErrs.Load()
	rep.Lost = rep.Published - rep.Delivered
	rep.LoadSeconds = loadEnd.Sub(loadStart).Seconds()
	rep.PublishedPerSec = float64(rep.Published) / rep.LoadSeconds
	rep.DeliveredPerSec = float64(rep.Delivered) / drained.Sub(loadStart).Seconds()
	var all []int32
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		q := func(p float64) float64 { return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1000 }
		rep.LatencyP50Ms, rep.LatencyP99Ms, rep.LatencyMaxMs = q(0.50), q(0.99), float64(all[len(all)-1])/1000
	}
	rep.ServerCPUSeconds = after.CPUSeconds - idle.CPUSeconds
	if rep.Delivered > 0 {
		rep.ServerCPUPerMsgUs = rep.ServerCPUSeconds / float64(rep.Delivered) * 1e6
	}
	rep.ServerBatches = after.Batches - idle.Batches
	for _, c := range clients {
		c.Close()
	}
	rwg.Wait()
	return rep, nil
}

// Markdown renders the report as a table.
func (r *Report) Markdown() string {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	b.WriteString("| measure | value |\n|---|---|\n")
	row("clients (concurrent WebSocket connections)", strconv.Itoa(r.Clients))
	row("publishers / messages per request / payload", fmt.Sprintf("%d / %d / %d B", r.Publishers, r.Bulk, r.PayloadSize))
	row("handshakes/s while connecting (client and server on the same cores)", fmt.Sprintf("%.0f", r.HandshakesPerSec))
	row("server memory per idle connection (RSS)", fmt.Sprintf("%.1f KiB", r.IdleRSSPerConn/1024))
	row("server memory per idle connection (Go heap + stacks)", fmt.Sprintf("%.1f KiB", r.IdleHeapPerConn/1024))
	row("published (accepted with 2xx)", fmt.Sprintf("%d in %.1f s = %.0f msg/s", r.Published, r.LoadSeconds, r.PublishedPerSec))
	row("delivered to applications, exactly once", fmt.Sprintf("%d = %.0f msg/s (duplicates %d, lost %d)", r.Delivered, r.DeliveredPerSec, r.Duplicates, r.Lost))
	row("publish → deliver latency p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs))
	row("server CPU per delivered message", fmt.Sprintf("%.1f µs", r.ServerCPUPerMsgUs))
	row("batches built", fmt.Sprintf("%.0f", r.ServerBatches))
	row("publish errors", strconv.FormatInt(r.PublishErrors, 10))
	return b.String()
}

// progress is a live line on a terminal (or a log line per second
// elsewhere).
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	f    func() string
	done chan struct{}
	once sync.Once
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, done: make(chan struct{})}
	if w == nil {
		return p
	}
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.mu.Lock()
				if p.f != nil {
					fmt.Fprintf(p.w, "\r\033[K%s", p.f())
				}
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *progress) set(f func() string) { p.mu.Lock(); p.f = f; p.mu.Unlock() }

func (p *progress) stop() {
	p.once.Do(func() {
		close(p.done)
		if p.w != nil {
			p.mu.Lock()
			fmt.Fprint(p.w, "\r\033[K")
			p.mu.Unlock()
		}
	})
}
