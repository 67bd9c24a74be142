/**
 * Which closes the dashboards and alerts call "abnormal" and "error", derived
 * once from the close-code table so that no query spells a code list by hand.
 */
import { CLOSE_CODE_TABLE, rowOf, type CloseCategory } from '../../src/codes/close-codes.js';

/** No close frame at all (SPEC section 3): the connection just ended. */
export const ABNORMAL_CODE = 1006;

/**
 * Standard codes that report a failure (RFC 6455 §7.4.1): protocol error,
 * unsupported data, invalid payload, policy, too large, missing extension,
 * internal error, try again later, TLS failure. 1004 and 1014 share the
 * codename UNUSED with 0-999, so they are errors as well: a peer that sends
 * them breaks the RFC. 1000, 1001, 1005, 1012 are not errors; 1006 is counted
 * separately as "abnormal".
 */
const ERROR_STANDARD_CODES: ReadonlySet<number> = new Set([1002, 1003, 1004, 1007, 1008, 1009, 1010, 1011, 1013, 1014, 1015]);

/**
 * Whole ranges that are errors: codes that must never be seen on the wire.
 * `framework` (3000-3999) is deliberately not here: RFC 6455 §7.4.2 allows
 * those codes on the wire, libraries use them for ordinary outcomes (IANA
 * lists 3000 Unauthorized, 3003 Forbidden, 3008 Timeout) just as applications
 * use 4000-4999, so their meaning is the application's. Watch them per code
 * on the drill-down dashboard instead.
 */
const ERROR_CATEGORIES: ReadonlySet<CloseCategory> = new Set(['unused', 'reserved', 'extension', 'invalid']);

/** True when a close with this code counts as an error close. */
export function isErrorClose(code: number): boolean {
  const row = rowOf(code);
  return ERROR_CATEGORIES.has(row.category) || (row.category === 'standard' && ERROR_STANDARD_CODES.has(code));
}

/**
 * The codenames of every error close. Selecting on `codename` keeps the error
 * filter a single matcher (codes outside 1000-1015 carry range texts), and is
 * exact: user-registered names only exist for 3000-4999 and may not reuse a
 * built-in codename.
 */
export const ERROR_CODENAMES: readonly string[] = [...new Set(CLOSE_CODE_TABLE.filter((row) => isErrorClose(row.from)).map((row) => row.codename))];

/** Sanity check at load: the codename filter selects exactly the error codes. */
for (const row of CLOSE_CODE_TABLE) {
  for (const code of [row.from, row.to]) {
    if (ERROR_CODENAMES.includes(rowOf(code).codename) !== isErrorClose(code)) {
      throw new Error(`close-classes: codename ${rowOf(code).codename} does not separate error closes at ${code}`);
    }
  }
}

/** PromQL regex alternation of the error codenames. */
export const ERROR_CODENAME_REGEX = ERROR_CODENAMES.join('|');

/** How a row of the close-code table counts on the dashboards. */
export function closeClassOf(code: number): 'abnormal' | 'error' | 'normal' {
  if (code === ABNORMAL_CODE) return 'abnormal';
  return isErrorClose(code) ? 'error' : 'normal';
}
