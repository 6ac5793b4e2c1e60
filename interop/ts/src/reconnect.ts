/**
 * A client that stays connected: ReconnectingClient makes one SealFeedClient connection after another with
 * the same state, as the Go client's Dial does (client/client.go). Between connections it waits a delay with
 * full jitter (uniform in [1, min(maxBackoffMs, minBackoffMs · 2^attempt)]), after going_away only a delay
 * uniform in [0, GoingAwaySpread] and to the next endpoint first (POST-022). An anonymous client resumes its
 * client ID with the newest ticket of its Welcomes (HS-040; never one past its lifetime, HS-044), and every
 * connection shares one replay store object, so the window, the unacknowledged messages and the pins carry
 * over (REPLAY-011, REPLAY-013, ID-012). With a `tokenSource`, every connection presents a token fresh from it
 * (TOK-012: also after the server closed one with token_expired) and refreshes it while it lasts.
 */
import { isGoingAway, type SealFeedError } from './alert.js';
import { goingAwayDelayMs, MessageQueue, SealFeedClient, type DeliveredMessage, type SealFeedClientOptions } from './client.js';
import type { Ticket } from './handshake.js';
import { secureRandom, type RandomSource } from './random.js';
import { MemoryReplayStore } from './replay.js';

export interface ReconnectingClientOptions extends SealFeedClientOptions {
  /** further endpoints of the same cluster (same trust), tried in turn after `url` */
  urls?: string[];
  /** the first reconnect delay bound; 0 or absent: 100 ms */
  minBackoffMs?: number;
  /** the largest reconnect delay bound; 0 or absent: 30 s */
  maxBackoffMs?: number;
  /** Called when a connection ends or an attempt fails, with the delay before the next attempt. */
  onDisconnect?: (e: { error: unknown; goingAway: boolean; retryInMs: number }) => void;
  /** randomness of the delays (tests); default crypto.getRandomValues */
  random?: RandomSource;
}

/** A connection that lasted this long resets the backoff, as a going_away does. */
const stableConnectionMs = 10_000;

/** A uniform integer in [0, n) from 32 random bits; n ≤ 2^32. */
function uniform(random: RandomSource, n: number): number {
  const b = random(4);
  const u = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  return Math.floor((u / 2 ** 32) * n);
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first after a failure): full jitter, uniform in
 * [1, min(maxMs, minMs · 2^attempt)] milliseconds, so that the clients of a restarted server do not come back
 * in step.
 */
export function backoffDelayMs(attempt: number, minMs = 100, maxMs = 30_000, random: RandomSource = secureRandom): number {
  if (!(minMs > 0) || !(maxMs >= minMs) || !Number.isInteger(attempt) || attempt < 0) throw new RangeError('bad backoff arguments');
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return 1 + uniform(random, Math.floor(cap));
}

export class ReconnectingClient {
  private readonly base: SealFeedClientOptions;
  private readonly urls: string[];
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly random: RandomSource;
  private readonly queue: MessageQueue | undefined;
  private next = 0;
  private latestTicket: Ticket | undefined;
  private cur: SealFeedClient | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: ReconnectingClientOptions) {
    const minMs = opts.minBackoffMs || 100;
    const maxMs = opts.maxBackoffMs || 30_000;
    if (!(minMs > 0) || !(maxMs >= minMs)) throw new RangeError('need 0 < minBackoffMs ≤ maxBackoffMs');
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.random = opts.random ?? secureRandom;
    this.urls = [opts.url, ...(opts.urls ?? [])];
    this.latestTicket = opts.ticket;
    // without onMessage, messages() hands over the messages of every connection; each is acknowledged by
    // m.ack() through the connection up at that time
    this.queue = opts.onMessage ? undefined : new MessageQueue();
    const queue = this.queue;
    this.base = {
      ...opts,
      // one store object for every connection: one window per client ID and store epoch (REPLAY-011)
      replayStore: opts.replayStore ?? new MemoryReplayStore(),
      onTicket: async (t) => {
        this.latestTicket = t;
        await opts.onTicket?.(t);
      },
      ...(queue ? { onMessage: (m: DeliveredMessage) => queue.push(m), manualAck: true } : {}),
    };
  }

  /**
   * Connects to the first endpoint that accepts (each tried once) and keeps the client connected until
   * `close`. Rejects with the last attempt's error when none accepts: a wrong pin or URL shows at once.
   */
  static async connect(opts: ReconnectingClientOptions): Promise<ReconnectingClient> {
    const rc = new ReconnectingClient(opts);
    let c: SealFeedClient | undefined;
    let err: unknown;
    for (let i = 0; i < rc.urls.length && !c; i++) {
      try {
        c = await rc.dial();
      } catch (e) {
        err = e;
      }
    }
    if (!c) throw err;
    rc.loop = rc.run(c);
    return rc;
  }

  /** The connection up now, if any. */
  get current(): SealFeedClient | undefined {
    return this.cur;
  }
  /** The newest resumption ticket (anonymous clients): persist it to keep the client ID across restarts. */
  get ticket(): Ticket | undefined {
    return this.latestTicket;
  }

  /** Every message of every connection, in order (without `onMessage` only); ends after `close`. */
  messages(): AsyncIterableIterator<DeliveredMessage> {
    const q = this.queue;
    if (!q) throw new Error('messages() is for clients without onMessage');
    const it: AsyncIterableIterator<DeliveredMessage> = { next: () => q.next(), [Symbol.asyncIterator]: () => it };
    return it;
  }

  /** Closes the current connection (close_notify), stops reconnecting and resolves when the loop has ended. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.cur?.close();
    await this.loop;
    this.queue?.end();
  }

  /** One connection attempt to the next endpoint, with the newest ticket. */
  private dial(): Promise<SealFeedClient> {
    const url = this.urls[this.next % this.urls.length]!;
    this.next++;
    return SealFeedClient.connect({ ...this.base, url, ticket: this.latestTicket });
  }

  private async run(first: SealFeedClient): Promise<void> {
    let c: SealFeedClient | undefined = first;
    let failure: unknown;
    let attempt = 0;
    for (;;) {
      let error: unknown = failure;
      let away = isGoingAway(failure); // refused with going_away before the handshake completed
      if (c) {
        this.cur = c;
        const t0 = globalThis.performance.now();
        error = (await c.closed) as SealFeedError | undefined;
        this.cur = undefined;
        away = c.goingAway;
        if (globalThis.performance.now() - t0 >= stableConnectionMs) attempt = 0;
      }
      if (this.stopped) return;
      if (away) attempt = 0;
      // POST-022: after going_away a short random delay, then (each attempt rotating) the next endpoint
      const d = away ? goingAwayDelayMs(this.random) : backoffDelayMs(attempt++, this.minMs, this.maxMs, this.random);
      this.opts.onDisconnect?.({ error, goingAway: away, retryInMs: d });
      await this.sleep(d);
      if (this.stopped) return;
      try {
        c = await this.dial();
        failure = undefined;
      } catch (e) {
        c = undefined;
        failure = e;
      }
      if (c && this.stopped) {
        await c.close();
        return;
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
