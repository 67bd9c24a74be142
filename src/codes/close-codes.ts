/**
 * The WebSocket close-code table (docs/close-codes.md, RFC 6455 §7.4)
 * as reviewable data, and classify() derived from it once at load.
 * Pure: no I/O, no state.
 */
import type { ViolationKind } from './vocabulary.js';

export type CloseCategory = 'unused' | 'standard' | 'reserved' | 'extension' | 'framework' | 'application' | 'invalid';

interface CloseCodeRow {
  readonly from: number;
  readonly to: number;
  readonly codename: string;
  readonly category: CloseCategory;
  readonly internal: boolean;
  readonly customizable: boolean;
  readonly description: string;
}

function row(from: number, to: number, codename: string, category: CloseCategory, internal: boolean, customizable: boolean, description: string): CloseCodeRow {
  return { from, to, codename, category, internal, customizable, description };
}

// prettier-ignore
/**
 * One row per line of the seed table. Codenames: the table's own where it has
 * one, else its italic name in UPPER_SNAKE_CASE, else the range's label.
 */
export const CLOSE_CODE_TABLE: readonly CloseCodeRow[] = [
  //  from   to     codename                category       internal customizable
  row(0,     999,   'UNUSED',               'unused',      true,  false, 'Unused'),
  row(1000,  1000,  'CLOSE_NORMAL',         'standard',    false, false, 'Successful operation, regular socket shutdown'),
  row(1001,  1001,  'CLOSE_GOING_AWAY',     'standard',    false, false, 'One of the socket endpoints is exiting'),
  row(1002,  1002,  'CLOSE_PROTOCOL_ERROR', 'standard',    false, false, 'Error in one of the endpoints while processing a known message type'),
  row(1003,  1003,  'CLOSE_UNSUPPORTED',    'standard',    false, false, 'Endpoint received unsupported data type (text/binary)'),
  row(1004,  1004,  'UNUSED',               'standard',    true,  false, 'Unused'),
  row(1005,  1005,  'CLOSED_NO_STATUS',     'standard',    true,  false, 'Expected close status, received none'),
  row(1006,  1006,  'CLOSE_ABNORMAL',       'standard',    true,  false, 'No close code frame has been receieved'),
  row(1007,  1007,  'UNSUPPORTED_DATA',     'standard',    false, false, 'Endpoint received inconsistent message (e.g. non-UTF8 data within a string)'),
  row(1008,  1008,  'POLICY_VIOLATION',     'standard',    false, false, "Endpoint policy was violated, is a generic code used when codes 1003 and 1009 aren't suitable"),
  row(1009,  1009,  'CLOSE_TOO_LARGE',      'standard',    false, false, 'Data frame size is too large'),
  row(1010,  1010,  'MISSING_EXTENSION',    'standard',    false, false, "Client asked for extension that server didn't reply with"),
  row(1011,  1011,  'INTERNAL_ERROR',       'standard',    false, false, 'Internal server error while operating'),
  row(1012,  1012,  'SERVICE_RESTART',      'standard',    false, false, 'Server/service is restarting'),
  row(1013,  1013,  'TRY_AGAIN_LATER',      'standard',    false, false, "Try Again Later code; temporary server condition forced to block client's request"),
  row(1014,  1014,  'UNUSED',               'standard',    true,  false, 'Unused; reserved for later'),
  row(1015,  1015,  'TLS_HANDSHAKE_FAIL',   'standard',    true,  false, 'TLS handshake failure'),
  row(1016,  1999,  'RESERVED',             'reserved',    true,  false, 'Reserved for later'),
  row(2000,  2999,  'EXTENSION',            'extension',   true,  false, 'Reserved for websocket extensions'),
  // The seed marks 3000-3999 internal; RFC 6455 §7.4.2 still allows them on
  // the wire, so wire validity is decided by isAllowedOnWire(), not by `internal`.
  row(3000,  3999,  'FRAMEWORK',            'framework',   true,  true,  'Reserved for frameworks, can be registered at IANA'),
  row(4000,  4999,  'APPLICATION',          'application', false, true,  'Available for applications'),
  row(5000,  65535, 'INVALID',              'invalid',     false, false, 'Outside the close-code range; not a valid close code'),
];

/** The row used for anything that is not an integer in 0-65535. */
const INVALID_ROW = CLOSE_CODE_TABLE[CLOSE_CODE_TABLE.length - 1] as CloseCodeRow;

/** The `code` label of a range when its codes do not get their own value. */
export function rangeText(r: { from: number; to: number }): string {
  return `${r.from}-${r.to}`;
}

/** Largest valid close-code value (uint16). */
export const MAX_CODE = 65535;

