// Command coverage lists the spec requirement IDs that no test vector and no
// Go test covers. Run it from anywhere inside the repository:
//
//	go run ./vectors/coverage
//
// A requirement is defined by a bold marker **AREA-NNN** in spec/*.md. It is
// covered by a vector when a test in vectors/v1/*.json names it in its
// "requirement" field, and by a test when any *_test.go file of the
// repository, or a conformance test definition under conformance/, mentions
// it. The command reports; it exits 0 whatever the
// coverage (exit 1 only if it cannot read the repository). With -strict it
// exits 1 when a requirement is uncovered.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var (
	defRE  = regexp.MustCompile(`\*\*([A-Z]+-[0-9]{3})\*\*`)
	nameRE = regexp.MustCompile(`\b([A-Z]+-[0-9]{3})\b`)
)

func main() {
	strict := flag.Bool("strict", false, "exit 1 if any requirement is uncovered")
	must := flag.Bool("must", false, "exit 1 if any requirement whose text says MUST is uncovered")
	verbose := flag.Bool("v", false, "list every requirement with where it is covered")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("coverage: ")

	root, err := repoRoot()
	if err != nil {
		log.Fatal(err)
	}
	spec, text, mustText, err := specIDs(root)
	if err != nil {
		log.Fatal(err)
	}
	byVector, err := vectorIDs(root)
	if err != nil {
		log.Fatal(err)
	}
	byTest, err := testIDs(root)
	if err != nil {
		log.Fatal(err)
	}

	ids := make([]string, 0, len(spec))
	for id := range spec {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })

	type tally struct{ total, vec, test, none int }
	areas := map[string]*tally{}
	var areaNames, uncovered []string
	for _, id := range ids {
		area := id[:strings.IndexByte(id, '-')]
		a := areas[area]
		if a == nil {
			a = &tally{}
			areas[area] = a
			areaNames = append(areaNames, area)
		}
		a.total++
		v, tt := byVector[id], byTest[id]
		if v > 0 {
			a.vec++
		}
		if tt > 0 {
			a.test++
		}
		if v == 0 && tt == 0 {
			a.none++
			uncovered = append(uncovered, id)
		}
		if *verbose {
			fmt.Printf("%-11s vectors %4d  test files %3d\n", id, v, tt)
		}
	}
	for id := range byVector {
		if !spec[id] {
			fmt.Printf("warning: vectors name %s, which spec/ does not define\n", id)
		}
	}

	fmt.Printf("%-8s %5s %8s %6s %10s\n", "area", "rules", "vectors", "tests", "uncovered")
	for _, n := range areaNames {
		a := areas[n]
		fmt.Printf("%-8s %5d %8d %6d %10d\n", n, a.total, a.vec, a.test, a.none)
	}
	covered := len(ids) - len(uncovered)
	fmt.Printf("\n%d requirement IDs in spec/, %d covered by a vector or a test, %d uncovered\n",
		len(ids), covered, len(uncovered))
	if len(uncovered) > 0 {
		fmt.Println("\nuncovered:")
		for _, id := range uncovered {
			fmt.Printf("  %-11s %s\n", id, text[id])
		}
	}
	var uncoveredMust []string
	for _, id := range uncovered {
		if mustText[id] {
			uncoveredMust = append(uncoveredMust, id)
		}
	}
	if len(uncoveredMust) > 0 {
		fmt.Printf("\nuncovered requirements that say MUST: %s\n", strings.Join(uncoveredMust, " "))
	}
	if *strict && len(uncovered) > 0 || *must && len(uncoveredMust) > 0 {
		os.Exit(1)
	}
}

// repoRoot walks up from the working directory to the directory of go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// specIDs returns the IDs defined in spec/*.md and, for each, the start of
// the text that follows its marker.
func specIDs(root string) (map[string]bool, map[string]string, map[string]bool, error) {
	paths, err := filepath.Glob(filepath.Join(root, "spec", "*.md"))
	if err != nil || len(paths) == 0 {
		return nil, nil, nil, fmt.Errorf("no spec/*.md under %s", root)
	}
	ids, text, must := map[string]bool{}, map[string]string{}, map[string]bool{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		cur := "" // the requirement whose paragraph the scanner is in
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "|") {
				cur = ""
			}
			for _, loc := range defRE.FindAllStringSubmatchIndex(line, -1) {
				id := line[loc[2]:loc[3]]
				ids[id] = true
				rest := strings.TrimSpace(line[loc[1]:])
				if len(rest) > 70 {
					rest = rest[:67] + "..."
				}
				if _, ok := text[id]; !ok {
					text[id] = rest
				}
				cur = id
			}
			if cur != "" && strings.Contains(line, "MUST") {
				must[cur] = true
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, nil, nil, err
		}
	}
	return ids, text, must, nil
}

// vectorIDs counts, per requirement ID, the vectors that name it.
func vectorIDs(root string) (map[string]int, error) {
	paths, err := filepath.Glob(filepath.Join(root, "vectors", "v1", "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		walk(v, out)
	}
	return out, nil
}

func walk(v any, out map[string]int) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "requirement") {
				out[s]++
				continue
			}
			walk(e, out)
		}
	case []any:
		for _, e := range x {
			walk(e, out)
		}
	}
}

// testIDs counts, per requirement ID, the *_test.go files that mention it.
func testIDs(root string) (map[string]int, error) {
	out := map[string]int{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "vendor":
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		conf := strings.HasPrefix(rel, "conformance"+string(filepath.Separator)) && strings.HasSuffix(d.Name(), ".go")
		if !strings.HasSuffix(d.Name(), "_test.go") && !conf {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, m := range nameRE.FindAllSubmatch(b, -1) {
			seen[string(m[1])] = true
		}
		for id := range seen {
			out[id]++
		}
		return nil
	})
	return out, err
}

// idLess orders IDs by area name, then number.
func idLess(a, b string) bool {
	ia, ib := strings.IndexByte(a, '-'), strings.IndexByte(b, '-')
	if a[:ia] != b[:ib] {
		return a[:ia] < b[:ib]
	}
	return a[ia+1:] < b[ib+1:]
}
