/**
 * Identities and trust (spec §5): server credentials (§5.1) and stapled revocation lists (§5.2), checked
 * by a client with authority trust in the order of CRED-016.
 */
import { fail } from './alert.js';
import { bytesEqual, ctEqual } from './bytes.js';
import { LIMITS } from './constants.js';
import { validatePublicKey, verify, type ValidatedKey } from './ed25519.js';
import { keyId, SIG_LABELS } from './keyschedule.js';
import { Reader, Writer } from './wire.js';

export interface Credential {
  version: number;
  authorityId: Uint8Array;
  serverKey: Uint8Array;
  realm: Uint8Array;
  serial: bigint;
  notBefore: bigint;
  notAfter: bigint;
  signature: Uint8Array;
  /** all bytes before the signature: what the authority signed (CRED-003) */
  signed: Uint8Array;
}

export interface RevocationList {
  version: number;
  authorityId: Uint8Array;
  number: bigint;
  thisUpdate: bigint;
  nextUpdate: bigint;
  revoked: bigint[];
  signature: Uint8Array;
  signed: Uint8Array;
}

/**
 * CRED-001: `version` first (another version may have another layout: `bad_credential`), then the strict
 * decoding of the rest (WIRE-001: `decode_error`; realm<1..255>).
 */
export function decodeCredential(b: Uint8Array): Credential {
  const r = new Reader(b, 'Credential');
  const version = r.u16();
  if (version !== 1) fail('bad_credential', `credential version ${version}`, 'CRED-001');
  const authorityId = r.bytes(32);
  const serverKey = r.bytes(32);
  const realm = r.vec(1, 255);
  const serial = r.u64();
  const notBefore = r.u64();
  const notAfter = r.u64();
  const signedLen = r.offset;
  const signature = r.bytes(64);
  r.end();
  return { version, authorityId, serverKey, realm, serial, notBefore, notAfter, signature, signed: b.slice(0, signedLen) };
}

export function encodeCredentialTbs(c: Omit<Credential, 'signature' | 'signed'>): Uint8Array {
  return new Writer()
    .u16(c.version)
    .bytes(c.authorityId)
    .bytes(c.serverKey)
    .vec(c.realm, 1, 255)
    .u64(c.serial)
    .u64(c.notBefore)
    .u64(c.notAfter)
    .finish();
}

/**
 * CRED-010: `version` first (`bad_credential`), then strict decoding (`decode_error`), then the serials
 * strictly ascending (`illegal_parameter`).
 */
export function decodeRevocationList(b: Uint8Array): RevocationList {
  const r = new Reader(b, 'RevocationList');
  const version = r.u16();
  if (version !== 1) fail('bad_credential', `revocation list version ${version}`, 'CRED-010');
  const authorityId = r.bytes(32);
  const number = r.u64();
  const thisUpdate = r.u64();
  const nextUpdate = r.u64();
  const n = r.count(0, 65535);
  const revoked: bigint[] = [];
  for (let i = 0; i < n; i++) revoked.push(r.u64());
  const signedLen = r.offset;
  const signature = r.bytes(64);
  r.end();
  for (let i = 1; i < revoked.length; i++) {
    if (revoked[i]! <= revoked[i - 1]!) fail('illegal_parameter', 'revoked serials not strictly ascending', 'CRED-010');
  }
  return { version, authorityId, number, thisUpdate, nextUpdate, revoked, signature, signed: b.slice(0, signedLen) };
}

/** The configuration of a client with authority trust (§5, item 2). */
export interface AuthorityTrust {
  /** the authority's Ed25519 public key, validated (SIG-001) when loaded */
  authorityKey: ValidatedKey;
  /** the realm the client is configured for (CRED-006) */
  realm: Uint8Array;
  /** the number of the last revocation list accepted from this authority (CRED-013); 0 if none */
  acceptedNumber: bigint;
}

export interface CredentialResult {
  /** the server key the client now trusts (CRED-007 passed) */
  serverKey: ValidatedKey;
  credential: Credential;
  revocationList: RevocationList;
}

/**
 * Checks a credential and its stapled revocation list as a client with authority trust (CRED-015), in the
 * order of CRED-016, reporting the alert of the first rule that fails. `now` is Unix seconds.
 */
export function verifyCredential(credentialBytes: Uint8Array, listBytes: Uint8Array, trust: AuthorityTrust, now: bigint): CredentialResult {
  const skew = LIMITS.ClockSkew;
  const authorityKeyId = keyId(trust.authorityKey.bytes);

  // the credential: version and decoding (CRED-001)
  const c = decodeCredential(credentialBytes);
  // CRED-002: authority_id names a trusted authority key
  if (!ctEqual(c.authorityId, authorityKeyId)) fail('unknown_server_key', 'credential of an unknown authority', 'CRED-002');
  // CRED-003: the authority's signature (SIG-005: bad_credential)
  verify(trust.authorityKey, SIG_LABELS.credential, c.signed, c.signature, { alert: 'bad_credential', requirement: 'CRED-003' });
  // CRED-004: lifetime
  if (!(c.notBefore < c.notAfter) || c.notAfter - c.notBefore > LIMITS.MaxCredentialLifetime) {
    fail('bad_credential', 'credential lifetime', 'CRED-004');
  }
  // CRED-005: validity at now ± skew
  if (now + skew < c.notBefore || now - skew > c.notAfter) fail('credential_expired', 'credential not valid now', 'CRED-005');
  // CRED-006: realm, byte for byte
  if (!bytesEqual(c.realm, trust.realm)) fail('realm_mismatch', 'credential for another realm', 'CRED-006');
  // CRED-007: server_key passes SIG-001
  const serverKey = validatePublicKey(c.serverKey, 'bad_key', 'CRED-007');

  // the revocation list: version, decoding, serial order (CRED-010)
  const l = decodeRevocationList(listBytes);
  // CRED-010: authority_id, then the signature
  if (!ctEqual(l.authorityId, authorityKeyId)) fail('bad_credential', 'revocation list of another authority', 'CRED-010');
  verify(trust.authorityKey, SIG_LABELS.revocationList, l.signed, l.signature, { alert: 'bad_credential', requirement: 'CRED-010' });
  // CRED-011: list lifetime
  if (!(l.thisUpdate < l.nextUpdate) || l.nextUpdate - l.thisUpdate > LIMITS.MaxRevocationListLifetime) {
    fail('bad_credential', 'revocation list lifetime', 'CRED-011');
  }
  // CRED-012: freshness
  if (now - skew > l.nextUpdate || now + skew < l.thisUpdate) fail('revocation_stale', 'stale revocation list', 'CRED-012');
  // CRED-013: no rollback to a list older than one accepted before
  if (l.number < trust.acceptedNumber) fail('revocation_stale', 'revocation list older than one accepted before', 'CRED-013');
  // CRED-014: the credential's serial is not revoked
  if (l.revoked.includes(c.serial)) fail('credential_revoked', 'credential revoked', 'CRED-014');

  return { serverKey, credential: c, revocationList: l };
}
