/**
 * Handshake messages (spec §6.1) and post-handshake messages (§9): strict decoders and canonical encoders.
 * Bodies only; the 4-byte Message header is added by `encodeMessage` (wire.ts).
 */
import { fail } from './alert.js';
import { EXT_NEXT_SERVER_KEY, EXT_PSK_ACCEPTED, IDENTITY_CREDENTIAL, IDENTITY_RAW_KEY, LIMITS } from './constants.js';
import { checkAscending, checkExtensions, type Extension, readExtensions, writeExtensions } from './extensions.js';
import { Reader, Writer } from './wire.js';

const NONE: ReadonlySet<number> = new Set();

// ---------------------------------------------------------------------------------------------
// ClientHello (msg_type 0x01)

export interface KeyShare {
  group: number;
  keyExchange: Uint8Array;
}

export interface ClientHello {
  random: Uint8Array;
  versions: number[];
  keyShares: KeyShare[];
  aeads: number[];
  extensions: Extension[];
}

function readKeyShare(r: Reader): KeyShare {
  const group = r.u16();
  const keyExchange = r.vec(1, 0xffff);
  return { group, keyExchange };
}

function writeKeyShare(w: Writer, ks: KeyShare): void {
  w.u16(ks.group).vec(ks.keyExchange, 1, 0xffff);
}

function noDuplicates(values: number[], what: string): void {
  if (new Set(values).size !== values.length) fail('illegal_parameter', `duplicate ${what}`, 'HS-002');
}

/**
 * Decodes a ClientHello body: strict layout (WIRE-001), then no duplicate version, group or AEAD (HS-002)
 * and strictly ascending extensions (HS-004), all `illegal_parameter`. Share lengths of known groups and
 * critical extensions are the server's checks (HS-003, HS-012).
 */
export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body, 'ClientHello');
  const random = r.bytes(32);
  const nv = r.count(1, 16);
  const versions: number[] = [];
  for (let i = 0; i < nv; i++) versions.push(r.u16());
  const nk = r.count(1, 4);
  const keyShares: KeyShare[] = [];
  for (let i = 0; i < nk; i++) keyShares.push(readKeyShare(r));
  const na = r.count(1, 16);
  const aeads: number[] = [];
  for (let i = 0; i < na; i++) aeads.push(r.u16());
  const extensions = readExtensions(r);
  r.end();
  noDuplicates(versions, 'version');
  noDuplicates(
    keyShares.map((k) => k.group),
    'key share group',
  );
  noDuplicates(aeads, 'AEAD');
  checkAscending(extensions);
  return { random, versions, keyShares, aeads, extensions };
}

export function encodeClientHello(ch: ClientHello): Uint8Array {
  const w = new Writer().bytes(ch.random);
  w.count(ch.versions.length, 1, 16);
  for (const v of ch.versions) w.u16(v);
  w.count(ch.keyShares.length, 1, 4);
  for (const ks of ch.keyShares) writeKeyShare(w, ks);
  w.count(ch.aeads.length, 1, 16);
  for (const a of ch.aeads) w.u16(a);
  writeExtensions(w, ch.extensions);
  return w.finish();
}


// ---------------------------------------------------------------------------------------------
// ServerHello (msg_type 0x02)

export interface ServerHello {
  random: Uint8Array;
  version: number;
  aead: number;
  keyShare: KeyShare;
  extensions: Extension[];
}

/**
 * Decodes a ServerHello body strictly (WIRE-001, WIRE-011) with strictly ascending extensions (WIRE-002).
 * What the client offered is checked by the handshake (HS-014, HS-015).
 */
export function decodeServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body, 'ServerHello');
  const random = r.bytes(32);
  const version = r.u16();
  const aead = r.u16();
  const keyShare = readKeyShare(r);
  const extensions = readExtensions(r);
  r.end();
  checkAscending(extensions);
  return { random, version, aead, keyShare, extensions };
}

export function encodeServerHello(sh: ServerHello): Uint8Array {
  const w = new Writer().bytes(sh.random).u16(sh.version).u16(sh.aead);
  writeKeyShare(w, sh.keyShare);
  writeExtensions(w, sh.extensions);
  return w.finish();
}

/** The extensions a ServerHello may carry (registries.md §Extensions). */
export const SERVER_HELLO_EXTENSIONS: ReadonlySet<number> = new Set([EXT_PSK_ACCEPTED]);

