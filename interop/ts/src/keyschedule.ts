/**
 * Labels (SUITE-010, registries.md §Labels) and the key schedule (spec §7, KS-001 … KS-005).
 */
import { extract, expand } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, u16, u64, u8, utf8 } from './bytes.js';

/** Every label starts with this prefix (SUITE-010). */
export const LABEL_PREFIX = 'sealfeed v1 ';

/** HKDF labels, without the prefix (registries.md §HKDF labels). */
export const HKDF_LABELS = {
  derived: 'derived',
  clientHandshake: 'c hs traffic',
  serverHandshake: 's hs traffic',
  clientApp: 'c ap traffic',
  serverApp: 's ap traffic',
  envelope: 'envelope',
  resumption: 'resumption',
  key: 'key',
  iv: 'iv',
  finished: 'finished',
  trafficUpdate: 'traffic upd',
  envKey: 'env key',
  envIv: 'env iv',
  envTag: 'env tag',
} as const;

/** Signature labels (registries.md §Signature labels); signed as label ‖ 0x00 ‖ msg (§4.2). */
export const SIG_LABELS = {
  server: 'sealfeed v1 server signature',
  client: 'sealfeed v1 client signature',
  credential: 'sealfeed v1 credential',
  revocationList: 'sealfeed v1 revocation list',
  batch: 'sealfeed v1 batch signature',
  accessToken: 'sealfeed v1 access token',
} as const;

/** Hash and MAC labels (registries.md §Hash and MAC labels). */
export const HASH_LABELS = {
  keyId: 'sealfeed v1 key id',
  clientId: 'sealfeed v1 client id',
  recipientTag: 'sealfeed v1 recipient tag',
} as const;

export function hash(data: Uint8Array): Uint8Array {
  return sha256(data);
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(sha256, key, data);
}

/** §4.1: KeyID(pk) = SHA-256("sealfeed v1 key id" ‖ 0x00 ‖ pk); the fingerprint is its lower-case hex. */
export function keyId(publicKey: Uint8Array): Uint8Array {
  return sha256(concat(utf8(HASH_LABELS.keyId), u8(0), publicKey));
}

/** ID-001: the client ID of a key-identified client. */
export function clientIdOf(publicKey: Uint8Array): Uint8Array {
  return sha256(concat(utf8(HASH_LABELS.clientId), u8(0), publicKey));
}

/** §10.2, BATCH-006: first 16 bytes of HMAC-SHA256(tag_key, label ‖ signer_id ‖ uint64 batch_seq), no 0x00. */
export function recipientTag(tagKey: Uint8Array, signerId: Uint8Array, batchSeq: bigint): Uint8Array {
  return hmacSha256(tagKey, concat(utf8(HASH_LABELS.recipientTag), signerId, u64(batchSeq))).slice(0, 16);
}

/** §7: HkdfLabel = uint16 length ‖ opaque label<1..255> ("sealfeed v1 " ‖ Label) ‖ opaque context<0..255>. */
export function hkdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  const l = utf8(LABEL_PREFIX + label);
  if (l.length < 1 || l.length > 255 || context.length > 255) throw new RangeError('HkdfLabel field out of range');
  return concat(u16(length), u8(l.length), l, u8(context.length), context);
}

/** §7: ExpandLabel(Secret, Label, Context, Length) = HKDF-Expand(Secret, HkdfLabel, Length). */
export function expandLabel(secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
  return expand(sha256, secret, hkdfLabel(label, context, length), length);
}

/** §7: DeriveSecret(Secret, Label, Messages) = ExpandLabel(Secret, Label, SHA-256(Messages), 32), given the hash. */
export function deriveSecret(secret: Uint8Array, label: string, transcriptHash: Uint8Array): Uint8Array {
  return expandLabel(secret, label, transcriptHash, 32);
}

const ZERO32 = new Uint8Array(32);
const EMPTY_HASH = sha256(new Uint8Array(0));

/** early_secret = HKDF-Extract(salt = 0³², IKM = PSK or 0³²) */
export function earlySecret(psk?: Uint8Array): Uint8Array {
  return extract(sha256, psk ?? ZERO32, ZERO32);
}

/** handshake_secret = HKDF-Extract(salt = DeriveSecret(early_secret, "derived", ""), IKM = shared_secret) */
export function handshakeSecret(early: Uint8Array, sharedSecret: Uint8Array): Uint8Array {
  return extract(sha256, sharedSecret, deriveSecret(early, HKDF_LABELS.derived, EMPTY_HASH));
}

/** master_secret = HKDF-Extract(salt = DeriveSecret(handshake_secret, "derived", ""), IKM = 0³²) */
export function masterSecret(hs: Uint8Array): Uint8Array {
  return extract(sha256, ZERO32, deriveSecret(hs, HKDF_LABELS.derived, EMPTY_HASH));
}

export interface TrafficKeys {
  key: Uint8Array;
  iv: Uint8Array;
}

