/**
 * The core library runs in browsers: no Node-only imports or globals outside the Node-only entry points
 * src/node.ts (the `ws` WebSocket) and src/shim.ts (the conformance shim), which no other module imports.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const srcDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

const NODE_ONLY = new Set(['node.ts', 'shim.ts']);

test('src/ (except node.ts and shim.ts) imports only relative modules, @noble/* and (sealed.ts) @hpke/*, and uses no Node globals', () => {
  const files = readdirSync(srcDir).filter((f) => f.endsWith('.ts') && !NODE_ONLY.has(f));
  assert.ok(files.length > 10);
  for (const f of files) {
    const code = readFileSync(join(srcDir, f), 'utf8');
    for (const m of code.matchAll(/from\s+'([^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('./') || spec.startsWith('@noble/') || (f === 'sealed.ts' && spec.startsWith('@hpke/')), `${f} imports ${spec}`);
      assert.ok(!NODE_ONLY.has(spec.replace(/^\.\//, '').replace(/\.js$/, '.ts')), `${f} imports the Node-only ${spec}`);
    }
    const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const g of [/\bBuffer\b/, /\bprocess\./, /\brequire\(/, /__dirname/]) assert.ok(!g.test(stripped), `${f} uses ${g}`);
  }
});
