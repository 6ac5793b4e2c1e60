package sig

import (
	"crypto/rand"
	"crypto/sha512"
	"hash"
	"io"
	"slices"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

var generator = edwards25519.NewGeneratorPoint()

// BatchVerifier verifies many witnessed signatures at once (SIG-011).
//
// Its per-signature results are exactly those of VerifyWitnessed, except with
// probability at most 2⁻¹²⁸ over its random coefficients: every signature's
// pre-checks (key, witness, non-identity R, canonical S) run one by one with
// the same code as VerifyWitnessed; the signatures that pass them enter one
// random linear combination of their equations; if that fails, each of them
// is verified on its own with VerifyWitnessed.
//
// Soundness rests on every point of the combination being torsion-free: keys
// by SIG-001, R by the witness (SIG-010), B by construction. Without the
// witness a signature whose R carries a small-order component would pass the
// combination for some coefficients (see TestWitnessIsWhatMakesBatchSound).
//
// A BatchVerifier is not safe for concurrent use. It keeps its scratch space
// between calls: after the first Verify of a given size, Add and Verify do
// not allocate per signature.
type BatchVerifier struct {
	rand  io.Reader
	items []batchItem

	// Scratch space, reused by Verify.
	live    []int  // indexes of the items that passed the pre-checks
	match   []bool // [8]W encodes to R, per live item
	fe      []field.Element
	rs      []edwards25519.Point  // R of live item j
	ss      []edwards25519.Scalar // S of live item j
	coeffs  []edwards25519.Scalar // the scalars of the multi-scalar multiplication
	scalars []*edwards25519.Scalar
	points  []*edwards25519.Point
	zbytes  []byte
	keys    map[[PublicKeySize]byte]int
	h       hash.Hash
	prefix  []byte
	digest  [sha512.Size]byte
	sum     edwards25519.Point
}

type batchItem struct {
	key               *PublicKey
	label             string
	msg, sig, witness []byte
}

// NewBatchVerifier returns a BatchVerifier drawing its 128-bit coefficients
// from rand (nil: crypto/rand.Reader). The coefficients must be unpredictable
// to whoever chose the signatures; a fixed rand is for reproducible tests
// only. The zero BatchVerifier is usable and draws from crypto/rand.
func NewBatchVerifier(rand io.Reader) *BatchVerifier {
	return &BatchVerifier{rand: rand}
}

// Add queues one signature of label || 0x00 || msg under k with its witness.
// The slices are not copied: they must stay unchanged until Verify returns.
func (v *BatchVerifier) Add(k *PublicKey, label string, msg, sig, witness []byte) {
	v.items = append(v.items, batchItem{k, label, msg, sig, witness})
}

// Len returns the number of queued signatures.
func (v *BatchVerifier) Len() int { return len(v.items) }

// Reset drops the queued signatures and keeps the storage.
func (v *BatchVerifier) Reset() { clear(v.items); v.items = v.items[:0] }

// Verify checks every queued signature (SIG-011). results[i] is what
// VerifyWitnessed returns for the i-th signature added, nil if it is valid;
// allValid is true exactly when every result is nil (and for an empty
// batch). The queue is kept: call Reset before reusing the verifier for
// another set.
func (v *BatchVerifier) Verify() (allValid bool, results []error) {
	n := len(v.items)
	results = make([]error, n)
	v.precheck(results)
	if len(v.live) > 0 && !v.equation() {
		return v.oneByOne(results)
	}
	for _, err := range results {
		if err != nil {
			return false, results
		}
	}
	return true, results
}

// precheck runs every check of VerifyWitnessed except the equation, in the
// same order and with the same functions, so that a signature failing
// several reports the same first failure: key, lengths and canonical W
// (witnessTimesEight); [8]W encoded is R (SIG-010); R not the identity and S
// canonical (preVerify). It leaves in v.live the items that pass, with R in
// v.rs and S in v.ss.
func (v *BatchVerifier) precheck(results []error) {
	n := len(v.items)
	v.live = v.live[:0]
	v.rs = grow(v.rs, n)
	v.ss = grow(v.ss, n)
	for i := range v.items {
		it := &v.items[i]
		if !it.key.valid() {
			results[i] = errKeyUnvalidated
			continue
		}
		if err := witnessTimesEight(&v.rs[len(v.live)], it.sig, it.witness); err != nil {
			results[i] = err
			continue
		}
		v.live = append(v.live, i)
	}
	v.compareWitnesses()
	live := v.live[:0]
	for j, i := range v.live {
		it := &v.items[i]
		if !v.match[j] {
			results[i] = errWitnessMismatch
			continue
		}
		if err := preVerify(it.key, it.sig); err != nil {
			results[i] = err
			continue
		}
		k := len(live)
		if k != j {
			v.rs[k].Set(&v.rs[j])
		}
		if _, err := v.ss[k].SetCanonicalBytes(it.sig[32:]); err != nil {
			results[i] = errSigS // unreachable: preVerify checked S
			continue
		}
		live = append(live, i)
	}
	v.live = live
}

// compareWitnesses sets v.match[j] to whether the canonical encoding of the
// point v.rs[j] = [8]W is the R of live item j. Encoding needs x = X/Z and
// y = Y/Z; the inverses of all Z are computed with one field inversion
// (Montgomery's trick) instead of one per signature.
func (v *BatchVerifier) compareWitnesses() {
	m := len(v.live)
	v.match = grow(v.match, m)
	v.fe = grow(v.fe, 2*m) // [0, m): prefix products; [m, 2m): Z
	prefix, zs := v.fe[:m], v.fe[m:]
	var acc, inv, zinv, x, y field.Element
	acc.One()
	for j := range m {
		_, _, z, _ := v.rs[j].ExtendedCoordinates()
		zs[j].Set(z)
		prefix[j].Set(&acc)
		acc.Multiply(&acc, z) // never zero: Z of a curve point
	}
	inv.Invert(&acc)
	for j := m - 1; j >= 0; j-- {
		zinv.Multiply(&inv, &prefix[j])
		inv.Multiply(&inv, &zs[j])
		X, Y, _, _ := v.rs[j].ExtendedCoordinates()
		x.Multiply(X, &zinv)
		y.Multiply(Y, &zinv)
		var enc [32]byte
		copy(enc[:], y.Bytes())
		enc[31] |= byte(x.IsNegative() << 7)
		v.match[j] = enc == [32]byte(v.items[v.live[j]].sig[:32])
	}
}

// equation checks Σ zⱼ·(Rⱼ + [kⱼ]Aⱼ − [Sⱼ]B) = identity over the live items,
// with v.rs and v.ss holding their R and S, as
//
//	Σ zⱼ·Rⱼ + Σ_A (Σ_{j: Aⱼ=A} zⱼ·kⱼ)·A − (Σ zⱼ·Sⱼ)·B = identity,
//
// one term per distinct key: the common case, many batches from one signer,
// costs one key term in all. zⱼ are independent uniform 128-bit integers
// (SIG-011). If the random source fails, equation reports false and every
// signature is checked on its own.
func (v *BatchVerifier) equation() bool {
	m := len(v.live)
	v.zbytes = grow(v.zbytes, 16*m)
	r := v.rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, v.zbytes); err != nil {
		return false
	}
	if v.h == nil {
		v.h = sha512.New()
		v.keys = make(map[[PublicKeySize]byte]int)
	}
	clear(v.keys)

	// At most one term per R, one per key, and B.
	v.coeffs = grow(v.coeffs, 2*m+1)
	v.scalars = v.scalars[:0]
	v.points = v.points[:0]
	bSum := &v.coeffs[2*m]
	bSum.Set(zeroScalar)
	var (
		zb      [32]byte
		k, zk   edwards25519.Scalar
		lastKey *PublicKey
		lastIdx int
	)
	for j, i := range v.live {
		it := &v.items[i]
		z := &v.coeffs[len(v.scalars)]
		copy(zb[:16], v.zbytes[16*j:])
		if _, err := z.SetCanonicalBytes(zb[:]); err != nil {
			return false // unreachable: a 128-bit integer is below L
		}
		v.scalars = append(v.scalars, z)
		v.points = append(v.points, &v.rs[j])

		// k = SHA-512(R || A || label || 0x00 || msg) mod L (SIG-003).
		v.prefix = append(append(append(append(v.prefix[:0], it.sig[:32]...), it.key.enc[:]...), it.label...), 0)
		v.h.Reset()
		v.h.Write(v.prefix)
		v.h.Write(it.msg)
		if _, err := k.SetUniformBytes(v.h.Sum(v.digest[:0])); err != nil {
			return false // unreachable: the digest is 64 bytes
		}
		zk.Multiply(z, &k)

		idx, ok := lastIdx, it.key == lastKey
		if !ok {
			idx, ok = v.keys[it.key.enc]
		}
		if ok {
			v.scalars[idx].Add(v.scalars[idx], &zk)
		} else {
			idx = len(v.scalars)
			v.keys[it.key.enc] = idx
			c := &v.coeffs[idx]
			c.Set(&zk)
			v.scalars = append(v.scalars, c)
			v.points = append(v.points, it.key.point)
		}
		lastKey, lastIdx = it.key, idx

		bSum.MultiplyAdd(z, &v.ss[j], bSum)
	}
	bSum.Negate(bSum)
	v.scalars = append(v.scalars, bSum)
	v.points = append(v.points, generator)

	// Every point is public: variable time is safe.
	v.sum.VarTimeMultiScalarMult(v.scalars, v.points)
	ok := v.sum.Equal(identity) == 1
	clear(v.points) // do not keep the callers' keys alive
	return ok
}

// oneByOne fills in the results of the items that passed the pre-checks.
func (v *BatchVerifier) oneByOne(results []error) (bool, []error) {
	ok := true
	for _, i := range v.live {
		it := &v.items[i]
		results[i] = VerifyWitnessed(it.key, it.label, it.msg, it.sig, it.witness)
	}
	for _, err := range results {
		ok = ok && err == nil
	}
	return ok, results
}

// grow returns s with length n, reusing its storage when it is large enough.
func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return slices.Grow(s[:0], n)[:n]
	}
	return s[:n]
}