// Derived once: code -> index of its row. 64 KiB, O(1) lookups for any code.
const ROW_OF_CODE = new Uint8Array(MAX_CODE + 1);
CLOSE_CODE_TABLE.forEach((r, index) => ROW_OF_CODE.fill(index, r.from, r.to + 1));

export interface Classification {
  /** The input, as given. */
  readonly code: number;
  readonly codename: string;
  readonly category: CloseCategory;
  readonly internal: boolean;
  readonly customizable: boolean;
  readonly description: string;
  /** The `from-to` text of the table row the code falls in. */
  readonly range: string;
}

/** User-registered names for customizable codes (3000-4999), as validated by parseCodeNames(). */
export type CodeNames = ReadonlyMap<number, string>;

const EMPTY_NAMES: CodeNames = new Map();

/** True when `code` is an integer in 0-65535. */
function isUint16(code: number): boolean {
  return Number.isInteger(code) && code >= 0 && code <= MAX_CODE;
}

/** The table row of any input (non-integers and out-of-range values fall in the invalid row). */
export function rowOf(code: number): CloseCodeRow {
  return isUint16(code) ? (CLOSE_CODE_TABLE[ROW_OF_CODE[code] as number] as CloseCodeRow) : INVALID_ROW;
}

/**
 * Classify any value as a close code. O(1); never throws.
 * `names` are user-registered codenames for 3000-4999 (see parseCodeNames()).
 */
export function classify(code: number, names: CodeNames = EMPTY_NAMES): Classification {
  const r = rowOf(code);
  const named = r.customizable ? names.get(code) : undefined;
  return {
    code,
    codename: named ?? r.codename,
    category: r.category,
    internal: r.internal,
    customizable: r.customizable,
    description: r.description,
    range: rangeText(r),
  };
}

/**
 * Whether a close frame may carry this code (RFC 6455 §7.4.1-7.4.2): 1000-1003,
 * 1007-1013 and 3000-4999. 1014 is reserved and never assigned, so this is
 * stricter than ws, which accepts it.
 */
export function isAllowedOnWire(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) || (code >= 3000 && code <= 4999);
}

/** The violation a close code on the wire represents, or undefined when it is allowed. */
export function wireViolation(code: number): ViolationKind | undefined {
  if (isAllowedOnWire(code)) return undefined;
  return isUint16(code) && code < 5000 ? 'internal_code_on_wire' : 'invalid_code';
}

/** Pattern every user-registered codename must match. */
const CODENAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Error thrown for a bad user-registered code name; `code` is stable for tests and callers. */
export class CodeNameError extends TypeError {
  readonly code = 'WS_CLOSE_AGENT_INVALID_CODE_NAME';
}

const BUILT_IN_CODENAMES = new Set(CLOSE_CODE_TABLE.map((r) => r.codename));

/**
 * Validate user-registered names, given as an object (`{ 4001: 'AUTH_EXPIRED' }`)
 * or a Map. Only customizable codes (3000-4999) may be named, and each name
 * must match CODENAME_PATTERN and differ from the built-in codenames.
 * Throws CodeNameError naming the offending entry.
 */
export function parseCodeNames(input: unknown, optionName = 'codes'): CodeNames {
  if (input === undefined || input === null) return EMPTY_NAMES;
  let entries: [unknown, unknown][];
  if (input instanceof Map) entries = [...input.entries()];
  else if (typeof input === 'object' && !Array.isArray(input)) entries = Object.entries(input);
  else throw new CodeNameError(`${optionName} must be an object mapping close codes to names, e.g. { 4001: "AUTH_EXPIRED" }`);

  const names = new Map<number, string>();
  for (const [key, name] of entries) {
    const entry = `${optionName}[${JSON.stringify(String(key))}] = ${JSON.stringify(name)}`;
    const code = typeof key === 'number' ? key : /^\d+$/.test(String(key)) ? Number(key) : NaN;
    if (!isUint16(code)) throw new CodeNameError(`${entry}: ${String(key)} is not a close code (an integer 3000-4999)`);
    if (!rowOf(code).customizable) {
      throw new CodeNameError(`${entry}: only codes 3000-4999 can be named; ${code} is ${classify(code).codename} (${classify(code).category})`);
    }
    if (typeof name !== 'string' || !CODENAME_PATTERN.test(name)) {
      throw new CodeNameError(`${entry}: the name must match ${CODENAME_PATTERN.source}`);
    }
    if (BUILT_IN_CODENAMES.has(name)) throw new CodeNameError(`${entry}: ${name} is a built-in codename`);
    names.set(code, name);
  }
  return names;
}
