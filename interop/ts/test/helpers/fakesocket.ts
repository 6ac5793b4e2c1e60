/**
 * An in-memory WebSocket for client tests: what the client sends goes to `toServer`, `deliver` hands it a
 * frame from the server as browsers do (an ArrayBuffer, in a later task).
 */
import type { WebSocketConstructor, WebSocketLike } from '../../src/index.js';

/** An in-memory WebSocket whose other end is a ScriptedServer. */
export function fakeSocket(onServer: (sock: FakeSocket) => void): WebSocketConstructor {
  return class extends FakeSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      onServer(this);
    }
  };
}

export class FakeSocket implements WebSocketLike {
  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  toServer: (frame: Uint8Array) => void = () => undefined;
  readonly sent: Uint8Array[] = [];
  closedByClient = false;

  constructor(
    readonly url: string,
    protocols?: string | string[],
  ) {
    this.protocol = ([] as string[]).concat(protocols ?? []).includes('sealfeed.v1') ? 'sealfeed.v1' : '';
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  send(data: Uint8Array): void {
    const copy = Uint8Array.from(data);
    this.sent.push(copy);
    this.toServer(copy);
  }
  close(): void {
    if (this.readyState === 3) return;
    this.closedByClient = true;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code: 1000 }));
  }
  /** a frame from the server, as an ArrayBuffer like browsers deliver it */
  deliver(frame: Uint8Array): void {
    setTimeout(() => this.onmessage?.({ data: frame.slice().buffer }));
  }
}
