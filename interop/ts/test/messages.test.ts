import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkExtensions,
  decodeAck,
  decodeClientHello,
  decodeHeartbeat,
  decodeKeyUpdate,
  decodeServerIdentity,
  decodeWelcome,
  encodeAck,
  encodeClientHello,
  encodeHeartbeat,
  encodeServerIdentity,
  encodeWelcome,
  KNOWN_EXTENSIONS,
  type Welcome,
} from '../src/index.js';
import { alertOf } from './helpers/alert.js';


const ch = {
  random: new Uint8Array(32).fill(7),
  versions: [0x1a1a, 1],
  keyShares: [
    { group: 0x1a1a, keyExchange: Uint8Array.of(0) },
    { group: 1, keyExchange: new Uint8Array(32).fill(9) },
  ],
  aeads: [0x1a1a, 1, 2],
  extensions: [
    { type: 1, data: new TextEncoder().encode('push.example') },
    { type: 0x2a2a, data: new Uint8Array(0) },
  ],
};

test('ClientHello round trip, duplicates and order (HS-002, HS-004)', () => {
  const b = encodeClientHello(ch);
  assert.deepEqual(decodeClientHello(b), ch);
  assert.equal(alertOf(() => decodeClientHello(encodeClientHello({ ...ch, aeads: [1, 1] }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeClientHello(encodeClientHello({ ...ch, extensions: [...ch.extensions].reverse() }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeClientHello(b.subarray(0, b.length - 1))), 'decode_error');
});

const welcome: Welcome = {
  clientId: new Uint8Array(32).fill(1),
  resumed: false,
  maxPayload: 65536,
  maxRecord: 1 << 20,
  idleTimeoutMs: 30000,
  ticket: new Uint8Array(40).fill(3),
  ticketLifetime: 86400,
  storeEpoch: new Uint8Array(16).fill(7),
  extensions: [],
};

test('Welcome: POST-002 checks', () => {
  assert.deepEqual(decodeWelcome(encodeWelcome(welcome)), welcome);
  // POST-010: store_epoch is 16 bytes before the extensions; a Welcome cut inside it is decode_error
  const full = encodeWelcome(welcome);
  assert.deepEqual(decodeWelcome(full).storeEpoch, new Uint8Array(16).fill(7));
  assert.equal(alertOf(() => decodeWelcome(full.subarray(0, full.length - 2 - 8))), 'decode_error');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, maxRecord: (1 << 20) + 1 }))), 'illegal_parameter');
  // max_payload above MaxPayload (65 536): the session's max_payload never exceeds the limit of §15
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, maxPayload: 65537 }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, maxPayload: 0xffffffff }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, ticketLifetime: 0 }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, ticket: new Uint8Array(0) }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, ticketLifetime: 7 * 86400 + 1 }))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, extensions: [{ type: 0x8001, data: new Uint8Array(0) }] }))), 'unknown_critical_extension');
  assert.equal(alertOf(() => decodeWelcome(encodeWelcome({ ...welcome, extensions: [{ type: 1, data: Uint8Array.of(1) }] }))), 'illegal_parameter');
  const flags = encodeWelcome(welcome);
  flags[32] = 2;
  assert.equal(alertOf(() => decodeWelcome(flags)), 'illegal_parameter');
});

test('ServerIdentity: selector and extensions (WIRE-004, EXT-002)', () => {
  const si = { identityType: 1 as const, publicKey: new Uint8Array(32).fill(5), extensions: [{ type: 0x0a0a, data: Uint8Array.of(1, 2) }] };
  assert.deepEqual(decodeServerIdentity(encodeServerIdentity(si)), si);
  const bad = encodeServerIdentity(si);
  bad[0] = 3;
  assert.equal(alertOf(() => decodeServerIdentity(bad)), 'decode_error');
  assert.equal(alertOf(() => decodeServerIdentity(encodeServerIdentity({ ...si, extensions: [{ type: 0xfafa, data: new Uint8Array(0) }] }))), 'unknown_critical_extension');
});

test('KeyUpdate and Ack (POST-003, POST-005)', () => {
  assert.equal(decodeKeyUpdate(Uint8Array.of(1)), true);
  assert.equal(alertOf(() => decodeKeyUpdate(Uint8Array.of(2))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeKeyUpdate(Uint8Array.of(0, 0))), 'decode_error');
  assert.deepEqual(decodeAck(encodeAck([1n, 5n, 2n ** 64n - 1n])), [1n, 5n, 2n ** 64n - 1n]);
  assert.throws(() => encodeAck([2n, 1n]));
  assert.throws(() => encodeAck([]));
});

test('extension rules: known but not allowed, malformed known data (EXT-005, EXT-007)', () => {
  assert.equal(alertOf(() => checkExtensions([{ type: 2, data: Uint8Array.of(1) }], new Set([3]))), 'illegal_parameter');
  assert.equal(alertOf(() => checkExtensions([{ type: 3, data: Uint8Array.of(1) }], new Set([3]))), 'decode_error');
  assert.equal(alertOf(() => checkExtensions([{ type: 1, data: new Uint8Array(0) }], KNOWN_EXTENSIONS)), 'decode_error');
  assert.equal(alertOf(() => checkExtensions([{ type: 0x7f00, data: Uint8Array.of(1) }], new Set())), 'ok');
});

test('Heartbeat: one byte, 0 or 1 (POST-020, WIRE-011)', () => {
  assert.equal(decodeHeartbeat(encodeHeartbeat(true)), true);
  assert.equal(decodeHeartbeat(encodeHeartbeat(false)), false);
  assert.deepEqual([...encodeHeartbeat(true)], [1]);
  assert.equal(alertOf(() => decodeHeartbeat(Uint8Array.of(2))), 'illegal_parameter');
  assert.equal(alertOf(() => decodeHeartbeat(new Uint8Array(0))), 'decode_error');
  assert.equal(alertOf(() => decodeHeartbeat(Uint8Array.of(0, 0))), 'decode_error');
});
