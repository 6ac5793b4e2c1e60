/**
 * Record layer (spec §8): one direction's protection under a traffic secret, with its implicit 64-bit
 * sequence number (REC-001, REC-002), padding (REC-003, REC-004, REC-007) and usage limits (REC-005).
 */
import { fail } from './alert.js';
import { concat, wipe, xorNonce } from './bytes.js';
import { FRAME_PROTECTED, LIMITS, RECORD_LIMIT } from './constants.js';
import { nextTrafficSecret, trafficKeys } from './keyschedule.js';
import { getAead, TAG_LENGTH, type Aead } from './suites.js';
import { decodeFrame, frameHeader, type Message, parseInnerPlaintext } from './wire.js';

/** State shared by both directions: a traffic secret, its key and IV, and the sequence number. */
abstract class Direction {
  protected aead: Aead;
  protected secret: Uint8Array;
  protected key: Uint8Array;
  protected iv: Uint8Array;
  /** the sequence number of the next frame under the current key (REC-001) */
  protected seq: bigint;
  /** REC-005: the most frames one key may protect */
  readonly limit: bigint;

  constructor(aeadId: number, trafficSecret: Uint8Array, startSequence = 0n) {
    this.aead = getAead(aeadId);
    this.limit = RECORD_LIMIT[aeadId]!;
    this.secret = Uint8Array.from(trafficSecret);
    ({ key: this.key, iv: this.iv } = trafficKeys(this.secret));
    this.seq = startSequence;
  }

  get sequence(): bigint {
    return this.seq;
  }
  get aeadId(): number {
    return this.aead.id;
  }
  /** The current traffic secret (for tests and traces; treat as secret). */
  get trafficSecret(): Uint8Array {
    return this.secret;
  }

  /** POST-003, REC-002: switch to ExpandLabel(S, "traffic upd", "", 32) with the sequence number at 0. */
  update(): void {
    const next = nextTrafficSecret(this.secret);
    wipe(this.secret, this.key, this.iv);
    this.secret = next;
    ({ key: this.key, iv: this.iv } = trafficKeys(next));
    this.seq = 0n;
  }

  /** KS-003: erase the keys. */
  destroy(): void {
    wipe(this.secret, this.key, this.iv);
  }
}

/** The receiving side of one direction. */
export class RecordReceiver extends Direction {
  /**
   * Opens one protected frame (whole frame, header included) and returns its messages.
   * - WIRE-022/023 via decodeFrame (`decode_error`, `record_overflow` before any decryption);
   * - REC-006: a plaintext frame is the caller's business; here it is `unexpected_message`;
   * - REC-005: a frame whose count would exceed the key's limit is `limit_exceeded`;
   * - REC-001: any AEAD failure (including a fragment shorter than the tag) is `bad_record_mac`;
   * - REC-003, REC-007: the inner plaintext's messages and zero padding.
   */
  open(frame: Uint8Array): Message[] {
    const f = decodeFrame(frame);
    if (f.type !== FRAME_PROTECTED) fail('unexpected_message', 'plaintext frame where a protected one is expected', 'REC-006');
    return this.openFragment(f.fragment);
  }

  /** As `open`, for an already decoded protected fragment. */
  openFragment(fragment: Uint8Array): Message[] {
    if (this.seq >= this.limit) fail('limit_exceeded', 'record key usage limit reached', 'REC-005');
    const aad = frameHeader(FRAME_PROTECTED, fragment.length);
    const inner = fragment.length < TAG_LENGTH ? null : this.aead.open(this.key, xorNonce(this.iv, this.seq), fragment, aad);
    if (!inner) fail('bad_record_mac', 'record authentication failed', 'REC-001');
    this.seq++;
    return parseInnerPlaintext(inner);
  }
}

/** The sending side of one direction. */
export class RecordSender extends Direction {
  /** True when the next frame is the last the key may protect: the caller must update first (REC-005). */
  get mustUpdate(): boolean {
    return this.seq >= this.limit - 1n;
  }

  /**
   * Protects one frame holding `messages` (encoded, headers included) and `padding` zero bytes (REC-004).
   * REC-001: the sequence number increments after every frame and is never reused; REC-005: a sender never
   * exceeds the key's limit (`limit_exceeded`).
   */
  seal(messages: Uint8Array[], padding = 0): Uint8Array {
    if (messages.length === 0) throw new RangeError('a record holds at least one message (REC-003)');
    if (this.seq >= this.limit) fail('limit_exceeded', 'record key usage limit reached', 'REC-005');
    const inner = concat(...messages, new Uint8Array(padding));
    if (inner.length > LIMITS.MaxRecordPlaintext) fail('record_overflow', 'inner plaintext too long', 'REC-003');
    const fragmentLength = inner.length + TAG_LENGTH;
    const aad = frameHeader(FRAME_PROTECTED, fragmentLength);
    const ct = this.aead.seal(this.key, xorNonce(this.iv, this.seq), inner, aad);
    this.seq++;
    return concat(aad, ct);
  }
}
