/**
 * The pinned Ed25519 rule (spec §4.2): Go's crypto/ed25519.Verify rule (cofactorless equation, canonical S,
 * R compared against the canonical encoding of the recomputed point) strengthened by public-key validation
 * (SIG-001) and R ≠ identity (SIG-004). Batch signatures (§10.4) are checked by the same rule, one by one.
 *
 * Built on @noble/curves' Edwards point arithmetic only; the equation, the encodings and every check are
 * written out here so that the rule is the spec's and not a library default.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { type AlertName, fail, SealFeedError } from './alert.js';
import { bytesEqual, concat, u8, utf8 } from './bytes.js';

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

/**
 * Single verification under the pinned rule (SIG-002 … SIG-005) of `sig` over label ‖ 0x00 ‖ msg. A failure
 * throws `alert` (default `bad_signature`, SIG-005; CRED-003 and CRED-010 name `bad_credential`).
 */
export function verify(
  key: ValidatedKey,
  label: string,
  msg: Uint8Array,
  sig: Uint8Array,
  opts: { alert?: AlertName; requirement?: string } = {},
): void {
  const alert = opts.alert ?? 'bad_signature';
  try {
    verifySigned(key, signedMessage(label, msg), sig);
  } catch (e) {
    if (e instanceof SealFeedError && alert !== 'bad_signature') fail(alert, e.message, opts.requirement ?? e.requirement);
    throw e;
  }
}

/** Single verification over the complete signed message (label ‖ 0x00 ‖ msg already applied). */
export function verifySigned(key: ValidatedKey, fullMsg: Uint8Array, sig: Uint8Array): void {
  // SIG-002: 64 bytes, S < L; SIG-004: R is not the identity encoding.
  if (sig.length !== 64) fail('bad_signature', 'signature must be 64 bytes', 'SIG-002');
  const R = sig.subarray(0, 32);
  const S = leToBigint(sig.subarray(32, 64));
  if (S >= L) fail('bad_signature', 'non-canonical S', 'SIG-002');
  if (bytesEqual(R, IDENTITY_ENCODING)) fail('bad_signature', 'R is the identity', 'SIG-004');
  // SIG-003: R' = [S]B − [k]A, accepted only if the canonical encoding of R' equals the 32 bytes R.
  const k = challenge(R, key.bytes, fullMsg);
  const Rp = Point.BASE.multiplyUnsafe(S).subtract(key.point.multiplyUnsafe(k));
  if (!bytesEqual(Rp.toBytes(), R)) fail('bad_signature', 'signature equation fails', 'SIG-003');
}
