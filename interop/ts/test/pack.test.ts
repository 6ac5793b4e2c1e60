/**
 * The package as published: `npm pack` (scripts skipped: `npm test` has just built dist/), then install the
 * tarball into a new folder as a user would (dependencies from the npm cache when there, else the registry),
 * import both entry points from Node (ESM), compile a TypeScript user of the public types with tsc
 * (moduleResolution nodenext, skipLibCheck off, so the shipped declarations are checked too), and bundle the
 * browser entry with esbuild for the browser: no Node built-in, no `ws`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const execFileP = promisify(execFile);

async function run(file: string, args: string[], cwd: string): Promise<string> {
  try {
    const r = await execFileP(file, args, { cwd, timeout: 180_000, maxBuffer: 16 << 20 });
    return r.stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const consumerTs = `import { SealFeedClient, ReconnectingClient, IndexedDBReplayStore, MemoryReplayStore, backoffDelayMs, fromHex,
  type DeliveredMessage, type ReplayStore, type SealFeedClientOptions, type Ticket } from '@sealfeed/client';
import { connect, FileReplayStore, NodeWebSocket, Publisher, type PublishResult } from '@sealfeed/client/node';
import { SealedOpener, sealPayload, verifySealKeyRecord, type OpenedSealed, type SealKey } from '@sealfeed/client/sealed';

export async function sealed(key: SealKey, record: Uint8Array, seed: Uint8Array): Promise<OpenedSealed> {
  const r = await verifySealKeyRecord(record, { clientId: new Uint8Array(32) }, 0n);
  return new SealedOpener([key], [seed]).open(await sealPayload(r, seed, new Uint8Array(1)));
}

const stores: ReplayStore[] = [new MemoryReplayStore(), new IndexedDBReplayStore('x'), new FileReplayStore('/tmp/x')];
const opts: SealFeedClientOptions = {
  url: 'ws://127.0.0.1:1/v1/ws',
  WebSocket: NodeWebSocket,
  trust: { kind: 'pinned', keyId: fromHex('00'.repeat(32)) },
  replayStore: stores[0],
  onMessage: (m: DeliveredMessage) => void m.payload.length,
  onTicket: (t: Ticket) => void t.ticket.length,
};
export async function use(): Promise<number> {
  const c: SealFeedClient = await connect(opts);
  const r: ReconnectingClient = await ReconnectingClient.connect({ ...opts, minBackoffMs: 100 });
  await c.close();
  await r.close();
  const p: PublishResult = await new Publisher({ baseUrl: 'http://127.0.0.1:1', key: new Uint8Array(32) }).publish({ to: ['00'.repeat(32)], text: 'x' });
  return backoffDelayMs(0) + p.messages.length;
}
`;

const nodeCheck = `import * as core from '@sealfeed/client';
import * as node from '@sealfeed/client/node';
import * as sealed from '@sealfeed/client/sealed';
import { readFileSync } from 'node:fs';
for (const n of ['SealFeedClient', 'ReconnectingClient', 'IndexedDBReplayStore', 'MemoryReplayStore', 'backoffDelayMs', 'fromHex', 'Publisher', 'ProblemError']) {
  if (typeof core[n] !== 'function') throw new Error('@sealfeed/client lacks ' + n);
}
for (const n of ['connect', 'FileReplayStore', 'NodeWebSocket', 'SealFeedClient', 'Publisher']) {
  if (typeof node[n] !== 'function') throw new Error('@sealfeed/client/node lacks ' + n);
}
for (const n of ['SealedOpener', 'sealPayload', 'verifySealKeyRecord', 'generateSealKey', 'sealKeyFrom']) {
  if (typeof sealed[n] !== 'function') throw new Error('@sealfeed/client/sealed lacks ' + n);
}
const k = await sealed.generateSealKey(new Uint8Array(32));
if (k.record.raw.length < 1000) throw new Error('@sealfeed/client/sealed: no hybrid record');
const pkg = JSON.parse(readFileSync(new URL(import.meta.resolve('@sealfeed/client/package.json')), 'utf8'));
console.log(pkg.name + '@' + pkg.version + ' ' + pkg.license);
`;

test('npm pack: the tarball installs in a new folder, imports from Node, type-checks with tsc and bundles for browsers', { timeout: 300_000 }, async () => {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    license: string;
    private?: boolean;
    devDependencies: Record<string, string>;
  };
  assert.equal(pkg.private, undefined, 'a private package cannot be published');
  assert.equal(pkg.license, 'Apache-2.0');
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-pack-'));
  try {
    const packed = JSON.parse(await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], packageDir)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = packed[0]!.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/node.js', 'dist/src/reconnect.js', 'dist/src/idbstore.js']) {
      assert.ok(files.includes(f), `the tarball lacks ${f}`);
    }
    assert.ok(!files.some((f) => f.startsWith('dist/test/') || f.startsWith('test/') || f.startsWith('node_modules/')), 'tests in the tarball');
    assert.match(readFileSync(join(packageDir, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);

    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run(
      npm,
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(dir, packed[0]!.filename), `@types/node@${pkg.devDependencies['@types/node']}`],
      app,
    );

    // Node, ESM
    writeFileSync(join(app, 'check.mjs'), nodeCheck);
    assert.equal((await run(process.execPath, ['check.mjs'], app)).trim(), `${pkg.name}@${pkg.version} Apache-2.0`);

    // the types, as a TypeScript user compiles them
    writeFileSync(join(app, 'use.ts'), consumerTs);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, noEmit: true, skipLibCheck: false },
        files: ['use.ts'],
      }),
    );
    await run(process.execPath, [join(packageDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);

    // the browser entry, resolved through the package's exports by a bundler for browsers
    writeFileSync(join(app, 'browser.js'), "export { SealFeedClient, IndexedDBReplayStore, ReconnectingClient } from '@sealfeed/client';\n");
    const { build } = (await import('esbuild')) as typeof import('esbuild');
    const r = await build({ absWorkingDir: app, entryPoints: ['browser.js'], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const code = r.outputFiles[0]!.text;
    assert.match(code, /IndexedDBReplayStore/);
    assert.doesNotMatch(code, /from\s*["'](node:|ws["'])|\brequire\(/);
    // the sealed entry (spec/sealed.md) with its @hpke dependencies, for browsers too
    writeFileSync(join(app, 'sealed.js'), "export { SealedOpener, sealPayload } from '@sealfeed/client/sealed';\n");
    const rs = await build({ absWorkingDir: app, entryPoints: ['sealed.js'], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    assert.doesNotMatch(rs.outputFiles[0]!.text, /from\s*["'](node:|ws["'])|\brequire\(/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
