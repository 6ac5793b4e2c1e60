package sig

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"io"

	"filippo.io/edwards25519"

	"github.com/sealfeed/sealfeed/protocol/alert"
)

// BatchVerifier verifies many witnessed signatures at once (SIG-011). Its
// per-signature results are exactly those of VerifyWitnessed: every
// signature's pre-checks (witness, canonical S, non-identity R) run
// individually, the random linear combination of the remaining equations
// runs once, and if it fails every signature is verified on its own.
type BatchVerifier struct {
	rand  io.Reader
	items []batchItem
}

type batchItem struct {
	key               *PublicKey
	label             string
	msg, sig, witness []byte
}

// NewBatchVerifier returns a BatchVerifier drawing its coefficients from
// rand (nil: crypto/rand). A predictable rand makes the batch equation
// unsound; it exists for reproducible tests only.
func NewBatchVerifier(r io.Reader) *BatchVerifier {
	if r == nil {
		r = rand.Reader
	}
	return &BatchVerifier{rand: r}
}

// Add queues one signature. The slices must stay unchanged until Verify.
func (v *BatchVerifier) Add(k *PublicKey, label string, msg, sig, witness []byte) {
	v.items = append(v.items, batchItem{k, label, msg, sig, witness})
}

// Len returns the number of queued signatures.
func (v *BatchVerifier) Len() int { return len(v.items) }

// Reset drops the queued signatures and keeps the storage.
func (v *BatchVerifier) Reset() { clear(v.items); v.items = v.items[:0] }

// Verify checks every queued signature. allValid is true iff every result is
// nil; results[i] is exactly what VerifyWitnessed returns for item i, except
// with probability at most 2⁻¹²⁸ over the coefficients (SIG-011).
func (v *BatchVerifier) Verify() (allValid bool, results []error) {
	results = make([]error, len(v.items))
	if len(v.items) == 0 {
		return true, results
	}
	var (
		scalars []*edwards25519.Scalar
		points  []*edwards25519.Point
		keyIdx  = map[*PublicKey]int{}
		bSum    = edwards25519.NewScalar()
		live    int
		zbuf    [32]byte
		kbuf    [64]byte
	)
	for i := range v.items {
		it := &v.items[i]
		r, err := witnessedR(it.sig, it.witness)
		if err == nil && subtle.ConstantTimeCompare(it.sig[:32], identityEncoding) == 1 {
			err = alert.New(alert.BadSignature, "signature R is the identity (SIG-004)")
		}
		var s *edwards25519.Scalar
		if err == nil {
			if s, err = edwards25519.NewScalar().SetCanonicalBytes(it.sig[32:]); err != nil {
				err = alert.New(alert.BadSignature, "signature S is not canonical (SIG-002)")
			}
		}
		if err != nil {
			results[i] = err
			continue
		}
		if _, err := io.ReadFull(v.rand, zbuf[:16]); err != nil {
			return v.oneByOne(results)
		}
		z, _ := edwards25519.NewScalar().SetCanonicalBytes(zbuf[:])
		h := sha512.New()
		h.Write(it.sig[:32])
		h.Write(it.key.enc[:])
		h.Write([]byte(it.label))
		h.Write([]byte{0})
		h.Write(it.msg)
		k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(kbuf[:0]))

		// z·R
		scalars = append(scalars, z)
		points = append(points, r)
		// z·k·A, merged per key
		zk := edwards25519.NewScalar().Multiply(z, k)
		if j, ok := keyIdx[it.key]; ok {
			scalars[j].Add(scalars[j], zk)
		} else {
			keyIdx[it.key] = len(scalars)
			scalars = append(scalars, zk)
			points = append(points, it.key.point)
		}
		// −z·S·B, summed
		bSum.MultiplyAdd(z, s, bSum)
		live++
	}
	if live == 0 {
		return false, results
	}
	scalars = append(scalars, edwards25519.NewScalar().Negate(bSum))
	points = append(points, edwards25519.NewGeneratorPoint())
	sum := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	if sum.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return v.oneByOne(results)
	}
	for _, err := range results {
		if err != nil {
			return false, results
		}
	}
	return true, results
}

// oneByOne fills in the results of the items that passed the pre-checks.
func (v *BatchVerifier) oneByOne(results []error) (bool, []error) {
	ok := true
	for i := range v.items {
		if results[i] == nil {
			it := &v.items[i]
			results[i] = VerifyWitnessed(it.key, it.label, it.msg, it.sig, it.witness)
		}
		ok = ok && results[i] == nil
	}
	return ok, results
}
