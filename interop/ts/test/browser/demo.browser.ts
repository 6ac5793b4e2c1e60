/**
 * The browser demo of `sealfeed serve` (/demo/, server/demopage) in a real Chromium: the page connects with the
 * bundled TypeScript client, shows its client ID, and shows two unicast messages and one broadcast published
 * with `sealfeed publish` — once each, in message ID order, with their texts and the batch verification marks;
 * and with a wrong key ID from /v1/server the page shows the handshake failing with unknown_server_key.
 *
 * The app page of `sealfeed demo -browser` (demopage.AppHandler, examples/slowbusiness): one user with two device
 * panes, each with its own key and a connect token from the app, both connected to a node that requires tokens;
 * "Publish to alice" (to_user) reaches both panes under the message IDs the app's answer names, and the node's
 * signed delivery webhooks for both acknowledgements appear, verified by the app.
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

function needChromium(): void {
  // a missing browser fails the test (CI installs it)
  assert.ok(
    existsSync(chromiumBin),
    `Chromium not found at ${chromiumBin}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_BIN. ` +
      'The browser test does not download browsers.',
  );
}

/** $SEALFEED_BIN, or ./cmd/sealfeed built into dir. */
async function sealfeedBinary(dir: string): Promise<string> {
  let bin = process.env.SEALFEED_BIN;
  if (!bin) {
    bin = join(dir, 'sealfeed');
    await run('go', ['build', '-o', bin, './cmd/sealfeed'], { cwd: repoRoot, timeoutMs: 180_000 });
  }
  assert.ok(existsSync(bin), `no sealfeed binary at ${bin}`);
  return bin;
}

