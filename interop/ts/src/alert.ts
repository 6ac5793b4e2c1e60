/**
 * Alerts (spec §14, registries.md §Alerts) and the typed error every rejection carries.
 *
 * ALERT-002: every rejection reports the exact code named by the rule that failed; each throw site in
 * this library names that rule in `requirement`. ALERT-003: messages never contain secrets or
 * decrypted data (only structure names, lengths and requirement IDs).
 */

/** Alert codes of registries.md §Alerts (uint8). */
export const ALERTS = {
  close_notify: 0,
  going_away: 1,
  unexpected_message: 10,
  decode_error: 20,
  illegal_parameter: 21,
  record_overflow: 22,
  protocol_version: 30,
  handshake_failure: 31,
  unknown_critical_extension: 32,
  bad_signature: 40,
  bad_record_mac: 41,
  decrypt_error: 42,
  bad_key: 50,
  bad_credential: 51,
  credential_expired: 52,
  credential_revoked: 53,
  revocation_stale: 54,
  unknown_server_key: 55,
  realm_mismatch: 56,
  client_auth_required: 57,
  token_required: 58,
  token_key_mismatch: 59,
  unknown_signer: 60,
  replayed_batch: 61,
  bad_proof: 62,
  wrong_recipient: 63,
  bad_envelope_mac: 64,
  replayed_message: 65,
  stale_message: 66,
  replayed_epoch: 67,
  limit_exceeded: 70,
  timeout: 71,
  token_expired: 72,
  internal_error: 80,
  overloaded: 81,
} as const;

export type AlertName = keyof typeof ALERTS;

const BY_CODE = new Map<number, AlertName>(
  (Object.entries(ALERTS) as [AlertName, number][]).map(([n, c]) => [c, n]),
);

/** Local-only results, never sent on the wire (ALERT-002, REPLAY-012). */
export const LOCAL_ONLY: ReadonlySet<AlertName> = new Set<AlertName>(['replayed_message', 'stale_message']);

/**
 * Orderly closes, not errors (POST-006, POST-022): close_notify, and going_away, which a server sends when it
 * stops serving a connection and after which the client reconnects elsewhere.
 */
export const ORDERLY_CLOSE: ReadonlySet<AlertName> = new Set<AlertName>(['close_notify', 'going_away']);

/**
 * The name of a received alert code. POST-006: an unknown code is read as `internal_error`.
 */
export function alertName(code: number): AlertName {
  return BY_CODE.get(code) ?? 'internal_error';
}

/** True if `code` is a registered alert code. */
export function isRegisteredAlert(code: number): boolean {
  return BY_CODE.has(code);
}

/**
 * The error thrown by every check of this library. `alert` is the registry name, `code` its number,
 * `requirement` the spec rule that failed. `fromPeer` marks an alert received from the peer (the
 * connection ends with the peer's code and the alert is not answered, POST-006).
 */
export class SealFeedError extends Error {
  readonly alert: AlertName;
  readonly code: number;
  readonly requirement: string | undefined;
  readonly fromPeer: boolean;
  /**
   * The transport ended without an Alert (no close_notify, POST-006): no alert was received or sent; `alert`
   * is then `internal_error`, or `timeout` when the client closed it because the server stayed silent after
   * a Heartbeat (POST-021).
   */
  readonly transportClosed: boolean;

  constructor(alert: AlertName, message: string, requirement?: string, opts?: { fromPeer?: boolean; transportClosed?: boolean }) {
    super(`${alert}${requirement ? ` (${requirement})` : ''}: ${message}`);
    this.name = 'SealFeedError';
    this.alert = alert;
    this.code = ALERTS[alert];
    this.requirement = requirement;
    this.fromPeer = opts?.fromPeer ?? false;
    this.transportClosed = opts?.transportClosed ?? false;
  }
}

/** Throws a SealFeedError. */
export function fail(alert: AlertName, message: string, requirement?: string): never {
  throw new SealFeedError(alert, message, requirement);
}

/**
 * True if `e` is the server's going_away (POST-022): an orderly close, not a failure. The client keeps its
 * state (ticket, replay state) and reconnects, to another endpoint first when it knows several, after
 * `goingAwayDelayMs()`.
 */
export function isGoingAway(e: unknown): boolean {
  return e instanceof SealFeedError && e.fromPeer && e.alert === 'going_away';
}

/** The alert of any thrown value: a SealFeedError's own, else `internal_error`. */
export function alertOf(e: unknown): AlertName {
  return e instanceof SealFeedError ? e.alert : 'internal_error';
}
