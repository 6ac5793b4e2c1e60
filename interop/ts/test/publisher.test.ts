/**
 * The TypeScript publisher's signer (spec/api.md API-001 … API-004, API-038) against external and published
 * bytes: RFC 9421 Appendix B.2.6 (the base and the RFC's Ed25519 signature), RFC 9530's Content-Digest
 * example, and the worked example of docs/publishing.md, read from the page, byte for byte (the same page a Go
 * test generates with the server's signer). Then the publisher's behaviour against a scripted fetch: the
 * request it sends, a 503 retried with the same key and body under a new nonce no sooner than Retry-After, the
 * bound on retries and waits, problems as ProblemError, and no retry of other answers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  contentDigest,
  fromHex,
  parsePrivateKeyPem,
  ProblemError,
  Publisher,
  publisherKeyId,
  secureRandom,
  signatureBase,
  signRequest,
  toHex,
} from '../src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

test('RFC 9421 Appendix B.2.6: the signature base and the RFC signature (API-004)', () => {
  const params = '("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
  const base = signatureBase(
    [
      ['date', 'Tue, 20 Apr 2021 02:07:55 GMT'],
      ['@method', 'POST'],
      ['@path', '/foo'],
      ['@authority', 'example.com'],
      ['content-type', 'application/json'],
      ['content-length', '18'],
    ],
    params,
  );
  assert.equal(
    base,
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n"@method": POST\n"@path": /foo\n"@authority": example.com\n"content-type": application/json\n"content-length": 18\n' +
      `"@signature-params": ${params}`,
  );
  // test-key-ed25519 (RFC 9421 Appendix B.1.4)
  const seed = parsePrivateKeyPem('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n');
  assert.equal(toHex(ed25519.getPublicKey(seed)), '26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb');
  const sig = ed25519.sign(new TextEncoder().encode(base), seed);
  assert.equal(Buffer.from(sig).toString('base64'), 'wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==');
  // RFC 9530 §2
  assert.equal(contentDigest(new TextEncoder().encode('{"hello": "world"}')), 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
});

/** The worked example of docs/publishing.md, parsed from the page. */
function workedExample() {
  const doc = readFileSync(join(repoRoot, 'docs', 'publishing.md'), 'utf8');
  const start = doc.indexOf('<!-- worked-example:');
  const end = doc.indexOf('<!-- /worked-example -->');
  assert.ok(start >= 0 && end > start, 'docs/publishing.md has no worked example');
  const ex = doc.slice(start, end);
  const one = (re: RegExp, what: string): string => {
    const m = re.exec(ex);
    assert.ok(m, `the worked example has no ${what}`);
    return m[1]!;
  };
  const http = one(/```http\n([\s\S]*?)\n```/, 'request');
  const [head, body] = http.split('\n\n') as [string, string];
  const fields = new Map(head.split('\n').slice(1).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)] as const));
  const bases = [...ex.matchAll(/```text\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
  return {
    keyId: one(/its key ID `([0-9a-f]{64})`/, 'key ID'),
    pem: bases[0]!,
    created: Number(one(/created at (\d+)/, 'created')),
    nonce: one(/nonce `([^`]+)`/, 'nonce'),
    requestLine: head.split('\n')[0]!,
    fields,
    body,
    base: bases[1]!,
  };
}

test('the worked example of docs/publishing.md, byte for byte', () => {
  const ex = workedExample();
  const seed = parsePrivateKeyPem(ex.pem);
  assert.equal(publisherKeyId(seed), ex.keyId);
  assert.equal(ex.requestLine, 'POST /v1/messages HTTP/1.1');
  const signed = signRequest({
    method: 'POST',
    url: `https://${ex.fields.get('Host')}/v1/messages`,
    body: new TextEncoder().encode(ex.body),
    idempotencyKey: ex.fields.get('Idempotency-Key')!,
    seed,
    created: ex.created,
    nonce: ex.nonce,
  });
  assert.equal(signed.base, ex.base);
  for (const h of ['Idempotency-Key', 'Content-Digest', 'Signature-Input', 'Signature']) {
    assert.equal(signed.headers[h], ex.fields.get(h), h);
  }
});

test('signRequest: the covered components and parameters (API-002, API-003, API-038)', () => {
  const seed = secureRandom(32);
  const s = signRequest({ method: 'get', url: 'http://Push.Example:8080/v1/clients/ab?x=1', body: new Uint8Array(0), seed, created: 5, nonce: 'n'.repeat(16) });
  assert.deepEqual(s.base.split('\n').slice(0, 5), ['"@method": GET', '"@authority": push.example:8080', '"@path": /v1/clients/ab', '"@query": ?x=1', '"content-digest": sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:']);
  assert.equal(s.headers['Idempotency-Key'], undefined);
  assert.match(s.headers['Signature-Input']!, /^sealfeed=\("@method" "@authority" "@path" "@query" "content-digest"\);created=5;nonce="n{16}";keyid="[0-9a-f]{64}";alg="ed25519"$/);
  // a default port is not part of the authority fetch sends
  assert.match(signRequest({ method: 'POST', url: 'https://push.example:443/v1/messages', body: new Uint8Array(0), seed }).base, /"@authority": push.example\n/);
  assert.throws(() => signRequest({ method: 'POST', url: 'https://p/', body: new Uint8Array(0), seed, nonce: 'short' }), /16 to 128/);
  assert.throws(() => signRequest({ method: 'POST', url: 'https://p/', body: new Uint8Array(0), seed, idempotencyKey: 'has space' }), /API-026/);
  assert.throws(() => signRequest({ method: 'POST', url: 'https://p/', body: new Uint8Array(0), seed, keyId: 'k"\n' }), /printable/);
  // the signature verifies over the base
  const sig = Buffer.from(/^sealfeed=:(.*):$/.exec(s.headers['Signature']!)![1]!, 'base64');
  assert.ok(ed25519.verify(sig, new TextEncoder().encode(s.base), ed25519.getPublicKey(seed)));
});

test('parsePrivateKeyPem refuses what is not a keygen key', () => {
  const good = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----';
  assert.equal(parsePrivateKeyPem(good).length, 32);
  for (const bad of [
    'junk\n' + good,
    good + '\njunk',
    good.replace(/PRIVATE KEY/g, 'PUBLIC KEY'),
    good.replace('MC4CAQAw', 'MC4CAQEw'), // version 1
    '-----BEGIN PRIVATE KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PRIVATE KEY-----', // an SPKI
  ]) {
    assert.throws(() => parsePrivateKeyPem(bad), RangeError);
  }
});

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

/** A fetch that records each request and answers from a script. */
function scriptedFetch(answers: (Response | Error)[]): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const f = (async (input: URL | RequestInfo, init?: RequestInit) => {
    const body = init?.body ? new TextDecoder().decode(init.body as Uint8Array) : '';
    sent.push({ url: String(input), method: init!.method!, headers: init!.headers as Record<string, string>, body, at: Date.now() });
    const a = answers.shift();
    if (!a) throw new Error('no more scripted answers');
    if (a instanceof Error) throw a;
    return a;
  }) as typeof fetch;
  return { fetch: f, sent };
}

