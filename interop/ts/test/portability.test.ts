/**
 * The core library runs in browsers: no Node-only imports or globals outside src/node.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const srcDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

test('src/ (except node.ts) imports only relative modules and @noble/*, and uses no Node globals', () => {
  const files = readdirSync(srcDir).filter((f) => f.endsWith('.ts') && f !== 'node.ts');
  assert.ok(files.length > 10);
  for (const f of files) {
    const code = readFileSync(join(srcDir, f), 'utf8');
    for (const m of code.matchAll(/from\s+'([^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('./') || spec.startsWith('@noble/'), `${f} imports ${spec}`);
    }
    const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const g of [/\bBuffer\b/, /\bprocess\./, /\brequire\(/, /__dirname/]) assert.ok(!g.test(stripped), `${f} uses ${g}`);
  }
});
