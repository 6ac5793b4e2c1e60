/**
 * Wire encoding (spec §3): a strict reader and a writer for the RFC 8446-style notation, frames (§3.2)
 * and messages (§3.1), and the inner plaintext of protected records (REC-003, REC-007).
 *
 * Every decoding failure is a SealFeedError with the alert the rule names: `decode_error` for lengths,
 * truncation and trailing bytes (WIRE-001), `record_overflow` for oversized frames (WIRE-023),
 * `unexpected_message` for message types (WIRE-010, WIRE-020).
 */
import { fail } from './alert.js';
import { concat, readBigUint, u16, u24, u32, u64, u8 } from './bytes.js';
import { FRAME_PLAINTEXT, FRAME_PROTECTED, LIMITS, MSG } from './constants.js';

/**
 * A strict reader over one structure. Every read checks the bytes remaining *before* it copies
 * (WIRE-003); `end()` rejects trailing bytes (WIRE-001).
 */
export class Reader {
  private off = 0;
  constructor(
    private readonly buf: Uint8Array,
    /** the structure's name, for error messages */
    readonly what: string,
  ) {}

  get remaining(): number {
    return this.buf.length - this.off;
  }
  get offset(): number {
    return this.off;
  }

  private need(n: number): void {
    if (n > this.remaining) fail('decode_error', `${this.what}: truncated`, 'WIRE-001');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }
  u16(): number {
    this.need(2);
    const v = (this.buf[this.off]! << 8) | this.buf[this.off + 1]!;
    this.off += 2;
    return v;
  }
  u24(): number {
    this.need(3);
    const v = (this.buf[this.off]! << 16) | (this.buf[this.off + 1]! << 8) | this.buf[this.off + 2]!;
    this.off += 3;
    return v;
  }
  u32(): number {
    this.need(4);
    const v =
      this.buf[this.off]! * 0x1000000 + ((this.buf[this.off + 1]! << 16) | (this.buf[this.off + 2]! << 8) | this.buf[this.off + 3]!);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = readBigUint(this.buf.subarray(this.off, this.off + 8));
    this.off += 8;
    return v;
  }
  /** `opaque x[n]`: exactly n bytes (a copy). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }
  /** Everything that is left (a copy). */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
  /**
   * `opaque x<min..max>`: the prefix is a uint8, uint16, uint24 or uint32 as max requires (§3). A length
   * outside the range is `decode_error` (WIRE-001), checked before the bytes are read (WIRE-003).
   */
  vec(min: number, max: number): Uint8Array {
    const n = this.lengthPrefix(max);
    if (n < min || n > max) fail('decode_error', `${this.what}: length ${n} outside ${min}..${max}`, 'WIRE-001');
    return this.bytes(n);
  }
  /**
   * `T x<min..max>`: a list preceded by its count of items, prefix width by max (§3). Returns the
   * count after the range check; the caller reads the items.
   */
  count(min: number, max: number): number {
    const n = this.lengthPrefix(max);
    if (n < min || n > max) fail('decode_error', `${this.what}: count ${n} outside ${min}..${max}`, 'WIRE-001');
    return n;
  }
  private lengthPrefix(max: number): number {
    if (max <= 0xff) return this.u8();
    if (max <= 0xffff) return this.u16();
    if (max <= 0xffffff) return this.u24();
    return this.u32();
  }
  /** WIRE-001: no byte may be left over after the last field. */
  end(): void {
    if (this.remaining !== 0) fail('decode_error', `${this.what}: ${this.remaining} trailing bytes`, 'WIRE-001');
  }
}

/** A writer producing the canonical encoding (WIRE-002). */
export class Writer {
  private parts: Uint8Array[] = [];
  u8(v: number): this {
    this.parts.push(u8(v));
    return this;
  }
  u16(v: number): this {
    this.parts.push(u16(v));
    return this;
  }
  u24(v: number): this {
    this.parts.push(u24(v));
    return this;
  }
  u32(v: number): this {
    this.parts.push(u32(v));
    return this;
  }
  u64(v: bigint): this {
    this.parts.push(u64(v));
    return this;
  }
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  /** `opaque x<min..max>` with the prefix width max requires; refuses out-of-range lengths. */
  vec(b: Uint8Array, min: number, max: number): this {
    if (b.length < min || b.length > max) throw new RangeError(`length ${b.length} outside ${min}..${max}`);
    this.prefix(b.length, max);
    this.parts.push(b);
    return this;
  }
  /** The count prefix of a list `T x<min..max>`; the caller writes the items. */
  count(n: number, min: number, max: number): this {
    if (n < min || n > max) throw new RangeError(`count ${n} outside ${min}..${max}`);
    this.prefix(n, max);
    return this;
  }
  private prefix(n: number, max: number): void {
    if (max <= 0xff) this.u8(n);
    else if (max <= 0xffff) this.u16(n);
    else if (max <= 0xffffff) this.u24(n);
    else this.u32(n);
  }
  finish(): Uint8Array {
    return concat(...this.parts);
  }
}

// ---------------------------------------------------------------------------------------------
// Frames (§3.2)

export interface Frame {
  /** FRAME_PLAINTEXT (0x16) or FRAME_PROTECTED (0x17) */
  type: number;
  fragment: Uint8Array;
}

