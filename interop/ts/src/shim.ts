/**
 * The conformance shim of the TypeScript client (spec/conformance.md, Node only): the Go runner
 * (`sealfeed conformance -- node dist/src/shim.js`, or `bin/sealfeed-ts-shim`) starts it once per test.
 *
 * Live mode (CONF-010 … CONF-014):
 *
 * ```
 * shim -mode live -url ws://127.0.0.1:PORT/v1/ws -connections N -handshake-timeout 5s
 *      (-pin HEX | -authority HEX -realm REALM)
 *      [-groups x25519,x25519mlkem768] [-aeads chacha20poly1305,aes256gcm] [-identity-seed HEX] [-token HEX]
 * ```
 *
 * Each connection is a `SealFeedClient` (the library's own handshake, record layer, batch opening and replay
 * protection); the replay store, the resumption ticket and the accepted revocation-list number are kept across
 * the connections. stdout carries exactly the lines of CONF-012; diagnostics go to stderr.
 *
 * Vector mode (`-mode vectors`, conformance/vectormode/PROTOCOL.md, protocol `sealfeed-conformance/1`): JSON
 * lines on stdin and stdout — the hello, then one answer per request, computed by src/vectorcase.ts (the same
 * executor the in-process vector suite judges). Handshake tests of role `server` and `both` are answered
 * `unimplemented` (a client library has no server; see vectorcase.ts). Exit status 0 when stdin ends, 1 on a
 * protocol error (a first line that is not a hello, another protocol version, a malformed request).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { SealFeedError } from './alert.js';
import { fromHex, toHex } from './bytes.js';
import { goingAwayDelayMs, SealFeedClient, type WebSocketConstructor } from './client.js';
import { AEAD_AES_256_GCM, AEAD_CHACHA20_POLY1305, GROUP_X25519, GROUP_X25519MLKEM768 } from './constants.js';
import type { ServerTrust, Ticket } from './handshake.js';
import { publicKeyOf, sign, validatePublicKey, verify } from './ed25519.js';
import { secureRandom } from './random.js';
import { MemoryReplayStore, StorageReplayStore, type ReplayStore } from './replay.js';
import { generateClientShare, getAead, serverRespond } from './suites.js';
import { sealedVectorCase, vectorCase, type Json } from './vectorcase.js';

/** Exit status of `result unimplemented` (CONF-012). */
export const EXIT_UNIMPLEMENTED = 89;
/** Exit status of a command line the shim cannot use (as Go's flag package). */
export const EXIT_USAGE = 2;

const GROUPS: Record<string, number> = { x25519: GROUP_X25519, x25519mlkem768: GROUP_X25519MLKEM768 };
const AEADS: Record<string, number> = { chacha20poly1305: AEAD_CHACHA20_POLY1305, aes256gcm: AEAD_AES_256_GCM };

/** The flags the shim knows, with their defaults. */
const FLAG_DEFAULTS = {
  mode: 'live',
  url: '',
  connections: '1',
  'handshake-timeout': '10s',
  pin: '',
  authority: '',
  realm: '',
  groups: '',
  aeads: '',
  'identity-seed': '',
  token: '',
  'ack-lag': '0',
  'keep-going': '0',
  restart: '0',
} as const;

export type FlagName = keyof typeof FLAG_DEFAULTS;
export type Flags = Record<FlagName, string> & { set: Set<FlagName> };

/** A command-line problem: `unimplemented` for a flag or value the shim does not support (exit 89). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly unimplemented?: string,
  ) {
    super(message);
  }
}

/**
 * Parses Go-style flags (package flag): `-name value`, `-name=value`, `--name value`, `--name=value`; parsing
 * stops at `--` or at the first argument that is not a flag. An unknown flag is unimplemented (CONF-012).
 */
export function parseFlags(args: readonly string[]): Flags {
  const f = { ...FLAG_DEFAULTS, set: new Set<FlagName>() } as Flags;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
    let name = a.replace(/^--?/, '');
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!(name in FLAG_DEFAULTS)) throw new UsageError(`flag provided but not defined: -${name}`, `flag-${name}`);
    if (value === undefined) {
      if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = args[++i]!;
    }
    f[name as FlagName] = value;
    f.set.add(name as FlagName);
  }
  return f;
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration ("2s", "500ms", "1m30s", "1.5h", "0"), in milliseconds. */
export function parseDuration(s: string): number {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new UsageError(`invalid duration ${JSON.stringify(s)}`);
  let ms = 0;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m) throw new UsageError(`invalid duration ${JSON.stringify(s)}`);
    ms += Number(m[1]) * UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * ms;
}

