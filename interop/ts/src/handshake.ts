/**
 * The client side of the handshake (spec §6) with the key schedule of §7:
 * `START → (send ClientHello) → WAIT_SERVER_HELLO → WAIT_SERVER_FLIGHT → (send flight) → WAIT_WELCOME →
 * CONNECTED`, any failure → CLOSED (§6.7).
 *
 * The state machine is transport agnostic: `start()` returns the ClientHello frame, `receive(frame)` consumes
 * one frame from the server and returns the frames to send. Failures throw a SealFeedError with the alert of
 * the rule that failed; `alertFrame(alert)` then gives the frame to send (ALERT-001).
 */
import { fail, SealFeedError, alertName, type AlertName, LOCAL_ONLY, ALERTS } from './alert.js';
import { concat, ctEqual, toHex, utf8, wipe } from './bytes.js';
import {
  EXT_NEXT_SERVER_KEY,
  EXT_PSK_ACCEPTED,
  EXT_REALM,
  EXT_RESUMPTION_TICKET,
  FRAME_PLAINTEXT,
  GROUP_X25519,
  IDENTITY_CREDENTIAL,
  IDENTITY_RAW_KEY,
  isGrease,
  greaseExtension,
  greaseValue,
  LIMITS,
  MSG,
  VERSION_V1,
} from './constants.js';
import { verifyCredential } from './credential.js';
import { publicKeyOf, sign, validatePublicKey, verify, type ValidatedKey } from './ed25519.js';
import { checkExtensions, type Extension, findExtension } from './extensions.js';
import {
  clientIdOf,
  deriveSecret,
  earlySecret,
  envelopeKeys,
  type EnvelopeKeys,
  finishedMac,
  handshakeSecret,
  hash,
  HKDF_LABELS,
  keyId,
  masterSecret,
  SIG_LABELS,
} from './keyschedule.js';
import {
  type ClientHello,
  decodeAlert,
  decodeFixed,
  decodeServerHello,
  decodeServerIdentity,
  decodeWelcome,
  encodeAlert,
  encodeClientHello,
  SERVER_HELLO_EXTENSIONS,
  type ServerHello,
  type Welcome,
} from './messages.js';
import { secureRandom, type RandomSource } from './random.js';
import { RecordReceiver, RecordSender } from './record.js';
import { Session } from './session.js';
import { type ClientShare, generateClientShare, isSupportedAead, isSupportedGroup, SERVER_SHARE_LENGTH, SUPPORTED_AEADS, SUPPORTED_GROUPS } from './suites.js';
import { decodeFrame, encodeFrame, encodeMessage, type Message, parsePlaintextFragment } from './wire.js';

/** How the client trusts the server (§5). */
export type ServerTrust =
  | {
      kind: 'pinned';
      /** KeyID of the server's Ed25519 key (ID-003), as configured: also the trust anchor (REPLAY-011) */
      keyId: Uint8Array;
      /**
       * The pin set (ID-010): one or two KeyIDs the client accepts, learned from servers' next_server_key;
       * absent: `keyId` alone. SealFeedClient keeps it in its replay store (ID-012).
       */
      pins?: Uint8Array[];
    }
  | {
      kind: 'authority';
      /** the authority's Ed25519 public key */
      authorityKey: Uint8Array;
      /** the realm the client is configured for (CRED-006, EXT-007) */
      realm: Uint8Array | string;
      /** number of the last revocation list accepted from this authority (CRED-013) */
      acceptedNumber?: bigint;
    };

/** A resumption ticket as the client keeps it (HS-040, HS-044). */
export interface Ticket {
  ticket: Uint8Array;
  /** resumption_psk of the handshake that issued the ticket */
  psk: Uint8Array;
  clientId: Uint8Array;
  /** Unix seconds after which the client no longer sends the ticket (HS-044) */
  expires: bigint;
}

