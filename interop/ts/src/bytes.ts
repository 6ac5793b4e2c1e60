/**
 * Byte helpers shared by every module: hex, concatenation, constant-time comparison and big-endian
 * integers. Platform neutral (no Buffer, no Node imports): runs in browsers and in Node.
 */

/** Lower-case hex of `b`. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a hex string (even length, [0-9a-fA-F] only). */
export function fromHex(h: string): Uint8Array {
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new TypeError('invalid hex string');
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

/** Concatenation of byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Constant-time equality (the time depends on the lengths only). Used wherever the spec says
 * "compared in constant time": ID-003, HS-023, BATCH-012.
 */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Ordinary equality, for public values. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True if every byte is zero, in constant time. */
export function isAllZero(a: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]!;
  return d === 0;
}

/** Best-effort erasure of secrets (KS-003). */
export function wipe(...bs: (Uint8Array | undefined)[]): void {
  for (const b of bs) if (b) b.fill(0);
}

export const MAX_U64 = (1n << 64n) - 1n;

export function u8(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff);
}
export function u16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}
export function u24(v: number): Uint8Array {
  return Uint8Array.of((v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
export function u32(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
export function u64(v: bigint): Uint8Array {
  if (v < 0n || v > MAX_U64) throw new RangeError('u64 out of range');
  const out = new Uint8Array(8);
  let x = v;
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Big-endian unsigned integer of up to 8 bytes as a bigint. */
export function readBigUint(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** XOR of `iv` (12 bytes) with `0^4 || uint64 seq`: the nonce of §8 and §10.2. */
export function xorNonce(iv: Uint8Array, seq: bigint): Uint8Array {
  const n = Uint8Array.from(iv);
  const s = u64(seq);
  for (let i = 0; i < 8; i++) n[4 + i] = n[4 + i]! ^ s[i]!;
  return n;
}

const enc = new TextEncoder();
/** UTF-8 bytes of a string (labels are ASCII). */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}
