/**
 * End-to-end sealed payloads (spec/sealed.md): an application-level envelope inside a message payload,
 * encrypted by the publisher with HPKE (RFC 9180, base mode) to the client's sealing key and signed with
 * the publisher's Ed25519 key, so the push server holds only ciphertext it cannot read or forge.
 *
 * HPKE is the @hpke packages' (pinned in package.json): @hpke/core with @hpke/hybridkem-x-wing
 * (MLKEM768-X25519, the default suite), @hpke/dhkem-x25519 and @hpke/chacha20poly1305; nothing of HPKE is
 * implemented here. Every rejection is a `SealedError` whose `code` is a name of the registry of
 * spec/sealed.md §7 (application errors, not protocol alerts). HPKE is asynchronous (WebCrypto), so are
 * verifySealKeyRecord, sealPayload and SealedOpener.open.
 */
import { Aes128Gcm, CipherSuite, HkdfSha256 } from '@hpke/core';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';
import { XWing } from '@hpke/hybridkem-x-wing';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, ctEqual, u16, u32, u64, u8, utf8 } from './bytes.js';
import { publicKeyOf, sign, validatePublicKey, verify, type ValidatedKey } from './ed25519.js';
import { clientIdOf, keyId } from './keyschedule.js';
import type { PayloadOpener } from './client.js';

/** Labels of spec/sealed.md §3. */
export const SEAL_LABELS = {
  record: 'sealfeed v1 seal key record',
  recordId: 'sealfeed v1 seal key record id',
  info: 'sealfeed v1 sealed payload',
  signature: 'sealfeed v1 sealed payload signature',
} as const;

export const KEM_X25519 = 0x0020;
export const KEM_MLKEM768_X25519 = 0x647a;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES128GCM = 0x0001;
export const AEAD_CHACHA20POLY1305 = 0x0003;
/** The protocol's largest payload (§15), the largest envelope (SEAL-011). */
export const MAX_ENVELOPE = 65536;
export const SEAL_CLOCK_SKEW = 60n;
export const MAX_SEAL_KEY_LIFETIME = 400n * 86400n;

export interface SealSuite {
  kem: number;
  kdf: number;
  aead: number;
}
/** The default suite (SEAL-001): MLKEM768-X25519, HKDF-SHA256, ChaCha20Poly1305. */
export const SUITE_HYBRID: SealSuite = { kem: KEM_MLKEM768_X25519, kdf: KDF_HKDF_SHA256, aead: AEAD_CHACHA20POLY1305 };
export const SUITE_X25519: SealSuite = { kem: KEM_X25519, kdf: KDF_HKDF_SHA256, aead: AEAD_CHACHA20POLY1305 };

export type SealedErrorCode =
  | 'decode_error'
  | 'unsupported_version'
  | 'unsupported_suite'
  | 'bad_key'
  | 'bad_record_signature'
  | 'record_identity_mismatch'
  | 'bad_validity_period'
  | 'record_expired'
  | 'wrong_recipient'
  | 'suite_mismatch'
  | 'untrusted_publisher'
  | 'open_failed'
  | 'bad_publisher_signature'
  | 'too_large';

/** A rejection of spec/sealed.md, with its registry code (§7). Messages carry no key or payload bytes. */
export class SealedError extends Error {
  constructor(
    readonly code: SealedErrorCode,
    message: string,
  ) {
    super(`sealed: ${code}: ${message}`);
    this.name = 'SealedError';
  }
}

function fail(code: SealedErrorCode, message: string): never {
  throw new SealedError(code, message);
}

const SIG = 64;
const TAG = 16;
const ID = 32;
const HEADER = 4 + 2 + 6 + ID + ID;

/** [Npk, Nenc] of a suite of SEAL-001, or undefined. */
function sizes(s: SealSuite): [number, number] | undefined {
  if (s.kdf !== KDF_HKDF_SHA256 || (s.aead !== AEAD_CHACHA20POLY1305 && s.aead !== AEAD_AES128GCM)) return undefined;
  if (s.kem === KEM_X25519) return [32, 32];
  if (s.kem === KEM_MLKEM768_X25519) return [1216, 1120];
  return undefined;
}

function cipherSuite(s: SealSuite): CipherSuite {
  return new CipherSuite({
    kem: s.kem === KEM_MLKEM768_X25519 ? new XWing() : new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: s.aead === AEAD_CHACHA20POLY1305 ? new Chacha20Poly1305() : new Aes128Gcm(),
  });
}

function sameSuite(a: SealSuite, b: SealSuite): boolean {
  return a.kem === b.kem && a.kdf === b.kdf && a.aead === b.aead;
}

