package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/flynn/noise"
)

var small = []shape{{3, 2, 64}, {3, 2, 1024}, {2, 3, 16384}, {2, 5, 20000}} // the last spans several Noise messages

// TestChecks runs every workload's correctness check on small shapes.
func TestChecks(t *testing.T) {
	for _, sh := range small {
		t.Run(sh.String(), func(t *testing.T) {
			for _, c := range []struct {
				name string
				f    func() (string, error)
			}{
				{"SealFeed", func() (string, error) { return checkSealFeed(sh, false) }},
				{"SealFeed broadcast", func() (string, error) { return checkSealFeed(sh, true) }},
				{"age per recipient", func() (string, error) { return checkAge(sh, false) }},
				{"age broadcast", func() (string, error) { return checkAge(sh, true) }},
				{"Noise NK", func() (string, error) { return checkNoise(sh, noise.HandshakeNK) }},
				{"Noise XX", func() (string, error) { return checkNoise(sh, noise.HandshakeXX) }},
				{"TLS", func() (string, error) {
					f, err := newTLS(sh.n)
					if err != nil {
						return "", err
					}
					s, err := f.check(sh)
					if err != nil {
						f.close()
						return "", err
					}
					if err := f.startReaders(); err != nil {
						f.close()
						return "", err
					}
					s2, err := f.finish()
					return s + "; " + s2, err
				}},
				{"Noise NK handshake", func() (string, error) { return checkNoiseHandshake(noise.HandshakeNK) }},
				{"Noise XX handshake", func() (string, error) { return checkNoiseHandshake(noise.HandshakeXX) }},
			} {
				s, err := c.f()
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				t.Logf("%s: %s", c.name, s)
			}
		})
	}
}

// TestAgeBroadcastLimit documents the note the report makes: age v1.3.2
// decrypts a file to 1000 recipients and refuses one to 1025.
func TestAgeBroadcastLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("encrypts to 2025 recipients")
	}
	if _, err := checkAge(shape{1000, 1, 64}, true); err != nil {
		t.Fatal(err)
	}
	f, err := newAge(1025)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := ageSeal(&file, [][]byte{[]byte("x")}, f.rcpts...); err != nil {
		t.Fatal(err)
	}
	_, err = ageOpen(file.Bytes(), f.ids[0])
	if err == nil || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("decrypting a 1025-stanza file: %v, want the 1024-stanza limit", err)
	}
}

// TestWorkloads runs every workload of the command once (setup, check, one
// timed iteration, finish) on small shapes and renders the report.
func TestWorkloads(t *testing.T) {
	bt := flag.Lookup("test.benchtime")
	old := bt.Value.String()
	if err := bt.Value.Set("1x"); err != nil {
		t.Fatal(err)
	}
	defer bt.Value.Set(old)
	var results []*result
	for _, w := range workloads(small[:2], small[:1]) {
		r, err := measure(w)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		results = append(results, r)
	}
	var md strings.Builder
	writeReport(&md, results, 1)
	for _, want := range []string{"## Ratios", "age, one file per recipient 3×2×64 B", "Noise_NK transport", "TLS 1.3 records", "do not provide that a SealFeed batch does"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + md.String())
	}
}
