/**
 * Replay protection (spec §11): a session's batch sequence (REPLAY-010) and the sliding window of message IDs
 * (REPLAY-011, RFC 6479 style, W = 1024). The window is serializable, so that it can be persisted across
 * reconnects and restarts before messages are handed out and acknowledged (REPLAY-013, DLV-003); the batch
 * sequence lives and dies with its session.
 */
import { type AlertName, SealFeedError } from './alert.js';
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
 * message-ID window and the set `unacked` of IDs handed to the application and not yet acknowledged by it
 * (DLV-010 …; at most W entries, see `pruneUnacked`), which are persisted together (REPLAY-013), and the
 * session's batch sequence, which is not. `fromJSON` starts a fresh batch sequence: load the state once per
 * session.
 */
export class ReplayState {
  constructor(
    readonly window: MessageWindow = new MessageWindow(),
    readonly batch: BatchSequence = new BatchSequence(),
    readonly unacked: Set<bigint> = new Set(),
  ) {}

  /**
   * DLV-015: the window was started without any record of its client ID (a key-identified or resumed client
   * whose state was lost): every message is marked as a possible redelivery until a session of the window
   * ends in the process that started it (a reconnect or a close, not a crash).
   */
  unrecorded = false;

  clone(): ReplayState {
    const c = new ReplayState(this.window.clone(), this.batch.clone(), new Set(this.unacked));
    c.unrecorded = this.unrecorded;
    return c;
  }

  /**
   * Drops the unacknowledged IDs that are stale against the window (top − id ≥ W): DLV-004 keeps every ID
   * the server may still deliver within W of anything the client accepted, so the server can no longer
   * deliver them, and this keeps `unacked` within W entries. Returns the IDs dropped.
   */
  pruneUnacked(): bigint[] {
    const dropped: bigint[] = [];
    for (const id of this.unacked) {
      if (this.window.check(id) === 'stale_message') {
        this.unacked.delete(id);
        dropped.push(id);
      }
    }
    return dropped;
  }

  /** Version 2: the window, `unacked` (ascending decimal IDs) and, when set, `unrecorded`. */
  toJSON(): SerializedReplayState {
    const j: SerializedReplayState = { version: 2, window: this.window.toJSON(), unacked: [...this.unacked].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String) };
    if (this.unrecorded) j.unrecorded = true;
    return j;
  }

  /**
   * Loads version 2, or version 1 (written before `unacked` existed: an empty set, since that client
   * acknowledged every message it handed over). A damaged `unacked` is refused; stale IDs in it are dropped.
   */
  static fromJSON(j: SerializedReplayState): ReplayState {
    if (j.version !== 1 && j.version !== 2) throw new RangeError('unknown replay state version');
    const s = new ReplayState(MessageWindow.fromJSON(j.window));
    if (j.version === 2) {
      if (!Array.isArray(j.unacked) || j.unacked.length > s.window.size) throw new RangeError('damaged unacked set');
      for (const v of j.unacked) {
        if (typeof v !== 'string' || !/^[1-9][0-9]{0,19}$/.test(v)) throw new RangeError('damaged unacked set');
        const id = BigInt(v);
        // an unacknowledged ID was accepted into the window when it was handed over
        if (id > MAX_U64 || s.window.check(id) === 'accept') throw new RangeError('damaged unacked set');
        s.unacked.add(id);
      }
      s.pruneUnacked();
      if (j.unrecorded !== undefined && typeof j.unrecorded !== 'boolean') throw new RangeError('damaged unrecorded flag');
      s.unrecorded = j.unrecorded === true;
    }
    return s;
  }
}

export interface SerializedReplayState {
  /** 2: with `unacked`; 1: written by earlier versions, loaded with an empty `unacked` */
  version: 1 | 2;
  window: { size: number; top: string; bits: string };
  /** version 2: IDs handed to the application and not acknowledged by it, ascending, in decimal (DLV-011) */
  unacked?: string[];
  /** version 2: the window was started without a record of its client ID (DLV-015); absent: false */
  unrecorded?: boolean;
  /** written by earlier versions (per-signer batch sequences); ignored */
  batches?: Record<string, string>;
}

/** The most store epochs an EpochState remembers having left (REPLAY-020 asks for at least 64). */
export const MAX_PAST_EPOCHS = 256;

export interface SerializedEpochs {
  version: 1;
  /** the client ID and store epoch of the current window (hex); absent before the first connection */
  clientId?: string;
  epoch?: string;
  /** epochs left, oldest first */
  past: string[];
  /** IDs up to this in the current window may be redeliveries (DLV-005) */
  redeliveryTop: string;
}

/**
 * The store epochs of one trust anchor (ID-004, REPLAY-020, REPLAY-021): the client ID and epoch of the current
 * window, the epochs left, and which IDs of the current window may have reached the application before a
 * restore (DLV-005).
 */
export class EpochState {
  clientId: string | undefined;
  epoch: string | undefined;
  past: string[] = [];
  redeliveryTop = 0n;