/** Polls url until it answers 200, while proc runs. */
async function waitReady(proc: ChildProcess, url: string, what: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    if (Date.now() - t0 > 15_000) throw new Error(`${what}: ${url} not ready in 15 s`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
}

async function launch(dir: string): Promise<BrowserContext> {
  const profile = join(dir, 'chromium-profile');
  mkdirSync(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumBin,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 900 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(20_000);
  return context;
}

/** Collects the page's console and errors: a Content-Security-Policy violation shows up in pageErrors. */
function watchPage(page: Page, logs: string[], pageErrors: string[]): void {
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
}

test('the /demo/ page shows verified messages in Chromium', { timeout: 240_000 }, async () => {
  needChromium();

  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-browser-'));
  const logs: string[] = [];
  let server: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  try {
    // 1. the Go binary
    const bin = await sealfeedBinary(dir);

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
    await waitReady(server, `${base}/healthz`, 'sealfeed serve');

    // 3. the browser
    context = await launch(dir);
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    watchPage(page, logs, pageErrors);

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

interface Pane {
  state: string;
  clientId: string;
  tokenId: string;
  messages: { id: string; payload: string; checks: string }[];
}

async function panes(page: Page): Promise<Record<string, Pane>> {
  return page.$$eval('.device', (els) =>
    Object.fromEntries(
      els.map((el) => [
        (el as HTMLElement).dataset.device ?? '',
        {
          state: (el as HTMLElement).dataset.state ?? '',
          clientId: (el as HTMLElement).dataset.clientId ?? '',
          tokenId: (el as HTMLElement).dataset.tokenId ?? '',
          messages: Array.from(el.querySelectorAll('.device-messages > li'), (li) => ({
            id: (li as HTMLElement).dataset.messageId ?? '',
            payload: li.querySelector('.payload')?.textContent ?? '',
            checks: li.querySelector('.checks')?.textContent ?? '',
          })),
        },
      ]),
    ),
  );
}

test('sealfeed demo -browser: one user, two devices, both receive what the app publishes to the user', { timeout: 240_000 }, async () => {
  needChromium();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-browser-app-'));
  const logs: string[] = [];
  let demo: ChildProcess | undefined;
  let context: BrowserContext | undefined;
  try {
    const bin = await sealfeedBinary(dir);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // 6 s tokens: each pane refreshes its token about 4 s after it logged in
    demo = spawn(bin, ['demo', '-browser', '-listen', `127.0.0.1:${port}`, '-work', '50ms', '-token-lifetime', '6s'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (d) => logs.push(`demo: ${String(d).trimEnd()}`));
    demo.stderr!.on('data', (d) => logs.push(`demo: ${String(d).trimEnd()}`));
    await waitReady(demo, `${base}/api/config`, 'sealfeed demo -browser');
    const config = (await (await fetch(`${base}/api/config`)).json()) as { ws_url: string; server_key_id: string };
    const nodeOrigin = new URL(config.ws_url).origin.replace(/^http/, 'ws');
    assert.match(config.ws_url, /^ws:\/\/127\.0\.0\.1:[0-9]+\/v1\/ws$/);
    assert.notEqual(new URL(config.ws_url).port, String(port), 'the node and the app are separate origins');

    context = await launch(dir);
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    watchPage(page, logs, pageErrors);
    const res = await page.goto(`${base}/`, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    const csp = res!.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.ok(csp.includes(`connect-src 'self' ${nodeOrigin};`), `the page may connect to its origin and the node only: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);

    // both devices: logged in, connected with their own keys
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    let p = await panes(page);
    assert.deepEqual(Object.keys(p).sort(), ['laptop', 'phone']);
    for (const [name, pane] of Object.entries(p)) {
      assert.equal(pane.state, 'connected', `${name}: ${JSON.stringify(pane)}`);
      assert.match(pane.clientId, /^[0-9a-f]{64}$/, name);
      assert.match(pane.tokenId, /^[0-9a-f]{32}$/, name);
    }
    assert.notEqual(p.phone!.clientId, p.laptop!.clientId, 'each device has its own key');
    assert.notEqual(p.phone!.tokenId, p.laptop!.tokenId, 'each device has its own token');

    // the node's directory lists both devices (recorded from their tokens just after they connected), and then
    // the page lets the app publish to alice
    await page.waitForSelector('#publish:not([disabled])', { timeout: 20_000 });
    const directory = (await page.textContent('#directory'))!;
    for (const name of ['laptop', 'phone']) assert.ok(directory.includes(`${name} (client ${p[name]!.clientId.slice(0, 12)}…)`), directory);

    // the app publishes to alice: both devices get it, under the IDs the app's answer names
    const text = `paid ${randomBytes(4).toString('hex')} ✓ <b>not bold</b>`;
    await page.fill('#publish-text', text);
    await page.click('#publish');
    await page.waitForFunction(() => document.querySelectorAll('#deliveries > li').length === 2, undefined, { timeout: 20_000 });
    const deliveries = await page.$$eval('#deliveries > li', (lis) =>
      Object.fromEntries(lis.map((li) => [(li as HTMLElement).dataset.device ?? '', (li as HTMLElement).dataset.messageId ?? ''])),
    );
    assert.deepEqual(Object.keys(deliveries).sort(), ['laptop', 'phone']);
    await page.waitForFunction(
      (t) => Array.from(document.querySelectorAll('.device')).every((d) => Array.from(d.querySelectorAll('.payload')).some((e) => e.textContent === t)),
      text,
      { timeout: 20_000 },
    );
    await sleep(500); // a duplicate would show up now
    p = await panes(page);
    for (const name of ['phone', 'laptop']) {
      const got = p[name]!.messages.filter((m) => m.payload === text);
      assert.equal(got.length, 1, `${name} shows the message ${got.length} times: ${JSON.stringify(p[name])}`);
      assert.equal(got[0]!.id, deliveries[name], `${name} shows message ${got[0]!.id}, the app's answer says ${deliveries[name]}`);
      assert.equal(got[0]!.checks, 'signature ✓ proof ✓ decrypted ✓');
    }
    assert.equal(await page.locator('.device b').count(), 0, 'the payload is text, never markup');

    // the app's log: a login per device, the publication
    await page.waitForFunction(() => /published .* to alice/.test(document.getElementById('events')?.textContent ?? ''), undefined, {
      timeout: 10_000,
    });
    const events = (await page.textContent('#events'))!;
    assert.match(events, /demo login alice\/phone: token/);
    assert.match(events, /demo login alice\/laptop: token/);

    // the devices acknowledged: the node's signed webhooks reach the app, which verifies each and lists it
    await page.waitForFunction(
      () => ['phone', 'laptop'].every((d) => document.querySelector(`#webhooks > li[data-verified="true"][data-device="${d}"]`)),
      undefined,
      { timeout: 20_000 },
    );
    const hooks = await page.$$eval('#webhooks > li', (lis) =>
      lis.map((li) => ({ ...(li as HTMLElement).dataset, text: li.textContent ?? '' }) as Record<string, string>),
    );
    for (const name of ['phone', 'laptop']) {
      const mine = hooks.filter((h) => h.device === name);
      assert.equal(mine.length, 1, `${name}: webhooks ${JSON.stringify(hooks)}`);
      assert.equal(mine[0]!.verified, 'true');
      assert.equal(mine[0]!.type, 'acknowledged');
      assert.equal(mine[0]!.user, 'alice');
      assert.equal(mine[0]!.messageId, deliveries[name], `${name}: the webhook names message ${mine[0]!.messageId}`);
      assert.equal(mine[0]!.text, `webhook: acknowledged message ${deliveries[name]} for alice/${name} — signature verified`);
    }
    assert.equal(hooks.length, 2, `webhooks ${JSON.stringify(hooks)}`);
    assert.equal(await page.textContent('#webhook-count'), '(2)');

    // token refresh (POST-030): each pane gets a new token from the app and the node accepts it on the open
    // connection; the panes stay connected under the same client IDs
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('.device')).every((d) => Number((d as HTMLElement).dataset.refreshes ?? '0') >= 1),
      undefined,
      { timeout: 20_000 },
    );
    const after = await panes(page);
    for (const name of ['phone', 'laptop']) {
      assert.equal(after[name]!.state, 'connected', `${name} after the refresh: ${JSON.stringify(after[name])}`);
      assert.equal(after[name]!.clientId, p[name]!.clientId);
      assert.notEqual(after[name]!.tokenId, p[name]!.tokenId, `${name}: the token ID did not change`);
    }
    assert.match(logs.join('\n'), /verified and accepted on the open connection \(TokenRefresh\)/);
    assert.deepEqual(pageErrors, [], 'errors in the page (a Content-Security-Policy violation shows up here)');

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'demo-user.png'), fullPage: true });
  } catch (e) {
    if (logs.length) console.error(logs.join('\n'));
    throw e;
  } finally {
    if (context) await within(context.close(), 10_000, 'closing Chromium').catch((e) => console.error(String(e)));
    await stop(demo);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
});