/** key = ExpandLabel(S, "key", "", 32), iv = ExpandLabel(S, "iv", "", 12) */
export function trafficKeys(secret: Uint8Array): TrafficKeys {
  return {
    key: expandLabel(secret, HKDF_LABELS.key, new Uint8Array(0), 32),
    iv: expandLabel(secret, HKDF_LABELS.iv, new Uint8Array(0), 12),
  };
}

/** finished_key = ExpandLabel(c_hs_traffic or s_hs_traffic, "finished", "", 32) (HS-023) */
export function finishedKey(hsTraffic: Uint8Array): Uint8Array {
  return expandLabel(hsTraffic, HKDF_LABELS.finished, new Uint8Array(0), 32);
}

/** Finished.verify_data = HMAC-SHA256(finished_key, TH(…)) (HS-023) */
export function finishedMac(hsTraffic: Uint8Array, transcriptHash: Uint8Array): Uint8Array {
  return hmacSha256(finishedKey(hsTraffic), transcriptHash);
}

/** POST-003: next traffic secret = ExpandLabel(S, "traffic upd", "", 32) */
export function nextTrafficSecret(secret: Uint8Array): Uint8Array {
  return expandLabel(secret, HKDF_LABELS.trafficUpdate, new Uint8Array(0), 32);
}

export interface EnvelopeKeys {
  envKey: Uint8Array;
  envIv: Uint8Array;
  tagKey: Uint8Array;
}

/** §7 envelope keys from envelope_secret (BATCH-001, BATCH-006). */
export function envelopeKeys(envelopeSecret: Uint8Array): EnvelopeKeys {
  const e = new Uint8Array(0);
  return {
    envKey: expandLabel(envelopeSecret, HKDF_LABELS.envKey, e, 32),
    envIv: expandLabel(envelopeSecret, HKDF_LABELS.envIv, e, 12),
    tagKey: expandLabel(envelopeSecret, HKDF_LABELS.envTag, e, 32),
  };
}

/**
 * The whole schedule of §7 from its inputs (the keyschedule vectors): PSK (undefined: none), shared secret
 * and the transcript hashes TH(ClientHello…ServerHello), TH(…server Finished), TH(…client Finished).
 */
export function fullSchedule(inputs: {
  psk?: Uint8Array;
  sharedSecret: Uint8Array;
  helloHash: Uint8Array;
  serverFinishedHash: Uint8Array;
  clientFinishedHash: Uint8Array;
}): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const es = earlySecret(inputs.psk);
  const hs = handshakeSecret(es, inputs.sharedSecret);
  const cHs = deriveSecret(hs, HKDF_LABELS.clientHandshake, inputs.helloHash);
  const sHs = deriveSecret(hs, HKDF_LABELS.serverHandshake, inputs.helloHash);
  const ms = masterSecret(hs);
  const envSecret = deriveSecret(ms, HKDF_LABELS.envelope, inputs.clientFinishedHash);
  Object.assign(out, {
    early_secret: es,
    handshake_secret: hs,
    c_hs_traffic: cHs,
    s_hs_traffic: sHs,
    master_secret: ms,
    c_ap_traffic_0: deriveSecret(ms, HKDF_LABELS.clientApp, inputs.serverFinishedHash),
    s_ap_traffic_0: deriveSecret(ms, HKDF_LABELS.serverApp, inputs.serverFinishedHash),
    envelope_secret: envSecret,
    resumption_psk: deriveSecret(ms, HKDF_LABELS.resumption, inputs.clientFinishedHash),
    c_finished_key: finishedKey(cHs),
    s_finished_key: finishedKey(sHs),
  });
  const ck = trafficKeys(cHs);
  const sk = trafficKeys(sHs);
  out.c_hs_key = ck.key;
  out.c_hs_iv = ck.iv;
  out.s_hs_key = sk.key;
  out.s_hs_iv = sk.iv;
  const ek = envelopeKeys(envSecret);
  out.env_key = ek.envKey;
  out.env_iv = ek.envIv;
  out.tag_key = ek.tagKey;
  return out;
}

/** Application traffic secrets and keys after `n` KeyUpdates (`_N` names of the keyschedule vectors). */
export function appSecretsAfter(c0: Uint8Array, s0: Uint8Array, n: number): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  let c = c0;
  let s = s0;
  for (let i = 0; i <= n; i++) {
    out[`c_ap_traffic_${i}`] = c;
    out[`s_ap_traffic_${i}`] = s;
    const ck = trafficKeys(c);
    const sk = trafficKeys(s);
    out[`c_ap_key_${i}`] = ck.key;
    out[`c_ap_iv_${i}`] = ck.iv;
    out[`s_ap_key_${i}`] = sk.key;
    out[`s_ap_iv_${i}`] = sk.iv;
    c = nextTrafficSecret(c);
    s = nextTrafficSecret(s);
  }
  return out;
}