export interface ClientConfig {
  trust: ServerTrust;
  /** Ed25519 seed (32 bytes) of a key-identified client (§6.5); absent: anonymous */
  identitySeed?: Uint8Array;
  /**
   * an access token (§6.8) bound to the identity key, sent in the client flight after the server authenticated
   * itself (HS-060, HS-063); opaque to the client (TOK-010). Needs identitySeed.
   */
  token?: Uint8Array;
  /** a ticket from an earlier Welcome (anonymous clients only, HS-005) */
  ticket?: Ticket;
  /** versions to offer, by preference (default [1]) */
  versions?: number[];
  /** groups to offer, by preference (default: X25519MLKEM768, X25519) */
  groups?: number[];
  /** AEADs to offer, by preference (default: ChaCha20-Poly1305, AES-256-GCM) */
  aeads?: number[];
  /** EXT-003: offer GREASE values (default true) */
  grease?: boolean;
  /** further ClientHello extensions (tests) */
  extraExtensions?: Extension[];
  /** randomness (default: the platform CSPRNG) */
  random?: RandomSource;
  /** the clock, Unix seconds (default: Date.now) */
  now?: () => bigint;
  /** observes every message and secret (tests only; secrets must never be logged) */
  trace?: (kind: 'message' | 'secret', name: string, value: Uint8Array) => void;
}

export type ClientState = 'START' | 'WAIT_SERVER_HELLO' | 'WAIT_SERVER_FLIGHT' | 'WAIT_WELCOME' | 'CONNECTED' | 'CLOSED';

/** What a completed handshake gives the client. */
export interface HandshakeResult {
  session: Session;
  clientId: Uint8Array;
  welcome: Welcome;
  resumed: boolean;
  /** the new ticket, for anonymous clients whose server issued one */
  ticket: Ticket | undefined;
  /** the authenticated server key: the batch signer (BATCH-010) */
  serverKey: ValidatedKey;
  serverKeyId: Uint8Array;
  /** KeyID of the trust anchor: the pinned fingerprint or the authority key (REPLAY-011) */
  trustAnchor: Uint8Array;
  envelope: EnvelopeKeys;
  aead: number;
  group: number;
  version: number;
  /** with authority trust: the number of the revocation list accepted (CRED-013, to persist) */
  revocationNumber: bigint | undefined;
  /**
   * The next key the server announced in next_server_key (HS-070), validated (HS-071), or undefined. It exists
   * only in the result of a completed handshake (ID-011); the pin set becomes [serverKeyId, KeyID of it] (ID-010).
   */
  nextServerKey: Uint8Array | undefined;
}

const defaultNow = (): bigint => BigInt(Math.floor(Date.now() / 1000));

export class ClientHandshake {
  private st: ClientState = 'START';
  private readonly cfg: ClientConfig;
  private readonly random: RandomSource;
  private readonly now: () => bigint;
  private readonly transcript: Uint8Array[] = [];
  private readonly trustKey: ValidatedKey | undefined;
  private readonly identityPub: Uint8Array | undefined;

  private hello: ClientHello | undefined;
  private shares: ClientShare[] = [];
  private sentTicket: Ticket | undefined;
  private serverHello: ServerHello | undefined;
  private pskAccepted = false;
  private hsSecret: Uint8Array | undefined;
  private cHs: Uint8Array | undefined;
  private sHs: Uint8Array | undefined;
  private hsReceiver: RecordReceiver | undefined;
  private hsSender: RecordSender | undefined;
  private appReceiver: RecordReceiver | undefined;
  private appSender: RecordSender | undefined;
  private serverKey: ValidatedKey | undefined;
  private nextServerKey: Uint8Array | undefined;
  private revocationNumber: bigint | undefined;
  private envelope: EnvelopeKeys | undefined;
  private resumptionPsk: Uint8Array | undefined;
  private res: HandshakeResult | undefined;

