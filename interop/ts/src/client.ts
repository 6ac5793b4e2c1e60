/**
 * SealFeedClient: a SealFeed v1 client over WebSocket (spec §1: one frame per binary message, subprotocol
 * `sealfeed.v1`). It runs the handshake (§6), then opens batch deliveries (§10), runs replay protection
 * (§11), hands each new message to the application once, and acknowledges (§12).
 *
 * Platform neutral: the WebSocket constructor is injected — browsers pass `WebSocket`, Node passes the `ws`
 * package's (see `@sealfeed/client/node`).
 */
import { type AlertName, isGoingAway, ORDERLY_CLOSE, SealFeedError } from './alert.js';
import { toHex } from './bytes.js';
import { LIMITS, MSG } from './constants.js';
import { ClientHandshake, type ClientConfig, type HandshakeResult, type Ticket } from './handshake.js';
import { encodeAck, MAX_ACK_IDS } from './messages.js';
import { openDelivery, type OpenedBatch } from './batch.js';
import { secureRandom, type RandomSource } from './random.js';
import { EpochState, epochKey, MemoryReplayStore, ReplayState, replayKey, type ReplayStore, type SerializedEpochs, type SerializedReplayState } from './replay.js';
import type { Session } from './session.js';
import { encodeMessage } from './wire.js';

/** The subprotocol of §1. */
export const SUBPROTOCOL = 'sealfeed.v1';

/** The part of the WebSocket API the client uses (browsers' WebSocket and Node's `ws` both fit). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** One message handed to the application, exactly once per message ID (REPLAY-012, DLV-004). */
export interface DeliveredMessage {
  messageId: bigint;
  payload: Uint8Array;
  /** the payload came from a broadcast blob (BATCH-004) */
  broadcast: boolean;
  /** the batch that carried it */
  batchSeq: bigint;
  signerId: Uint8Array;
  /**
   * DLV-005: the server's store was restored since this ID's window began, and a message with this ID may
   * have reached the application before (at least once, not exactly once, across a restore).
   */
  possibleRedelivery: boolean;
}

/** The outcome of the last batch delivery. */
export interface BatchStatus {
  /** true: signature, proofs, tag and decryption all verified (BATCH-011 … BATCH-016) */
  verified: boolean;
  /** the alert of the first failed check (BATCH-016); the connection is then closed (BATCH-015) */
  alert?: AlertName;
  batchSeq?: bigint;
  signerId?: Uint8Array;
  timestampMs?: bigint;
  /** messages handed to the application */
  delivered: number;
  /** duplicates and stale messages: acknowledged, not delivered (REPLAY-012) */
  replayed: number;
  stale: number;
}

export interface SealFeedClientOptions extends Omit<ClientConfig, 'trace'> {
  /** ws:// or wss:// URL of the push server */
  url: string;
  /** the WebSocket constructor: `WebSocket` in browsers, the `ws` package's in Node */
  WebSocket: WebSocketConstructor;
  /** where replay state is persisted (REPLAY-013); default in memory */
  replayStore?: ReplayStore;
  /** HS-051: default HandshakeTimeout (10 s) */
  handshakeTimeoutMs?: number;
  /**
   * POST-021: after this long without a frame from the server the client sends Heartbeat(1); 0 or absent:
   * HeartbeatInterval (5 s). Shorter values are allowed, but Heartbeat(1) is never sent more than once per
   * MinHeartbeatInterval (1 s), nor while an earlier one is unanswered.
   */
  heartbeatIntervalMs?: number;
  /**
   * POST-021: when no frame arrives within this long after a Heartbeat(1), the connection is dead: the
   * transport is closed without an Alert and `closed` resolves with a `timeout` error (`transportClosed`).
   * 0 or absent: HeartbeatTimeout (10 s).
   */
  heartbeatTimeoutMs?: number;
  /**
   * Called with each new message, in order; awaited before the message is acknowledged (DLV-003). Messages
   * are also available from the async iterator `messages()`. The replay state recording the message is
   * persisted before the call (REPLAY-013), so a message counts as handed over once this is called: if it
   * throws, the connection fails with `internal_error` and the message is not delivered again.
   */
  onMessage?: (m: DeliveredMessage) => void | Promise<void>;
  /** Called after every delivery, verified or not. */
  onBatch?: (s: BatchStatus) => void;
  /**
   * Called once the handshake has completed (after Welcome, before anything received later is processed);
   * awaited. `connect()` resolves after it.
   */
  onConnected?: (client: SealFeedClient) => void | Promise<void>;
  /** Called with a new resumption ticket (anonymous clients): persist it to keep the client ID (HS-040). */
  onTicket?: (t: Ticket) => void | Promise<void>;
  /** Called with the number of the accepted revocation list: persist it (CRED-013). */
  onRevocationNumber?: (n: bigint) => void | Promise<void>;
}

