// Command report runs the batch-path benchmarks one after another in one
// process and prints how close the batch path is to its physical limit and
// how far ahead of the alternatives, as ratios measured in the same run
// (absolute numbers vary between machines and runs; ratios travel better).
//
//	go run ./bench/report                      # print Markdown
//	go run ./bench/report -out bench/results   # also write report.md and ratios.svg
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/bench"
	"github.com/sealfeed/sealfeed/protocol/suite"
)

type measurement struct {
	name string
	run  func(b *testing.B)
	res  testing.BenchmarkResult
}

type ratio struct {
	what  string
	value float64
	// ceiling is the most this ratio can be under the protocol on this
	// machine, from the measured floor of the work it requires (0: none
	// computed).
	ceiling    float64
	target     float64
	how        string
	targetNote string
}

func main() {
	out := flag.String("out", "", "directory to write report.md and ratios.svg into")
	roundsFlag := flag.Int("rounds", 5, "run every measurement this many times, interleaved, and keep each one's median")
	flag.Parse()
	testing.Init()
	procs := runtime.GOMAXPROCS(0)
	const chacha, aes = suite.AEADChaCha20Poly1305, suite.AEADAES256GCM
	composite := func(id uint16, size int) func(*testing.B) { return func(b *testing.B) { bench.Composite(b, id, size) } }
	buildRun := func(id uint16, n, m int) func(*testing.B) {
		return func(b *testing.B) { bench.BuildAEAD(b, id, n, m, 1024, false, 1) }
	}
	ms := []*measurement{
		{name: "limit ChaCha20-Poly1305 64 B", run: func(b *testing.B) { bench.AEAD(b, chacha, 64) }},
		{name: "limit ChaCha20-Poly1305 256 B", run: func(b *testing.B) { bench.AEAD(b, chacha, 256) }},
		{name: "limit ChaCha20-Poly1305 1 KiB", run: func(b *testing.B) { bench.AEAD(b, chacha, 1024) }},
		{name: "limit ChaCha20-Poly1305 16 KiB", run: func(b *testing.B) { bench.AEAD(b, chacha, 16384) }},
		{name: "limit AES-256-GCM 64 B", run: func(b *testing.B) { bench.AEAD(b, aes, 64) }},
		{name: "limit AES-256-GCM 256 B", run: func(b *testing.B) { bench.AEAD(b, aes, 256) }},
		{name: "limit AES-256-GCM 1 KiB", run: func(b *testing.B) { bench.AEAD(b, aes, 1024) }},
		{name: "limit AES-256-GCM 16 KiB", run: func(b *testing.B) { bench.AEAD(b, aes, 16384) }},
		{name: "composite ChaCha20-Poly1305+SHA-256 1 KiB", run: composite(chacha, 1024)},
		{name: "composite ChaCha20-Poly1305+SHA-256 leaf of 10 messages", run: composite(chacha, leafBytes(10))},
		{name: "composite ChaCha20-Poly1305+SHA-256 leaf of 100 messages", run: composite(chacha, leafBytes(100))},
		{name: "composite AES-256-GCM+SHA-256 1 KiB", run: composite(aes, 1024)},
		{name: "composite AES-256-GCM+SHA-256 leaf of 10 messages", run: composite(aes, leafBytes(10))},
		{name: "protocol: recipient tag (HMAC-SHA256)", run: bench.RecipientTag},
		{name: "protocol: Merkle interior node", run: bench.MerkleNode},
		{name: "protocol: batch signature", run: bench.SignBatch},
		{name: "build 1×100×1 KiB, 1 worker", run: buildRun(chacha, 1, 100)},
		{name: "build 10×10×1 KiB, 1 worker", run: buildRun(chacha, 10, 10)},
		{name: "build 100×1×1 KiB, 1 worker", run: buildRun(chacha, 100, 1)},
		{name: "build 100×10×1 KiB, 1 worker", run: buildRun(chacha, 100, 10)},
		{name: "build 100×10×1 KiB AES-256-GCM, 1 worker", run: buildRun(aes, 100, 10)},
		{name: "build 1000×10×1 KiB, 1 worker", run: buildRun(chacha, 1000, 10)},
		{name: fmt.Sprintf("build 1000×10×1 KiB, %d workers", procs), run: func(b *testing.B) { bench.Build(b, 1000, 10, 1024, false, procs) }},
		{name: "build 10000×1×1 KiB, 1 worker", run: buildRun(chacha, 10000, 1)},
		{name: "build 10000×1×64 B, 1 worker", run: func(b *testing.B) { bench.Build(b, 10000, 1, 64, false, 1) }},
		{name: fmt.Sprintf("build 10000×1×64 B, %d workers", procs), run: func(b *testing.B) { bench.Build(b, 10000, 1, 64, false, procs) }},
		{name: "build broadcast 1000×10×1 KiB", run: func(b *testing.B) { bench.Build(b, 1000, 10, 1024, true, 1) }},
		{name: "build broadcast 10000×10×1 KiB", run: func(b *testing.B) { bench.Build(b, 10000, 10, 1024, true, 1) }},
		{name: "baseline per-message ChaCha20-Poly1305 + Ed25519 sign 1 KiB", run: func(b *testing.B) { bench.PerMessageSign(b, chacha) }},
		{name: "baseline per-message AES-256-GCM + Ed25519 sign 1 KiB", run: func(b *testing.B) { bench.PerMessageSign(b, aes) }},
		{name: "baseline Web-Push-shaped 1 KiB", run: bench.WebPush},
		{name: "open one delivery of 1000×10×1 KiB", run: func(b *testing.B) { bench.Open(b, 1000, 1024) }},
		{name: "handshake SealFeed X25519", run: func(b *testing.B) { bench.Handshake(b, suite.GroupX25519) }},
		{name: "handshake TLS 1.3 X25519", run: func(b *testing.B) { bench.TLSHandshake(b, tls.X25519) }},
		{name: "handshake SealFeed X25519MLKEM768", run: func(b *testing.B) { bench.Handshake(b, suite.GroupX25519MLKEM768) }},
		{name: "handshake TLS 1.3 X25519MLKEM768", run: func(b *testing.B) { bench.TLSHandshake(b, tls.X25519MLKEM768) }},
	}
	rounds := max(*roundsFlag, 1)
	res, _ := bench.Medians(rounds, len(ms), func(r, i int) (testing.BenchmarkResult, error) {
		fmt.Fprintf(os.Stderr, "\r[round %d/%d, %2d/%d] %-55s", r+1, rounds, i+1, len(ms), ms[i].name)
		return testing.Benchmark(ms[i].run), nil
	}, func(r testing.BenchmarkResult) float64 { return float64(r.T.Nanoseconds()) / float64(r.N) })
	for i, m := range ms {
		m.res = res[i]
	}
	fmt.Fprintln(os.Stderr)
	get := func(name string) testing.BenchmarkResult {
		for _, m := range ms {
			if m.name == name {
				return m.res
			}
		}
		panic("report: no measurement " + name)
	}
	bps := func(name string) float64 { // payload bytes per second
		r := get(name)
		return float64(r.Bytes) * float64(r.N) / r.T.Seconds()
	}
	perSec := func(name string, perOp float64) float64 {
		r := get(name)
		return perOp * float64(r.N) / r.T.Seconds()
	}
	ns := func(name string) float64 { r := get(name); return float64(r.T.Nanoseconds()) / float64(r.N) }
	// floor is the least time a batch of n recipients × m messages of 1 KiB
	// can take under this protocol on this machine: every leaf sealed and
	// hashed (the composite at the leaf's size), a tag per recipient, n − 1
	// interior nodes, one signature. The builder's own
	// work (layout, framing, copies) comes on top.
	floor := func(id uint16, n, m int) float64 {
		return float64(n)*ns(fmt.Sprintf("composite %s+SHA-256 %s", suite.AEADName(id), sizeName(m))) +
			float64(n)*ns("protocol: recipient tag (HMAC-SHA256)") + float64(n-1)*ns("protocol: Merkle interior node") +
			ns("protocol: batch signature")
	}
	vsComposite := func(id uint16, n, m int, label string) ratio {
		comp := ns(fmt.Sprintf("composite %s+SHA-256 1 KiB", suite.AEADName(id))) * float64(n*m)
		recipients := "recipients"
		if n == 1 {
			recipients = "recipient"
		}
		return ratio{fmt.Sprintf("batch build (%d %s × %d × 1 KiB%s, 1 core) vs composite limit at 1 KiB", n, recipients, m, label),
			comp / ns(fmt.Sprintf("build %d×%d×1 KiB%s, 1 worker", n, m, label)), comp / floor(id, n, m), 0.9, "payload bytes/s", "≥ 0.9×"}
	}
	vsSign := func(id uint16, label string) ratio {
		base := ns(fmt.Sprintf("baseline per-message %s + Ed25519 sign 1 KiB", suite.AEADName(id))) * 1000
		return ratio{fmt.Sprintf("batch build (100 × 10 × 1 KiB%s, 1 core) vs per-message %s + signature", label, suite.AEADName(id)),
			base / ns(fmt.Sprintf("build 100×10×1 KiB%s, 1 worker", label)), base / floor(id, 100, 10), 20, "messages/s", "≥ 20×"}
	}
	ratios := []ratio{
		vsComposite(chacha, 100, 10, ""),
		vsComposite(aes, 100, 10, " AES-256-GCM"),
		vsComposite(chacha, 1, 100, ""),
		vsComposite(chacha, 10, 10, ""),
		vsComposite(chacha, 100, 1, ""),
		vsSign(chacha, ""),
		vsSign(aes, " AES-256-GCM"),
		{"batch build (1 core) vs Web-Push-shaped per-message ECDH + HKDF + AEAD",
			perSec("build 100×10×1 KiB, 1 worker", 1000) / perSec("baseline Web-Push-shaped 1 KiB", 1), 0, 0, "messages/s", "—"},
		{fmt.Sprintf("batch build on %d cores vs 1 (1000 × 10 × 1 KiB)", procs),
			bps(fmt.Sprintf("build 1000×10×1 KiB, %d workers", procs)) / bps("build 1000×10×1 KiB, 1 worker"), float64(procs), 1.85, "payload bytes/s", "≥ 1.85× on 2 cores"},
		{fmt.Sprintf("batch build on %d cores vs 1 (10 000 × 1 × 64 B)", procs),
			bps(fmt.Sprintf("build 10000×1×64 B, %d workers", procs)) / bps("build 10000×1×64 B, 1 worker"), float64(procs), 1.85, "payload bytes/s", "≥ 1.85× on 2 cores"},
		{"handshakes/s SealFeed vs TLS 1.3, X25519",
			float64(get("handshake TLS 1.3 X25519").NsPerOp()) / float64(get("handshake SealFeed X25519").NsPerOp()), 0, 1, "handshakes/s", "≥ 1×"},
		{"handshakes/s SealFeed vs TLS 1.3, X25519MLKEM768",
			float64(get("handshake TLS 1.3 X25519MLKEM768").NsPerOp()) / float64(get("handshake SealFeed X25519MLKEM768").NsPerOp()), 0, 1, "handshakes/s", "≥ 1×"},
	}
	build := get("build 100×10×1 KiB, 1 worker")
	allocsPerMsg := float64(build.AllocsPerOp()) / 1000

	var md strings.Builder
	writeReport(&md, ms, ratios, allocsPerMsg, rounds)
	fmt.Print(md.String())
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(*out, "report.md"), []byte(md.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(*out, "ratios.svg"), []byte(chart(ratios)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// leafBytes is the size of the LeafContent of m messages of 1 KiB: the
// bytes a recipient leaf seals and its hash covers (§10.1).
func leafBytes(m int) int { return 2 + m*(1+8+3+1024) }

// sizeName names the composite measurement for a leaf of m messages.
func sizeName(m int) string {
	if m == 1 {
		return "1 KiB"
	}
	return fmt.Sprintf("leaf of %d messages", m)
}

func writeReport(w io.Writer, ms []*measurement, ratios []ratio, allocsPerMsg float64, rounds int) {
	fmt.Fprintf(w, "# SealFeed batch path: measured ratios\n\n")
	fmt.Fprintf(w, "Machine: %s, %d CPUs, GOMAXPROCS %d, %s/%s, %s. Run: %s. Command: `go run ./bench/report -out bench/results`.\n\n",
		bench.CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "All measurements ran in one process, in %d interleaved rounds; each value is the median of its rounds. "+
		"Compare ratios, not absolute numbers, across machines.\n\n", rounds)
	fmt.Fprintf(w, "## Ratios\n\n| comparison | ratio | ceiling | measured on | target | met |\n|---|---|---|---|---|---|\n")
	for _, r := range ratios {
		met := "—"
		if r.target > 0 {
			met = map[bool]string{true: "yes", false: "no"}[r.value >= r.target]
		}
		ceiling := "—"
		if r.ceiling > 0 {
			ceiling = fmt.Sprintf("%.2f×", r.ceiling)
		}
		fmt.Fprintf(w, "| %s | %.2f× | %s | %s | %s | %s |\n", r.what, r.value, ceiling, r.how, r.targetNote, met)
	}
	fmt.Fprintf(w, "| allocations per message in steady state (100 × 10 × 1 KiB) | %.4f | — | allocs/op ÷ messages | 0 per message | %s |\n\n",
		allocsPerMsg, map[bool]string{true: "yes (a constant per batch)", false: "no"}[allocsPerMsg < 0.05])
	fmt.Fprintf(w, "**Ceiling**: the most a batch-build ratio can be under this protocol on this machine. It divides by the "+
		"floor of the work the protocol requires for that batch, each part measured alone in this run: every leaf sealed and "+
		"hashed (the composite measured at the leaf's size), one HMAC-SHA256 recipient tag per recipient (BATCH-006), n − 1 "+
		"Merkle interior nodes (§10.3) and one Ed25519 signature (§10.4). A builder at its ceiling would do nothing "+
		"else: no layout, framing or copying. The floor's parts run as separate calls, so a build can come out a few percent "+
		"above its ceiling; a ceiling below a target says that no implementation of the protocol meets that target on this "+
		"machine. For 2 cores vs 1 the ceiling is the number of cores.\n\n")
	fmt.Fprint(w, "## Measurements\n\nallocs/op of a build counts each session's first batch too: Go's HMAC allocates its keyed states at a key's first use, and the large builds run few iterations to spread that over. In steady state a build allocates a constant per batch, whatever its recipients and messages (tested in protocol/batch).\n\n")
	fmt.Fprintf(w, "| measurement | ns/op | MB/s | allocs/op | extra |\n|---|---|---|---|---|\n")
	for _, m := range ms {
		mbs := "—"
		if m.res.Bytes > 0 {
			mbs = fmt.Sprintf("%.0f", float64(m.res.Bytes)*float64(m.res.N)/m.res.T.Seconds()/1e6)
		}
		var extra []string
		for k, v := range m.res.Extra {
			extra = append(extra, fmt.Sprintf("%.0f %s", v, k))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d | %s |\n", m.name, m.res.NsPerOp(), mbs, m.res.AllocsPerOp(), strings.Join(extra, ", "))
	}
	fmt.Fprintf(w, "\nMeasured elsewhere, each in one process as well: the comparison with age, Noise transport and TLS 1.3 "+
		"records (`cd bench/compare && go run . -out ../results`, [compare.md](compare.md); a separate module keeps those "+
		"libraries out of the main one), the end-to-end load test with 10 000 clients ([loadtest.md](loadtest.md)) and "+
		"1 node vs 3 nodes ([cluster.md](cluster.md)).\n")
}

// chart draws one horizontal bar per ratio, on a logarithmic axis from
// 0.1× to the largest ratio or ceiling, with its target and ceiling marked.
func chart(ratios []ratio) string {
	const rowH, left, width = 28, 640, 360
	top := 2.0
	for _, r := range ratios {
		top = math.Max(top, math.Max(r.value, r.ceiling))
	}
	scale := func(v float64) int {
		if v < 0.1 {
			v = 0.1
		}
		return int(float64(width) * math.Log10(v/0.1) / math.Log10(top/0.1))
	}
	var b strings.Builder
	h := rowH*len(ratios) + 40
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+80, h)
	fmt.Fprintf(&b, `<text x="10" y="18" font-weight="bold">SealFeed batch path: ratios measured in one run (bar, log scale), target (red line), protocol ceiling (dashed)</text>`+"\n")
	for i, r := range ratios {
		y := 30 + i*rowH
		bw := scale(r.value)
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+14, html.EscapeString(r.what))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="18" fill="#4a7fb5"/>`+"\n", left, y, bw)
		tx := bw // the value goes right of the bar and of its marks
		if r.ceiling > 0 {
			tx = max(tx, scale(r.ceiling))
		}
		if r.target > 0 {
			tx = max(tx, scale(r.target))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%.2f×</text>`+"\n", left+tx+6, y+14, r.value)
		if r.ceiling > 0 {
			cx := left + scale(r.ceiling)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555" stroke-width="2" stroke-dasharray="3,2"/>`+"\n", cx, y-2, cx, y+20)
		}
		if r.target > 0 {
			tx := left + scale(r.target)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c0392b" stroke-width="2"/>`+"\n", tx, y-2, tx, y+20)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
