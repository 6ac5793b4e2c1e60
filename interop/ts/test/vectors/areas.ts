/**
 * One runner per vector area (vectors/README.md, "Running each area"). Each returns the outcome of every
 * test of its file. Server-side behaviour that a client library never performs is "not applicable", with
 * the reason; everything else runs against the TypeScript implementation.
 */
import {
  appSecretsAfter,
  auditPath,
  blobAad,
  checkAscending,
  checkExtensions,
  ClientHandshake,
  computeWitness,
  decodeAck,
  decodeAlert,
  decodeBatchHeader,
  decodeClientHello,
  decodeFrame,
  decodePlaintextFrame,
  decodeServerHello,
  decodeServerIdentity,
  decodeWelcome,
  encodeAck,
  encodeAlert,
  encodeBatchHeader,
  encodeClientHello,
  encodeFrame,
  encodeServerHello,
  encodeServerIdentity,
  encodeWelcome,
  envelopeKeys,
  expandLabel,
  FRAME_PLAINTEXT,
  fullSchedule,
  generateClientShare,
  getAead,
  GROUP_X25519,
  GROUP_X25519MLKEM768,
  hkdfLabel,
  hybridClientFromSeed,
  keyId,
  MessageWindow,
  BatchSequences,
  merkleRoot,
  openDelivery,
  Reader,
  readExtensions,
  RecordReceiver,
  recipientAad,
  recipientNonce,
  recipientTag,
  ReplayState,
  SealFeedError,
  sequenceRandom,
  serverRespond,
  Session,
  sign,
  SIG_LABELS,
  signedMessage,
  toHex,
  trafficKeys,
  u8,
  utf8,
  validatePublicKey,
  verify,
  verifyBatch,
  verifyCredential,
  verifyInclusion,
  writeExtensions,
  Writer,
  xorNonce,
  type ServerTrust,
  type ClientConfig,
} from '../../src/index.js';
import { check, eqHex, h, Mismatch, type Outcome, runExpecting, type VectorFile } from './harness.js';

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

const expand_label: Runner = (f) =>
  each(f, (_g, t) =>
    runExpecting(t, () => {
      const ctx = h(t.context);
      eqHex(hkdfLabel(t.label, ctx, t.length), t.info, 'info (HkdfLabel)');
      eqHex(expandLabel(h(t.secret), t.label, ctx, t.length), t.output, 'output');
    }),
  );

const keyschedule: Runner = (f) =>
  each(f, (_g, t) =>
    runExpecting(t, () => {
      const got = fullSchedule({
        psk: t.psk === '' ? undefined : h(t.psk),
        sharedSecret: h(t.sharedSecret),
        helloHash: h(t.helloHash),
        serverFinishedHash: h(t.serverFinishedHash),
        clientFinishedHash: h(t.clientFinishedHash),
      });
      Object.assign(got, appSecretsAfter(got.c_ap_traffic_0!, got.s_ap_traffic_0!, t.keyUpdates));
      for (const [name, want] of Object.entries(t.secrets as Record<string, string>)) eqHex(got[name], want, name);
    }),
  );

const x25519: Runner = (f) =>
  each(f, (_g, t) =>
    runExpecting(t, () => {
      const priv = h(t.private);
      const pub = h(t.public);
      // as the server: respond to the client's share with the ephemeral private key
      let serverErr: SealFeedError | undefined;
      try {
        const r = serverRespond(GROUP_X25519, pub, priv);
        eqHex(r.shared, t.shared, 'server shared secret');
      } catch (e) {
        if (!(e instanceof SealFeedError)) throw e;
        serverErr = e;
      }
      // as the client: finish with the server's share
      const share = generateClientShare(GROUP_X25519, sequenceRandom([priv]));
      let clientErr: SealFeedError | undefined;
      try {
        eqHex(share.finish(pub), t.shared, 'client shared secret');
      } catch (e) {
        if (!(e instanceof SealFeedError)) throw e;
        clientErr = e;
      }
      check((serverErr?.alert ?? 'ok') === (clientErr?.alert ?? 'ok'), `server (${serverErr?.alert}) and client (${clientErr?.alert}) disagree`);
      if (clientErr) throw clientErr;
    }),
  );

