/**
 * Record layer (§8) and the connected session (§9).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAck, encodeAck, encodeHeartbeat, encodeKeyUpdate, encodeMessage, MSG, RecordReceiver, RecordSender, SealFeedError, secureRandom, Session } from '../src/index.js';
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

/** A client session and, for the test, the server's raw record layer in both directions. */
function clientWithRawServer() {
  const s2c = secureRandom(32);
  const c2s = secureRandom(32);
  return {
    client: Session.fromSecrets('client', 1, s2c, c2s),
    toClient: new RecordSender(1, s2c),
    fromClient: new RecordReceiver(1, c2s),
  };
}

const heartbeat = (reply: boolean | number) => encodeMessage(MSG.Heartbeat, typeof reply === 'number' ? Uint8Array.of(reply) : encodeHeartbeat(reply));
const keyUpdate = (request: boolean) => encodeMessage(MSG.KeyUpdate, encodeKeyUpdate(request));
const delivery = encodeMessage(MSG.BatchDelivery, Uint8Array.of(1, 2, 3));
const types = (msgs: { type: number; body: Uint8Array }[]) => msgs.map((m) => [m.type, ...m.body]);

test('session: Heartbeat(1) gets one frame with Heartbeat(0), Heartbeat(0) none; neither is passed up (POST-020)', () => {
  const { client, toClient, fromClient } = clientWithRawServer();
  const r1 = client.receive(toClient.seal([heartbeat(true)]));
  assert.equal(r1.messages.length, 0);
  assert.equal(r1.answers.length, 1);
  assert.deepEqual(types(fromClient.open(r1.answers[0]!)), [[MSG.Heartbeat, 0]]);
  assert.deepEqual(client.receive(toClient.seal([heartbeat(false)])), { messages: [], answers: [] });
  // with deliveries around them, two Heartbeat(1) in one frame: the deliveries go up, one answer
  const r2 = client.receive(toClient.seal([delivery, heartbeat(true), heartbeat(true), delivery]));
  assert.deepEqual(types(r2.messages), [[MSG.BatchDelivery, 1, 2, 3], [MSG.BatchDelivery, 1, 2, 3]]);
  assert.equal(r2.answers.length, 1);
  assert.deepEqual(types(fromClient.open(r2.answers[0]!)), [[MSG.Heartbeat, 0]]);
});

test('session: Heartbeat(1) with KeyUpdate(1) is answered by one frame, Heartbeat(0) then KeyUpdate(0) (POST-020, POST-003)', () => {
  const { client, toClient, fromClient } = clientWithRawServer();
  const r = client.receive(toClient.seal([heartbeat(true), keyUpdate(true)]));
  toClient.update();
  assert.equal(r.answers.length, 1);
  assert.deepEqual(types(fromClient.open(r.answers[0]!)), [[MSG.Heartbeat, 0], [MSG.KeyUpdate, 0]]);
  // the client's sending key switched after the answer, its receiving key after the request
  fromClient.update();
  assert.deepEqual(types(fromClient.open(client.send([ack(5n)]))), [[MSG.Ack, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5]]);
  assert.equal(client.receive(toClient.seal([delivery])).messages.length, 1);
  // a KeyUpdate stays last in its frame (POST-003), a Heartbeat after it included
  const other = clientWithRawServer();
  assert.equal(alertOf(() => other.client.receive(other.toClient.seal([keyUpdate(false), heartbeat(false)]))), 'unexpected_message');
});

test('session: a Heartbeat body other than one byte 0 or 1 fails the record and closes the session (POST-020, WIRE-011)', () => {
  for (const [body, want] of [
    [Uint8Array.of(2), 'illegal_parameter'],
    [Uint8Array.of(0xff), 'illegal_parameter'],
    [new Uint8Array(0), 'decode_error'],
    [Uint8Array.of(1, 0), 'decode_error'],
  ] as const) {
    const { client, toClient } = clientWithRawServer();
    // the valid delivery before it is not passed up either (POST-009)
    assert.equal(alertOf(() => client.receive(toClient.seal([delivery, encodeMessage(MSG.Heartbeat, body)]))), want, `body ${body.join(',')}`);
    assert.equal(client.isClosed, true);
  }
});

test('session: Heartbeats do not end a run of KeyUpdates, other messages do (POST-020, POST-004)', () => {
  const run = (between: Uint8Array) => {
    const { client, toClient } = clientWithRawServer();
    return alertOf(() => {
      for (let i = 0; i < 17; i++) {
        client.receive(toClient.seal([between, keyUpdate(false)]));
        toClient.update();
      }
    });
  };
  assert.equal(run(heartbeat(false)), 'limit_exceeded');
  assert.equal(run(heartbeat(true)), 'limit_exceeded');
  assert.equal(run(delivery), 'ok');
});

test('session: sendHeartbeat seals Heartbeat(1) for the peer, which answers it (POST-021)', () => {
  const k1 = secureRandom(32);
  const k2 = secureRandom(32);
  const client = Session.fromSecrets('client', 1, k1, k2);
  const server = Session.fromSecrets('server', 1, k2, k1);
  const r = server.receive(client.sendHeartbeat(true));
  assert.deepEqual(r.messages, []);
  assert.deepEqual(client.receive(r.answers[0]!), { messages: [], answers: [] });
});
