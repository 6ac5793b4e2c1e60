/**
 * Merkle trees (spec §10.3): RFC 9162 §2.1.1 Merkle Tree Hash over encoded Leaf structures, and inclusion
 * proofs checked with RFC 9162 §2.1.3.2 (MERKLE-001, MERKLE-003).
 */
import { fail } from './alert.js';
import { bytesEqual, concat, u8 } from './bytes.js';
import { hash } from './keyschedule.js';

/** leaf_hash = SHA-256(0x00 ‖ Leaf) */
export function leafHash(leaf: Uint8Array): Uint8Array {
  return hash(concat(u8(0), leaf));
}

/** node = SHA-256(0x01 ‖ left ‖ right) */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return hash(concat(u8(1), left, right));
}

/** RFC 9162 §2.1.1: the Merkle Tree Hash of `leaves` (n ≥ 1), split at the largest power of two < n. */
export function merkleRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) throw new RangeError('a batch has at least one leaf (MERKLE-002)');
  const rec = (lo: number, hi: number): Uint8Array => {
    const n = hi - lo;
    if (n === 1) return leafHash(leaves[lo]!);
    let k = 1;
    while (k * 2 < n) k *= 2;
    return nodeHash(rec(lo, lo + k), rec(lo + k, hi));
  };
  return rec(0, leaves.length);
}

/** RFC 9162 §2.1.3: the audit path of leaf `index` (for tests and tools; a client only verifies). */
export function auditPath(leaves: Uint8Array[], index: number): Uint8Array[] {
  const rec = (lo: number, hi: number, m: number): Uint8Array[] => {
    const n = hi - lo;
    if (n === 1) return [];
    let k = 1;
    while (k * 2 < n) k *= 2;
    if (m < k) return [...rec(lo, lo + k, m), merkleRoot(leaves.slice(lo + k, hi))];
    return [...rec(lo + k, hi, m - k), merkleRoot(leaves.slice(lo, lo + k))];
  };
  return rec(0, leaves.length, index);
}

/**
 * MERKLE-001: verifies the inclusion of `leaf` at `leafIndex` in a tree of `leafCount` leaves (the signed
 * count, MERKLE-003) against `root`, with RFC 9162 §2.1.3.2. Rejects (`bad_proof`) an index ≥ the count, a
 * path of another length than the algorithm needs, and a recomputed root that differs.
 */
export function verifyInclusion(leafIndex: number, leafCount: number, leaf: Uint8Array, path: Uint8Array[], root: Uint8Array): void {
  if (!(leafIndex < leafCount)) fail('bad_proof', 'leaf index not below the leaf count', 'MERKLE-001');
  // integers up to 2^32 − 1: halve with division, not 32-bit shifts
  let fn = leafIndex;
  let sn = leafCount - 1;
  let r = leafHash(leaf);
  for (const p of path) {
    if (sn === 0) fail('bad_proof', 'audit path too long', 'MERKLE-001');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) fail('bad_proof', 'audit path too short', 'MERKLE-001');
  if (!bytesEqual(r, root)) fail('bad_proof', 'recomputed root differs', 'MERKLE-001');
}