  constructor(cfg: ClientConfig) {
    this.cfg = cfg;
    this.random = cfg.random ?? secureRandom;
    this.now = cfg.now ?? defaultNow;
    if (cfg.trust.kind === 'pinned') {
      if (cfg.trust.keyId.length !== 32) throw new RangeError('pinned key ID is 32 bytes');
      const pins = cfg.trust.pins;
      if (pins && (pins.length < 1 || pins.length > 2 || pins.some((p) => p.length !== 32))) {
        throw new RangeError('a pin set is one or two 32-byte key IDs (ID-010)');
      }
    } else {
      // SIG-001: keys are validated when loaded
      this.trustKey = validatePublicKey(cfg.trust.authorityKey);
    }
    if (cfg.identitySeed) {
      if (cfg.identitySeed.length !== 32) throw new RangeError('identity seed is 32 bytes');
      this.identityPub = publicKeyOf(cfg.identitySeed);
    }
    if (cfg.token && (!cfg.identitySeed || cfg.token.length < 1 || cfg.token.length > LIMITS.MaxAccessToken)) {
      throw new RangeError('an access token needs identitySeed and 1 … MaxAccessToken bytes (HS-063)');
    }
  }

  get state(): ClientState {
    return this.st;
  }

  /** The result, once CONNECTED. */
  get result(): HandshakeResult | undefined {
    return this.res;
  }

  // ------------------------------------------------------------------------------------------
  // START: ClientHello (§6.2)

  /** Builds and returns the ClientHello frame; the state becomes WAIT_SERVER_HELLO. */
  start(): Uint8Array {
    if (this.st !== 'START') throw new Error('handshake already started');
    const cfg = this.cfg;
    const versions = cfg.versions && cfg.versions.length ? [...cfg.versions] : [VERSION_V1];
    const groups = cfg.groups && cfg.groups.length ? [...cfg.groups] : [...SUPPORTED_GROUPS];
    const aeads = cfg.aeads && cfg.aeads.length ? [...cfg.aeads] : [...SUPPORTED_AEADS];
    for (const g of groups) if (!isSupportedGroup(g)) throw new RangeError(`unsupported group ${g}`);

    // HS-001: a fresh random and a fresh share per offered group, drawn in this order
    const random = this.random(32);
    this.shares = groups.map((g) => generateClientShare(g, this.random));
    const keyShares = this.shares.map((s) => ({ group: s.group, keyExchange: s.share }));

    const extensions: Extension[] = [...(cfg.extraExtensions ?? [])];
    if (cfg.trust.kind === 'authority') {
      // EXT-007: the realm extension, sent by clients that trust an authority
      extensions.push({ type: EXT_REALM, data: realmBytes(cfg.trust.realm) });
    }
    // HS-005: a key-identified client never sends a ticket; HS-044: never past its lifetime
    if (cfg.ticket && !cfg.identitySeed && this.now() < cfg.ticket.expires) {
      this.sentTicket = cfg.ticket;
      extensions.push({ type: EXT_RESUMPTION_TICKET, data: cfg.ticket.ticket });
    }
    if (cfg.grease ?? true) {
      // EXT-003: one GREASE value first in every list (a 1-byte share for the GREASE group) and one GREASE
      // extension with empty data; both drawn after the shares
      const gv = greaseValue(this.random(1)[0]!);
      const ge = greaseExtension(this.random(1)[0]!);
      versions.unshift(gv);
      keyShares.unshift({ group: gv, keyExchange: Uint8Array.of(0) });
      aeads.unshift(gv);
      extensions.push({ type: ge, data: new Uint8Array(0) });
    }
    extensions.sort((a, b) => a.type - b.type); // HS-004

    this.hello = { random, versions, keyShares, aeads, extensions };
    const msg = encodeMessage(MSG.ClientHello, encodeClientHello(this.hello));
    this.addTranscript('ClientHello', msg);
    this.st = 'WAIT_SERVER_HELLO';
    return encodeFrame({ type: FRAME_PLAINTEXT, fragment: msg });
  }

  // ------------------------------------------------------------------------------------------

  /**
   * Consumes one frame from the server; returns the frames to send. After a failure the state is CLOSED and
   * every later frame is `unexpected_message` (HS-050).
   */
  receive(frame: Uint8Array): Uint8Array[] {
    if (this.st === 'CLOSED' || this.st === 'START' || this.st === 'CONNECTED') {
      const was = this.st;
      this.st = 'CLOSED';
      fail('unexpected_message', `frame in state ${was}`, 'HS-050');
    }
    try {
      switch (this.st) {
        case 'WAIT_SERVER_HELLO':
          this.onServerHello(frame);
          return [];
        case 'WAIT_SERVER_FLIGHT':
          return [this.onServerFlight(frame)];
        case 'WAIT_WELCOME':
          this.onWelcome(frame);
          return [];
      }
      fail('unexpected_message', 'unexpected state', 'HS-050');
    } catch (e) {
      this.st = 'CLOSED';
      this.eraseHandshakeSecrets();
      throw e;
    }
  }

