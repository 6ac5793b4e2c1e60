/**
 * One test vector of vectors/v1, run with this library: the executor of the conformance suite's vector mode
 * (conformance/vectormode/PROTOCOL.md; the shim serves it, src/shim.ts) and of the in-process vector suite
 * (test/vectors/, `npm run vectors`, which judges its answers against the vector files).
 *
 * `vectorCase(area, group, test)` computes a test's result, alert and outputs from its inputs alone — the test
 * as the runner sends it, stripped of its expected result, alert and outputs — named and encoded like the vector
 * fields that hold the expected values (lower-case hex, uint64 as decimal strings):
 *
 *   area            outputs
 *   expand_label    info, output
 *   keyschedule     secrets
 *   x25519          shared
 *   x25519mlkem768  exchange: clientShare, serverShare, shared; respond: serverShare, shared;
 *                   finish: clientShare, shared (clientShare also when the server share is rejected)
 *   credential      serverKey
 *   token           subject, device, tokenId, notAfter
 *   replay          steps: [{result}]
 *   record          steps: [{result, messages}] (stopping at the first failure)
 *   session         steps: [{result, messages, answers}] (a failed step closes the session)
 *   batch           messages: [{messageId, payload, status}]
 *   handshake       role client: frames: [{from, frame}]
 *   webhook         signatureBase
 *   ed25519, merkle, decode: the result and alert only
 *
 * Not implemented (`unimplemented`, with the reason): handshake tests of role `server` and `both`. This is a
 * client library: it has no server state machine, and vector mode strips the server frames of role-both
 * tests (the whole transcript is the output), so the client cannot be run alone against them; the
 * in-process suite runs role-both tests against the vector's server frames instead (vectors/README.md, "Notes
 * for implementers").
 *
 * Platform neutral: no Node-only imports.
 */
import { SealedError, SealedOpener, sealKeyFrom, verifySealKeyRecord } from './sealed.js';
import { SealFeedError } from './alert.js';
import { decodeBatchHeader, encodeBatchHeader, openDelivery } from './batch.js';
import { bytesEqual, fromHex, toHex, utf8, xorNonce } from './bytes.js';
import { FRAME_PLAINTEXT, GROUP_X25519, GROUP_X25519MLKEM768 } from './constants.js';
import { verifyCredential } from './credential.js';
import { verifyToken } from './token.js';
import { verifyWebhookSignature } from './webhook.js';
import { validatePublicKey, verify } from './ed25519.js';
import { checkAscending, checkExtensions, readExtensions, writeExtensions } from './extensions.js';
import { ClientHandshake, type ClientConfig, type ServerTrust } from './handshake.js';
import { appSecretsAfter, expandLabel, fullSchedule, hkdfLabel, trafficKeys } from './keyschedule.js';
import { verifyInclusion } from './merkle.js';
import {
  decodeAck,
  decodeAlert,
  decodeClientHello,
  decodeServerHello,
  decodeServerIdentity,
  decodeWelcome,
  encodeAck,
  encodeAlert,
  encodeClientHello,
  encodeServerHello,
  encodeServerIdentity,
  encodeWelcome,
} from './messages.js';
import { sequenceRandom } from './random.js';
import { RecordReceiver } from './record.js';
import { BatchSequence, MessageWindow, ReplayState } from './replay.js';
import { Session, type Role } from './session.js';
import { generateClientShare, hybridClientFromSeed, serverRespond } from './suites.js';
import { decodeFrame, decodePlaintextFrame, encodeFrame, Reader, Writer } from './wire.js';

/** A JSON object as the vector files and the runner have it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export interface VectorAnswer {
  result: 'valid' | 'invalid' | 'unimplemented';
  /** the alert name of an invalid result; '' otherwise */
  alert: string;
  outputs: Json;
  /** why: an unimplemented test, or an internal_error that is not the implementation's verdict (diagnostics) */
  reason?: string;
}

