/**
 * A SealFeed publisher (spec/api.md): an application back end's client of the REST API. Every request is signed
 * with the publisher's Ed25519 key under the profile of API-001 … API-004 (RFC 9421 over a body bound by
 * Content-Digest, RFC 9530), every publish carries an `Idempotency-Key` covered by the signature (API-038,
 * API-041), and a publish answered 503 or not answered at all is retried with the same key, signed anew with a
 * fresh nonce (API-027), no sooner than the answer's `Retry-After`.
 *
 * Platform neutral: `fetch`, `globalThis.crypto` and @noble only, so it runs in Node 20 and in any runtime with
 * fetch. A browser can run it, but a publisher key belongs in a back end, never in a page.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, toHex } from './bytes.js';
import { publicKeyOf } from './ed25519.js';
import { keyId as keyIdOf } from './keyschedule.js';
import { secureRandom, type RandomSource } from './random.js';
import { issueToken, type IssueParams } from './token.js';

/** The label of the `sealfeed` signature (API-001). */
export const SIGNATURE_LABEL = 'sealfeed';

/** The components every publisher signature covers, in this order (API-002). */
export const SIGNED_COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest'] as const;

/** Nonce length bounds in characters (API-003). */
export const MIN_NONCE_LENGTH = 16;
export const MAX_NONCE_LENGTH = 128;

// ------------------------------------------------------------------------------------------
// Encodings

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new RangeError('not standard base64');
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** PKCS #8 (RFC 5208, RFC 8410) of an Ed25519 key without its public half: this prefix, then the 32-byte seed. */
const PKCS8_ED25519_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);

/**
 * The 32-byte seed of an Ed25519 private key in the PEM format of the Go `keys` package (`sealfeed keygen
 * -out`): one "PRIVATE KEY" block, PKCS #8 as OpenSSL and Go's crypto/x509 write it. Anything else in the text,
 * another key type or a PKCS #8 form with attributes or the public key is refused; errors never quote the key.
 */
export function parsePrivateKeyPem(pem: string): Uint8Array {
  const m = /^-----BEGIN PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END PRIVATE KEY-----$/.exec(pem.trim());
  if (!m) throw new RangeError('not one PEM "PRIVATE KEY" block, with nothing before or after it');
  let der: Uint8Array;
  try {
    der = fromBase64(m[1]!.replace(/\r?\n/g, ''));
  } catch {
    throw new RangeError('the PEM block is not base64');
  }
  if (der.length !== PKCS8_ED25519_PREFIX.length + 32 || !bytesEqual(der.subarray(0, PKCS8_ED25519_PREFIX.length), PKCS8_ED25519_PREFIX)) {
    throw new RangeError('not a PKCS #8 Ed25519 private key as `sealfeed keygen` writes it');
  }
  return der.slice(PKCS8_ED25519_PREFIX.length);
}

/** A publisher key's ID: its fingerprint, 64 lower-case hex digits (what `sealfeed keygen` prints, API-012). */
export function publisherKeyId(seed: Uint8Array): string {
  return toHex(keyIdOf(publicKeyOf(seed)));
}