function hexFlag(f: Flags, name: FlagName, length?: number): Uint8Array {
  const v = f[name];
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(v) || (length !== undefined && v.length !== 2 * length)) {
    throw new UsageError(`-${name}: want ${length ?? 'some'} bytes in hex`);
  }
  return fromHex(v.toLowerCase());
}

function listFlag(f: Flags, name: 'groups' | 'aeads', ids: Record<string, number>): number[] | undefined {
  if (!f.set.has(name)) return undefined; // the library's default offer
  const out: number[] = [];
  for (const n of f[name].split(',').map((x) => x.trim())) {
    const id = ids[n];
    if (id === undefined) throw new UsageError(`-${name}: ${n} is not supported`, `${name === 'groups' ? 'group' : 'aead'}-${n}`);
    out.push(id);
  }
  return out;
}

/** The live-mode configuration from the flags. */
export interface LiveConfig {
  url: string;
  connections: number;
  handshakeTimeoutMs: number;
  trust: ServerTrust;
  groups: number[] | undefined;
  aeads: number[] | undefined;
  identitySeed: Uint8Array | undefined;
  /** an access token presented in every handshake (§6.8) */
  token: Uint8Array | undefined;
  /** CONF-081: 1, the application acknowledges each message when the next one is handed to it (the last never) */
  ackLag: number;
  /** CONF-082: 1, a connection that ends otherwise than in order is reported (`ended …`) and the next one opened */
  keepGoing: boolean;
  /** CONF-083: 1, each connection after the first is made by the client started anew from its saved state */
  restart: boolean;
}

export function liveConfig(f: Flags): LiveConfig {
  if (!f.url) throw new UsageError('-url is required');
  const connections = Number(f.connections);
  if (!Number.isInteger(connections) || connections < 1) throw new UsageError('-connections: want a positive integer');
  const ackLag = Number(f['ack-lag']);
  if (ackLag !== 0 && ackLag !== 1) throw new UsageError('-ack-lag: want 0 or 1', 'ack-lag');
  const restart = Number(f.restart);
  if (restart !== 0 && restart !== 1) throw new UsageError('-restart: want 0 or 1', 'restart');
  const keepGoing = Number(f['keep-going']);
  if (keepGoing !== 0 && keepGoing !== 1) throw new UsageError('-keep-going: want 0 or 1', 'keep-going');
  const handshakeTimeoutMs = parseDuration(f['handshake-timeout']);
  if (handshakeTimeoutMs <= 0) throw new UsageError('-handshake-timeout: want a positive duration');
  let trust: ServerTrust;
  if (f.pin && f.authority) throw new UsageError('give -pin or -authority, not both');
  if (f.pin) trust = { kind: 'pinned', keyId: hexFlag(f, 'pin', 32) };
  else if (f.authority) {
    if (!f.set.has('realm')) throw new UsageError('-authority needs -realm');
    trust = { kind: 'authority', authorityKey: hexFlag(f, 'authority', 32), realm: f.realm };
  } else throw new UsageError('give -pin or -authority');
  return {
    url: f.url,
    connections,
    handshakeTimeoutMs,
    trust,
    groups: listFlag(f, 'groups', GROUPS),
    aeads: listFlag(f, 'aeads', AEADS),
    identitySeed: f['identity-seed'] ? hexFlag(f, 'identity-seed', 32) : undefined,
    token: f.token ? hexFlag(f, 'token') : undefined,
    ackLag,
    keepGoing: keepGoing === 1,
    restart: restart === 1,
  };
}

/** The final line of CONF-012 and its exit status. */
export interface Outcome {
  line: string;
  exit: number;
}

/** How a connection's failure is reported (CONF-012). */
export function outcomeOf(e: unknown): Outcome {
  const err = e instanceof SealFeedError ? e : new SealFeedError('internal_error', e instanceof Error ? e.message : String(e));
  if (err.transportClosed) return { line: 'result closed', exit: 1 };
  if (err.fromPeer) return { line: `result peer-alert ${err.alert}`, exit: 1 };
  return { line: `result alert ${err.alert}`, exit: 1 };
}

/**
 * Runs each primitive once before the first connection: @noble's first X25519, ML-KEM and Ed25519 operations
 * build tables and get compiled, which costs a cold Node process a few hundred milliseconds of CPU (seconds on
 * a loaded machine). Done before dialing, so that the runner's -handshake-timeout (5 s) measures the
 * handshake, as it would for a long-running client, not the process's warm-up. It changes no state.
 */