// ---------------------------------------------------------------------------------------------
// ServerIdentity (msg_type 0x03)

export type ServerIdentity =
  | { identityType: typeof IDENTITY_RAW_KEY; publicKey: Uint8Array; extensions: Extension[] }
  | {
      identityType: typeof IDENTITY_CREDENTIAL;
      credential: Uint8Array;
      revocationList: Uint8Array;
      extensions: Extension[];
    };

/** The extensions a ServerIdentity of type raw_key may carry (HS-070); one of type credential carries none. */
export const RAW_KEY_IDENTITY_EXTENSIONS: ReadonlySet<number> = new Set([EXT_NEXT_SERVER_KEY]);

/**
 * Decodes a ServerIdentity body: an undefined `identity_type` is `decode_error` (WIRE-004); credential<1..65535>
 * and revocation_list<1..2^24-1> (WIRE-001, CRED-015); v1 defines one ServerIdentity extension,
 * `next_server_key`, for type raw_key only (HS-070): it is `decode_error` unless 32 bytes, any other known
 * one is `illegal_parameter`, an unknown critical one `unknown_critical_extension` (EXT-002, EXT-005).
 * The credential and list are decoded by their own decoders (credential.ts).
 */
export function decodeServerIdentity(body: Uint8Array): ServerIdentity {
  const r = new Reader(body, 'ServerIdentity');
  const t = r.u8();
  let out: ServerIdentity;
  if (t === IDENTITY_RAW_KEY) {
    const publicKey = r.bytes(32);
    out = { identityType: IDENTITY_RAW_KEY, publicKey, extensions: [] };
  } else if (t === IDENTITY_CREDENTIAL) {
    const credential = r.vec(1, 0xffff);
    const revocationList = r.vec(1, 0xffffff);
    out = { identityType: IDENTITY_CREDENTIAL, credential, revocationList, extensions: [] };
  } else {
    fail('decode_error', `identity_type ${t}`, 'WIRE-004');
  }
  out.extensions = readExtensions(r);
  r.end();
  checkAscending(out.extensions);
  checkExtensions(out.extensions, out.identityType === IDENTITY_RAW_KEY ? RAW_KEY_IDENTITY_EXTENSIONS : NONE);
  return out;
}

