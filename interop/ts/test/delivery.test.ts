/**
 * The delivery guarantee (issue 14; spec §12): the plan for each message of a record, the saved `unacked` set,
 * the window record shared by the connections of one store object, and the client end to end over a scripted
 * server: held across a reconnect, handed again and marked after a restart, manual acknowledgement through
 * the current connection, a failing handler, iterator mode, lost state, stale pruning and old saved state.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeAck,
  encodeMessage,
  MessageWindow,
  MSG,
  ReplayState,
  SealFeedClient,
  StorageReplayStore,
  utf8,
  type BatchStatus,
  type DeliveredMessage,
  type ReplayStore,
  type SealFeedClientOptions,
  type SerializedReplayState,
} from '../src/index.js';
import { LAZY_SAVE_MS, openWindow, planRecord, WindowRecord, type Disposition } from '../src/delivery.js';
import { buildBatch } from './helpers/builder.js';
import { fakeSocket } from './helpers/fakesocket.js';
import { handshakeVector, ScriptedServer } from './helpers/scripted.js';
import { h } from './vectors/harness.js';
import { FileReplayStore } from '../src/node.js';

const msg = (messageId: bigint, status: 'deliver' | 'replayed_message' | 'stale_message' = 'deliver') => ({ messageId, status });

test('planRecord: new → hand; stale → ack; duplicate not unacked → ack; unacked not handed here → hand_again; handed here → hold', () => {
  const unacked = new Set([3n, 4n]);
  const handed = new Set([4n]);
  const cases: [ReturnType<typeof msg>, Disposition][] = [
    [msg(9n), 'hand'],
    [msg(1n, 'stale_message'), 'ack'],
    [msg(2n, 'replayed_message'), 'ack'],
    [msg(3n, 'replayed_message'), 'hand_again'],
    [msg(4n, 'replayed_message'), 'hold'],
  ];
  for (const [m, want] of cases) assert.deepEqual(planRecord([[m]], unacked, handed), [[want]], `${m.messageId} ${m.status}`);
  // within one record: an ID handed by an earlier delivery is held by a later one, however it was handed
  assert.deepEqual(
    planRecord([[msg(9n), msg(3n, 'replayed_message')], [msg(9n, 'replayed_message'), msg(3n, 'replayed_message'), msg(4n, 'replayed_message')]], unacked, handed),
    [
      ['hand', 'hand_again'],
      ['hold', 'hold', 'hold'],
    ],
  );
  // the inputs are not changed
  assert.deepEqual([[...unacked], [...handed]], [[3n, 4n], [4n]]);
});

test('ReplayState: unacked saved with the window (version 2); version 1 loads with none; damage refused; stale IDs dropped', () => {
  const s = new ReplayState();
  for (const id of [1n, 2n, 5n]) s.window.accept(id);
  s.unacked.add(5n);
  s.unacked.add(2n);
  const json = JSON.parse(JSON.stringify(s.toJSON())) as SerializedReplayState;
  assert.deepEqual([json.version, json.unacked], [2, ['2', '5']]);
  const r = ReplayState.fromJSON(json);
  assert.deepEqual([...r.unacked].sort(), [2n, 5n]);
  assert.equal(r.window.check(5n), 'replayed_message');
  // the clone is independent
  const c = r.clone();
  c.unacked.delete(2n);
  assert.equal(r.unacked.has(2n), true);

  // version 1, written before unacked existed: its client acknowledged everything it handed over
  const v1 = ReplayState.fromJSON({ version: 1, window: json.window });
  assert.equal(v1.unacked.size, 0);
  assert.equal(v1.window.check(2n), 'replayed_message');

  // damaged: an ID never accepted (3, or above top), 0, not a decimal string, too many, unknown version
  for (const unacked of [['3'], ['6'], ['0'], ['02'], [5], '5', Array.from({ length: 1025 }, () => '5')]) {
    assert.throws(() => ReplayState.fromJSON({ ...json, unacked: unacked as string[] }), RangeError, JSON.stringify(unacked).slice(0, 20));
  }
  assert.throws(() => ReplayState.fromJSON({ ...json, version: 3 as 2 }), RangeError);

  // DLV-015's mark is saved only when set, and survives a load and a clone
  assert.equal('unrecorded' in json, false);
  s.unrecorded = true;
  const marked = ReplayState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
  assert.deepEqual([marked.unrecorded, marked.clone().unrecorded, r.unrecorded], [true, true, false]);
  assert.throws(() => ReplayState.fromJSON({ ...json, unrecorded: 'yes' as never }), RangeError);
  s.unrecorded = false;

  // stale: top − id ≥ W; dropped on load and by pruneUnacked as the window moves
  s.window.accept(1025n); // 1025 − 1 = W: 1 is stale, 2 is not
  s.unacked.add(1n);
  assert.deepEqual([...ReplayState.fromJSON(s.toJSON()).unacked].sort(), [2n, 5n]);
  s.window.accept(1026n);
  assert.deepEqual(s.pruneUnacked().sort(), [1n, 2n]);
  assert.deepEqual([...s.unacked], [5n]);
});

/** A store over a Map that records each save and can be slowed down. */
class LoggingStore implements ReplayStore {
  readonly data = new Map<string, string>();
  readonly saves: { key: string; state: SerializedReplayState }[] = [];
  delays: number[] = [];
  async load(key: string) {
    const v = this.data.get(key);
    return v === undefined ? undefined : JSON.parse(v);
  }
  async save(key: string, state: SerializedReplayState | object) {
    const d = this.delays.shift() ?? 0;
    if (d) await new Promise((r) => setTimeout(r, d));
    this.data.set(key, JSON.stringify(state));
    if (!key.endsWith(':epochs')) this.saves.push({ key, state: state as SerializedReplayState });
  }
}

