/**
 * Delivery webhooks (spec/api.md API-101, API-104, API-107) in TypeScript: verifyWebhook accepts the vectors'
 * valid request and returns its batch, refuses a body that is not a batch although signed, and
 * webhookKeyFromServer refuses a key ID that is not the key's fingerprint. The signature checks themselves run
 * against every test of vectors/v1/webhook.json in `npm run vectors`. Live: `sealfeed serve -webhooks
 * -webhook-key` POSTs a client's acknowledgement to a Node receiver, which verifies it with the key from
 * GET /v1/server (API-100, API-107).
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { run, sealfeedBinary, startGoServer } from './helpers/goserver.js';
import { parsePrivateKeyPem } from '../src/publisher.js';
import { fileURLToPath } from 'node:url';
import {
  base64Decode,
  fromHex,
  keyId,
  publicKeyOf,
  SealFeedError,
  toHex,
  utf8,
  verifyWebhook,
  webhookKeyFromServer,
  type DeliveredMessage,
  type WebhookRequest,
} from '../src/index.js';
import { connect } from '../src/node.js';

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

/** The 32-byte seed of the key file `sealfeed keygen` wrote. */
function seedOfPem(path: string): Uint8Array {
  return parsePrivateKeyPem(readFileSync(path, 'utf8'));
}

test('API-100, API-107: a live webhook from the Go server verifies with the key GET /v1/server publishes', { timeout: 120000 }, async () => {
  const bin = await sealfeedBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-webhook-'));
  const got: WebhookRequest[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      got.push({ method: req.method!, url: `http://${req.headers.host}${req.url}`, headers, body: new Uint8Array(Buffer.concat(chunks)) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  let proc: ChildProcess | undefined;
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    const hookKey = join(dir, 'webhook.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    await run(bin, ['keygen', '-out', hookKey]);
    const publisherId = toHex(keyId(publicKeyOf(seedOfPem(key))));
    const hooks = join(dir, 'webhooks.json');
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/sealfeed?tenant=7`;
    writeFileSync(hooks, JSON.stringify({ publishers: { [publisherId]: { url: hookUrl } } }));
    const server = await startGoServer(dir, pub, ['-webhooks', hooks, '-webhook-key', hookKey]);
    proc = server.proc;
    const { port, fingerprint } = server;
    const wkey = webhookKeyFromServer(await (await fetch(`http://127.0.0.1:${port}/v1/server`)).json());
    assert.equal(toHex(wkey.publicKey), toHex(publicKeyOf(seedOfPem(hookKey))));

    const c = await connect({ url: `ws://127.0.0.1:${port}/v1/ws`, trust: { kind: 'pinned', keyId: fromHex(fingerprint) } });
    const next = c.messages().next();
    await run(bin, ['publish', '-server', `http://127.0.0.1:${port}`, '-key', key, '-to', c.clientIdHex, '-text', 'ack me']);
    const m = (await next).value as DeliveredMessage;
    m.ack();
    for (const t0 = Date.now(); got.length === 0; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() - t0 > 30000) throw new Error("no webhook within 30 s");
    }
    const batch = verifyWebhook(got[0]!, wkey);
    assert.equal(batch.publisher, publisherId);
    assert.equal(batch.events.length, 1);
    assert.equal(batch.events[0]!.type, 'acknowledged');
    assert.equal(batch.events[0]!.client_id, c.clientIdHex);
    assert.equal(BigInt(batch.events[0]!.message_id), m.messageId);
    // the same request with its body changed is refused
    const body = Uint8Array.from(got[0]!.body);
    body[body.length - 3] ^= 1;
    assert.throws(() => verifyWebhook({ ...got[0]!, body }, wkey), (e: unknown) => e instanceof SealFeedError && e.alert === 'bad_signature');
    await c.close();
  } finally {
    proc?.kill('SIGTERM');
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
