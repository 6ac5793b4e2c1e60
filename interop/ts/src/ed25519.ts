/**
 * The pinned Ed25519 rule (spec §4.2): Go's crypto/ed25519.Verify rule (cofactorless equation, canonical S,
 * R compared against the canonical encoding of the recomputed point) strengthened by public-key validation
 * (SIG-001), R ≠ identity (SIG-004) and, for batch signatures, the torsion witness (SIG-010). Batch
 * verification (SIG-011) accepts exactly what single verification accepts.
 *
 * Built on @noble/curves' Edwards point arithmetic only; the equation, the encodings and every check are
 * written out here so that the rule is the spec's and not a library default.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { type AlertName, fail, SealFeedError } from './alert.js';
import { bytesEqual, concat, u8, utf8 } from './bytes.js';
import { secureRandom, type RandomSource } from './random.js';

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;

/** The prime order L of the base point. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The encoding of the identity point, `01 00 … 00` (SIG-004). */
const IDENTITY_ENCODING = (() => {
  const b = new Uint8Array(32);
  b[0] = 1;
  return b;
})();

function leToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/**
 * Strict point decoding (RFC 8032 §5.1.3): the y coordinate (bit 255 cleared) must be < p, the point must
 * be on the curve, and x = 0 with the sign bit set is rejected. Returns undefined on failure.
 */
export function decodePoint(b: Uint8Array): EdPoint | undefined {
  if (b.length !== 32) return undefined;
  try {
    return Point.fromBytes(b, false);
  } catch {
    return undefined;
  }
}

/** An Ed25519 public key that passed SIG-001. */
export interface ValidatedKey {
  readonly bytes: Uint8Array;
  readonly point: EdPoint;
}

/**
 * SIG-001: rejects (`bad_key`) a key that is not a canonical encoding, does not decode to a curve point, is
 * of small order (the identity included), or has a small-order component ([L]A ≠ identity). Keys are
 * validated once, when loaded, pinned or received.
 */
export function validatePublicKey(pk: Uint8Array, alert: AlertName = 'bad_key', requirement = 'SIG-001'): ValidatedKey {
  if (pk.length !== 32) fail(alert, 'Ed25519 public key must be 32 bytes', requirement);
  const A = decodePoint(pk);
  if (!A) fail(alert, 'Ed25519 public key is not a canonical curve point', requirement);
  if (A.isSmallOrder()) fail(alert, 'Ed25519 public key of small order', requirement);
  if (!A.isTorsionFree()) fail(alert, 'Ed25519 public key with a small-order component', requirement);
  return { bytes: Uint8Array.from(pk), point: A };
}

/** §4.2: the signed message is label ‖ 0x00 ‖ msg. */
export function signedMessage(label: string, msg: Uint8Array): Uint8Array {
  return concat(utf8(label), u8(0), msg);
}

/** `Sign(sk, label, msg)`: pure Ed25519 (RFC 8032, deterministic) over label ‖ 0x00 ‖ msg, with a 32-byte seed. */
export function sign(seed: Uint8Array, label: string, msg: Uint8Array): Uint8Array {
  return ed25519.sign(signedMessage(label, msg), seed);
}

/** The public key of a 32-byte Ed25519 seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** k = SHA-512(R ‖ A ‖ M) mod L (SIG-003). */
function challenge(R: Uint8Array, A: Uint8Array, M: Uint8Array): bigint {
  return mod(leToBigint(sha512(concat(R, A, M))), L);
}

interface Prechecked {
  R: Uint8Array;
  S: bigint;
  k: bigint;
  Rpoint: EdPoint | undefined;
}

/**
 * The checks of single verification that come before the equation: SIG-002 (S < L), SIG-004 (R is not the
 * identity encoding) and, when a witness is given, SIG-010 (W canonical and [8]W = R). Throws bad_signature.
 */
function precheck(key: ValidatedKey, fullMsg: Uint8Array, sig: Uint8Array, witness: Uint8Array | undefined): Prechecked {
  if (sig.length !== 64) fail('bad_signature', 'signature must be 64 bytes', 'SIG-002');
  const R = sig.subarray(0, 32);
  const S = leToBigint(sig.subarray(32, 64));
  if (S >= L) fail('bad_signature', 'non-canonical S', 'SIG-002');
  if (bytesEqual(R, IDENTITY_ENCODING)) fail('bad_signature', 'R is the identity', 'SIG-004');
  let Rpoint: EdPoint | undefined;
  if (witness !== undefined) {
    // SIG-010: W must be a canonical point encoding and [8]W must equal the point R.
    const W = witness.length === 32 ? decodePoint(witness) : undefined;
    if (!W) fail('bad_signature', 'witness is not a canonical point', 'SIG-010');
    Rpoint = decodePoint(R);
    if (!Rpoint || !W.clearCofactor().equals(Rpoint)) fail('bad_signature', 'witness check [8]W = R fails', 'SIG-010');
  }
  return { R, S, k: challenge(R, key.bytes, fullMsg), Rpoint };
}

