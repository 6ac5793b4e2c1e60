/**
 * A Go reference server (`sealfeed serve`) on a loopback port for the live tests of the publisher and of token
 * refresh: $SEALFEED_BIN when set, else `go build ./cmd/sealfeed` into a temporary directory (never skipped:
 * without a server there is no interop to claim).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
export const run = promisify(execFile);

let bin = process.env.SEALFEED_BIN ?? '';

export async function sealfeedBinary(): Promise<string> {
  if (bin) {
    if (!existsSync(bin)) throw new Error(`SEALFEED_BIN=${bin} does not exist`);
    return bin;
  }
  const b = join(mkdtempSync(join(tmpdir(), 'sealfeed-bin-')), 'sealfeed');
  await run('go', ['build', '-o', b, './cmd/sealfeed'], { cwd: repoRoot });
  bin = b;
  return bin;
}

export interface GoServer {
  proc: ChildProcess;
  port: number;
  fingerprint: string;
  /** http://127.0.0.1:port */
  base: string;
  /** ws://127.0.0.1:port/v1/ws */
  ws: string;
  stop(): Promise<void>;
}

/** Starts `sealfeed serve` with its data in `dir/data` and the publisher key `publisherPub` trusted. */
export async function startGoServer(dir: string, publisherPub: string, extra: string[] = [], port?: number): Promise<GoServer> {
  // A random port may be taken by another process between the pick and the bind: pick again, unless the caller
  // asked for this port (a restart on the same address).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGoServerOn(dir, publisherPub, extra, port ?? 20000 + Math.floor(Math.random() * 20000));
    } catch (e) {
      if (port !== undefined || attempt >= 5 || !/address already in use/.test(String(e))) throw e;
    }
  }
}

async function startGoServerOn(dir: string, publisherPub: string, extra: string[], port: number): Promise<GoServer> {
  const b = await sealfeedBinary();
  const proc = spawn(b, ['serve', '-listen', `127.0.0.1:${port}`, '-data', join(dir, 'data'), '-publisher', publisherPub, '-log-level', 'warn', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  for (const t0 = Date.now(); !/listening on/.test(out); await new Promise((r) => setTimeout(r, 20))) {
    if (proc.exitCode !== null || Date.now() - t0 > 20000) throw new Error(`sealfeed serve did not start: ${out}`);
  }
  const fp = /fingerprint ([0-9a-f]{64})/.exec(out);
  if (!fp) throw new Error(`no fingerprint in: ${out}`);
  const exited = new Promise<void>((r) => (proc.exitCode !== null ? r() : proc.once('exit', () => r())));
  return {
    proc,
    port,
    fingerprint: fp[1]!,
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/v1/ws`,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** A publisher key pair from `sealfeed keygen`: the private key's path and text, the public key's path, the key ID. */
export async function publisherKey(dir: string): Promise<{ keyFile: string; pubFile: string; keyId: string }> {
  const b = await sealfeedBinary();
  const keyFile = join(dir, 'publisher.pem');
  const pubFile = join(dir, 'publisher.pub.pem');
  const { stdout } = await run(b, ['keygen', '-out', keyFile, '-pub', pubFile]);
  const m = /fingerprint ([0-9a-f]{64})/.exec(stdout);
  if (!m) throw new Error(`keygen printed no fingerprint: ${stdout}`);
  return { keyFile, pubFile, keyId: m[1]! };
}

/** Polls `cond` every 10 ms until it holds, failing after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 30000): Promise<void> {
  for (const t0 = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
  }
}
