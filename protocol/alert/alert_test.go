package alert

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodesHaveDistinctNames(t *testing.T) {
	seen := map[string]Code{}
	for _, c := range Codes() {
		n := c.String()
		if prev, dup := seen[n]; dup {
			t.Fatalf("codes %d and %d share the name %q", prev, c, n)
		}
		seen[n] = c
	}
	if len(seen) != len(names) {
		t.Fatalf("Codes() returned %d codes, registry has %d", len(seen), len(names))
	}
	if Code(200).Known() || Code(200).String() != "alert(200)" {
		t.Fatal("unknown code")
	}
}

func TestCodeOfUnwraps(t *testing.T) {
	err := fmt.Errorf("batch: leaf 3: %w", New(BadProof, "path"))
	if c, ok := CodeOf(err); !ok || c != BadProof {
		t.Fatalf("CodeOf = %v %v", c, ok)
	}
	if !errors.Is(err, Sentinel(BadProof)) || errors.Is(err, Sentinel(BadSignature)) {
		t.Fatal("errors.Is by code")
	}
	if c, ok := CodeOf(errors.New("plain")); !ok || c != InternalError {
		t.Fatal("an error without a code maps to internal_error")
	}
	if _, ok := CodeOf(nil); ok {
		t.Fatal("nil has a code")
	}
	if !ReplayedMessage.LocalOnly() || !StaleMessage.LocalOnly() || BadProof.LocalOnly() {
		t.Fatal("local-only codes (ALERT-002)")
	}
}

func TestFindOnlyReportsCarriedCodes(t *testing.T) {
	if _, ok := Find(errors.New("socket closed")); ok {
		t.Fatal("Find reported a code for a plain error")
	}
	if _, ok := Find(nil); ok {
		t.Fatal("Find reported a code for nil")
	}
	if c, ok := Find(fmt.Errorf("wrapped: %w", New(BadProof, "x"))); !ok || c != BadProof {
		t.Fatalf("Find(wrapped bad_proof) = %v, %v", c, ok)
	}
}
