/**
 * Sealed payloads live against the Go reference server (spec/sealed.md §8): a TypeScript client with a sealing
 * key made here (its record signed by the client's identity key, SEAL-002) and the `sealing` option receives, over
 * `sealfeed serve`, an envelope that the Go CLI sealed to its record (`sealfeed publish -seal-to`, which checks the
 * record against the client ID, SEAL-006) and one that the TypeScript publisher sealed (`verifySealKeyRecord`,
 * `sealPayload`): both opened, marked sealed by the publisher's KeyID. An envelope sealed by a publisher key the
 * client does not trust arrives with `untrusted_publisher` and is acknowledged (SEAL-031); a plain message is not
 * sealed (SEAL-032). The server only ever stored ciphertext.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromHex, parsePrivateKeyPem, publicKeyOf, Publisher, secureRandom, toHex, type DeliveredMessage } from '../src/index.js';
import { connect } from '../src/node.js';
import { generateSealKey, sealKeyFrom, sealPayload, SealedError, SealedOpener, verifySealKeyRecord } from '../src/sealed.js';
import { publisherKey, run, sealfeedBinary, startGoServer, until, type GoServer } from './helpers/goserver.js';

/** The record file `sealfeed seal-key -record` writes: one PEM block SEALFEED SEAL KEY RECORD (spec/sealed.md §10). */
function recordPem(raw: Uint8Array): string {
  const b64 = Buffer.from(raw).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN SEALFEED SEAL KEY RECORD-----\n${b64}\n-----END SEALFEED SEAL KEY RECORD-----\n`;
}

test('sealed payloads with the Go reference server: sealed by the Go CLI and by the TS publisher, opened by the TS client', { timeout: 120000 }, async () => {
  const bin = await sealfeedBinary();
  const dir = mkdtempSync(join(tmpdir(), 'sealfeed-tssealed-'));
  let server: GoServer | undefined;
  try {
    const { keyFile, pubFile, keyId } = await publisherKey(dir);
    server = await startGoServer(dir, pubFile);
    const publisherSeed = parsePrivateKeyPem(readFileSync(keyFile, 'utf8'));
    const identitySeed = secureRandom(32);
    // the default suite, MLKEM768-X25519 with ChaCha20Poly1305 (SEAL-001)
    const key = await generateSealKey(identitySeed);
    const recFile = join(dir, 'client.seal.rec');
    writeFileSync(recFile, recordPem(key.record.raw));
    const got: DeliveredMessage[] = [];
    const sealing = new SealedOpener([await sealKeyFrom(key.privateKey, key.record.raw)], [publicKeyOf(publisherSeed)]);
    const c = await connect({ url: server.ws, trust: { kind: 'pinned', keyId: fromHex(server.fingerprint) }, identitySeed, sealing, onMessage: (m) => void got.push(m) });
    try {
      // 1. sealed by Go: sealfeed publish -seal-to checks the record against -to and seals
      await run(bin, ['publish', '-server', server.base, '-key', keyFile, '-to', c.clientIdHex, '-seal-to', recFile, '-text', 'sealed by Go']);
      await until(() => got.length === 1, 'the Go-sealed message');
      // 2. sealed by the TS publisher to the record it verified against the client ID (SEAL-006)
      const record = await verifySealKeyRecord(key.record.raw, { clientId: c.clientId }, BigInt(Math.floor(Date.now() / 1000)));
      const publisher = new Publisher({ baseUrl: server.base, key: readFileSync(keyFile, 'utf8') });
      const r = await publisher.publish({ to: [c.clientIdHex], payload: await sealPayload(record, publisherSeed, new TextEncoder().encode('sealed by TS')) });
      // 3. sealed by a key the client does not trust, published by the registered key; 4. plain
      const forged = await sealPayload(record, secureRandom(32), new TextEncoder().encode('forged'));
      await publisher.publish({ to: [c.clientIdHex], payload: forged });
      await publisher.publish({ to: [c.clientIdHex], text: 'plain' });
      await until(() => got.length === 4, 'four messages');

      const text = (m: DeliveredMessage) => new TextDecoder().decode(m.payload);
      for (const [m, want] of [[got[0]!, 'sealed by Go'], [got[1]!, 'sealed by TS']] as const) {
        assert.deepEqual([m.sealed, text(m), m.sealError], [true, want, undefined]);
        assert.equal(toHex(m.sealedBy!), keyId);
        assert.ok(m.sealedAt! > 0n && BigInt(Date.now()) / 1000n - m.sealedAt! < 600n, `sealedAt ${m.sealedAt}`);
      }
      assert.equal(BigInt(r.messages[0]!.message_id), got[1]!.messageId);
      assert.equal(got[2]!.sealed, false);
      assert.ok(got[2]!.sealError instanceof SealedError && got[2]!.sealError.code === 'untrusted_publisher', String(got[2]!.sealError));
      assert.deepEqual(got[2]!.payload, forged);
      assert.deepEqual([got[3]!.sealed, text(got[3]!)], [false, 'plain']);
      // SEAL-031: the one that did not open was acknowledged like the others
      for (const t0 = Date.now(); (await publisher.presence(c.clientId)).pending !== 0; await new Promise((res) => setTimeout(res, 50))) {
        if (Date.now() - t0 > 30000) throw new Error('not every message was acknowledged');
      }
    } finally {
      await c.close();
    }
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
