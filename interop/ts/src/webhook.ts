/**
 * Delivery webhooks (spec/api.md, "Delivery webhooks", API-100 … API-109): what a publisher's receiver runs on
 * each POST the SealFeed server sends. `verifyWebhook` checks the RFC 9421 signature labelled
 * `sealfeed-webhook` (tag `sealfeed-webhook-v1`) by the deployment's webhook key, which GET /v1/server
 * publishes as `webhook_key_id` and `webhook_public_key`, over the method, target, Content-Digest (RFC 9530),
 * Content-Type and Idempotency-Key; then the body's format. Checked against vectors/v1/webhook.json, as the Go
 * `publisher.VerifyWebhook` is.
 *
 * Delivery is at least once: the receiver deduplicates by `idempotencyKey` and by event `id` (API-105).
 *
 * Platform neutral (browsers, Node, workers): the request is given as its method, URL, header lines and body
 * bytes. From Node's `http.IncomingMessage`, build the URL from the scheme and `Host` the server used (the URL
 * the operator configured) and pair up `rawHeaders`; from a fetch `Request`, pass `request.url`,
 * `request.headers` and the bytes of `await request.arrayBuffer()`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fail, type AlertName } from './alert.js';
import { ctEqual, toHex, utf8 } from './bytes.js';
import { validatePublicKey, verifySigned } from './ed25519.js';
import { keyId } from './keyschedule.js';

export const WEBHOOK_LABEL = 'sealfeed-webhook';
export const WEBHOOK_TAG = 'sealfeed-webhook-v1';
/** expires − created of every webhook signature, and the most a receiver accepts (API-104), seconds */
export const WEBHOOK_LIFETIME = 300;
/** how far `created` may be ahead of the receiver's clock (API-104), seconds */
export const WEBHOOK_SKEW = 60;
/** the components every webhook signature covers (API-103) */
export const WEBHOOK_COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest', 'content-type', 'idempotency-key'] as const;
/** the largest body verifyWebhook accepts */
export const MAX_WEBHOOK_BODY = 1 << 20;

/** The deployment's webhook key as GET /v1/server publishes it. */
export interface WebhookKey {
  /** `webhook_key_id`: 64 hex digits, the key's fingerprint */
  keyId: string;
  /** the 32-byte Ed25519 public key (`webhook_public_key`, base64-decoded) */
  publicKey: Uint8Array;
}

/** A webhook POST as received. */
export interface WebhookRequest {
  method: string;
  /** the absolute URL the request was sent to: scheme://authority/path?query */
  url: string;
  /** header field lines, in order; repeated names are kept as separate lines */
  headers: Iterable<readonly [string, string]>;
  body: Uint8Array;
}

export interface WebhookEvent {
  type: 'acknowledged' | 'expired';
  /** the message's handle, as the publish answered it */
  id: string;
  client_id: string;
  message_id: number;
  /** RFC 3339 UTC with milliseconds */
  time: string;
}

export interface WebhookBatch {
  publisher: string;
  events: WebhookEvent[];
  /** the request's Idempotency-Key: the same on every retry of the batch (API-106) */
  idempotencyKey: string;
}

// ---------------------------------------------------------------------------------------------
// Structured fields (RFC 8941): what the signature fields use.

type Bare = bigint | number | string | Uint8Array | boolean | Token;
class Token {
  constructor(readonly v: string) {}
}
interface Item {
  value: Bare;
  params: [string, Bare][];
}
interface InnerList {
  items: Item[];
  params: [string, Bare][];
}
type Member = Item | InnerList;

const isInner = (m: Member): m is InnerList => 'items' in m;

function malformed(why: string): never {
  return fail('decode_error', `webhook: ${why}`, 'API-104');
}

