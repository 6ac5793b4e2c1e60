// Command gen writes the SealFeed v1 test vectors, their schemas and the
// tcId ledger. Run it from the repository root:
//
//	go run ./vectors/gen
//
// It writes under ./vectors (or the directory given with -dir), removes
// vector and schema files it no longer generates, and prints what changed.
// Regenerating from the same source gives byte-identical files.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"

	"github.com/sealfeed/sealfeed/vectors/internal/generate"
)

func main() {
	dir := flag.String("dir", "vectors", "the vectors directory")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen: ")

	files, err := generate.Files()
	if err != nil {
		log.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	changed := 0
	for _, n := range names {
		p := filepath.Join(*dir, filepath.FromSlash(n))
		old, err := os.ReadFile(p)
		if err == nil && bytes.Equal(old, files[n]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", p)
		changed++
	}
	for _, pattern := range []string{"v1/*.json", "schema/*.json"} {
		stale, _ := filepath.Glob(filepath.Join(*dir, pattern))
		for _, p := range stale {
			rel, _ := filepath.Rel(*dir, p)
			if _, ok := files[filepath.ToSlash(rel)]; !ok {
				if err := os.Remove(p); err != nil {
					log.Fatal(err)
				}
				fmt.Println("removed", p)
				changed++
			}
		}
	}
	fmt.Printf("%d files generated, %d changed\n", len(files), changed)
}
