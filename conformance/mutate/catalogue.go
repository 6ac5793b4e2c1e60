package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// A Mutant is one catalogue entry (CONF-045): a one-line bug an implementer
// could make, as an exact find/replace on one file of the tree.
type Mutant struct {
	ID         string   `json:"id"`
	Req        string   `json:"requirement"` // the requirement ID the bug breaks
	Side       string   `json:"side"`        // client, protocol, server or shim
	Modes      []string `json:"modes"`       // vector, live, server
	File       string   `json:"file"`        // slash path from the repository root
	Note       string   `json:"note,omitempty"`
	Expect     string   `json:"expect,omitempty"`     // killed or survived: the last full run's outcome (CONF-053)
	Equivalent string   `json:"equivalent,omitempty"` // the argued reason it cannot change behaviour (CONF-051)
	Find       string   `json:"find"`
	Replace    string   `json:"replace"`
	Source     string   `json:"source"` // catalogue file:line
}

var (
	sides = []string{"client", "protocol", "server", "shim"}
	modes = []string{"vector", "live", "server"}
)

// defaultModes are the modes a side's mutants run in when the entry names
// none: a client-side bug is judged through the Go shim, a server-side one
// by the server tests.
func defaultModes(side string) []string {
	if side == "server" {
		return []string{"server"}
	}
	return []string{"vector", "live"}
}

// loadCatalogue reads every *.txt file of dir, in name order.
func loadCatalogue(dir string) ([]*Mutant, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var all []*Mutant
	seen := map[string]string{}
	for _, f := range files {
		ms, err := parseCatalogueFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if prev, dup := seen[m.ID]; dup {
				return nil, fmt.Errorf("%s: mutant %s already defined at %s", m.Source, m.ID, prev)
			}
			seen[m.ID] = m.Source
			all = append(all, m)
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: no mutants", dir)
	}
	return all, nil
}

func parseCatalogueFile(path string) ([]*Mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCatalogue(filepath.Base(path), string(b))
}