export function encodeServerIdentity(si: ServerIdentity): Uint8Array {
  const w = new Writer().u8(si.identityType);
  if (si.identityType === IDENTITY_RAW_KEY) w.bytes(si.publicKey);
  else w.vec(si.credential, 1, 0xffff).vec(si.revocationList, 1, 0xffffff);
  writeExtensions(w, si.extensions);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Fixed-size handshake messages

/** Decodes a body that is exactly `n` bytes (ServerVerify 64, Finished 32, ClientIdentity 32, ClientVerify 64). */
export function decodeFixed(body: Uint8Array, n: number, what: string): Uint8Array {
  const r = new Reader(body, what);
  const v = r.bytes(n);
  r.end();
  return v;
}

// ---------------------------------------------------------------------------------------------
// Welcome (msg_type 0x10)

export interface Welcome {
  clientId: Uint8Array;
  resumed: boolean;
  maxPayload: number;
  maxRecord: number;
  idleTimeoutMs: number;
  ticket: Uint8Array;
  ticketLifetime: number;
  /** POST-010: the epoch of the server's store; a client refuses one it has left (REPLAY-020) */
  storeEpoch: Uint8Array;
  extensions: Extension[];
}

/**
 * Decodes a Welcome body strictly (WIRE-001), then POST-002: undefined flag bits, `max_record` above
 * MaxRecordPlaintext, `ticket` and `ticket_lifetime` disagreeing (lifetime 0 iff no ticket), or a lifetime
 * above MaxTicketLifetime are `illegal_parameter`; v1 defines no Welcome extension (EXT-002, EXT-005).
 */
export function decodeWelcome(body: Uint8Array): Welcome {
  const r = new Reader(body, 'Welcome');
  const clientId = r.bytes(32);
  const flags = r.u8();
  const maxPayload = r.u32();
  const maxRecord = r.u32();
  const idleTimeoutMs = r.u32();
  const ticket = r.vec(0, 0xffff);
  const ticketLifetime = r.u32();
  const storeEpoch = r.bytes(16);
  const extensions = readExtensions(r);
  r.end();
  if ((flags & ~0x01) !== 0) fail('illegal_parameter', 'undefined Welcome flags', 'POST-002');
  if (maxRecord > LIMITS.MaxRecordPlaintext) fail('illegal_parameter', 'max_record above MaxRecordPlaintext', 'POST-002');
  if (maxPayload > LIMITS.MaxPayload) fail('illegal_parameter', 'max_payload above MaxPayload', 'POST-002');
  if ((ticket.length === 0) !== (ticketLifetime === 0)) fail('illegal_parameter', 'ticket and ticket_lifetime disagree', 'POST-002');
  if (ticketLifetime > LIMITS.MaxTicketLifetime) fail('illegal_parameter', 'ticket_lifetime above MaxTicketLifetime', 'POST-002');
  checkAscending(extensions);
  checkExtensions(extensions, NONE);
  return { clientId, resumed: (flags & 1) === 1, maxPayload, maxRecord, idleTimeoutMs, ticket, ticketLifetime, storeEpoch, extensions };
}

export function encodeWelcome(wm: Welcome): Uint8Array {
  const w = new Writer()
    .bytes(wm.clientId)
    .u8(wm.resumed ? 1 : 0)
    .u32(wm.maxPayload)
    .u32(wm.maxRecord)
    .u32(wm.idleTimeoutMs)
    .vec(wm.ticket, 0, 0xffff)
    .u32(wm.ticketLifetime)
    .bytes(wm.storeEpoch);
  if (wm.storeEpoch.length !== 16) throw new RangeError('store_epoch must be 16 bytes');
  writeExtensions(w, wm.extensions);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// KeyUpdate (0x11), Ack (0x13), Heartbeat (0x14), Alert (0x15)

/** POST-003: `request_update` is 0 or 1 (`illegal_parameter`); the body is exactly one byte (WIRE-011). */
export function decodeKeyUpdate(body: Uint8Array): boolean {
  const r = new Reader(body, 'KeyUpdate');
  const v = r.u8();
  r.end();
  if (v > 1) fail('illegal_parameter', `request_update ${v}`, 'POST-003');
  return v === 1;
}

export function encodeKeyUpdate(requestUpdate: boolean): Uint8Array {
  return Uint8Array.of(requestUpdate ? 1 : 0);
}

/** Ack: `uint64 message_ids<1..4096>` (WIRE-001), strictly ascending and non-zero (POST-005). */
export function decodeAck(body: Uint8Array): bigint[] {
  const r = new Reader(body, 'Ack');
  const n = r.count(1, 4096);
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) ids.push(r.u64());
  r.end();
  let prev = 0n;
  for (const id of ids) {
    if (id === 0n) fail('illegal_parameter', 'message ID 0 in Ack', 'POST-005');
    if (id <= prev) fail('illegal_parameter', 'Ack IDs not strictly ascending', 'POST-005');
    prev = id;
  }
  return ids;
}

/** The largest number of IDs one Ack holds (§9). */
export const MAX_ACK_IDS = 4096;

export function encodeAck(ids: bigint[]): Uint8Array {
  const w = new Writer().count(ids.length, 1, MAX_ACK_IDS);
  let prev = 0n;
  for (const id of ids) {
    if (id <= prev) throw new RangeError('Ack IDs must be strictly ascending and non-zero (POST-005)');
    w.u64(id);
    prev = id;
  }
  return w.finish();
}

/** POST-020: `reply_requested` is 0 or 1 (`illegal_parameter`); the body is exactly one byte (WIRE-011). */
export function decodeHeartbeat(body: Uint8Array): boolean {
  const r = new Reader(body, 'Heartbeat');
  const v = r.u8();
  r.end();
  if (v > 1) fail('illegal_parameter', `reply_requested ${v}`, 'POST-020');
  return v === 1;
}

export function encodeHeartbeat(replyRequested: boolean): Uint8Array {
  return Uint8Array.of(replyRequested ? 1 : 0);
}

/** Alert body: one byte. Any code decodes; an unknown one is read as internal_error (POST-006, alert.ts). */
export function decodeAlert(body: Uint8Array): number {
  const r = new Reader(body, 'Alert');
  const code = r.u8();
  r.end();
  return code;
}

export function encodeAlert(code: number): Uint8Array {
  return Uint8Array.of(code);
}
