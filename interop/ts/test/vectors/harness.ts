/**
 * Shared pieces of the vector runner: loading files, outcomes, and assertions that name what differed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SealFeedError, toHex } from '../../src/index.js';

/** vectors/v1 relative to the package: interop/ts/../../vectors/v1 (compiled to dist/test/vectors/). */
export function vectorsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/test/vectors -> interop/ts
  const pkg = resolve(here, '..', '..', '..');
  return resolve(pkg, '..', '..', 'vectors', 'v1');
}

export interface VectorFile {
  schema: string;
  version: string;
  area: string;
  header: string[];
  numberOfTests: number;
  notes: Record<string, unknown>;
  testGroups: Array<Record<string, any> & { type: string; tests: Array<Record<string, any>> }>;
}

export function loadVectorFiles(dir = vectorsDir()): { file: string; data: VectorFile }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, data: JSON.parse(readFileSync(join(dir, f), 'utf8')) as VectorFile }));
}

/** One test's outcome. */
export type Outcome = { kind: 'pass' } | { kind: 'fail'; why: string } | { kind: 'na'; reason: string };

export class Mismatch extends Error {}

export function check(cond: boolean, why: string): void {
  if (!cond) throw new Mismatch(why);
}

export function eqHex(actual: Uint8Array | undefined, expectedHex: string, what: string): void {
  const a = actual === undefined ? '<missing>' : toHex(actual);
  if (a !== expectedHex) throw new Mismatch(`${what}: got ${short(a)}, want ${short(expectedHex)}`);
}

export function short(s: string): string {
  return s.length > 80 ? `${s.slice(0, 72)}…(${s.length / 2} bytes)` : s;
}

/**
 * Runs `fn` for a test: valid tests must not throw; invalid ones must throw a SealFeedError with exactly the
 * expected alert (ALERT-002). `fn` may itself throw Mismatch for wrong outputs.
 */
export function runExpecting(t: Record<string, any>, fn: () => void): Outcome {
  try {
    fn();
  } catch (e) {
    if (e instanceof Mismatch) return { kind: 'fail', why: e.message };
    if (e instanceof SealFeedError) {
      if (t.result === 'invalid' && e.alert === t.alert) return { kind: 'pass' };
      return { kind: 'fail', why: `rejected with ${e.alert} (${e.message}), want ${t.result === 'invalid' ? t.alert : 'success'}` };
    }
    return { kind: 'fail', why: `unexpected exception: ${(e as Error)?.stack ?? String(e)}` };
  }
  if (t.result === 'invalid') return { kind: 'fail', why: `accepted, want ${t.alert}` };
  return { kind: 'pass' };
}

/** The alert of a thrown value, for step-wise comparisons. */
export function alertOfThrown(e: unknown): string {
  if (e instanceof SealFeedError) return e.alert;
  if (e instanceof Mismatch) throw e;
  throw e;
}

export const h = (s: string): Uint8Array => {
  if (s.length % 2) throw new Error('odd hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
};
