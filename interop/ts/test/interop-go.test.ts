/**
 * Live interop with the Go reference server (`sealfeed serve`) on the loopback interface: the TypeScript
 * client connects (pinned key; anonymous with X25519MLKEM768 and GREASE; key-identified with AES-256-GCM;
 * resumption with the ticket), a message published through the Go publisher CLI (`sealfeed publish`)
 * arrives verified and decrypted, and the Ack clears it. Then the delivery guarantee: a message handed over and
 * not acknowledged is not handed over again across a reconnect in the same process, is handed over again,
 * marked, after a restart, and an acknowledgement made after a reconnect goes out on the new connection.
 *
 * Uses $SEALFEED_BIN when set, else builds `./cmd/sealfeed` with Go into a temporary directory. It never
 * skips: without a server there is no interop to claim.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fromHex, keyId, ReconnectingClient, secureRandom, toHex, type BatchStatus, type DeliveredMessage, type Ticket } from '../src/index.js';
import { connect, FileReplayStore, NodeWebSocket } from '../src/node.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const run = promisify(execFile);
let bin = process.env.SEALFEED_BIN ?? '';

async function ensureBinary(): Promise<string> {
  if (bin) {
    if (!existsSync(bin)) throw new Error(`SEALFEED_BIN=${bin} does not exist`);
    return bin;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-bin-'));
  bin = join(dir, 'sealfeed');
  await run('go', ['build', '-o', bin, './cmd/sealfeed'], { cwd: repoRoot });
  return bin;
}

async function startServer(
  dir: string,
  publisherPub: string,
  extra: string[] = [],
  port?: number,
): Promise<{ proc: ChildProcess; port: number; fingerprint: string }> {
  // A random port may be taken by another process between the pick and the bind: pick again, unless the caller
  // asked for this port (a restart on the same address).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOn(dir, publisherPub, extra, port ?? 20000 + Math.floor(Math.random() * 20000));
    } catch (e) {
      if (port !== undefined || attempt >= 5 || !/address already in use/.test(String(e))) throw e;
    }
  }
}

async function startServerOn(
  dir: string,
  publisherPub: string,
  extra: string[],
  port: number,
): Promise<{ proc: ChildProcess; port: number; fingerprint: string }> {
  const proc = spawn(bin, ['serve', '-listen', `127.0.0.1:${port}`, '-data', join(dir, 'data'), '-publisher', publisherPub, '-log-level', 'warn', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const t0 = Date.now();
  while (!/listening on/.test(out)) {
    if (proc.exitCode !== null || Date.now() - t0 > 10000) throw new Error(`sealfeed serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const fp = /fingerprint ([0-9a-f]{64})/.exec(out);
  if (!fp) throw new Error(`no fingerprint in: ${out}`);
  return { proc, port, fingerprint: fp[1]! };
}

test('interop with the Go reference server', { timeout: 120000 }, async () => {
  await ensureBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-interop-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    server = await startServer(dir, pub);
    const url = `ws://127.0.0.1:${server.port}/v1/ws`;
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };
    const publish = (to: string, text: string) => run(bin, ['publish', '-server', `http://127.0.0.1:${server!.port}`, '-key', key, '-to', to, '-text', text]);

    // taking a message from messages() does not acknowledge it: m.ack() does
    const receive = async (client: Awaited<ReturnType<typeof connect>>) => {
      const it = client.messages();
      const m = (await it.next()).value as DeliveredMessage;
      m.ack();
      return m;
    };

    // 1. anonymous, default offer (X25519MLKEM768, ChaCha20-Poly1305 preferred, GREASE)
    const a = await connect({ url, trust });
    assert.equal(a.handshake.group, 2);
    const pa = receive(a);
    await publish(a.clientIdHex, 'hello from Go');
    const ma = await pa;
    assert.equal(new TextDecoder().decode(ma.payload), 'hello from Go');
    assert.equal(a.lastBatch?.verified, true);

    // 2. key-identified, X25519 and AES-256-GCM only: the client ID is ID-001 of the key
    const b = await connect({ url, trust, identitySeed: secureRandom(32), groups: [1], aeads: [2] });
    assert.equal(b.handshake.aead, 2);
    const pb = receive(b);
    await publish(b.clientIdHex, 'to a key-identified client');
    assert.equal(new TextDecoder().decode((await pb).payload), 'to a key-identified client');

    // 3. resumption: the ticket of connection 1 keeps the client ID (HS-040)
    const ticket = a.ticket!;
    a.close();
    assert.equal(await a.closed, undefined);
    const c = await connect({ url, trust, ticket });
    assert.equal(c.resumed, true);
    assert.equal(c.clientIdHex, a.clientIdHex);
    const pc = receive(c);
    await publish(c.clientIdHex, 'after resumption');
    const mc = await pc;
    assert.equal(new TextDecoder().decode(mc.payload), 'after resumption');
    assert.ok(mc.messageId > ma.messageId);
    b.close();
    c.close();
  } finally {
    server?.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('delivery guarantee with the Go reference server: held across a reconnect, handed again after a restart, acknowledged through the current connection', { timeout: 120000 }, async () => {
  await ensureBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-interop-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const open: { close(): Promise<void> }[] = [];
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    server = await startServer(dir, pub);
    const url = `ws://127.0.0.1:${server.port}/v1/ws`;
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };
    const publish = (to: string, text: string) => run(bin, ['publish', '-server', `http://127.0.0.1:${server!.port}`, '-key', key, '-to', to, '-text', text]);
    const text = (m: DeliveredMessage) => new TextDecoder().decode(m.payload);
    const until = async (cond: () => boolean, what: string) => {
      const t0 = Date.now();
      while (!cond()) {
        if (Date.now() - t0 > 20000) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    // An anonymous client in manual-ack mode; its ticket and its replay state (a directory) survive restarts;
    // a new FileReplayStore over the directory is a restarted process
    const disk = join(dir, 'client-state');
    let ticket: Ticket | undefined;
    const session = async (replayStore: FileReplayStore) => {
      const got: DeliveredMessage[] = [];
      const batches: BatchStatus[] = [];
      const c = await connect({
        url,
        trust,
        ticket,
        replayStore,
        manualAck: true,
        onTicket: (t) => void (ticket = t),
        onMessage: (m) => void got.push(m),
        onBatch: (b) => void batches.push(b),
      });
      open.push(c);
      return { c, got, batches };
    };

    // process 1, connection 1: two messages handed over, neither acknowledged
    const process1 = new FileReplayStore(disk);
    const s1 = await session(process1);
    const clientId = s1.c.clientIdHex;
    await publish(clientId, 'one');
    await publish(clientId, 'two');
    await until(() => s1.got.length === 2, 'two messages');
    assert.deepEqual(s1.got.map((m) => [text(m), m.possibleRedelivery]), [['one', false], ['two', false]]);
    const [one, two] = s1.got as [DeliveredMessage, DeliveredMessage];
    await s1.c.close();

    // process 1, connection 2 (a reconnect, no restart): the server redelivers both; the application holds
    // them, so neither is handed over again nor acknowledged
    const s2 = await session(process1);
    assert.equal(s2.c.clientIdHex, clientId);
    await until(() => s2.batches.reduce((n, b) => n + b.replayed, 0) === 2, 'the redelivery of both');
    await publish(clientId, 'three');
    await until(() => s2.got.length === 1, 'message three');
    assert.deepEqual(s2.got.map((m) => [text(m), m.possibleRedelivery]), [['three', false]]);
    // acknowledgements after the reconnect: "two" through the message object of connection 1, "three" through
    // its own; both go out on connection 2
    two.ack();
    s2.got[0]!.ack();
    await s2.c.close();

    // process 2 (a restart: a new store object over the same disk): "one", handed over and never acknowledged,
    // is handed over again, marked; "two" and "three" were acknowledged to the server and do not come back
    const process2 = new FileReplayStore(disk);
    const s3 = await session(process2);
    assert.equal(s3.c.clientIdHex, clientId);
    await until(() => s3.got.length === 1, 'the redelivery of one');
    assert.deepEqual(s3.got.map((m) => [text(m), m.messageId, m.possibleRedelivery]), [['one', one.messageId, true]]);
    await publish(clientId, 'four'); // delivered after anything pending with a lower ID
    await until(() => s3.got.length === 2, 'message four');
    assert.deepEqual(s3.got.map((m) => [text(m), m.possibleRedelivery]), [['one', true], ['four', false]]);
    assert.equal(s3.batches.reduce((n, b) => n + b.replayed + b.stale, 0), 0, 'the server redelivered an acknowledged message');
    for (const m of s3.got) m.ack();
    await s3.c.close();

    // process 3: nothing is pending any more
    const s4 = await session(new FileReplayStore(disk));
    await publish(clientId, 'five');
    await until(() => s4.got.length === 1, 'message five');
    assert.deepEqual(s4.got.map((m) => [text(m), m.possibleRedelivery]), [['five', false]]);
    assert.equal(s4.batches.reduce((n, b) => n + b.replayed + b.stale, 0), 0);
  } finally {
    for (const c of open) await c.close();
    server?.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('server-key rotation with the Go reference server: a pinned client learns the announced key and connects after the switch without reconfiguration', { timeout: 120000 }, async () => {
  await ensureBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-interop-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    const oldKey = join(dir, 'old.pem');
    const newKey = join(dir, 'new.pem');
    const newPub = join(dir, 'new.pub.pem');
    await run(bin, ['keygen', '-out', oldKey]);
    const announced = /fingerprint ([0-9a-f]{64})/.exec((await run(bin, ['keygen', '-out', newKey, '-pub', newPub])).stdout)![1]!;
    // HS-070: the server announces its next key
    server = await startServer(dir, pub, ['-key', oldKey, '-next-key', newPub]);
    const port = server.port;
    const url = `ws://127.0.0.1:${port}/v1/ws`;
    const oldFingerprint = server.fingerprint;
    const trust = { kind: 'pinned' as const, keyId: fromHex(oldFingerprint) };
    const publish = (to: string, text: string) => run(bin, ['publish', '-server', `http://127.0.0.1:${port}`, '-key', key, '-to', to, '-text', text]);
    const receive = async (client: Awaited<ReturnType<typeof connect>>, text: string) => {
      const it = client.messages();
      const p = it.next();
      await publish(client.clientIdHex, text);
      const m = (await p).value as DeliveredMessage;
      m.ack();
      assert.equal(new TextDecoder().decode(m.payload), text);
    };
    const disk = join(dir, 'client-state');
    const identitySeed = secureRandom(32);

    // a pinned client connected while the next key is announced learns it (ID-010, ID-011) and stores it (ID-012)
    const a = await connect({ url, trust, identitySeed, replayStore: new FileReplayStore(disk) });
    assert.equal(toHex(keyId(a.handshake.nextServerKey!)), announced);
    await receive(a, 'before the switch');

    // the switch: the same address and data, the new key, nothing announced; the connection ends
    server.proc.kill('SIGTERM');
    await a.closed;
    server = await startServer(dir, pub, ['-key', newKey], port);
    const newFingerprint = server.fingerprint;
    assert.equal(newFingerprint, announced);

    // a restart with the same configuration (the old fingerprint) connects to the new key
    const b = await connect({ url, trust, identitySeed, replayStore: new FileReplayStore(disk) });
    assert.equal(toHex(b.serverKeyId), newFingerprint);
    assert.equal(b.clientIdHex, a.clientIdHex);
    await receive(b, 'after the switch');
    await b.close();

    // a client that never saw the announcement is refused (ID-003)
    await assert.rejects(connect({ url, trust, replayStore: new FileReplayStore(join(dir, 'other-state')) }), (e: unknown) => (e as { alert?: string }).alert === 'unknown_server_key');
  } finally {
    server?.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ReconnectingClient with the Go reference server: going_away on shutdown, reconnect after the restart, the client ID resumed with the newest ticket', { timeout: 120000 }, async () => {
  await ensureBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-reconnect-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let rc: ReconnectingClient | undefined;
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    server = await startServer(dir, pub);
    const port = server.port;
    const url = `ws://127.0.0.1:${port}/v1/ws`;
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };
    const publish = (to: string, text: string) => run(bin, ['publish', '-server', `http://127.0.0.1:${port}`, '-key', key, '-to', to, '-text', text]);
    const tickets: Ticket[] = [];
    const disconnects: { goingAway: boolean; retryInMs: number }[] = [];
    rc = await ReconnectingClient.connect({
      url,
      trust,
      WebSocket: NodeWebSocket,
      replayStore: new FileReplayStore(join(dir, 'state')),
      minBackoffMs: 50,
      maxBackoffMs: 200,
      onTicket: (t) => void tickets.push(t),
      onDisconnect: (d) => void disconnects.push({ goingAway: d.goingAway, retryInMs: d.retryInMs }),
    });
    const it = rc.messages();
    const id = rc.current!.clientIdHex;
    assert.equal(rc.current!.resumed, false);
    await publish(id, 'before the restart');
    const m1 = (await it.next()).value as DeliveredMessage;
    assert.equal(new TextDecoder().decode(m1.payload), 'before the restart');
    m1.ack();
    assert.equal(tickets.length, 1);

    // the server shuts down gracefully (going_away), is down a while (failed attempts back off), comes back
    const exited = new Promise((r) => server!.proc.once('exit', r));
    server.proc.kill('SIGTERM');
    await exited;
    await new Promise((r) => setTimeout(r, 1500));
    server = await startServer(dir, pub, [], port);
    const t0 = Date.now();
    while (!rc.current && Date.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(rc.current, 'no reconnect within 20 s of the restart');
    assert.equal(rc.current.resumed, true, 'the ticket did not resume the client ID');
    assert.equal(rc.current.clientIdHex, id);
    assert.ok(tickets.length >= 2, 'the new connection gave no new ticket');
    assert.equal(disconnects[0]?.goingAway, true, `the shutdown was not seen as going_away: ${JSON.stringify(disconnects)}`);
    assert.ok(disconnects[0]!.retryInMs <= 1000, 'the delay after going_away exceeds GoingAwaySpread');
    assert.ok(disconnects.length >= 2, `no failed attempt while the server was down: ${JSON.stringify(disconnects)}`);
    for (const d of disconnects.slice(1)) assert.ok(!d.goingAway && d.retryInMs >= 1 && d.retryInMs <= 200, JSON.stringify(d));

    // messages keep coming through the same iterator
    await publish(id, 'after the restart');
    const m2 = (await it.next()).value as DeliveredMessage;
    assert.equal(new TextDecoder().decode(m2.payload), 'after the restart');
    assert.ok(m2.messageId > m1.messageId);
    m2.ack();
    await rc.close();
    assert.equal(rc.current, undefined);
    assert.equal((await it.next()).done, true);
  } finally {
    await rc?.close();
    server?.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sealed payloads with the Go reference server: Go seals to a TypeScript client, TypeScript seals to a Go client (spec/sealed.md)', { timeout: 120000 }, async () => {
  await ensureBinary();
  const { publicKeyOf, clientIdOf } = await import('../src/index.js');
  const { generateSealKey, SealedOpener, sealPayload, verifySealKeyRecord } = await import('../src/sealed.js');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-interop-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const pem = (type: string, der: Uint8Array) =>
    `-----BEGIN ${type}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END ${type}-----\n`;
  const unpem = (text: string, type: string) => {
    const m = new RegExp(`-----BEGIN ${type}-----([^-]+)-----END ${type}-----`).exec(text);
    if (!m) throw new Error(`no ${type} block`);
    return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  };
  try {
    const key = join(dir, 'publisher.pem');
    const pub = join(dir, 'publisher.pub.pem');
    await run(bin, ['keygen', '-out', key, '-pub', pub]);
    // PKCS #8 of an Ed25519 key (RFC 8410): the 32-byte seed ends the DER
    const publisherSeed = unpem(readFileSync(key, 'utf8'), 'PRIVATE KEY').slice(-32);
    server = await startServer(dir, pub);
    const base = `http://127.0.0.1:${server.port}`;
    const url = `ws://127.0.0.1:${server.port}/v1/ws`;
    const trust = { kind: 'pinned' as const, keyId: fromHex(server.fingerprint) };

    // 1. a TypeScript client's record; `sealfeed publish -seal-to` checks it against -to and seals
    const identitySeed = secureRandom(32);
    const sk = await generateSealKey(identitySeed);
    const recFile = join(dir, 'ts.rec');
    writeFileSync(recFile, pem('SEALFEED SEAL KEY RECORD', sk.record.raw));
    const c = await connect({ url, trust, identitySeed });
    const it = c.messages();
    const next = it.next();
    await run(bin, ['publish', '-server', base, '-key', key, '-to', c.clientIdHex, '-seal-to', recFile, '-text', 'sealed by Go']);
    const m = (await next).value as DeliveredMessage;
    m.ack();
    const opened = await new SealedOpener([sk], [publicKeyOf(publisherSeed)]).open(m.payload);
    assert.equal(new TextDecoder().decode(opened.payload), 'sealed by Go');
    assert.equal(toHex(opened.publisherKeyId), toHex(keyId(publicKeyOf(publisherSeed))));
    c.close();

    // 2. a Go client's record from `sealfeed seal-key`; TypeScript seals, `sealfeed listen -seal-key` opens
    const idFile = join(dir, 'go-client.key');
    const sealKey = join(dir, 'go.seal');
    const goRec = join(dir, 'go.rec');
    await run(bin, ['keygen', '-out', idFile]);
    const made = await run(bin, ['seal-key', '-identity', idFile, '-out', sealKey, '-record', goRec]);
    const clientId = /client ([0-9a-f]{64})/.exec(made.stdout)![1]!;
    const rec = await verifySealKeyRecord(unpem(readFileSync(goRec, 'utf8'), 'SEALFEED SEAL KEY RECORD'), { clientId: fromHex(clientId) }, BigInt(Math.floor(Date.now() / 1000)));
    const env = await sealPayload(rec, publisherSeed, new TextEncoder().encode('sealed by TypeScript'));
    const envFile = join(dir, 'env.bin');
    writeFileSync(envFile, env);
    await run(bin, ['publish', '-server', base, '-key', key, '-to', clientId, '-file', envFile]);
    const heard = await run(bin, ['listen', '-server', base, '-pin', server.fingerprint, '-identity', idFile, '-seal-key', sealKey, '-seal-from', pub, '-count', '1', '-timeout', '20s']);
    assert.match(heard.stdout, new RegExp(`^1 unicast sealed-by=${toHex(keyId(publicKeyOf(publisherSeed)))} sealed by TypeScript$`, 'm'));
    assert.equal(toHex(clientIdOf(rec.identityKey)), clientId);
  } finally {
    server?.proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
