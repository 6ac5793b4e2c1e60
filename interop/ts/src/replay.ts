/**
 * Replay protection (spec §11): a session's batch sequence (REPLAY-010) and the sliding window of message IDs
 * (REPLAY-011, RFC 6479 style, W = 1024). The window is serializable, so that it can be persisted across
 * reconnects and restarts before messages are handed out and acknowledged (REPLAY-013, DLV-003); the batch
 * sequence lives and dies with its session.
 */
import { type AlertName } from './alert.js';
import { fromHex, MAX_U64, toHex } from './bytes.js';
import { LIMITS } from './constants.js';

/** The decision for one message ID: `accept` (new) or a local result / alert. */
export type WindowDecision = 'accept' | Extract<AlertName, 'replayed_message' | 'stale_message' | 'illegal_parameter'>;

/**
 * REPLAY-011: `top` is the highest accepted ID (0: none yet; ID 0 is invalid). An ID is new if it is > top,
 * or if top − id < W and it has not been accepted; a duplicate if it has been accepted; stale if
 * top − id ≥ W. A bitmap of W bits indexed by id mod W records the accepted IDs in (top − W, top].
 */
export class MessageWindow {
  readonly size: number;
  private top = 0n;
  private readonly bits: Uint8Array;

  constructor(size: number = LIMITS.ReplayWindow) {
    if (size <= 0 || size % 8 !== 0) throw new RangeError('window size must be a positive multiple of 8');
    this.size = size;
    this.bits = new Uint8Array(size / 8);
  }

  get highest(): bigint {
    return this.top;
  }

  private slot(id: bigint): [number, number] {
    const s = Number(id % BigInt(this.size));
    return [s >> 3, 1 << (s & 7)];
  }

  /** Classifies `id` without recording it. */
  check(id: bigint): WindowDecision {
    if (id <= 0n || id > MAX_U64) return 'illegal_parameter';
    if (id > this.top) return 'accept';
    if (this.top - id >= BigInt(this.size)) return 'stale_message';
    const [byte, bit] = this.slot(id);
    return (this.bits[byte]! & bit) !== 0 ? 'replayed_message' : 'accept';
  }

  /** Records an ID that `check` accepted (REPLAY-013: only after the delivery is authenticated). */
  accept(id: bigint): void {
    if (this.check(id) !== 'accept') throw new Error('MessageWindow.accept: id is not new');
    if (id > this.top) {
      const w = BigInt(this.size);
      if (id - this.top >= w) this.bits.fill(0);
      else for (let k = this.top + 1n; k <= id; k++) this.clearSlot(k);
      this.top = id;
    }
    const [byte, bit] = this.slot(id);
    this.bits[byte]! |= bit;
  }

  private clearSlot(id: bigint): void {
    const [byte, bit] = this.slot(id);
    this.bits[byte]! &= ~bit;
  }

  clone(): MessageWindow {
    const c = new MessageWindow(this.size);
    c.top = this.top;
    c.bits.set(this.bits);
    return c;
  }

  toJSON(): { size: number; top: string; bits: string } {
    return { size: this.size, top: this.top.toString(), bits: toHex(this.bits) };
  }

  static fromJSON(j: { size: number; top: string; bits: string }): MessageWindow {
    const w = new MessageWindow(j.size);
    const bits = fromHex(j.bits);
    if (bits.length !== w.bits.length) throw new RangeError('window bitmap size');
    w.top = BigInt(j.top);
    w.bits.set(bits);
    return w;
  }
}

/**
 * REPLAY-010: the highest batch_seq accepted in one session (0 at its start); a batch_seq not above it is
 * `replayed_batch`, so batch_seq 0 is never accepted. It belongs to the session and is never persisted: a new
 * session starts again from 0, since its envelope keys are fresh (KS-006).
 */
export class BatchSequence {
  private last = 0n;

  get highest(): bigint {
    return this.last;
  }

  check(batchSeq: bigint): 'accept' | 'replayed_batch' {
    return batchSeq > this.last ? 'accept' : 'replayed_batch';
  }

  accept(batchSeq: bigint): void {
    if (this.check(batchSeq) !== 'accept') throw new Error('BatchSequence.accept: batch_seq is not new');
    this.last = batchSeq;
  }

  clone(): BatchSequence {
    const c = new BatchSequence();
    c.last = this.last;
    return c;
  }
}

/**
 * The replay state of one client ID under one server trust anchor (REPLAY-011) during one session: the
 * message-ID window, which is persisted (REPLAY-013), and the session's batch sequence, which is not.
 * `fromJSON` starts a fresh batch sequence: load the state once per session.
 */
export class ReplayState {
  constructor(
    readonly window: MessageWindow = new MessageWindow(),
    readonly batch: BatchSequence = new BatchSequence(),
  ) {}

  clone(): ReplayState {
    return new ReplayState(this.window.clone(), this.batch.clone());
  }

  toJSON(): SerializedReplayState {
    return { version: 1, window: this.window.toJSON() };
  }

  static fromJSON(j: SerializedReplayState): ReplayState {
    if (j.version !== 1) throw new RangeError('unknown replay state version');
    return new ReplayState(MessageWindow.fromJSON(j.window));
  }
}

export interface SerializedReplayState {
  version: 1;
  window: { size: number; top: string; bits: string };
  /** written by earlier versions (per-signer batch sequences); ignored */
  batches?: Record<string, string>;
}

/**
 * Where replay state is persisted (REPLAY-013). `save` must be durable when its promise resolves: the client
 * hands messages to the application and acknowledges them only afterwards (DLV-003).
 */
export interface ReplayStore {
  load(key: string): Promise<SerializedReplayState | undefined>;
  save(key: string, state: SerializedReplayState): Promise<void>;
}

/** A store in memory: state survives reconnects of one process, not restarts. */
export class MemoryReplayStore implements ReplayStore {
  private readonly m = new Map<string, string>();
  async load(key: string): Promise<SerializedReplayState | undefined> {
    const v = this.m.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as SerializedReplayState);
  }
  async save(key: string, state: SerializedReplayState): Promise<void> {
    this.m.set(key, JSON.stringify(state));
  }
}

/** A store over a Web Storage-like object (e.g. `localStorage` in browsers). */
export class StorageReplayStore implements ReplayStore {
  constructor(
    private readonly storage: { getItem(k: string): string | null; setItem(k: string, v: string): void },
    private readonly prefix = 'sealfeed.replay.',
  ) {}
  async load(key: string): Promise<SerializedReplayState | undefined> {
    const v = this.storage.getItem(this.prefix + key);
    return v === null ? undefined : (JSON.parse(v) as SerializedReplayState);
  }
  async save(key: string, state: SerializedReplayState): Promise<void> {
    this.storage.setItem(this.prefix + key, JSON.stringify(state));
  }
}

/** The store key of a client ID under a trust anchor (REPLAY-011: per client ID and server trust anchor). */
export function replayKey(trustAnchor: Uint8Array, clientId: Uint8Array): string {
  return `${toHex(trustAnchor)}:${toHex(clientId)}`;
}