  /**
   * The frame that reports `alert` to the server (ALERT-001): plaintext before handshake keys exist,
   * afterwards protected under the current sending key. Undefined for local-only codes (ALERT-002) and for
   * alerts received from the peer, which are never answered (POST-006).
   */
  alertFrame(alert: AlertName | SealFeedError): Uint8Array | undefined {
    if (alert instanceof SealFeedError) {
      if (alert.fromPeer) return undefined;
      alert = alert.alert;
    }
    if (LOCAL_ONLY.has(alert)) return undefined;
    const msg = encodeMessage(MSG.Alert, encodeAlert(ALERTS[alert]));
    const sender = this.res?.session.sender ?? this.appSender ?? this.hsSender;
    try {
      if (sender) return sender.seal([msg]);
    } catch {
      // a sender past its limit: fall back to plaintext
    }
    return encodeFrame({ type: FRAME_PLAINTEXT, fragment: msg });
  }

  // ------------------------------------------------------------------------------------------
  // WAIT_SERVER_HELLO (§6.3)

  private onServerHello(frame: Uint8Array): void {
    const f = decodeFrame(frame);
    // HS-050: the protected server flight before ServerHello
    if (f.type !== FRAME_PLAINTEXT) fail('unexpected_message', 'protected frame before ServerHello', 'HS-050');
    const m = parsePlaintextFragment(f.fragment);
    if (m.type === MSG.Alert) peerAlert(m); // ALERT-004
    if (m.type !== MSG.ServerHello) fail('unexpected_message', `message type ${m.type} where ServerHello is expected`, 'HS-050');
    const sh = decodeServerHello(m.body);
    const ch = this.hello!;

    // HS-014: version, AEAD and group were offered and are not GREASE; the share length fits the group
    if (isGrease(sh.version) || !ch.versions.includes(sh.version)) fail('illegal_parameter', 'ServerHello version not offered', 'HS-014');
    // HS-014: an offered version this client does not implement (a test client may offer one)
    if (sh.version !== VERSION_V1) fail('illegal_parameter', `version ${sh.version} not implemented`, 'HS-014');
    if (isGrease(sh.aead) || !ch.aeads.includes(sh.aead) || !isSupportedAead(sh.aead)) fail('illegal_parameter', 'ServerHello AEAD not offered', 'HS-014');
    const share = this.shares.find((s) => s.group === sh.keyShare.group);
    if (isGrease(sh.keyShare.group) || !share) fail('illegal_parameter', 'ServerHello group not offered', 'HS-014');
    if (sh.keyShare.keyExchange.length !== SERVER_SHARE_LENGTH[share.group]) {
      fail('illegal_parameter', 'ServerHello key share length', share.group === GROUP_X25519 ? 'HS-014' : 'SUITE-003');
    }
    // HS-015: unknown critical extensions; known ones other than psk_accepted are not allowed (EXT-005)
    checkExtensions(sh.extensions, SERVER_HELLO_EXTENSIONS);
    this.pskAccepted = findExtension(sh.extensions, EXT_PSK_ACCEPTED) !== undefined;
    if (this.pskAccepted && !this.sentTicket) fail('illegal_parameter', 'psk_accepted without a ticket', 'HS-015');

    // SUITE-002, SUITE-003: the shared secret
    const shared = share.finish(sh.keyShare.keyExchange);
    for (const s of this.shares) s.wipe();
    this.serverHello = sh;
    this.addTranscript('ServerHello', m.raw);

    // KS-001: early secret (PSK iff the server accepted it, HS-040), handshake secret, handshake traffic
    const es = earlySecret(this.pskAccepted ? this.sentTicket!.psk : undefined);
    this.hsSecret = handshakeSecret(es, shared);
    const th = this.th('th_server_hello');
    this.cHs = deriveSecret(this.hsSecret, HKDF_LABELS.clientHandshake, th);
    this.sHs = deriveSecret(this.hsSecret, HKDF_LABELS.serverHandshake, th);
    this.secret('shared_secret', shared);
    this.secret('early_secret', es);
    this.secret('handshake_secret', this.hsSecret);
    this.secret('c_hs_traffic', this.cHs);
    this.secret('s_hs_traffic', this.sHs);
    wipe(es, shared);
    this.hsReceiver = new RecordReceiver(sh.aead, this.sHs);
    this.hsSender = new RecordSender(sh.aead, this.cHs);
    this.st = 'WAIT_SERVER_FLIGHT';
  }

