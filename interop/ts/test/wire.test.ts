import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeFrame,
  decodePlaintextFrame,
  encodeFrame,
  encodeMessage,
  fromHex,
  LIMITS,
  parseInnerPlaintext,
  Reader,
  Writer,
} from '../src/index.js';
import { alertOf } from './helpers/alert.js';


test('Reader: truncation, ranges and trailing bytes are decode_error (WIRE-001)', () => {
  assert.equal(alertOf(() => new Reader(new Uint8Array(1), 'x').u16()), 'decode_error');
  assert.equal(alertOf(() => new Reader(fromHex('0403aabb'), 'x').vec(1, 4)), 'decode_error'); // more than remains
  assert.equal(alertOf(() => new Reader(fromHex('03aabbcc'), 'x').vec(1, 2)), 'decode_error'); // length 3 > max
  assert.equal(alertOf(() => new Reader(fromHex('00'), 'x').vec(1, 2)), 'decode_error'); // below min
  const ok = new Reader(fromHex('02aabb00'), 'x');
  assert.deepEqual(ok.vec(0, 255), fromHex('aabb'));
  assert.equal(alertOf(() => ok.end()), 'decode_error');
});

test('Reader: length prefixes follow the range maximum (§3)', () => {
  const w = new Writer().vec(new Uint8Array(3), 0, 255).vec(new Uint8Array(2), 0, 65535).vec(new Uint8Array(1), 0, 0xffffff);
  assert.equal(Buffer.from(w.finish()).toString('hex'), '03000000' + '00020000' + '00000100');
  const big = new Reader(fromHex('ffffffff'), 'x');
  assert.equal(big.u32(), 0xffffffff);
});

test('frames: type, empty, oversized before reading on, length mismatch (WIRE-022, WIRE-023)', () => {
  assert.equal(alertOf(() => decodeFrame(fromHex('18000001aa'))), 'decode_error');
  assert.equal(alertOf(() => decodeFrame(fromHex('16000000'))), 'decode_error');
  assert.equal(alertOf(() => decodeFrame(fromHex('16004001'))), 'record_overflow');
  assert.equal(alertOf(() => decodeFrame(fromHex('17100011'))), 'record_overflow');
  assert.equal(alertOf(() => decodeFrame(fromHex('1700000aaa'))), 'decode_error');
  const f = { type: 0x17, fragment: new Uint8Array(LIMITS.MaxRecordPlaintext + 16) };
  assert.deepEqual(decodeFrame(encodeFrame(f)).fragment.length, LIMITS.MaxRecordPlaintext + 16);
});

test('plaintext frames carry exactly one ClientHello, ServerHello or Alert (WIRE-020, REC-006)', () => {
  const alert = encodeFrame({ type: 0x16, fragment: encodeMessage(0x15, fromHex('28')) });
  assert.equal(decodePlaintextFrame(alert).type, 0x15);
  assert.equal(alertOf(() => decodePlaintextFrame(encodeFrame({ type: 0x16, fragment: encodeMessage(0x12, fromHex('00')) }))), 'unexpected_message');
  assert.equal(alertOf(() => decodePlaintextFrame(encodeFrame({ type: 0x17, fragment: new Uint8Array(20) }))), 'unexpected_message');
  assert.equal(alertOf(() => decodePlaintextFrame(fromHex('16000006150000010000'))), 'decode_error');
});

test('inner plaintext: messages, zero padding, at least one message (REC-003, REC-007)', () => {
  const m1 = encodeMessage(0x13, fromHex('0001'));
  const m2 = encodeMessage(0x11, fromHex('00'));
  const inner = new Uint8Array([...m1, ...m2, 0, 0, 0]);
  assert.deepEqual(
    parseInnerPlaintext(inner).map((m) => m.type),
    [0x13, 0x11],
  );
  assert.equal(alertOf(() => parseInnerPlaintext(new Uint8Array(8))), 'decode_error');
  assert.equal(alertOf(() => parseInnerPlaintext(new Uint8Array([...m1, 0, 1]))), 'decode_error');
  assert.equal(alertOf(() => parseInnerPlaintext(new Uint8Array([...m1, 0x13, 0]))), 'decode_error');
  assert.equal(alertOf(() => parseInnerPlaintext(new Uint8Array(LIMITS.MaxRecordPlaintext + 1).fill(1))), 'record_overflow');
});
