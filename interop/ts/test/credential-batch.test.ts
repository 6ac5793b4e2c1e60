/**
 * Credentials (§5) and batch opening (§10.5), with deliveries built by the test builder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeBatchDelivery,
  encodeBatchDelivery,
  encodeCredentialTbs,
  envelopeKeys,
  keyId,
  publicKeyOf,
  ReplayState,
  secureRandom,
  sign,
  SIG_LABELS,
  openDelivery,
  validatePublicKey,
  verifyCredential,
  Writer,
  concat,
  utf8,
  type OpenContext,
} from '../src/index.js';
import { buildBatch } from './helpers/builder.js';
import { alertOf } from './helpers/alert.js';


const authoritySeed = secureRandom(32);
const authorityKey = validatePublicKey(publicKeyOf(authoritySeed));
const serverSeed = secureRandom(32);
const now = 1_800_000_000n;
const realm = utf8('push.example');

function credential(over: Partial<{ version: number; realm: Uint8Array; notBefore: bigint; notAfter: bigint; serial: bigint; serverKey: Uint8Array }> = {}, signer = authoritySeed) {
  const tbs = encodeCredentialTbs({
    version: over.version ?? 1,
    authorityId: keyId(authorityKey.bytes),
    serverKey: over.serverKey ?? publicKeyOf(serverSeed),
    realm: over.realm ?? realm,
    serial: over.serial ?? 1000n,
    notBefore: over.notBefore ?? now - 3600n,
    notAfter: over.notAfter ?? now + 86400n,
  });
  return concat(tbs, sign(signer, SIG_LABELS.credential, tbs));
}

function list(over: Partial<{ number: bigint; thisUpdate: bigint; nextUpdate: bigint; revoked: bigint[] }> = {}) {
  const w = new Writer()
    .u16(1)
    .bytes(keyId(authorityKey.bytes))
    .u64(over.number ?? 5n)
    .u64(over.thisUpdate ?? now - 60n)
    .u64(over.nextUpdate ?? now + 86400n);
  const revoked = over.revoked ?? [17n];
  w.count(revoked.length, 0, 65535);
  for (const r of revoked) w.u64(r);
  const tbs = w.finish();
  return concat(tbs, sign(authoritySeed, SIG_LABELS.revocationList, tbs));
}

const trust = { authorityKey, realm, acceptedNumber: 0n };

test('a valid credential yields the server key (CRED-015)', () => {
  const r = verifyCredential(credential(), list(), trust, now);
  assert.deepEqual(r.serverKey.bytes, publicKeyOf(serverSeed));
  assert.equal(r.revocationList.number, 5n);
});

test('CRED-016: the first failing rule decides', () => {
  // expired and for another realm: CRED-005 before CRED-006
  assert.equal(alertOf(() => verifyCredential(credential({ notAfter: now - 3600n, notBefore: now - 7200n, realm: utf8('x') }), list(), trust, now)), 'credential_expired');
  // signed by another key and expired: the signature (CRED-003) first
  assert.equal(alertOf(() => verifyCredential(credential({ notAfter: now - 3600n }, secureRandom(32)), list(), trust, now)), 'bad_credential');
  // a stale list and a revoked serial: CRED-012 before CRED-014
  assert.equal(alertOf(() => verifyCredential(credential(), list({ thisUpdate: now - 86400n * 3n, nextUpdate: now - 86400n, revoked: [1000n] }), trust, now)), 'revocation_stale');
  assert.equal(alertOf(() => verifyCredential(credential(), list({ revoked: [999n, 1000n] }), trust, now)), 'credential_revoked');
  // rollback (CRED-013)
  assert.equal(alertOf(() => verifyCredential(credential(), list({ number: 4n }), { ...trust, acceptedNumber: 5n }, now)), 'revocation_stale');
  // another version first, even with a broken layout (CRED-001)
  assert.equal(alertOf(() => verifyCredential(Uint8Array.of(0, 2, 1), list(), trust, now)), 'bad_credential');
});

function session() {
  const env = envelopeKeys(secureRandom(32));
  return { env, aead: 1 };
}

test('openDelivery: unicast, broadcast, replayed and stale messages, no state change on failure (BATCH-011 … BATCH-016)', () => {
  const a = session();
  const b = session();
  const dataKey = secureRandom(32);
  const bc = utf8('to everyone');
  const batch = buildBatch({
    signerSeed: serverSeed,
    batchSeq: 7n,
    blobs: [{ payload: bc, dataKey }],
    recipients: [
      { ...a, entries: [{ type: 1, messageId: 3n, payload: utf8('hello a') }, { type: 2, messageId: 4n, blobIndex: 0, dataKey }] },
      { ...b, entries: [{ type: 2, messageId: 1n, blobIndex: 0, dataKey }] },
    ],
  });
  const signerKey = validatePublicKey(publicKeyOf(serverSeed));
  const ctxA: OpenContext = { signerKey, envKey: a.env.envKey, envIv: a.env.envIv, tagKey: a.env.tagKey, aead: 1, maxPayload: 65536 };
  const state = new ReplayState();
  state.window.accept(3n);
  const opened = openDelivery(batch.delivery(0, [0]), ctxA, state);
  assert.deepEqual(
    opened.messages.map((m) => [m.messageId, new TextDecoder().decode(m.payload), m.status, m.broadcast]),
    [
      [3n, 'hello a', 'replayed_message', false],
      [4n, 'to everyone', 'deliver', true],
    ],
  );
  assert.equal(state.batch.highest, 0n); // the caller's state is untouched
  assert.equal(opened.nextState.batch.highest, 7n);
  // the same batch again: replayed_batch (REPLAY-010)
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, [0]), ctxA, opened.nextState)), 'replayed_batch');
  // recipient b's delivery opened with a's keys: wrong_recipient
  assert.equal(alertOf(() => openDelivery(batch.delivery(1, [0]), ctxA, state)), 'wrong_recipient');
  // the blob missing: bad_proof; an unreferenced blob: illegal_parameter
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, []), ctxA, state)), 'bad_proof');
  // another signer key: unknown_signer
  const other = validatePublicKey(publicKeyOf(secureRandom(32)));
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, [0]), { ...ctxA, signerKey: other }, state)), 'unknown_signer');
  // max_payload (BATCH-005)
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, [0]), { ...ctxA, maxPayload: 8 }, state)), 'record_overflow');
  // a flipped signature bit (SIG-003), a flipped path hash (MERKLE-001)
  const d = decodeBatchDelivery(batch.delivery(0, [0]));
  const s = Uint8Array.from(d.signature);
  s[0]! ^= 1;
  assert.equal(alertOf(() => openDelivery(encodeBatchDelivery({ ...d, signature: s }), ctxA, state)), 'bad_signature');
  const path = d.own.path.map((p) => Uint8Array.from(p));
  path[0]![0]! ^= 1;
  assert.equal(alertOf(() => openDelivery(encodeBatchDelivery({ ...d, own: { ...d.own, path } }), ctxA, state)), 'bad_proof');
});

test('openDelivery: the unreferenced blob and blob order (BATCH-013)', () => {
  const a = session();
  const k0 = secureRandom(32);
  const k1 = secureRandom(32);
  const batch = buildBatch({
    signerSeed: serverSeed,
    batchSeq: 1n,
    blobs: [
      { payload: utf8('b0'), dataKey: k0 },
      { payload: utf8('b1'), dataKey: k1 },
    ],
    recipients: [{ ...a, entries: [{ type: 2, messageId: 1n, blobIndex: 1, dataKey: k1 }] }],
  });
  const ctx: OpenContext = { signerKey: validatePublicKey(publicKeyOf(serverSeed)), ...a.env, aead: 1, maxPayload: 100 };
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, [1]), ctx, new ReplayState())), 'ok');
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, [0, 1]), ctx, new ReplayState())), 'illegal_parameter');
  assert.equal(alertOf(() => openDelivery(batch.delivery(0, [1, 1]), ctx, new ReplayState())), 'illegal_parameter');
});

test('openDelivery: a blob whose aead is not ChaCha20-Poly1305 is illegal_parameter, whatever the session AEAD (BATCH-004)', () => {
  for (const sessionAead of [1, 2]) {
    const a = { ...session(), aead: sessionAead };
    const dataKey = secureRandom(32);
    for (const [blobAead, want] of [
      [1, 'ok'],
      [2, 'illegal_parameter'],
      [3, 'illegal_parameter'],
      [0x0a0a, 'illegal_parameter'],
    ] as const) {
      const batch = buildBatch({
        signerSeed: serverSeed,
        batchSeq: 1n,
        blobs: [{ payload: utf8('to everyone'), dataKey, aead: blobAead }],
        recipients: [{ ...a, entries: [{ type: 2, messageId: 1n, blobIndex: 0, dataKey }] }],
      });
      const ctx: OpenContext = { signerKey: validatePublicKey(publicKeyOf(serverSeed)), ...a.env, aead: sessionAead, maxPayload: 100 };
      assert.equal(alertOf(() => openDelivery(batch.delivery(0, [0]), ctx, new ReplayState())), want, `session ${sessionAead}, blob ${blobAead}`);
    }
  }
});