  // ------------------------------------------------------------------------------------------
  // WAIT_SERVER_FLIGHT (§6.4), then the client flight (§6.5)

  private onServerFlight(frame: Uint8Array): Uint8Array {
    const msgs = this.openHandshakeRecord(frame, this.hsReceiver!);
    // HS-020: exactly one record holding exactly ServerIdentity, ServerVerify and Finished, in this order
    const expected = [MSG.ServerIdentity, MSG.ServerVerify, MSG.Finished];
    if (msgs.length !== 3 || msgs.some((m, i) => m.type !== expected[i])) {
      fail('unexpected_message', 'the server flight is not ServerIdentity, ServerVerify, Finished', 'HS-020');
    }
    const [siMsg, svMsg, finMsg] = msgs as [Message, Message, Message];

    // HS-021: the server's identity under the configured trust
    this.serverKey = this.checkServerIdentity(siMsg);
    this.addTranscript('ServerIdentity', siMsg.raw);
    const thSi = this.th('th_server_identity');

    // HS-022: ServerVerify over TH(…ServerIdentity)
    const sig = decodeFixed(svMsg.body, 64, 'ServerVerify');
    verify(this.serverKey, SIG_LABELS.server, thSi, sig, { requirement: 'HS-022' });
    this.addTranscript('ServerVerify', svMsg.raw);
    const thSv = this.th('th_server_verify');

    // HS-023: the server Finished over TH(…ServerVerify), compared in constant time
    const fin = decodeFixed(finMsg.body, 32, 'Finished');
    if (!ctEqual(fin, finishedMac(this.sHs!, thSv))) fail('decrypt_error', 'server Finished does not verify', 'HS-023');
    this.addTranscript('ServerFinished', finMsg.raw);
    const thSf = this.th('th_server_finished');

    // KS-005: application traffic secrets over TH(…server Finished)
    const ms = masterSecret(this.hsSecret!);
    const cAp = deriveSecret(ms, HKDF_LABELS.clientApp, thSf);
    const sAp = deriveSecret(ms, HKDF_LABELS.serverApp, thSf);
    this.secret('master_secret', ms);
    this.secret('c_ap_traffic_0', cAp);
    this.secret('s_ap_traffic_0', sAp);

    // the client flight: [ClientIdentity, [AccessToken,] ClientVerify,] Finished (HS-030, HS-031, HS-060)
    const out: Uint8Array[] = [];
    if (this.cfg.identitySeed) {
      const ci = encodeMessage(MSG.ClientIdentity, this.identityPub!);
      this.addTranscript('ClientIdentity', ci);
      let th = this.th('th_client_identity');
      out.push(ci);
      if (this.cfg.token) {
        // HS-061: ClientVerify covers the token; HS-063: only now, under the client handshake key
        const at = encodeMessage(MSG.AccessToken, this.cfg.token);
        this.addTranscript('AccessToken', at);
        th = this.th('th_access_token');
        out.push(at);
      }
      const cv = encodeMessage(MSG.ClientVerify, sign(this.cfg.identitySeed, SIG_LABELS.client, th));
      this.addTranscript('ClientVerify', cv);
      this.th('th_client_verify');
      out.push(cv);
    }
    // HS-023, KS-005: the client Finished covers ClientHello through the message just before it
    const cfin = encodeMessage(MSG.Finished, finishedMac(this.cHs!, hash(concat(...this.transcript))));
    this.addTranscript('ClientFinished', cfin);
    out.push(cfin);
    const thCf = this.th('th_client_finished');
    const flight = this.hsSender!.seal(out);

    // KS-004: envelope_secret and resumption_psk over TH(…client Finished), only now
    const envSecret = deriveSecret(ms, HKDF_LABELS.envelope, thCf);
    this.resumptionPsk = deriveSecret(ms, HKDF_LABELS.resumption, thCf);
    this.envelope = envelopeKeys(envSecret);
    this.secret('envelope_secret', envSecret);
    this.secret('resumption_psk', this.resumptionPsk);
    this.secret('env_key', this.envelope.envKey);
    this.secret('env_iv', this.envelope.envIv);
    this.secret('tag_key', this.envelope.tagKey);
    wipe(ms, envSecret);

    this.appReceiver = new RecordReceiver(this.serverHello!.aead, sAp);
    this.appSender = new RecordSender(this.serverHello!.aead, cAp);
    wipe(cAp, sAp);
    this.st = 'WAIT_WELCOME';
    return flight;
  }

