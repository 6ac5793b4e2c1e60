/**
 * Randomness. Production code uses the platform CSPRNG, `globalThis.crypto.getRandomValues` (browsers and
 * Node ≥ 19); a source can be injected, which the test vectors use to replay the values the reference
 * drew (vectors/README.md, "handshake").
 */

/** Returns `n` random bytes. */
export type RandomSource = (n: number) => Uint8Array;

interface CryptoLike {
  getRandomValues<T extends ArrayBufferView>(array: T): T;
}

/** The platform CSPRNG (HS-001, HS-013, BATCH-003, SIG-011). */
export const secureRandom: RandomSource = (n) => {
  const c = (globalThis as { crypto?: CryptoLike }).crypto;
  if (!c || typeof c.getRandomValues !== 'function') throw new Error('no CSPRNG: globalThis.crypto.getRandomValues is missing');
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call
  for (let o = 0; o < n; o += 65536) c.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
};

/**
 * A deterministic source that hands out `values` in order, each exactly once, and fails if a draw asks
 * for another length than the next value has (so a draw order that differs from the reference's is
 * caught). For test vectors only: never use it for real connections.
 */
export function sequenceRandom(values: Uint8Array[]): RandomSource & { remaining(): number } {
  let i = 0;
  const f = ((n: number) => {
    const v = values[i];
    if (v === undefined) throw new Error(`sequenceRandom: draw ${i} of ${n} bytes, but only ${values.length} values`);
    if (v.length !== n) throw new Error(`sequenceRandom: draw ${i} asks for ${n} bytes, the next value has ${v.length}`);
    i++;
    return Uint8Array.from(v);
  }) as RandomSource & { remaining(): number };
  f.remaining = () => values.length - i;
  return f;
}
