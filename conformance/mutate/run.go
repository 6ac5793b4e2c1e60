package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/conformance"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// Statuses of a mutant (CONF-047 … CONF-051).
const (
	Killed     = "killed"
	Survived   = "survived"
	Timeout    = "timeout" // counted as killed, listed apart
	Stale      = "stale"   // the find text does not occur exactly once
	Invalid    = "invalid" // the mutated tree does not build
	Equivalent = "equivalent"
)

// Outcome is what one mutant came to.
type Outcome struct {
	*Mutant
	Status   string              `json:"status"`
	Detail   string              `json:"detail,omitempty"`
	KilledBy map[string][]string `json:"killed_by,omitempty"` // mode → failing test IDs
	TimedOut []string            `json:"timed_out,omitempty"` // modes that ran out of time
	Build    time.Duration       `json:"build_ns"`
	Duration time.Duration       `json:"duration_ns"`
}

func (o *Outcome) killedIn(mode string) bool {
	return len(o.KilledBy[mode]) > 0 || slices.Contains(o.TimedOut, mode)
}

// harness holds what every mutant's run shares.
type harness struct {
	root     string // repository root (the unmutated source)
	work     string // scratch directory
	timeout  time.Duration
	baseline map[string]map[string]bool // mode → tests that fail unmutated (never kills, CONF-049)
	log      io.Writer
}