  /**
   * HS-021: SIG-001 then ID-003 for a raw key; CRED-001 … CRED-016 for a credential. HS-071's order: the
   * decoder checks next_server_key's place and length, then the identity, then the announced key; it is only
   * kept here, and reaches the result once the handshake completes (ID-011).
   */
  private checkServerIdentity(m: Message): ValidatedKey {
    const si = decodeServerIdentity(m.body);
    const trust = this.cfg.trust;
    if (si.identityType === IDENTITY_RAW_KEY) {
      if (trust.kind !== 'pinned') fail('unknown_server_key', 'raw key presented to a client that trusts an authority', 'HS-021');
      const key = validatePublicKey(si.publicKey); // SIG-001
      // ID-003, ID-010: KeyID compared with every pin in constant time
      const id = keyId(key.bytes);
      let match = false;
      for (const p of trust.pins ?? [trust.keyId]) match = ctEqual(id, p) || match;
      if (!match) fail('unknown_server_key', 'server key does not match the pinned fingerprint', 'ID-003');
      const next = findExtension(si.extensions, EXT_NEXT_SERVER_KEY);
      if (next) {
        const nk = validatePublicKey(next.data, 'bad_key', 'HS-071'); // SIG-001
        if (ctEqual(nk.bytes, key.bytes)) fail('illegal_parameter', "next_server_key is the server's current key", 'HS-071');
        this.nextServerKey = nk.bytes;
      }
      return key;
    }
    if (si.identityType === IDENTITY_CREDENTIAL) {
      if (trust.kind !== 'authority') fail('unknown_server_key', 'credential presented to a client that pins a key', 'HS-021');
      const r = verifyCredential(
        si.credential,
        si.revocationList,
        { authorityKey: this.trustKey!, realm: realmBytes(trust.realm), acceptedNumber: trust.acceptedNumber ?? 0n },
        this.now(),
      );
      this.revocationNumber = r.revocationList.number;
      return r.serverKey;
    }
    fail('decode_error', 'identity type', 'WIRE-004');
  }

  // ------------------------------------------------------------------------------------------
  // WAIT_WELCOME (§9, POST-001, POST-002, POST-007)

