/**
 * One runner per vector area (vectors/README.md, "Running each area"). Every test runs through the executor of
 * the conformance shim's vector mode (src/vectorcase.ts) with the test stripped of its expected values, exactly
 * as the Go runner sends it, and the answer is judged against the vector (judge.ts, as the Go runner judges).
 * Each area then adds checks that need the whole vector (group consistency, role-both handshakes against the vector's server frames). Server-side behaviour that a client library
 * never performs is "not applicable", with the reason.
 */
import {
  auditPath,
  blobAad,
  ClientHandshake,
  decodeBatchHeader,
  encodeBatchHeader,
  envelopeKeys,
  getAead,
  merkleRoot,
  recipientAad,
  recipientNonce,
  recipientTag,
  SealFeedError,
  sign,
  SIG_LABELS,
  toHex,
  trafficKeys,
} from '../../src/index.js';
import { handshakeClientConfig, sealedVectorCase, vectorCase } from '../../src/vectorcase.js';
import { judgeAnswer, stripTest } from './judge.js';
import { check, eqHex, h, loadVectorFiles, Mismatch, type Outcome, type VectorFile } from './harness.js';
import type { VectorAnswer } from '../../src/vectorcase.js';

export interface TestOutcome {
  tcId: number;
  group: number;
  outcome: Outcome;
}

export interface AreaRun {
  outcomes: TestOutcome[];
  /** consistency checks of group-level data (not tests of the file, reported separately) */
  groupChecks: { passed: number; failed: string[] };
}

type Runner = (f: VectorFile) => AreaRun;

function each(f: VectorFile, fn: (g: VectorFile['testGroups'][number], t: Record<string, any>, gi: number) => Outcome): AreaRun {
  const outcomes: TestOutcome[] = [];
  f.testGroups.forEach((g, gi) => {
    for (const t of g.tests) {
      let o: Outcome;
      try {
        o = fn(g, t, gi);
      } catch (e) {
        o = { kind: 'fail', why: e instanceof Mismatch ? e.message : `runner error: ${(e as Error)?.stack ?? e}` };
      }
      outcomes.push({ tcId: t.tcId, group: gi, outcome: o });
    }
  });
  return { outcomes, groupChecks: { passed: 0, failed: [] } };
}

// ---------------------------------------------------------------------------------------------

/** The test through the vector-mode executor (stripped as the runner strips it), judged against the vector. */
function judged(area: string, g: Record<string, any>, t: Record<string, any>): Outcome {
  const { tests: _tests, ...group } = g;
  const a = vectorCase(area, group, stripTest(area, t));
  if (a.result === 'unimplemented') return { kind: 'na', reason: a.reason ?? 'unimplemented' };
  const why = judgeAnswer(area, t, a);
  return why === undefined ? { kind: 'pass' } : { kind: 'fail', why };
}

const judgedArea =
  (area: string): Runner =>
  (f) =>
    each(f, (g, t) => judged(area, g, t));

const expand_label = judgedArea('expand_label');
const keyschedule = judgedArea('keyschedule');
// vectorcase runs X25519 as server and client and requires them to agree; the hybrid client share also
// through the randomness source, in the handshake's draw order
const x25519 = judgedArea('x25519');
const x25519mlkem768 = judgedArea('x25519mlkem768');

// the pinned rule for handshake and batch signatures alike (§4.2, §10.4)
const ed25519 = judgedArea('ed25519');

const credential = judgedArea('credential');

// a server's check of an access token (§6.8, TOK-007); issuing and the check are this package's token.ts
const token = judgedArea('token');

// a publisher's receiver checking a delivery webhook (spec/api.md API-104); this package's webhook.ts
const webhook = judgedArea('webhook');

const merkle: Runner = (f) => {
  const run = each(f, (g, t) => {
    const o = judged('merkle', g, t);
    // the builder's view: the same audit path from the group's leaves
    if (o.kind === 'pass' && t.result === 'valid' && g.leaves && t.leafCount === g.leaves.length) {
      const ap = auditPath((g.leaves as string[]).map(h), t.leafIndex);
      check(ap.map(toHex).join() === (t.path as string[]).join(), 'audit path built from the leaves differs');
    }
    return o;
  });
  for (const g of f.testGroups) {
    if (!g.leaves || g.leaves.length !== g.leafCount) continue;
    const root = toHex(merkleRoot((g.leaves as string[]).map(h)));
    if (root === g.root) run.groupChecks.passed++;
    else run.groupChecks.failed.push(`merkle group of ${g.leafCount} leaves: root ${root} ≠ ${g.root}`);
  }
  return run;
};

const replay = judgedArea('replay');

