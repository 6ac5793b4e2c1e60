/**
 * Delivery webhooks (spec/api.md API-101, API-104, API-107) in TypeScript: verifyWebhook accepts the vectors'
 * valid request and returns its batch, refuses a body that is not a batch although signed, and
 * webhookKeyFromServer refuses a key ID that is not the key's fingerprint. The signature checks themselves run
 * against every test of vectors/v1/webhook.json in `npm run vectors`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { base64Decode, fromHex, keyId, SealFeedError, toHex, utf8, verifyWebhook, webhookKeyFromServer } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const file = JSON.parse(readFileSync(resolve(here, '../../../../vectors/v1/webhook.json'), 'utf8'));
const group = file.testGroups[0];
const key = { keyId: group.keyId as string, publicKey: fromHex(group.publicKey) };
const now = Number(group.now);

function request(t: { method: string; targetUri: string; headers: { name: string; value: string }[]; body: string }) {
  return { method: t.method, url: t.targetUri, headers: t.headers.map((x) => [x.name, x.value] as const), body: fromHex(t.body) };
}

test('API-101, API-104: a valid webhook gives its batch and Idempotency-Key', () => {
  const t = group.tests.find((x: { tcId: number }) => x.tcId === 1);
  const b = verifyWebhook(request(t), key, now);
  assert.equal(b.events.length, 2);
  assert.equal(b.events[0].type, 'acknowledged');
  assert.equal(b.events[0].message_id, 41);
  assert.equal(b.events[1].type, 'expired');
  assert.equal(b.idempotencyKey, '5f0c7a9e2b4d6f8a1c3e5a7b9d0f2e4c');
});

test('API-104: every invalid vector is refused by verifyWebhook too, with its alert', () => {
  for (const t of group.tests) {
    if (t.result !== 'invalid') continue;
    assert.throws(() => verifyWebhook(request(t), key, now), (e: unknown) => e instanceof SealFeedError && e.alert === t.alert, `tcId ${t.tcId}`);
  }
});

test('API-104: a request one second after expires is stale', () => {
  const t = group.tests.find((x: { tcId: number }) => x.tcId === 1);
  const expires = Number(/;expires=(\d+)/.exec(t.headers.find((x: { name: string }) => x.name === 'Signature-Input').value)![1]);
  assert.doesNotThrow(() => verifyWebhook(request(t), key, expires));
  assert.throws(() => verifyWebhook(request(t), key, expires + 1), (e: unknown) => e instanceof SealFeedError && e.alert === 'stale_message');
});

test('API-107: the key from GET /v1/server must match its key ID', () => {
  const b64 = Buffer.from(key.publicKey).toString('base64');
  const k = webhookKeyFromServer({ webhook_key_id: toHex(keyId(key.publicKey)), webhook_public_key: b64 });
  assert.equal(k.keyId, key.keyId);
  assert.throws(() => webhookKeyFromServer({ webhook_key_id: '00'.repeat(32), webhook_public_key: b64 }), SealFeedError);
  assert.deepEqual(base64Decode('AAEC'), new Uint8Array([0, 1, 2]));
  assert.throws(() => base64Decode('AAF='), SealFeedError); // non-canonical padding bits
  assert.deepEqual(utf8('a'), new Uint8Array([97]));
});