const problem = (status: number, name: string, rule: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `https://sealfeed.dev/problems/${name}`, title: name, status, detail: `${name} detail`, rule, request_id: 'r1' }), {
    status,
    headers: { 'Content-Type': 'application/problem+json', ...headers },
  });
const accepted = (replayed = false) =>
  new Response(JSON.stringify({ messages: [{ id: '0'.repeat(32), client_id: 'a'.repeat(64), message_id: 1, expires: '2026-01-01T00:00:00Z' }], replayed }), { status: 202 });

test('Publisher: the request it sends; 503 and no answer retried with the same key and body, signed anew, after Retry-After (API-041)', async () => {
  const seed = secureRandom(32);
  const { fetch, sent } = scriptedFetch([problem(503, 'unavailable', 'API-041', { 'Retry-After': '1' }), new TypeError('fetch failed'), accepted(true)]);
  const p = new Publisher({ baseUrl: 'http://127.0.0.1:9/', key: seed, fetch });
  const r = await p.publish({ toUser: ['alice'], text: 'hi', ttl: 60 });
  assert.equal(r.replayed, true);
  assert.equal(sent.length, 3);
  assert.equal(sent[0]!.url, 'http://127.0.0.1:9/v1/messages');
  assert.equal(sent[0]!.body, '{"to_user":["alice"],"text":"hi","ttl":60}');
  assert.equal(sent[0]!.headers['Content-Type'], 'application/json');
  const key = sent[0]!.headers['Idempotency-Key']!;
  assert.match(key, /^[0-9a-f]{32}$/);
  const nonces = new Set<string>();
  for (const s of sent) {
    assert.equal(s.method, 'POST');
    assert.equal(s.body, sent[0]!.body);
    assert.equal(s.headers['Idempotency-Key'], key, 'a retry changed the Idempotency-Key');
    assert.match(s.headers['Signature-Input']!, /"idempotency-key"\);created=\d+;nonce="[A-Za-z0-9_-]{32}";keyid="[0-9a-f]{64}";alg="ed25519"$/);
    nonces.add(/nonce="([^"]+)"/.exec(s.headers['Signature-Input']!)![1]!);
  }
  assert.equal(nonces.size, 3, 'a retry reused a nonce');
  assert.ok(sent[1]!.at - sent[0]!.at >= 990, `retried ${sent[1]!.at - sent[0]!.at} ms after Retry-After: 1`);

  // exactly one of to and toUser (API-090), refused before anything is sent
  await assert.rejects(p.publish({ to: ['a'.repeat(64)], toUser: ['alice'], text: 'hi' }), /exactly one of to and toUser/);
  await assert.rejects(p.publish({ text: 'hi' }), /exactly one of to and toUser/);
  assert.equal(sent.length, 3);

  // the caller's key is kept; a payload is standard base64
  const s2 = scriptedFetch([accepted()]);
  await new Publisher({ baseUrl: 'http://h', key: seed, fetch: s2.fetch }).publish({ to: [fromHex('bb'.repeat(32))], payload: Uint8Array.of(0xfb, 0xff) }, { idempotencyKey: 'order-1' });
  assert.equal(s2.sent[0]!.headers['Idempotency-Key'], 'order-1');
  assert.equal(s2.sent[0]!.body, `{"to":["${'bb'.repeat(32)}"],"payload":"+/8="}`);
});

