/**
 * The vector-mode view of a test (conformance/vectormode/PROTOCOL.md, vectors/run in Go): which fields of a
 * test are outputs, the test stripped of them (what the runner sends a shim), and the judgement of an answer
 * against the vector. The in-process suite runs every test through src/vectorcase.ts exactly as the shim does
 * and judges it here, so that `npm run vectors` and the Go runner's vector mode check the same answers.
 */
import type { Json, VectorAnswer } from '../../src/vectorcase.js';

interface OutputSpec {
  /** output fields of a valid test, and those judged on an invalid one */
  all: string[];
  onInvalid: string[];
  /** for areas whose `steps` output is per step: the output fields of a step (the rest are its inputs) */
  stepFields?: string[];
}

const fixed = (all: string[], onInvalid: string[] = [], stepFields?: string[]) => (): OutputSpec => ({ all, onInvalid, stepFields });

const OUTPUTS: Record<string, (t: Json) => OutputSpec> = {
  expand_label: fixed(['info', 'output']),
  keyschedule: fixed(['secrets']),
  x25519: fixed(['shared']),
  x25519mlkem768: (t) => {
    switch (t.operation) {
      case 'exchange':
        return { all: ['clientShare', 'serverShare', 'shared'], onInvalid: ['clientShare'] };
      case 'respond':
        return { all: ['serverShare', 'shared'], onInvalid: [] };
      case 'finish':
        return { all: ['clientShare', 'shared'], onInvalid: ['clientShare'] };
    }
    return { all: [], onInvalid: [] };
  },
  ed25519: fixed([]),
  credential: fixed(['serverKey']),
  token: fixed(['subject', 'device', 'tokenId', 'notAfter']),
  sealed: (t) => ('envelope' in t ? { all: ['payload', 'publisherKeyId', 'sealedAt'], onInvalid: [] } : { all: ['recordId', 'publicKey', 'notAfter'], onInvalid: [] }),
  merkle: fixed([]),
  replay: fixed(['steps'], ['steps'], ['result']),
  record: fixed(['steps'], ['steps'], ['result', 'messages']),
  session: fixed(['steps'], ['steps'], ['result', 'messages', 'answers']),
  batch: fixed(['messages']),
  handshake: (t) => (t.role === 'both' ? { all: ['frames', 'messages', 'secrets', 'clientId', 'ticket'], onInvalid: [] } : { all: ['frames'], onInvalid: ['frames'] }),
  decode: fixed([]),
  webhook: fixed(['signatureBase']),
};

function spec(area: string, t: Json): OutputSpec {
  const f = OUTPUTS[area];
  if (!f) throw new Error(`no output table for area ${area}`);
  return f(t);
}

/** The test without its result, alert, comment and outputs, nested ones included: what a shim receives. */
export function stripTest(area: string, test: Json): Json {
  const s = spec(area, test);
  const m: Json = structuredClone(test);
  delete m.result;
  delete m.alert;
  delete m.comment;
  for (const f of s.all) {
    if (f === 'steps' && s.stepFields && Array.isArray(m.steps)) {
      m.steps = (m.steps as Json[]).map((st) => {
        const c = { ...st };
        for (const sf of s.stepFields!) delete c[sf];
        return c;
      });
    } else if (f === 'frames' && m.role !== 'both' && Array.isArray(m.frames)) {
      // the side under test's own frames lose their bytes; the other side's frames are its input
      m.frames = (m.frames as Json[]).map((fr) => (fr.from === m.role ? { from: fr.from } : { ...fr }));
    } else delete m[f];
  }
  return m;
}

/** The outputs `test` expects: all of a valid test's, those judged on an invalid one; steps keep output fields. */
export function expectedOutputs(area: string, test: Json): Json {
  const s = spec(area, test);
  const names = test.result === 'valid' ? s.all : s.onInvalid;
  const out: Json = {};
  for (const n of names) {
    if (!(n in test)) throw new Error(`${area} test ${test.tcId}: no field ${n}`);
    let v = test[n];
    if (n === 'steps' && s.stepFields) {
      v = (v as Json[]).map((st) => Object.fromEntries(s.stepFields!.filter((f) => f in st).map((f) => [f, st[f]])));
    }
    out[n] = v;
  }
  return out;
}

/**
 * Judges `answer` against the vector's `test` as the Go runner does: a valid test needs result "valid" and
 * every expected output equal as a JSON value; an invalid one result "invalid", exactly the vector's alert and
 * the outputs judged on invalid tests equal. Returns undefined when it passes, else the differences.
 */
export function judgeAnswer(area: string, test: Json, answer: VectorAnswer): string | undefined {
  const diffs: string[] = [];
  if (test.result === 'valid' && answer.result !== 'valid') diffs.push(`result: got ${describe(answer)}, want valid`);
  else if (test.result === 'invalid' && answer.result !== 'invalid') diffs.push(`result: got ${describe(answer)}, want invalid (alert ${test.alert})`);
  else if (test.result === 'invalid' && answer.alert !== test.alert) diffs.push(`alert: got "${answer.alert}", want "${test.alert}"`);
  const want = expectedOutputs(area, test);
  // the answer as it travels: through JSON
  const got = JSON.parse(JSON.stringify(answer.outputs ?? {})) as Json;
  for (const n of Object.keys(want).sort()) {
    if (!(n in got)) diffs.push(`output ${n}: missing`);
    else diff(`output ${n}`, got[n], want[n], diffs);
  }
  if (diffs.length === 0) return undefined;
  return (diffs.length > 8 ? [...diffs.slice(0, 8), `and ${diffs.length - 8} more differences`] : diffs).join('; ') + (answer.reason ? ` (${answer.reason.split('\n')[0]})` : '');
}

function describe(a: VectorAnswer): string {
  return a.result === 'invalid' ? `invalid (alert "${a.alert}")` : a.result;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 120)}…(${s.length} bytes of JSON)` : s;
}

function diff(path: string, got: unknown, want: unknown, out: string[]): void {
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return void out.push(`${path}: got ${show(got)}, want a list`);
    if (got.length !== want.length) out.push(`${path}: got ${got.length} elements, want ${want.length}`);
    for (let i = 0; i < Math.min(got.length, want.length); i++) diff(`${path}[${i}]`, got[i], want[i], out);
    return;
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return void out.push(`${path}: got ${show(got)}, want an object`);
    const g = got as Json;
    const w = want as Json;
    for (const k of [...new Set([...Object.keys(w), ...Object.keys(g)])].sort()) {
      if (!(k in g)) out.push(`${path}.${k}: missing, want ${show(w[k])}`);
      else if (!(k in w)) out.push(`${path}.${k}: got ${show(g[k])}, want no such field`);
      else diff(`${path}.${k}`, g[k], w[k], out);
    }
    return;
  }
  if (got !== want) out.push(`${path}: got ${show(got)}, want ${show(want)}`);
}
