/**
 * Node entry point: the `ws` package as the WebSocket of SealFeedClient. The core library (index.ts) has no
 * Node-only imports; this file is the only one that loads `ws`.
 */
import WebSocket from 'ws';
import { SealFeedClient, type SealFeedClientOptions, type WebSocketConstructor } from './client.js';

export * from './index.js';

/** `ws`'s WebSocket, typed as the constructor SealFeedClient accepts. */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** SealFeedClient.connect with Node's `ws` WebSocket. */
export function connect(opts: Omit<SealFeedClientOptions, 'WebSocket'> & { WebSocket?: WebSocketConstructor }): Promise<SealFeedClient> {
  return SealFeedClient.connect({ ...opts, WebSocket: opts.WebSocket ?? NodeWebSocket });
}
