package system

import (
	"fmt"
	"os"
	"strings"

	"github.com/sealfeed/sealfeed/internal/loadtest"
)

// Header is the top of bench/results/system.md, above the sections.
const Header = `# System benchmark: SealFeed against a bare WebSocket floor (issue #16)

Written by ` + "`go run ./bench/system`" + ` (docs in bench/system/main.go): one run on one machine, load generator and servers on
the same cores. The floor is a bare WebSocket push server (internal/loadtest/floor: gorilla/websocket, the same clients,
the same unsigned publish requests, one coalesced frame per client per tick, no crypto, no storage). Every server is a
child process; its CPU is utime + stime from /proc/PID/stat over the publish phase and the drain, divided by the messages
delivered. The targets are printed as pass/fail; the benchmark never fails on them, only on a lost or duplicated message.

The comparison runs every system at one fixed offered rate (` + "`-rate`" + `, 1000 msg/s by default), not each at its own
maximum: CPU per message falls as the rate rises (the tick, liveness and the Go runtime cost the same per second
whatever is published), so only equal work compares CPU per message. 1000 msg/s is a rate the floor sustains many
times over and SealFeed sustained on an idle machine before #16 (1559 msg/s, bench/results/loadtest.md); the row
"offered rate reached?" says whether each system kept up in this run. The highest sustained rate and the latency at
80% of it are measured separately, on SealFeed alone.
`

