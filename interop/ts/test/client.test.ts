/**
 * SealFeedClient end to end: a scripted server (the handshake frames of a vector, then batches built by the
 * test builder under the traced session keys) over an in-memory WebSocket, and over a real `ws` server on
 * the loopback interface through the Node entry point.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import {
  decodeAck,
  encodeAlert,
  encodeFrame,
  encodeHeartbeat,
  encodeKeyUpdate,
  encodeMessage,
  FRAME_PLAINTEXT,
  goingAwayDelayMs,
  isGoingAway,
  MemoryReplayStore,
  MSG,
  SealFeedClient,
  SealFeedError,
  sequenceRandom,
  toHex,
  utf8,
  type DeliveredMessage,
  type ReplayStore,
  type SealFeedClientOptions,
} from '../src/index.js';
import { connect } from '../src/node.js';
import { buildBatch } from './helpers/builder.js';
import { FakeSocket, fakeSocket } from './helpers/fakesocket.js';
import { handshakeVector, ScriptedServer, type HandshakeVector } from './helpers/scripted.js';
import { h } from './vectors/harness.js';

function env(v: HandshakeVector) {
  return { envKey: v.secret('env_key'), envIv: v.secret('env_iv'), tagKey: v.secret('tag_key') };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
};

/** Connects a client to a scripted server for handshake vector `tcId`. */
async function scriptedClient(
  tcId: number,
  opts: { store?: ReplayStore; onMessage?: (m: DeliveredMessage) => void | Promise<void> } & Pick<SealFeedClientOptions, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs'> = {},
) {
  const v = handshakeVector(tcId);
  let server!: ScriptedServer;
  let sock!: FakeSocket;
  const WS = fakeSocket((s) => {
    sock = s;
    server = new ScriptedServer(v, (f) => s.deliver(f));
    s.toServer = (f) => server.onClientFrame(f);
  });
  const client = await SealFeedClient.connect({
    ...v.config,
    url: 'wss://push.example/feed',
    WebSocket: WS,
    replayStore: opts.store,
    onMessage: opts.onMessage,
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    heartbeatTimeoutMs: opts.heartbeatTimeoutMs,
  });
  return { v, client, server, sock };
}

