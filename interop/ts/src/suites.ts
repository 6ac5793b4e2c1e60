/**
 * Cryptographic suites (spec §4): the key-exchange groups X25519 (SUITE-002) and X25519MLKEM768
 * (SUITE-003), and the AEADs ChaCha20-Poly1305 and AES-256-GCM (SUITE-004).
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { fail, SealFeedError } from './alert.js';
import { concat, isAllZero, wipe } from './bytes.js';
import { AEAD_AES_256_GCM, AEAD_CHACHA20_POLY1305, GROUP_X25519, GROUP_X25519MLKEM768 } from './constants.js';
import type { RandomSource } from './random.js';

// ---------------------------------------------------------------------------------------------
// AEADs (SUITE-004: 32-byte keys, 12-byte nonces, 16-byte tags)

export interface Aead {
  id: number;
  name: string;
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** The plaintext, or null if authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | null;
}

export const TAG_LENGTH = 16;

function nobleAead(id: number, name: string, make: typeof chacha20poly1305 | typeof gcm): Aead {
  return {
    id,
    name,
    seal: (key, nonce, pt, aad) => make(key, nonce, aad).encrypt(pt),
    open: (key, nonce, ct, aad) => {
      if (ct.length < TAG_LENGTH) return null;
      try {
        return make(key, nonce, aad).decrypt(ct);
      } catch {
        return null;
      }
    },
  };
}

const AEADS = new Map<number, Aead>([
  [AEAD_CHACHA20_POLY1305, nobleAead(AEAD_CHACHA20_POLY1305, 'ChaCha20-Poly1305', chacha20poly1305)],
  [AEAD_AES_256_GCM, nobleAead(AEAD_AES_256_GCM, 'AES-256-GCM', gcm)],
]);

/** The AEADs this implementation supports, in its order of preference (SUITE-001). */
export const SUPPORTED_AEADS: readonly number[] = [AEAD_CHACHA20_POLY1305, AEAD_AES_256_GCM];

export function getAead(id: number): Aead {
  const a = AEADS.get(id);
  if (!a) fail('illegal_parameter', `unsupported AEAD ${id}`);
  return a;
}

export function isSupportedAead(id: number): boolean {
  return AEADS.has(id);
}

// ---------------------------------------------------------------------------------------------
// Groups

/** The groups this implementation supports, in its order of preference (registries.md: hybrid first). */
export const SUPPORTED_GROUPS: readonly number[] = [GROUP_X25519MLKEM768, GROUP_X25519];

/** Share lengths (registries.md §Groups). */
export const CLIENT_SHARE_LENGTH: Record<number, number> = { [GROUP_X25519]: 32, [GROUP_X25519MLKEM768]: 1184 + 32 };
export const SERVER_SHARE_LENGTH: Record<number, number> = { [GROUP_X25519]: 32, [GROUP_X25519MLKEM768]: 1088 + 32 };

export function isSupportedGroup(g: number): boolean {
  return g === GROUP_X25519 || g === GROUP_X25519MLKEM768;
}

/**
 * SUITE-002: X25519(own private, peer public) for a 32-byte peer share; a share of another length or an
 * all-zero result (a low-order peer share) is `illegal_parameter`. The zero check is constant time
 * (isAllZero); @noble/curves already refuses the low-order u-coordinates, which is the same outcome.
 */
export function x25519Shared(priv: Uint8Array, peer: Uint8Array, requirement = 'SUITE-002'): Uint8Array {
  if (peer.length !== 32) fail('illegal_parameter', `X25519 share of ${peer.length} bytes`, requirement);
  let out: Uint8Array;
  try {
    out = x25519.getSharedSecret(priv, peer);
  } catch {
    fail('illegal_parameter', 'low-order X25519 share', 'SUITE-002');
  }
  if (isAllZero(out)) fail('illegal_parameter', 'all-zero X25519 shared secret', 'SUITE-002');
  return out;
}

export function x25519Public(priv: Uint8Array): Uint8Array {
  return x25519.getPublicKey(priv);
}

/** A client's key share of one group, with what it needs to finish the exchange. */
export interface ClientShare {
  group: number;
  share: Uint8Array;
  /** Shared secret from the server's share (SUITE-002, SUITE-003). */
  finish(serverShare: Uint8Array): Uint8Array;
  /** KS-003: erase the ephemeral private keys. */
  wipe(): void;
}