test('WindowRecord: an ack leaves unacked at once, goes out through the sink, and is saved lazily; saves are serialized', async () => {
  const store = new LoggingStore();
  const rec = await openWindow(store, 'k');
  assert.equal(await openWindow(store, 'k'), rec, 'one record per store object and key');
  assert.notEqual(await openWindow(new LoggingStore(), 'k'), rec);
  assert.equal(rec.persisted, false);
  const w = new MessageWindow();
  for (const id of [1n, 2n, 3n]) w.accept(id);
  rec.admit(w, [1n, 2n, 3n]);
  await rec.save();
  assert.equal(rec.persisted, true);
  assert.deepEqual(store.saves.at(-1)!.state.unacked, ['1', '2', '3']);

  const sent: bigint[][] = [];
  rec.ack(2n); // no connection up: nothing to send through
  rec.ackSink = (ids) => void sent.push(ids);
  rec.handed.add(3n);
  rec.ack(3n);
  assert.deepEqual(sent, [[3n]]);
  assert.deepEqual([...rec.state.unacked], [1n]);
  assert.equal(rec.handed.has(3n), false, 'handed stays a subset of unacked');
  assert.equal(store.saves.length, 1, 'not saved at once');
  await rec.flush();
  assert.deepEqual(store.saves.at(-1)!.state.unacked, ['1']);
  await rec.flush();
  assert.equal(store.saves.length, 2, 'nothing left to save');

  // the lazy save comes by itself within LAZY_SAVE_MS
  rec.ack(1n);
  await new Promise((r) => setTimeout(r, LAZY_SAVE_MS + 200));
  assert.equal(store.saves.length, 3);
  assert.deepEqual(store.saves.at(-1)!.state.unacked, []);

  // a slow save followed by a fast one: they run in order, the newest state is written last
  store.delays = [100, 0];
  w.accept(4n);
  rec.admit(w, [4n]);
  const slow = rec.save();
  await new Promise((r) => setTimeout(r, 10)); // the slow one has its state and is writing
  w.accept(5n);
  rec.admit(w, [5n]);
  await Promise.all([slow, rec.save()]);
  assert.deepEqual(JSON.parse(store.data.get('k')!).unacked, ['4', '5']);

  // a failed save fails its caller and leaves the state to be saved by the next flush
  const save = store.save.bind(store);
  store.save = async () => {
    throw new Error('disk full');
  };
  rec.ack(4n);
  await assert.rejects(rec.save(), /disk full/);
  store.save = save;
  await rec.flush();
  assert.deepEqual(JSON.parse(store.data.get('k')!).unacked, ['5']);
});