test('connects, delivers each message once, acknowledges, answers KeyUpdate and refuses a replayed batch', async () => {
  const store = new MemoryReplayStore();
  const onMessage = () => undefined; // auto mode: acknowledged when the handler returns
  const { v, client, server, sock } = await scriptedClient(1, { store, onMessage });
  assert.equal(client.clientIdHex, v.t.clientId);
  assert.equal(toHex(client.ticket!.ticket), v.t.ticket);
  const signerSeed = h(v.t.server.keySeed);
  const other = { envKey: new Uint8Array(32).fill(1), envIv: new Uint8Array(12).fill(2), tagKey: new Uint8Array(32).fill(3) };
  const it = client.messages();

  // batch 1: messages 1 and 2 for us, something for another client
  const b1 = buildBatch({
    signerSeed,
    batchSeq: 1n,
    recipients: [
      { env: other, aead: 1, entries: [{ type: 1, messageId: 9n, payload: utf8('not ours') }] },
      { env: env(v), aead: 1, entries: [{ type: 1, messageId: 1n, payload: utf8('hello') }, { type: 1, messageId: 2n, payload: utf8('world') }] },
    ],
  });
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b1.delivery(1))]));
  const m1 = (await it.next()).value as DeliveredMessage;
  const m2 = (await it.next()).value as DeliveredMessage;
  assert.deepEqual([m1.messageId, new TextDecoder().decode(m1.payload), m1.batchSeq, m1.broadcast], [1n, 'hello', 1n, false]);
  assert.equal(m2.messageId, 2n);
  await until(() => server.received.length === 1);
  const ack1 = server.clientReceiver.open(server.received[0]!);
  assert.deepEqual(decodeAck(ack1[0]!.body), [1n, 2n]);
  assert.deepEqual(client.lastBatch, { verified: true, batchSeq: 1n, signerId: b1.header.signerId, timestampMs: b1.header.timestampMs, delivered: 2, replayed: 0, stale: 0 });

  // KeyUpdate(1): the client answers KeyUpdate(0) and both directions switch keys (POST-003)
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.KeyUpdate, encodeKeyUpdate(true))]));
  server.serverSender.update();
  await until(() => server.received.length === 2);
  const ku = server.clientReceiver.open(server.received[1]!);
  assert.deepEqual([ku[0]!.type, ku[0]!.body[0]], [MSG.KeyUpdate, 0]);
  server.clientReceiver.update();

  // batch 2 under the new keys: 2 is a duplicate (acknowledged, not delivered), 3 is new
  const b2 = buildBatch({ signerSeed, batchSeq: 2n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 2n, payload: utf8('world') }, { type: 1, messageId: 3n, payload: utf8('!') }] }] });
  const f2 = server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b2.delivery(0))]);
  sock.deliver(f2);
  const m3 = (await it.next()).value as DeliveredMessage;
  assert.equal(m3.messageId, 3n);
  await until(() => server.received.length === 3);
  assert.deepEqual(decodeAck(server.clientReceiver.open(server.received[2]!)[0]!.body), [2n, 3n]);
  assert.equal(client.lastBatch!.replayed, 1);

  // the same batch again, freshly protected: replayed_batch (REPLAY-010), sent as an alert, connection closed
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b2.delivery(0))]));
  const err = await client.closed;
  assert.equal(err?.alert, 'replayed_batch');
  assert.deepEqual(client.lastBatch, { verified: false, alert: 'replayed_batch', delivered: 0, replayed: 0, stale: 0 });
  await until(() => server.received.length === 4);
  const alert = server.clientReceiver.open(server.received[3]!);
  assert.deepEqual([alert[0]!.type, alert[0]!.body[0]], [MSG.Alert, 61]);
  await assert.rejects(it.next(), (e: unknown) => e instanceof SealFeedError && e.alert === 'replayed_batch');
  assert.equal(sock.closedByClient, true);

  // A new connection (same client ID, same store): the batch sequence starts again from 0 (REPLAY-010), so
  // batch_seq 1, below the previous session's 2, is accepted; the message window persisted (REPLAY-013), so
  // message 3 is a duplicate and only 4 is delivered
  const again = await scriptedClient(1, { store, onMessage });
  const b3 = buildBatch({ signerSeed, batchSeq: 1n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 3n, payload: utf8('!') }, { type: 1, messageId: 4n, payload: utf8('next session') }] }] });
  again.sock.deliver(again.server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b3.delivery(0))]));
  const m4 = (await again.client.messages().next()).value as DeliveredMessage;
  assert.deepEqual([m4.messageId, m4.batchSeq], [4n, 1n]);
  assert.equal(again.client.lastBatch!.replayed, 1);
  // and within that session, batch_seq 1 again is replayed_batch
  again.sock.deliver(again.server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b3.delivery(0))]));
  assert.equal((await again.client.closed)?.alert, 'replayed_batch');
});

test('LIM-003: a delivery of 9000 messages is acknowledged in three records, each within MaxClientRecord', async () => {
  const { v, client, server, sock } = await scriptedClient(1, { onMessage: () => undefined });
  const entries = Array.from({ length: 9000 }, (_, i) => ({ type: 1 as const, messageId: BigInt(i + 1), payload: utf8('x') }));
  const b = buildBatch({ signerSeed: h(v.t.server.keySeed), batchSeq: 1n, recipients: [{ env: env(v), aead: 1, entries }] });
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b.delivery(0))]));
  await until(() => server.received.length === 3, 10000);
  const acked: bigint[] = [];
  for (const f of server.received) {
    assert.ok(f.length - 4 - 16 <= 65536, `record of ${f.length} bytes above MaxClientRecord`);
    const msgs = server.clientReceiver.open(f);
    assert.equal(msgs.length, 1);
    acked.push(...decodeAck(msgs[0]!.body));
  }
  assert.deepEqual(acked, entries.map((e) => e.messageId));
  client.close();
});

