/**
 * The client handshake state machine (§6) beyond the vectors: state after failure, alert frames, tickets,
 * GREASE, a server alert while the client waits for Welcome (ALERT-001), unimplemented versions (HS-014).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ClientHandshake,
  decodeClientHello,
  decodeFrame,
  decodePlaintextFrame,
  decodeServerHello,
  encodeFrame,
  encodeMessage,
  encodeServerHello,
  EXT_RESUMPTION_TICKET,
  FRAME_PLAINTEXT,
  FRAME_PROTECTED,
  isGrease,
  MSG,
  RecordReceiver,
  RecordSender,
  SealFeedError,
  secureRandom,
} from '../src/index.js';
import { handshakeVector } from './helpers/scripted.js';

function thrown(fn: () => unknown): SealFeedError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SealFeedError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

test('a failed handshake is CLOSED and rejects every later frame (HS-050); its alert is plaintext before keys (ALERT-001)', () => {
  const v = handshakeVector(41); // ServerHello names a version the client did not offer
  const hs = new ClientHandshake(v.config);
  hs.start();
  const e = thrown(() => hs.receive(v.frames[1]!.frame));
  assert.equal(e.alert, 'illegal_parameter');
  assert.equal(hs.state, 'CLOSED');
  assert.equal(thrown(() => hs.receive(v.frames[1]!.frame)).alert, 'unexpected_message');
  const af = hs.alertFrame(e)!;
  assert.equal(decodeFrame(af).type, FRAME_PLAINTEXT);
  assert.deepEqual(decodePlaintextFrame(af).body, Uint8Array.of(21));
});

test('after handshake keys exist the alert is protected under the client handshake key (ALERT-001)', () => {
  const v = handshakeVector(25); // server Finished tampered: decrypt_error
  const secrets = new Map<string, Uint8Array>();
  const hs = new ClientHandshake({ ...v.config, trace: (k, n, val) => k === 'secret' && secrets.set(n, val) });
  hs.start();
  hs.receive(v.frames[1]!.frame);
  const e = thrown(() => hs.receive(v.frames[2]!.frame));
  assert.equal(e.alert, 'decrypt_error');
  const af = hs.alertFrame(e)!;
  assert.equal(decodeFrame(af).type, FRAME_PROTECTED);
  const rx = new RecordReceiver(1, secrets.get('c_hs_traffic')!);
  const msgs = rx.open(af);
  assert.deepEqual([msgs[0]!.type, msgs[0]!.body[0]], [MSG.Alert, 42]);
});

test('a peer alert is not answered (POST-006)', () => {
  const v = handshakeVector(53);
  const hs = new ClientHandshake(v.config);
  hs.start();
  const e = thrown(() => hs.receive(v.frames[1]!.frame));
  assert.equal(e.alert, 'handshake_failure');
  assert.equal(e.fromPeer, true);
  assert.equal(hs.alertFrame(e), undefined);
});

test('ALERT-001: waiting for Welcome, an Alert under s_ap_traffic_0 ends the handshake with its code; under the handshake key it is bad_record_mac', () => {
  const v = handshakeVector(1);
  const hs = new ClientHandshake(v.config);
  hs.start();
  hs.receive(v.frames[1]!.frame);
  hs.receive(v.frames[2]!.frame);
  // the server failed on our flight: its current sending key is s_ap_traffic_0 (the key of Welcome), at 0
  const tx = new RecordSender(1, v.secret('s_ap_traffic_0'), 0n);
  const e = thrown(() => hs.receive(tx.seal([encodeMessage(MSG.Alert, Uint8Array.of(42))])));
  assert.equal(e.alert, 'decrypt_error');
  assert.equal(e.fromPeer, true);
  assert.equal(hs.alertFrame(e), undefined); // never answered (POST-006)
  // the same Alert under the server handshake key (the key of its flight, sequence 1) does not open (REC-001)
  const hs2 = new ClientHandshake(handshakeVector(1).config);
  hs2.start();
  hs2.receive(v.frames[1]!.frame);
  hs2.receive(v.frames[2]!.frame);
  const tx2 = new RecordSender(1, v.secret('s_hs_traffic'), 1n);
  assert.equal(thrown(() => hs2.receive(tx2.seal([encodeMessage(MSG.Alert, Uint8Array.of(42))]))).alert, 'bad_record_mac');
  // an Alert first in the protected record ends the handshake whatever follows it (HS-020, POST-001 notwithstanding)
  const hs3 = new ClientHandshake(handshakeVector(1).config);
  hs3.start();
  hs3.receive(v.frames[1]!.frame);
  hs3.receive(v.frames[2]!.frame);
  const tx3 = new RecordSender(1, v.secret('s_ap_traffic_0'), 0n);
  const e3 = thrown(() => hs3.receive(tx3.seal([encodeMessage(MSG.Alert, Uint8Array.of(51)), encodeMessage(0x7e, new Uint8Array(0))])));
  assert.deepEqual([e3.alert, e3.fromPeer], ['bad_credential', true]);
});

test('HS-014: a ServerHello naming an offered version the client does not implement is illegal_parameter', () => {
  const v = handshakeVector(5); // the client offers 0x0002 and 0x0001; the vector's server picks 1
  const hs = new ClientHandshake(v.config);
  hs.start();
  const sh = decodeServerHello(decodePlaintextFrame(v.frames[1]!.frame).body);
  const picked2 = encodeFrame({ type: FRAME_PLAINTEXT, fragment: encodeMessage(MSG.ServerHello, encodeServerHello({ ...sh, version: 2 })) });
  const e = thrown(() => hs.receive(picked2));
  assert.equal(e.alert, 'illegal_parameter');
  assert.equal(e.requirement, 'HS-014');
});

test('tickets: not sent by key-identified clients (HS-005) nor past their lifetime (HS-044)', () => {
  const ticket = { ticket: Uint8Array.of(1, 2, 3), psk: secureRandom(32), clientId: secureRandom(32), expires: 2000n };
  const base = { trust: { kind: 'pinned' as const, keyId: secureRandom(32) }, groups: [1], ticket, now: () => 1000n };
  const ch = (cfg: ConstructorParameters<typeof ClientHandshake>[0]) =>
    decodeClientHello(decodePlaintextFrame(new ClientHandshake(cfg).start()).body).extensions.map((e) => e.type);
  assert.ok(ch(base).includes(EXT_RESUMPTION_TICKET));
  assert.ok(!ch({ ...base, now: () => 2000n }).includes(EXT_RESUMPTION_TICKET));
  assert.ok(!ch({ ...base, identitySeed: secureRandom(32) }).includes(EXT_RESUMPTION_TICKET));
});

test('the default offer: hybrid then X25519, both AEADs, GREASE in every list (SUITE-001, EXT-003)', () => {
  const hs = new ClientHandshake({ trust: { kind: 'pinned', keyId: secureRandom(32) } });
  const ch = decodeClientHello(decodePlaintextFrame(hs.start()).body);
  assert.ok(isGrease(ch.versions[0]!) && ch.versions[1] === 1);
  assert.deepEqual(
    ch.keyShares.slice(1).map((k) => [k.group, k.keyExchange.length]),
    [
      [2, 1216],
      [1, 32],
    ],
  );
  assert.ok(isGrease(ch.keyShares[0]!.group));
  assert.deepEqual(ch.aeads.slice(1), [1, 2]);
  assert.ok(ch.extensions.some((e) => isGrease(e.type) && e.type < 0x8000));
});
