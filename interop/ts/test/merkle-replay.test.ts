/**
 * Merkle proofs (§10.3) and replay protection (§11).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditPath, merkleRoot, MessageWindow, ReplayState, SealFeedError, secureRandom, verifyInclusion } from '../src/index.js';

test('every audit path of trees of 1 … 40 leaves verifies, and only for its own index (MERKLE-001)', () => {
  for (let n = 1; n <= 40; n++) {
    const leaves = Array.from({ length: n }, (_, i) => Uint8Array.of(1, i, n));
    const root = merkleRoot(leaves);
    for (let i = 0; i < n; i++) {
      const p = auditPath(leaves, i);
      verifyInclusion(i, n, leaves[i]!, p, root);
      if (n > 1) assert.throws(() => verifyInclusion((i + 1) % n, n, leaves[i]!, p, root), SealFeedError);
      assert.throws(() => verifyInclusion(i, n, leaves[i]!, [...p, root], root), SealFeedError);
    }
    assert.throws(() => verifyInclusion(n, n, leaves[0]!, [], root), SealFeedError);
  }
});

test('message window matches a naive model on random sequences (REPLAY-011)', () => {
  const W = 1024n;
  for (let round = 0; round < 20; round++) {
    const w = new MessageWindow();
    const seen = new Set<bigint>();
    let top = 0n;
    let base = BigInt(1 + Math.floor(Math.random() * 5000));
    for (let i = 0; i < 400; i++) {
      const r = secureRandom(2);
      const jump = BigInt(((r[0]! << 8) | r[1]!) % 3000) - 1500n;
      base = base + jump > 0n ? base + jump : 1n;
      const id = base;
      const model = id > top ? 'accept' : top - id >= W ? 'stale_message' : seen.has(id) ? 'replayed_message' : 'accept';
      const got = w.check(id);
      assert.equal(got, model, `id ${id} top ${top}`);
      if (got === 'accept') {
        w.accept(id);
        seen.add(id);
        if (id > top) top = id;
      }
    }
    // serialization round trip (REPLAY-013)
    const w2 = MessageWindow.fromJSON(JSON.parse(JSON.stringify(w.toJSON())));
    for (let id = top > 1100n ? top - 1100n : 1n; id <= top + 2n; id++) assert.equal(w2.check(id), w.check(id));
  }
  assert.equal(new MessageWindow().check(0n), 'illegal_parameter');
});

test('batch sequences per session; only the window is persisted (REPLAY-010, REPLAY-013)', () => {
  const s = new ReplayState();
  assert.equal(s.batch.check(0n), 'replayed_batch');
  s.batch.accept(5n);
  assert.equal(s.batch.check(5n), 'replayed_batch');
  assert.equal(s.batch.check(4n), 'replayed_batch');
  assert.equal(s.batch.check(6n), 'accept');
  s.window.accept(42n);
  const json = JSON.parse(JSON.stringify(s.toJSON()));
  assert.equal(json.batches, undefined);
  // the next session: the window survives, the batch sequence starts again from 0
  const s2 = ReplayState.fromJSON(json);
  assert.equal(s2.window.check(42n), 'replayed_message');
  assert.equal(s2.batch.highest, 0n);
  assert.equal(s2.batch.check(3n), 'accept');
  // a state saved by an earlier version, with per-signer sequences: they are ignored
  const old = ReplayState.fromJSON({ ...json, batches: { ['ab'.repeat(32)]: '1000' } });
  assert.equal(old.batch.check(1n), 'accept');
});