test('DLV-003: the Ack goes out only after the replay state is saved and the message handed over', async () => {
  const log: string[] = [];
  const inner = new MemoryReplayStore();
  const store: ReplayStore = {
    load: (k) => inner.load(k),
    save: async (k, s) => {
      await new Promise((r) => setTimeout(r, 20));
      await inner.save(k, s);
      if (!k.endsWith(':epochs')) log.push('saved'); // the epoch state is saved at connect (REPLAY-020)
    },
  };
  const { v, server, sock } = await scriptedClient(1, {
    store,
    onMessage: async () => {
      await new Promise((r) => setTimeout(r, 20));
      log.push('handed');
    },
  });
  const origin = server.onClientFrame.bind(server);
  server.onClientFrame = (f) => {
    log.push('ack');
    origin(f);
  };
  const b = buildBatch({ signerSeed: h(v.t.server.keySeed), batchSeq: 5n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 7n, payload: utf8('x') }] }] });
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b.delivery(0))]));
  await until(() => log.includes('ack'));
  assert.deepEqual(log, ['saved', 'handed', 'ack']);
});

test('POST-009: a record whose second delivery fails delivers nothing, acknowledges nothing and saves no state', async () => {
  const saved: string[] = [];
  const inner = new MemoryReplayStore();
  const store: ReplayStore = { load: (k) => inner.load(k), save: async (k, st) => void (k.endsWith(':epochs') || saved.push(k), await inner.save(k, st)) };
  const got: DeliveredMessage[] = [];
  const { v, client, server, sock } = await scriptedClient(1, { store, onMessage: (m) => void got.push(m) });
  const signerSeed = h(v.t.server.keySeed);
  const good = buildBatch({ signerSeed, batchSeq: 1n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 1n, payload: utf8('first') }] }] });
  // the second delivery repeats batch_seq 1: replayed_batch only against the state the first one leaves
  const again = buildBatch({ signerSeed, batchSeq: 1n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 2n, payload: utf8('second') }] }] });
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, good.delivery(0)), encodeMessage(MSG.BatchDelivery, again.delivery(0))]));
  assert.equal((await client.closed)?.alert, 'replayed_batch');
  assert.deepEqual(got, []);
  assert.deepEqual(saved, []);
  await until(() => server.received.length === 1);
  const alert = server.clientReceiver.open(server.received[0]!); // the alert, no Ack before it
  assert.deepEqual([alert[0]!.type, alert[0]!.body[0]], [MSG.Alert, 61]);
});

test('POST-009: two valid deliveries in one record are delivered in order, the state saved once before either', async () => {
  const log: string[] = [];
  const inner = new MemoryReplayStore();
  const store: ReplayStore = { load: (k) => inner.load(k), save: async (k, st) => void (k.endsWith(':epochs') || log.push('saved'), await inner.save(k, st)) };
  const { v, server, sock } = await scriptedClient(1, { store, onMessage: (m) => void log.push(`message ${m.messageId}`) });
  const signerSeed = h(v.t.server.keySeed);
  const b1 = buildBatch({ signerSeed, batchSeq: 1n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 1n, payload: utf8('first') }] }] });
  const b2 = buildBatch({ signerSeed, batchSeq: 2n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 1n, payload: utf8('again') }, { type: 1, messageId: 2n, payload: utf8('second') }] }] });
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b1.delivery(0)), encodeMessage(MSG.BatchDelivery, b2.delivery(0))]));
  await until(() => server.received.length === 2);
  assert.deepEqual(log, ['saved', 'message 1', 'message 2']);
  // every ID acknowledged once: the duplicate 1 of the second delivery was handed over by the first, in this
  // record, and is acknowledged when its handler returns, not again as a duplicate
  assert.deepEqual(decodeAck(server.clientReceiver.open(server.received[0]!)[0]!.body), [1n]);
  assert.deepEqual(decodeAck(server.clientReceiver.open(server.received[1]!)[0]!.body), [2n]);
});

