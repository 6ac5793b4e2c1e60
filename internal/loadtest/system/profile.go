package system

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Profile is the breakdown of a CPU profile of the server.
type Profile struct {
	Seconds float64 // wall time profiled
	CPU     float64 // CPU seconds sampled
	// Inclusive: the share of the CPU whose stack passes through each
	// group (they overlap: Store.Publish includes its SQLite). Self: each
	// sample counted once, by the group of its leaf function.
	Inclusive, Self []Share
}

// Share is a group's share of the sampled CPU.
type Share struct {
	Group string
	Share float64 // 0..1
}

type group struct {
	name string
	re   *regexp.Regexp
}

// inclusiveGroups are the groups issue #16 reads the profile by.
var inclusiveGroups = []group{
	{"SQLite (modernc.org/sqlite, libc)", regexp.MustCompile(`^modernc\.org/(sqlite|libc)`)},
	{"Store.Publish", regexp.MustCompile(`/server/store/\w+\.\(\*\w+\)\.Publish$`)},
	{"Store.Pending", regexp.MustCompile(`/server/store/\w+\.\(\*\w+\)\.Pending$`)},
	{"Store.Ack", regexp.MustCompile(`/server/store/\w+\.\(\*\w+\)\.Ack$`)},
	{"store, all (server/store/...)", regexp.MustCompile(`/server/store/`)},
	{"JetStream client (nats.go)", regexp.MustCompile(`^github\.com/nats-io/`)},
	{"HTTP (net/http)", regexp.MustCompile(`^net/http\.`)},
	{"WebSocket (gorilla/websocket, server/wsapi)", regexp.MustCompile(`gorilla/websocket|/server/wsapi\.`)},
	{"crypto (crypto/..., x/crypto)", regexp.MustCompile(`^(crypto/|golang\.org/x/crypto|filippo\.io/)`)},
	{"GC (mark, assist, sweep, scavenge)", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep|bgscavenge|gcDrain|markroot)`)},
	{"encoding/json", regexp.MustCompile(`^encoding/json\.`)},
	{"system calls (syscall, internal/runtime/syscall)", regexp.MustCompile(`^(syscall\.|internal/runtime/syscall/|internal/poll\.)`)},
}

// selfGroups classify a sample by its leaf, first match wins; the rest is
// "other".
var selfGroups = []group{
	{"SQLite and its libc", regexp.MustCompile(`^modernc\.org/`)},
	{"crypto", regexp.MustCompile(`^(crypto/|golang\.org/x/crypto|filippo\.io/|vendor/golang\.org/x/crypto)`)},
	{"system calls", regexp.MustCompile(`^(syscall\.|internal/runtime/syscall/|runtime\.futex|runtime\.epollwait|runtime\.usleep|runtime\.nanotime)`)},
	{"GC and allocation", regexp.MustCompile(`^runtime\.(gc|mallocgc|scanobject|greyobject|findObject|markBits|heapBits|sweep|mspan|mheap|memclr|typePointers|scanblock|wbBuf|bulkBarrier|spanOf|nextFreeFast|(\(\*mspan\)|\(\*mheap\)|\(\*gcWork\)|\(\*mcache\)))`)},
	{"scheduler and runtime, other", regexp.MustCompile(`^(runtime\.|cmpbody$|memeqbody$|indexbytebody$|aeshashbody$)`)},
	{"encoding (json, base64, hex)", regexp.MustCompile(`^encoding/`)},
	{"HTTP", regexp.MustCompile(`^net/http\.`)},
	{"WebSocket", regexp.MustCompile(`gorilla/websocket`)},
	{"SealFeed code", regexp.MustCompile(`^github\.com/sealfeed/`)},
}

// breakdown symbolizes a CPU profile with `go tool pprof -traces` and
// groups its samples.
func breakdown(data []byte, tmp string) (*Profile, error) {
	f, err := os.CreateTemp(tmp, "sealfeed-cpu-*.pprof")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-traces", filepath.Clean(f.Name())).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -traces: %w", err)
	}
	return parseTraces(out)
}

// parseTraces reads `go tool pprof -traces` text: a header, then one block
// per stack, "-----------+---…" between them, the first line of a block
// holding the sample's value and the leaf, the next ones its callers.
func parseTraces(text []byte) (*Profile, error) {
	p := &Profile{}
	incl := make([]float64, len(inclusiveGroups))
	self := make([]float64, len(selfGroups)+1)
	var total float64
	var value float64
	var stack []string
	flush := func() {
		if len(stack) == 0 {
			return
		}
		total += value
		for i, g := range inclusiveGroups {
			for _, fn := range stack {
				if g.re.MatchString(fn) {
					incl[i] += value
					break
				}
			}
		}
		j := len(selfGroups)
		for i, g := range selfGroups {
			if g.re.MatchString(stack[0]) {
				j = i
				break
			}
		}
		self[j] += value
		stack = stack[:0]
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inBody := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			inBody = true
			continue
		}
		if !inBody {
			if d, ok := strings.CutPrefix(line, "Duration: "); ok {
				if s, _, ok := strings.Cut(d, ","); ok {
					if v, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
						p.Seconds = v.Seconds()
					}
				}
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(stack) == 0 {
			// "      10ms   runtime.futex" (a label line may come first).
			v, err := time.ParseDuration(fields[0])
			if err != nil || len(fields) < 2 {
				continue
			}
			value = v.Seconds()
			stack = append(stack, fields[1])
			continue
		}
		stack = append(stack, fields[0])
	}
	flush()
	if total == 0 {
		return nil, errors.New("profile holds no samples")
	}
	p.CPU = total
	for i, g := range inclusiveGroups {
		p.Inclusive = append(p.Inclusive, Share{g.name, incl[i] / total})
	}
	for i, g := range selfGroups {
		p.Self = append(p.Self, Share{g.name, self[i] / total})
	}
	p.Self = append(p.Self, Share{"other", self[len(selfGroups)] / total})
	return p, nil
}
