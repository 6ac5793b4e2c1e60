/**
 * The browser demo of `sealfeed serve` (/demo/, server/demopage) in a real Chromium: the page connects with the
 * bundled TypeScript client, shows its client ID, and shows two unicast messages and one broadcast published
 * with `sealfeed publish` — once each, in message ID order, with their texts and the batch verification marks;
 * and with a wrong key ID from /v1/server the page shows the handshake failing with unknown_server_key.
 *
 *   npm run test:browser
 *
 * Needs Go (builds ./cmd/sealfeed from the repository root, or uses $SEALFEED_BIN) and Chromium at
 * /usr/bin/chromium ($CHROMIUM_BIN overrides; `apt-get install -y chromium`). A missing Chromium is a failure,
 * not a skip. Leaves a screenshot in test-artifacts/demo.png.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const repoRoot = resolve(packageDir, '..', '..');
const artifacts = join(packageDir, 'test-artifacts');
const chromiumBin = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const execFileP = promisify(execFile);

/** Runs a command with a time limit; the error names the command and its output. */
async function run(file: string, args: string[], opts: { cwd?: string; timeoutMs: number }): Promise<string> {
  try {
    const r = await execFileP(file, args, { cwd: opts.cwd, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 });
    return r.stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rejects after ms with a message, unless p settles first. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no result in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  await Promise.race([exited, sleep(3000)]);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
}

interface Shown {
  id: string;
  kind: string;
  batchSeq: string;
  payload: string;
  checks: string;
}

async function shownMessages(page: Page): Promise<Shown[]> {
  return page.$$eval('#messages > li', (lis) =>
    lis.map((li) => ({
      id: (li as HTMLElement).dataset.messageId ?? '',
      kind: (li as HTMLElement).dataset.kind ?? '',
      batchSeq: (li as HTMLElement).dataset.batchSeq ?? '',
      payload: li.querySelector('.payload')?.textContent ?? '',
      checks: li.querySelector('.checks')?.textContent ?? '',
    })),
  );
}

test('the /demo/ page shows verified messages in Chromium', { timeout: 240_000 }, async () => {
  // a missing browser fails the test (CI installs it)
  assert.ok(
    existsSync(chromiumBin),
    `Chromium not found at ${chromiumBin}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_BIN. ` +
      'The browser test does not download browsers.',
  );

  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-browser-'));
  const logs: string[] = [];
  let server: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  try {
    // 1. the Go binary
    let bin = process.env.SEALFEED_BIN;
    if (!bin) {
      bin = join(dir, 'sealfeed');
      await run('go', ['build', '-o', bin, './cmd/sealfeed'], { cwd: repoRoot, timeoutMs: 180_000 });
    }
    assert.ok(existsSync(bin), `no sealfeed binary at ${bin}`);

    // 2. publisher key and server
    const key = join(dir, 'k');
    const pub = join(dir, 'k.pub');
    await run(bin, ['keygen', '-out', key, '-pub', pub], { timeoutMs: 15_000 });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(bin, ['serve', '-listen', `127.0.0.1:${port}`, '-data', join(dir, 'data'), '-publisher', pub, '-sync', 'NORMAL', '-demo-page'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d) => logs.push(`serve: ${String(d).trimEnd()}`));
    server.stderr!.on('data', (d) => logs.push(`serve: ${String(d).trimEnd()}`));
    const t0 = Date.now();
    for (;;) {
      if (server.exitCode !== null) throw new Error(`sealfeed serve exited with ${server.exitCode}`);
      if (Date.now() - t0 > 15_000) throw new Error('sealfeed serve: /healthz not ready in 15 s');
      try {
        const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }

    // 3. the browser
    const profile = join(dir, 'chromium-profile');
    mkdirSync(profile);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumBin,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1000, height: 900 },
      timeout: 30_000,
    });
    context.setDefaultTimeout(20_000);
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('console', (m) => {
      logs.push(`console.${m.type()}: ${m.text()}`);
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? '?'})`));
    page.on('pageerror', (e) => {
      logs.push(`pageerror: ${e.message}`);
      pageErrors.push(e.message);
    });

    const res = await page.goto(`${base}/demo/`, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.match(res!.headers()['content-security-policy'] ?? '', /default-src 'self'/);

    // 4. connected: the client ID
    await page.waitForFunction(() => /^[0-9a-f]{64}$/.test(document.getElementById('client-id')?.textContent ?? ''), undefined, {
      timeout: 20_000,
    });
    const clientId = (await page.textContent('#client-id'))!;
    assert.equal(await page.getAttribute('#status', 'data-state'), 'connected');
    assert.match((await page.textContent('#publish-command'))!, new RegExp(`sealfeed publish -server ${base} .*-to ${clientId}`));

    // 5. publish: two unicast messages, then a broadcast to this client and another one
    const other = randomBytes(32).toString('hex');
    const sent = [
      { to: [clientId], text: 'first unicast: grüße aus Go ✓', kind: 'unicast' },
      { to: [clientId], text: 'second unicast <b>not bold</b> & escaped', kind: 'unicast' },
      { to: [clientId, other], text: 'a broadcast to two clients', kind: 'broadcast' },
    ];
    const acceptedIds: bigint[] = [];
    for (const m of sent) {
      const out = await run(bin, ['publish', '-server', base, '-key', key, ...m.to.flatMap((t) => ['-to', t]), '-text', m.text], { timeoutMs: 30_000 });
      const r = JSON.parse(out) as { messages: { client_id: string; message_id: number }[] };
      const mine = r.messages.find((a) => a.client_id === clientId);
      assert.ok(mine, `publish answered no message for ${clientId}: ${out}`);
      acceptedIds.push(BigInt(mine.message_id));
    }

    // 6. all three shown, verified
    await page.waitForFunction(
      (n) => {
        const lis = document.querySelectorAll('#messages > li');
        return lis.length >= n && Array.from(lis).every((li) => li.querySelector('.checks')?.textContent === 'signature ✓ proof ✓ decrypted ✓');
      },
      sent.length,
      { timeout: 20_000 },
    );
    await sleep(500); // a duplicate would show up now
    const shown = await shownMessages(page);
    assert.equal(shown.length, sent.length, `want ${sent.length} messages, page shows ${JSON.stringify(shown)}`);
    const ids = shown.map((s) => BigInt(s.id));
    assert.equal(new Set(ids).size, ids.length, `a message shown twice: ${ids.join(', ')}`);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `message IDs not ascending: ${ids.join(', ')}`);
    assert.deepEqual(ids, acceptedIds, 'the page shows other message IDs than the server accepted');
    shown.forEach((s, i) => {
      assert.equal(s.payload, sent[i]!.text);
      assert.equal(s.kind, sent[i]!.kind);
      assert.equal(s.checks, 'signature ✓ proof ✓ decrypted ✓');
      assert.match(s.batchSeq, /^[0-9]+$/);
    });
    // the payload is text, never markup
    assert.equal(await page.locator('#messages b').count(), 0);
    assert.match((await page.textContent('#batch'))!, /signature ✓ proof ✓ decrypted ✓/);
    assert.equal(await page.getAttribute('#status', 'data-state'), 'connected');
    assert.deepEqual(pageErrors, [], 'errors in the page (a Content-Security-Policy violation shows up here)');

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'demo.png'), fullPage: true });

    // 7. the pin is enforced: with another key ID from /v1/server the handshake fails and the page says why
    const wrong = await context.newPage();
    await wrong.route('**/v1/server', async (route) => {
      const r = await route.fetch();
      const info = (await r.json()) as Record<string, unknown>;
      await route.fulfill({ response: r, json: { ...info, key_id: randomBytes(32).toString('hex') } });
    });
    await wrong.goto(`${base}/demo/`, { waitUntil: 'load' });
    await wrong.waitForSelector('#status[data-state="error"]', { timeout: 20_000 });
    assert.equal(await wrong.textContent('#status'), 'error: unknown_server_key');
    assert.equal(await wrong.textContent('#client-id'), '—');
    await wrong.close();

    // 8. IndexedDBReplayStore (REPLAY-013 in browsers): a key-identified client connects with it and
    // acknowledges a message; a new page (a restart) reads the state it saved through a new store object
    const dbName = 'sealfeed-test-replay';
    const seed = randomBytes(32).toString('hex');
    const first = await context.newPage();
    await first.goto(`${base}/demo/`, { waitUntil: 'load' });
    const idA = await first.evaluate(
      async ({ dbName, seed, bundle }) => {
        const m = await import(bundle);
        const info = (await (await fetch('/v1/server')).json()) as { key_id: string };
        const store = new m.IndexedDBReplayStore(dbName);
        await store.save('00:pins', { pins: ['ab'.repeat(32)] });
        const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
        const c = await m.SealFeedClient.connect({
          url,
          WebSocket,
          trust: { kind: 'pinned', keyId: m.fromHex(info.key_id) },
          identitySeed: m.fromHex(seed),
          replayStore: store,
        });
        const id = c.clientIdHex as string;
        (globalThis as unknown as { sealfeedTest: unknown }).sealfeedTest = { c, it: c.messages() };
        return id;
      },
      { dbName, seed, bundle: '/demo/sealfeed-client.js' },
    );
    await run(bin, ['publish', '-server', base, '-key', key, '-to', idA, '-text', 'kept in IndexedDB'], { timeoutMs: 30_000 });
    const gotA = await first.evaluate(async () => {
      const t = (globalThis as unknown as { sealfeedTest: { c: { close(): Promise<void> }; it: AsyncIterator<{ payload: Uint8Array; ack(): void }> } }).sealfeedTest;
      const m = (await t.it.next()).value!;
      m.ack();
      await t.c.close();
      return new TextDecoder().decode(m.payload);
    });
    assert.equal(gotA, 'kept in IndexedDB');
    await first.close();
    const second = await context.newPage();
    await second.goto(`${base}/demo/`, { waitUntil: 'load' });
    const reread = await second.evaluate(async ({ dbName, bundle }) => {
      const m = await import(bundle);
      const store = new m.IndexedDBReplayStore(dbName);
      const pins = await store.load('00:pins');
      const missing = await store.load('11:pins');
      // every entry the client saved, read through the raw API
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(dbName);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const keys = await new Promise<IDBValidKey[]>((res, rej) => {
        const r = db.transaction('replay').objectStore('replay').getAllKeys();
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      db.close();
      const states = [];
      for (const k of keys) if (k !== '00:pins') states.push(await store.load(String(k)));
      return { pins, missing: missing === undefined, keys: keys.map(String), states: JSON.stringify(states) };
    }, { dbName, bundle: '/demo/sealfeed-client.js' });
    assert.deepEqual(reread.pins, { pins: ['ab'.repeat(32)] });
    assert.equal(reread.missing, true);
    assert.ok(reread.keys.length >= 2, `the client saved no state in IndexedDB: keys ${reread.keys.join(', ')}`);
    assert.match(reread.states, /[0-9]/, 'the saved states are empty');
    await second.close();
  } catch (e) {
    // the logs of the server and the page help whoever reads the failure
    if (logs.length) console.error(logs.join('\n'));
    throw e;
  } finally {
    if (context) await within(context.close(), 10_000, 'closing Chromium').catch((e) => console.error(String(e)));
    await stop(server);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
});