/** `Content-Digest` with a `sha-256` member over the exact body bytes (API-001, RFC 9530). */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${toBase64(sha256(body))}:`;
}

/** An RFC 8941 sf-string: printable ASCII, `"` and `\` escaped. Refuses what a string cannot hold. */
function sfString(what: string, s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new RangeError(`${what} must be printable ASCII`);
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A random `Idempotency-Key`: 128 random bits as 32 hex digits (API-026). */
export function newIdempotencyKey(random: RandomSource = secureRandom): string {
  return toHex(random(16));
}

/** A nonce of 192 random bits, 32 base64url characters (API-003: 16 to 128 characters, at least 128 bits). */
export function newNonce(random: RandomSource = secureRandom): string {
  return toBase64Url(random(24));
}

/** API-026: 1 to 255 characters from 0x21 to 0x7E. */
export function checkIdempotencyKey(key: string): void {
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new RangeError('an Idempotency-Key is 1 to 255 printable ASCII characters without spaces (API-026)');
}

// ------------------------------------------------------------------------------------------
// Signing (API-001 … API-004, API-038)

/**
 * RFC 9421 §2.5: one line `"<name>": <value>` per covered component, then `"@signature-params": <params>`,
 * joined by `\n`, no final newline. `params` is the inner list as it appears in Signature-Input after the label.
 */
export function signatureBase(components: readonly (readonly [string, string])[], params: string): string {
  const lines = components.map(([name, value]) => {
    if (/[\r\n]/.test(value)) throw new RangeError(`component ${name} holds a line break`);
    return `${sfString('a component name', name)}: ${value}`;
  });
  lines.push(`"@signature-params": ${params}`);
  return lines.join('\n');
}

export interface SignRequestInput {
  method: string;
  /** the absolute URL the request goes to: its host (the `Host` sent), path and query are signed */
  url: string | URL;
  /** the exact body bytes (empty for GET) */
  body: Uint8Array;
  /** sent and covered when set (API-038) */
  idempotencyKey?: string;
  /** the publisher key's 32-byte Ed25519 seed */
  seed: Uint8Array;
  /** default: the key's fingerprint */
  keyId?: string;
  /** Unix seconds; default now */
  created?: number;
  /** default: newNonce() */
  nonce?: string;
}

/** The header fields of a signed request, and the signature base they sign. */
export interface SignedRequest {
  headers: Record<string, string>;
  /** the bytes signed, as text (the worked example of docs/publishing.md shows it) */
  base: string;
}

/**
 * Signs one request under the profile of spec/api.md: `Content-Digest` (API-001), the components of API-002 in
 * their order plus `idempotency-key` when the request carries one (API-038), the parameters `created`, `nonce`,
 * `keyid` and `alg="ed25519"` (API-003), and an Ed25519 signature (RFC 8032) over the RFC 9421 §2.5 base
 * (API-004). `@authority` is the URL's host as a fetch sends it in `Host` (lower case, no default port).
 */
export function signRequest(r: SignRequestInput): SignedRequest {
  const url = typeof r.url === 'string' ? new URL(r.url) : r.url;
  const method = r.method.toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new RangeError('bad method');
  const keyId = r.keyId ?? publisherKeyId(r.seed);
  const nonce = r.nonce ?? newNonce();
  if (nonce.length < MIN_NONCE_LENGTH || nonce.length > MAX_NONCE_LENGTH) throw new RangeError('a nonce is 16 to 128 characters (API-003)');
  const created = r.created ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(created) || created < 0) throw new RangeError('created is Unix seconds');
  const digest = contentDigest(r.body);
  const components: [string, string][] = [
    ['@method', method],
    ['@authority', url.host.toLowerCase()],
    ['@path', url.pathname || '/'],
    ['@query', `?${url.search.slice(1)}`],
    ['content-digest', digest],
  ];
  const headers: Record<string, string> = {};
  if (r.idempotencyKey !== undefined) {
    checkIdempotencyKey(r.idempotencyKey);
    components.push(['idempotency-key', r.idempotencyKey]);
    headers['Idempotency-Key'] = r.idempotencyKey;
  }
  const params =
    `(${components.map(([n]) => `"${n}"`).join(' ')})` +
    `;created=${created};nonce=${sfString('the nonce', nonce)};keyid=${sfString('the key ID', keyId)};alg="ed25519"`;
  const base = signatureBase(components, params);
  const signature = ed25519.sign(new TextEncoder().encode(base), r.seed);
  headers['Content-Digest'] = digest;
  headers['Signature-Input'] = `${SIGNATURE_LABEL}=${params}`;
  headers['Signature'] = `${SIGNATURE_LABEL}=:${toBase64(signature)}:`;
  return { headers, base };
}

// ------------------------------------------------------------------------------------------
// The REST API (spec/api/openapi.yaml)

/** A client ID: 64 hex digits, or its 32 bytes. */
export type ClientIdInput = string | Uint8Array;

/** One publication (API-020): exactly one of `text` and `payload`. */
export interface Publication {
  /** client IDs; several make a broadcast (API-029) */
  to?: ClientIdInput[];
  /** users of connect tokens (`sub`, §6.8): every device of each (the REST member `to_user`) */
  toUser?: string[];
  /** a UTF-8 payload */
  text?: string;
  /** payload bytes */
  payload?: Uint8Array;
  /** seconds, 1 … 604 800; absent: the server's default, 86 400 (API-030) */
  ttl?: number;
}

/** One stored message of a publish answer (API-024). */
export interface AcceptedMessage {
  /** the handle for `status` */
  id: string;
  client_id: string;
  /** the per-client message ID (a uint64; exact up to 2^53) */
  message_id: number;
  /** RFC 3339 */
  expires: string;
  /** with `toUser`: the user and the device ("" when its token named none) the message went to (API-094) */
  user?: string;
  device?: string;
}

/** The answer to a publish. */
export interface PublishResult {
  messages: AcceptedMessage[];
  /** the server had stored this request before: nothing new was stored, these are the first answer's messages (API-026) */
  replayed: boolean;
  /** with `toUser`: the users of the request with no device the server knows, possibly empty (API-094) */
  unknown_users?: string[];
}

