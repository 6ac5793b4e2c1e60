/**
 * The browser bundle embedded by server/demopage (../../server/demopage/static/sealfeed-client.js) is a build
 * artifact committed to the repository: it must equal a fresh `npm run bundle`, byte for byte, and be
 * browser-only (no Node built-ins, no `ws`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface BundleScript {
  defaultOutfile: string;
  writeBundle(outfile?: string): Promise<string>;
}

async function loadScript(): Promise<BundleScript> {
  return (await import(pathToFileURL(join(packageDir, 'scripts', 'bundle.mjs')).href)) as BundleScript;
}

test('the committed browser bundle equals a fresh build (run `npm run bundle` after changing src/)', { timeout: 60000 }, async () => {
  const script = await loadScript();
  let committed: string;
  try {
    committed = readFileSync(script.defaultOutfile, 'utf8');
  } catch (e) {
    assert.fail(`no committed bundle at ${script.defaultOutfile}: run \`npm run bundle\` (${String(e)})`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-bundle-'));
  try {
    const out = join(dir, 'sealfeed-client.js');
    const fresh = await script.writeBundle(out);
    assert.equal(readFileSync(out, 'utf8'), fresh);
    // a second build gives the same bytes (determinism)
    assert.equal(await script.writeBundle(join(dir, 'again.js')), fresh, 'two builds differ: the bundle is not deterministic');
    if (fresh !== committed) {
      let at = 0;
      while (at < fresh.length && fresh[at] === committed[at]) at++;
      assert.fail(
        `${script.defaultOutfile} is out of date (first difference at character ${at}; fresh ${fresh.length} chars, ` +
          `committed ${committed.length}): run \`npm run bundle\` in interop/ts and commit the result`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the browser bundle has the generated-file header and no Node-only code', async () => {
  const { defaultOutfile } = await loadScript();
  const code = readFileSync(defaultOutfile, 'utf8');
  assert.match(code.split('\n')[0]!, /GENERATED FILE - DO NOT EDIT/);
  assert.match(code, /npm run bundle/);
  assert.doesNotMatch(code, /\brequire\(/);
  assert.doesNotMatch(code, /from\s*["'](node:|ws["'])/);
  assert.doesNotMatch(code, /\bprocess\.env\b|\b__dirname\b|\bBuffer\.from\b/);
  // the sealed entry stays out: the client's `sealing` option takes an opener object, not keys, so the HPKE
  // packages load only where the application imports @sealfeed/client/sealed
  assert.doesNotMatch(code, /@hpke\/|X-Wing|sealfeed v1 sealed payload/);
  for (const name of ['SealFeedClient', 'fromHex', 'toHex', 'SealFeedError']) {
    assert.match(code, new RegExp(`\\bas ${name}\\b`), `the bundle does not export ${name}`);
  }
});