test('WindowRecord.admit drops IDs that became stale from unacked and handed', async () => {
  const rec = new WindowRecord(new LoggingStore(), 'k', undefined);
  const w = new MessageWindow();
  w.accept(1n);
  rec.admit(w, [1n]);
  rec.handed.add(1n);
  w.accept(1025n);
  rec.admit(w, [1025n]);
  assert.deepEqual([...rec.state.unacked], [1025n]);
  assert.equal(rec.handed.has(1n), false);
});

// ---------------------------------------------------------------------------------------------
// The client over a scripted server (a handshake vector replayed; same client ID and store epoch on every
// connection to it)

type Opts = Partial<Omit<SealFeedClientOptions, 'url' | 'WebSocket'>>;

async function scripted(tcId: number, opts: Opts = {}) {
  const v = handshakeVector(tcId);
  let server!: ScriptedServer;
  let deliverFrame!: (f: Uint8Array) => void;
  const WS = fakeSocket((s) => {
    server = new ScriptedServer(v, (f) => s.deliver(f));
    s.toServer = (f) => server.onClientFrame(f);
    deliverFrame = (f) => s.deliver(f);
  });
  const batches: BatchStatus[] = [];
  const got: DeliveredMessage[] = [];
  const client = await SealFeedClient.connect({
    ...v.config,
    url: 'wss://push.example/feed',
    WebSocket: WS,
    onBatch: (b) => void batches.push(b),
    onMessage: (m) => void got.push(m),
    ...opts,
  });
  const env = { envKey: v.secret('env_key'), envIv: v.secret('env_iv'), tagKey: v.secret('tag_key') };
  let batchSeq = 0n;
  let opened = 0;
  const acks: bigint[][] = [];
  return {
    client,
    got,
    batches,
    /** one delivery of these message IDs (payload "m<id>") in one record; resolves once it is processed */
    async deliver(...ids: bigint[]): Promise<void> {
      const n = batches.length;
      const b = buildBatch({
        signerSeed: h(v.t.server.keySeed),
        batchSeq: ++batchSeq,
        recipients: [{ env, aead: 1, entries: ids.map((id) => ({ type: 1 as const, messageId: id, payload: utf8(`m${id}`) })) }],
      });
      deliverFrame(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b.delivery(0))]));
      const t0 = Date.now();
      while (batches.length === n) {
        if (Date.now() - t0 > 5000) throw new Error('delivery not processed');
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 0)); // a microtask-queued Ack is out by now
    },
    /** the Acks the server has received so far, each as its ID list */
    acks(): bigint[][] {
      for (; opened < server.received.length; opened++) {
        for (const m of server.clientReceiver.open(server.received[opened]!)) if (m.type === MSG.Ack) acks.push(decodeAck(m.body));
      }
      return acks;
    },
  };
}

/** A Web Storage-like map: the disk; a new StorageReplayStore over it is a restarted process. */
class Disk {
  readonly m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  /** the saved unacked set of the only window */
  unacked(): string[] {
    const k = [...this.m.keys()].filter((x) => !x.endsWith(':epochs'));
    assert.equal(k.length, 1);
    return (JSON.parse(this.m.get(k[0]!)!) as SerializedReplayState).unacked!;
  }
}

/** A disk that stops taking writes when its process "crashes". */
class CrashableStorage {
  crashed = false;
  constructor(private readonly disk: Disk) {}
  getItem(k: string): string | null {
    return this.disk.getItem(k);
  }
  setItem(k: string, v: string): void {
    if (!this.crashed) this.disk.setItem(k, v);
  }
}

const view = (ms: DeliveredMessage[]) => ms.map((m) => [m.messageId, new TextDecoder().decode(m.payload), m.possibleRedelivery]);

