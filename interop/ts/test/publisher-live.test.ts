/**
 * The TypeScript publisher live against the Go reference server: it publishes (one, bulk, a broadcast) to a
 * TypeScript client that receives and acknowledges, asks status and presence; a publish whose first answer is
 * lost behind a 503 (a proxy stores it on the server, then answers 503 with Retry-After) is retried with the
 * same Idempotency-Key, signed anew, and gets the first answer again (API-026, API-041); a request altered after
 * signing and an unregistered key are refused with their problems (API-015, API-012). `toUser` live on a server run
 * with -require-token: two devices of one user (tokens issued by the TS publisher) both receive, the answer names
 * user and device per message and lists unknown users (API-091, API-094); only unknown users is 422 (API-093).
 * Then docs/publishing.md's TypeScript snippet, run unchanged with node against the server, importing this package
 * by its name.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fromHex, ProblemError, publicKeyOf, Publisher, secureRandom, type DeliveredMessage } from '../src/index.js';
import { connect } from '../src/node.js';
import { publisherKey, repoRoot, startGoServer, until, type GoServer } from './helpers/goserver.js';

/**
 * A proxy in front of the server that forwards every request unchanged (the Host the publisher signed included)
 * and, for the first `lose` POSTs, answers 503 unavailable with Retry-After: 1 after the server has answered:
 * the request was stored, the publisher cannot know (API-041).
 */
async function losingProxy(target: number, lose: number): Promise<{ url: string; forwarded: { status: number; idempotencyKey: string }[]; close(): void }> {
  const forwarded: { status: number; idempotencyKey: string }[] = [];
  const read = (m: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      m.on('data', (d: Buffer) => parts.push(d));
      m.on('end', () => resolve(Buffer.concat(parts)));
      m.on('error', reject);
    });
  const server: Server = createServer(async (req, res) => {
    const body = await read(req);
    const up = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers });
    up.on('response', async (ur) => {
      const answer = await read(ur);
      forwarded.push({ status: ur.statusCode!, idempotencyKey: String(req.headers['idempotency-key'] ?? '') });
      if (req.method === 'POST' && lose > 0) {
        lose--;
        res.writeHead(503, { 'Content-Type': 'application/problem+json', 'Retry-After': '1' });
        res.end(JSON.stringify({ type: 'https://sealfeed.dev/problems/unavailable', title: 'Service Unavailable', status: 503, rule: 'API-041' }));
        return;
      }
      res.writeHead(ur.statusCode!, ur.headers);
      res.end(answer);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, forwarded, close: () => server.close() };
}