  private onWelcome(frame: Uint8Array): void {
    // ALERT-001: once the server has sent its flight its sending key is s_ap_traffic_0, so an Alert rejecting
    // our flight opens here like Welcome; a record that does not open under it is bad_record_mac (REC-001)
    const msgs = this.openHandshakeRecord(frame, this.appReceiver!);
    // POST-001: Welcome first, exactly once, alone in its frame; HS-052: nothing else before CONNECTED
    if (msgs[0]!.type !== MSG.Welcome) fail('unexpected_message', `message type ${msgs[0]!.type} where Welcome is expected`, 'POST-001');
    if (msgs.length !== 1) fail('unexpected_message', 'Welcome not alone in its frame', 'POST-001');
    const w = decodeWelcome(msgs[0]!.body);
    this.trace('message', 'Welcome', msgs[0]!.raw);

    // POST-007: the Welcome agrees with the handshake
    if (w.resumed !== this.pskAccepted) fail('illegal_parameter', 'Welcome resumed flag disagrees with psk_accepted', 'HS-040');
    if (w.resumed && !ctEqual(w.clientId, this.sentTicket!.clientId)) fail('illegal_parameter', 'resumed client ID differs from the ticket', 'POST-007');
    if (this.identityPub) {
      if (!ctEqual(w.clientId, clientIdOf(this.identityPub))) fail('illegal_parameter', 'client ID not derived from the client key', 'ID-001');
      if (w.ticket.length !== 0) fail('illegal_parameter', 'ticket for a key-identified client', 'POST-007');
    }

    const ticket: Ticket | undefined =
      w.ticket.length > 0
        ? { ticket: w.ticket, psk: this.resumptionPsk!, clientId: w.clientId, expires: this.now() + BigInt(w.ticketLifetime) }
        : undefined;
    const sh = this.serverHello!;
    const trust = this.cfg.trust;
    this.res = {
      session: new Session('client', this.appReceiver!, this.appSender!),
      clientId: w.clientId,
      welcome: w,
      resumed: w.resumed,
      ticket,
      serverKey: this.serverKey!,
      serverKeyId: keyId(this.serverKey!.bytes),
      trustAnchor: trust.kind === 'pinned' ? Uint8Array.from(trust.keyId) : keyId(this.trustKey!.bytes),
      envelope: this.envelope!,
      aead: sh.aead,
      group: sh.keyShare.group,
      version: sh.version,
      revocationNumber: this.revocationNumber,
      nextServerKey: this.nextServerKey,
    };
    this.eraseHandshakeSecrets();
    this.hsReceiver!.destroy();
    this.hsSender!.destroy();
    this.st = 'CONNECTED';
  }

  // ------------------------------------------------------------------------------------------

  /**
   * A protected record in WAIT_SERVER_FLIGHT (handshake key) or WAIT_WELCOME (s_ap_traffic_0), REC-002.
   * ALERT-004: a plaintext Alert is accepted in any handshake state; any other plaintext frame is
   * `unexpected_message` (HS-050). ALERT-001: a protected record whose first message is an Alert ends the
   * handshake with the peer's code (HS-020 and POST-001 notwithstanding).
   */
  private openHandshakeRecord(frame: Uint8Array, receiver: RecordReceiver): Message[] {
    const f = decodeFrame(frame);
    if (f.type === FRAME_PLAINTEXT) {
      const m = parsePlaintextFragment(f.fragment);
      if (m.type === MSG.Alert) peerAlert(m);
      fail('unexpected_message', `plaintext message type ${m.type} here`, 'HS-050');
    }
    const msgs = receiver.openFragment(f.fragment);
    if (msgs[0]!.type === MSG.Alert) peerAlert(msgs[0]!, 'ALERT-001');
    return msgs;
  }

  private addTranscript(name: string, raw: Uint8Array): void {
    this.transcript.push(raw);
    this.trace('message', name, raw);
  }

  /** TH(…) over the transcript so far (§6.1), traced under `name`. */
  private th(name: string): Uint8Array {
    const h = hash(concat(...this.transcript));
    this.secret(name, h);
    return h;
  }

  private secret(name: string, v: Uint8Array): void {
    this.trace('secret', name, v);
  }

  private trace(kind: 'message' | 'secret', name: string, v: Uint8Array): void {
    this.cfg.trace?.(kind, name, Uint8Array.from(v));
  }

  /** KS-003: erase handshake secrets and ephemeral keys (best effort). */
  private eraseHandshakeSecrets(): void {
    for (const s of this.shares) s.wipe();
    wipe(this.hsSecret, this.cHs, this.sHs);
  }
}

/** ALERT-004, POST-006: the peer's alert ends the handshake with the peer's code. */
function peerAlert(m: Message, requirement = 'ALERT-004'): never {
  const code = decodeAlert(m.body);
  throw new SealFeedError(alertName(code), `peer sent alert ${code}`, requirement, { fromPeer: true });
}

function realmBytes(realm: Uint8Array | string): Uint8Array {
  return typeof realm === 'string' ? utf8(realm) : realm;
}

/** The lower-case hex fingerprint of a server key (§4.1). */
export function fingerprint(publicKey: Uint8Array): string {
  return toHex(keyId(publicKey));
}