export function warmUp(): void {
  for (const g of [GROUP_X25519, GROUP_X25519MLKEM768]) {
    const c = generateClientShare(g, secureRandom);
    const s = serverRespond(g, c.share, secureRandom(64).subarray(0, g === GROUP_X25519 ? 32 : 64));
    c.finish(s.share);
    c.wipe();
  }
  const seed = secureRandom(32);
  const msg = secureRandom(32);
  const sig = sign(seed, 'warm-up', msg);
  verify(validatePublicKey(publicKeyOf(seed)), 'warm-up', msg, sig);
  for (const id of [AEAD_CHACHA20_POLY1305, AEAD_AES_256_GCM]) {
    const a = getAead(id);
    a.open(seed, msg.subarray(0, 12), a.seal(seed, msg.subarray(0, 12), msg, msg), msg);
  }
}

/** One stdout line (CONF-012: nothing else goes to stdout). */
function emit(line: string): void {
  process.stdout.write(line + '\n');
}

/**
 * Runs the connections of CONF-011 and returns the final outcome. `sockets` collects the transports, so that
 * the caller can wait until the alert the client sent has left (CONF-012: it sent that alert).
 */
export async function runLive(cfg: LiveConfig, sockets: WebSocket[]): Promise<Outcome> {
  // One WebSocket per connection, subprotocol sealfeed.v1 (CONF-010); the opening handshake is bounded too.
  const TrackedWebSocket = class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { handshakeTimeout: cfg.handshakeTimeoutMs });
      sockets.push(this);
    }
  } as unknown as WebSocketConstructor;

  // CONF-011: the replay state (REPLAY-013), the ticket (HS-040) and the revocation-list number (CRED-013)
  // survive from one connection to the next
  let replayStore: ReplayStore = new MemoryReplayStore();
  // CONF-083: a restart is a new store object over the same saved state (what a process keeps on disk)
  const saved = new Map<string, string>();
  const disk = { getItem: (k: string) => saved.get(k) ?? null, setItem: (k: string, v: string) => void saved.set(k, v) };
  if (cfg.restart) replayStore = new StorageReplayStore(disk);
  let ticket: Ticket | undefined;
  let trust = cfg.trust;
  // CONF-081: with -ack-lag 1 the message the application holds, acknowledged when the next one arrives
  let held: { ack(): void } | undefined;
  warmUp();

  for (let i = 0; i < cfg.connections; i++) {
    if (cfg.restart && i > 0) {
      // the process ended in order (the client flushed its state as the session ended) and starts again: what it
      // handed over is forgotten (DLV-013), and so is the message its application held
      replayStore = new StorageReplayStore(disk);
      held = undefined;
    }
    let client: SealFeedClient;
    try {
      client = await SealFeedClient.connect({
        url: cfg.url,
        WebSocket: TrackedWebSocket,
        trust,
        identitySeed: cfg.identitySeed,
        token: cfg.token,
        ticket: cfg.identitySeed ? undefined : ticket,
        groups: cfg.groups,
        aeads: cfg.aeads,
        handshakeTimeoutMs: cfg.handshakeTimeoutMs,
        replayStore,
        onTicket: (t) => {
          ticket = t;
        },
        onRevocationNumber: (n) => {
          if (trust.kind === 'authority') trust = { ...trust, acceptedNumber: n };
        },
        onConnected: (c) => emit(`connected ${c.clientIdHex} resumed=${c.resumed ? 1 : 0}`),
        // CONF-012, CONF-015: each message handed to the application through the library's own receive path,
        // in order; the client acknowledges it once this returns (printed), with the duplicates and stale ones
        // of the same delivery (CONF-013)
        onMessage: (m) => {
          emit(`message ${m.messageId} ${m.broadcast ? 'broadcast' : 'unicast'} ${toHex(m.payload)}`);
          if (cfg.ackLag === 1) {
            held?.ack();
            held = m;
          }
        },
        manualAck: cfg.ackLag === 1,
      });
    } catch (e) {
      if (cfg.keepGoing && i < cfg.connections - 1) {
        emit(`ended ${outcomeOf(e).line.slice('result '.length)}`);
        continue;
      }
      return outcomeOf(e);
    }
    const err = await client.closed;
    if (err !== undefined) {
      // CONF-082: report how it ended, keep the state, go on
      if (cfg.keepGoing && i < cfg.connections - 1) {
        emit(`ended ${outcomeOf(err).line.slice('result '.length)}`);
        continue;
      }
      return outcomeOf(err);
    }
    // the server ended the connection with close_notify or going_away (CONF-011): the next one, after going_away
    // once its random delay has passed (POST-022)
    if (client.goingAway) await new Promise((r) => setTimeout(r, goingAwayDelayMs()));
  }
  return { line: 'result ok', exit: 0 };
}

