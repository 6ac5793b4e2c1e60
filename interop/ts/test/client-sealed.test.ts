/**
 * The `sealing` option of SealFeedClient (SEAL-030 … SEAL-032) against a scripted server: an envelope sealed by a
 * trusted publisher is handed over opened and marked sealed, with the publisher's KeyID and time; a tampered one
 * and one by an untrusted publisher are handed over as received with their SealedError, and every message,
 * opened or not, is acknowledged by the usual rules (SEAL-031); plain payloads are not sealed; a payload that
 * only starts with the magic is an envelope that does not open (its "version" is text). Without the option nothing is opened.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAck, encodeMessage, keyId, MSG, publicKeyOf, SealFeedClient, utf8, type DeliveredMessage, type SealFeedClientOptions } from '../src/index.js';
import { generateSealKey, sealKeyFrom, sealPayload, SealedError, SealedOpener, SUITE_X25519, verifySealKeyRecord } from '../src/sealed.js';
import { buildBatch } from './helpers/builder.js';
import { fakeSocket, type FakeSocket } from './helpers/fakesocket.js';
import { handshakeVector, ScriptedServer } from './helpers/scripted.js';
import { h } from './vectors/harness.js';

const seed = (b: number) => new Uint8Array(32).fill(b);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 2))) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
  }
}

/** A client of handshake vector 1 on a scripted server; `deliver` sends one batch of the payloads, IDs from 1. */
async function scripted(extra: Pick<SealFeedClientOptions, 'sealing'>) {
  const v = handshakeVector(1);
  let server!: ScriptedServer;
  let sock!: FakeSocket;
  const WS = fakeSocket((s) => {
    sock = s;
    server = new ScriptedServer(v, (f) => s.deliver(f));
    s.toServer = (f) => server.onClientFrame(f);
  });
  const got: DeliveredMessage[] = [];
  const client = await SealFeedClient.connect({ ...v.config, ...extra, url: 'wss://push.example/feed', WebSocket: WS, onMessage: (m) => void got.push(m) });
  const deliver = (payloads: Uint8Array[]) => {
    const env = { envKey: v.secret('env_key'), envIv: v.secret('env_iv'), tagKey: v.secret('tag_key') };
    const entries = payloads.map((payload, i) => ({ type: 1 as const, messageId: BigInt(i + 1), payload }));
    const b = buildBatch({ signerSeed: h(v.t.server.keySeed), batchSeq: 1n, recipients: [{ env, aead: 1, entries }] });
    sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b.delivery(0))]));
  };
  const acked = async (n: number): Promise<bigint[]> => {
    await until(() => server.received.length >= 1);
    const ids = server.received.flatMap((f) => server.clientReceiver.open(f)).filter((m) => m.type === MSG.Ack).flatMap((m) => decodeAck(m.body));
    assert.equal(ids.length, n);
    return ids;
  };
  return { client, got, deliver, acked };
}

const t0 = BigInt(Math.floor(Date.now() / 1000));

test('sealing: sealed payloads opened and marked; tampered and untrusted ones handed over with their error and acknowledged (SEAL-030, SEAL-031, SEAL-032)', async () => {
  const identity = seed(1);
  const publisher = seed(2);
  const key = await generateSealKey(identity, SUITE_X25519, t0);
  const record = await verifySealKeyRecord(key.record.raw, { identityKey: publicKeyOf(identity) }, t0);
  const sealedOk = await sealPayload(record, publisher, utf8('order 1042 shipped'), t0 - 7n);
  const tampered = (await sealPayload(record, publisher, utf8('altered'), t0)).slice();
  tampered[tampered.length - 1]! ^= 1;
  const untrusted = await sealPayload(record, seed(3), utf8('from a key the client does not trust'), t0);
  const magicOnly = utf8('SFSE is how this plain text starts');
  const sealing = new SealedOpener([await sealKeyFrom(key.privateKey, key.record.raw)], [publicKeyOf(publisher)]);

  const { client, got, deliver, acked } = await scripted({ sealing });
  deliver([sealedOk, tampered, untrusted, utf8('plain'), magicOnly]);
  await until(() => got.length === 5);
  const [ok, bad, stranger, plain, magic] = got as [DeliveredMessage, DeliveredMessage, DeliveredMessage, DeliveredMessage, DeliveredMessage];

  assert.deepEqual([ok.sealed, text(ok.payload), ok.sealedAt, ok.sealError], [true, 'order 1042 shipped', t0 - 7n, undefined]);
  assert.deepEqual(ok.sealedBy, keyId(publicKeyOf(publisher)));
  const codeOf = (m: DeliveredMessage) => (m.sealError instanceof SealedError ? m.sealError.code : String(m.sealError));
  // SEAL-031: the envelope as received, never a partial plaintext, and not marked sealed
  assert.deepEqual([bad.sealed, codeOf(bad), bad.sealedBy, bad.sealedAt], [false, 'open_failed', undefined, undefined]);
  assert.deepEqual(bad.payload, tampered);
  assert.deepEqual([stranger.sealed, codeOf(stranger)], [false, 'untrusted_publisher']);
  assert.deepEqual(stranger.payload, untrusted);
  assert.deepEqual([plain.sealed, plain.sealError, text(plain.payload)], [false, undefined, 'plain']);
  // SEAL-030: a payload that starts with the magic is an envelope for a client with sealing keys
  assert.deepEqual([magic.sealed, codeOf(magic)], [false, 'unsupported_version']);
  assert.deepEqual(magic.payload, magicOnly);
  // DLV-016: every one acknowledged when onMessage returned, those that did not open included
  assert.deepEqual(await acked(5), [1n, 2n, 3n, 4n, 5n]);
  await client.close();
});

test('without sealing an envelope is an ordinary payload: handed over as received, not sealed, no error', async () => {
  const key = await generateSealKey(seed(1), SUITE_X25519, t0);
  const record = await verifySealKeyRecord(key.record.raw, { identityKey: publicKeyOf(seed(1)) }, t0);
  const env = await sealPayload(record, seed(2), utf8('x'), t0);
  const { client, got, deliver, acked } = await scripted({});
  deliver([env]);
  await until(() => got.length === 1);
  assert.deepEqual([got[0]!.sealed, got[0]!.sealError], [false, undefined]);
  assert.deepEqual(got[0]!.payload, env);
  assert.deepEqual(await acked(1), [1n]);
  await client.close();
});
