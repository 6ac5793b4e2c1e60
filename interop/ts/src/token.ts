/**
 * Access tokens (spec §6.8). A client presents a token in its handshake flight (HS-060) and refreshes it with
 * TokenRefresh (POST-030) without parsing it (TOK-010): `ClientConfig.token` and `SealFeedClient.refreshToken`
 * take the bytes an application back end issued. This module adds what a Node publisher needs to issue one
 * (`issueToken`, TOK-008) and what the vectors check (`decodeToken`, `verifyToken` in the order of TOK-007).
 */
import { fail } from './alert.js';
import { bytesEqual } from './bytes.js';
import { LIMITS } from './constants.js';
import { publicKeyOf, sign, validatePublicKey, verify, type ValidatedKey } from './ed25519.js';
import { keyId, SIG_LABELS } from './keyschedule.js';
import { secureRandom } from './random.js';
import { Reader, Writer } from './wire.js';

export const AUDIENCE_REALM = 1;
export const AUDIENCE_SERVER_KEY = 2;

export interface AccessToken {
  version: number;
  issuerId: Uint8Array;
  audienceType: number;
  /** the realm (AUDIENCE_REALM) or the server key's KeyID (AUDIENCE_SERVER_KEY) */
  audience: Uint8Array;
  subject: Uint8Array;
  device: Uint8Array;
  clientKey: Uint8Array;
  tokenId: Uint8Array;
  notBefore: bigint;
  notAfter: bigint;
  signature: Uint8Array;
  /** all bytes before the signature: what the issuer signed (TOK-002) */
  signed: Uint8Array;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(b: Uint8Array): boolean {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * TOK-001: `version` first, then the strict decoding of the rest, `decode_error` for every failure
 * (an undefined audience_type is WIRE-004; subject and device must be UTF-8).
 */
export function decodeToken(b: Uint8Array): AccessToken {
  if (b.length > LIMITS.MaxAccessToken) fail('decode_error', 'access token longer than MaxAccessToken', 'TOK-001');
  const r = new Reader(b, 'AccessToken');
  const version = r.u16();
  if (version !== 1) fail('decode_error', `access token version ${version}`, 'TOK-001');
  const issuerId = r.bytes(32);
  const audienceType = r.u8();
  let audience: Uint8Array;
  if (audienceType === AUDIENCE_REALM) audience = r.vec(1, 255);
  else if (audienceType === AUDIENCE_SERVER_KEY) audience = r.bytes(32);
  else return fail('decode_error', `audience_type ${audienceType}`, 'WIRE-004');
  const subject = r.vec(1, 255);
  const device = r.vec(0, 255);
  const clientKey = r.bytes(32);
  const tokenId = r.bytes(16);
  const notBefore = r.u64();
  const notAfter = r.u64();
  const signedLen = r.offset;
  const signature = r.bytes(64);
  r.end();
  if (!isUtf8(subject) || !isUtf8(device)) fail('decode_error', 'subject or device is not UTF-8', 'TOK-001');
  return {
    version, issuerId, audienceType, audience, subject, device, clientKey, tokenId, notBefore, notAfter, signature,
    signed: b.slice(0, signedLen),
  };
}

function encodeTbs(t: Omit<AccessToken, 'signature' | 'signed'>): Uint8Array {
  const w = new Writer().u16(t.version).bytes(t.issuerId).u8(t.audienceType);
  if (t.audienceType === AUDIENCE_REALM) w.vec(t.audience, 1, 255);
  else w.bytes(t.audience);
  return w.vec(t.subject, 1, 255).vec(t.device, 0, 255).bytes(t.clientKey).bytes(t.tokenId).u64(t.notBefore).u64(t.notAfter).finish();
}

export interface IssueParams {
  subject: string;
  device?: string;
  /** the deployment's realm (authority trust) … */
  realm?: string;
  /** … or the KeyID (fingerprint bytes) of the server key clients pin */
  serverKeyId?: Uint8Array;
  /** the client's Ed25519 identity public key, which the token binds (TOK-006) */
  clientKey: Uint8Array;
  /** Unix seconds; default now */
  notBefore?: bigint;
  /** seconds, 1 … 3600; default 900 (TOK-008) */
  lifetime?: number;
}

/**
 * Issues a token signed with a publisher key's 32-byte Ed25519 seed (TOK-002, TOK-008): a fresh 16-byte
 * token_id, and it refuses what a server would reject as issued (TOK-001, TOK-003, SIG-001).
 */
export function issueToken(publisherSeed: Uint8Array, p: IssueParams): Uint8Array {
  const enc = new TextEncoder();
  const subject = enc.encode(p.subject);
  const device = enc.encode(p.device ?? '');
  if (subject.length < 1 || subject.length > 255 || device.length > 255) fail('decode_error', 'subject or device length', 'TOK-001');
  validatePublicKey(p.clientKey);
  let audienceType: number;
  let audience: Uint8Array;
  if ((p.realm === undefined) === (p.serverKeyId === undefined)) throw new RangeError('set exactly one of realm and serverKeyId (TOK-005)');
  if (p.realm !== undefined) {
    audienceType = AUDIENCE_REALM;
    audience = enc.encode(p.realm);
    if (audience.length < 1 || audience.length > 255) fail('decode_error', 'realm length', 'TOK-001');
  } else {
    audienceType = AUDIENCE_SERVER_KEY;
    audience = p.serverKeyId!;
    if (audience.length !== 32) throw new RangeError('serverKeyId is 32 bytes');
  }
  const lifetime = p.lifetime ?? 900;
  if (!Number.isInteger(lifetime) || lifetime < 1 || BigInt(lifetime) > LIMITS.MaxTokenLifetime) {
    fail('illegal_parameter', 'token lifetime must be 1 s to 1 h', 'TOK-003');
  }
  const notBefore = p.notBefore ?? BigInt(Math.floor(Date.now() / 1000));
  const tbs = encodeTbs({
    version: 1, issuerId: keyId(publicKeyOf(publisherSeed)), audienceType, audience, subject, device,
    clientKey: Uint8Array.from(p.clientKey), tokenId: secureRandom(16), notBefore, notAfter: notBefore + BigInt(lifetime),
  });
  const out = new Uint8Array(tbs.length + 64);
  out.set(tbs);
  out.set(sign(publisherSeed, SIG_LABELS.accessToken, tbs), tbs.length);
  return out;
}

/** What a server verifies a token against (TOK-002, TOK-005, TOK-006). */
export interface TokenVerifier {
  issuers: ValidatedKey[];
  /** the realm of the server's credential; empty: none */
  realm: Uint8Array;
  serverKeyId: Uint8Array;
}

/**
 * A server's check of a token (TOK-007): decoding, the issuer, the signature, the lifetime (TOK-003), the time
 * with ClockSkew (TOK-004), the audience (TOK-005), the binding to the proven client key (TOK-006).
 */
export function verifyToken(v: TokenVerifier, raw: Uint8Array, clientKey: Uint8Array, now: bigint): AccessToken {
  const t = decodeToken(raw);
  const issuer = v.issuers.find((k) => bytesEqual(keyId(k.bytes), t.issuerId));
  if (!issuer) fail('unknown_signer', 'access token from an unregistered issuer', 'TOK-002');
  verify(issuer, SIG_LABELS.accessToken, t.signed, t.signature, { requirement: 'TOK-002' });
  if (!(t.notBefore < t.notAfter && t.notAfter - t.notBefore <= LIMITS.MaxTokenLifetime)) {
    fail('illegal_parameter', 'access token validity period empty or longer than 1 h', 'TOK-003');
  }
  if (now + LIMITS.ClockSkew < t.notBefore || now - LIMITS.ClockSkew > t.notAfter) {
    fail('token_expired', 'access token outside its validity period', 'TOK-004');
  }
  const audienceOk =
    t.audienceType === AUDIENCE_REALM
      ? v.realm.length > 0 && bytesEqual(t.audience, v.realm)
      : bytesEqual(t.audience, v.serverKeyId);
  if (!audienceOk) fail('realm_mismatch', 'access token for another deployment', 'TOK-005');
  if (!bytesEqual(t.clientKey, clientKey)) fail('token_key_mismatch', 'access token bound to another client key', 'TOK-006');
  return t;
}
