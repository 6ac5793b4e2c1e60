/**
 * Access tokens (spec §6.8) in TypeScript: issuing and the server's check agree (TOK-007), and live against the
 * Go reference server run with -require-token: an anonymous or tokenless client is refused with token_required
 * (HS-062), a key-identified client presents a Go-issued token in its flight (HS-060), receives a message, and
 * refreshes on the open connection with a token this package issued (POST-030 … POST-032); a refresh naming
 * another user closes the connection with illegal_parameter (POST-031).
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run, sealfeedBinary, startGoServer } from './helpers/goserver.js';
import { parsePrivateKeyPem } from '../src/publisher.js';
import {
  decodeToken,
  fromHex,
  issueToken,
  keyId,
  publicKeyOf,
  SealFeedError,
  secureRandom,
  toHex,
  validatePublicKey,
  verifyToken,
  type DeliveredMessage,
} from '../src/index.js';
import { connect } from '../src/node.js';

test('issueToken and verifyToken agree; each defect has its alert (TOK-007)', () => {
  const publisher = secureRandom(32);
  const client = secureRandom(32);
  const serverKeyId = secureRandom(32);
  const v = { issuers: [validatePublicKey(publicKeyOf(publisher))], realm: new TextEncoder().encode('push.example'), serverKeyId };
  const now = 1_800_000_000n;
  const raw = issueToken(publisher, { subject: 'alice', device: 'phone', realm: 'push.example', clientKey: publicKeyOf(client), notBefore: now });
  const t = verifyToken(v, raw, publicKeyOf(client), now);
  assert.equal(new TextDecoder().decode(t.subject), 'alice');
  assert.equal(t.notAfter - t.notBefore, 900n);
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof SealFeedError ? e.alert : String(e);
    }
    return 'accepted';
  };
  assert.equal(code(() => verifyToken(v, raw, publicKeyOf(secureRandom(32)), now)), 'token_key_mismatch');
  assert.equal(code(() => verifyToken(v, raw, publicKeyOf(client), now + 900n + 61n)), 'token_expired');
  assert.equal(code(() => verifyToken({ ...v, realm: new TextEncoder().encode('push.other') }, raw, publicKeyOf(client), now)), 'realm_mismatch');
  assert.equal(code(() => verifyToken({ ...v, issuers: [] }, raw, publicKeyOf(client), now)), 'unknown_signer');
  const flipped = Uint8Array.from(raw);
  flipped[flipped.length - 1]! ^= 1;
  assert.equal(code(() => verifyToken(v, flipped, publicKeyOf(client), now)), 'bad_signature');
  assert.equal(code(() => decodeToken(Uint8Array.of(...raw, 0))), 'decode_error');
  assert.equal(code(() => issueToken(publisher, { subject: 'a', serverKeyId, clientKey: publicKeyOf(client), lifetime: 3601 })), 'illegal_parameter');
  assert.notEqual(toHex(decodeToken(issueToken(publisher, { subject: 'a', serverKeyId, clientKey: publicKeyOf(client) })).tokenId), toHex(t.tokenId));
});

/** The 32-byte seed of the key file `sealfeed keygen` wrote. */
function seedOfPem(path: string): Uint8Array {
  return parsePrivateKeyPem(readFileSync(path, 'utf8'));
}

test('tokens with the Go reference server: required, presented, refreshed', { timeout: 120000 }, async () => {
  const bin = await sealfeedBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-token-'));
  let proc: ChildProcess | undefined;
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    const server = await startGoServer(dir, pub, ['-require-token']);
    proc = server.proc;
    const { port, fingerprint } = server;
    const url = `ws://127.0.0.1:${port}/v1/ws`;
    const trust = { kind: 'pinned' as const, keyId: fromHex(fingerprint) };

    // HS-062: no token, anonymous or key-identified: token_required from the server
    for (const opts of [{}, { identitySeed: secureRandom(32) }]) {
      await assert.rejects(connect({ url, trust, ...opts }), (e: unknown) => e instanceof SealFeedError && e.alert === 'token_required' && e.fromPeer);
    }

    // a token issued by the Go CLI for this client key, presented in the flight (HS-060)
    const seed = secureRandom(32);
    const { stdout } = await run(bin, ['token', '-key', key, '-sub', 'alice', '-device', 'phone', '-client-key', toHex(publicKeyOf(seed)), '-server', fingerprint]);
    const goToken = Uint8Array.from(atob(stdout.trim()), (c) => c.charCodeAt(0));
    // bound to another key: token_key_mismatch (TOK-006)
    await assert.rejects(connect({ url, trust, identitySeed: secureRandom(32), token: goToken }), (e: unknown) => e instanceof SealFeedError && e.alert === 'token_key_mismatch');
    const c = await connect({ url, trust, identitySeed: seed, token: goToken });
    const it = c.messages();
    const next = it.next();
    await run(bin, ['publish', '-server', `http://127.0.0.1:${port}`, '-key', key, '-to', c.clientIdHex, '-text', 'hi alice']);
    const m = (await next).value as DeliveredMessage;
    m.ack();
    assert.equal(new TextDecoder().decode(m.payload), 'hi alice');

    // POST-030 … POST-032: a refresh with a token this package issued with the same publisher key
    const publisherSeed = seedOfPem(key);
    assert.equal(toHex(keyId(publicKeyOf(publisherSeed))), toHex(decodeToken(goToken).issuerId));
    await c.refreshToken(issueToken(publisherSeed, { subject: 'alice', device: 'phone', serverKeyId: fromHex(fingerprint), clientKey: publicKeyOf(seed) }));
    // POST-031: another user on the same connection is refused and the connection closed
    await assert.rejects(
      c.refreshToken(issueToken(publisherSeed, { subject: 'mallory', device: 'phone', serverKeyId: fromHex(fingerprint), clientKey: publicKeyOf(seed) })),
      (e: unknown) => e instanceof SealFeedError && e.alert === 'illegal_parameter',
    );
    const closed = await c.closed;
    assert.equal(closed?.alert, 'illegal_parameter');
  } finally {
    proc?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