/** The areas vectorCase knows (vectors/v1/<area>.json). */
export const VECTOR_AREAS = [
  'expand_label',
  'keyschedule',
  'x25519',
  'x25519mlkem768',
  'ed25519',
  'credential',
  'token',
  'merkle',
  'replay',
  'record',
  'session',
  'batch',
  'decode',
  'handshake',
  'webhook',
] as const;

/**
 * sealed.json (spec/sealed.md): a publisher's check of a seal key record (SEAL-006) or a client's opening of
 * an envelope (SEAL-020). Asynchronous, as HPKE is here (WebCrypto); alerts are the sealed-payload registry's
 * codes (spec/sealed.md §7).
 */
export async function sealedVectorCase(group: Json, test: Json): Promise<VectorAnswer> {
  try {
    if (group.type === 'SealKeyRecordVerify') {
      const k = await verifySealKeyRecord(h(test.record), { identityKey: h(group.identityKey) }, BigInt(group.now));
      return valid({ recordId: toHex(k.id), publicKey: toHex(k.publicKey), notAfter: k.notAfter.toString() });
    }
    if (group.type !== 'SealedOpen') return unimplemented(`sealed group type ${JSON.stringify(group.type)}`);
    const key = await sealKeyFrom(h(group.recipientPrivateKey), h(group.recipientRecord));
    const o = await new SealedOpener([key], (group.publisherKeys as unknown[]).map(h)).open(h(test.envelope));
    return valid({ payload: toHex(o.payload), publisherKeyId: toHex(o.publisherKeyId), sealedAt: o.sealedAt.toString() });
  } catch (e) {
    if (e instanceof SealedError) return { result: 'invalid', alert: e.code, outputs: {} };
    return { result: 'invalid', alert: 'internal_error', outputs: {}, reason: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
}

/** The test could not be run as given (inconsistent input, or two parts of this library disagree). */
class Internal extends Error {}

const h = (s: unknown): Uint8Array => {
  if (typeof s !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(s)) throw new Internal(`not lower-case hex: ${JSON.stringify(s)?.slice(0, 40)}`);
  return fromHex(s);
};

const valid = (outputs: Json = {}): VectorAnswer => ({ result: 'valid', alert: '', outputs });

/** The answer of an operation that threw `e` (a SealFeedError is the verdict; anything else is internal). */
function invalid(e: unknown, outputs: Json = {}): VectorAnswer {
  if (e instanceof SealFeedError) return { result: 'invalid', alert: e.alert, outputs };
  return { result: 'invalid', alert: 'internal_error', outputs, reason: e instanceof Error ? e.message : String(e) };
}

function unimplemented(reason: string): VectorAnswer {
  return { result: 'unimplemented', alert: '', outputs: {}, reason };
}

/** Runs `fn`; its return value is the valid answer's outputs, a thrown SealFeedError the invalid answer. */
function attempt(fn: () => Json | void): VectorAnswer {
  try {
    return valid(fn() ?? {});
  } catch (e) {
    return invalid(e);
  }
}

/** A step's result: "accept" or the alert's name. */
function stepResult(e: unknown): string {
  if (e instanceof SealFeedError) return e.alert;
  throw e;
}

/**
 * Runs one test of `area`. `group` is the test's group (its `tests` field is ignored), `test` the test object,
 * stripped or not: expected values are never read.
 */
export function vectorCase(area: string, group: Json, test: Json): VectorAnswer {
  const run = AREAS[area];
  if (!run) return unimplemented(`unknown area ${JSON.stringify(area)}`);
  try {
    return run(group, test);
  } catch (e) {
    // a malformed input or a disagreement inside this library: not a verdict on the input
    return { result: 'invalid', alert: 'internal_error', outputs: {}, reason: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
}

// ---------------------------------------------------------------------------------------------

const expand_label = (_g: Json, t: Json): VectorAnswer => {
  const ctx = h(t.context);
  return valid({ info: toHex(hkdfLabel(t.label, ctx, t.length)), output: toHex(expandLabel(h(t.secret), t.label, ctx, t.length)) });
};

const keyschedule = (_g: Json, t: Json): VectorAnswer => {
  const got = fullSchedule({
    psk: t.psk === '' ? undefined : h(t.psk),
    sharedSecret: h(t.sharedSecret),
    helloHash: h(t.helloHash),
    serverFinishedHash: h(t.serverFinishedHash),
    clientFinishedHash: h(t.clientFinishedHash),
  });
  Object.assign(got, appSecretsAfter(got.c_ap_traffic_0!, got.s_ap_traffic_0!, t.keyUpdates));
  const secrets: Json = {};
  for (const [k, v] of Object.entries(got)) secrets[k] = toHex(v);
  return valid({ secrets });
};

/** As the server (respond with the private key as its ephemeral) and as the client (finish): they must agree. */
const x25519 = (_g: Json, t: Json): VectorAnswer => {
  const priv = h(t.private);
  const pub = h(t.public);
  const server = attempt(() => ({ shared: toHex(serverRespond(GROUP_X25519, pub, priv).shared) }));
  const client = attempt(() => ({ shared: toHex(generateClientShare(GROUP_X25519, sequenceRandom([priv])).finish(pub)) }));
  if (server.result !== client.result || server.alert !== client.alert || server.outputs.shared !== client.outputs.shared) {
    throw new Internal(`server (${server.alert || server.outputs.shared}) and client (${client.alert || client.outputs.shared}) disagree`);
  }
  return client;
};

const x25519mlkem768 = (g: Json, t: Json): VectorAnswer => {
  if (g.group !== GROUP_X25519MLKEM768) return unimplemented(`group ${g.group}`);
  switch (t.operation) {
    case 'exchange':
    case 'finish': {
      const seed = h(t.clientSeed);
      const c = hybridClientFromSeed(seed);
      // the handshake draws the same values from its random source: the ML-KEM seed, then the X25519 key
      const viaRandom = generateClientShare(GROUP_X25519MLKEM768, sequenceRandom([seed.slice(0, 64), seed.slice(64)]));
      if (!bytesEqual(viaRandom.share, c.share)) throw new Internal('the share drawn from the random source differs');
      const clientShare = toHex(c.share);
      // the client share is an output even when the server share is then rejected
      const out: Json = { clientShare };
      if (t.operation === 'exchange') {
        let r: ReturnType<typeof serverRespond>;
        try {
          r = serverRespond(GROUP_X25519MLKEM768, c.share, h(t.serverRandom));
        } catch (e) {
          return invalid(e, out);
        }
        const shared = c.finish(r.share);
        if (!bytesEqual(shared, r.shared)) throw new Internal('server and client shared secrets differ');
        return valid({ clientShare, serverShare: toHex(r.share), shared: toHex(shared) });
      }
      try {
        return valid({ clientShare, shared: toHex(c.finish(h(t.serverShare))) });
      } catch (e) {
        return invalid(e, out);
      }
    }
    case 'respond':
      return attempt(() => {
        const r = serverRespond(GROUP_X25519MLKEM768, h(t.clientShare), h(t.serverRandom));
        return { serverShare: toHex(r.share), shared: toHex(r.shared) };
      });
  }
  return unimplemented(`operation ${JSON.stringify(t.operation)}`);
};

/** Single verification with the pinned rule (SIG-001 … SIG-005), batch signatures included (§10.4). */
const ed25519 = (g: Json, t: Json): VectorAnswer =>
  attempt(() => {
    const key = validatePublicKey(h(t.publicKey));
    verify(key, g.label, h(t.msg), h(t.sig));
  });

const credential = (g: Json, t: Json): VectorAnswer => {
  const authorityKey = validatePublicKey(h(g.authorityKey));
  return attempt(() => {
    const r = verifyCredential(
      h(t.credential),
      h(t.revocationList),
      { authorityKey, realm: h(g.realm), acceptedNumber: g.acceptedNumber !== undefined ? BigInt(g.acceptedNumber) : 0n },
      BigInt(g.now),
    );
    return { serverKey: toHex(r.serverKey.bytes) };
  });
};

/** A server's check of an access token (TOK-007); outputs what it records (TOK-009, TOK-011). */
const token = (g: Json, t: Json): VectorAnswer => {
  const v = { issuers: (g.issuerKeys as unknown[]).map((k) => validatePublicKey(h(k))), realm: h(g.realm), serverKeyId: h(g.serverKeyId) };
  return attempt(() => {
    const r = verifyToken(v, h(t.token), h(g.clientKey), BigInt(g.now));
    return { subject: toHex(r.subject), device: toHex(r.device), tokenId: toHex(r.tokenId), notAfter: r.notAfter.toString() };
  });
};

const merkle = (g: Json, t: Json): VectorAnswer => attempt(() => void verifyInclusion(t.leafIndex, t.leafCount, h(t.leaf), (t.path as unknown[]).map(h), h(g.root)));

/**
 * Each step to a fresh window or batch-sequence state, a new batch sequence for each new session (REPLAY-010);
 * the test's result is its last step's.
 */
const replay = (g: Json, t: Json): VectorAnswer => {
  if (g.type !== 'MessageWindow' && g.type !== 'BatchSequence') return unimplemented(`replay group type ${JSON.stringify(g.type)}`);
  const window = new MessageWindow(g.type === 'MessageWindow' ? g.windowSize : undefined);
  let seq = new BatchSequence();
  let session = 0;
  const steps: Json[] = [];
  for (const s of t.steps as Json[]) {
    const id = BigInt(s.id);
    let got: string;
    if (g.type === 'MessageWindow') {
      got = window.check(id);
      if (got === 'accept') window.accept(id);
    } else {
      if (typeof s.session !== 'number' || s.session < session) throw new Internal(`step session ${JSON.stringify(s.session)} after ${session}`);
      if (s.session > session) [seq, session] = [new BatchSequence(), s.session];
      got = seq.check(id);
      if (got === 'accept') seq.accept(id);
    }
    steps.push({ result: got });
  }
  const last = steps.at(-1)?.result ?? 'accept';
  return last === 'accept' ? valid({ steps }) : { result: 'invalid', alert: last, outputs: { steps } };
};

/** A receiver at the start sequence opens each step's frame; the steps stop at the first failure. */
const record = (g: Json, t: Json): VectorAnswer => {
  const secret = h(g.trafficSecret);
  const rx = new RecordReceiver(g.aead, secret, BigInt(t.startSequence));
  let iv = trafficKeys(secret).iv;
  const steps: Json[] = [];
  for (const [i, s] of (t.steps as Json[]).entries()) {
    if (rx.sequence.toString() !== String(s.sequence)) throw new Internal(`step ${i}: receiver at sequence ${rx.sequence}, the vector says ${s.sequence}`);
    if (s.nonce !== undefined && toHex(xorNonce(iv, rx.sequence)) !== s.nonce) throw new Internal(`step ${i}: nonce differs from the vector's`);
    try {
      const msgs = rx.open(h(s.frame)).map((m) => toHex(m.raw));
      steps.push({ result: 'accept', messages: msgs });
    } catch (e) {
      steps.push({ result: stepResult(e), messages: [] });
      return { result: 'invalid', alert: steps.at(-1)!.result, outputs: { steps } };
    }
    if (s.updateKey) {
      rx.update();
      iv = trafficKeys(rx.trafficSecret).iv;
    }
  }
  return valid({ steps });
};

/** A connected session of the group's role receives every step's frame; a failed step closes it. */
const session = (g: Json, t: Json): VectorAnswer => {
  if (g.role !== 'client' && g.role !== 'server') throw new Internal(`role ${JSON.stringify(g.role)}`);
  const s = Session.fromSecrets(g.role as Role, g.aead, h(g.receiveSecret), h(g.sendSecret));
  const steps: Json[] = [];
  let last = 'accept';
  for (const st of t.steps as Json[]) {
    try {
      const r = s.receive(h(st.frame));
      steps.push({ result: 'accept', messages: r.messages.map((m) => toHex(m.raw)), answers: r.answers.map(toHex) });
      last = 'accept';
    } catch (e) {
      last = stepResult(e);
      steps.push({ result: last, messages: [], answers: [] });
    }
  }
  return last === 'accept' ? valid({ steps }) : { result: 'invalid', alert: last, outputs: { steps } };
};

/** The delivery opened as the client of the test's recipient (BATCH-016), with the test's replay state. */
const batch = (g: Json, t: Json): VectorAnswer => {
  const rcp = (g.recipients as Json[])[t.recipient];
  if (!rcp) throw new Internal(`recipient ${t.recipient} of ${(g.recipients as Json[]).length}`);
  const signerKey = validatePublicKey(h(g.signerKey));
  const state = new ReplayState();
  if (t.highestBatchSeq !== undefined && t.highestBatchSeq !== '0') state.batch.accept(BigInt(t.highestBatchSeq));
  for (const id of t.acceptedIds as string[]) state.window.accept(BigInt(id));
  const before = JSON.stringify(state.toJSON()) + state.batch.highest;
  const ctx = { signerKey, envKey: h(rcp.envKey), envIv: h(rcp.envIv), tagKey: h(rcp.tagKey), aead: rcp.aead, maxPayload: t.maxPayload };
  const a = attempt(() => {
    const opened = openDelivery(h(t.delivery), ctx, state);
    // BATCH-014: the state to commit records the batch sequence and every ID; the caller's is unchanged
    if (opened.nextState.batch.highest !== opened.header.batchSeq) throw new Internal('next state: batch_seq not recorded');
    for (const m of opened.messages) if (opened.nextState.window.check(m.messageId) === 'accept') throw new Internal(`next state: ID ${m.messageId} not recorded`);
    return { messages: opened.messages.map((m) => ({ messageId: m.messageId.toString(), payload: toHex(m.payload), status: m.status })) };
  });
  if (JSON.stringify(state.toJSON()) + state.batch.highest !== before) throw new Internal('openDelivery changed the replay state it was given');
  return a;
};

// ---------------------------------------------------------------------------------------------
// decode: strict decoding; what decodes re-encodes to the same bytes

const DECODERS: Record<string, (input: Uint8Array, g: Json) => Uint8Array> = {
  Frame: (b) => encodeFrame(decodeFrame(b)),
  PlaintextFrame: (b) => encodeFrame({ type: FRAME_PLAINTEXT, fragment: decodePlaintextFrame(b).raw }),
  Alert: (b) => encodeAlert(decodeAlert(b)),
  Extensions: (b, g) => {
    const r = new Reader(b, 'Extensions');
    const exts = readExtensions(r);
    r.end();
    checkAscending(exts);
    const known = new Set<number>(g.known ?? []);
    checkExtensions(exts, known, known);
    const w = new Writer();
    writeExtensions(w, exts);
    return w.finish();
  },
  ClientHello: (b) => encodeClientHello(decodeClientHello(b)),
  ServerHello: (b) => encodeServerHello(decodeServerHello(b)),
  ServerIdentity: (b) => encodeServerIdentity(decodeServerIdentity(b)),
  Welcome: (b) => encodeWelcome(decodeWelcome(b)),
  Ack: (b) => encodeAck(decodeAck(b)),
  BatchHeader: (b) => encodeBatchHeader(decodeBatchHeader(b)),
};

const decode = (g: Json, t: Json): VectorAnswer => {
  const dec = DECODERS[g.structure];
  if (!dec) return unimplemented(`no decoder for structure ${JSON.stringify(g.structure)}`);
  const input = h(t.input);
  let again: Uint8Array;
  try {
    again = dec(input, g);
  } catch (e) {
    return invalid(e);
  }
  if (!bytesEqual(again, input)) throw new Internal(`${g.structure} re-encodes to other bytes`);
  return valid();
};

// ---------------------------------------------------------------------------------------------
// handshake

/** The client configuration of a handshake test (vectors/README.md; `client.realm` is UTF-8 text). */
export function handshakeClientConfig(t: Json, trace?: ClientConfig['trace']): ClientConfig & { random: ReturnType<typeof sequenceRandom> } {
  const c = t.client;
  const trust: ServerTrust = c.pinnedKeyId
    ? { kind: 'pinned', keyId: h(c.pinnedKeyId), pins: c.nextPinnedKeyId ? [h(c.pinnedKeyId), h(c.nextPinnedKeyId)] : undefined }
    : { kind: 'authority', authorityKey: h(c.authorityKey), realm: utf8(c.realm), acceptedNumber: BigInt(c.minRevocationNumber) };
  return {
    trust,
    identitySeed: c.identitySeed ? h(c.identitySeed) : undefined,
    token: c.token ? h(c.token) : undefined,
    ticket: c.ticket ? { ticket: h(c.ticket.ticket), psk: h(c.ticket.psk), clientId: h(c.ticket.clientId), expires: BigInt(c.ticket.expires) } : undefined,
    versions: c.versions,
    groups: c.groups,
    aeads: c.aeads,
    grease: c.grease,
    extraExtensions: ((c.extraExtensions ?? []) as Json[]).map((e) => ({ type: e.type, data: h(e.data) })),
    random: sequenceRandom(((c.random ?? []) as Json[]).map((r) => h(r.value))),
    now: () => BigInt(t.now),
    trace,
  };
}

export const HANDSHAKE_SERVER_ROLE =
  'role "server" runs the server state machine (ClientHello processing, server flight, client-flight checks, Welcome); this is a client library';
export const HANDSHAKE_BOTH_ROLE =
  'role "both" needs both sides: vector mode strips the server frames (the whole transcript is the output) and this client library has no server to produce them';

/**
 * Role client: the client consumes the server frames as given and produces its own in the places marked
 * {"from": "client"}; it stops at the first server frame it rejects. Frames it produced beyond the marked
 * places are appended.
 */
const handshake = (_g: Json, t: Json): VectorAnswer => {
  if (t.role === 'server') return unimplemented(HANDSHAKE_SERVER_ROLE);
  if (t.role === 'both') return unimplemented(HANDSHAKE_BOTH_ROLE);
  if (t.role !== 'client') return unimplemented(`handshake role ${JSON.stringify(t.role)}`);
  const frames: Json[] = [];
  const hs = new ClientHandshake(handshakeClientConfig(t));
  const pending: Uint8Array[] = [];
  try {
    pending.push(hs.start());
  } catch (e) {
    return invalid(e, { frames });
  }
  let failure: unknown;
  for (const [i, fr] of (t.frames as Json[]).entries()) {
    if (fr.from === 'client') {
      const f = pending.shift();
      if (!f) throw new Internal(`frame ${i}: the client produced nothing here`);
      frames.push({ from: 'client', frame: toHex(f) });
      continue;
    }
    frames.push({ from: fr.from, frame: fr.frame });
    try {
      pending.push(...hs.receive(h(fr.frame)));
    } catch (e) {
      if (!(e instanceof SealFeedError)) throw e;
      failure = e;
      break;
    }
  }
  for (const f of pending) frames.push({ from: 'client', frame: toHex(f) });
  return failure === undefined ? valid({ frames }) : invalid(failure, { frames });
};

/** A publisher's receiver checking a webhook POST (API-104); outputs the signature base it verified. */
const webhook = (g: Json, t: Json): VectorAnswer =>
  attempt(() => {
    const headers = (t.headers as { name: string; value: string }[]).map((x) => [x.name, x.value] as const);
    const req = { method: t.method as string, url: t.targetUri as string, headers, body: h(t.body) };
    const base = verifyWebhookSignature(req, { keyId: g.keyId, publicKey: h(g.publicKey) }, Number(g.now));
    return { signatureBase: toHex(utf8(base)) };
  });

const AREAS: Record<string, (g: Json, t: Json) => VectorAnswer> = {
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