test('Publisher: problems are ProblemErrors; only 503 and network failures are retried, at most `retries` times', async () => {
  const seed = secureRandom(32);
  for (const [status, name, rule] of [
    [401, 'bad-signature', 'API-015'],
    [429, 'too-many-pending', 'API-028'],
    [422, 'idempotency-key-reused', 'API-027'],
  ] as const) {
    const { fetch, sent } = scriptedFetch([problem(status, name, rule, { 'Retry-After': '1' })]);
    const e = await new Publisher({ baseUrl: 'http://h', key: seed, fetch }).publish({ to: ['a'.repeat(64)], text: 'x' }).catch((e: unknown) => e);
    assert.ok(e instanceof ProblemError, String(e));
    assert.deepEqual([e.status, e.problem, e.rule, e.detail, e.requestId], [status, name, rule, `${name} detail`, 'r1']);
    assert.equal(sent.length, 1, `${status} was retried`);
  }
  // retries: 1 → two attempts; the last 503 is thrown
  const s = scriptedFetch([problem(503, 'unavailable', 'API-041'), problem(503, 'unavailable', 'OPS-003')]);
  const e = await new Publisher({ baseUrl: 'http://h', key: seed, fetch: s.fetch, retries: 1 }).publish({ to: ['a'.repeat(64)], text: 'x' }).catch((e: unknown) => e);
  assert.equal((e as ProblemError).rule, 'OPS-003');
  assert.equal(s.sent.length, 2);
  // a Retry-After longer than maxRetryWaitMs is not waited for
  const l = scriptedFetch([problem(503, 'unavailable', 'API-041', { 'Retry-After': '120' })]);
  await assert.rejects(new Publisher({ baseUrl: 'http://h', key: seed, fetch: l.fetch }).publish({ to: ['a'.repeat(64)], text: 'x' }), ProblemError);
  assert.equal(l.sent.length, 1);
  // status and presence: GET, empty body covered by Content-Digest, no Idempotency-Key, not retried
  const g = scriptedFetch([problem(503, 'unavailable', 'API-041')]);
  await assert.rejects(new Publisher({ baseUrl: 'http://h', key: seed, fetch: g.fetch }).status('0'.repeat(32)), ProblemError);
  assert.equal(g.sent.length, 1);
  assert.equal(g.sent[0]!.method, 'GET');
  assert.equal(g.sent[0]!.headers['Idempotency-Key'], undefined);
  assert.equal(g.sent[0]!.headers['Content-Digest'], 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
  // caller bugs are refused before anything is sent
  const p = new Publisher({ baseUrl: 'http://h', key: seed, fetch: scriptedFetch([]).fetch });
  await assert.rejects(p.publish({ to: ['a'.repeat(64)], text: 'x', payload: new Uint8Array(1) }), /exactly one/);
  await assert.rejects(p.status('../x'), RangeError);
  await assert.rejects(p.publishBulk([]), /1 to 1000/);
});