test('Publisher with the Go reference server: publish, bulk, status, presence, a 503 retried idempotently, refused signatures', { timeout: 120000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-tspub-'));
  let server: GoServer | undefined;
  const closers: (() => unknown)[] = [];
  try {
    const { keyFile, pubFile, keyId } = await publisherKey(dir);
    server = await startGoServer(dir, pubFile);
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };
    const publisher = new Publisher({ baseUrl: server.base, key: readFileSync(keyFile, 'utf8') });
    assert.equal(publisher.keyId, keyId);

    const received: DeliveredMessage[] = [];
    const a = await connect({ url: server.ws, trust, identitySeed: secureRandom(32), onMessage: (m) => void received.push(m) });
    const b = await connect({ url: server.ws, trust, onMessage: (m) => void received.push(m) });
    closers.push(() => a.close(), () => b.close());
    const text = (m: DeliveredMessage) => new TextDecoder().decode(m.payload);
    const waitFor = async (n: number) => {
      for (const t0 = Date.now(); received.length < n; await new Promise((r) => setTimeout(r, 10))) {
        if (Date.now() - t0 > 30000) throw new Error(`got ${received.length} messages, want ${n}`);
      }
    };

    // one publish, received by the TypeScript client; its status and the client's presence
    const r1 = await publisher.publish({ to: [a.clientIdHex], text: 'from the TS publisher', ttl: 600 });
    assert.equal(r1.replayed, false);
    assert.equal(r1.messages.length, 1);
    assert.equal(r1.messages[0]!.client_id, a.clientIdHex);
    assert.match(r1.messages[0]!.id, /^[0-9a-f]{32}$/);
    await waitFor(1);
    assert.equal(text(received[0]!), 'from the TS publisher');
    assert.equal(BigInt(r1.messages[0]!.message_id), received[0]!.messageId);
    for (const t0 = Date.now(); (await publisher.status(r1.messages[0]!.id)).state !== 'acknowledged'; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() - t0 > 30000) throw new Error('the message was not acknowledged');
    }
    const pr = await publisher.presence(a.clientId);
    assert.equal(pr.online, true);
    assert.equal(pr.pending, 0);

    // bulk: a broadcast of bytes to both clients and a message to one, in one request
    const rb = await publisher.publishBulk([
      { to: [a.clientIdHex, b.clientId], payload: Uint8Array.of(0, 1, 2, 255) },
      { to: [b.clientIdHex], text: 'second of the bulk' },
    ]);
    assert.deepEqual(rb.messages.map((m) => m.client_id), [a.clientIdHex, b.clientIdHex, b.clientIdHex]);
    await waitFor(4);
    assert.deepEqual(received.slice(1).map((m) => [Buffer.from(m.payload).toString('hex'), m.broadcast]).sort(), [['000102ff', true], ['000102ff', true], [Buffer.from('second of the bulk').toString('hex'), false]].sort());

    // the first answer is lost behind a 503: the retry, signed anew with the same key, gets the stored answer
    const proxy = await losingProxy(server.port, 1);
    closers.push(proxy.close);
    const viaProxy = new Publisher({ baseUrl: proxy.url, key: readFileSync(keyFile, 'utf8') });
    const t0 = Date.now();
    const rr = await viaProxy.publish({ to: [a.clientIdHex], text: 'stored once' });
    assert.ok(Date.now() - t0 >= 990, 'the retry did not wait for Retry-After');
    assert.equal(rr.replayed, true, 'the retry was stored again');
    assert.deepEqual(proxy.forwarded.map((f) => f.status), [202, 202]);
    assert.equal(proxy.forwarded[0]!.idempotencyKey, proxy.forwarded[1]!.idempotencyKey);
    await waitFor(5);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(received.slice(4).map(text), ['stored once'], 'the message was stored twice');
    assert.equal(BigInt(rr.messages[0]!.message_id), received[4]!.messageId);

    // a covered field altered after signing: 401 bad-signature naming what the server built its base from
    const tampering = new Publisher({
      baseUrl: server.base,
      key: readFileSync(keyFile, 'utf8'),
      retries: 0,
      fetch: (input, init) => globalThis.fetch(input, { ...init, headers: { ...(init!.headers as Record<string, string>), 'Idempotency-Key': 'changed-in-transit' } }),
    });
    const bad = await tampering.publish({ to: [a.clientIdHex], text: 'x' }).catch((e: unknown) => e);
    assert.ok(bad instanceof ProblemError, String(bad));
    assert.deepEqual([bad.status, bad.problem, bad.rule], [401, 'bad-signature', 'API-015']);
    assert.match(bad.detail ?? '', /"idempotency-key"/);
    // a key the server does not know
    const stranger = await new Publisher({ baseUrl: server.base, key: secureRandom(32) }).publish({ to: [a.clientIdHex], text: 'x' }).catch((e: unknown) => e);
    assert.ok(stranger instanceof ProblemError);
    assert.deepEqual([stranger.status, stranger.problem, stranger.rule], [401, 'unknown-key', 'API-012']);
  } finally {
    for (const c of closers) await c();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('toUser with the Go reference server (-require-token): both devices of a user receive, the answer names user and device, unknown users listed', { timeout: 120000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-tstouser-'));
  let server: GoServer | undefined;
  const closers: (() => unknown)[] = [];
  try {
    const { keyFile, pubFile } = await publisherKey(dir);
    server = await startGoServer(dir, pubFile, ['-require-token']);
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };
    const publisher = new Publisher({ baseUrl: server.base, key: readFileSync(keyFile, 'utf8') });
    const alice = 'alice-' + Buffer.from(secureRandom(4)).toString('hex');
    const unknown = 'nobody-' + Buffer.from(secureRandom(4)).toString('hex');
    // two devices of one user, each with a token the publisher's back end issued for its identity key (TOK-006)
    const got = new Map<string, DeliveredMessage[]>([['phone', []], ['laptop', []]]);
    const devices = new Map<string, string>();
    for (const device of ['phone', 'laptop']) {
      const identitySeed = secureRandom(32);
      const token = publisher.issueToken({ subject: alice, device, serverKeyId: trust.keyId, clientKey: publicKeyOf(identitySeed) });
      const c = await connect({ url: server.ws, trust, identitySeed, token, onMessage: (m) => void got.get(device)!.push(m) });
      closers.push(() => c.close());
      devices.set(c.clientIdHex, device);
    }
    // an anonymous client can do nothing on a -require-token server
    await assert.rejects(connect({ url: server.ws, trust, onMessage: () => undefined }));

    // API-091, API-094: one message per device, each answer message with its user and device; the unknown user
    // of the same publication listed in unknown_users
    const r = await publisher.publish({ toUser: [alice, unknown], text: 'to both devices' });
    assert.equal(r.messages.length, 2);
    assert.deepEqual(r.messages.map((m) => [m.user, m.device, devices.get(m.client_id)]).sort(), [[alice, 'laptop', 'laptop'], [alice, 'phone', 'phone']]);
    assert.deepEqual(r.unknown_users, [unknown]);
    await until(() => got.get('phone')!.length === 1 && got.get('laptop')!.length === 1, 'both devices');
    for (const [device, ms] of got) {
      assert.equal(new TextDecoder().decode(ms[0]!.payload), 'to both devices', device);
      const answer = r.messages.find((m) => m.device === device)!;
      assert.equal(BigInt(answer.message_id), ms[0]!.messageId, device);
    }
    // a message of a `to` publication carries neither user nor device; unknown_users stays empty, not absent
    const mixed = await publisher.publishBulk([{ to: [[...devices.keys()][0]!], text: 'by ID' }, { toUser: [alice], text: 'by user' }]);
    assert.deepEqual(mixed.messages.map((m) => [m.user, m.device === undefined]), [[undefined, true], [alice, false], [alice, false]]);
    assert.deepEqual(mixed.unknown_users, []);
    // API-093: only unknown users, nothing stored: 422 unknown-users; API-090: both to and toUser is refused
    const none = await publisher.publish({ toUser: [unknown], text: 'to nobody' }).catch((e: unknown) => e);
    assert.ok(none instanceof ProblemError, String(none));
    assert.deepEqual([none.status, none.problem, none.rule], [422, 'unknown-users', 'API-093']);
    // the publisher refuses both before it sends anything (the server's 422 for it is a Go and conformance test)
    const both = await publisher.publish({ to: [[...devices.keys()][0]!], toUser: [alice], text: 'x' }).catch((e: unknown) => e);
    assert.ok(both instanceof RangeError, String(both));
    assert.match(both.message, /exactly one of to and toUser \(API-090\)/);
  } finally {
    for (const c of closers) await c();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

const run = promisify(execFile);

/** The fenced block after `<!-- snippet: NAME -->` in docs/publishing.md. */
function guideSnippet(name: string): string {
  const doc = readFileSync(join(repoRoot, 'docs', 'publishing.md'), 'utf8');
  const m = new RegExp(`<!-- snippet: ${name} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/publishing.md has no snippet ${name}`);
  return m[1]!;
}

test("docs/publishing.md's TypeScript snippet publishes with the built package", { timeout: 120000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-tssnippet-'));
  // inside the package, so that `@sealfeed/client/node` resolves to this build by its exports (self-reference)
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
  const file = join(pkg, `snippet-${process.pid}.mjs`);
  let server: GoServer | undefined;
  try {
    const { keyFile, pubFile, keyId } = await publisherKey(dir);
    server = await startGoServer(dir, pubFile);
    const got: DeliveredMessage[] = [];
    const c = await connect({ url: server.ws, trust: { kind: 'pinned', keyId: fromHex(server.fingerprint) }, onMessage: (m) => void got.push(m) });
    writeFileSync(file, guideSnippet('typescript'));
    const { stdout } = await run(process.execPath, [file], {
      env: { ...process.env, BASE_URL: server.base, KEY_FILE: keyFile, KEY_ID: keyId, CLIENT_ID: c.clientIdHex },
      timeout: 60000,
    });
    assert.match(stdout, /^202 \{"messages":\[\{"id":"[0-9a-f]{32}"/);
    for (const t0 = Date.now(); got.length < 1; await new Promise((r) => setTimeout(r, 10))) {
      if (Date.now() - t0 > 30000) throw new Error('the snippet\'s message did not arrive');
    }
    assert.equal(new TextDecoder().decode(got[0]!.payload), 'Your order has shipped');
    await c.close();
  } finally {
    rmSync(file, { force: true });
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
