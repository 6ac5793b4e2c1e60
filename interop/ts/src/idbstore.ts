/**
 * A replay store in IndexedDB, for browsers: the persistent counterpart of FileReplayStore (node.ts) where
 * there is no file system. Each `save` is one readwrite transaction with durability 'strict' and resolves
 * when it has committed, so a resolved `save` survives a crash of the browser (REPLAY-013) as far as the
 * browser's own storage guarantees; a failed transaction rejects and the state is not counted as saved.
 * One object per page (see `ReplayStore`): a new IndexedDBReplayStore over the same database is a restart.
 * The database holds no secret, but its loss (the user clearing site data) is a lost state.
 */
import type { ReplayStore, SerializedEpochs, SerializedPins, SerializedReplayState } from './replay.js';

type Saved = SerializedReplayState | SerializedEpochs | SerializedPins;

/** The object store inside the database: values are the JSON text of the state, under its store key. */
const objectStore = 'replay';

export class IndexedDBReplayStore implements ReplayStore {
  private db: Promise<IDBDatabase> | undefined;

  /**
   * @param name the database name; one per client configuration that must not share state
   * @param factory the IndexedDB factory; default `globalThis.indexedDB`
   */
  constructor(
    readonly name = 'sealfeed-replay',
    private readonly factory: IDBFactory | undefined = globalThis.indexedDB,
  ) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      if (!this.factory) throw new Error('IndexedDB is not available');
      const req = this.factory.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(objectStore);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB open failed'));
      req.onblocked = () => reject(new Error('IndexedDB open blocked by another connection'));
    });
    // a failed open is retried by the next call rather than cached
    this.db.catch(() => (this.db = undefined));
    return this.db;
  }

  async load(key: string): Promise<Saved | undefined> {
    const db = await this.open();
    const text = await new Promise<unknown>((resolve, reject) => {
      const req = db.transaction(objectStore, 'readonly').objectStore(objectStore).get(key);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB read failed'));
    });
    if (text === undefined) return undefined;
    if (typeof text !== 'string') throw new Error('damaged replay state in IndexedDB');
    return JSON.parse(text) as Saved;
  }

  async save(key: string, state: Saved): Promise<void> {
    const db = await this.open();
    const text = JSON.stringify(state);
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(objectStore, 'readwrite', { durability: 'strict' });
      tx.objectStore(objectStore).put(text, key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB write failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'));
    });
  }

  /** Closes the database connection (a later call opens it again). */
  close(): void {
    const db = this.db;
    this.db = undefined;
    void db?.then((d) => d.close(), () => undefined);
  }
}