  /**
   * Applies a Welcome: an epoch left before is `replayed_epoch` and changes nothing (REPLAY-020). A new
   * client ID or a new epoch means a new window (REPLAY-021), which the caller finds empty under the new
   * (client ID, epoch) key; a new epoch for the same client ID marks the IDs up to the old window's `top` as
   * possible redeliveries. Returns the key parts of the window to use.
   */
  enter(clientId: Uint8Array, epoch: Uint8Array, oldTop: bigint): void {
    const id = toHex(clientId);
    const e = toHex(epoch);
    const changed = this.epoch !== undefined && e !== this.epoch;
    if (changed && this.past.includes(e)) {
      throw new SealFeedError('replayed_epoch', 'the server store epoch is one this client left', 'REPLAY-020');
    }
    if (changed) {
      this.past.push(this.epoch!);
      if (this.past.length > MAX_PAST_EPOCHS) this.past.splice(0, this.past.length - MAX_PAST_EPOCHS);
    }
    if (id !== this.clientId) this.redeliveryTop = 0n;
    else if (changed && oldTop > this.redeliveryTop) this.redeliveryTop = oldTop;
    this.clientId = id;
    this.epoch = e;
  }

  possibleRedelivery(id: bigint): boolean {
    return id <= this.redeliveryTop;
  }

  toJSON(): SerializedEpochs {
    return { version: 1, clientId: this.clientId, epoch: this.epoch, past: [...this.past], redeliveryTop: this.redeliveryTop.toString() };
  }

  static fromJSON(j: SerializedEpochs | undefined): EpochState {
    const s = new EpochState();
    if (j === undefined) return s;
    if (j.version !== 1 || !Array.isArray(j.past) || j.past.length > MAX_PAST_EPOCHS) throw new RangeError('unknown or damaged epoch state');
    s.clientId = j.clientId;
    s.epoch = j.epoch;
    s.past = [...j.past];
    s.redeliveryTop = BigInt(j.redeliveryTop);
    return s;
  }
}

/**
 * Where replay state is persisted (REPLAY-013, REPLAY-020): window states and, per trust anchor, the epoch
 * state. `save` must be durable when its promise resolves: the client hands messages to the application and
 * acknowledges them only afterwards (DLV-003).
 */
export interface ReplayStore {
  load(key: string): Promise<SerializedReplayState | SerializedEpochs | SerializedPins | undefined>;
  save(key: string, state: SerializedReplayState | SerializedEpochs | SerializedPins): Promise<void>;
}

/** A pinned client's pin set learned from its configured fingerprint (ID-010, ID-012): KeyIDs in hex. */
export interface SerializedPins {
  pins: string[];
}

/**
 * The store key of the pin set learned from a configured fingerprint (ID-012): a client configured with another
 * fingerprint reads another key, so what it learned before does not count.
 */
export function pinsKey(configured: Uint8Array): string {
  return `${toHex(configured)}:pins`;
}

/** A store in memory: state survives reconnects of one process, not restarts. */
export class MemoryReplayStore implements ReplayStore {
  private readonly m = new Map<string, string>();
  async load(key: string): Promise<SerializedReplayState | SerializedEpochs | SerializedPins | undefined> {
    const v = this.m.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as SerializedReplayState | SerializedEpochs | SerializedPins);
  }
  async save(key: string, state: SerializedReplayState | SerializedEpochs | SerializedPins): Promise<void> {
    this.m.set(key, JSON.stringify(state));
  }
}

/** A store over a Web Storage-like object (e.g. `localStorage` in browsers). */
export class StorageReplayStore implements ReplayStore {
  constructor(
    private readonly storage: { getItem(k: string): string | null; setItem(k: string, v: string): void },
    private readonly prefix = 'sealfeed.replay.',
  ) {}
  async load(key: string): Promise<SerializedReplayState | SerializedEpochs | SerializedPins | undefined> {
    const v = this.storage.getItem(this.prefix + key);
    return v === null ? undefined : (JSON.parse(v) as SerializedReplayState | SerializedEpochs | SerializedPins);
  }
  async save(key: string, state: SerializedReplayState | SerializedEpochs | SerializedPins): Promise<void> {
    this.storage.setItem(this.prefix + key, JSON.stringify(state));
  }
}

/**
 * The store key of the window of a client ID and store epoch under a trust anchor (REPLAY-011: one window per
 * client ID and store epoch; REPLAY-021: state of one trust is never applied to a server of another).
 */
export function replayKey(trustAnchor: Uint8Array, clientId: Uint8Array, storeEpoch: Uint8Array): string {
  return `${toHex(trustAnchor)}:${toHex(clientId)}:${toHex(storeEpoch)}`;
}

/** The store key of a trust anchor's epoch state (REPLAY-020). */
export function epochKey(trustAnchor: Uint8Array): string {
  return `${toHex(trustAnchor)}:epochs`;
}