class SfParser {
  i = 0;
  constructor(readonly s: string) {}
  eof(): boolean {
    return this.i >= this.s.length;
  }
  peek(): string {
    return this.s[this.i] ?? '';
  }
  sp(): void {
    while (this.peek() === ' ') this.i++;
  }
  ows(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  key(): string {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.s.slice(this.i));
    if (!m) malformed('a structured-field key is expected');
    this.i += m[0].length;
    return m[0];
  }
  bare(): Bare {
    const c = this.peek();
    if (c === '"') return this.string();
    if (c === ':') return this.bytes();
    if (c === '?') {
      const v = this.s[this.i + 1];
      if (v !== '0' && v !== '1') malformed('a boolean is ?0 or ?1');
      this.i += 2;
      return v === '1';
    }
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    const m = /^[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*/.exec(this.s.slice(this.i));
    if (!m) malformed('an item is expected');
    this.i += m[0].length;
    return new Token(m[0]);
  }
  string(): string {
    this.i++;
    let out = '';
    for (;;) {
      if (this.eof()) malformed('unterminated string');
      const c = this.s[this.i++];
      if (c === '\\') {
        const n = this.s[this.i++];
        if (n !== '"' && n !== '\\') malformed('a bad escape in a string');
        out += n;
      } else if (c === '"') {
        return out;
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) malformed('a string holds a character outside printable ASCII');
        out += c;
      }
    }
  }
  bytes(): Uint8Array {
    this.i++;
    const end = this.s.indexOf(':', this.i);
    if (end < 0) malformed('unterminated byte sequence');
    const b64 = this.s.slice(this.i, end);
    this.i = end + 1;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) malformed('a byte sequence is not base64');
    return base64Decode(b64);
  }
  number(): bigint | number {
    const m = /^-?[0-9]{1,15}(\.[0-9]{1,3})?/.exec(this.s.slice(this.i));
    if (!m) malformed('a number is expected');
    this.i += m[0].length;
    if (m[1] !== undefined) return Number(m[0]);
    return BigInt(m[0]);
  }
  params(): [string, Bare][] {
    const out: [string, Bare][] = [];
    while (this.peek() === ';') {
      this.i++;
      this.sp();
      const k = this.key();
      let v: Bare = true;
      if (this.peek() === '=') {
        this.i++;
        v = this.bare();
      }
      const at = out.findIndex(([n]) => n === k);
      if (at >= 0) out[at] = [k, v];
      else out.push([k, v]);
    }
    return out;
  }
  item(): Item {
    const value = this.bare();
    return { value, params: this.params() };
  }
  member(): Member {
    if (this.peek() !== '(') return this.item();
    this.i++;
    const items: Item[] = [];
    for (;;) {
      this.sp();
      if (this.peek() === ')') {
        this.i++;
        return { items, params: this.params() };
      }
      items.push(this.item());
      const c = this.peek();
      if (c !== ' ' && c !== ')') malformed('an inner list is malformed');
    }
  }
  /** the dictionary's members in order, duplicates included (RFC 8941 §4.2.2 keeps the last; we count them) */
  dictionary(): [string, Member][] {
    const out: [string, Member][] = [];
    this.sp();
    while (!this.eof()) {
      const k = this.key();
      let m: Member = { value: true, params: [] };
      if (this.peek() === '=') {
        this.i++;
        m = this.member();
      } else {
        m = { value: true, params: this.params() };
      }
      out.push([k, m]);
      this.ows();
      if (this.eof()) break;
      if (this.peek() !== ',') malformed('a dictionary member is followed by something other than a comma');
      this.i++;
      this.ows();
      if (this.eof()) malformed('a dictionary ends with a comma');
    }
    return out;
  }
}

function parseDictionary(lines: string[]): [string, Member][] {
  return new SfParser(lines.join(', ')).dictionary();
}

function serializeBare(v: Bare): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) ? `${v}.0` : String(v);
  if (typeof v === 'string') return `"${v.replace(/[\\"]/g, (c) => '\\' + c)}"`;
  if (typeof v === 'boolean') return v ? '?1' : '?0';
  if (v instanceof Token) return v.v;
  return `:${base64Encode(v)}:`;
}

function serializeParams(ps: [string, Bare][]): string {
  return ps.map(([k, v]) => (v === true ? `;${k}` : `;${k}=${serializeBare(v)}`)).join('');
}

/** The serialization of an inner list with its parameters: the value of "@signature-params" (RFC 9421 §2.3). */
function serializeInnerList(il: InnerList): string {
  return `(${il.items.map((it) => serializeBare(it.value) + serializeParams(it.params)).join(' ')})${serializeParams(il.params)}`;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function base64Encode(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < b.length ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < b.length ? B64[n & 63] : '=';
  }
  return out;
}

/** Standard base64 with padding (RFC 4648 §4), strictly. */
export function base64Decode(s: string): Uint8Array {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) malformed('not base64');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n = [0, 1, 2, 3].map((j) => (s[i + j] === '=' ? 0 : B64.indexOf(s[i + j])));
    const v = (n[0] << 18) | (n[1] << 12) | (n[2] << 6) | n[3];
    for (const byte of [(v >> 16) & 255, (v >> 8) & 255, v & 255]) if (o < out.length) out[o++] = byte;
  }
  if (base64Encode(out) !== s) malformed('non-canonical base64');
  return out;
}