/** `GET /v1/messages/{id}` (API-032). */
export interface PublishedMessageStatus {
  id: string;
  client_id: string;
  message_id: number;
  state: 'pending' | 'delivered' | 'acknowledged' | 'expired';
  created: string;
  expires: string;
}

/** `GET /v1/clients/{id}` (API-033). */
export interface Presence {
  client_id: string;
  online: boolean;
  connected_since?: string;
  pending: number;
}

/**
 * An error answer of the REST API: an RFC 9457 problem (API-036). `type` is the problem's URI
 * (`https://sealfeed.dev/problems/<name>`), `rule` the requirement that failed; `retryAfterMs` is the answer's
 * `Retry-After` (429, 503).
 */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    readonly detail: string | undefined,
    readonly rule: string | undefined,
    readonly requestId: string | undefined,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`sealfeed publisher: ${status} ${title}${rule ? ` (${rule})` : ''}${detail ? `: ${detail}` : ''}`);
  }

  /** The problem's name: the last segment of `type`, e.g. `bad-signature`. */
  get problem(): string {
    return this.type.slice(this.type.lastIndexOf('/') + 1);
  }
}

export interface PublisherOptions {
  /** the server's base URL as publishers address it, e.g. `https://push.example.com` (its host is signed, API-039) */
  baseUrl: string;
  /** the publisher key: a PKCS #8 PEM text as `sealfeed keygen -out` writes it, or the 32-byte Ed25519 seed */
  key: string | Uint8Array;
  /** the registered key ID; default the key's fingerprint */
  keyId?: string;
  /**
   * How often a publish is retried after a 503 or no answer, with the same Idempotency-Key and a new
   * signature (API-041); absent: 3, 0: never.
   */
  retries?: number;
  /** A retry waits the answer's Retry-After, at least 100 ms · 2^attempt; a longer Retry-After than this (default 30 s) is not waited for: the problem is thrown. */
  maxRetryWaitMs?: number;
  /** default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** randomness of nonces and idempotency keys; default crypto.getRandomValues */
  random?: RandomSource;
}