test('onConnected runs before the first message; a transport that ends without an alert is transportClosed', async () => {
  const v = handshakeVector(1);
  const log: string[] = [];
  let server!: ScriptedServer;
  let sock!: FakeSocket;
  const WS = fakeSocket((s) => {
    sock = s;
    server = new ScriptedServer(v, (f) => s.deliver(f));
    s.toServer = (f) => {
      server.onClientFrame(f);
      if (server.handshakeDone && log.length === 0) {
        // the first batch right behind Welcome, in the same turn
        const b = buildBatch({ signerSeed: h(v.t.server.keySeed), batchSeq: 1n, recipients: [{ env: env(v), aead: 1, entries: [{ type: 1, messageId: 1n, payload: utf8('x') }] }] });
        s.deliver(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b.delivery(0))]));
      }
    };
  });
  const client = await SealFeedClient.connect({
    ...v.config,
    url: 'wss://x',
    WebSocket: WS,
    onConnected: (c) => void log.push(`connected ${c.clientIdHex === v.t.clientId}`),
    onMessage: (m) => void log.push(`message ${m.messageId}`),
  });
  await until(() => log.length === 2);
  assert.deepEqual(log, ['connected true', 'message 1']);
  sock.readyState = 3;
  sock.onclose?.({ code: 1006 });
  const err = await client.closed;
  assert.ok(err instanceof SealFeedError);
  assert.deepEqual([err.alert, err.transportClosed, err.fromPeer], ['internal_error', true, false]);
});

test('a handshake failure rejects connect with the alert and sends it (ALERT-001)', async () => {
  const v = handshakeVector(36); // the client pins another key's fingerprint
  let sock!: FakeSocket;
  const WS = fakeSocket((s) => {
    sock = s;
    const server = new ScriptedServer(v, (f) => s.deliver(f));
    s.toServer = (f) => {
      if (!server.handshakeDone) server.onClientFrame(f);
    };
  });
  await assert.rejects(SealFeedClient.connect({ ...v.config, url: 'wss://x', WebSocket: WS }), (e: unknown) => e instanceof SealFeedError && e.alert === 'unknown_server_key');
  assert.equal(sock.sent.length, 2); // ClientHello, then the alert
  assert.equal(sock.sent[1]![0], 0x17); // protected under the client handshake key
});

test('HS-051: a silent server makes the handshake time out', async () => {
  const WS = fakeSocket(() => undefined);
  const v = handshakeVector(1);
  await assert.rejects(SealFeedClient.connect({ ...v.config, url: 'wss://x', WebSocket: WS, handshakeTimeoutMs: 30 }), (e: unknown) => e instanceof SealFeedError && e.alert === 'timeout');
});

test('a server that does not select the sealfeed.v1 subprotocol is refused (§1)', async () => {
  const WS = fakeSocket((s) => (s.protocol = ''));
  await assert.rejects(SealFeedClient.connect({ ...handshakeVector(1).config, url: 'wss://x', WebSocket: WS }), SealFeedError);
});