// ---------------------------------------------------------------------------------------------
// The profile.

function headerLines(req: WebhookRequest, name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of req.headers) if (n.toLowerCase() === name) out.push(v.trim());
  return out;
}

function componentValue(req: WebhookRequest, url: URL, name: string): string {
  switch (name) {
    case '@method':
      return req.method;
    case '@authority':
      return url.host.toLowerCase();
    case '@path':
      return url.pathname === '' ? '/' : url.pathname;
    case '@query':
      return '?' + url.search.replace(/^\?/, '');
  }
  if (name.startsWith('@') || name !== name.toLowerCase() || name === '') malformed(`unsupported component ${JSON.stringify(name)}`);
  const vals = headerLines(req, name);
  if (vals.length === 0) fail('illegal_parameter', `webhook: the covered field ${name} is absent`, 'API-104');
  return vals.join(', ');
}

/** The signature base of RFC 9421 §2.5 for the components and parameters of `il`. */
function signatureBase(req: WebhookRequest, url: URL, il: InnerList): string {
  const seen = new Set<string>();
  let out = '';
  for (const it of il.items) {
    if (typeof it.value !== 'string' || it.params.length !== 0) malformed('component identifiers must be plain strings');
    if (seen.has(it.value)) malformed(`component ${it.value} covered twice`);
    seen.add(it.value);
    const v = componentValue(req, url, it.value);
    if (/[\r\n]/.test(v)) malformed(`component ${it.value} holds a line break`);
    out += `"${it.value}": ${v}\n`;
  }
  return out + `"@signature-params": ${serializeInnerList(il)}`;
}

function param(il: InnerList, name: string): Bare | undefined {
  return il.params.find(([k]) => k === name)?.[1];
}

function reject(alert: AlertName, why: string): never {
  return fail(alert, `webhook: ${why}`, 'API-104');
}

/**
 * Checks the webhook signature of `req` with `key` at `nowSeconds` (Unix seconds; default: the clock), in the
 * order of API-104, and returns the signature base it verified. Throws a SealFeedError whose alert classifies the
 * failure as vectors/v1/webhook.json does: decode_error, illegal_parameter, unknown_signer, stale_message or
 * bad_signature. It does not read the body's format (verifyWebhook does).
 */
export function verifyWebhookSignature(req: WebhookRequest, key: WebhookKey, nowSeconds?: number): string {
  const now = BigInt(nowSeconds ?? Math.floor(Date.now() / 1000));
  const inLines = headerLines(req, 'signature-input');
  const sigLines = headerLines(req, 'signature');
  if (inLines.length === 0 || sigLines.length === 0) malformed('the request is not signed');
  const input = parseDictionary(inLines);
  const sigs = parseDictionary(sigLines);
  for (const [name, d] of [['Signature-Input', input], ['Signature', sigs]] as const) {
    if (d.filter(([k]) => k === WEBHOOK_LABEL).length > 1) malformed(`${name} holds more than one signature labelled ${WEBHOOK_LABEL}`);
  }
  const m = input.find(([k]) => k === WEBHOOK_LABEL)?.[1];
  if (m === undefined || !isInner(m)) malformed(`no signature labelled ${WEBHOOK_LABEL}`);
  const sm = sigs.find(([k]) => k === WEBHOOK_LABEL)?.[1];
  if (sm === undefined || isInner(sm) || !(sm.value instanceof Uint8Array) || sm.value.length !== 64) {
    malformed(`Signature ${WEBHOOK_LABEL} is not a 64-byte byte sequence`);
  }
  const sig = sm.value as Uint8Array;
  const covered = new Set(m.items.map((it) => it.value).filter((v): v is string => typeof v === 'string'));
  for (const c of WEBHOOK_COMPONENTS) if (!covered.has(c)) reject('illegal_parameter', `the signature does not cover ${c}`);
  if (param(m, 'tag') !== WEBHOOK_TAG) reject('illegal_parameter', `the tag is not ${WEBHOOK_TAG}`);
  if (param(m, 'alg') !== 'ed25519') reject('illegal_parameter', 'alg must be ed25519');
  const created = param(m, 'created');
  const expires = param(m, 'expires');
  if (typeof created !== 'bigint' || typeof expires !== 'bigint') reject('illegal_parameter', 'created and expires are required');
  if (expires < created || expires - created > BigInt(WEBHOOK_LIFETIME)) reject('illegal_parameter', `expires must be 0 to ${WEBHOOK_LIFETIME} s after created`);
  if (param(m, 'keyid') !== key.keyId) reject('unknown_signer', 'the keyid is not the webhook key');
  if (created > now + BigInt(WEBHOOK_SKEW)) reject('stale_message', `created ${created} is ahead of the clock (${now})`);
  if (expires < now) reject('stale_message', `expires ${expires} has passed (${now})`);
  // Content-Digest (RFC 9530): the sha-256 member over the body.
  const cd = headerLines(req, 'content-digest');
  if (cd.length === 0) reject('illegal_parameter', 'no Content-Digest');
  const digest = parseDictionary(cd).find(([k]) => k === 'sha-256')?.[1];
  if (digest === undefined) reject('illegal_parameter', 'Content-Digest has no sha-256');
  if (isInner(digest) || !(digest.value instanceof Uint8Array)) malformed('Content-Digest sha-256 is not a byte sequence');
  if (!ctEqual(digest.value, sha256(req.body))) reject('bad_signature', 'Content-Digest does not match the body');
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return malformed('the request URL does not parse');
  }
  const base = signatureBase(req, url, m);
  const pk = validatePublicKey(key.publicKey, 'bad_signature', 'API-104');
  verifySigned(pk, utf8(base), sig);
  return base;
}