export interface PublishOptions {
  /** chosen once per logical message and kept across its retries (API-026); default a random one for this call */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

function clientIdHex(id: ClientIdInput): string {
  if (typeof id === 'string') return id;
  if (id.length !== 32) throw new RangeError('a client ID is 32 bytes');
  return toHex(id);
}

/** The JSON member order of openapi.yaml's Publication: to, to_user, text or payload, ttl. */
function publicationJSON(p: Publication): Record<string, unknown> {
  if ((p.text === undefined) === (p.payload === undefined)) throw new RangeError('give exactly one of text and payload (API-020)');
  if ((p.to === undefined) === (p.toUser === undefined)) throw new RangeError('give exactly one of to and toUser (API-090)');
  const o: Record<string, unknown> = {};
  if (p.to !== undefined) o.to = p.to.map(clientIdHex);
  if (p.toUser !== undefined) o.to_user = [...p.toUser];
  if (p.text !== undefined) o.text = p.text;
  else o.payload = toBase64(p.payload!);
  if (p.ttl !== undefined) o.ttl = p.ttl;
  return o;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class Publisher {
  readonly baseUrl: string;
  readonly keyId: string;
  private readonly seed: Uint8Array;
  private readonly retries: number;
  private readonly maxRetryWaitMs: number;
  private readonly fetch: typeof globalThis.fetch;
  private readonly random: RandomSource;

  constructor(o: PublisherOptions) {
    const u = new URL(o.baseUrl);
    if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.hash || u.username || u.password) {
      throw new RangeError('baseUrl is an http(s) URL without query, fragment or credentials');
    }
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.seed = typeof o.key === 'string' ? parsePrivateKeyPem(o.key) : Uint8Array.from(o.key);
    if (this.seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
    this.keyId = o.keyId ?? publisherKeyId(this.seed);
    const retries = o.retries ?? 3;
    if (!Number.isInteger(retries) || retries < 0) throw new RangeError('retries is a count');
    this.retries = retries;
    this.maxRetryWaitMs = o.maxRetryWaitMs ?? 30_000;
    this.random = o.random ?? secureRandom;
    const f = o.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new Error('no fetch: pass PublisherOptions.fetch');
    this.fetch = f.bind(globalThis);
  }

  /** The publisher key's Ed25519 public key. */
  get publicKey(): Uint8Array {
    return publicKeyOf(this.seed);
  }

  /** `POST /v1/messages`: stores one publication (API-020 … API-030), retried as API-041 says. */
  async publish(p: Publication, o: PublishOptions = {}): Promise<PublishResult> {
    return this.publishBody('/v1/messages', publicationJSON(p), o);
  }

  /** `POST /v1/messages/bulk`: 1 to 1000 publications, stored all or none (API-023). */
  async publishBulk(ps: Publication[], o: PublishOptions = {}): Promise<PublishResult> {
    if (ps.length < 1 || ps.length > 1000) throw new RangeError('a bulk publish holds 1 to 1000 publications (API-020)');
    return this.publishBody('/v1/messages/bulk', { messages: ps.map(publicationJSON) }, o);
  }

  /** `GET /v1/messages/{id}`: a message's state (API-031, API-032). Not retried. */
  async status(handle: string, o: { signal?: AbortSignal } = {}): Promise<PublishedMessageStatus> {
    if (!/^[0-9a-f]{32}$/.test(handle)) throw new RangeError('a message handle is 32 lower-case hex digits');
    return this.request<PublishedMessageStatus>('GET', `/v1/messages/${handle}`, new Uint8Array(0), undefined, o.signal);
  }

  /** `GET /v1/clients/{id}`: whether the client is connected and how many messages wait (API-033, API-040). Not retried. */
  async presence(clientId: ClientIdInput, o: { signal?: AbortSignal } = {}): Promise<Presence> {
    const id = clientIdHex(clientId);
    if (!/^[0-9a-fA-F]{64}$/.test(id)) throw new RangeError('a client ID is 64 hex digits');
    return this.request<Presence>('GET', `/v1/clients/${id}`, new Uint8Array(0), undefined, o.signal);
  }

  /** An access token for a logged-in client (§6.8, TOK-008), signed with this publisher's key. */
  issueToken(p: IssueParams): Uint8Array {
    return issueToken(this.seed, p);
  }

  /**
   * A publish: the body is encoded once, so every attempt sends the same bytes under the same Idempotency-Key
   * (API-027); each attempt is signed anew (a fresh nonce and created, API-016). Retried after no answer or a
   * 503, whose outcome is unknown (API-023, API-041); any other problem is thrown at once.
   */
  private async publishBody(path: string, json: unknown, o: PublishOptions): Promise<PublishResult> {
    const key = o.idempotencyKey ?? newIdempotencyKey(this.random);
    checkIdempotencyKey(key);
    const body = new TextEncoder().encode(JSON.stringify(json));
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request<PublishResult>('POST', path, body, key, o.signal);
      } catch (e) {
        if (o.signal?.aborted || attempt >= this.retries) throw e;
        let wait = 100 * 2 ** attempt;
        if (e instanceof ProblemError) {
          if (e.status !== 503) throw e;
          wait = Math.max(wait, e.retryAfterMs ?? 0);
          if (wait > this.maxRetryWaitMs) throw e;
        } else if (!(e instanceof TypeError)) {
          throw e; // not a network failure (fetch rejects those with TypeError): a bug or an answer we refused
        }
        await sleep(wait, o.signal);
      }
    }
  }

  /** One signed request; a 2xx answer's JSON, else a ProblemError. */
  private async request<T>(method: string, path: string, body: Uint8Array, idempotencyKey: string | undefined, signal: AbortSignal | undefined): Promise<T> {
    const url = new URL(this.baseUrl + path);
    const signed = signRequest({ method, url, body, idempotencyKey, seed: this.seed, keyId: this.keyId, nonce: newNonce(this.random) });
    const headers: Record<string, string> = { Accept: 'application/json', ...signed.headers };
    if (method === 'POST') headers['Content-Type'] = 'application/json';
    const resp = await this.fetch(url, { method, headers, body: method === 'GET' ? undefined : (body as Uint8Array<ArrayBuffer>), signal, redirect: 'error' });
    const text = await resp.text();
    if (resp.status >= 200 && resp.status < 300) return JSON.parse(text) as T;
    let p: { type?: unknown; title?: unknown; detail?: unknown; rule?: unknown; request_id?: unknown } = {};
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === 'object') p = v as typeof p;
    } catch {
      // not a problem document (a proxy's page): status and title only
    }
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const ra = resp.headers.get('Retry-After');
    const retryAfterMs = ra !== null && /^[0-9]{1,6}$/.test(ra.trim()) ? Number(ra.trim()) * 1000 : undefined;
    throw new ProblemError(
      resp.status,
      str(p.type) ?? 'about:blank',
      str(p.title) ?? (resp.statusText || `HTTP ${resp.status}`),
      str(p.detail),
      str(p.rule),
      str(p.request_id) ?? resp.headers.get('Request-Id') ?? undefined,
      retryAfterMs,
    );
  }
}