const x25519mlkem768: Runner = (f) =>
  each(f, (_g, t) =>
    runExpecting(t, () => {
      const op = t.operation as 'exchange' | 'respond' | 'finish';
      if (op === 'exchange' || op === 'finish') {
        const c = hybridClientFromSeed(h(t.clientSeed));
        eqHex(c.share, t.clientShare, 'client share');
        if (op === 'exchange') {
          const r = serverRespond(GROUP_X25519MLKEM768, c.share, h(t.serverRandom));
          eqHex(r.share, t.serverShare, 'server share');
          eqHex(r.shared, t.shared, 'server shared secret');
        }
        eqHex(c.finish(h(t.serverShare)), t.shared, 'client shared secret');
        // the handshake draws the same values in the order of the README: seed, then X25519 private key
        const seq = h(t.clientSeed);
        const viaRandom = generateClientShare(GROUP_X25519MLKEM768, sequenceRandom([seq.slice(0, 64), seq.slice(64)]));
        eqHex(viaRandom.share, t.clientShare, 'client share via the randomness source');
      } else {
        const r = serverRespond(GROUP_X25519MLKEM768, h(t.clientShare), h(t.serverRandom));
        eqHex(r.shared, t.shared, 'server shared secret');
      }
    }),
  );

const ed25519: Runner = (f) => {
  const run = each(f, (g, t) =>
    runExpecting(t, () => {
      const key = validatePublicKey(h(t.publicKey));
      verify(key, g.label, h(t.msg), h(t.sig), g.witnessed ? { witness: h(t.witness) } : {});
    }),
  );
  // SIG-011: in witnessed groups, batch verification of the whole group must give each test the same result
  f.testGroups.forEach((g, gi) => {
    if (!g.witnessed) return;
    const results = verifyBatch(
      g.tests.map((t) => ({ publicKey: h(t.publicKey), message: signedMessage(g.label, h(t.msg)), signature: h(t.sig), witness: h(t.witness) })),
    );
    g.tests.forEach((t, i) => {
      const got = results[i]?.alert ?? 'valid';
      const want = t.result === 'valid' ? 'valid' : t.alert;
      if (got !== want) {
        const o = run.outcomes.find((x) => x.group === gi && x.tcId === t.tcId)!;
        if (o.outcome.kind === 'pass') o.outcome = { kind: 'fail', why: `batch verification gives ${got}, single verification ${want} (SIG-011)` };
      }
    });
  });
  return run;
};

const credential: Runner = (f) =>
  each(f, (g, t) =>
    runExpecting(t, () => {
      const authorityKey = validatePublicKey(h(g.authorityKey));
      const r = verifyCredential(
        h(t.credential),
        h(t.revocationList),
        { authorityKey, realm: h(g.realm), acceptedNumber: g.acceptedNumber ? BigInt(g.acceptedNumber) : 0n },
        BigInt(g.now),
      );
      eqHex(r.serverKey.bytes, t.serverKey, 'trusted server key');
    }),
  );

const merkle: Runner = (f) => {
  const run = each(f, (g, t) =>
    runExpecting(t, () => {
      const path = (t.path as string[]).map(h);
      verifyInclusion(t.leafIndex, t.leafCount, h(t.leaf), path, h(g.root));
      // the builder's view: the same audit path from the group's leaves
      if (t.result === 'valid' && g.leaves && t.leafCount === g.leaves.length) {
        const ap = auditPath((g.leaves as string[]).map(h), t.leafIndex);
        check(ap.map(toHex).join() === (t.path as string[]).join(), 'audit path built from the leaves differs');
      }
    }),
  );
  for (const g of f.testGroups) {
    if (!g.leaves || g.leaves.length !== g.leafCount) continue;
    const root = toHex(merkleRoot((g.leaves as string[]).map(h)));
    if (root === g.root) run.groupChecks.passed++;
    else run.groupChecks.failed.push(`merkle group of ${g.leafCount} leaves: root ${root} ≠ ${g.root}`);
  }
  return run;
};

