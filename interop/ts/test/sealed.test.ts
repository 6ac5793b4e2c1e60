/**
 * Sealed payloads (spec/sealed.md) in TypeScript: records made here verify and seal, envelopes sealed here
 * open, for every suite of SEAL-001; rejections carry the registry's codes. vectors/v1/sealed.json (through
 * the vector suite) checks the same code against Go's records and envelopes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientIdOf, keyId, publicKeyOf } from '../src/index.js';
import {
  AEAD_AES128GCM,
  generateSealKey,
  isSealedEnvelope,
  KDF_HKDF_SHA256,
  KEM_X25519,
  sealKeyFrom,
  sealOverhead,
  sealPayload,
  SealedError,
  SealedOpener,
  SUITE_HYBRID,
  SUITE_X25519,
  verifySealKeyRecord,
  type SealSuite,
} from '../src/sealed.js';

const seed = (b: number) => new Uint8Array(32).fill(b);
const t0 = 1767225600n;

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof SealedError, `not a SealedError: ${e}`);
    return e.code;
  }
}

const suites: [string, SealSuite][] = [
  ['hybrid', SUITE_HYBRID],
  ['x25519', SUITE_X25519],
  ['x25519 aes-128-gcm', { kem: KEM_X25519, kdf: KDF_HKDF_SHA256, aead: AEAD_AES128GCM }],
];

for (const [name, suite] of suites) {
  test(`seal and open round trip (${name})`, async () => {
    const identity = seed(1);
    const publisher = seed(2);
    const key = await generateSealKey(identity, suite, t0);
    const rec = await verifySealKeyRecord(key.record.raw, { clientId: clientIdOf(publicKeyOf(identity)) }, t0);
    const payload = new TextEncoder().encode('order 1042 shipped');
    const env = await sealPayload(rec, publisher, payload, t0 + 5n);
    assert.equal(env.length, payload.length + sealOverhead(suite));
    assert.ok(isSealedEnvelope(env));
    const opener = new SealedOpener([await sealKeyFrom(key.privateKey, key.record.raw)], [publicKeyOf(publisher)]);
    const o = await opener.open(env);
    assert.deepEqual(o.payload, payload);
    assert.deepEqual(o.publisherKeyId, keyId(publicKeyOf(publisher)));
    assert.equal(o.sealedAt, t0 + 5n);
    // flipped ciphertext, untrusted publisher, another recipient
    const flipped = env.slice();
    flipped[flipped.length - 1]! ^= 1;
    assert.equal(await code(opener.open(flipped)), 'open_failed');
    assert.equal(await code(new SealedOpener(opener['keys'], [publicKeyOf(seed(3))]).open(env)), 'untrusted_publisher');
    const other = await generateSealKey(identity, suite, t0);
    assert.equal(await code(new SealedOpener([other], [publicKeyOf(publisher)]).open(env)), 'wrong_recipient');
  });
}

test('a publisher refuses records of another identity, expired ones, and unverified ones', async () => {
  const key = await generateSealKey(seed(1), SUITE_X25519, t0, 86400n);
  const mine = { identityKey: publicKeyOf(seed(1)) };
  assert.equal(await code(verifySealKeyRecord(key.record.raw, { identityKey: publicKeyOf(seed(9)) }, t0)), 'record_identity_mismatch');
  assert.equal(await code(verifySealKeyRecord(key.record.raw, mine, t0 + 86400n + 61n)), 'record_expired');
  assert.equal(await code(verifySealKeyRecord(key.record.raw, mine, t0 + 86400n + 60n)), 'ok');
  const tampered = key.record.raw.slice();
  tampered[tampered.length - 70]! ^= 1;
  assert.equal(await code(verifySealKeyRecord(tampered, mine, t0)), 'bad_record_signature');
  assert.equal(await code(verifySealKeyRecord(new Uint8Array([...key.record.raw, 0]), mine, t0)), 'decode_error');
  assert.equal(await code(sealPayload({ ...key.record, verified: false } as never, seed(2), new Uint8Array(1))), 'bad_record_signature');
  const rec = await verifySealKeyRecord(key.record.raw, mine, t0);
  assert.equal(await code(sealPayload(rec, seed(2), new Uint8Array(65536 - sealOverhead(SUITE_X25519) + 1))), 'too_large');
  // a private key that is not the record's
  const other = await generateSealKey(seed(1), SUITE_X25519, t0);
  assert.equal(await code(sealKeyFrom(other.privateKey, key.record.raw)), 'bad_key');
});