/** A minimal async queue behind `messages()`. */
class MessageQueue {
  private items: DeliveredMessage[] = [];
  private waiters: { resolve: (r: IteratorResult<DeliveredMessage>) => void; reject: (e: unknown) => void }[] = [];
  private ended = false;
  private error: unknown;

  push(m: DeliveredMessage): void {
    const w = this.waiters.shift();
    if (w) w.resolve({ value: m, done: false });
    else this.items.push(m);
  }
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    for (const w of this.waiters.splice(0)) {
      if (error !== undefined) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
  }
  next(): Promise<IteratorResult<DeliveredMessage>> {
    const m = this.items.shift();
    if (m) return Promise.resolve({ value: m, done: false });
    if (this.ended) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

/** A positive duration option, 0 or absent meaning `def`. */
function durationOption(name: string, v: number | undefined, def: number): number {
  if (v === undefined || v === 0) return def;
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a positive number of milliseconds`);
  return v;
}

/** A monotonic clock in milliseconds (browsers and Node). */
const now = (): number => globalThis.performance.now();

/**
 * POST-022: the delay before reconnecting after going_away, drawn uniformly from [0, GoingAwaySpread] (in
 * whole milliseconds). The client does not reconnect by itself: an application (or a reconnect loop) that
 * sees `client.goingAway` or `isGoingAway(err)` waits this long, then reconnects, to another endpoint first
 * when it knows several, and with its usual backoff if that attempt fails.
 */
export function goingAwayDelayMs(random: RandomSource = secureRandom): number {
  const b = random(4);
  const u = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  return Math.floor((u / 2 ** 32) * (LIMITS.GoingAwaySpreadMs + 1));
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((d) => d instanceof Uint8Array)) {
    // `ws` may deliver fragmented messages as a list of buffers
    const n = data.reduce((s, d: Uint8Array) => s + d.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const d of data as Uint8Array[]) {
      out.set(d, o);
      o += d.length;
    }
    return out;
  }
  return undefined;
}

export class SealFeedClient {
  private readonly opts: SealFeedClientOptions;
  private readonly ws: WebSocketLike;
  private readonly hs: ClientHandshake;
  private readonly store: ReplayStore;
  private readonly queue = new MessageQueue();
  private chain: Promise<void> = Promise.resolve();
  private hsResult: HandshakeResult | undefined;
  private session: Session | undefined;
  private replay: ReplayState | undefined;
  private epochs: EpochState | undefined;
  private storeKey = '';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private done = false;
  private endedByGoingAway = false;
  // POST-021 liveness: frames received (counted as they arrive from the transport, before processing), when
  // the last arrived, the outstanding Heartbeat(1) and when the last Heartbeat(1) went out
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private livenessTimer: ReturnType<typeof setTimeout> | undefined;
  private framesReceived = 0;
  private lastReceivedAt = 0;
  private heartbeatSent: { at: number; framesBefore: number } | undefined;
  private lastHeartbeatAt = -Infinity;
  private connectSettle!: { resolve: () => void; reject: (e: unknown) => void };
  private closedSettle!: (e: SealFeedError | undefined) => void;

  /**
   * Resolves when the connection ends: undefined after an orderly close (ours, the server's close_notify, or
   * its going_away: see `goingAway`), else the error that ended it.
   */
  readonly closed: Promise<SealFeedError | undefined>;
  /** The outcome of the last batch delivery. */
  lastBatch: BatchStatus | undefined;

  private readonly connected: Promise<void>;

  private constructor(opts: SealFeedClientOptions) {
    this.opts = opts;
    this.heartbeatIntervalMs = durationOption('heartbeatIntervalMs', opts.heartbeatIntervalMs, LIMITS.HeartbeatIntervalMs);
    this.heartbeatTimeoutMs = durationOption('heartbeatTimeoutMs', opts.heartbeatTimeoutMs, LIMITS.HeartbeatTimeoutMs);
    this.store = opts.replayStore ?? new MemoryReplayStore();
    this.hs = new ClientHandshake(opts);
    this.connected = new Promise<void>((resolve, reject) => (this.connectSettle = { resolve, reject }));
    this.connected.catch(() => undefined);
    this.closed = new Promise((resolve) => (this.closedSettle = resolve));
    this.ws = new opts.WebSocket(opts.url, SUBPROTOCOL);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (ev) => this.onTransportMessage(ev.data);
    this.ws.onclose = () => this.onTransportClose();
    this.ws.onerror = () => undefined; // followed by onclose
  }

  /**
   * Connects, runs the handshake and resolves once CONNECTED (after Welcome). Rejects with the SealFeedError
   * of the failed rule (the alert has then been sent to the server, ALERT-001).
   */
  static async connect(opts: SealFeedClientOptions): Promise<SealFeedClient> {
    const c = new SealFeedClient(opts);
    await c.connected;
    return c;
  }

  private get result(): HandshakeResult {
    if (!this.hsResult) throw new Error('not connected');
    return this.hsResult;
  }

  /** The client ID: ID-001 for key-identified clients, assigned or resumed for anonymous ones (ID-002). */
  get clientId(): Uint8Array {
    return this.result.clientId;
  }
  get clientIdHex(): string {
    return toHex(this.result.clientId);
  }
  /** The resumption ticket of this connection's Welcome, if the server issued one. */
  get ticket(): Ticket | undefined {
    return this.result.ticket;
  }
  get resumed(): boolean {
    return this.result.resumed;
  }
  /** KeyID of the authenticated server key: the batch signer (BATCH-010). */
  get serverKeyId(): Uint8Array {
    return this.result.serverKeyId;
  }
  get handshake(): HandshakeResult {
    return this.result;
  }
  /**
   * True once the server ended the connection with going_away (POST-022), before or after the handshake
   * completed: an orderly close, not a failure (`closed` resolves undefined, `messages()` ends without an
   * error; a pending `connect` rejects with an error for which `isGoingAway` is true). Keep the ticket and
   * replay state and reconnect after `goingAwayDelayMs()`, to another endpoint first when there are several.
   */
  get goingAway(): boolean {
    return this.endedByGoingAway;
  }

  /** Every new message, once, in order; ends when the connection ends (throwing its error if it failed). */
  messages(): AsyncIterableIterator<DeliveredMessage> {
    const q = this.queue;
    const it: AsyncIterableIterator<DeliveredMessage> = {
      next: () => q.next(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<DeliveredMessage> {
    return this.messages();
  }

  /** Asks the server to update its sending key too (POST-003); our sending key switches at once. */
  requestKeyUpdate(): void {
    if (!this.session || this.done) throw new Error('not connected');
    this.send(this.session.sendKeyUpdate(true));
  }

  /** Orderly close: close_notify (POST-006), then the transport. */
  close(): void {
    if (this.done) return;
    const frame = this.session ? this.session.alertFrame('close_notify') : this.hs.alertFrame('close_notify');
    if (frame) this.send(frame);
    this.finish(undefined);
  }

  // ------------------------------------------------------------------------------------------

  private onOpen(): void {
    if (this.done) return;
    if (this.ws.protocol !== SUBPROTOCOL) {
      this.fail(new SealFeedError('handshake_failure', `server did not select the ${SUBPROTOCOL} subprotocol`, '§1'), false);
      return;
    }
    // HS-051: the handshake must complete within HandshakeTimeout
    this.timer = setTimeout(
      () => this.enqueue(() => this.fail(new SealFeedError('timeout', 'handshake did not complete in time', 'HS-051'))),
      this.opts.handshakeTimeoutMs ?? LIMITS.HandshakeTimeoutMs,
    );
    try {
      this.send(this.hs.start());
    } catch (e) {
      this.fail(e);
    }
  }

  private onTransportMessage(data: unknown): void {
    // POST-021: any frame shows the server is alive, counted on arrival (the application may be slow)
    this.framesReceived++;
    this.lastReceivedAt = now();
    const frame = toBytes(data);
    this.enqueue(async () => {
      if (!frame) throw new SealFeedError('decode_error', 'non-binary WebSocket message', '§1');
      await this.onFrame(frame);
    });
  }

  private onTransportClose(): void {
    this.enqueue(() => {
      if (!this.done) {
        this.finish(new SealFeedError('internal_error', 'the transport closed without close_notify', 'POST-006', { transportClosed: true }));
      }
    });
  }

  /** Frames are processed strictly one after another. */
  private enqueue(fn: () => void | Promise<void>): void {
    this.chain = this.chain
      .then(async () => {
        if (this.done) return;
        await fn();
      })
      .catch((e) => this.fail(e));
  }

  private async onFrame(frame: Uint8Array): Promise<void> {
    if (!this.session) {
      for (const out of this.hs.receive(frame)) this.send(out);
      if (this.hs.state === 'CONNECTED') await this.onConnected();
      return;
    }
    // POST-009: every message of the record is checked, its deliveries opened in order (each against the
    // replay state the previous one leaves, BATCH-016), before anything is acted on: a record that fails
    // delivers nothing and changes no state (BATCH-014)
    let state = this.replay!;
    const opened: OpenedBatch[] = [];
    const input = this.session.receive(frame, (m) => {
      if (m.type !== MSG.BatchDelivery) return;
      const o = this.openBatch(m.body, state);
      opened.push(o);
      state = o.nextState;
    });
    // POST-003, POST-020: the answer to a KeyUpdate(1) or Heartbeat(1) goes out before any other frame
    for (const a of input.answers) this.send(a);
    if (opened.length === 0) return;
    // REPLAY-013: the new replay state is persisted before any message is handed out or acknowledged
    await this.store.save(this.storeKey, state.toJSON());
    this.replay = state;
    for (const o of opened) await this.onDelivery(o);
  }

  private async onConnected(): Promise<void> {
    const r = this.hs.result!;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.hsResult = r;
    this.session = r.session;
    this.lastReceivedAt = now(); // Welcome
    this.armLiveness();
    // REPLAY-011, REPLAY-020, REPLAY-021: one window per (client ID, store epoch) under the trust anchor; an
    // epoch left before is refused before anything of the session is kept; the batch sequence starts again
    // from 0 in every session (REPLAY-010), fromJSON does not restore one
    const epochs = EpochState.fromJSON((await this.store.load(epochKey(r.trustAnchor))) as SerializedEpochs | undefined);
    let oldTop = 0n;
    if (epochs.clientId !== undefined && epochs.epoch !== undefined) {
      const old = (await this.store.load(`${toHex(r.trustAnchor)}:${epochs.clientId}:${epochs.epoch}`)) as SerializedReplayState | undefined;
      if (old) oldTop = ReplayState.fromJSON(old).window.highest;
    }
    epochs.enter(r.clientId, r.welcome.storeEpoch, oldTop);
    await this.store.save(epochKey(r.trustAnchor), epochs.toJSON());
    this.epochs = epochs;
    this.storeKey = replayKey(r.trustAnchor, r.clientId, r.welcome.storeEpoch);
    const saved = (await this.store.load(this.storeKey)) as SerializedReplayState | undefined;
    this.replay = saved ? ReplayState.fromJSON(saved) : new ReplayState();
    if (r.revocationNumber !== undefined) await this.opts.onRevocationNumber?.(r.revocationNumber);
    if (r.ticket) await this.opts.onTicket?.(r.ticket);
    await this.opts.onConnected?.(this);
    this.connectSettle.resolve();
  }

  /** Opens one BatchDelivery against `state` (BATCH-016 order; `state` is left unchanged, BATCH-014). */
  private openBatch(body: Uint8Array, state: ReplayState): OpenedBatch {
    const r = this.result;
    try {
      return openDelivery(
        body,
        {
          signerKey: r.serverKey,
          envKey: r.envelope.envKey,
          envIv: r.envelope.envIv,
          tagKey: r.envelope.tagKey,
          aead: r.aead,
          // BATCH-005; POST-002 keeps it at most MaxPayload
          maxPayload: r.welcome.maxPayload,
        },
        state,
      );
    } catch (e) {
      this.lastBatch = { verified: false, alert: e instanceof SealFeedError ? e.alert : 'internal_error', delivered: 0, replayed: 0, stale: 0 };
      this.opts.onBatch?.(this.lastBatch);
      throw e; // BATCH-015: fatal on a live connection
    }
  }

  /**
   * One opened BatchDelivery, its replay state already persisted (REPLAY-013): hand the new messages to the
   * application, then acknowledge every message ID of the delivery, duplicates and stale ones included
   * (REPLAY-012, DLV-003).
   */
  private async onDelivery(opened: OpenedBatch): Promise<void> {
    const h = opened.header;
    const status: BatchStatus = { verified: true, batchSeq: h.batchSeq, signerId: h.signerId, timestampMs: h.timestampMs, delivered: 0, replayed: 0, stale: 0 };
    for (const m of opened.messages) {
      if (m.status === 'deliver') {
        const dm: DeliveredMessage = {
          messageId: m.messageId,
          payload: m.payload,
          broadcast: m.broadcast,
          batchSeq: h.batchSeq,
          signerId: h.signerId,
          possibleRedelivery: this.epochs!.possibleRedelivery(m.messageId),
        };
        await this.opts.onMessage?.(dm);
        this.queue.push(dm);
        status.delivered++;
      } else if (m.status === 'replayed_message') status.replayed++;
      else status.stale++;
    }
    this.lastBatch = status;
    this.opts.onBatch?.(status);
    // Ack: strictly ascending IDs (entries are), at most 4096 per Ack message, each Ack in a record of its
    // own: a server reads at most MaxClientRecord (65 536) bytes of inner plaintext per record (LIM-003),
    // and one full Ack is 32 774.
    const ids = opened.messages.map((m) => m.messageId);
    for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
      this.send(this.session!.send([encodeMessage(MSG.Ack, encodeAck(ids.slice(i, i + MAX_ACK_IDS)))]));
    }
  }

  /**
   * POST-021: the next liveness deadline. With a Heartbeat(1) outstanding (no frame since it went out) it is
   * that Heartbeat's timeout; otherwise the next Heartbeat(1), HeartbeatInterval after the last frame but not
   * sooner than MinHeartbeatInterval after the previous Heartbeat(1). The timer is not reset per frame: it
   * fires at the deadline known when it was set and re-arms if frames have moved it.
   */
  private livenessDeadline(): number {
    const hb = this.heartbeatSent;
    if (hb && this.framesReceived === hb.framesBefore) return hb.at + this.heartbeatTimeoutMs;
    return Math.max(this.lastReceivedAt + this.heartbeatIntervalMs, this.lastHeartbeatAt + LIMITS.MinHeartbeatIntervalMs);
  }

  private armLiveness(): void {
    if (this.done) return;
    this.livenessTimer = setTimeout(() => this.onLivenessTimer(), Math.max(0, this.livenessDeadline() - now()));
  }

  private onLivenessTimer(): void {
    this.livenessTimer = undefined;
    if (this.done || !this.session) return;
    const t = now();
    if (t >= this.livenessDeadline()) {
      const hb = this.heartbeatSent;
      if (hb && this.framesReceived === hb.framesBefore) {
        // POST-021: dead; close the transport without an Alert (the server would not read it)
        this.finish(new SealFeedError('timeout', 'no frame from the server within HeartbeatTimeout of a Heartbeat', 'POST-021', { transportClosed: true }));
        return;
      }
      try {
        this.send(this.session.sendHeartbeat(true));
      } catch (e) {
        this.fail(e);
        return;
      }
      this.heartbeatSent = { at: t, framesBefore: this.framesReceived };
      this.lastHeartbeatAt = t;
    }
    this.armLiveness();
  }

  private send(frame: Uint8Array): void {
    try {
      this.ws.send(frame);
    } catch {
      // the transport reports its own failure through onclose
    }
  }

  /** A failure: send the alert (unless it came from the peer or is local only), then close (POST-006). */
  private fail(e: unknown, sendAlert = true): void {
    if (this.done) return;
    const err = e instanceof SealFeedError ? e : new SealFeedError('internal_error', e instanceof Error ? e.message : String(e));
    if (sendAlert && !err.fromPeer) {
      let frame: Uint8Array | undefined;
      try {
        frame = this.session ? this.session.alertFrame(err.alert) : this.hs.alertFrame(err);
      } catch {
        frame = undefined;
      }
      if (frame) this.send(frame);
    }
    // POST-006, POST-022: the server's close_notify or going_away is an orderly close, not an error
    if (err.fromPeer && ORDERLY_CLOSE.has(err.alert)) this.finish(undefined, err);
    else this.finish(err);
  }

  /**
   * Ends the connection: `err` undefined after an orderly close (`peerClose`: the peer's close_notify or
   * going_away).
   */
  private finish(err: SealFeedError | undefined, peerClose?: SealFeedError): void {
    if (this.done) return;
    this.done = true;
    this.endedByGoingAway = isGoingAway(peerClose);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.livenessTimer !== undefined) clearTimeout(this.livenessTimer);
    this.session?.destroy();
    try {
      this.ws.close(1000);
    } catch {
      // already closed
    }
    this.connectSettle.reject(err ?? peerClose ?? new SealFeedError('close_notify', 'closed before the handshake completed'));
    this.queue.end(err);
    this.closedSettle(err);
  }
}
