/**
 * The connected state (spec §9): protected records under the application traffic keys, KeyUpdate
 * (POST-003, POST-004), Heartbeat (POST-020), Alert (POST-006) and the messages each role may receive
 * (WIRE-010, POST-001, HS-052).
 *
 * The session is role-aware so that the same code runs the session vectors of both roles; a SealFeed
 * client only ever runs it as `client`.
 */
import { alertName, fail, SealFeedError, type AlertName, LOCAL_ONLY, ALERTS } from './alert.js';
import { FRAME_PROTECTED, LIMITS, MSG } from './constants.js';
import { decodeAlert, decodeHeartbeat, decodeKeyUpdate, encodeAlert, encodeHeartbeat, encodeKeyUpdate } from './messages.js';
import { RecordReceiver, RecordSender } from './record.js';
import { decodeFrame, encodeMessage, type Message } from './wire.js';

export type Role = 'client' | 'server';

/** What a received frame yields. */
export interface SessionInput {
  /** the application messages of the frame, in order (BatchDelivery for a client, Ack for a server) */
  messages: Message[];
  /**
   * frames the session owes its peer now, to be sent before any other frame: at most one, carrying
   * Heartbeat(0) answering Heartbeat(1) (POST-020) and/or KeyUpdate(0) answering KeyUpdate(1) (POST-003)
   */
  answers: Uint8Array[];
}

/** The application message each role receives after the handshake. */
const APP_MESSAGES: Record<Role, ReadonlySet<number>> = {
  client: new Set([MSG.BatchDelivery, MSG.TokenAccepted]),
  server: new Set([MSG.Ack, MSG.TokenRefresh]),
};

export class Session {
  readonly role: Role;
  readonly receiver: RecordReceiver;
  readonly sender: RecordSender;
  private closed = false;
  /** POST-004: KeyUpdates received in a row without another message in between */
  private keyUpdatesInRow = 0;

  constructor(role: Role, receiver: RecordReceiver, sender: RecordSender) {
    this.role = role;
    this.receiver = receiver;
    this.sender = sender;
  }

