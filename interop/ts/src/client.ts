/**
 * SealFeedClient: a SealFeed v1 client over WebSocket (spec §1: one frame per binary message, subprotocol
 * `sealfeed.v1`). It runs the handshake (§6), then opens batch deliveries (§10), runs replay protection
 * (§11), hands each message to the application, and acknowledges it once the application has taken it (§12,
 * see delivery.ts for the guarantee).
 *
 * Platform neutral: the WebSocket constructor is injected — browsers pass `WebSocket`, Node passes the `ws`
 * package's (see `@sealfeed/client/node`).
 */
import { type AlertName, fail, isGoingAway, ORDERLY_CLOSE, SealFeedError } from './alert.js';
import { bytesEqual, fromHex, toHex } from './bytes.js';
import { LIMITS, MSG } from './constants.js';
import { ClientHandshake, type ClientConfig, type HandshakeResult, type Ticket } from './handshake.js';
import { keyId } from './keyschedule.js';
import { encodeAck, MAX_ACK_IDS } from './messages.js';
import { openDelivery, type OpenedBatch } from './batch.js';
import { secureRandom, type RandomSource } from './random.js';
import { openWindow, planRecord, type Disposition, type WindowRecord } from './delivery.js';
import {
  BatchSequence,
  EpochState,
  epochKey,
  MemoryReplayStore,
  pinsKey,
  ReplayState,
  replayKey,
  type ReplayStore,
  type SerializedEpochs,
  type SerializedPins,
  type SerializedReplayState,
} from './replay.js';
import type { Session } from './session.js';
import { decodeToken } from './token.js';
import { encodeMessage, Reader } from './wire.js';

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

/**
 * One message handed to the application: at least once per message ID; twice only across a restart of the
 * process (a new replay store object), and then marked `possibleRedelivery`.
 */
export interface DeliveredMessage {
  messageId: bigint;
  payload: Uint8Array;
  /** the payload came from a broadcast blob (BATCH-004) */
  broadcast: boolean;
  /** the batch that carried it */
  batchSeq: bigint;
  signerId: Uint8Array;
  /**
   * The message may have reached the application before: it was handed over before a restart and not
   * acknowledged; or the server's store was restored since this ID's window began (DLV-005); or it arrived in
   * the first session of a window this client ID started without any saved state (a key-identified or resumed
   * client whose state was lost).
   */
  possibleRedelivery: boolean;
  /**
   * With the `sealing` option: `payload` was opened from an envelope sealed to this client and signed by the
   * trusted publisher key whose KeyID is `sealedBy`, at the time `sealedAt` (Unix seconds) it states
   * (SEAL-032). A payload not marked sealed is authenticated to the server only: an application that expects
   * sealed payloads rejects it.
   */
  sealed: boolean;
  sealedBy?: Uint8Array;
  sealedAt?: bigint;
  /**
   * With the `sealing` option: why a payload that starts with the envelope magic did not open (a `SealedError`
   * of `@sealfeed/client/sealed`, its `code` from spec/sealed.md §7); `payload` is then the envelope as received,
   * and the message is acknowledged by the usual rules (SEAL-031).
   */
  sealError?: unknown;
  /**
   * The application has taken the message: it leaves the saved `unacked` set and the Ack goes out on the
   * connection of its window that is up now (after a reconnect too; with none up, the server redelivers it
   * and the client acknowledges it without handing it over). Idempotent. With `manualAck`, and for messages
   * taken from `messages()` without `onMessage`, this is the only acknowledgement.
   */
  ack(): void;
}

/**
 * What the `sealing` option needs: `SealedOpener` of `@sealfeed/client/sealed` fits (the client's sealing keys and
 * the publisher keys it trusts, SEAL-020 … SEAL-022). A structural type, so that this module, and the browser
 * bundle of the main entry, do not import the HPKE code unless the application does.
 */