/**
 * HS-001, HS-003: a fresh share for `group`. Randomness is drawn in this order: X25519: the private key
 * (32 bytes); X25519MLKEM768: the ML-KEM-768 seed d ‖ z (64 bytes), then the X25519 private key (32).
 */
export function generateClientShare(group: number, random: RandomSource): ClientShare {
  if (group === GROUP_X25519) {
    const priv = random(32);
    return {
      group,
      share: x25519Public(priv),
      finish: (ss) => x25519Shared(priv, ss, 'HS-014'),
      wipe: () => wipe(priv),
    };
  }
  if (group === GROUP_X25519MLKEM768) {
    const seed = random(64);
    const xpriv = random(32);
    return hybridClientFromSeed(concat(seed, xpriv), () => wipe(seed, xpriv));
  }
  throw new RangeError(`unsupported group ${group}`);
}

/**
 * X25519MLKEM768 client side from `clientSeed` = d ‖ z ‖ X25519 private key (96 bytes): share
 * `ek (1184) ‖ x25519_public (32)`; finish with `ct (1088) ‖ x25519_public (32)` into
 * `mlkem_shared (32) ‖ x25519_shared (32)` (SUITE-003). A server share of another length is
 * `illegal_parameter`; ML-KEM decapsulation never fails (implicit rejection, FIPS 203).
 */
export function hybridClientFromSeed(clientSeed: Uint8Array, onWipe?: () => void): ClientShare {
  if (clientSeed.length !== 96) throw new RangeError('hybrid client seed is 96 bytes');
  const kp = ml_kem768.keygen(clientSeed.subarray(0, 64));
  const xpriv = clientSeed.slice(64, 96);
  return {
    group: GROUP_X25519MLKEM768,
    share: concat(kp.publicKey, x25519Public(xpriv)),
    finish: (ss) => {
      if (ss.length !== SERVER_SHARE_LENGTH[GROUP_X25519MLKEM768]) fail('illegal_parameter', `hybrid server share of ${ss.length} bytes`, 'SUITE-003');
      const ct = ss.subarray(0, 1088);
      const xs = x25519Shared(xpriv, ss.subarray(1088), 'SUITE-002');
      const ms = ml_kem768.decapsulate(ct, kp.secretKey);
      return concat(ms, xs);
    },
    wipe: () => {
      wipe(kp.secretKey, xpriv);
      onWipe?.();
    },
  };
}

/**
 * The server's side of a group, for tests and tools (a client never runs it): respond to `clientShare`
 * with `serverRandom` (X25519: its private key; hybrid: m (32) ‖ X25519 private key (32)).
 * HS-003: a share of the wrong length is `illegal_parameter`; SUITE-003: an encapsulation key failing the
 * FIPS 203 modulus check is `illegal_parameter`; SUITE-002 applies to the X25519 halves.
 */
export function serverRespond(group: number, clientShare: Uint8Array, serverRandom: Uint8Array): { share: Uint8Array; shared: Uint8Array } {
  if (group === GROUP_X25519) {
    const shared = x25519Shared(serverRandom, clientShare, 'HS-003');
    return { share: x25519Public(serverRandom), shared };
  }
  if (group === GROUP_X25519MLKEM768) {
    if (clientShare.length !== CLIENT_SHARE_LENGTH[GROUP_X25519MLKEM768]) fail('illegal_parameter', `hybrid client share of ${clientShare.length} bytes`, 'HS-003');
    const ek = clientShare.subarray(0, 1184);
    const m = serverRandom.subarray(0, 32);
    const xpriv = serverRandom.subarray(32, 64);
    let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
    try {
      enc = ml_kem768.encapsulate(ek, m);
    } catch (e) {
      if (e instanceof SealFeedError) throw e;
      fail('illegal_parameter', 'ML-KEM encapsulation key fails the modulus check', 'SUITE-003');
    }
    const xs = x25519Shared(xpriv, clientShare.subarray(1184), 'SUITE-002');
    return { share: concat(enc.cipherText, x25519Public(xpriv)), shared: concat(enc.sharedSecret, xs) };
  }
  fail('handshake_failure', `unsupported group ${group}`, 'HS-011');
}