// Section renders one titled section of the report.
func (r *Result) Section(title, meta string) string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "## %s\n\n%s\n\n", title, meta)
	fmt.Fprintf(&b, "%d clients, %d publishers, %d messages of %d B per request to random clients, a fixed offered rate of **%d msg/s** "+
		"for the comparison, %v publish phase, tick %v (serve's default, the floor's too); each server's CPU while idle read for %v first.\n\n",
		c.Clients, c.Publishers, c.Bulk, c.PayloadSize, c.Rate, c.Duration, c.Tick, c.IdleWindow)

	b.WriteString("### Server CPU per delivered message\n\n")
	cols := []struct {
		name string
		r    *loadtest.Report
	}{{"floor", r.Floor}, {"SealFeed, SQLite -sync FULL", r.SealFeed}, {"SealFeed cluster, 1 node, 1 JetStream server", r.Cluster}}
	b.WriteString("| measure |")
	for _, col := range cols {
		fmt.Fprintf(&b, " %s |", col.name)
	}
	b.WriteString("\n|---|---|---|---|\n")
	row := func(name string, f func(*loadtest.Report) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, col := range cols {
			if col.r == nil {
				b.WriteString(" (not run or failed) |")
			} else {
				fmt.Fprintf(&b, " %s |", f(col.r))
			}
		}
		b.WriteString("\n")
	}
	row("published (2xx) / delivered", func(x *loadtest.Report) string { return fmt.Sprintf("%d / %d", x.Published, x.Delivered) })
	row("lost / duplicated", func(x *loadtest.Report) string { return fmt.Sprintf("%d / %d", x.Lost, x.Duplicates) })
	row("accepted msg/s (offered rate reached?)", func(x *loadtest.Report) string {
		return fmt.Sprintf("%.0f (%s)", x.PublishedPerSec, map[bool]string{true: "yes", false: "**no**"}[x.PublishedPerSec >= 0.95*float64(c.Rate)])
	})
	row("delivered msg/s", func(x *loadtest.Report) string { return fmt.Sprintf("%.0f", x.DeliveredPerSec) })
	row("server CPU (s)", func(x *loadtest.Report) string { return fmt.Sprintf("%.2f", x.ServerCPUSeconds) })
	row("**server CPU per delivered message**", func(x *loadtest.Report) string { return fmt.Sprintf("**%.1f µs**", x.ServerCPUPerMsgUs) })
	row("ratio to the floor (target)", func(x *loadtest.Report) string {
		switch {
		case r.Floor == nil || r.Floor.ServerCPUPerMsgUs == 0:
			return "no floor"
		case x == r.Floor:
			return "1"
		case x == r.SealFeed:
			return verdict(x.ServerCPUPerMsgUs/r.Floor.ServerCPUPerMsgUs, TargetSealFeedRatio)
		default:
			return verdict(x.ServerCPUPerMsgUs/r.Floor.ServerCPUPerMsgUs, TargetClusterRatio)
		}
	})
	row("nats-server CPU per message (beside, not counted)", func(x *loadtest.Report) string {
		if x != r.Cluster || x.Delivered == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f µs (%.2f s)", r.NATSCPUSeconds/float64(x.Delivered)*1e6, r.NATSCPUSeconds)
	})
	row("server CPU while idle, every client connected (liveness, ticks)", func(x *loadtest.Report) string {
		return fmt.Sprintf("%.1f ms/s", x.IdleCPUPerSec*1000)
	})
	row("publish → deliver p50 / p99 / max", func(x *loadtest.Report) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f ms", x.LatencyP50Ms, x.LatencyP99Ms, x.LatencyMaxMs)
	})
	row("connects/s (handshakes for SealFeed)", func(x *loadtest.Report) string { return fmt.Sprintf("%.0f", x.HandshakesPerSec) })
	row("server RSS / heap+stacks per idle connection", func(x *loadtest.Report) string {
		return fmt.Sprintf("%.1f / %.1f KiB", x.IdleRSSPerConn/1024, x.IdleHeapPerConn/1024)
	})
	row("publish errors", func(x *loadtest.Report) string { return fmt.Sprint(x.PublishErrors) })
	b.WriteString("\n")

	if r.Unlimited != nil {
		u := r.Unlimited
		fmt.Fprintf(&b, "### Latency at 80%% of the highest sustained rate (SealFeed, SQLite -sync FULL)\n\n")
		fmt.Fprintf(&b, "Highest sustained rate: publishing as fast as the server accepts (%d publishers, each waiting for its 2xx), "+
			"%.0f msg/s accepted, %d of %d delivered before the publish phase ended, so **%.0f msg/s sustained** "+
			"(the accepted rate, or the rate delivered during the phase where lower: the delivery backlog did not grow beyond it); "+
			"CPU per message %.1f µs, p99 %.1f ms.\n\n",
			u.Publishers, u.PublishedPerSec, u.DeliveredInLoad, u.Published, r.Sustained, u.ServerCPUPerMsgUs, u.LatencyP99Ms)
		if a := r.AtEighty; a != nil {
			target := float64(c.Tick+TargetLatencyMargin) / 1e6
			fmt.Fprintf(&b, "| at %d msg/s offered (80%%) | value |\n|---|---|\n", a.OfferedRate)
			fmt.Fprintf(&b, "| accepted msg/s (%d publishers) | %.0f |\n", a.Publishers, a.PublishedPerSec)
			fmt.Fprintf(&b, "| published / delivered / lost / duplicated | %d / %d / %d / %d |\n", a.Published, a.Delivered, a.Lost, a.Duplicates)
			fmt.Fprintf(&b, "| publish → deliver p50 / p99 / max | %.1f / **%.1f** / %.1f ms |\n", a.LatencyP50Ms, a.LatencyP99Ms, a.LatencyMaxMs)
			fmt.Fprintf(&b, "| target p99 ≤ tick + 25 ms = %.0f ms | %s |\n", target, passFail(a.LatencyP99Ms <= target))
			fmt.Fprintf(&b, "| server CPU per delivered message | %.1f µs |\n\n", a.ServerCPUPerMsgUs)
		}
	}

	if m := r.Memory; m != nil {
		fmt.Fprintf(&b, "### Memory per idle connection (SealFeed, %d connections)\n\n", m.Conns)
		fmt.Fprintf(&b, "%d idle client-library connections from %d load-generator processes over %d source addresses "+
			"(connected in %.1f s); a process holds at most 20 000 file descriptors here, so this is about the largest count one server takes.\n\n",
			m.Conns, m.Processes, m.SourceAddrs, m.ConnectSeconds)
		b.WriteString("| measure | value |\n|---|---|\n")
		fmt.Fprintf(&b, "| server RSS before / with the connections | %.1f / %.1f MiB |\n", m.ServerRSSBefore/(1<<20), m.ServerRSS/(1<<20))
		fmt.Fprintf(&b, "| **RSS per connection** (target ≤ 20 KiB) | **%.1f KiB**: %s |\n", m.RSSPerConn/1024, passFail(m.RSSPerConn <= TargetRSSPerConn))
		fmt.Fprintf(&b, "| Go heap + stacks per connection | %.1f KiB |\n\n", m.HeapStackPerConn/1024)
	}

	if p := r.Profile; p != nil {
		fmt.Fprintf(&b, "### CPU profile of sealfeed serve (SQLite -sync FULL phase, %.0f s, %.2f CPU-s sampled)\n\n", p.Seconds, p.CPU)
		b.WriteString("Inclusive: the share of sampled CPU whose stack passes through the group (groups overlap: Store.Publish includes its SQLite).\n\n")
		b.WriteString("| group | inclusive share |\n|---|---|\n")
		for _, s := range p.Inclusive {
			fmt.Fprintf(&b, "| %s | %.1f%% |\n", s.Group, 100*s.Share)
		}
		b.WriteString("\nSelf: each sample once, by the package of its leaf function (sums to 100%).\n\n| group | self share |\n|---|---|\n")
		for _, s := range p.Self {
			fmt.Fprintf(&b, "| %s | %.1f%% |\n", s.Group, 100*s.Share)
		}
		b.WriteString("\n")
	}
	if len(r.Errors) > 0 {
		b.WriteString("### Phases that failed\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func verdict(ratio, target float64) string {
	return fmt.Sprintf("%.2f× (≤ %.0f×: %s)", ratio, target, passFail(ratio <= target))
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// WriteSection puts section (named name, e.g. "before" or "after") into
// the report file at path, replacing that section if the file has it and
// keeping every other one; a new file starts with Header.
func WriteSection(path, name, section string) error {
	begin, end := "<!-- system:"+name+" -->\n", "<!-- /system:"+name+" -->\n"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	if s == "" {
		s = Header + "\n"
	}
	block := begin + section + end
	if i := strings.Index(s, begin); i >= 0 {
		j := strings.Index(s[i:], end)
		if j < 0 {
			return fmt.Errorf("%s: section %q is not closed", path, name)
		}
		s = s[:i] + block + s[i+j+len(end):]
	} else {
		if !strings.HasSuffix(s, "\n\n") {
			s += "\n"
		}
		s += block
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
