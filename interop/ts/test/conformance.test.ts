/**
 * The conformance suite (spec/conformance.md) against the TypeScript client: the Go runner
 * (`sealfeed conformance -mode live`) plays its adversarial server against the shim (src/shim.ts) in every
 * live client test, and this test requires zero failures and no skip outside ALLOWED_SKIPS.
 *
 * Uses $SEALFEED_BIN when set, else builds `./cmd/sealfeed` with Go into a temporary directory. It never
 * skips: without the runner there is no conformance to claim.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** interop/ts (this file runs as dist/test/conformance.test.js) */
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const repoRoot = resolve(packageDir, '..', '..');
/** The shim as the runner starts it: this Node, the compiled shim. */
const SHIM = [process.execPath, join(packageDir, 'dist', 'src', 'shim.js')];

/** Why handshake vectors of role "server" are skipped in vector mode. */
const ROLE_SERVER =
  'handshake vector of role "server": it runs the server state machine alone (ClientHello processing, server flight, ' +
  'client-flight checks, Welcome); this is a client library, so the shim answers unimplemented';
/** Why handshake vectors of role "both" are skipped in vector mode. */
const ROLE_BOTH =
  'handshake vector of role "both": vector mode strips the server frames (the whole transcript is the output), so a ' +
  'client cannot be run alone against them and this client library has no server to produce them; the shim answers ' +
  'unimplemented. The in-process vector suite (test/vectors.test.ts, npm run vectors) runs these tests against the ' +
  "vector's server frames and checks every client frame, message, secret, the client ID, the ticket and the learned next server key";

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/**
 * Tests that may be skipped, each with its reason; a skip not listed here fails the run (CONF-004:
 * "unimplemented" is never a pass).
 *
 * Live mode: none. The TypeScript client has every capability the runner can filter on (mlkem: X25519MLKEM768;
 * aes: AES-256-GCM; credential: authority trust with revocation lists; identity: key-identified clients;
 * resumption: tickets), the run disables no test, and the shim implements every flag of CONF-010.
 *
 * Vector mode: the 62 handshake vectors that need a server (checked against the roles in
 * vectors/v1/handshake.json below).
 */
const ALLOWED_SKIPS: ReadonlyMap<string, string> = new Map<string, string>([
  ...range(1, 16).map((n): [string, string] => [`vector/handshake/${n}`, ROLE_BOTH]),
  // the ticket key set and generations (HS-045, HS-046): server decisions, role both
  ...range(107, 112).map((n): [string, string] => [`vector/handshake/${n}`, ROLE_BOTH]),
  // next_server_key (HS-070, ID-010): a valid announcement and the second pin, role both
  ...range(113, 114).map((n): [string, string] => [`vector/handshake/${n}`, ROLE_BOTH]),
  ...[...range(64, 95), 97, 98, ...range(103, 106)].map((n): [string, string] => [`vector/handshake/${n}`, ROLE_SERVER]),
  // access tokens (§6.8): a handshake with a token (role both), then the server's checks of the flight
  [`vector/handshake/126`, ROLE_BOTH],
  ...range(127, 131).map((n): [string, string] => [`vector/handshake/${n}`, ROLE_SERVER]),
]);

/** Time limits: per live test (the runner's -timeout), and for one whole run of the runner. */
const PER_TEST_TIMEOUT = '30s';
const RUN_TIMEOUT_MS = 12 * 60_000;
const BUILD_TIMEOUT_MS = 5 * 60_000;

interface Report {
  summary: { total: number; passed: number; failed: number; skipped: number };
  results: { id: string; kind: string; status: 'pass' | 'fail' | 'skip'; message?: string; requirements?: string[]; transcript?: string[] }[];
}

let bin = process.env.SEALFEED_BIN ?? '';
let work = '';