/** The largest fragment a frame type allows (WIRE-023). */
function maxFragment(type: number): number {
  return type === FRAME_PLAINTEXT ? LIMITS.MaxPlaintextFrame : LIMITS.MaxRecordPlaintext + 16;
}

/**
 * Decodes one frame. WIRE-022: type 0x16 or 0x17 (else `decode_error`), `length` ≥ 1 and equal to the
 * bytes that follow (`decode_error`); WIRE-023: an oversized fragment is `record_overflow`, decided from
 * the header alone, before the fragment is read or decrypted.
 */
export function decodeFrame(buf: Uint8Array): Frame {
  const r = new Reader(buf, 'Frame');
  const type = r.u8();
  if (type !== FRAME_PLAINTEXT && type !== FRAME_PROTECTED) fail('decode_error', `unknown frame type ${type}`, 'WIRE-022');
  const length = r.u24();
  if (length === 0) fail('decode_error', 'empty frame', 'WIRE-022');
  if (length > maxFragment(type)) fail('record_overflow', `frame fragment of ${length} bytes`, 'WIRE-023');
  if (length !== r.remaining) fail('decode_error', 'frame length does not match its fragment', 'WIRE-022');
  return { type, fragment: r.rest() };
}

/** The 4-byte frame header: the AEAD's additional data for protected frames (WIRE-021). */
export function frameHeader(type: number, length: number): Uint8Array {
  return concat(u8(type), u24(length));
}

export function encodeFrame(f: Frame): Uint8Array {
  if (f.fragment.length < 1 || f.fragment.length > maxFragment(f.type)) throw new RangeError('frame fragment size');
  return concat(frameHeader(f.type, f.fragment.length), f.fragment);
}

// ---------------------------------------------------------------------------------------------
// Messages (§3.1)

export interface Message {
  type: number;
  body: Uint8Array;
  /** the whole encoded Message, header included: the transcript's unit (§6.1) */
  raw: Uint8Array;
}

export function encodeMessage(type: number, body: Uint8Array): Uint8Array {
  if (body.length > 0xffffff) throw new RangeError('message body too long');
  return concat(u8(type), u24(body.length), body);
}

/** A Message from its encoding, which must be exactly one message. */
export function messageFromRaw(raw: Uint8Array): Message {
  const r = new Reader(raw, 'Message');
  const type = r.u8();
  const body = r.vec(0, 0xffffff);
  r.end();
  return { type, body, raw };
}

/** Plaintext frames carry exactly one ClientHello, ServerHello or Alert (WIRE-020). */
const PLAINTEXT_TYPES = new Set<number>([MSG.ClientHello, MSG.ServerHello, MSG.Alert]);

/**
 * Decodes a frame that must be plaintext and its one Message: a protected frame where a plaintext one is
 * expected is `unexpected_message` (REC-006); a message type other than ClientHello, ServerHello and Alert,
 * including undefined types and the reserved 0, is `unexpected_message` (WIRE-010, WIRE-020); the message
 * must fill the fragment exactly: plaintext frames carry no padding and no second message (WIRE-001).
 */
export function decodePlaintextFrame(buf: Uint8Array): Message {
  const f = decodeFrame(buf);
  if (f.type !== FRAME_PLAINTEXT) fail('unexpected_message', 'protected frame before keys exist', 'REC-006');
  return parsePlaintextFragment(f.fragment);
}

/** The one Message of a plaintext fragment (see decodePlaintextFrame). */
export function parsePlaintextFragment(fragment: Uint8Array): Message {
  const r = new Reader(fragment, 'plaintext frame');
  const type = r.u8();
  const length = r.u24();
  if (!PLAINTEXT_TYPES.has(type)) fail('unexpected_message', `message type ${type} in a plaintext frame`, 'WIRE-020');
  if (length !== r.remaining) fail('decode_error', 'message length does not match the plaintext frame', 'WIRE-020');
  const body = r.rest();
  return { type, body, raw: fragment.slice() };
}

/**
 * Parses the inner plaintext of a protected record (REC-003, REC-007): messages until the end or until a
 * 0x00 byte where a message type is expected; everything from there must be zero (`decode_error`); at
 * least one message (`decode_error`); at most MaxRecordPlaintext bytes (`record_overflow`).
 */
export function parseInnerPlaintext(inner: Uint8Array): Message[] {
  if (inner.length > LIMITS.MaxRecordPlaintext) fail('record_overflow', 'inner plaintext too long', 'REC-003');
  const msgs: Message[] = [];
  let off = 0;
  while (off < inner.length && inner[off] !== 0) {
    if (inner.length - off < 4) fail('decode_error', 'truncated message header in record', 'WIRE-001');
    const type = inner[off]!;
    const len = (inner[off + 1]! << 16) | (inner[off + 2]! << 8) | inner[off + 3]!;
    if (len > inner.length - off - 4) fail('decode_error', 'message longer than its record', 'WIRE-001');
    const raw = inner.slice(off, off + 4 + len);
    msgs.push({ type, body: raw.subarray(4), raw });
    off += 4 + len;
  }
  for (let i = off; i < inner.length; i++) {
    if (inner[i] !== 0) fail('decode_error', 'non-zero byte in record padding', 'REC-003');
  }
  if (msgs.length === 0) fail('decode_error', 'record without a message', 'REC-003');
  return msgs;
}
