/**
 * Extensions (spec §13, registries.md §Extensions): the list codec and the receiver's rules.
 */
import { fail } from './alert.js';
import { EXT_CRITICAL_BIT, EXT_NEXT_SERVER_KEY, EXT_PSK_ACCEPTED, EXT_REALM, EXT_RESUMPTION_TICKET } from './constants.js';
import { Reader, Writer } from './wire.js';

export interface Extension {
  type: number;
  data: Uint8Array;
}

/** The extension types this implementation knows (EXT-007). */
export const KNOWN_EXTENSIONS: ReadonlySet<number> = new Set([EXT_REALM, EXT_RESUMPTION_TICKET, EXT_PSK_ACCEPTED, EXT_NEXT_SERVER_KEY]);

/**
 * Reads `Extension extensions<0..32>` (§6.1) strictly (WIRE-001). The order check (checkAscending) is left to
 * the caller, so that a message's structure errors (`decode_error`) are reported first.
 */
export function readExtensions(r: Reader): Extension[] {
  const n = r.count(0, 32);
  const out: Extension[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.u16();
    const data = r.vec(0, 0xffff);
    out.push({ type, data });
  }
  return out;
}

/** HS-004 / WIRE-002: extension types strictly ascending (`illegal_parameter`). */
export function checkAscending(exts: Extension[]): void {
  for (let i = 1; i < exts.length; i++) {
    if (exts[i]!.type <= exts[i - 1]!.type) fail('illegal_parameter', 'extensions not in strictly ascending order', 'HS-004');
  }
}

export function writeExtensions(w: Writer, exts: Extension[]): void {
  w.count(exts.length, 0, 32);
  for (const e of exts) w.u16(e.type).vec(e.data, 0, 0xffff);
}

/** EXT-001 */
export function isCritical(type: number): boolean {
  return (type & EXT_CRITICAL_BIT) !== 0;
}

/**
 * The receiver's rules for one message's extensions, in list order:
 * - a known extension where it is not allowed is `illegal_parameter` (EXT-005);
 * - a known extension with malformed data is `decode_error` (EXT-005, EXT-007);
 * - an unknown critical extension is `unknown_critical_extension` (EXT-002); an unknown non-critical one
 *   (GREASE included, EXT-003) is ignored.
 * `known` defaults to the v1 extensions; `allowed` lists those the message may carry.
 */
export function checkExtensions(
  exts: Extension[],
  allowed: ReadonlySet<number>,
  known: ReadonlySet<number> = KNOWN_EXTENSIONS,
): void {
  for (const e of exts) {
    if (known.has(e.type)) {
      if (!allowed.has(e.type)) fail('illegal_parameter', `extension ${e.type} not allowed here`, 'EXT-005');
      validateKnownData(e);
    } else if (isCritical(e.type)) {
      fail('unknown_critical_extension', `unknown critical extension 0x${e.type.toString(16)}`, 'EXT-002');
    }
  }
}

/** EXT-007: the data layouts of the v1 extensions; another length is `decode_error`. */
function validateKnownData(e: Extension): void {
  const n = e.data.length;
  const ok =
    e.type === EXT_REALM
      ? n >= 1 && n <= 255
      : e.type === EXT_RESUMPTION_TICKET
        ? n >= 1 && n <= 65535
        : e.type === EXT_PSK_ACCEPTED
          ? n === 0
          : e.type === EXT_NEXT_SERVER_KEY
            ? n === 32 // HS-070
            : true;
  if (!ok) fail('decode_error', `malformed data of extension ${e.type}`, 'EXT-007');
}

/** The extension of a type, if present. */
export function findExtension(exts: Extension[], type: number): Extension | undefined {
  return exts.find((e) => e.type === type);
}
