/** ReconnectingClient's delays (the live reconnect is in interop-go.test.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelayMs, type RandomSource } from '../src/index.js';

const fixed =
  (byte: number): RandomSource =>
  (n) =>
    new Uint8Array(n).fill(byte);

test('backoffDelayMs: full jitter in [1, min(max, min·2^attempt)]', () => {
  // the largest draw reaches the cap, which doubles per attempt up to maxMs
  const top = fixed(0xff);
  assert.deepEqual(
    [0, 1, 2, 3, 8, 9, 40].map((a) => backoffDelayMs(a, 100, 30_000, top)),
    [100, 200, 400, 800, 25_600, 30_000, 30_000],
  );
  // the smallest draw is 1 ms, never 0 (no tight loop)
  assert.equal(backoffDelayMs(5, 100, 30_000, fixed(0)), 1);
  // a draw in the middle
  assert.equal(backoffDelayMs(0, 100, 30_000, fixed(0x80)), 51);
  assert.throws(() => backoffDelayMs(-1), RangeError);
  assert.throws(() => backoffDelayMs(0, 0, 10), RangeError);
  assert.throws(() => backoffDelayMs(0, 100, 50), RangeError);
});
