/**
 * A batch builder for tests (spec §10.2, §10.3, §10.6): the server's side, written here from the spec so
 * that the client can be tested end to end. Not part of the library.
 */
import {
  AEAD_CHACHA20_POLY1305,
  auditPath,
  blobAad,
  encodeBatchDelivery,
  encodeBatchHeader,
  encodeLeaf,
  encodeLeafContent,
  type Entry,
  type EnvelopeKeys,
  getAead,
  isSupportedAead,
  keyId,
  LEAF_BLOB,
  LEAF_RECIPIENT,
  type Leaf,
  type LeafProof,
  merkleRoot,
  publicKeyOf,
  recipientAad,
  recipientNonce,
  recipientTag,
  sign,
  SIG_LABELS,
  type BatchHeader,
} from '../../src/index.js';

export interface BuildRecipient {
  env: EnvelopeKeys;
  aead: number;
  entries: Entry[];
}

export interface BuildBlob {
  payload: Uint8Array;
  dataKey: Uint8Array;
  /** the blob's AEAD (default ChaCha20-Poly1305, the only one v1 allows: BATCH-004); tests set others */
  aead?: number;
}

export interface BuiltBatch {
  header: BatchHeader;
  headerBytes: Uint8Array;
  signature: Uint8Array;
  leaves: Leaf[];
  leafBytes: Uint8Array[];
  /** index of recipient k's leaf (MERKLE-004: blobs first) */
  recipientIndex(k: number): number;
  /** the BatchDelivery body for recipient k with the blobs it references */
  delivery(k: number, blobIndices?: number[]): Uint8Array;
}

export function buildBatch(opts: {
  signerSeed: Uint8Array;
  batchSeq: bigint;
  timestampMs?: bigint;
  recipients: BuildRecipient[];
  blobs?: BuildBlob[];
}): BuiltBatch {
  const signerId = keyId(publicKeyOf(opts.signerSeed));
  const seq = opts.batchSeq;
  const blobs = opts.blobs ?? [];
  const leaves: Leaf[] = [];
  blobs.forEach((b, j) => {
    const aead = b.aead ?? AEAD_CHACHA20_POLY1305;
    // an AEAD this library does not implement: the sealed bytes are ChaCha20-Poly1305's, the label is aead
    const sealer = isSupportedAead(aead) ? aead : AEAD_CHACHA20_POLY1305;
    const sealed = getAead(sealer).seal(b.dataKey, new Uint8Array(12), b.payload, blobAad(signerId, seq, j, aead));
    leaves.push({ kind: LEAF_BLOB, aead, sealed });
  });
  opts.recipients.forEach((r, k) => {
    const i = blobs.length + k;
    const tag = recipientTag(r.env.tagKey, signerId, seq);
    const sealed = getAead(r.aead).seal(r.env.envKey, recipientNonce(r.env.envIv, seq), encodeLeafContent(r.entries), recipientAad(signerId, seq, i, tag));
    leaves.push({ kind: LEAF_RECIPIENT, tag, sealed });
  });
  const leafBytes = leaves.map(encodeLeaf);
  const header: BatchHeader = {
    version: 1,
    signerId,
    batchSeq: seq,
    timestampMs: opts.timestampMs ?? 1767225600000n,
    leafCount: leaves.length,
    root: merkleRoot(leafBytes),
  };
  const headerBytes = encodeBatchHeader(header);
  const signature = sign(opts.signerSeed, SIG_LABELS.batch, headerBytes);
  const proof = (i: number): LeafProof => ({ leafIndex: i, leaf: leaves[i]!, leafBytes: leafBytes[i]!, path: auditPath(leafBytes, i) });
  return {
    header,
    headerBytes,
    signature,
    leaves,
    leafBytes,
    recipientIndex: (k) => blobs.length + k,
    delivery: (k, blobIndices = []) =>
      encodeBatchDelivery({ headerBytes, signature, own: proof(blobs.length + k), blobs: blobIndices.map(proof) }),
  };
}