// build compiles pkg from the tree with the overlay (none: the unmutated
// tree) into dir/out. The source tree is never written: a mutated file lives
// in the scratch directory and go build reads it through -overlay.
func (h *harness) build(ctx context.Context, overlay, pkg, out string) error {
	args := []string{"build"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = h.root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// binaries are the programs a mode needs, built from one tree.
type binaries struct{ shim, server string }

func (h *harness) buildFor(ctx context.Context, dir, overlay string, modes []string) (binaries, error) {
	var b binaries
	if slices.Contains(modes, "vector") || slices.Contains(modes, "live") {
		b.shim = filepath.Join(dir, "goshim")
		if err := h.build(ctx, overlay, "./conformance/shims/goshim", b.shim); err != nil {
			return b, err
		}
	}
	if slices.Contains(modes, "server") {
		b.server = filepath.Join(dir, "sealfeed")
		if err := h.build(ctx, overlay, "./cmd/sealfeed", b.server); err != nil {
			return b, err
		}
	}
	return b, nil
}

// runMode runs the conformance suite in one mode against the binaries and
// returns the IDs of the tests that failed. The runner is this program,
// built from the unmutated tree: only the implementation under test carries
// the mutant (CONF-048).
func (h *harness) runMode(ctx context.Context, dir, mode string, b binaries) ([]string, error) {
	var res []*conformance.Result
	var err error
	switch mode {
	case "vector":
		res, err = conformance.Run(ctx, &conformance.Config{Shim: []string{b.shim}, Vectors: true, Timeout: 30 * time.Second})
	case "live":
		res, err = conformance.Run(ctx, &conformance.Config{Shim: []string{b.shim}, Live: true, Parallel: 4, Timeout: 30 * time.Second})
	case "server":
		res, err = h.runServer(ctx, dir, b.server)
	}
	if err != nil {
		return nil, err
	}
	var failed []string
	for _, r := range res {
		if r.Status == conformance.Fail {
			failed = append(failed, r.ID)
		}
	}
	return failed, nil
}

// runServer starts the server under test on a fresh data directory and a
// free port through conformance.ServerProcess, so that the restart tests
// can stop and start it (CONF-060, CONF-068), runs the server tests against
// it and stops it. A server that does not come up fails as the test
// "server/start".
func (h *harness) runServer(ctx context.Context, dir, bin string) ([]*conformance.Result, error) {
	sk, err := keyfile.Generate()
	if err != nil {
		return nil, err
	}
	skFile := filepath.Join(dir, "server.key")
	if err := keyfile.SavePrivate(skFile, sk); err != nil {
		return nil, err
	}
	var pubs [2]ed25519.PrivateKey
	var pubFiles [2]string
	for i := range pubs {
		if pubs[i], err = keyfile.Generate(); err != nil {
			return nil, err
		}
		pb, err := keyfile.MarshalPublic(pubs[i].Public().(ed25519.PublicKey))
		if err != nil {
			return nil, err
		}
		pubFiles[i] = filepath.Join(dir, fmt.Sprintf("publisher%d.pub", i))
		if err := os.WriteFile(pubFiles[i], pb, 0o644); err != nil {
			return nil, err
		}
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	p := &conformance.ServerProcess{Command: "exec " + q(bin) + " serve -data " + q(filepath.Join(dir, "data")) + " -key " + q(skFile) +
		" -publisher " + q(pubFiles[0]) + " -publisher " + q(pubFiles[1]) +
		fmt.Sprintf(" -listen 127.0.0.1:0 -handshake-timeout 1s -sync NORMAL -log-level error -max-pending %d", serverMaxPending)}
	if err := p.Start(ctx); err != nil {
		return []*conformance.Result{{ID: "server/start", Kind: "server", Status: conformance.Fail, Message: err.Error()}}, nil
	}
	defer p.Stop()
	var fp [32]byte
	id := sig.KeyID(sk.Public().(ed25519.PublicKey))
	copy(fp[:], id[:])
	target := &conformance.ServerTarget{BaseURL: p.URL(), Fingerprint: fp, Publisher: pubs[0], HandshakeTimeout: time.Second,
		Process: p, MaxPending: serverMaxPending, OtherPublisher: pubs[1]}
	return conformance.RunServer(ctx, target, nil), nil
}

// serverMaxPending is the pending limit the harness gives the server: above
// the replay window W, so that more than W pending messages fit, and small
// enough that filling it stays quick (API-028).
const serverMaxPending = 1500

// runBaseline runs every mode against the unmutated tree; a test failing
// there is flaky or broken, and never counts as a kill.
func (h *harness) runBaseline(ctx context.Context) error {
	dir := filepath.Join(h.work, "baseline")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := h.buildFor(ctx, dir, "", modes)
	if err != nil {
		return fmt.Errorf("the unmutated tree does not build: %w", err)
	}
	h.baseline = map[string]map[string]bool{}
	for _, mode := range modes {
		failed, err := h.runMode(ctx, dir, mode, b)
		if err != nil {
			return fmt.Errorf("baseline %s mode: %w", mode, err)
		}
		h.baseline[mode] = map[string]bool{}
		for _, id := range failed {
			h.baseline[mode][id] = true
		}
		if len(failed) > 0 {
			fmt.Fprintf(h.log, "baseline: %s mode fails %v unmutated; these tests kill no mutant\n", mode, failed)
		}
	}
	return nil
}

// runMutant applies m in a scratch directory, builds what its modes need and
// runs the suite in each mode.
func (h *harness) runMutant(ctx context.Context, m *Mutant) *Outcome {
	start := time.Now()
	o := &Outcome{Mutant: m, KilledBy: map[string][]string{}}
	defer func() { o.Duration = time.Since(start) }()
	dir, err := os.MkdirTemp(h.work, m.ID+"-")
	if err != nil {
		o.Status, o.Detail = Invalid, err.Error()
		return o
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(h.root, filepath.FromSlash(m.File))
	src, err := os.ReadFile(path)
	if err != nil {
		o.Status, o.Detail = Stale, err.Error()
		return o
	}
	mutated, err := m.apply(string(src))
	if err != nil {
		o.Status, o.Detail = Stale, err.Error()
		return o
	}
	mfile := filepath.Join(dir, "mutated-"+filepath.Base(path))
	if err := os.WriteFile(mfile, []byte(mutated), 0o644); err != nil {
		o.Status, o.Detail = Invalid, err.Error()
		return o
	}
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {path: mfile}})
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, ov, 0o644); err != nil {
		o.Status, o.Detail = Invalid, err.Error()
		return o
	}
	bin, err := h.buildFor(ctx, dir, overlay, m.Modes)
	o.Build = time.Since(start)
	if err != nil {
		o.Status, o.Detail = Invalid, err.Error()
		return o
	}
	mctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	for _, mode := range m.Modes {
		failed, err := h.runMode(mctx, dir, mode, bin)
		if mctx.Err() != nil {
			o.TimedOut = append(o.TimedOut, mode)
			continue
		}
		if err != nil {
			// The runner could not judge (a shim that crashed at once):
			// every test of the mode failed to run.
			failed = []string{mode + "/run: " + err.Error()}
		}
		h.record(o, mode, failed)
	}
	o.decide(ctx.Err() != nil)
	return o
}

// record adds the failed tests of one mode as kills, except those that
// fail on the unmutated tree too (CONF-049).
func (h *harness) record(o *Outcome, mode string, failed []string) {
	for _, id := range failed {
		if !h.baseline[mode][id] {
			o.KilledBy[mode] = append(o.KilledBy[mode], id)
		}
	}
}

// decide sets the status from the kills and timeouts (CONF-050, CONF-051).
func (o *Outcome) decide(interrupted bool) {
	switch {
	case interrupted:
		o.Status, o.Detail = Invalid, "interrupted"
	case len(o.KilledBy) > 0:
		o.Status = Killed
	case len(o.TimedOut) > 0:
		o.Status = Timeout
	case o.Equivalent != "":
		o.Status = Equivalent
	default:
		o.Status = Survived
	}
	if len(o.KilledBy) == 0 {
		o.KilledBy = nil
	}
}