  /** A session from the two application traffic secrets, both at sequence 0. */
  static fromSecrets(role: Role, aead: number, receiveSecret: Uint8Array, sendSecret: Uint8Array): Session {
    return new Session(role, new RecordReceiver(aead, receiveSecret), new RecordSender(aead, sendSecret));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Processes one received frame. POST-009: the record's messages are checked in order and none is acted on
   * unless all pass — the receiving key switches and a KeyUpdate answer is made only after the last check.
   * `check`, when given, is the caller's check of each application message, run at that message's place in
   * the order (a client opens its BatchDeliveries there, BATCH-016); whatever it throws fails the record.
   * A Heartbeat is handled here and never passed up; it does not end a run of KeyUpdates (POST-020, POST-004).
   * Any failure is fatal: the session is closed and every later frame is `unexpected_message` (HS-050). A
   * received Alert ends the session with the peer's code (`fromPeer`), an unknown code read as
   * `internal_error` (POST-006). ALERT-004, REC-006: a plaintext frame, an Alert included, is
   * `unexpected_message` here.
   */
  receive(frame: Uint8Array, check?: (m: Message) => void): SessionInput {
    if (this.closed) fail('unexpected_message', 'session is closed', 'HS-050');
    try {
      return this.receiveOpen(frame, check);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private receiveOpen(frame: Uint8Array, check: ((m: Message) => void) | undefined): SessionInput {
    const f = decodeFrame(frame);
    if (f.type !== FRAME_PROTECTED) fail('unexpected_message', 'plaintext frame in the connected state', 'REC-006');
    const msgs = this.receiver.openFragment(f.fragment);
    const out: Message[] = [];
    let update: boolean | undefined;
    let replyRequested = false;
    msgs.forEach((m, i) => {
      switch (m.type) {
        case MSG.Alert: {
          const code = decodeAlert(m.body);
          throw new SealFeedError(alertName(code), `peer sent alert ${code}`, 'POST-006', { fromPeer: true });
        }
        case MSG.KeyUpdate: {
          // POST-003: KeyUpdate is the last message of its frame
          if (i !== msgs.length - 1) fail('unexpected_message', 'KeyUpdate is not the last message of its frame', 'POST-003');
          update = decodeKeyUpdate(m.body);
          // POST-004: at most MaxKeyUpdatesWithoutData in a row
          if (++this.keyUpdatesInRow > LIMITS.MaxKeyUpdatesWithoutData) fail('limit_exceeded', 'too many KeyUpdates in a row', 'POST-004');
          break;
        }
        case MSG.Heartbeat:
          // POST-020: several Heartbeat(1) in one frame still get one answer
          if (decodeHeartbeat(m.body)) replyRequested = true;
          break;
        case MSG.Welcome:
          // POST-001: exactly once, as the first application record (the handshake consumes it)
          fail('unexpected_message', 'Welcome in the connected state', 'POST-001');
          break;
        default:
          // WIRE-010: undefined types, and types this role never receives in this state (HS-052)
          if (!APP_MESSAGES[this.role].has(m.type)) fail('unexpected_message', `message type ${m.type} not allowed here`, 'WIRE-010');
          check?.(m);
          this.keyUpdatesInRow = 0;
          out.push(m);
      }
    });
    // POST-003: the receiver switches its receiving key after processing the frame
    if (update !== undefined) this.receiver.update();
    return { messages: out, answers: this.answer(replyRequested, update === true) };
  }

  /**
   * The one frame answering a received frame (POST-020, POST-003): Heartbeat(0) for a Heartbeat(1), then
   * KeyUpdate(0) (never KeyUpdate(1)) for a KeyUpdate(1), after which the sending key switches.
   */
  private answer(heartbeat: boolean, keyUpdate: boolean): Uint8Array[] {
    if (keyUpdate) {
      const msgs = [encodeMessage(MSG.KeyUpdate, encodeKeyUpdate(false))];
      if (heartbeat) msgs.unshift(encodeMessage(MSG.Heartbeat, encodeHeartbeat(false)));
      const frame = this.sender.seal(msgs);
      this.sender.update();
      return [frame];
    }
    // `send`: REC-005 may append a KeyUpdate(0) of its own
    return heartbeat ? [this.send([encodeMessage(MSG.Heartbeat, encodeHeartbeat(false))])] : [];
  }

  /** A frame carrying Heartbeat(replyRequested) (POST-020; a client sends Heartbeat(1) for POST-021). */
  sendHeartbeat(replyRequested: boolean): Uint8Array {
    return this.send([encodeMessage(MSG.Heartbeat, encodeHeartbeat(replyRequested))]);
  }

  /**
   * Protects `messages` (encoded Messages) in one frame. REC-005: when the sending key is one frame from its
   * limit, KeyUpdate(0) is appended as the frame's last message and the key switched after it.
   */
  send(messages: Uint8Array[], padding = 0): Uint8Array {
    if (this.closed) fail('unexpected_message', 'session is closed', 'HS-050');
    if (this.sender.mustUpdate) {
      const frame = this.sender.seal([...messages, encodeMessage(MSG.KeyUpdate, encodeKeyUpdate(false))], padding);
      this.sender.update();
      return frame;
    }
    return this.sender.seal(messages, padding);
  }

  /** A KeyUpdate frame; the sending key switches right after it (POST-003). */
  sendKeyUpdate(requestUpdate: boolean): Uint8Array {
    const frame = this.sender.seal([encodeMessage(MSG.KeyUpdate, encodeKeyUpdate(requestUpdate))]);
    this.sender.update();
    return frame;
  }

  /**
   * The protected Alert frame for `alert` (ALERT-001), after which the session is closed (POST-006). Local-only
   * codes are never sent (ALERT-002): undefined.
   */
  alertFrame(alert: AlertName): Uint8Array | undefined {
    if (LOCAL_ONLY.has(alert)) return undefined;
    let frame: Uint8Array | undefined;
    try {
      frame = this.sender.seal([encodeMessage(MSG.Alert, encodeAlert(ALERTS[alert]))]);
    } catch {
      frame = undefined;
    }
    this.close();
    return frame;
  }

  /** Closes the session and erases its keys (KS-003). */
  close(): void {
    this.closed = true;
  }

  /** Erases the record keys; the session cannot be used afterwards. */
  destroy(): void {
    this.closed = true;
    this.receiver.destroy();
    this.sender.destroy();
  }
}
