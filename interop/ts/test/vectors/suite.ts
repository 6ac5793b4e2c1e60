/**
 * Runs the vector files and summarises them per area.
 */
import { RUNNERS } from './areas.js';
import { loadVectorFiles, vectorsDir } from './harness.js';

export interface AreaReport {
  area: string;
  file: string;
  total: number;
  declared: number;
  passed: number;
  failed: number;
  notApplicable: number;
  failures: string[];
  /** reason → tcIds */
  naGroups: Map<string, number[]>;
  groupChecksPassed: number;
  groupCheckFailures: string[];
}

export interface SuiteReport {
  dir: string;
  areas: AreaReport[];
  ok: boolean;
}

export function runVectorSuite(dir = vectorsDir()): SuiteReport {
  const areas: AreaReport[] = [];
  for (const { file, data } of loadVectorFiles(dir)) {
    const runner = RUNNERS[data.area];
    const rep: AreaReport = {
      area: data.area,
      file,
      total: 0,
      declared: data.numberOfTests,
      passed: 0,
      failed: 0,
      notApplicable: 0,
      failures: [],
      naGroups: new Map(),
      groupChecksPassed: 0,
      groupCheckFailures: [],
    };
    if (!runner) {
      rep.failures.push(`no runner for area "${data.area}"`);
      rep.failed = data.numberOfTests;
      rep.total = data.numberOfTests;
      areas.push(rep);
      continue;
    }
    let run: ReturnType<typeof runner>;
    try {
      run = runner(data);
    } catch (e) {
      rep.failures.push(`runner crashed: ${(e as Error)?.stack ?? e}`);
      rep.failed = data.numberOfTests;
      rep.total = data.numberOfTests;
      areas.push(rep);
      continue;
    }
    for (const o of run.outcomes) {
      rep.total++;
      if (o.outcome.kind === 'pass') rep.passed++;
      else if (o.outcome.kind === 'fail') {
        rep.failed++;
        rep.failures.push(`tcId ${o.tcId}: ${o.outcome.why}`);
      } else {
        rep.notApplicable++;
        const l = rep.naGroups.get(o.outcome.reason) ?? [];
        l.push(o.tcId);
        rep.naGroups.set(o.outcome.reason, l);
      }
    }
    if (rep.total !== rep.declared) rep.failures.push(`ran ${rep.total} tests, the file declares ${rep.declared}`);
    rep.groupChecksPassed = run.groupChecks.passed;
    rep.groupCheckFailures = run.groupChecks.failed;
    areas.push(rep);
  }
  const ok = areas.length > 0 && areas.every((a) => a.failed === 0 && a.failures.length === 0 && a.groupCheckFailures.length === 0);
  return { dir, areas, ok };
}

function ranges(ids: number[]): string {
  const s = [...ids].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

export function formatReport(r: SuiteReport, verbose = false): string {
  const lines: string[] = [];
  lines.push(`SealFeed v1 vectors: ${r.dir}`);
  lines.push('');
  const head = ['area', 'tests', 'passed', 'failed', 'n/a', 'group checks'];
  const rows = r.areas.map((a) => [
    a.area,
    String(a.total),
    String(a.passed),
    String(a.failed),
    String(a.notApplicable),
    a.groupChecksPassed + a.groupCheckFailures.length ? `${a.groupChecksPassed}/${a.groupChecksPassed + a.groupCheckFailures.length}` : '-',
  ]);
  const tot = r.areas.reduce((t, a) => [t[0]! + a.total, t[1]! + a.passed, t[2]! + a.failed, t[3]! + a.notApplicable], [0, 0, 0, 0]);
  rows.push(['TOTAL', ...tot.map(String), '']);
  const w = head.map((hd, i) => Math.max(hd.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  lines.push(fmt(head));
  lines.push(w.map((n) => '-'.repeat(n)).join('  '));
  rows.forEach((row, i) => {
    if (i === rows.length - 1) lines.push(w.map((n) => '-'.repeat(n)).join('  '));
    lines.push(fmt(row));
  });
  const applicable = tot[0]! - tot[3]!;
  lines.push('');
  lines.push(`client-applicable: ${tot[1]} of ${applicable} passed (${applicable ? ((100 * tot[1]!) / applicable).toFixed(1) : '0'}%)`);
  const na = r.areas.filter((a) => a.naGroups.size);
  if (na.length) {
    lines.push('');
    lines.push('not applicable (server-side behaviour a client library never performs):');
    for (const a of na) for (const [reason, ids] of a.naGroups) lines.push(`  ${a.area}: ${ids.length} tests (tcId ${ranges(ids)}): ${reason}`);
  }
  lines.push('');
  lines.push('notes:');
  lines.push('  handshake role "both": the TypeScript client runs against the vector\'s server frames; every client frame,');
  lines.push('    every message and secret the client sees, the client ID and the ticket are compared (the server half is');
  lines.push('    the reference\'s, given by the vector).');
  lines.push('  x25519, x25519mlkem768: the server-side respond operation runs too (suites.serverRespond), as does the');
  lines.push('    session area\'s server role (the session layer is symmetric); group checks recompute group data');
  lines.push('    (roots, headers, builder signatures, envelope keys, tags, nonces, aads, leaf and blob opening).');
  const bad = r.areas.filter((a) => a.failures.length || a.groupCheckFailures.length);
  if (bad.length) {
    lines.push('');
    lines.push('FAILURES:');
    for (const a of bad) {
      const list = [...a.failures, ...a.groupCheckFailures.map((g) => `group check: ${g}`)];
      for (const f of verbose ? list : list.slice(0, 15)) lines.push(`  ${a.area}: ${f}`);
      if (!verbose && list.length > 15) lines.push(`  ${a.area}: … ${list.length - 15} more (run with -v)`);
    }
  }
  lines.push('');
  lines.push(`${tot[1]} passed, ${tot[2]} failed, ${tot[3]} not applicable`);
  lines.push(r.ok ? 'vectors: OK' : 'vectors: FAIL');
  return lines.join('\n') + '\n';
}