class Reader {
  ok = true;
  constructor(public b: Uint8Array) {}
  bytes(n: number): Uint8Array {
    if (!this.ok || n < 0 || this.b.length < n) {
      this.ok = false;
      return new Uint8Array(0);
    }
    const v = this.b.subarray(0, n);
    this.b = this.b.subarray(n);
    return v;
  }
  num(n: 2 | 4): number {
    const v = this.bytes(n);
    return this.ok ? v.reduce((a, x) => a * 256 + x, 0) : 0;
  }
  u64(): bigint {
    const v = this.bytes(8);
    return this.ok ? v.reduce((a, x) => (a << 8n) | BigInt(x), 0n) : 0n;
  }
}

/** Magic, version and suite in the order of SEAL-003 / SEAL-011. */
function readHead(r: Reader, magic: string, what: string): SealSuite {
  const m = r.bytes(4);
  if (!r.ok || new TextDecoder().decode(m) !== magic) fail('decode_error', `not a ${what}`);
  const v = r.num(2);
  if (!r.ok) fail('decode_error', `truncated ${what}`);
  if (v !== 1) fail('unsupported_version', `unknown ${what} version`);
  const s = { kem: r.num(2), kdf: r.num(2), aead: r.num(2) };
  if (!r.ok) fail('decode_error', `truncated ${what}`);
  if (!sizes(s)) fail('unsupported_suite', 'unsupported HPKE suite');
  return s;
}

function head(magic: string, s: SealSuite): Uint8Array {
  return concat(utf8(magic), u16(1), u16(s.kem), u16(s.kdf), u16(s.aead));
}

/** A decoded seal key record (SEAL-002). */
export interface SealKeyRecord {
  suite: SealSuite;
  identityKey: Uint8Array;
  publicKey: Uint8Array;
  notBefore: bigint;
  notAfter: bigint;
  signature: Uint8Array;
  raw: Uint8Array;
  /** SEAL-009: the recipient_id of envelopes sealed to it. */
  id: Uint8Array;
}

/** A record that passed verifySealKeyRecord: the only kind sealPayload seals to. */
export interface VerifiedSealKeyRecord extends SealKeyRecord {
  readonly verified: true;
}

/** SEAL-009: LabelledHash("sealfeed v1 seal key record id", record). */
export function sealRecordId(raw: Uint8Array): Uint8Array {
  return sha256(concat(utf8(SEAL_LABELS.recordId), u8(0), raw));
}

/**
 * Strict decoding (SEAL-003), including that the identity key passes SIG-001 and the KEM deserializes the
 * public key (bad_key). Checks neither the signature nor the time.
 */
export async function parseSealKeyRecord(b: Uint8Array): Promise<SealKeyRecord> {
  const r = new Reader(b);
  const suite = readHead(r, 'SFSK', 'seal key record');
  const [npk] = sizes(suite)!;
  const identityKey = r.bytes(32).slice();
  const publicKey = r.bytes(r.num(2)).slice();
  const notBefore = r.u64();
  const notAfter = r.u64();
  const signature = r.bytes(SIG).slice();
  if (!r.ok || r.b.length !== 0 || publicKey.length !== npk) fail('decode_error', 'seal key record: wrong length or trailing bytes');
  identityOf(identityKey);
  try {
    await cipherSuite(suite).kem.deserializePublicKey(publicKey);
  } catch {
    fail('bad_key', 'seal key record: HPKE public key rejected by the KEM');
  }
  const raw = b.slice();
  return { suite, identityKey, publicKey, notBefore, notAfter, signature, raw, id: sealRecordId(raw) };
}

function identityOf(k: Uint8Array): ValidatedKey {
  try {
    return validatePublicKey(k);
  } catch {
    fail('bad_key', 'seal key record: identity key is not a valid Ed25519 key');
  }
}

function checkRecordSignature(k: SealKeyRecord): void {
  try {
    verify(identityOf(k.identityKey), SEAL_LABELS.record, k.raw.subarray(0, k.raw.length - SIG), k.signature);
  } catch (e) {
    if (e instanceof SealedError) throw e;
    fail('bad_record_signature', 'seal key record signature does not verify');
  }
}

/**
 * A publisher's check of a record (SEAL-006), in order: decoding, the signature under the record's own
 * identity key (SEAL-004), that the identity key is `identity` (or, given `{ clientId }`, derives it,
 * ID-001), the validity period (SEAL-005), the time (SEAL-007, `now` in Unix seconds).
 */
