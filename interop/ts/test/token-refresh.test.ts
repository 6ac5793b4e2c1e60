/**
 * Automatic token refresh (TOK-011, TOK-012, POST-030 … POST-032) in the TypeScript client: the refresh time
 * (between two thirds and three quarters of the validity period), then live against the Go reference server run
 * with -require-token and short-lived tokens. The server closes a session at its token's not_after + ClockSkew
 * (TOK-011); the tests issue tokens whose not_after lies ClockSkew minus a few seconds in the past (still
 * accepted, TOK-004), so that deadline comes within seconds: a client with a `tokenSource` refreshes before each
 * deadline and stays connected across several of them; one with a fixed `token` is closed with token_expired;
 * ReconnectingClient asks the source for a new token for each connection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeToken,
  fromHex,
  issueToken,
  LIMITS,
  parsePrivateKeyPem,
  publicKeyOf,
  ReconnectingClient,
  SealFeedError,
  secureRandom,
  toHex,
  TOKEN_RETRY_MS,
  tokenRefreshAt,
  type DeliveredMessage,
  type TokenRefreshEvent,
} from '../src/index.js';
import { connect, NodeWebSocket } from '../src/node.js';
import { publisherKey, run, sealfeedBinary, startGoServer, until, type GoServer } from './helpers/goserver.js';

test('tokenRefreshAt: two thirds to three quarters into the validity period (TOK-012)', () => {
  const fixed = (b: number) => () => Uint8Array.of(b, b, b, b);
  assert.equal(tokenRefreshAt(1000n, 1900n, fixed(0)), 1_600_000);
  const last = tokenRefreshAt(1000n, 1900n, fixed(255));
  assert.ok(last < 1_675_000 && last >= 1_674_900, String(last));
  for (let i = 0; i < 200; i++) {
    const at = tokenRefreshAt(0n, 3600n);
    assert.ok(at >= 2_400_000 && at <= 2_700_000, String(at));
  }
});

test('token refresh with the Go reference server: kept connected across several expiries by tokenSource; closed with token_expired without it; a new token for each reconnect', { timeout: 180000 }, async () => {
  await sealfeedBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-tsrefresh-'));
  let server: GoServer | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    const { keyFile, pubFile } = await publisherKey(dir);
    server = await startGoServer(dir, pubFile, ['-require-token']);
    const port = server.port;
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };
    const publisherSeed = parsePrivateKeyPem(readFileSync(keyFile, 'utf8'));
    const bin = await sealfeedBinary();
    const publish = (to: string, text: string) => run(bin, ['publish', '-server', `http://127.0.0.1:${port}`, '-key', keyFile, '-to', to, '-text', text]);
    const skew = Number(LIMITS.ClockSkew);
    const nowS = () => Math.floor(Date.now() / 1000);
    /** A token the server accepts now and whose session deadline (not_after + ClockSkew) is `deadlineIn` s away. */
    const shortToken = (clientSeed: Uint8Array, deadlineIn: number, lifetime = 30) => {
      const notAfter = nowS() - skew + deadlineIn;
      return issueToken(publisherSeed, {
        subject: 'alice',
        device: 'phone',
        serverKeyId: fromHex(server!.fingerprint),
        clientKey: publicKeyOf(clientSeed),
        notBefore: BigInt(notAfter - lifetime),
        lifetime,
      });
    };
    const deadlineOf = (raw: Uint8Array) => Number(decodeToken(raw).notAfter + LIMITS.ClockSkew) * 1000;

    // 1. With a tokenSource: each token's deadline is 2·TOKEN_RETRY_MS away when issued; the client refreshes
    // (at once, since these tokens are past two thirds of their life, then no sooner than TOKEN_RETRY_MS after
    // each; a failed source again after TOKEN_RETRY_MS) and is still connected after the deadlines of its first
    // three tokens have passed
    const seed = secureRandom(32);
    const issued: Uint8Array[] = [];
    let failedOnce = false;
    const events: TokenRefreshEvent[] = [];
    const got: DeliveredMessage[] = [];
    const c = await connect({
      url: server.ws,
      trust,
      identitySeed: seed,
      tokenSource: () => {
        // the first refresh fails: the client asks again TOKEN_RETRY_MS later, still before the deadline
        if (issued.length === 1 && !failedOnce) {
          failedOnce = true;
          throw new Error('back end unavailable');
        }
        const t = shortToken(seed, (2 * TOKEN_RETRY_MS) / 1000);
        issued.push(t);
        return t;
      },
      onTokenRefresh: (e) => void events.push(e),
      onMessage: (m) => void got.push(m),
    });
    closers.push(() => c.close());
    // 1b. meanwhile a client whose tokens reach two thirds of their life in the future (issued 4 s into an 18 s
    // life: refresh due 8 to 9.5 s after issue, at least 7 s after the source returned one, counting the
    // truncation of not_before to seconds) refreshes then, on the schedule of the token it just sent, not of the
    // one before (a lower bound only: a loaded machine makes it later, never sooner)
    const seedB = secureRandom(32);
    const timed: number[] = [];
    const b = await connect({
      url: server.ws,
      trust,
      identitySeed: seedB,
      tokenSource: () =>
        issueToken(publisherSeed, { subject: 'carol', serverKeyId: fromHex(server!.fingerprint), clientKey: publicKeyOf(seedB), notBefore: BigInt(nowS() - 4), lifetime: 18 }),
      onTokenRefresh: (e) => void (e.ok && timed.push(Date.now())),
    });
    closers.push(() => b.close());
    let closedEarly: SealFeedError | undefined | null = null;
    void c.closed.then((e) => (closedEarly = e));
    await until(() => issued.length >= 3 || closedEarly !== null, 'three tokens');
    assert.equal(closedEarly, null, `the connection ended: ${String(closedEarly)}`);
    const third = deadlineOf(issued[2]!);
    await until(() => Date.now() > third + 500 || closedEarly !== null, "the third token's deadline", 60000);
    assert.equal(closedEarly, null, `the connection ended: ${String(closedEarly)}`);
    assert.ok(events.length >= 3 && !events[0]!.ok && events.slice(1).every((e) => e.ok), JSON.stringify(events.map((e) => e.ok)));
    assert.match(String((events[0] as { error: unknown }).error), /back end unavailable/);
    const accepted = events.filter((e): e is Extract<TokenRefreshEvent, { ok: true }> => e.ok).map((e) => toHex(e.tokenId));
    assert.deepEqual(accepted, issued.slice(1, 1 + accepted.length).map((t) => toHex(decodeToken(t).tokenId)));
    await publish(c.clientIdHex, 'still connected');
    await until(() => got.length === 1, 'the message');
    assert.equal(new TextDecoder().decode(got[0]!.payload), 'still connected');
    await c.close();
    await until(() => timed.length >= 2, 'two refreshes of client 1b', 60000);
    assert.ok(timed[1]! - timed[0]! >= 6500, `client 1b refreshed ${timed[1]! - timed[0]!} ms after its previous refresh`);
    await b.close();

    // 2. With a fixed token and no source, the server closes the session at the deadline (TOK-011)
    const seed2 = secureRandom(32);
    const fixed = shortToken(seed2, 3);
    const d = await connect({ url: server.ws, trust, identitySeed: seed2, token: fixed });
    closers.push(() => d.close());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([d.closed, new Promise<'open'>((r) => (timer = setTimeout(() => r('open'), 30000)))]);
    clearTimeout(timer);
    assert.ok(ended instanceof SealFeedError && ended.alert === 'token_expired' && ended.fromPeer, `ended with ${String(ended)}`);
    assert.ok(Date.now() >= deadlineOf(fixed) - 1000, 'closed before the deadline');

    // 3. ReconnectingClient asks the source for every connection: after a server restart the new connection
    // presents a new token (the server requires one)
    const seed3 = secureRandom(32);
    const sourced: string[] = [];
    const rc = await ReconnectingClient.connect({
      url: server.ws,
      trust,
      WebSocket: NodeWebSocket,
      identitySeed: seed3,
      minBackoffMs: 50,
      maxBackoffMs: 200,
      tokenSource: async () => {
        const t = issueToken(publisherSeed, { subject: 'bob', serverKeyId: fromHex(server!.fingerprint), clientKey: publicKeyOf(seed3) });
        sourced.push(toHex(decodeToken(t).tokenId));
        return t;
      },
    });
    closers.push(() => rc.close());
    assert.equal(sourced.length, 1);
    await server.stop();
    server = await startGoServer(dir, pubFile, ['-require-token'], port);
    await until(() => sourced.length >= 2 && rc.current !== undefined, 'the reconnect with a new token');
    assert.equal(new Set(sourced).size, sourced.length);
    const it = rc.messages();
    await publish(rc.current!.clientIdHex, 'after the reconnect');
    const m = (await it.next()).value as DeliveredMessage;
    assert.equal(new TextDecoder().decode(m.payload), 'after the reconnect');
    m.ack();
  } finally {
    for (const c of closers) await c();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