/**
 * Verifies a webhook POST (API-104) and returns its batch (API-101). Any throw means: answer 4xx and process
 * nothing. It does not deduplicate: drop a batch whose `idempotencyKey` you processed, and events whose `id` you
 * have seen (API-105).
 */
export function verifyWebhook(req: WebhookRequest, key: WebhookKey, nowSeconds?: number): WebhookBatch {
  if (req.body.length > MAX_WEBHOOK_BODY) fail('limit_exceeded', 'webhook: body too large', 'API-104');
  verifyWebhookSignature(req, key, nowSeconds);
  if (req.method !== 'POST') malformed(`method ${req.method}, want POST`);
  const keys = headerLines(req, 'idempotency-key');
  if (keys.length !== 1 || keys[0].length === 0 || keys[0].length > 255) malformed('want one Idempotency-Key of 1 to 255 characters');
  if (headerLines(req, 'content-type').join(', ') !== 'application/json') malformed('Content-Type is not application/json');
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(req.body));
  } catch {
    return malformed('the body is not JSON');
  }
  const b = v as Record<string, unknown>;
  if (typeof b !== 'object' || b === null || typeof b.publisher !== 'string' || !Array.isArray(b.events) || b.events.length === 0) {
    malformed('the body is not a batch: publisher and events are required');
  }
  const events = (b.events as Record<string, unknown>[]).map((e, i): WebhookEvent => {
    if (typeof e !== 'object' || e === null) malformed(`events[${i}] is not an object`);
    if (e.type !== 'acknowledged' && e.type !== 'expired') malformed(`events[${i}].type`);
    if (typeof e.id !== 'string' || !/^[0-9a-f]{32}$/.test(e.id)) malformed(`events[${i}].id`);
    if (typeof e.client_id !== 'string' || !/^[0-9a-f]{64}$/.test(e.client_id)) malformed(`events[${i}].client_id`);
    if (typeof e.message_id !== 'number' || !Number.isSafeInteger(e.message_id) || e.message_id < 1) malformed(`events[${i}].message_id`);
    if (typeof e.time !== 'string' || Number.isNaN(Date.parse(e.time))) malformed(`events[${i}].time`);
    return { type: e.type, id: e.id, client_id: e.client_id, message_id: e.message_id, time: e.time };
  });
  return { publisher: b.publisher as string, events, idempotencyKey: keys[0] };
}

/**
 * The webhook key from GET /v1/server's JSON (API-107): the key must be a valid Ed25519 key (SIG-001) whose
 * fingerprint (KeyID, hex) is `webhook_key_id`. Fetch it once over a connection you trust and keep it.
 */
export function webhookKeyFromServer(server: { webhook_key_id?: string; webhook_public_key?: string }): WebhookKey {
  if (!server.webhook_key_id || !server.webhook_public_key) fail('internal_error', 'webhook: the server has no webhook key');
  const publicKey = base64Decode(server.webhook_public_key);
  validatePublicKey(publicKey, 'bad_key', 'API-107');
  if (toHex(keyId(publicKey)) !== server.webhook_key_id) fail('bad_key', 'webhook: webhook_key_id is not the key\'s fingerprint', 'API-107');
  return { keyId: server.webhook_key_id, publicKey };
}
