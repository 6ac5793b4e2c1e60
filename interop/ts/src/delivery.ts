/**
 * Hand-off to the application (spec §12, DLV-003 and the delivery guarantee): which opened messages are
 * handed over, handed over again, held or acknowledged, and the record of one window that outlives a
 * connection: the persisted window with its `unacked` set, what was handed to the application in this
 * process, and the connection acknowledgements go out on. Transport-free: SealFeedClient feeds it opened
 * deliveries and gives it a way to send an Ack.
 *
 * The guarantee (DLV-010): every message the server accepted reaches the application at least once, unless
 * it expires first or the client's state is lost; without a restart of the process it never reaches it
 * twice; a message handed over but not acknowledged by the application before a restart is handed over again
 * after it, marked `possibleRedelivery`. The rules: DLV-011 (the saved `unacked` set), DLV-012 (`planRecord`),
 * DLV-013 (`handed`, per process), DLV-014 (a new window, a new record), DLV-015 (`beginSession`), DLV-016
 * (`ack`).
 */
import type { MessageStatus } from './batch.js';
import { type MessageWindow, ReplayState, type ReplayStore, type SerializedReplayState } from './replay.js';

/**
 * What the client does with one message of a verified record:
 * - `hand`: new in the window: accepted, added to `unacked`, handed to the application;
 * - `hand_again`: a duplicate still in `unacked` that was not handed over in this process (it was before a
 *   restart): handed over again, marked `possibleRedelivery`, not acknowledged;
 * - `hold`: a duplicate still in `unacked` that the application got in this process and has not
 *   acknowledged yet: neither handed over nor acknowledged (the application will acknowledge it);
 * - `ack`: a duplicate not in `unacked` (the application acknowledged it, the server did not get the Ack) or
 *   a stale ID: acknowledged, not handed over (REPLAY-012).
 */
export type Disposition = 'hand' | 'hand_again' | 'hold' | 'ack';

/**
 * The disposition of every message of one record (its deliveries in order, as `openDelivery` classified
 * them against the window the previous one left), given the window's `unacked` set and the IDs handed over in
 * this process. An ID handed earlier in the same record counts as handed.
 */
export function planRecord(
  deliveries: readonly (readonly { messageId: bigint; status: MessageStatus }[])[],
  unacked: ReadonlySet<bigint>,
  handed: ReadonlySet<bigint>,
): Disposition[][] {
  const inRecord = new Set<bigint>();
  return deliveries.map((msgs) =>
    msgs.map(({ messageId: id, status }) => {
      if (status === 'deliver') {
        inRecord.add(id);
        return 'hand';
      }
      if (status === 'stale_message') return 'ack';
      if (inRecord.has(id)) return 'hold';
      if (!unacked.has(id)) return 'ack';
      if (handed.has(id)) return 'hold';
      inRecord.add(id);
      return 'hand_again';
    }),
  );
}

/** How long an acknowledgement by the application may stay unsaved (it is saved sooner with the next record). */
export const LAZY_SAVE_MS = 1000;

/**
 * The state of one window (client ID and store epoch under one trust anchor) in this process: shared by the
 * connections of one replay store object, so that a reconnect knows what the application already holds.
 * Saves are serialized: each writes the state as it is when it runs, so the last one written is the newest.
 */