export interface PayloadOpener {
  /** Opens one envelope, or throws why it does not open (SEAL-020: nothing decrypted unless every check passed). */
  open(envelope: Uint8Array): Promise<{ payload: Uint8Array; publisherKeyId: Uint8Array; sealedAt: bigint }>;
}

/** SEAL-030: a payload that starts with the envelope magic `SFSE` is treated as an envelope. */
function startsWithEnvelopeMagic(p: Uint8Array): boolean {
  return p.length >= 4 && p[0] === 0x53 && p[1] === 0x46 && p[2] === 0x53 && p[3] === 0x45;
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
  /** messages handed to the application, again after a restart included */
  delivered: number;
  /**
   * duplicates not handed over: acknowledged unless the application holds them unacknowledged (REPLAY-012)
   */
  replayed: number;
  stale: number;
}

export interface SealFeedClientOptions extends Omit<ClientConfig, 'trace'> {
  /** ws:// or wss:// URL of the push server */
  url: string;
  /** the WebSocket constructor: `WebSocket` in browsers, the `ws` package's in Node */
  WebSocket: WebSocketConstructor;
  /**
   * where replay state is persisted (REPLAY-013), and a pinned client's pin set (ID-010, ID-012); default in
   * memory
   */
  replayStore?: ReplayStore;
  /** HS-051: default HandshakeTimeout (10 s) */
  handshakeTimeoutMs?: number;
  /**
   * POST-021: after this long without a frame from the server the client sends Heartbeat(1); 0 or absent:
   * HeartbeatInterval (9 s). Shorter values are allowed, but Heartbeat(1) is never sent more than once per
   * MinHeartbeatInterval (1 s), nor while an earlier one is unanswered.
   */
  heartbeatIntervalMs?: number;
  /**
   * POST-021: when no frame arrives within this long after a Heartbeat(1), the connection is dead: the
   * transport is closed without an Alert and `closed` resolves with a `timeout` error (`transportClosed`).
   * 0 or absent: HeartbeatTimeout (6 s).
   */
  heartbeatTimeoutMs?: number;
  /**
   * Called with each message, in order; awaited. The replay state recording the message as handed over and
   * unacknowledged is persisted before the call (REPLAY-013). Unless `manualAck`, the message is acknowledged
   * when this returns or its promise resolves (DLV-003); if it throws or rejects, the message stays
   * unacknowledged (`onHandlerError` is told; `m.ack()` may still acknowledge it later) and is handed over
   * again after a restart. Messages are also available from the async iterator `messages()`.
   */
  onMessage?: (m: DeliveredMessage) => void | Promise<void>;
  /**
   * Messages are acknowledged only by `m.ack()`, not when `onMessage` returns. Without `onMessage` this is
   * always so: taking a message from `messages()` does not acknowledge it.
   */
  manualAck?: boolean;
  /** Called when `onMessage` throws or rejects; default: a warning on the console naming the message ID. */
  onHandlerError?: (error: unknown, m: DeliveredMessage) => void;
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
  /**
   * Where access tokens (§6.8) come from, instead of `token`: typically a call to the application's back end,
   * which issues a token bound to `identitySeed` (needed) for the logged-in user. Called before the handshake,
   * whose flight presents the token (HS-060), and again to refresh it on the open connection (POST-030) at a
   * random point between two thirds and three quarters of each token's validity period (TOK-012; the spread
   * keeps clients that connected together from refreshing together), never sooner than `TOKEN_RETRY_MS` after the
   * previous refresh. A failed call or refresh is tried again after `TOKEN_RETRY_MS`; a token the server refuses
   * closes the connection with its alert (POST-031). ReconnectingClient calls it for every connection (TOK-012).
   */
  tokenSource?: () => Uint8Array | Promise<Uint8Array>;
  /** Called after each refresh by `tokenSource`: the new token's ID and not_after, or why it failed. */
  onTokenRefresh?: (r: TokenRefreshEvent) => void;
  /**
   * End-to-end sealed payloads (spec/sealed.md): a `SealedOpener` from `@sealfeed/client/sealed`. A payload that
   * starts with the envelope magic is opened before it is handed over, and the message says whether it was sealed
   * and by whom (`sealed`, `sealedBy`, `sealedAt`; SEAL-030, SEAL-032). One that does not open is handed over
   * with `sealError` set and the envelope as `payload`, and acknowledged like any other (SEAL-031). Absent:
   * payloads are handed over as they arrive, `sealed` false.
   */
  sealing?: PayloadOpener;
}