test('a reconnect in the same process: messages the application holds are neither handed again nor acknowledged; m.ack() goes out on the new connection', async () => {
  const store = new StorageReplayStore(new Disk());
  const a = await scripted(1, { replayStore: store, manualAck: true });
  await a.deliver(1n, 2n);
  assert.deepEqual(view(a.got), [[1n, 'm1', false], [2n, 'm2', false]]);
  assert.deepEqual(a.acks(), []);
  await a.client.close();
  a.got[0]!.ack(); // no connection up: nothing sent anywhere
  assert.deepEqual(a.acks(), []);

  const b = await scripted(1, { replayStore: store, manualAck: true });
  await b.deliver(1n, 2n, 3n); // the server redelivers what it has not seen acknowledged, and a new one
  assert.deepEqual(view(b.got), [[3n, 'm3', false]]);
  // 1 was acknowledged by the application while no connection was up: acknowledged as a duplicate now; 2 is
  // held by the application, so not acknowledged
  assert.deepEqual(b.acks(), [[1n]]);
  assert.deepEqual(b.batches.at(-1), { ...b.batches.at(-1), delivered: 1, replayed: 2, stale: 0 });
  // the message object of the first connection acknowledges through the second
  a.got[1]!.ack();
  b.got[0]!.ack();
  a.got[1]!.ack(); // idempotent
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(b.acks(), [[1n], [2n, 3n]]);
  await b.client.close();
});

test('a restart (a new store object over the same saved state): unacknowledged messages are handed again, marked; acknowledged ones are not', async () => {
  const disk = new Disk();
  const a = await scripted(1, { replayStore: new StorageReplayStore(disk), manualAck: true });
  await a.deliver(1n, 2n, 3n);
  assert.deepEqual(disk.unacked(), ['1', '2', '3'], 'saved before the hand-off');
  a.got[0]!.ack();
  await a.client.close(); // saves the acknowledgement
  assert.deepEqual(disk.unacked(), ['2', '3']);

  const b = await scripted(1, { replayStore: new StorageReplayStore(disk), manualAck: true });
  await b.deliver(1n, 2n, 3n, 4n);
  assert.deepEqual(view(b.got), [
    [2n, 'm2', true],
    [3n, 'm3', true],
    [4n, 'm4', false],
  ]);
  assert.deepEqual(b.acks(), [[1n]]);
  // handed again in this process: the next redelivery is held, not handed a third time
  await b.deliver(2n);
  assert.equal(b.got.length, 3);
  assert.deepEqual(b.acks(), [[1n]]);
  b.got[0]!.ack();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(b.acks(), [[1n], [2n]]);
  await b.client.close();
  assert.deepEqual(disk.unacked(), ['3', '4']);
});

test('auto mode: a handler that rejects leaves its message unacknowledged and reported, the connection goes on; m.ack() still acknowledges it', async () => {
  const reported: [string, bigint][] = [];
  const got: DeliveredMessage[] = [];
  const disk = new Disk();
  const a = await scripted(1, {
    replayStore: new StorageReplayStore(disk),
    onMessage: async (m) => {
      got.push(m);
      if (m.messageId === 2n) throw new Error('disk full');
    },
    onHandlerError: (e, m) => void reported.push([(e as Error).message, m.messageId]),
  });
  await a.deliver(1n, 2n, 3n);
  assert.deepEqual(got.map((m) => m.messageId), [1n, 2n, 3n]);
  assert.deepEqual(reported, [['disk full', 2n]]);
  assert.deepEqual(a.acks(), [[1n, 3n]]);
  await a.deliver(4n);
  assert.deepEqual(a.acks(), [[1n, 3n], [4n]]);
  await a.client.close();
  assert.deepEqual(disk.unacked(), ['2']);

  // after a restart it is handed again, marked; this time the handler takes it
  const b = await scripted(1, { replayStore: new StorageReplayStore(disk) });
  await b.deliver(2n);
  assert.deepEqual(view(b.got), [[2n, 'm2', true]]);
  assert.deepEqual(b.acks(), [[2n]]);
  await b.client.close();
  assert.deepEqual(disk.unacked(), []);

  // the application may acknowledge a message whose handler failed
  const c = await scripted(1, {
    onMessage: () => Promise.reject(new Error('later')),
    onHandlerError: () => undefined,
  });
  await c.deliver(7n);
  assert.deepEqual(c.acks(), []);
  const it = c.client.messages();
  const m7 = (await it.next()).value as DeliveredMessage;
  m7.ack();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(c.acks(), [[7n]]);
  await c.client.close();
});