export class WindowRecord {
  /** the window and `unacked`, as persisted (the batch sequence of this object is not used) */
  state: ReplayState;
  /** IDs of `unacked` handed to the application in this process (never persisted; a subset of `unacked`) */
  readonly handed = new Set<bigint>();
  /** whether the store holds a state for this window (loaded or saved once) */
  persisted: boolean;
  /** whether a session of this window has begun in this process */
  begun = false;
  /** sends an Ack on the connection of this window that is up, if any (set by that connection) */
  ackSink: ((ids: bigint[]) => void) | undefined;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: ReplayStore,
    readonly key: string,
    saved: SerializedReplayState | undefined,
  ) {
    this.state = saved ? ReplayState.fromJSON(saved) : new ReplayState();
    this.persisted = saved !== undefined;
  }

  /**
   * Saves the state durably (REPLAY-013); resolves once the store has it. Anything changed before the call
   * is in what is written.
   */
  save(): Promise<void> {
    this.dirty = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.saving.then(async () => {
      await this.store.save(this.key, this.state.toJSON());
      this.persisted = true;
    });
    // a failed save fails its caller and leaves the state to save again (flush, the next record); the next
    // save runs regardless
    this.saving = run.catch(() => {
      this.dirty = true;
    });
    return run;
  }

  /** Saves if an acknowledgement is not yet saved; errors are swallowed (it only costs a redelivery). */
  async flush(): Promise<void> {
    if (this.dirty) await this.save().catch(() => undefined);
    else await this.saving;
  }

  /**
   * The application took message `id`: it leaves `unacked` (saved lazily, within LAZY_SAVE_MS or with the next
   * record: a restart before that only makes it a possible redelivery) and the Ack goes out on the connection
   * of this window that is up, if any (else the server redelivers it and the client acknowledges the
   * duplicate, REPLAY-012). An ID no longer in `unacked` (stale by now) is acknowledged all the same.
   */
  ack(id: bigint): void {
    if (this.state.unacked.delete(id)) this.markDirty();
    this.handed.delete(id);
    this.ackSink?.([id]);
  }

  /**
   * A session of this window begins. The first in this process of a window without saved state decides
   * DLV-015: `persistentId` (the client ID may have had messages before: key-identified, or resumed) without
   * any record of it (`recorded`: false; true after a store restore, whose new window is empty by rule and
   * marked by the epoch, DLV-005) marks the window unrecorded. Returns whether this session's messages are
   * all possible redeliveries.
   */
  beginSession(persistentId: boolean, recorded: boolean): boolean {
    if (!this.begun && !this.persisted) this.state.unrecorded = persistentId && !recorded;
    this.begun = true;
    return this.state.unrecorded;
  }

  /**
   * A session of this window ended in this process (a reconnect or a close, not a crash): from the next
   * session on the window is precise (DLV-015). Saved with the next save or flush (the client flushes as the
   * session ends).
   */
  endSession(): void {
    if (!this.state.unrecorded) return;
    this.state.unrecorded = false;
    this.markDirty();
  }

  /**
   * Commits a verified record (before `save`): `window` is the window its deliveries left, `handIds` the IDs
   * planned `hand`, which join `unacked`; IDs that became stale leave it.
   */
  admit(window: MessageWindow, handIds: Iterable<bigint>): void {
    const unrecorded = this.state.unrecorded;
    this.state = new ReplayState(window, this.state.batch, this.state.unacked);
    this.state.unrecorded = unrecorded;
    for (const id of handIds) this.state.unacked.add(id);
    for (const id of this.state.pruneUnacked()) this.handed.delete(id);
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty) this.save().catch(() => undefined);
    }, LAZY_SAVE_MS);
    // Node: a pending lazy save does not keep the process alive (losing it only costs a redelivery)
    (this.timer as { unref?: () => void }).unref?.();
  }
}

/**
 * The window records of each replay store object. The store object is the unit of a process: the messages
 * handed over in this process are remembered per store object, and a new store object over the same saved
 * state is a restart.
 */
const records = new WeakMap<ReplayStore, Map<string, Promise<WindowRecord>>>();

/** The record of window `key` in `store`, loaded once per store object. */
export function openWindow(store: ReplayStore, key: string): Promise<WindowRecord> {
  let m = records.get(store);
  if (!m) records.set(store, (m = new Map()));
  let r = m.get(key);
  if (!r) {
    r = store.load(key).then((saved) => new WindowRecord(store, key, saved as SerializedReplayState | undefined));
    m.set(key, r);
    // a failed load is tried again on the next connection
    r.catch(() => m!.delete(key));
  }
  return r;
}