test('Node entry: a real ws server on the loopback interface, broadcast delivery and close_notify', async () => {
  const v = handshakeVector(1);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('sealfeed.v1') ? 'sealfeed.v1' : false) });
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  let server!: ScriptedServer;
  let serverSocket!: import('ws').WebSocket;
  const received: Uint8Array[] = [];
  wss.on('connection', (ws) => {
    serverSocket = ws;
    server = new ScriptedServer(v, (f) => ws.send(f));
    ws.on('message', (data: Buffer) => {
      const f = new Uint8Array(data);
      if (server.handshakeDone) received.push(f);
      else server.onClientFrame(f);
    });
  });
  try {
    const got: DeliveredMessage[] = [];
    const client = await connect({ ...v.config, url: `ws://127.0.0.1:${port}`, onMessage: (m) => void got.push(m) });
    assert.equal(client.clientIdHex, v.t.clientId);
    const dataKey = new Uint8Array(32).fill(7);
    const b = buildBatch({
      signerSeed: h(v.t.server.keySeed),
      batchSeq: 3n,
      blobs: [{ payload: utf8('broadcast'), dataKey }],
      recipients: [{ env: env(v), aead: 1, entries: [{ type: 2, messageId: 11n, blobIndex: 0, dataKey }] }],
    });
    serverSocket.send(server.serverSender.seal([encodeMessage(MSG.BatchDelivery, b.delivery(0, [0]))]));
    await until(() => received.length === 1);
    assert.deepEqual(
      got.map((m) => [m.messageId, new TextDecoder().decode(m.payload), m.broadcast]),
      [[11n, 'broadcast', true]],
    );
    assert.deepEqual(decodeAck(server.clientReceiver.open(received[0]!)[0]!.body), [11n]);
    client.close();
    await until(() => received.length === 2);
    const closeNotify = server.clientReceiver.open(received[1]!);
    assert.deepEqual([closeNotify[0]!.type, closeNotify[0]!.body[0]], [MSG.Alert, 0]);
    assert.equal(await client.closed, undefined);
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
});

/** The messages of each frame the scripted server received after the handshake, as [type, ...body]. */
function openedByServer(server: ScriptedServer, from = 0): number[][][] {
  return server.received.slice(from).map((f) => server.clientReceiver.open(f).map((m) => [m.type, ...m.body]));
}

test('POST-021: a server silent after Welcome gets one Heartbeat(1); no frame within the timeout closes without an alert', { timeout: 20000 }, async (t) => {
  const log: string[] = [];
  const at: Record<string, number> = {};
  const { client, server, sock } = await scriptedClient(1, { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1300 });
  t.after(() => client.close());
  const origin = server.onClientFrame.bind(server);
  server.onClientFrame = (f) => {
    origin(f);
    log.push('frame');
    at.frame ??= performance.now();
  };
  const err = await client.closed;
  at.closed = performance.now();
  log.push('closed');
  // one Heartbeat(1) only: the timeout (1.3 s) outlasts MinHeartbeatInterval, but the first is unanswered
  assert.deepEqual(log, ['frame', 'closed']);
  assert.deepEqual(openedByServer(server), [[[MSG.Heartbeat, 1]]]);
  assert.ok(err instanceof SealFeedError);
  assert.deepEqual([err.alert, err.requirement, err.transportClosed, err.fromPeer], ['timeout', 'POST-021', true, false]);
  assert.equal(client.goingAway, false);
  assert.equal(sock.closedByClient, true);
  // the transport was closed no sooner than HeartbeatTimeout after the Heartbeat (timers never fire early by
  // more than a rounding step)
  assert.ok(at.closed! - at.frame! >= 1250, `closed ${at.closed! - at.frame!} ms after the Heartbeat`);
});

