/**
 * Node entry point: the `ws` package as the WebSocket of SealFeedClient. The core library (index.ts) has no
 * Node-only imports; this file is the only one that loads `ws`.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SealFeedClient, type SealFeedClientOptions, type WebSocketConstructor } from './client.js';
import type { ReplayStore, SerializedEpochs, SerializedPins, SerializedReplayState } from './replay.js';

export * from './index.js';

/** `ws`'s WebSocket, typed as the constructor SealFeedClient accepts. */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** SealFeedClient.connect with Node's `ws` WebSocket. */
export function connect(opts: Omit<SealFeedClientOptions, 'WebSocket'> & { WebSocket?: WebSocketConstructor }): Promise<SealFeedClient> {
  return SealFeedClient.connect({ ...opts, WebSocket: opts.WebSocket ?? NodeWebSocket });
}

/**
 * A replay store in a directory, one JSON file per key, for Node: `save` writes a temporary file, syncs it,
 * renames it over the old one and syncs the directory, so a crash leaves the old state or the new one, never a
 * mix, and a resolved `save` survives a crash (REPLAY-013). One object per process (see `ReplayStore`): a new
 * FileReplayStore over the same directory is a restart. The directory holds no secret, but its loss is a lost
 * state.
 */
export class FileReplayStore implements ReplayStore {
  private ready: Promise<void> | undefined;
  private tmpCount = 0;

  constructor(readonly dir: string) {}

  /** Keys are hex and colons (replayKey, epochKey, pinsKey): the file name is the key with ':' as '_'. */
  private file(key: string): string {
    if (!/^[0-9a-f:]+(epochs|pins)?$/.test(key)) throw new RangeError('unexpected replay store key');
    return join(this.dir, `${key.replaceAll(':', '_')}.json`);
  }

  async load(key: string): Promise<SerializedReplayState | SerializedEpochs | SerializedPins | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(key), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return JSON.parse(text) as SerializedReplayState | SerializedEpochs | SerializedPins;
  }

  async save(key: string, state: SerializedReplayState | SerializedEpochs | SerializedPins): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.ready;
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.${++this.tmpCount}.tmp`;
    const f = await open(tmp, 'w', 0o600);
    try {
      await f.writeFile(JSON.stringify(state));
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, file);
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
