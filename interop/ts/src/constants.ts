/**
 * Code points (registries.md) and limits (spec §15, LIM).
 */

/** Protocol versions (registries.md §Versions). */
export const VERSION_V1 = 0x0001;

/** Key-exchange groups (§4, registries.md §Groups). */
export const GROUP_X25519 = 0x0001;
export const GROUP_X25519MLKEM768 = 0x0002;

/** AEADs (§4, registries.md §AEADs). */
export const AEAD_CHACHA20_POLY1305 = 0x0001;
export const AEAD_AES_256_GCM = 0x0002;

/** Frame types (§3.2). */
export const FRAME_PLAINTEXT = 0x16;
export const FRAME_PROTECTED = 0x17;

/** Message types (§3.1, registries.md §Message types). */
export const MSG = {
  ClientHello: 0x01,
  ServerHello: 0x02,
  ServerIdentity: 0x03,
  ServerVerify: 0x04,
  Finished: 0x05,
  ClientIdentity: 0x06,
  ClientVerify: 0x07,
  AccessToken: 0x08,
  Welcome: 0x10,
  KeyUpdate: 0x11,
  BatchDelivery: 0x12,
  Ack: 0x13,
  Heartbeat: 0x14,
  Alert: 0x15,
  TokenRefresh: 0x16,
  TokenAccepted: 0x17,
} as const;

const DEFINED_MSG = new Set<number>(Object.values(MSG));
/** WIRE-010: is `t` a message type of the registry (0 never is)? */
export function isDefinedMessageType(t: number): boolean {
  return DEFINED_MSG.has(t);
}

/** Extensions (§13, EXT-007). All v1 extensions are non-critical. */
export const EXT_REALM = 0x0001;
export const EXT_RESUMPTION_TICKET = 0x0002;
export const EXT_PSK_ACCEPTED = 0x0003;
/** ServerIdentity of type raw_key: the server's next Ed25519 public key (HS-070) */
export const EXT_NEXT_SERVER_KEY = 0x0004;
/** EXT-001: the critical bit. */
export const EXT_CRITICAL_BIT = 0x8000;

/** Server identity types (§6.1). */
export const IDENTITY_RAW_KEY = 1;
export const IDENTITY_CREDENTIAL = 2;

/** Leaf kinds and entry types (§10.1). */
export const LEAF_RECIPIENT = 1;
export const LEAF_BLOB = 2;
export const ENTRY_MESSAGE = 1;
export const ENTRY_BROADCAST_REF = 2;

/** Limits, spec §15. */
export const LIMITS = {
  MaxPlaintextFrame: 16384,
  MaxRecordPlaintext: 1 << 20,
  MaxPayload: 65536,
  MaxBatchLeaves: 1 << 20,
  MaxBlobsPerDelivery: 64,
  MaxEntriesPerLeaf: 65535,
  HandshakeTimeoutMs: 10_000,
  MaxCredentialLifetime: 30n * 24n * 3600n,
  MaxRevocationListLifetime: 7n * 24n * 3600n,
  MaxTicketLifetime: 7 * 24 * 3600,
  ClockSkew: 60n,
  ReplayWindow: 1024,
  MaxKeyUpdatesWithoutData: 16,
  /** POST-021: a client's default silence before it sends Heartbeat(1) */
  HeartbeatIntervalMs: 9_000,
  /** POST-021: a client's default wait for any frame after its Heartbeat(1) */
  HeartbeatTimeoutMs: 6_000,
  /** POST-021: the least time between two Heartbeat(1) a client sends */
  MinHeartbeatIntervalMs: 1_000,
  /** POST-022: the reconnect delay after going_away is uniform in [0, GoingAwaySpread] */
  GoingAwaySpreadMs: 1_000,
  /** TOK-003: the longest validity period a server accepts, seconds */
  MaxTokenLifetime: 3600n,
  /** TOK-001: the longest encoding of an access token */
  MaxAccessToken: 931,
} as const;

/** REC-005: frames per record key. */
export const RECORD_LIMIT: Record<number, bigint> = {
  [AEAD_CHACHA20_POLY1305]: 1n << 32n,
  [AEAD_AES_256_GCM]: 1n << 20n,
};

/**
 * EXT-003: GREASE values for versions, groups and AEADs are 0x?A?A with equal nibbles
 * (0x0A0A … 0xFAFA); for extensions the non-critical 0x0A0A … 0x7A7A.
 */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 12 === ((v >> 4) & 0x0f);
}

/** A GREASE value for versions, groups and AEADs from one random byte (its low nibble). */
export function greaseValue(b: number): number {
  const n = b & 0x0f;
  return (n << 12) | 0x0a00 | (n << 4) | 0x0a;
}

/** A non-critical GREASE extension type from one random byte (its low three bits). */
export function greaseExtension(b: number): number {
  const n = b & 0x07;
  return (n << 12) | 0x0a00 | (n << 4) | 0x0a;
}
