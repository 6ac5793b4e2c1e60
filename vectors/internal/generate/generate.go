// Package generate builds the SealFeed v1 test vectors and their schemas
// deterministically: the same source gives byte-identical files.
//
// Randomness comes from ChaCha8 streams seeded with SHA-256 of the area and
// the test's stable name, so adding or removing a test changes no other
// test's bytes. Test-case IDs come from the ledger tcids.json (stable name →
// tcId per area): a new name gets the next unused ID of its area, IDs are
// never reused or renumbered, and names are never removed from the ledger.
package generate

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/sealfeed/sealfeed/vectors"
)

// LedgerPath is the path of the ledger relative to the vectors directory.
const LedgerPath = "internal/generate/tcids.json"

//go:embed tcids.json
var ledgerJSON []byte

// Files returns every generated file keyed by its path relative to the
// vectors directory: v1/<area>.json, schema/<area>.schema.json and the
// ledger (LedgerPath), updated with the IDs of new test names.
func Files() (map[string][]byte, error) {
	led := map[string]map[string]int{}
	if len(bytes.TrimSpace(ledgerJSON)) > 0 {
		if err := json.Unmarshal(ledgerJSON, &led); err != nil {
			return nil, fmt.Errorf("generate: ledger: %w", err)
		}
	}
	out := map[string][]byte{}
	for _, a := range areas {
		ar := newArea(a.name, led[a.name])
		file, err := a.build(ar)
		if err != nil {
			return nil, fmt.Errorf("generate: %s: %w", a.name, err)
		}
		if ar.err != nil {
			return nil, fmt.Errorf("generate: %s: %w", a.name, ar.err)
		}
		b, err := encode(file)
		if err != nil {
			return nil, fmt.Errorf("generate: %s: %w", a.name, err)
		}
		out["v1/"+a.name+".json"] = b
		sb, err := encode(a.schema())
		if err != nil {
			return nil, fmt.Errorf("generate: %s schema: %w", a.name, err)
		}
		out["schema/"+a.name+".schema.json"] = sb
		led[a.name] = ar.ids
	}
	if sealedHPKE != nil {
		hb, err := sealedHPKEFile()
		if err != nil {
			return nil, err
		}
		out[SealedHPKEPath] = hb
	}
	lb, err := encode(led)
	if err != nil {
		return nil, err
	}
	out[LedgerPath] = lb
	return out, nil
}

// areaDef is one vector file: its builder and its schema.
type areaDef struct {
	name   string
	build  func(*area) (any, error)
	schema func() map[string]any
}

// areas lists every area in output order.
var areas = []areaDef{
	expandLabelArea, keyscheduleArea, x25519Area, hybridArea, ed25519Area, credentialArea, tokenArea, sealedArea, merkleArea, replayArea, recordArea, batchArea, handshakeArea, sessionArea, decodeArea, webhookArea,
}

// encode writes JSON with 2-space indentation, no HTML escaping, sorted map
// keys (encoding/json sorts them) and struct fields in declaration order.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// area assigns test-case IDs and collects the flags used in one file.
type area struct {
	name  string
	ids   map[string]int
	next  int
	used  map[string]bool
	flags map[string]bool
	count int
	err   error
}

func newArea(name string, ids map[string]int) *area {
	a := &area{name: name, ids: map[string]int{}, used: map[string]bool{}, flags: map[string]bool{}, next: 1}
	for n, id := range ids {
		a.ids[n] = id
		if id >= a.next {
			a.next = id + 1
		}
	}
	return a
}

func (a *area) fail(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf(format, args...)
	}
}

// id returns the stable tcId of name, assigning the next unused one to a new
// name. A name used twice in one generation is an error.
func (a *area) id(name string) int {
	if a.used[name] {
		a.fail("test name %q used twice", name)
	}
	a.used[name] = true
	id, ok := a.ids[name]
	if !ok {
		id = a.next
		a.next++
		a.ids[name] = id
	}
	a.count++
	return id
}

func (a *area) noteFlags(flags []string) []string {
	out := []string{}
	for _, f := range flags {
		if _, ok := notes[f]; !ok {
			a.fail("flag %q has no note", f)
		}
		a.flags[f] = true
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// valid returns the common fields of a valid test. req may be empty.
func (a *area) valid(name, comment, req string, flags ...string) vectors.Test {
	return vectors.Test{TcID: a.id(name), Comment: comment, Flags: a.noteFlags(flags),
		Result: vectors.Valid, Requirement: req}
}

// invalid returns the common fields of an invalid test.
func (a *area) invalid(name, comment, req, alertName string, flags ...string) vectors.Test {
	if req == "" || alertName == "" {
		a.fail("invalid test %q lacks requirement or alert", name)
	}
	return vectors.Test{TcID: a.id(name), Comment: comment, Flags: a.noteFlags(flags),
		Result: vectors.Invalid, Requirement: req, Alert: alertName}
}

// file wraps the groups of an area.
func file[G any](a *area, header []string, groups []G) *vectors.File[G] {
	ns := map[string]vectors.Note{}
	for f := range a.flags {
		ns[f] = notes[f]
	}
	return &vectors.File[G]{
		Schema:        a.name + ".schema.json",
		Version:       vectors.FormatVersion,
		Area:          a.name,
		Header:        header,
		NumberOfTests: a.count,
		Notes:         ns,
		TestGroups:    groups,
	}
}

// rng returns a deterministic stream for one test of an area.
func rng(area, name string) *rand.ChaCha8 {
	return rand.NewChaCha8(sha256.Sum256([]byte("sealfeed v1 vectors/" + area + "/" + name)))
}

// randBytes returns n bytes of the stream for (area, name).
func randBytes(area, name string, n int) []byte {
	b := make([]byte, n)
	rng(area, name).Read(b)
	return b
}

// slug turns a comment-like phrase into a test name fragment.
func slug(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "-")
}
