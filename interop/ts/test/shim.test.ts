/**
 * The conformance shim's command line (src/shim.ts, spec/conformance.md CONF-010 … CONF-012): Go-style flags
 * and durations, the final result line, and `result unimplemented` (exit 89) for what it does not support.
 * The shim against the runner's adversarial server is test/conformance.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SealFeedError } from '../src/index.js';
import { liveConfig, outcomeOf, parseDuration, parseFlags, UsageError } from '../src/shim.js';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pin = '11'.repeat(32);

function shim(...args: string[]): { status: number | null; stdout: string } {
  return shimWithInput('', ...args);
}

function shimWithInput(input: string, ...args: string[]): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [join(packageDir, 'dist', 'src', 'shim.js'), ...args], { encoding: 'utf8', timeout: 30_000, input });
  return { status: r.status, stdout: r.stdout };
}

test('Go-style flags: -name value, -name=value, --name, parsing stops at --', () => {
  const f = parseFlags(['-mode', 'live', '--url=ws://x/v1/ws', '-connections', '2', '-pin', pin, '--', '-bogus']);
  assert.deepEqual([f.mode, f.url, f.connections, f.pin], ['live', 'ws://x/v1/ws', '2', pin]);
  assert.ok(f.set.has('pin') && !f.set.has('groups'));
  assert.throws(() => parseFlags(['-bogus', '1']), (e: unknown) => e instanceof UsageError && e.unimplemented === 'flag-bogus');
  assert.throws(() => parseFlags(['-url']), (e: unknown) => e instanceof UsageError && e.unimplemented === undefined);
});

test('durations as Go parses them', () => {
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('250us'), 0.25);
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', '2', 's', '2 s', '2d']) assert.throws(() => parseDuration(bad), UsageError, bad);
});

test('live configuration: trust, groups and AEADs in the order given (CONF-010)', () => {
  const c = liveConfig(parseFlags(['-url', 'ws://x', '-handshake-timeout', '2s', '-pin', pin, '-groups', 'x25519mlkem768,x25519', '-aeads', 'aes256gcm']));
  assert.deepEqual([c.groups, c.aeads, c.handshakeTimeoutMs, c.connections, c.trust.kind], [[2, 1], [2], 2000, 1, 'pinned']);
  const a = liveConfig(parseFlags(['-url', 'ws://x', '-authority', '22'.repeat(32), '-realm', 'r.example', '-identity-seed', '07'.repeat(32)]));
  assert.equal(a.trust.kind, 'authority');
  assert.equal(a.identitySeed?.length, 32);
  // library defaults when not given
  assert.deepEqual([a.groups, a.aeads], [undefined, undefined]);
  assert.throws(() => liveConfig(parseFlags(['-url', 'ws://x', '-pin', pin, '-groups', 'x448'])), (e: unknown) => e instanceof UsageError && e.unimplemented === 'group-x448');
  assert.throws(() => liveConfig(parseFlags(['-url', 'ws://x', '-pin', pin, '-aeads', 'aes128gcm'])), (e: unknown) => e instanceof UsageError && e.unimplemented === 'aead-aes128gcm');
  assert.throws(() => liveConfig(parseFlags(['-url', 'ws://x', '-pin', 'abc'])), UsageError);
  assert.throws(() => liveConfig(parseFlags(['-url', 'ws://x'])), UsageError);
});

test('the result line of a failure (CONF-012)', () => {
  assert.deepEqual(outcomeOf(new SealFeedError('bad_proof', 'x')), { line: 'result alert bad_proof', exit: 1 });
  assert.deepEqual(outcomeOf(new SealFeedError('internal_error', 'x', undefined, { fromPeer: true })), { line: 'result peer-alert internal_error', exit: 1 });
  assert.deepEqual(outcomeOf(new SealFeedError('internal_error', 'x', undefined, { transportClosed: true })), { line: 'result closed', exit: 1 });
});

test('the shim process: unimplemented modes, flags and values exit 89 with one result line; a bad command line exits 2', () => {
  assert.deepEqual(shim('-mode', 'server'), { status: 89, stdout: 'result unimplemented mode-server\n' });
  assert.deepEqual(shim('-mode', 'live', '-url', 'ws://127.0.0.1:9/v1/ws', '-pin', pin, '-tls'), { status: 89, stdout: 'result unimplemented flag-tls\n' });
  assert.deepEqual(shim('-mode', 'live', '-url', 'ws://127.0.0.1:9/v1/ws', '-pin', pin, '-groups', 'p256'), { status: 89, stdout: 'result unimplemented group-p256\n' });
  assert.deepEqual(shim('-mode', 'live', '-pin', pin), { status: 2, stdout: '' });
});

test('the shim process: nothing listening is `result closed` (CONF-012)', () => {
  // port 9 (discard) on the loopback interface: nothing listens there in the test environment
  assert.deepEqual(shim('-mode', 'live', '-url', 'ws://127.0.0.1:9/v1/ws', '-handshake-timeout', '2s', '-pin', pin), { status: 1, stdout: 'result closed\n' });
});

test('vector mode: hello, one answer line per request, exit 0 at the end of input (PROTOCOL.md)', () => {
  const req = (id: string, area: string, group: object, test: object) => JSON.stringify({ id, area, group, test });
  const input = [
    JSON.stringify({ hello: 'sealfeed-conformance/1' }),
    '',
    req('vector/replay/1', 'replay', { type: 'MessageWindow', windowSize: 1024 }, { tcId: 1, steps: [{ signer: 0, id: '1' }, { signer: 0, id: '1' }] }),
    req('vector/expand_label/1', 'expand_label', {}, { tcId: 1, secret: '00'.repeat(32), label: 'key', context: '', length: 32 }),
    req('vector/handshake/70', 'handshake', {}, { tcId: 70, role: 'server' }),
    req('vector/nowhere/1', 'nowhere', {}, { tcId: 1 }),
  ].join('\n');
  const r = shimWithInput(input + '\n', '-mode', 'vectors');
  assert.equal(r.status, 0);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 5);
  assert.equal(lines[0].hello, 'sealfeed-conformance/1');
  assert.ok(lines[0].implementation);
  assert.deepEqual(lines[1], { id: 'vector/replay/1', result: 'invalid', alert: 'replayed_message', outputs: { steps: [{ result: 'accept' }, { result: 'replayed_message' }] } });
  assert.equal(lines[2].result, 'valid');
  assert.match(lines[2].outputs.output, /^[0-9a-f]{64}$/);
  assert.equal(lines[3].result, 'unimplemented');
  assert.equal(lines[4].result, 'unimplemented');
});

test('vector mode: another protocol version is answered with ours, then exit 1; a malformed first line exits 1', () => {
  const r = shimWithInput(JSON.stringify({ hello: 'sealfeed-conformance/2' }) + '\n', '-mode', 'vectors');
  assert.equal(r.status, 1);
  assert.equal(JSON.parse(r.stdout).hello, 'sealfeed-conformance/1');
  assert.deepEqual(shimWithInput('{"id": "x"}\n', '-mode', 'vectors'), { status: 1, stdout: '' });
});