/**
 * Waits until every socket is closed (its last frames, the alert included, written), at most `ms`. The timer
 * keeps the process alive until the caller exits explicitly.
 */
async function settle(sockets: readonly WebSocket[], ms: number): Promise<void> {
  const open = sockets.filter((s) => s.readyState !== WebSocket.CLOSED);
  if (open.length === 0) return;
  await Promise.race([
    Promise.all(open.map((s) => new Promise<void>((resolve) => (s.readyState === WebSocket.CLOSED ? resolve() : s.once('close', () => resolve()))))),
    new Promise<void>((resolve) => setTimeout(resolve, ms)),
  ]);
}

/** The protocol version of vector mode (PROTOCOL.md §1). */
export const VECTOR_PROTOCOL = 'sealfeed-conformance/1';
/** The implementation's name in the hello line. */
export const IMPLEMENTATION = '@sealfeed/client (TypeScript, interop/ts)';

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Vector mode: answers the hello, then every request with one line, in order, until `input` ends. Returns the
 * exit status. Requests are answered one at a time as they are read, so the runner's pipelining never blocks.
 */
export async function serveVectors(input: NodeJS.ReadableStream, write: (line: string) => void, log: (line: string) => void): Promise<number> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let hello = false;
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      msg = undefined;
    }
    if (!hello) {
      if (!isObject(msg) || typeof msg.hello !== 'string') {
        log(`the first line is not a hello: ${line.slice(0, 200)}`);
        return 1;
      }
      write(JSON.stringify({ hello: VECTOR_PROTOCOL, implementation: IMPLEMENTATION }));
      if (msg.hello !== VECTOR_PROTOCOL) {
        log(`the runner speaks ${JSON.stringify(msg.hello)}, this shim ${VECTOR_PROTOCOL}`);
        return 1;
      }
      hello = true;
      continue;
    }
    if (!isObject(msg) || typeof msg.id !== 'string' || msg.id === '') {
      log(`malformed request line: ${line.slice(0, 200)}`);
      return 1;
    }
    const a =
      typeof msg.area === 'string' && isObject(msg.group) && isObject(msg.test)
        ? msg.area === 'sealed'
          ? await sealedVectorCase(msg.group, msg.test)
          : vectorCase(msg.area, msg.group, msg.test)
        : { result: 'invalid' as const, alert: 'internal_error', outputs: {}, reason: 'request without area, group or test' };
    if (a.reason && a.result === 'invalid') log(`${msg.id}: internal_error: ${a.reason.split('\n')[0]}`);
    write(JSON.stringify({ id: msg.id, result: a.result, alert: a.alert, outputs: a.outputs }));
  }
  return 0;
}

function finish(o: Outcome): void {
  process.stdout.write(o.line + '\n', () => process.exit(o.exit));
}

export async function main(args: readonly string[]): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(args);
    if (flags.mode === 'vectors') {
      const code = await serveVectors(process.stdin, emit, (l) => process.stderr.write(`sealfeed-ts-shim: ${l}\n`));
      process.stdout.write('', () => process.exit(code));
      return;
    }
    if (flags.mode !== 'live') return finish({ line: `result unimplemented mode-${flags.mode}`, exit: EXIT_UNIMPLEMENTED });
    const cfg = liveConfig(flags);
    const sockets: WebSocket[] = [];
    const outcome = await runLive(cfg, sockets);
    await settle(sockets, 1500);
    return finish(outcome);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sealfeed-ts-shim: ${e.message}\n`);
      if (e.unimplemented) return finish({ line: `result unimplemented ${e.unimplemented}`, exit: EXIT_UNIMPLEMENTED });
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(`sealfeed-ts-shim: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return finish({ line: 'result alert internal_error', exit: 1 });
  }
}

// Run when executed directly (node dist/src/shim.js …); bin/sealfeed-ts-shim and the tests call main().
if (process.argv[1] !== undefined && isMain(process.argv[1])) void main(process.argv.slice(2));

function isMain(argv1: string): boolean {
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