test('messages() without onMessage: taking a message does not acknowledge it; m.ack() does', async () => {
  const a = await scripted(1, { onMessage: undefined });
  const it = a.client.messages();
  await a.deliver(1n, 2n);
  const m1 = (await it.next()).value as DeliveredMessage;
  const m2 = (await it.next()).value as DeliveredMessage;
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(a.acks(), []);
  m2.ack();
  m1.ack(); // in the same turn: one Ack, ascending
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(a.acks(), [[1n, 2n]]);
  await a.client.close();
});

test('DLV-015 lost state: a window without saved state is marked for a key-identified or resumed client until a session ends in the process; not for a new anonymous ID', async () => {
  // key-identified (vector 9), no saved state: every message of the first session is marked, also one that
  // arrives after the window was saved; the session ends in this process, so the next one is precise
  const disk = new Disk();
  const store = new StorageReplayStore(disk);
  const a = await scripted(9, { replayStore: store });
  await a.deliver(1n);
  await a.deliver(2n);
  assert.deepEqual(view(a.got), [[1n, 'm1', true], [2n, 'm2', true]]);
  await a.client.close();
  const b = await scripted(9, { replayStore: store });
  await b.deliver(3n);
  assert.deepEqual(view(b.got), [[3n, 'm3', false]]);
  await b.client.close();
  // a restart with the state kept: precise too
  const c = await scripted(9, { replayStore: new StorageReplayStore(disk) });
  await c.deliver(4n);
  assert.deepEqual(view(c.got), [[4n, 'm4', false]]);
  await c.client.close();
  // a session that received nothing but ended in the process ends the marking too, after a restart as well
  const emptyDisk = new Disk();
  const d = await scripted(9, { replayStore: new StorageReplayStore(emptyDisk) });
  await d.client.close();
  const e = await scripted(9, { replayStore: new StorageReplayStore(emptyDisk) });
  await e.deliver(1n);
  assert.deepEqual(view(e.got), [[1n, 'm1', false]]);
  await e.client.close();

  // a crash during the first session: the mark is saved with the window, so the next process marks every
  // message too (not only the unacknowledged one it hands over again), until its session ends
  const crashDisk = new Disk();
  const crashable = new CrashableStorage(crashDisk);
  const p1 = await scripted(9, { replayStore: new StorageReplayStore(crashable), manualAck: true });
  await p1.deliver(1n);
  assert.deepEqual(view(p1.got), [[1n, 'm1', true]]);
  crashable.crashed = true; // the process dies: nothing it does any more reaches the disk
  await p1.client.close();
  const p2 = await scripted(9, { replayStore: new StorageReplayStore(crashDisk) });
  await p2.deliver(1n, 2n);
  assert.deepEqual(view(p2.got), [[1n, 'm1', true], [2n, 'm2', true]]);
  await p2.client.close();
  const p3 = await scripted(9, { replayStore: new StorageReplayStore(crashDisk) });
  await p3.deliver(3n);
  assert.deepEqual(view(p3.got), [[3n, 'm3', false]]);
  await p3.client.close();

  // anonymous, full handshake (vector 1): a client ID assigned now had nothing handed over before
  const f = await scripted(1, { replayStore: new StorageReplayStore(new Disk()) });
  await f.deliver(1n);
  assert.deepEqual(view(f.got), [[1n, 'm1', false]]);
  await f.client.close();

  // anonymous, resumed with a ticket (vector 12) but without saved state: marked
  const g = await scripted(12, { replayStore: new StorageReplayStore(new Disk()) });
  assert.equal(g.client.resumed, true);
  await g.deliver(1n);
  assert.deepEqual(view(g.got), [[1n, 'm1', true]]);
  await g.client.close();
});