// parseCatalogue parses the catalogue format:
//
//	# a comment (outside find and replace blocks)
//	== mutant-id
//	req: REPLAY-011
//	side: protocol
//	modes: vector live        (optional; default by side)
//	file: protocol/replay/replay.go
//	expect: killed            (optional)
//	equivalent: why           (optional)
//	note: what the bug is
//	--- find
//	exact lines, tabs kept
//	--- replace
//	exact lines
//
// A block runs to the next "--- " or "== " line; trailing empty lines of a
// block are dropped and its lines are joined without a final newline.
// Parsing is strict: an unknown key, a missing field or an empty find is an
// error naming the line.
func parseCatalogue(name, text string) ([]*Mutant, error) {
	var out []*Mutant
	var cur *Mutant
	var block *string
	var blockLines []string
	lineNo := 0
	errf := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", name, lineNo, fmt.Sprintf(format, a...))
	}
	closeBlock := func() {
		if block != nil {
			for len(blockLines) > 0 && strings.TrimSpace(blockLines[len(blockLines)-1]) == "" {
				blockLines = blockLines[:len(blockLines)-1]
			}
			*block = strings.Join(blockLines, "\n")
		}
		block, blockLines = nil, nil
	}
	finish := func() error {
		closeBlock()
		if cur == nil {
			return nil
		}
		if err := cur.validate(); err != nil {
			return fmt.Errorf("%s: %w", cur.Source, err)
		}
		out = append(out, cur)
		cur = nil
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "== "):
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &Mutant{ID: strings.TrimSpace(line[3:]), Source: fmt.Sprintf("%s:%d", name, lineNo)}
		case strings.HasPrefix(line, "--- "):
			if cur == nil {
				return nil, errf("block outside a mutant")
			}
			closeBlock()
			switch strings.TrimSpace(line[4:]) {
			case "find":
				block = &cur.Find
			case "replace":
				block = &cur.Replace
			default:
				return nil, errf("unknown block %q (want find or replace)", line)
			}
		case block != nil:
			blockLines = append(blockLines, line)
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		default:
			if cur == nil {
				return nil, errf("field outside a mutant: %q", line)
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, errf("want key: value, got %q", line)
			}
			v = strings.TrimSpace(v)
			switch strings.TrimSpace(k) {
			case "req":
				cur.Req = v
			case "side":
				cur.Side = v
			case "modes":
				cur.Modes = strings.Fields(v)
			case "file":
				cur.File = v
			case "expect":
				cur.Expect = v
			case "equivalent":
				cur.Equivalent = v
			case "note":
				cur.Note = v
			default:
				return nil, errf("unknown key %q", k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Mutant) validate() error {
	switch {
	case m.ID == "" || strings.ContainsAny(m.ID, " \t/"):
		return fmt.Errorf("bad mutant ID %q", m.ID)
	case m.Req == "":
		return fmt.Errorf("%s: no req", m.ID)
	case !slices.Contains(sides, m.Side):
		return fmt.Errorf("%s: side %q, want one of %v", m.ID, m.Side, sides)
	case m.File == "" || filepath.IsAbs(m.File) || strings.Contains(m.File, ".."):
		return fmt.Errorf("%s: file %q, want a path inside the repository", m.ID, m.File)
	case m.Find == "":
		return fmt.Errorf("%s: empty find", m.ID)
	case m.Find == m.Replace:
		return fmt.Errorf("%s: replace equals find", m.ID)
	case m.Expect != "" && m.Expect != "killed" && m.Expect != "survived":
		return fmt.Errorf("%s: expect %q, want killed or survived", m.ID, m.Expect)
	}
	if len(m.Modes) == 0 {
		m.Modes = defaultModes(m.Side)
	}
	for _, md := range m.Modes {
		if !slices.Contains(modes, md) {
			return fmt.Errorf("%s: mode %q, want one of %v", m.ID, md, modes)
		}
	}
	return nil
}

// apply returns src with the mutant applied, or an error when its find text
// does not occur exactly once (a stale entry, CONF-046).
func (m *Mutant) apply(src string) (string, error) {
	switch n := strings.Count(src, m.Find); n {
	case 1:
		return strings.Replace(src, m.Find, m.Replace, 1), nil
	case 0:
		return "", fmt.Errorf("find text not in %s", m.File)
	default:
		return "", fmt.Errorf("find text occurs %d times in %s", n, m.File)
	}
}

// updateExpect rewrites the expect: line of each judged mutant in its
// catalogue file to the outcome of this run (killed for killed and
// timeout; survived for survived and equivalent), so that the next -check
// run holds the suite to it (CONF-053). Stale and invalid mutants keep
// their line.
func updateExpect(dir string, outs []*Outcome) error {
	byFile := map[string]map[int]string{}
	for _, o := range outs {
		var want string
		switch o.Status {
		case Killed, Timeout:
			want = Killed
		case Survived, Equivalent:
			want = Survived
		default:
			continue
		}
		name, line, ok := strings.Cut(o.Source, ":")
		n := 0
		if _, err := fmt.Sscan(line, &n); !ok || err != nil {
			return fmt.Errorf("%s: bad source %q", o.ID, o.Source)
		}
		if byFile[name] == nil {
			byFile[name] = map[int]string{}
		}
		byFile[name][n] = want
	}
	for name, edits := range byFile {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		starts := make([]int, 0, len(edits))
		for n := range edits {
			starts = append(starts, n)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(starts)))
		for _, n := range starts {
			i := n - 1
			if i >= len(lines) || !strings.HasPrefix(lines[i], "== ") {
				return fmt.Errorf("%s:%d: not a mutant header", name, n)
			}
			j := i + 1
			done := false
			for ; j < len(lines) && !strings.HasPrefix(lines[j], "--- ") && !strings.HasPrefix(lines[j], "== "); j++ {
				if strings.HasPrefix(lines[j], "expect:") {
					lines[j] = "expect: " + edits[n]
					done = true
					break
				}
			}
			if !done {
				lines = slices.Insert(lines, j, "expect: "+edits[n])
			}
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			return err
		}
	}
	return nil
}
