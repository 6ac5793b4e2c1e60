/**
 * A scripted server for client tests: it replays the server frames of one handshake vector (the client,
 * given the vector's randomness and clock, produces exactly the vector's client frames), then lets the test
 * push protected frames under the traced application secrets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, RecordReceiver, RecordSender, toHex, type ClientConfig } from '../../src/index.js';
import { clientConfig } from '../vectors/areas.js';
import { h, vectorsDir } from '../vectors/harness.js';

export interface HandshakeVector {
  t: Record<string, any>;
  config: ClientConfig;
  frames: { from: string; frame: Uint8Array }[];
  secret(name: string): Uint8Array;
}

export function handshakeVector(tcId: number): HandshakeVector {
  const f = JSON.parse(readFileSync(join(vectorsDir(), 'handshake.json'), 'utf8'));
  const t = f.testGroups.flatMap((g: any) => g.tests).find((x: any) => x.tcId === tcId);
  if (!t) throw new Error(`no handshake vector ${tcId}`);
  return {
    t,
    config: clientConfig(t, undefined),
    frames: (t.frames as any[]).map((x) => ({ from: x.from, frame: h(x.frame) })),
    secret: (name) => h(t.secrets[name]),
  };
}

/**
 * Drives the server side of a vector: `onClientFrame` answers each expected client frame with the vector's
 * following server frames. After the handshake, `serverSender` / `clientReceiver` continue the application
 * records (Welcome was server frame 0 under s_ap_traffic_0).
 */
export class ScriptedServer {
  private next = 0;
  readonly received: Uint8Array[] = [];
  /** the server's application sender (after Welcome) and the client's application receiver; valid vectors only */
  readonly serverSender!: RecordSender;
  readonly clientReceiver!: RecordReceiver;

  constructor(
    readonly v: HandshakeVector,
    private readonly emit: (frame: Uint8Array) => void,
  ) {
    // the AEAD the ServerHello chose: frame header (4), message header (4), random (32), version (2), aead
    const sh = v.frames[1]!.frame;
    const chosen = (sh[8 + 32 + 2]! << 8) | sh[8 + 32 + 3]!;
    if (v.t.secrets.s_ap_traffic_0) {
      this.serverSender = new RecordSender(chosen, v.secret('s_ap_traffic_0'), 1n);
      this.clientReceiver = new RecordReceiver(chosen, v.secret('c_ap_traffic_0'));
    }
  }

  /** The handshake is complete once every vector frame was exchanged. */
  get handshakeDone(): boolean {
    return this.next >= this.v.frames.length;
  }

  onClientFrame(frame: Uint8Array): void {
    if (this.handshakeDone) {
      this.received.push(frame);
      return;
    }
    const want = this.v.frames[this.next]!;
    if (want.from !== 'client' || !bytesEqual(want.frame, frame)) {
      throw new Error(`scripted server: unexpected client frame ${toHex(frame).slice(0, 40)}…`);
    }
    this.next++;
    while (this.next < this.v.frames.length && this.v.frames[this.next]!.from === 'server') this.emit(this.v.frames[this.next++]!.frame);
  }
}