test('DLV-004: an unacknowledged ID that became stale is dropped from unacked; its redelivery is acknowledged, not handed over', async () => {
  const disk = new Disk();
  const a = await scripted(1, { replayStore: new StorageReplayStore(disk), manualAck: true });
  await a.deliver(1n, 2n);
  await a.deliver(1025n); // 1025 − 1 = W: 1 is stale now, 2 is not
  assert.deepEqual(disk.unacked(), ['2', '1025']);
  await a.client.close();
  const b = await scripted(1, { replayStore: new StorageReplayStore(disk), manualAck: true });
  await b.deliver(1n, 2n);
  assert.deepEqual(view(b.got), [[2n, 'm2', true]]);
  assert.deepEqual(b.acks(), [[1n]]);
  assert.deepEqual(b.batches.at(-1), { ...b.batches.at(-1), delivered: 1, replayed: 0, stale: 1 });
  await b.client.close();
});

test('state saved before unacked existed (version 1) loads: its duplicates are acknowledged, new IDs handed over', async () => {
  const disk = new Disk();
  const a = await scripted(1, { replayStore: new StorageReplayStore(disk) });
  await a.deliver(1n, 2n);
  await a.client.close();
  // rewrite the window as version 1 wrote it
  for (const [k, v] of disk.m) {
    if (k.endsWith(':epochs')) continue;
    const j = JSON.parse(v) as SerializedReplayState;
    disk.m.set(k, JSON.stringify({ version: 1, window: j.window }));
  }
  const b = await scripted(1, { replayStore: new StorageReplayStore(disk) });
  await b.deliver(2n, 3n);
  assert.deepEqual(view(b.got), [[3n, 'm3', false]]);
  assert.deepEqual(b.acks(), [[2n, 3n]]);
  await b.client.close();
});

test('close() with a delivery half handed over: the rest is not handed over in this process now, and comes back marked on the next connection', async () => {
  const store = new StorageReplayStore(new Disk());
  let a!: Awaited<ReturnType<typeof scripted>>;
  const seen: bigint[] = [];
  a = await scripted(1, {
    replayStore: store,
    onMessage: async (m) => {
      seen.push(m.messageId);
      if (m.messageId === 2n) await a.client.close();
    },
  });
  await a.deliver(1n, 2n, 3n);
  assert.deepEqual(seen, [1n, 2n]);
  // 1 was acknowledged before the close_notify; 2 returned after close(): not acknowledged on a closed connection
  assert.deepEqual(a.acks(), [[1n]]);
  const b = await scripted(1, { replayStore: store });
  await b.deliver(2n, 3n);
  assert.deepEqual(view(b.got), [[3n, 'm3', true]]);
  assert.deepEqual(b.acks(), [[2n, 3n]]);
  await b.client.close();
});

test('close() resolves once the acknowledgements made before it are saved', async () => {
  const store = new LoggingStore();
  const a = await scripted(1, { replayStore: store, manualAck: true });
  await a.deliver(1n, 2n);
  a.got[0]!.ack();
  store.delays = [50];
  await a.client.close();
  const key = store.saves.at(-1)!.key;
  assert.deepEqual(JSON.parse(store.data.get(key)!).unacked, ['2']);
});

test('FileReplayStore (Node): one file per key, replaced whole; a new object over the directory is a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const fs1 = new FileReplayStore(state);
  assert.equal(await fs1.load('ab:cd:ef'), undefined); // nothing yet, not even the directory
  const a = await scripted(1, { replayStore: fs1, manualAck: true });
  await a.deliver(1n, 2n);
  a.got[1]!.ack();
  await a.client.close();
  assert.deepEqual(readdirSync(state).filter((f) => !f.endsWith('_epochs.json')).length, 1);
  assert.deepEqual(readdirSync(state).filter((f) => f.endsWith('.tmp')), []);
  const b = await scripted(1, { replayStore: new FileReplayStore(state), manualAck: true });
  await b.deliver(1n, 2n, 3n);
  assert.deepEqual(view(b.got), [[1n, 'm1', true], [3n, 'm3', false]]);
  await b.client.close();
  await assert.rejects(fs1.load('../x'), RangeError);
});