test('POST-021: a server that answers keeps the connection; Heartbeat(1) at most once per MinHeartbeatInterval; the timer stops on close', { timeout: 20000 }, async (t) => {
  const { client, server, sock } = await scriptedClient(1, { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 200 });
  t.after(() => client.close()); // a failed assertion must not leave the heartbeat timer running
  let ended = false;
  void client.closed.then(() => (ended = true));
  const beats: number[] = [];
  const opened: number[][][] = [];
  const origin = server.onClientFrame.bind(server);
  server.onClientFrame = (f) => {
    origin(f);
    const msgs = server.clientReceiver.open(f);
    opened.push(msgs.map((m) => [m.type, ...m.body]));
    if (msgs[0]?.type === MSG.Heartbeat && msgs[0].body[0] === 1) {
      beats.push(performance.now());
      sock.deliver(server.serverSender.seal([encodeMessage(MSG.Heartbeat, encodeHeartbeat(false))]));
    }
  };
  await until(() => beats.length === 2, 5000);
  // answered, so the 200 ms timeout never ended the connection while the client waited for the next one
  assert.equal(ended, false);
  assert.ok(beats[1]! - beats[0]! >= 950, `Heartbeats ${beats[1]! - beats[0]!} ms apart`);
  // the server's Heartbeat(1) is answered with Heartbeat(0) (POST-020)
  const n = server.received.length;
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.Heartbeat, encodeHeartbeat(true))]));
  await until(() => server.received.length === n + 1);
  client.close();
  assert.equal(await client.closed, undefined);
  const sent = sock.sent.length;
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(sock.sent.length, sent);
  assert.deepEqual(opened, [[[MSG.Heartbeat, 1]], [[MSG.Heartbeat, 1]], [[MSG.Heartbeat, 0]], [[MSG.Alert, 0]]]);
});

test('POST-022: going_away after the handshake ends the connection without an error and is reported as going away', async () => {
  const { client, server, sock } = await scriptedClient(1);
  const it = client.messages();
  sock.deliver(server.serverSender.seal([encodeMessage(MSG.Alert, encodeAlert(1))]));
  assert.equal(await client.closed, undefined);
  assert.equal(client.goingAway, true);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.equal(sock.closedByClient, true);
  assert.deepEqual(server.received, []); // the alert is not answered (POST-006)
});

test('POST-022: going_away instead of ServerHello rejects connect with an error isGoingAway recognises; no alert is sent', async () => {
  const v = handshakeVector(1);
  let sock!: FakeSocket;
  const WS = fakeSocket((s) => {
    sock = s;
    s.toServer = () => s.deliver(encodeFrame({ type: FRAME_PLAINTEXT, fragment: encodeMessage(MSG.Alert, encodeAlert(1)) }));
  });
  const err = await SealFeedClient.connect({ ...v.config, url: 'wss://x', WebSocket: WS }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof SealFeedError);
  assert.deepEqual([err.alert, err.code, err.fromPeer, isGoingAway(err)], ['going_away', 1, true, true]);
  assert.equal(sock.sent.length, 1); // the ClientHello only
  assert.equal(isGoingAway(new SealFeedError('going_away', 'ours')), false);
  assert.equal(isGoingAway(new SealFeedError('close_notify', 'peer', undefined, { fromPeer: true })), false);
});

test('POST-022: the reconnect delay after going_away is uniform in [0, GoingAwaySpread]', () => {
  assert.equal(goingAwayDelayMs(sequenceRandom([Uint8Array.of(0, 0, 0, 0)])), 0);
  assert.equal(goingAwayDelayMs(sequenceRandom([Uint8Array.of(0xff, 0xff, 0xff, 0xff)])), 1000);
  assert.equal(goingAwayDelayMs(sequenceRandom([Uint8Array.of(0x80, 0, 0, 0)])), 500);
  for (let i = 0; i < 100; i++) {
    const d = goingAwayDelayMs();
    assert.ok(Number.isInteger(d) && d >= 0 && d <= 1000, String(d));
  }
});

test('POST-021: negative or non-finite heartbeat options are refused', async () => {
  const v = handshakeVector(1);
  const WS = fakeSocket(() => undefined);
  await assert.rejects(SealFeedClient.connect({ ...v.config, url: 'wss://x', WebSocket: WS, heartbeatTimeoutMs: -1 }), RangeError);
  await assert.rejects(SealFeedClient.connect({ ...v.config, url: 'wss://x', WebSocket: WS, heartbeatIntervalMs: Number.NaN }), RangeError);
});