const record: Runner = (f) => {
  // vectorcase checks each step's sequence number and nonce against the receiver's
  const run = each(f, (g, t) => judged('record', g, t));
  for (const g of f.testGroups) {
    const k = trafficKeys(h(g.trafficSecret));
    if (toHex(k.key) === g.key && toHex(k.iv) === g.iv) run.groupChecks.passed++;
    else run.groupChecks.failed.push(`record group aead ${g.aead}: key/iv from the traffic secret differ`);
  }
  return run;
};

const session = judgedArea('session');

const batch: Runner = (f) => {
  // vectorcase checks that opening leaves the caller's replay state unchanged (BATCH-014) and that the state
  // to commit records the batch sequence and every ID
  const run = each(f, (g, t) => judged('batch', g, t));
  // group consistency: what the client relies on, recomputed from the group's data (and the builder's view)
  for (const [gi, g] of f.testGroups.entries()) {
    const where = `batch group ${gi} (batch_seq ${g.batchSeq})`;
    const checks: [string, () => boolean][] = [
      ['root of the leaves', () => toHex(merkleRoot((g.leaves as string[]).map(h))) === g.root],
      [
        'header fields',
        () => {
          const hd = decodeBatchHeader(h(g.header));
          return toHex(hd.signerId) === g.signerId && hd.batchSeq.toString() === g.batchSeq && hd.timestampMs.toString() === g.timestampMs && toHex(hd.root) === g.root && toHex(encodeBatchHeader(hd)) === g.header;
        },
      ],
      ['signature from signingSeed', () => toHex(sign(h(g.signingSeed), SIG_LABELS.batch, h(g.header))) === g.signature],
    ];
    for (const r of g.recipients as any[]) {
      checks.push([
        `recipient leaf ${r.leafIndex}`,
        () => {
          const ek = envelopeKeys(h(r.envelopeSecret));
          const sid = h(g.signerId);
          const seq = BigInt(g.batchSeq);
          const tag = recipientTag(ek.tagKey, sid, seq);
          const leafBytes = h(g.leaves[r.leafIndex]);
          const leafTag = leafBytes.slice(1, 17);
          const sealed = leafBytes.slice(20);
          const aead = getAead(r.aead);
          const mine = recipientAad(sid, seq, r.leafIndex, tag);
          const open = (aad: Uint8Array) => aead.open(ek.envKey, recipientNonce(ek.envIv, seq), sealed, aad);
          const ptVector = open(h(r.aad));
          // the aad of §10.2 equals the vector's; or the leaf was sealed wrongly on purpose (flag BadEnvelope):
          // then it opens with the vector's aad only
          const aadOk = toHex(mine) === r.aad ? ptVector !== null : ptVector !== null && open(mine) === null;
          return (
            toHex(ek.envKey) === r.envKey &&
            toHex(ek.envIv) === r.envIv &&
            toHex(ek.tagKey) === r.tagKey &&
            toHex(tag) === r.tag &&
            toHex(leafTag) === r.tag &&
            toHex(recipientNonce(ek.envIv, seq)) === r.nonce &&
            leafBytes[0] === 1 &&
            aadOk &&
            toHex(ptVector!) === r.leafContent
          );
        },
      ]);
    }
    for (const b of g.blobs as any[]) {
      checks.push([
        `blob leaf ${b.leafIndex}`,
        () => {
          const sid = h(g.signerId);
          const seq = BigInt(g.batchSeq);
          const leafBytes = h(g.leaves[b.leafIndex]);
          const aead = (leafBytes[1]! << 8) | leafBytes[2]!;
          const mine = blobAad(sid, seq, b.leafIndex, aead);
          const open = (aad: Uint8Array) => getAead(aead).open(h(b.dataKey), new Uint8Array(12), leafBytes.slice(6), aad);
          const ptVector = open(h(b.aad));
          const aadOk = toHex(mine) === b.aad ? ptVector !== null : ptVector !== null && open(mine) === null;
          return leafBytes[0] === 2 && aead === b.aead && aadOk && toHex(ptVector!) === b.payload;
        },
      ]);
    }
    for (const [what, fn] of checks) {
      let ok = false;
      try {
        ok = fn();
      } catch {
        ok = false;
      }
      if (ok) run.groupChecks.passed++;
      else run.groupChecks.failed.push(`${where}: ${what}`);
    }
  }
  return run;
};

// ---------------------------------------------------------------------------------------------
// decode: vectorcase decodes strictly and requires what decodes to re-encode to the same bytes

const decode = judgedArea('decode');

// ---------------------------------------------------------------------------------------------
// handshake

const SERVER_ROLE_REASON =
  'role "server": runs the server state machine alone (ClientHello processing, server flight, client-flight verification, Welcome issuing); a client library never performs it';

/** The client configuration of a handshake vector (shared with the vector-mode executor). */
export const clientConfig = handshakeClientConfig;

/**
 * Role both or client: the TypeScript client runs against the server frames of the vector; every frame it
 * produces must equal the vector's client frame. Valid: every message and secret the client sees, the
 * client ID, the ticket and the learned next server key must match. Invalid: the last frame must be rejected with the alert.
 */
