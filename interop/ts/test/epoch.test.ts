/**
 * Store epochs (ID-004): one window per (client ID, store epoch), epochs left refused (REPLAY-020), a new window
 * with redelivery marks after a restore (REPLAY-021, DLV-005).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EpochState, MAX_PAST_EPOCHS, SealFeedError } from '../src/index.js';

const id = new Uint8Array(32).fill(1);
const other = new Uint8Array(32).fill(2);
const ep = (b: number): Uint8Array => new Uint8Array(16).fill(b);

function alertOf(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof SealFeedError ? e.alert : String(e);
  }
}

test('REPLAY-020/021: a restore starts a new window with redelivery marks; an epoch left is replayed_epoch', () => {
  const s = new EpochState();
  s.enter(id, ep(1), 0n);
  assert.equal(s.possibleRedelivery(1n), false);
  s.enter(id, ep(2), 5n); // a restore
  assert.equal(s.possibleRedelivery(5n), true);
  assert.equal(s.possibleRedelivery(6n), false);
  assert.equal(alertOf(() => s.enter(id, ep(1), 3n)), 'replayed_epoch');
  assert.equal(s.epoch, '02'.repeat(16), 'a refused epoch changes nothing');
  // the state survives a restart of the client
  const r = EpochState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
  assert.equal(alertOf(() => r.enter(id, ep(1), 0n)), 'replayed_epoch');
  r.enter(other, ep(2), 9n); // a new client ID: no marks
  assert.equal(r.possibleRedelivery(1n), false);
  assert.equal(alertOf(() => r.enter(other, ep(1), 0n)), 'replayed_epoch');
});

test('REPLAY-020: the newest MAX_PAST_EPOCHS epochs left are kept', () => {
  const s = new EpochState();
  for (let i = 0; i <= MAX_PAST_EPOCHS + 1; i++) s.enter(id, Uint8Array.of(i & 0xff, i >> 8, ...new Uint8Array(14)), 0n);
  assert.equal(s.past.length, MAX_PAST_EPOCHS);
});
