/**
 * Live interop with the Go reference server (`sealfeed serve`) on the loopback interface: the TypeScript
 * client connects (pinned key; anonymous with X25519MLKEM768 and GREASE; key-identified with AES-256-GCM;
 * resumption with the ticket), a message published through the Go publisher CLI (`sealfeed publish`)
 * arrives verified and decrypted, and the Ack clears it.
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
import { fromHex, secureRandom, type DeliveredMessage } from '../src/index.js';
import { connect } from '../src/node.js';

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

async function startServer(dir: string, publisherPub: string): Promise<{ proc: ChildProcess; port: number; fingerprint: string }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = spawn(bin, ['serve', '-listen', `127.0.0.1:${port}`, '-data', join(dir, 'data'), '-publisher', publisherPub, '-log-level', 'warn'], {
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

    const receive = async (client: Awaited<ReturnType<typeof connect>>) => {
      const it = client.messages();
      return (await it.next()).value as DeliveredMessage;
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