export async function verifySealKeyRecord(
  raw: Uint8Array,
  expected: { identityKey: Uint8Array } | { clientId: Uint8Array },
  now: bigint,
): Promise<VerifiedSealKeyRecord> {
  const k = await parseSealKeyRecord(raw);
  checkRecordSignature(k);
  const ok = 'identityKey' in expected
    ? expected.identityKey.length === 32 && ctEqual(expected.identityKey, k.identityKey)
    : ctEqual(expected.clientId, clientIdOf(k.identityKey));
  if (!ok) fail('record_identity_mismatch', 'seal key record of another identity key');
  if (!(k.notBefore < k.notAfter && k.notAfter - k.notBefore <= MAX_SEAL_KEY_LIFETIME)) {
    fail('bad_validity_period', 'seal key record validity period empty or too long');
  }
  if (now + SEAL_CLOCK_SKEW < k.notBefore || now - SEAL_CLOCK_SKEW > k.notAfter) {
    fail('record_expired', 'seal key record outside its validity period');
  }
  return { ...k, verified: true };
}

/** A client's sealing key: the serialized HPKE private key (RFC 9180 §7.1.2) and its record. */
export interface SealKey {
  privateKey: Uint8Array;
  record: SealKeyRecord;
}

/**
 * Makes a sealing key for a client (SEAL-008) and its record signed by the identity key (its 32-byte
 * Ed25519 seed), valid from `notBefore` (Unix seconds) for `lifetime` seconds.
 */
export async function generateSealKey(
  identitySeed: Uint8Array,
  suite: SealSuite = SUITE_HYBRID,
  notBefore: bigint = BigInt(Math.floor(Date.now() / 1000)),
  lifetime: bigint = 90n * 86400n,
): Promise<SealKey> {
  if (!sizes(suite)) fail('unsupported_suite', 'unsupported HPKE suite');
  if (lifetime < 1n || lifetime > MAX_SEAL_KEY_LIFETIME) fail('bad_validity_period', 'lifetime must be 1 s to 400 days');
  const cs = cipherSuite(suite);
  const kp = await cs.kem.generateKeyPair();
  const privateKey = new Uint8Array(await cs.kem.serializePrivateKey(kp.privateKey));
  const publicKey = new Uint8Array(await cs.kem.serializePublicKey(kp.publicKey));
  const tbs = concat(head('SFSK', suite), publicKeyOf(identitySeed), u16(publicKey.length), publicKey, u64(notBefore), u64(notBefore + lifetime));
  const record = await parseSealKeyRecord(concat(tbs, sign(identitySeed, SEAL_LABELS.record, tbs)));
  return { privateKey, record };
}

/**
 * Pairs a serialized private key with its record for a SealedOpener: the record decodes, its signature
 * verifies under its own identity key (SEAL-004) and it names this private key's public key. The validity
 * period is not checked (SEAL-025).
 */
export async function sealKeyFrom(privateKey: Uint8Array, rawRecord: Uint8Array): Promise<SealKey> {
  const record = await parseSealKeyRecord(rawRecord);
  checkRecordSignature(record);
  // The KEM interface has no public-from-private: a probe sealed to the record's key must open.
  const cs = cipherSuite(record.suite);
  let matches = false;
  try {
    const probe = utf8('sealfeed seal key probe');
    const sender = await cs.createSenderContext({ recipientPublicKey: await cs.kem.deserializePublicKey(record.publicKey) });
    const ct = await sender.seal(probe);
    const rcp = await cs.createRecipientContext({ recipientKey: await cs.kem.deserializePrivateKey(privateKey), enc: sender.enc });
    matches = ctEqual(new Uint8Array(await rcp.open(ct)), probe);
  } catch {
    matches = false;
  }
  if (!matches) fail('bad_key', "sealing private key malformed or not the record's");
  return { privateKey: privateKey.slice(), record };
}

function envelopeHeader(s: SealSuite, recipient: Uint8Array, publisher: Uint8Array): Uint8Array {
  return concat(head('SFSE', s), recipient, publisher);
}

/** SEAL-013: info = label ‖ 0x00 ‖ header. */
function infoOf(header: Uint8Array): Uint8Array {
  return concat(utf8(SEAL_LABELS.info), u8(0), header);
}

/** Bytes an envelope of suite s adds to its payload (SEAL-012). */
export function sealOverhead(s: SealSuite): number {
  return HEADER + 2 + sizes(s)![1] + TAG + 8 + 4 + SIG;
}

/** Payload bytes start with the envelope magic (SEAL-030). */
export function isSealedEnvelope(payload: Uint8Array): boolean {
  return payload.length >= 4 && payload[0] === 0x53 && payload[1] === 0x46 && payload[2] === 0x53 && payload[3] === 0x45;
}

/**
 * A publisher's Seal (SEAL-010 … SEAL-016): payload encrypted to a verified record and signed by the
 * publisher key (its 32-byte Ed25519 seed); `sealedAt` in Unix seconds (default now).
 */