function run(file: string, args: string[], opts: { cwd?: string; timeout: number }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { cwd: opts.cwd, timeout: opts.timeout, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${file} ${args.join(' ')}: ${err.message}${err.killed ? ' (killed: time limit)' : ''}\n${stderr}`));
        return;
      }
      resolvePromise({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'sealfeed-conformance-'));
  if (bin) {
    if (!existsSync(bin)) throw new Error(`SEALFEED_BIN=${bin} does not exist`);
    return;
  }
  bin = join(work, 'sealfeed');
  const r = await run('go', ['build', '-o', bin, './cmd/sealfeed'], { cwd: repoRoot, timeout: BUILD_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`go build ./cmd/sealfeed failed:\n${r.stderr}`);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the runner in `mode` against the shim and returns its JSON report. */
async function conformance(mode: 'live' | 'vectors'): Promise<Report> {
  const json = join(work, `report-${mode}.json`);
  const parallel = String(Math.max(1, Math.min(4, availableParallelism())));
  const r = await run(bin, ['conformance', '-mode', mode, '-parallel', parallel, '-timeout', PER_TEST_TIMEOUT, '-json', json, '--', ...SHIM], {
    cwd: work,
    timeout: RUN_TIMEOUT_MS,
  });
  // exit status 1 with a report: some test failed (judged below); without a report the runner itself failed
  if (!existsSync(json)) throw new Error(`sealfeed conformance exited ${r.code} without a report:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(readFileSync(json, 'utf8')) as Report;
}

/** Fails with every failing test's message and transcript, and every skip that ALLOWED_SKIPS does not explain. */
function judge(rep: Report): void {
  const failures = rep.results.filter((x) => x.status === 'fail');
  assert.equal(
    failures.length,
    0,
    `${failures.length} conformance failures:\n` +
      failures.map((x) => `FAIL ${x.id} [${(x.requirements ?? []).join(' ')}]: ${x.message}\n  ${(x.transcript ?? []).join('\n  ')}`).join('\n'),
  );
  const unexplained = rep.results.filter((x) => x.status === 'skip' && !ALLOWED_SKIPS.has(x.id));
  assert.deepEqual(
    unexplained.map((x) => `${x.id}: ${x.message}`),
    [],
    'skips without a reason in ALLOWED_SKIPS',
  );
  assert.equal(rep.summary.failed, 0);
  assert.equal(rep.summary.total, rep.results.length);
  assert.equal(rep.summary.passed + rep.summary.skipped, rep.summary.total);
}

test('conformance, live mode: every client test passes against the TypeScript shim', { timeout: RUN_TIMEOUT_MS + 60_000 }, async (t) => {
  // every live client test the runner knows (-list) must be in the report
  const list = await run(bin, ['conformance', '-list'], { cwd: work, timeout: 60_000 });
  assert.equal(list.code, 0, list.stderr);
  const known = list.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((id) => id.startsWith('client/'));
  assert.ok(known.length > 0, 'the runner lists no client tests');

  const rep = await conformance('live');
  t.diagnostic(`live: ${rep.summary.total} tests, ${rep.summary.passed} passed, ${rep.summary.failed} failed, ${rep.summary.skipped} skipped`);
  for (const x of rep.results.filter((r) => r.status === 'skip')) t.diagnostic(`skipped ${x.id}: ${ALLOWED_SKIPS.get(x.id) ?? x.message}`);
  judge(rep);
  const ran = new Set(rep.results.map((x) => x.id));
  assert.deepEqual(
    known.filter((id) => !ran.has(id)),
    [],
    'client tests of -list missing from the report',
  );
  assert.ok(rep.results.every((x) => x.kind === 'client'));
  for (const id of ALLOWED_SKIPS.keys()) if (id.startsWith('client/')) assert.ok(ran.has(id), `ALLOWED_SKIPS names ${id}, which the runner does not have`);
});

test('conformance, vector mode: every vector passes or is an allowed skip', { timeout: RUN_TIMEOUT_MS + 60_000 }, async (t) => {
  // every vector test of vectors/v1, and the allow-list matches the handshake roles it gives reasons for
  const dir = join(repoRoot, 'vectors', 'v1');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  let declared = 0;
  for (const f of files) declared += (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { numberOfTests: number }).numberOfTests;
  const hs = JSON.parse(readFileSync(join(dir, 'handshake.json'), 'utf8')) as { testGroups: { tests: { tcId: number; role: string }[] }[] };
  const roles = new Map(hs.testGroups.flatMap((g) => g.tests).map((x) => [`vector/handshake/${x.tcId}`, x.role]));
  for (const [id, why] of ALLOWED_SKIPS) {
    if (!id.startsWith('vector/')) continue;
    const role = roles.get(id);
    assert.ok(role === 'server' || role === 'both', `${id} is allowed to skip but has role ${role}`);
    assert.equal(why, role === 'server' ? ROLE_SERVER : ROLE_BOTH, `${id}: the reason does not fit role ${role}`);
  }
  assert.deepEqual(
    [...roles].filter(([id, role]) => role !== 'client' && !ALLOWED_SKIPS.has(id)).map(([id]) => id),
    [],
    'server or both handshake vectors without a reason in ALLOWED_SKIPS',
  );

  const rep = await conformance('vectors');
  t.diagnostic(`vectors: ${rep.summary.total} tests, ${rep.summary.passed} passed, ${rep.summary.failed} failed, ${rep.summary.skipped} skipped`);
  const skipped = rep.results.filter((r) => r.status === 'skip').map((r) => r.id);
  if (skipped.length) t.diagnostic(`skipped (allowed): ${skipped.join(' ')}`);
  judge(rep);
  assert.ok(rep.results.every((x) => x.kind === 'vector'));
  assert.equal(rep.summary.total, declared, 'the runner did not run every vector');
  // nothing that may run is skipped: every vector skip is one of the allow-list's
  assert.equal(skipped.length, [...ALLOWED_SKIPS.keys()].filter((id) => id.startsWith('vector/')).length);
});
