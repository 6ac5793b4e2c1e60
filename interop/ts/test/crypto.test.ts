/**
 * Suites (§4), the signature rule (§4.2) and the key schedule (§7).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ed25519 as nobleEd } from '@noble/curves/ed25519.js';
import {
  concat,
  expandLabel,
  fromHex,
  generateClientShare,
  getAead,
  GROUP_X25519,
  GROUP_X25519MLKEM768,
  HASH_LABELS,
  HKDF_LABELS,
  keyId,
  LABEL_PREFIX,
  publicKeyOf,
  secureRandom,
  serverRespond,
  sign,
  SIG_LABELS,
  signedMessage,
  toHex,
  validatePublicKey,
  verify,
} from '../src/index.js';
import { alertOf } from './helpers/alert.js';


test('AEADs: round trip, tag and aad failures (SUITE-004)', () => {
  for (const id of [1, 2]) {
    const a = getAead(id);
    const key = secureRandom(32);
    const nonce = secureRandom(12);
    const ct = a.seal(key, nonce, Uint8Array.of(1, 2, 3), Uint8Array.of(9));
    assert.equal(ct.length, 3 + 16);
    assert.deepEqual(a.open(key, nonce, ct, Uint8Array.of(9)), Uint8Array.of(1, 2, 3));
    assert.equal(a.open(key, nonce, ct, Uint8Array.of(8)), null);
    ct[0]! ^= 1;
    assert.equal(a.open(key, nonce, ct, Uint8Array.of(9)), null);
    assert.equal(a.open(key, nonce, new Uint8Array(15), new Uint8Array(0)), null);
  }
});

test('groups: both sides agree; low-order and wrong-length shares are illegal_parameter (SUITE-002, SUITE-003)', () => {
  for (const g of [GROUP_X25519, GROUP_X25519MLKEM768]) {
    const c = generateClientShare(g, secureRandom);
    const s = serverRespond(g, c.share, secureRandom(g === GROUP_X25519 ? 32 : 64));
    assert.deepEqual(c.finish(s.share), s.shared);
    assert.equal(s.shared.length, g === GROUP_X25519 ? 32 : 64);
  }
  const c = generateClientShare(GROUP_X25519, secureRandom);
  assert.equal(alertOf(() => c.finish(new Uint8Array(32))), 'illegal_parameter');
  assert.equal(alertOf(() => c.finish(new Uint8Array(31))), 'illegal_parameter');
  const hc = generateClientShare(GROUP_X25519MLKEM768, secureRandom);
  const hs = serverRespond(GROUP_X25519MLKEM768, hc.share, secureRandom(64));
  const lowX = concat(hs.share.subarray(0, 1088), new Uint8Array(32));
  assert.equal(alertOf(() => hc.finish(lowX)), 'illegal_parameter');
  // an encapsulation key coefficient ≥ q fails the FIPS 203 modulus check
  const badEk = Uint8Array.from(hc.share);
  badEk[0] = 0xff;
  badEk[1] = 0x0f;
  assert.equal(alertOf(() => serverRespond(GROUP_X25519MLKEM768, badEk, secureRandom(64))), 'illegal_parameter');
});

const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const pub = publicKeyOf(seed);

test('sign/verify with labels; wrong label is bad_signature (§4.2, SUITE-010)', () => {
  const key = validatePublicKey(pub);
  const sig = sign(seed, SIG_LABELS.server, Uint8Array.of(1, 2));
  verify(key, SIG_LABELS.server, Uint8Array.of(1, 2), sig);
  assert.equal(alertOf(() => verify(key, SIG_LABELS.client, Uint8Array.of(1, 2), sig)), 'bad_signature');
  assert.equal(alertOf(() => verify(key, SIG_LABELS.server, Uint8Array.of(1, 2), sig, { alert: 'bad_credential' })), 'ok');
  const bad = Uint8Array.from(sig);
  bad[63]! |= 0x80; // S ≥ L
  assert.equal(alertOf(() => verify(key, SIG_LABELS.server, Uint8Array.of(1, 2), bad, { alert: 'bad_credential' })), 'bad_credential');
});

test('SIG-001: identity, small-order, mixed-order and non-canonical keys are bad_key', () => {
  const P = nobleEd.Point;
  const identity = P.ZERO.toBytes();
  assert.equal(alertOf(() => validatePublicKey(identity)), 'bad_key');
  // a point of order 8: the torsion subgroup generator
  const t8 = P.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
  assert.equal(alertOf(() => validatePublicKey(t8.toBytes())), 'bad_key');
  const mixed = P.fromBytes(pub).add(t8).toBytes();
  assert.equal(alertOf(() => validatePublicKey(mixed)), 'bad_key');
  assert.equal(alertOf(() => validatePublicKey(new Uint8Array(32).fill(0xff))), 'bad_key');
  assert.equal(alertOf(() => validatePublicKey(new Uint8Array(31))), 'bad_key');
  assert.equal(alertOf(() => validatePublicKey(pub)), 'ok');
});

test('§10.4: a batch signature is plain RFC 8032 Ed25519, checked by the one rule', () => {
  const key = validatePublicKey(pub);
  const msg = Uint8Array.of(1, 2, 3);
  const sig = sign(seed, SIG_LABELS.batch, msg);
  // byte for byte what a standard Ed25519 library produces and accepts
  assert.deepEqual(sig, nobleEd.sign(signedMessage(SIG_LABELS.batch, msg), seed));
  assert.ok(nobleEd.verify(sig, signedMessage(SIG_LABELS.batch, msg), pub));
  verify(key, SIG_LABELS.batch, msg, sig);
  const bad = Uint8Array.from(sig);
  bad[40]! ^= 1;
  assert.equal(alertOf(() => verify(key, SIG_LABELS.batch, msg, bad)), 'bad_signature');
});

test('labels: every label starts with the prefix and no two are equal (SUITE-010, KS-002)', () => {
  const all = [...Object.values(HKDF_LABELS).map((l) => LABEL_PREFIX + l), ...Object.values(SIG_LABELS), ...Object.values(HASH_LABELS)];
  for (const l of all) assert.ok(l.startsWith('sealfeed v1 '), l);
  assert.equal(new Set(all).size, all.length);
});

test('ExpandLabel and KeyID', () => {
  assert.equal(expandLabel(new Uint8Array(32), 'key', new Uint8Array(0), 7).length, 7);
  assert.equal(toHex(keyId(pub)).length, 64);
  assert.notDeepEqual(keyId(pub), keyId(publicKeyOf(new Uint8Array(32))));
});