export async function sealPayload(
  record: VerifiedSealKeyRecord,
  publisherSeed: Uint8Array,
  payload: Uint8Array,
  sealedAt: bigint = BigInt(Math.floor(Date.now() / 1000)),
): Promise<Uint8Array> {
  if (record.verified !== true) fail('bad_record_signature', 'record not verified: obtain it from verifySealKeyRecord');
  if (payload.length > MAX_ENVELOPE - sealOverhead(record.suite)) fail('too_large', 'payload too large for a sealed envelope');
  const header = envelopeHeader(record.suite, record.id, keyId(publicKeyOf(publisherSeed)));
  const signed = concat(u64(sealedAt), u32(payload.length), payload);
  const inner = concat(signed, sign(publisherSeed, SEAL_LABELS.signature, concat(header, signed)));
  const cs = cipherSuite(record.suite);
  const recipientPublicKey = await cs.kem.deserializePublicKey(record.publicKey);
  const ctx = await cs.createSenderContext({ recipientPublicKey, info: infoOf(header) });
  const ct = new Uint8Array(await ctx.seal(inner));
  const enc = new Uint8Array(ctx.enc);
  return concat(header, u16(enc.length), enc, ct);
}

/** An opened envelope. */
export interface OpenedSealed {
  payload: Uint8Array;
  /** KeyID of the publisher key that signed it (SEAL-032). */
  publisherKeyId: Uint8Array;
  /** The time the publisher states, Unix seconds (SEAL-016); not checked (SEAL-025). */
  sealedAt: bigint;
  recipientId: Uint8Array;
}

/**
 * Opens envelopes for one client (SEAL-020); the `sealing` option of SealFeedClient and ReconnectingClient takes
 * one, and then opens each envelope before it hands the message over (SEAL-030 … SEAL-032).
 */
export class SealedOpener implements PayloadOpener {
  private readonly publishers: { id: Uint8Array; key: ValidatedKey }[];

  /**
   * @param keys the client's sealing keys, current and recent (records are checked for their signature,
   *   SEAL-004, when opening; their validity period is not, SEAL-025)
   * @param publisherKeys the Ed25519 publisher keys whose envelopes are trusted (SEAL-022), never taken
   *   from the push server
   */
  constructor(
    private readonly keys: SealKey[],
    publisherKeys: Uint8Array[],
  ) {
    for (const k of keys) checkRecordSignature(k.record);
    this.publishers = publisherKeys.map((k) => ({ id: keyId(k), key: validatePublicKey(k) }));
  }

  /** The checks of SEAL-020 in order; the first failure is thrown as a SealedError. */
  async open(env: Uint8Array): Promise<OpenedSealed> {
    if (env.length > MAX_ENVELOPE) fail('decode_error', 'sealed envelope longer than the largest payload');
    const r = new Reader(env);
    const suite = readHead(r, 'SFSE', 'sealed envelope');
    const nenc = sizes(suite)![1];
    const recipient = r.bytes(ID);
    const publisher = r.bytes(ID);
    const enc = r.bytes(r.num(2));
    const ct = r.b;
    if (!r.ok || enc.length !== nenc || ct.length < TAG + 8 + 4 + SIG) fail('decode_error', 'sealed envelope: wrong length');
    const header = env.subarray(0, HEADER);
    const key = this.keys.find((k) => ctEqual(k.record.id, recipient));
    if (!key) fail('wrong_recipient', 'sealed to a key this client does not hold');
    if (!sameSuite(key.record.suite, suite)) fail('suite_mismatch', 'envelope suite differs from its record\'s');
    const pub = this.publishers.find((p) => ctEqual(p.id, publisher));
    if (!pub) fail('untrusted_publisher', 'sealed by a publisher key this client does not trust');
    let inner: Uint8Array;
    try {
      const cs = cipherSuite(suite);
      const recipientKey = await cs.kem.deserializePrivateKey(key.privateKey);
      const ctx = await cs.createRecipientContext({ recipientKey, enc, info: infoOf(header) });
      inner = new Uint8Array(await ctx.open(ct));
    } catch {
      fail('open_failed', 'HPKE decryption failed');
    }
    const ir = new Reader(inner);
    const sealedAt = ir.u64();
    const payload = ir.bytes(ir.num(4)).slice();
    const sig = ir.bytes(SIG);
    if (!ir.ok || ir.b.length !== 0 || sealedAt > (1n << 63n) - 1n) {
      fail('decode_error', 'sealed plaintext: wrong length, trailing bytes or time out of range');
    }
    try {
      verify(pub.key, SEAL_LABELS.signature, concat(header, inner.subarray(0, inner.length - SIG)), sig);
    } catch {
      fail('bad_publisher_signature', 'publisher signature does not verify');
    }
    return { payload, publisherKeyId: publisher.slice(), sealedAt, recipientId: recipient.slice() };
  }
}
