/**
 * Batch envelopes (spec §10): the structures of §10.1, sealing parameters of §10.2 and the client's opening
 * of a BatchDelivery (§10.5) in the order of BATCH-016, with the replay decisions of §11.
 */
import { fail } from './alert.js';
import { concat, ctEqual, u16, u32, u64, u8, xorNonce } from './bytes.js';
import { AEAD_CHACHA20_POLY1305, ENTRY_BROADCAST_REF, ENTRY_MESSAGE, LEAF_BLOB, LEAF_RECIPIENT, LIMITS } from './constants.js';
import { verify, type ValidatedKey } from './ed25519.js';
import { keyId, recipientTag, SIG_LABELS } from './keyschedule.js';
import { verifyInclusion } from './merkle.js';
import { type ReplayState } from './replay.js';
import { getAead } from './suites.js';
import { Reader, Writer } from './wire.js';

// ---------------------------------------------------------------------------------------------
// Structures (§10.1)

export interface BatchHeader {
  version: number;
  signerId: Uint8Array;
  batchSeq: bigint;
  timestampMs: bigint;
  leafCount: number;
  root: Uint8Array;
}

export const BATCH_HEADER_LENGTH = 86;

function readHeader(r: Reader): BatchHeader {
  return {
    version: r.u16(),
    signerId: r.bytes(32),
    batchSeq: r.u64(),
    timestampMs: r.u64(),
    leafCount: r.u32(),
    root: r.bytes(32),
  };
}

/** Decodes an 86-byte BatchHeader strictly (WIRE-001); its values are checked when a delivery is opened. */
export function decodeBatchHeader(b: Uint8Array): BatchHeader {
  const r = new Reader(b, 'BatchHeader');
  const h = readHeader(r);
  r.end();
  return h;
}

export function encodeBatchHeader(h: BatchHeader): Uint8Array {
  return new Writer().u16(h.version).bytes(h.signerId).u64(h.batchSeq).u64(h.timestampMs).u32(h.leafCount).bytes(h.root).finish();
}

export type Leaf =
  | { kind: typeof LEAF_RECIPIENT; tag: Uint8Array; sealed: Uint8Array }
  | { kind: typeof LEAF_BLOB; aead: number; sealed: Uint8Array };

/** Leaf: an undefined `kind` is `decode_error` (WIRE-004); sealed<16..2^24-1>. */
function readLeaf(r: Reader): Leaf {
  const kind = r.u8();
  if (kind === LEAF_RECIPIENT) {
    const tag = r.bytes(16);
    return { kind, tag, sealed: r.vec(16, 0xffffff) };
  }
  if (kind === LEAF_BLOB) {
    const aead = r.u16();
    return { kind, aead, sealed: r.vec(16, 0xffffff) };
  }
  fail('decode_error', `leaf kind ${kind}`, 'WIRE-004');
}

export function encodeLeaf(l: Leaf): Uint8Array {
  const w = new Writer().u8(l.kind);
  if (l.kind === LEAF_RECIPIENT) w.bytes(l.tag);
  else w.u16(l.aead);
  return w.vec(l.sealed, 16, 0xffffff).finish();
}

export interface LeafProof {
  leafIndex: number;
  leaf: Leaf;
  /** the encoded Leaf: what the Merkle tree hashes (§10.3) */
  leafBytes: Uint8Array;
  path: Uint8Array[];
}

function readLeafProof(r: Reader): LeafProof {
  const leafIndex = r.u32();
  const start = r.offset;
  const leaf = readLeaf(r);
  const leafBytes = encodeLeaf(leaf);
  if (r.offset - start !== leafBytes.length) throw new Error('leaf re-encoding mismatch');
  const n = r.count(0, 32); // HashValue path<0..32>: uint8 count
  const path: Uint8Array[] = [];
  for (let i = 0; i < n; i++) path.push(r.bytes(32));
  return { leafIndex, leaf, leafBytes, path };
}