/**
 * Single verification under the pinned rule (SIG-002 … SIG-005, and SIG-010 when `witness` is given) of
 * `sig` over label ‖ 0x00 ‖ msg. A failure throws `alert` (default `bad_signature`, SIG-005; CRED-003 and
 * CRED-010 name `bad_credential`).
 */
export function verify(
  key: ValidatedKey,
  label: string,
  msg: Uint8Array,
  sig: Uint8Array,
  opts: { witness?: Uint8Array; alert?: AlertName; requirement?: string } = {},
): void {
  const alert = opts.alert ?? 'bad_signature';
  try {
    verifySigned(key, signedMessage(label, msg), sig, opts.witness);
  } catch (e) {
    if (e instanceof SealFeedError && alert !== 'bad_signature') fail(alert, e.message, opts.requirement ?? e.requirement);
    throw e;
  }
}

/** Single verification over the complete signed message (label ‖ 0x00 ‖ msg already applied). */
export function verifySigned(key: ValidatedKey, fullMsg: Uint8Array, sig: Uint8Array, witness?: Uint8Array): void {
  const p = precheck(key, fullMsg, sig, witness);
  // SIG-003: R' = [S]B − [k]A, accepted only if the canonical encoding of R' equals the 32 bytes R.
  const Rp = Point.BASE.multiplyUnsafe(p.S).subtract(key.point.multiplyUnsafe(p.k));
  if (!bytesEqual(Rp.toBytes(), p.R)) fail('bad_signature', 'signature equation fails', 'SIG-003');
}

/** One signature of a batch verification. */
export interface BatchItem {
  /** the raw public key; it is validated here (SIG-001) */
  publicKey: Uint8Array;
  /** label ‖ 0x00 ‖ msg */
  message: Uint8Array;
  signature: Uint8Array;
  /** the torsion witness (SIG-010); batch verification is for witnessed batch signatures */
  witness: Uint8Array;
}

/**
 * SIG-011: batch verification. Checks SIG-001 for every key, SIG-002, SIG-004 and SIG-010 for every
 * signature, then the cofactorless equation Σ zᵢ·(Rᵢ + [kᵢ]Aᵢ − [Sᵢ]B) = identity with independent
 * uniformly random 128-bit zᵢ; if it fails, verifies one by one to find which failed. Returns, per item,
 * undefined (valid) or the error single verification reports.
 */
export function verifyBatch(items: BatchItem[], random: RandomSource = secureRandom): (SealFeedError | undefined)[] {
  const results: (SealFeedError | undefined)[] = new Array(items.length).fill(undefined);
  const pending: { i: number; key: ValidatedKey; p: Prechecked }[] = [];
  items.forEach((it, i) => {
    try {
      const key = validatePublicKey(it.publicKey);
      const p = precheck(key, it.message, it.signature, it.witness);
      pending.push({ i, key, p });
    } catch (e) {
      results[i] = e instanceof SealFeedError ? e : new SealFeedError('bad_signature', 'verification error');
    }
  });
  if (pending.length === 0) return results;
  let acc = Point.ZERO;
  let sSum = 0n;
  for (const { key, p } of pending) {
    let z = 0n;
    while (z === 0n) z = leToBigint(random(16));
    // R decoded by the witness check (SIG-010): canonical and torsion-free
    acc = acc.add(p.Rpoint!.multiplyUnsafe(z)).add(key.point.multiplyUnsafe(mod(z * p.k, L)));
    sSum = mod(sSum + z * p.S, L);
  }
  acc = acc.subtract(Point.BASE.multiplyUnsafe(sSum));
  if (acc.is0()) return results;
  for (const { i, key } of pending) {
    try {
      verifySigned(key, items[i]!.message, items[i]!.signature, items[i]!.witness);
    } catch (e) {
      results[i] = e instanceof SealFeedError ? e : new SealFeedError('bad_signature', 'verification error');
    }
  }
  return results;
}

/**
 * SIG-010, signer side: W = [8⁻¹ mod L]R for the R of a signature (BATCH-022). For tests and tools; a client
 * only checks witnesses.
 */
export function computeWitness(sig: Uint8Array): Uint8Array {
  const R = decodePoint(sig.subarray(0, 32));
  if (!R) throw new RangeError('signature R is not a point');
  const inv8 = modPow(8n, L - 2n, L);
  return R.multiplyUnsafe(inv8).toBytes();
}

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  let x = mod(b, m);
  let k = e;
  while (k > 0n) {
    if (k & 1n) r = (r * x) % m;
    x = (x * x) % m;
    k >>= 1n;
  }
  return r;
}
