/**
 * Record layer (§8) and the connected session (§9).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAck, encodeAck, encodeMessage, MSG, RecordReceiver, RecordSender, SealFeedError, secureRandom, Session } from '../src/index.js';
import { alertOf } from './helpers/alert.js';


const ack = (id: bigint) => encodeMessage(MSG.Ack, encodeAck([id]));

test('records: strict order, padding, replay and reordering fail (REC-001 … REC-004)', () => {
  for (const aead of [1, 2]) {
    const secret = secureRandom(32);
    const tx = new RecordSender(aead, secret);
    const rx = new RecordReceiver(aead, secret);
    const f0 = tx.seal([ack(1n)], 10);
    const f1 = tx.seal([ack(2n), ack(3n)]);
    assert.equal(decodeAck(rx.open(f0)[0]!.body)[0], 1n);
    assert.equal(alertOf(() => rx.open(f0)), 'bad_record_mac'); // replayed
    const rx2 = new RecordReceiver(aead, secret);
    assert.equal(alertOf(() => rx2.open(f1)), 'bad_record_mac'); // reordered
    assert.equal(rx.open(f1).length, 2);
  }
});

test('records: usage limits (REC-005)', () => {
  const secret = secureRandom(32);
  const tx = new RecordSender(2, secret, (1n << 20n) - 1n);
  assert.equal(tx.mustUpdate, true);
  const f = tx.seal([ack(1n)]);
  assert.equal(alertOf(() => tx.seal([ack(1n)])), 'limit_exceeded');
  const rx = new RecordReceiver(2, secret, (1n << 20n) - 1n);
  rx.open(f);
  assert.equal(alertOf(() => rx.open(f)), 'limit_exceeded');
});

test('session: KeyUpdate(1) is answered with KeyUpdate(0) and both sides switch keys (POST-003)', () => {
  const c2s = secureRandom(32);
  const s2c = secureRandom(32);
  const client = Session.fromSecrets('client', 1, s2c, c2s);
  const server = Session.fromSecrets('server', 1, c2s, s2c);
  const req = client.sendKeyUpdate(true);
  const r = server.receive(req);
  assert.equal(r.messages.length, 0);
  assert.equal(r.answers.length, 1);
  assert.deepEqual(client.receive(r.answers[0]!), { messages: [], answers: [] });
  // both directions now under the next secrets
  const batch = server.send([encodeMessage(MSG.BatchDelivery, Uint8Array.of(1))]);
  assert.equal(client.receive(batch).messages[0]!.type, MSG.BatchDelivery);
  const a = client.send([ack(7n)]);
  assert.equal(decodeAck(server.receive(a).messages[0]!.body)[0], 7n);
});

test('session: roles, limits, alerts and the closed state (WIRE-010, POST-001, POST-004, POST-006, HS-050)', () => {
  const k1 = secureRandom(32);
  const k2 = secureRandom(32);
  const server = Session.fromSecrets('server', 1, k1, k2);
  const client = Session.fromSecrets('client', 1, k2, k1);
  // a client never receives Ack
  assert.equal(alertOf(() => client.receive(server.send([ack(1n)]))), 'unexpected_message');
  assert.equal(client.isClosed, true);
  assert.equal(alertOf(() => client.receive(new Uint8Array(0))), 'unexpected_message');
  // 17 KeyUpdates in a row
  const s2 = Session.fromSecrets('server', 1, k1, k2);
  const c2 = Session.fromSecrets('client', 1, k2, k1);
  for (let i = 0; i < 16; i++) c2.receive(s2.sendKeyUpdate(false));
  assert.equal(alertOf(() => c2.receive(s2.sendKeyUpdate(false))), 'limit_exceeded');
  // a protected alert ends the session with the peer's code; unknown codes read as internal_error
  const s3 = Session.fromSecrets('server', 1, k1, k2);
  const c3 = Session.fromSecrets('client', 1, k2, k1);
  const err = (() => {
    try {
      c3.receive(s3.send([encodeMessage(MSG.Alert, Uint8Array.of(200))]));
    } catch (e) {
      return e as SealFeedError;
    }
  })()!;
  assert.equal(err.alert, 'internal_error');
  assert.equal(err.fromPeer, true);
  // sending an alert closes the session; local-only codes are never sent (ALERT-002)
  const c4 = Session.fromSecrets('client', 1, k2, k1);
  assert.equal(c4.alertFrame('replayed_message'), undefined);
  assert.ok(Session.fromSecrets('client', 1, k2, k1).alertFrame('bad_proof'));
});

test('session: the sender appends KeyUpdate(0) before its key reaches the limit (REC-005)', () => {
  const k = secureRandom(32);
  const tx = new RecordSender(2, k, (1n << 20n) - 1n);
  const s = new Session('client', new RecordReceiver(2, secureRandom(32)), tx);
  const frame = s.send([ack(1n)]);
  const rx = new RecordReceiver(2, k, (1n << 20n) - 1n);
  const msgs = rx.open(frame);
  assert.deepEqual(
    msgs.map((m) => m.type),
    [MSG.Ack, MSG.KeyUpdate],
  );
  assert.equal(tx.sequence, 0n);
});