/** The outcome of an automatic token refresh (`tokenSource`). */
export type TokenRefreshEvent = { ok: true; tokenId: Uint8Array; notAfter: bigint } | { ok: false; error: unknown };

/**
 * How long the client waits before it asks `tokenSource` again after a failed refresh, and the least time
 * between two refreshes (a source that hands out tokens already two thirds through their life does not make the
 * client refresh in a loop); the Go client's RefreshRetry.
 */
export const TOKEN_RETRY_MS = 5000;

/** What the client reads from a token to schedule its refresh (TOK-010: read, not verified). */
interface TokenTimes {
  tokenId: Uint8Array;
  notBefore: bigint;
  notAfter: bigint;
}

/** TOK-012: when to refresh, in ms since the epoch: uniformly between 2/3 and 3/4 of the validity period. */
export function tokenRefreshAt(notBefore: bigint, notAfter: bigint, random: RandomSource = secureRandom): number {
  const nb = Number(notBefore) * 1000;
  const life = Math.max(0, Number(notAfter) * 1000 - nb);
  const b = random(4);
  const u = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  return nb + (life * 2) / 3 + Math.floor((u / 2 ** 32) * (life / 12));
}

/** A minimal async queue behind `messages()` (of SealFeedClient and ReconnectingClient). */
export class MessageQueue {
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

/** A token's ID and validity period, if it decodes (TOK-010: the client reads them only to schedule TOK-012). */
function readTokenTimes(token: Uint8Array): TokenTimes | undefined {
  try {
    const t = decodeToken(token);
    return { tokenId: t.tokenId, notBefore: t.notBefore, notAfter: t.notAfter };
  } catch {
    return undefined; // the server will say what is wrong with it
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
  /** the window of this session, shared with the other connections of the same replay store object */
  private record: WindowRecord | undefined;
  private readonly ackSink = (ids: bigint[]): void => this.queueAck(ids);
  /** the session's batch sequence (REPLAY-010) */
  private batch = new BatchSequence();
  private epochs: EpochState | undefined;
  /** every message of this session may be a redelivery: its window started without saved state */
  private lostState = false;
  /** IDs to acknowledge on this connection, sent together at the end of a delivery or in a microtask */
  private readonly pendingAcks = new Set<bigint>();
  private ackFlushScheduled = false;
  private inDelivery = false;
  private closedByApp = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private done = false;
  private endedByGoingAway = false;
  /** POST-032: the refresh awaiting TokenAccepted */
  private refreshing: (TokenTimes & { resolve: () => void; reject: (e: unknown) => void }) | undefined;
  /** the session's current token, as read to schedule its refresh (TOK-010) */
  private currentToken: TokenTimes | undefined;
  private tokenTimer: ReturnType<typeof setTimeout> | undefined;
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
    if (opts.token) this.currentToken = readTokenTimes(opts.token);
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
    if (opts.tokenSource) {
      if (opts.token) throw new RangeError('set token or tokenSource, not both');
      if (!opts.identitySeed) throw new RangeError('a tokenSource needs identitySeed, the key its tokens bind (HS-063)');
      opts = { ...opts, token: await opts.tokenSource() };
    }
    const trust = opts.trust;
    if (trust.kind === 'pinned') {
      // ID-010, ID-012: the pins given, or those learned from the configured fingerprint, if any; a copy,
      // which learnPins updates
      const replayStore = opts.replayStore ?? new MemoryReplayStore();
      const saved = trust.pins ? undefined : ((await replayStore.load(pinsKey(trust.keyId))) as SerializedPins | undefined);
      const pins = trust.pins ?? saved?.pins.map((p) => fromHex(p));
      if (pins && (pins.length < 1 || pins.length > 2 || pins.some((p) => p.length !== 32))) {
        throw new SealFeedError('internal_error', 'damaged pin set in the replay store', 'ID-012');
      }
      opts = { ...opts, replayStore, trust: { ...trust, pins } };
    }
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

  /**
   * Every message handed over, in order; ends when the connection ends (throwing its error if it failed).
   * Taking a message from here does not acknowledge it: call `m.ack()` (or use `onMessage`).
   */
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

  /**
   * Orderly close: the pending Acks, close_notify (POST-006), then the transport. Messages of a record not yet
   * handed over stay unacknowledged. Resolves once the acknowledgements made so far are saved.
   */
  close(): Promise<void> {
    if (!this.done) {
      this.closedByApp = true;
      this.flushAcks();
      const frame = this.session ? this.session.alertFrame('close_notify') : this.hs.alertFrame('close_notify');
      if (frame) this.send(frame);
      this.finish(undefined);
    }
    return this.record ? this.record.flush() : Promise.resolve();
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
    const record = this.record!;
    let state = new ReplayState(record.state.window, this.batch);
    const opened: OpenedBatch[] = [];
    const accepted: Uint8Array[] = [];
    const input = this.session.receive(frame, (m) => {
      if (m.type === MSG.TokenAccepted) {
        this.checkTokenAccepted(m.body); // POST-032, at its place in the record (POST-009)
        accepted.push(m.body);
        return;
      }
      if (m.type !== MSG.BatchDelivery) return;
      const o = this.openBatch(m.body, state);
      opened.push(o);
      state = o.nextState;
    });
    // POST-003, POST-020: the answer to a KeyUpdate(1) or Heartbeat(1) goes out before any other frame
    for (const a of input.answers) this.send(a);
    if (accepted.length > 0) {
      const r = this.refreshing!;
      this.refreshing = undefined;
      // TOK-011: the server now counts from the new token's not_after
      this.currentToken = { tokenId: r.tokenId, notBefore: r.notBefore, notAfter: r.notAfter };
      this.scheduleTokenRefresh(TOKEN_RETRY_MS);
      r.resolve();
    }
    if (opened.length === 0) return;
    // what to hand over, hand over again, hold or acknowledge, decided for the whole record; committed with no
    // await since the window was read, so the record's window is the one its deliveries were checked against
    const plan = planRecord(
      opened.map((o) => o.messages),
      record.state.unacked,
      record.handed,
    );
    record.admit(
      state.window,
      opened.flatMap((o, i) => o.messages.filter((_, j) => plan[i]![j] === 'hand').map((m) => m.messageId)),
    );
    this.batch = state.batch;
    // REPLAY-013: the window and `unacked` are persisted once for the record, before any message is handed out
    // or acknowledged
    await record.save();
    for (let i = 0; i < opened.length; i++) await this.onDelivery(opened[i]!, plan[i]!);
  }

  /**
   * POST-030: replaces the access token of this connection without a new handshake. `token` is a new token from
   * the application's back end for the same user and device, bound to the same identity key (POST-031); the
   * client does not verify it (TOK-010). Resolves when the server answers TokenAccepted (POST-032); a server
   * that refuses it closes the connection with the alert (`closed` resolves with it). One refresh at a time
   * (TOK-012). Refresh two thirds into the current token's life: otherwise the server closes the connection
   * with token_expired at its not_after + 60 s (TOK-011).
   */
  refreshToken(token: Uint8Array): Promise<void> {
    if (!this.opts.identitySeed) return Promise.reject(new RangeError('only key-identified clients hold tokens (POST-030)'));
    if (this.refreshing) return Promise.reject(new RangeError('a token refresh is outstanding (TOK-012)'));
    if (this.done || !this.session) return Promise.reject(new RangeError('not connected'));
    if (token.length < 1 || token.length > LIMITS.MaxAccessToken) return Promise.reject(new RangeError('token length'));
    // the ID and not_after that TokenAccepted must repeat; read, not verified (TOK-010)
    const t = decodeToken(token);
    return new Promise<void>((resolve, reject) => {
      this.refreshing = { tokenId: t.tokenId, notBefore: t.notBefore, notAfter: t.notAfter, resolve, reject };
      this.send(this.session!.send([encodeMessage(MSG.TokenRefresh, token)]));
    });
  }

  /**
   * TOK-012: with a `tokenSource`, the next refresh of the current token, at `tokenRefreshAt` but no sooner than
   * `minDelayMs` from now.
   */
  private scheduleTokenRefresh(minDelayMs: number): void {
    if (this.tokenTimer !== undefined) clearTimeout(this.tokenTimer);
    this.tokenTimer = undefined;
    const t = this.currentToken;
    if (this.done || !this.opts.tokenSource || !t) return;
    const delay = Math.min(Math.max(minDelayMs, tokenRefreshAt(t.notBefore, t.notAfter) - Date.now()), 3_600_000);
    this.tokenTimer = setTimeout(() => void this.refreshFromSource(), delay);
  }

  /** One automatic refresh: a new token from `tokenSource`, sent in TokenRefresh; a failure is retried later. */
  private async refreshFromSource(): Promise<void> {
    this.tokenTimer = undefined;
    if (this.done) return;
    if (this.refreshing) {
      // an application's refreshToken is outstanding; its TokenAccepted reschedules
      this.tokenTimer = setTimeout(() => void this.refreshFromSource(), TOKEN_RETRY_MS);
      return;
    }
    try {
      const token = await this.opts.tokenSource!();
      const t = decodeToken(token);
      if (this.currentToken && bytesEqual(t.tokenId, this.currentToken.tokenId)) {
        throw new RangeError('the token source returned the current token again');
      }
      await this.refreshToken(token);
      this.opts.onTokenRefresh?.({ ok: true, tokenId: t.tokenId, notAfter: t.notAfter });
    } catch (error) {
      if (this.done) return; // the server refused it: `closed` has its alert (POST-031)
      this.opts.onTokenRefresh?.({ ok: false, error });
      if (!this.refreshing && this.tokenTimer === undefined) {
        this.tokenTimer = setTimeout(() => void this.refreshFromSource(), TOKEN_RETRY_MS);
      }
    }
  }

  /** POST-032: TokenAccepted answers the outstanding refresh, with its token's ID and not_after. */
  private checkTokenAccepted(body: Uint8Array): void {
    const r = new Reader(body, 'TokenAccepted');
    const tokenId = r.bytes(16);
    const notAfter = r.u64();
    r.end();
    const p = this.refreshing;
    if (!p) fail('unexpected_message', 'TokenAccepted without a TokenRefresh', 'POST-032');
    if (!bytesEqual(p.tokenId, tokenId) || p.notAfter !== notAfter) fail('illegal_parameter', 'TokenAccepted for another token', 'POST-032');
  }

  private async onConnected(): Promise<void> {
    const r = this.hs.result!;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.hsResult = r;
    this.session = r.session;
    this.lastReceivedAt = now(); // Welcome
    this.armLiveness();
    this.scheduleTokenRefresh(0);
    await this.learnPins(r);
    // REPLAY-011, REPLAY-020, REPLAY-021: one window per (client ID, store epoch) under the trust anchor; an
    // epoch left before is refused before anything of the session is kept; the batch sequence starts again
    // from 0 in every session (REPLAY-010), fromJSON does not restore one
    const epochs = EpochState.fromJSON((await this.store.load(epochKey(r.trustAnchor))) as SerializedEpochs | undefined);
    let oldTop = 0n;
    if (epochs.clientId !== undefined && epochs.epoch !== undefined) {
      const old = (await this.store.load(`${toHex(r.trustAnchor)}:${epochs.clientId}:${epochs.epoch}`)) as SerializedReplayState | undefined;
      if (old) oldTop = ReplayState.fromJSON(old).window.highest;
    }
    const restore = epochs.clientId === toHex(r.clientId) && epochs.epoch !== undefined && epochs.epoch !== toHex(r.welcome.storeEpoch);
    epochs.enter(r.clientId, r.welcome.storeEpoch, oldTop);
    await this.store.save(epochKey(r.trustAnchor), epochs.toJSON());
    this.epochs = epochs;
    const record = await openWindow(this.store, replayKey(r.trustAnchor, r.clientId, r.welcome.storeEpoch));
    // DLV-015: a window without saved state, for a client ID that may have had messages handed over before
    // (its key's, or a resumed one; not an ID this handshake assigned): nothing tells what the application
    // already got, so every message may be a redelivery until a session of the window ends in this process.
    // After a restore the new window is empty by rule and the epoch marks do that job (DLV-005).
    this.lostState = record.beginSession(this.opts.identitySeed !== undefined || r.resumed, restore);
    this.record = record;
    // acknowledgements by the application go out on this connection from now on (DLV-005: only for IDs of
    // this window)
    record.ackSink = this.ackSink;
    if (r.revocationNumber !== undefined) await this.opts.onRevocationNumber?.(r.revocationNumber);
    if (r.ticket) await this.opts.onTicket?.(r.ticket);
    await this.opts.onConnected?.(this);
    this.connectSettle.resolve();
  }

  /**
   * ID-010, ID-012: after a completed handshake the pin set becomes the key the server authenticated with and
   * the next key it announced, saved before anything later in the session is acted on.
   */
  private async learnPins(r: HandshakeResult): Promise<void> {
    const trust = this.opts.trust;
    if (trust.kind !== 'pinned') return;
    const next = [r.serverKeyId, ...(r.nextServerKey ? [keyId(r.nextServerKey)] : [])];
    const old = trust.pins ?? [trust.keyId];
    if (old.length === next.length && old.every((p, i) => toHex(p) === toHex(next[i]!))) return;
    await this.store.save(pinsKey(trust.keyId), { pins: next.map((p) => toHex(p)) });
    trust.pins = next;
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
   * One opened BatchDelivery of a record whose state is persisted (REPLAY-013): hands its messages to the
   * application as planned, then acknowledges, in one Ack, the duplicates and stale IDs to acknowledge
   * (REPLAY-012) and the messages the application took meanwhile (DLV-003).
   */
  private async onDelivery(opened: OpenedBatch, plan: readonly Disposition[]): Promise<void> {
    const h = opened.header;
    const record = this.record!;
    const status: BatchStatus = { verified: true, batchSeq: h.batchSeq, signerId: h.signerId, timestampMs: h.timestampMs, delivered: 0, replayed: 0, stale: 0 };
    this.inDelivery = true;
    try {
      for (let i = 0; i < opened.messages.length; i++) {
        const m = opened.messages[i]!;
        const d = plan[i]!;
        if (d === 'ack' || d === 'hold') {
          if (d === 'ack') this.pendingAcks.add(m.messageId);
          if (m.status === 'stale_message') status.stale++;
          else status.replayed++;
          continue;
        }
        // an application that closed the client gets nothing more; the rest stays unacknowledged and not handed
        // over in this process, so the next connection hands it over (marked)
        if (this.closedByApp) continue;
        const content = await this.openSealed(m.payload);
        if (this.closedByApp) continue;
        const id = m.messageId;
        record.handed.add(id);
        let acked = false;
        const ack = (): void => {
          if (acked) return;
          acked = true;
          record.ack(id);
        };
        const dm: DeliveredMessage = {
          messageId: id,
          ...content,
          broadcast: m.broadcast,
          batchSeq: h.batchSeq,
          signerId: h.signerId,
          possibleRedelivery: d === 'hand_again' || this.lostState || this.epochs!.possibleRedelivery(id),
          ack,
        };
        status.delivered++;
        if (this.opts.onMessage) {
          try {
            await this.opts.onMessage(dm);
            if (!this.opts.manualAck) ack();
          } catch (e) {
            this.reportHandlerError(e, dm);
          }
        }
        this.queue.push(dm);
      }
    } finally {
      this.inDelivery = false;
    }
    this.lastBatch = status;
    this.opts.onBatch?.(status);
    this.flushAcks();
  }

  /**
   * SEAL-030, SEAL-031: with `sealing`, an envelope's payload opened, or the envelope as received with the reason
   * it did not open (never a partial plaintext); other payloads as they are, not sealed.
   */
  private async openSealed(payload: Uint8Array): Promise<Pick<DeliveredMessage, 'payload' | 'sealed' | 'sealedBy' | 'sealedAt' | 'sealError'>> {
    const opener = this.opts.sealing;
    if (!opener || !startsWithEnvelopeMagic(payload)) return { payload, sealed: false };
    try {
      const o = await opener.open(payload);
      return { payload: o.payload, sealed: true, sealedBy: o.publisherKeyId, sealedAt: o.sealedAt };
    } catch (sealError) {
      return { payload, sealed: false, sealError };
    }
  }

  private reportHandlerError(e: unknown, m: DeliveredMessage): void {
    if (this.opts.onHandlerError) {
      try {
        this.opts.onHandlerError(e, m);
      } catch {
        // the application's reporter failed; the message stays unacknowledged either way
      }
      return;
    }
    console.warn(`sealfeed: onMessage failed for message ${m.messageId}; it stays unacknowledged:`, e);
  }

  /** Queues IDs to acknowledge on this connection; sent at the end of the delivery being handed out, else soon. */
  private queueAck(ids: bigint[]): void {
    for (const id of ids) this.pendingAcks.add(id);
    if (this.inDelivery || this.ackFlushScheduled) return;
    this.ackFlushScheduled = true;
    queueMicrotask(() => {
      this.ackFlushScheduled = false;
      if (!this.inDelivery) this.flushAcks();
    });
  }

  /**
   * Sends the queued Acks: strictly ascending IDs, at most 4096 per Ack message, each Ack in a record of its
   * own: a server reads at most MaxClientRecord (65 536) bytes of inner plaintext per record (LIM-003), and one
   * full Ack is 32 774. With the connection down nothing is sent: the server redelivers, and the client
   * acknowledges the duplicates (REPLAY-012).
   */
  private flushAcks(): void {
    if (this.pendingAcks.size === 0) return;
    const ids = [...this.pendingAcks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.pendingAcks.clear();
    if (this.done || !this.session) return;
    for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
      this.send(this.session.send([encodeMessage(MSG.Ack, encodeAck(ids.slice(i, i + MAX_ACK_IDS)))]));
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
    if (this.tokenTimer !== undefined) clearTimeout(this.tokenTimer);
    this.session?.destroy();
    if (this.record) {
      if (this.record.ackSink === this.ackSink) this.record.ackSink = undefined;
      this.record.endSession();
      void this.record.flush();
    }
    try {
      this.ws.close(1000);
    } catch {
      // already closed
    }
    this.connectSettle.reject(err ?? peerClose ?? new SealFeedError('close_notify', 'closed before the handshake completed'));
    this.refreshing?.reject(err ?? peerClose ?? new SealFeedError('close_notify', 'closed before TokenAccepted'));
    this.refreshing = undefined;
    this.queue.end(err);
    this.closedSettle(err);
  }
}