const replay: Runner = (f) =>
  each(f, (g, t) => {
    const window = new MessageWindow(g.type === 'MessageWindow' ? g.windowSize : 1024);
    const seqs = new BatchSequences();
    for (const [i, s] of (t.steps as any[]).entries()) {
      const id = BigInt(s.id);
      let got: string;
      if (g.type === 'MessageWindow') {
        got = window.check(id);
        if (got === 'accept') window.accept(id);
      } else {
        const signer = u8(s.signer);
        got = seqs.check(signer, id);
        if (got === 'accept') seqs.accept(signer, id);
      }
      if (got !== s.result) return { kind: 'fail', why: `step ${i} (id ${s.id}): ${got}, want ${s.result}` };
    }
    return { kind: 'pass' };
  });

const record: Runner = (f) => {
  const run = each(f, (g, t) => {
    let secret = h(g.trafficSecret);
    const rx = new RecordReceiver(g.aead, secret, BigInt(t.startSequence));
    for (const [i, s] of (t.steps as any[]).entries()) {
      check(rx.sequence.toString() === s.sequence, `step ${i}: receiver at sequence ${rx.sequence}, vector says ${s.sequence}`);
      eqHex(xorNonce(trafficKeys(secret).iv, rx.sequence), s.nonce, `step ${i} nonce`);
      let got = 'accept';
      let msgs: string[] = [];
      try {
        msgs = rx.open(h(s.frame)).map((m) => toHex(m.raw));
      } catch (e) {
        if (!(e instanceof SealFeedError)) throw e;
        got = e.alert;
      }
      if (got !== s.result) return { kind: 'fail', why: `step ${i}: ${got}, want ${s.result}` };
      if (got !== 'accept') break;
      check(msgs.join() === (s.messages as string[]).join(), `step ${i}: messages differ`);
      if (s.updateKey) {
        rx.update();
        secret = rx.trafficSecret;
      }
    }
    return t.result === 'valid' || t.steps.at(-1).result === t.alert ? { kind: 'pass' } : { kind: 'fail', why: 'last step alert differs from the test alert' };
  });
  for (const g of f.testGroups) {
    const k = trafficKeys(h(g.trafficSecret));
    if (toHex(k.key) === g.key && toHex(k.iv) === g.iv) run.groupChecks.passed++;
    else run.groupChecks.failed.push(`record group aead ${g.aead}: key/iv from the traffic secret differ`);
  }
  return run;
};

const session: Runner = (f) =>
  each(f, (g, t) => {
    const s = Session.fromSecrets(g.role, g.aead, h(g.receiveSecret), h(g.sendSecret));
    for (const [i, st] of (t.steps as any[]).entries()) {
      let got = 'accept';
      let msgs: string[] = [];
      let answers: string[] = [];
      try {
        const r = s.receive(h(st.frame));
        msgs = r.messages.map((m) => toHex(m.raw));
        answers = r.answers.map(toHex);
      } catch (e) {
        if (!(e instanceof SealFeedError)) throw e;
        got = e.alert;
      }
      if (got !== st.result) return { kind: 'fail', why: `step ${i}: ${got}, want ${st.result}` };
      check(msgs.join() === (st.messages as string[]).join(), `step ${i}: messages differ`);
      check(answers.join() === (st.answers as string[]).join(), `step ${i}: answers differ: ${answers.join()} vs ${(st.answers as string[]).join()}`);
    }
    return t.result === 'valid' || t.steps.at(-1).result === t.alert ? { kind: 'pass' } : { kind: 'fail', why: 'last step alert differs from the test alert' };
  });