function runClientHandshake(t: Record<string, any>): Outcome {
  const messages = new Map<string, string>();
  const secrets = new Map<string, string>();
  const cfg = clientConfig(t, (kind, name, v) => (kind === 'message' ? messages : secrets).set(name, toHex(v)));
  const hs = new ClientHandshake(cfg);
  const frames = t.frames as { from: string; frame: string }[];
  check(frames[0]!.from === 'client', 'first frame is not the client’s');
  eqHex(hs.start(), frames[0]!.frame, 'ClientHello frame');
  const pending: Uint8Array[] = [];
  for (let i = 1; i < frames.length; i++) {
    const fr = frames[i]!;
    if (fr.from === 'client') {
      const mine = pending.shift();
      eqHex(mine, fr.frame, `client frame ${i}`);
      continue;
    }
    try {
      pending.push(...hs.receive(h(fr.frame)));
    } catch (e) {
      if (!(e instanceof SealFeedError)) throw e;
      if (t.result === 'invalid' && i === frames.length - 1) {
        if (e.alert !== t.alert) return { kind: 'fail', why: `frame ${i} rejected with ${e.alert} (${e.message}), want ${t.alert}` };
        // the alert frame the client owes the server (ALERT-001) must be producible
        const af = hs.alertFrame(e);
        check(e.fromPeer ? af === undefined : af !== undefined, 'alert frame');
        return { kind: 'pass' };
      }
      return { kind: 'fail', why: `frame ${i} rejected with ${e.alert} (${e.message})` };
    }
  }
  if (t.result === 'invalid') return { kind: 'fail', why: `every frame accepted, want ${t.alert} on the last` };
  check(pending.length === 0, 'client produced frames the vector does not have');
  check(hs.state === 'CONNECTED', `state ${hs.state}, want CONNECTED`);
  check(cfg.random.remaining() === 0, `${cfg.random.remaining()} random values not drawn`);
  for (const [name, want] of Object.entries(t.messages as Record<string, string>)) eqHex(messages.get(name) ? h(messages.get(name)!) : undefined, want, `message ${name}`);
  for (const [name, want] of Object.entries(t.secrets as Record<string, string>)) eqHex(secrets.get(name) ? h(secrets.get(name)!) : undefined, want, `secret ${name}`);
  const r = hs.result!;
  eqHex(r.clientId, t.clientId, 'client ID');
  eqHex(r.ticket?.ticket ?? new Uint8Array(0), t.ticket, 'ticket');
  eqHex(r.nextServerKey ?? new Uint8Array(0), t.nextServerKey, 'next server key (HS-070)');
  return { kind: 'pass' };
}

/**
 * Role client: through the vector-mode executor (judged: every client frame up to the rejection) and again with
 * the full vector (runClientHandshake). Role both: vector mode strips the server frames, so a client library
 * cannot answer it there (vectorcase says unimplemented); here the client runs against the vector's server
 * frames and everything it sees is compared (vectors/README.md, "Client-only implementations").
 */
const handshake: Runner = (f) =>
  each(f, (g, t) => {
    if (t.role === 'server') return { kind: 'na', reason: SERVER_ROLE_REASON };
    if (t.role === 'client') {
      const o = judged('handshake', g, t);
      if (o.kind !== 'pass') return o;
    }
    return runClientHandshake(t);
  });

/**
 * sealed.json (spec/sealed.md): HPKE is asynchronous (WebCrypto), the suite is not, so prepareAsyncAreas
 * runs every sealed test beforehand through the shim's executor (sealedVectorCase, the test stripped of its
 * expected values) and the runner judges those answers like every other area.
 */
const sealedAnswers = new Map<number, VectorAnswer>();

/** Runs the asynchronous areas (sealed) so that runVectorSuite can report them. */
export async function prepareAsyncAreas(dir?: string): Promise<void> {
  for (const { data } of loadVectorFiles(dir)) {
    if (data.area !== 'sealed') continue;
    for (const g of data.testGroups) for (const t of g.tests) {
      const { tests: _tests, ...group } = g;
      sealedAnswers.set(t.tcId, await sealedVectorCase(group, stripTest('sealed', t)));
    }
  }
}

const sealed: Runner = (f) =>
  each(f, (_g, t) => {
    const a = sealedAnswers.get(t.tcId);
    if (!a) return { kind: 'fail', why: 'not run: call prepareAsyncAreas() before runVectorSuite()' };
    const why = judgeAnswer('sealed', t, a);
    return why === undefined ? { kind: 'pass' } : { kind: 'fail', why };
  });

export const RUNNERS: Record<string, Runner> = {
  sealed,
  expand_label,
  keyschedule,
  x25519,
  x25519mlkem768,
  ed25519,
  credential,
  token,
  merkle,
  replay,
  record,
  session,
  batch,
  decode,
  handshake,
  webhook,
};