function writeLeafProof(w: Writer, p: LeafProof): void {
  w.u32(p.leafIndex).bytes(p.leafBytes).count(p.path.length, 0, 32);
  for (const h of p.path) w.bytes(h);
}

export interface BatchDelivery {
  header: BatchHeader;
  headerBytes: Uint8Array;
  signature: Uint8Array;
  own: LeafProof;
  blobs: LeafProof[];
}

/** BatchDelivery body (msg_type 0x12): strict decoding, leaf kinds included (BATCH-016 step 1). */
export function decodeBatchDelivery(b: Uint8Array): BatchDelivery {
  const r = new Reader(b, 'BatchDelivery');
  const headerBytes = r.bytes(BATCH_HEADER_LENGTH);
  const header = decodeBatchHeader(headerBytes);
  const signature = r.bytes(64);
  const own = readLeafProof(r);
  const n = r.count(0, LIMITS.MaxBlobsPerDelivery);
  const blobs: LeafProof[] = [];
  for (let i = 0; i < n; i++) blobs.push(readLeafProof(r));
  r.end();
  return { header, headerBytes, signature, own, blobs };
}

export function encodeBatchDelivery(d: Omit<BatchDelivery, 'header'>): Uint8Array {
  const w = new Writer().bytes(d.headerBytes).bytes(d.signature);
  writeLeafProof(w, d.own);
  w.count(d.blobs.length, 0, LIMITS.MaxBlobsPerDelivery);
  for (const p of d.blobs) writeLeafProof(w, p);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Sealing parameters (§10.2)

/** aad of recipient leaf i: signer_id ‖ uint64 batch_seq ‖ uint32 i ‖ 0x01 ‖ tag */
export function recipientAad(signerId: Uint8Array, batchSeq: bigint, index: number, tag: Uint8Array): Uint8Array {
  return concat(signerId, u64(batchSeq), u32(index), u8(LEAF_RECIPIENT), tag);
}

/** aad of blob j: signer_id ‖ uint64 batch_seq ‖ uint32 j ‖ 0x02 ‖ uint16 aead */
export function blobAad(signerId: Uint8Array, batchSeq: bigint, index: number, aead: number): Uint8Array {
  return concat(signerId, u64(batchSeq), u32(index), u8(LEAF_BLOB), u16(aead));
}

/** nonce of a recipient leaf: env_iv XOR (0^4 ‖ uint64 batch_seq) */
export function recipientNonce(envIv: Uint8Array, batchSeq: bigint): Uint8Array {
  return xorNonce(envIv, batchSeq);
}

const ZERO_NONCE = new Uint8Array(12);

// ---------------------------------------------------------------------------------------------
// Opening (§10.5)

/** What the client of one session needs to open its deliveries. */
export interface OpenContext {
  /** the server key authenticated in this session (BATCH-010), validated (SIG-001) */
  signerKey: ValidatedKey;
  /** the session's envelope keys (§7) and AEAD */
  envKey: Uint8Array;
  envIv: Uint8Array;
  tagKey: Uint8Array;
  aead: number;
  /** Welcome.max_payload (BATCH-005; at most MaxPayload, POST-002) */
  maxPayload: number;
}

/** BATCH-004: in v1 every blob is sealed with ChaCha20-Poly1305, whatever the session's AEAD. */
export const BLOB_AEAD = AEAD_CHACHA20_POLY1305;

export type MessageStatus = 'deliver' | 'replayed_message' | 'stale_message';

export interface OpenedMessage {
  messageId: bigint;
  payload: Uint8Array;
  /** true if the payload came from a broadcast blob (BATCH-004) */
  broadcast: boolean;
  /** REPLAY-012: duplicates and stale messages are not delivered, but still acknowledged */
  status: MessageStatus;
}

export interface OpenedBatch {
  header: BatchHeader;
  messages: OpenedMessage[];
  /** the replay state after this delivery: commit it (persist, REPLAY-013) before handing messages out */
  nextState: ReplayState;
}

/**
 * Opens one BatchDelivery body as the client of `ctx`, with replay state `state` (left unchanged:
 * BATCH-014). Checks run in the order of BATCH-016 and the first failing check's alert is thrown:
 *  (1) decoding, leaf kinds included; (2) version; (3) signer_id; (4) leaf_count; (5) batch_seq;
 *  (6) signature; (7) own proof, then each blob's; (8) own leaf kind, then each blob's kind and
 *  index; (9) tag; (10) decryption of the own leaf; (11) LeafContent entry by entry; (12) trailing bytes;
 *  (13) unreferenced blobs.
 */
export function openDelivery(body: Uint8Array, ctx: OpenContext, state: ReplayState): OpenedBatch {
  // (1) WIRE-001, WIRE-004
  const d = decodeBatchDelivery(body);
  const h = d.header;
  // (2) BATCH-010: version
  if (h.version !== 1) fail('protocol_version', `batch header version ${h.version}`, 'BATCH-010');
  // (3) BATCH-010: the signer is the server key of this session
  if (!ctEqual(h.signerId, keyId(ctx.signerKey.bytes))) fail('unknown_signer', 'batch signed by another key', 'BATCH-010');
  // (4) MERKLE-002
  if (h.leafCount < 1 || h.leafCount > LIMITS.MaxBatchLeaves) fail('illegal_parameter', `leaf_count ${h.leafCount}`, 'MERKLE-002');
  // (5) REPLAY-010 (BATCH-011: before the signature)
  if (state.batch.check(h.batchSeq) !== 'accept') fail('replayed_batch', `batch_seq ${h.batchSeq} not above the highest accepted in this session`, 'REPLAY-010');
  // (6) SIG-001 … SIG-005: the one strict rule, over the 86-byte header (§10.4)
  verify(ctx.signerKey, SIG_LABELS.batch, d.headerBytes, d.signature, { requirement: 'BATCH-011' });
  // (7) MERKLE-001: the own leaf's proof, then every blob's, against the signed leaf_count (MERKLE-003)
  verifyInclusion(d.own.leafIndex, h.leafCount, d.own.leafBytes, d.own.path, h.root);
  for (const b of d.blobs) verifyInclusion(b.leafIndex, h.leafCount, b.leafBytes, b.path, h.root);
  // (8) BATCH-012: kinds; BATCH-013: blobs strictly ascending, none at the own leaf's index
  const own = d.own.leaf;
  if (own.kind !== LEAF_RECIPIENT) fail('illegal_parameter', 'own leaf is not a recipient leaf', 'BATCH-012');
  let prev = -1;
  for (const b of d.blobs) {
    if (b.leaf.kind !== LEAF_BLOB) fail('illegal_parameter', 'blob list holds a recipient leaf', 'BATCH-012');
    if (b.leafIndex <= prev) fail('illegal_parameter', 'blobs not in strictly ascending index order', 'BATCH-013');
    if (b.leafIndex === d.own.leafIndex) fail('illegal_parameter', 'blob at the own leaf index', 'BATCH-013');
    prev = b.leafIndex;
  }
  // (9) BATCH-012: the recipient tag, in constant time
  const tag = recipientTag(ctx.tagKey, h.signerId, h.batchSeq);
  if (!ctEqual(own.tag, tag)) fail('wrong_recipient', 'recipient tag does not match', 'BATCH-012');
  // (10) BATCH-013: decrypt the own leaf under the envelope key
  const content = getAead(ctx.aead).open(
    ctx.envKey,
    recipientNonce(ctx.envIv, h.batchSeq),
    own.sealed,
    recipientAad(h.signerId, h.batchSeq, d.own.leafIndex, own.tag),
  );
  if (!content) fail('bad_envelope_mac', 'recipient leaf does not open', 'BATCH-013');

  // (11) the LeafContent, entry by entry
  const next = state.clone();
  const window = next.window;
  const referenced = new Set<number>();
  const messages: OpenedMessage[] = [];
  const r = new Reader(content, 'LeafContent');
  const n = r.count(1, LIMITS.MaxEntriesPerLeaf);
  let prevId = 0n;
  for (let i = 0; i < n; i++) {
    const type = r.u8();
    const messageId = r.u64();
    // REPLAY-011: ID 0 is invalid; BATCH-005: strictly ascending IDs
    if (messageId === 0n) fail('illegal_parameter', 'message ID 0', 'REPLAY-011');
    if (messageId <= prevId) fail('illegal_parameter', 'message IDs not strictly ascending', 'BATCH-005');
    prevId = messageId;
    let payload: Uint8Array;
    let broadcast = false;
    if (type === ENTRY_MESSAGE) {
      payload = r.vec(0, 0xffffff);
      if (payload.length > ctx.maxPayload) fail('record_overflow', 'payload longer than max_payload', 'BATCH-005');
    } else if (type === ENTRY_BROADCAST_REF) {
      const blobIndex = r.u32();
      const dataKey = r.bytes(32);
      // BATCH-013: the blob must be in the delivery; BATCH-004: its AEAD is ChaCha20-Poly1305; it opens under
      // the data key
      const blob = d.blobs.find((b) => b.leafIndex === blobIndex);
      if (!blob || blob.leaf.kind !== LEAF_BLOB) fail('bad_proof', `broadcast_ref to blob ${blobIndex} not in the delivery`, 'BATCH-013');
      const aead = blob.leaf.aead;
      if (aead !== BLOB_AEAD) fail('illegal_parameter', `blob AEAD ${aead} is not ChaCha20-Poly1305`, 'BATCH-004');
      const pt = getAead(aead).open(dataKey, ZERO_NONCE, blob.leaf.sealed, blobAad(h.signerId, h.batchSeq, blobIndex, aead));
      if (!pt) fail('bad_envelope_mac', 'blob does not open', 'BATCH-013');
      if (pt.length > ctx.maxPayload) fail('record_overflow', 'broadcast payload longer than max_payload', 'BATCH-005');
      referenced.add(blobIndex);
      payload = pt;
      broadcast = true;
    } else {
      fail('decode_error', `entry type ${type}`, 'BATCH-005');
    }
    // REPLAY-011, REPLAY-012: new IDs are delivered; duplicates and stale ones are local results
    const decision = window.check(messageId);
    if (decision === 'accept') window.accept(messageId);
    messages.push({ messageId, payload, broadcast, status: decision === 'accept' ? 'deliver' : (decision as MessageStatus) });
  }
  // (12) WIRE-001: trailing bytes of the LeafContent
  r.end();
  // (13) BATCH-013: every delivered blob is referenced
  for (const b of d.blobs) if (!referenced.has(b.leafIndex)) fail('illegal_parameter', `blob ${b.leafIndex} not referenced`, 'BATCH-013');

  // BATCH-014: the state changes only now that every check passed; the caller commits it (REPLAY-013)
  next.batch.accept(h.batchSeq);
  return { header: h, messages, nextState: next };
}

// ---------------------------------------------------------------------------------------------
// LeafContent encoding (§10.1), for builders and tests

export type Entry =
  | { type: typeof ENTRY_MESSAGE; messageId: bigint; payload: Uint8Array }
  | { type: typeof ENTRY_BROADCAST_REF; messageId: bigint; blobIndex: number; dataKey: Uint8Array };

/** `struct { Entry entries<1..65535>; } LeafContent` */
export function encodeLeafContent(entries: Entry[]): Uint8Array {
  const w = new Writer().count(entries.length, 1, LIMITS.MaxEntriesPerLeaf);
  for (const e of entries) {
    w.u8(e.type).u64(e.messageId);
    if (e.type === ENTRY_MESSAGE) w.vec(e.payload, 0, 0xffffff);
    else w.u32(e.blobIndex).bytes(e.dataKey);
  }
  return w.finish();
}