const batch: Runner = (f) => {
  const run = each(f, (g, t) =>
    runExpecting(t, () => {
      const signerKey = validatePublicKey(h(g.signerKey));
      const rcp = g.recipients[t.recipient];
      const state = new ReplayState();
      const sessionSigner = keyId(signerKey.bytes);
      if (t.highestBatchSeq && t.highestBatchSeq !== '0') state.batches.accept(sessionSigner, BigInt(t.highestBatchSeq));
      for (const id of t.acceptedIds as string[]) state.window.accept(BigInt(id));
      const before = JSON.stringify(state.toJSON());
      let opened;
      try {
        opened = openDelivery(h(t.delivery), { signerKey, envKey: h(rcp.envKey), envIv: h(rcp.envIv), tagKey: h(rcp.tagKey), aead: rcp.aead, maxPayload: t.maxPayload }, state);
      } finally {
        // BATCH-014: opening never changes the caller's state
        check(JSON.stringify(state.toJSON()) === before, 'openDelivery changed the replay state it was given');
      }
      const got = opened.messages.map((m) => `${m.messageId}:${toHex(m.payload)}:${m.status}`).join(',');
      const want = (t.messages as any[]).map((m) => `${m.messageId}:${m.payload}:${m.status}`).join(',');
      check(got === want, `messages: got ${got.slice(0, 200)}, want ${want.slice(0, 200)}`);
      // the state to commit: the batch sequence and every new ID
      check(opened.nextState.batches.get(opened.header.signerId).toString() === g.batchSeq, 'next state: batch_seq not recorded');
      for (const m of opened.messages) check(opened.nextState.window.check(m.messageId) !== 'accept', `next state: ID ${m.messageId} not recorded`);
    }),
  );
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
      ['witness [8⁻¹]R', () => toHex(computeWitness(h(g.signature))) === g.witness],
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
// decode

const decoders: Record<string, (input: Uint8Array, g: Record<string, any>) => Uint8Array> = {
  Frame: (b) => encodeFrame(decodeFrame(b)),
  PlaintextFrame: (b) => encodeFrame({ type: FRAME_PLAINTEXT, fragment: decodePlaintextFrame(b).raw }),
  Alert: (b) => encodeAlert(decodeAlert(b)),
  Extensions: (b, g) => {
    const r = new Reader(b, 'Extensions');
    const exts = readExtensions(r);
    r.end();
    checkAscending(exts);
    const known = new Set<number>(g.known);
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

const decode: Runner = (f) =>
  each(f, (g, t) => {
    const dec = decoders[g.structure];
    if (!dec) return { kind: 'fail', why: `no decoder for structure ${g.structure}` };
    return runExpecting(t, () => eqHex(dec(h(t.input), g), t.input, `${g.structure} re-encoding`));
  });

// ---------------------------------------------------------------------------------------------
// handshake

const SERVER_ROLE_REASON =
  'role "server": runs the server state machine alone (ClientHello processing, server flight, client-flight verification, Welcome issuing); a client library never performs it';

export function clientConfig(t: Record<string, any>, trace: ClientConfig['trace']): ClientConfig & { random: ReturnType<typeof sequenceRandom> } {
  const c = t.client;
  const trust: ServerTrust = c.pinnedKeyId
    ? { kind: 'pinned', keyId: h(c.pinnedKeyId) }
    : { kind: 'authority', authorityKey: h(c.authorityKey), realm: utf8(c.realm), acceptedNumber: BigInt(c.minRevocationNumber) };
  return {
    trust,
    identitySeed: c.identitySeed ? h(c.identitySeed) : undefined,
    ticket: c.ticket ? { ticket: h(c.ticket.ticket), psk: h(c.ticket.psk), clientId: h(c.ticket.clientId), expires: BigInt(c.ticket.expires) } : undefined,
    versions: c.versions,
    groups: c.groups,
    aeads: c.aeads,
    grease: c.grease,
    extraExtensions: (c.extraExtensions as any[]).map((e) => ({ type: e.type, data: h(e.data) })),
    random: sequenceRandom((c.random as any[]).map((r) => h(r.value))),
    now: () => BigInt(t.now),
    trace,
  };
}

/**
 * Role both or client: the TypeScript client runs against the server frames of the vector; every frame it
 * produces must equal the vector's client frame. Valid: every message and secret the client sees, the
 * client ID and the ticket must match. Invalid: the last frame must be rejected with the alert.
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
  return { kind: 'pass' };
}

const handshake: Runner = (f) =>
  each(f, (_g, t) => {
    if (t.role === 'server') return { kind: 'na', reason: SERVER_ROLE_REASON };
    return runClientHandshake(t);
  });

export const RUNNERS: Record<string, Runner> = {
  expand_label,
  keyschedule,
  x25519,
  x25519mlkem768,
  ed25519,
  credential,
  merkle,
  replay,
  record,
  session,
  batch,
  decode,
  handshake,
};
