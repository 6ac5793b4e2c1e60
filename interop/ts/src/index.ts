/**
 * @sealfeed/client: an independent TypeScript implementation of the SealFeed v1 protocol client
 * (spec/SPEC.md), for browsers and Node 20. The core has no Node-only imports; `@sealfeed/client/node`
 * adds the `ws` WebSocket for Node.
 */
export * from './alert.js';
export * from './bytes.js';
export * from './constants.js';
export * from './wire.js';
export * from './extensions.js';
export * from './messages.js';
export * from './random.js';
export * from './suites.js';
export * from './ed25519.js';
export * from './keyschedule.js';
export * from './credential.js';
export * from './token.js';
export * from './publisher.js';
export * from './record.js';
export * from './session.js';
export * from './handshake.js';
export * from './merkle.js';
export * from './batch.js';
export * from './replay.js';
export * from './client.js';
export * from './reconnect.js';
export * from './idbstore.js';
export * from './webhook.js';
