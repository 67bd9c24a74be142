/**
 * The connection id a browser page puts in the upgrade request's query
 * (`ws_close_id`, see ws-close-agent/browser) so that its close report can be
 * joined to the close the server recorded. Read only while the recorder has
 * a close listener (recorder.wantsDetails): without client reports the
 * request is not looked at.
 *
 * The shape is checked strictly (32 lowercase hex digits, nothing a peer
 * could make longer) in the same pass that hashes it for the report table,
 * with a seed chosen at random per process, so that nobody can pick ids
 * that collide in it.
 */
import { randomInt } from 'node:crypto';
import type { CloseDetails } from '../recorder/recorder.js';

export const CLOSE_ID_PARAM = 'ws_close_id';
/** 32 lowercase hex digits: the browser module's 128 random bits. */
export const CLOSE_ID_LENGTH = 32;

/** A validated close id and its seeded hash (the report table's key). */
export interface CloseId {
  readonly id: string;
  readonly hash: number;
}

// One seed per process, shared by the ESM and CommonJS copies of this module
// (a hook from one and a report handler from the other must hash alike).
const SEED_KEY = Symbol.for('ws-close-agent.closeIdSeed');
const seeds = globalThis as { [SEED_KEY]?: number };
const SEED = (seeds[SEED_KEY] ??= randomInt(1, 2 ** 31));

/** The seeded hash of the 32 characters of `s` from `start`, or -1 when they are not 32 lowercase hex digits. */
export function hashCloseId(s: string, start = 0): number {
  if (s.length < start + CLOSE_ID_LENGTH) return -1;
  let h = SEED;
  for (let i = start; i < start + CLOSE_ID_LENGTH; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 1;
}

/** Whether `s` is a close id: 32 lowercase hex digits and nothing else. */
export function isCloseId(s: unknown): s is string {
  return typeof s === 'string' && s.length === CLOSE_ID_LENGTH && hashCloseId(s) >= 0;
}

/** `s` as a CloseId, when it is one. */
export function toCloseId(s: unknown): CloseId | undefined {
  if (typeof s !== 'string' || s.length !== CLOSE_ID_LENGTH) return undefined;
  const hash = hashCloseId(s);
  return hash < 0 ? undefined : { id: s, hash };
}

const NEEDLE = `${CLOSE_ID_PARAM}=`;

/**
 * The first ws_close_id in a request target's query, when it has the exact
 * shape; undefined otherwise (absent, empty, too long, other characters).
 * Scans the string instead of building a URL: this runs at every upgrade.
 */
export function closeIdOf(target: string | undefined): CloseId | undefined {
  if (target === undefined) return undefined;
  const query = target.indexOf('?');
  if (query < 0) return undefined;
  let at = target.indexOf(NEEDLE, query + 1);
  while (at >= 0) {
    const before = target.charCodeAt(at - 1);
    if (before === 63 /* ? */ || before === 38 /* & */) {
      const start = at + NEEDLE.length;
      const end = start + CLOSE_ID_LENGTH;
      const after = target.charCodeAt(end); // NaN at the end of the string
      if (!(Number.isNaN(after) || after === 38 || after === 35 /* # */)) return undefined;
      const hash = hashCloseId(target, start);
      return hash < 0 ? undefined : { id: target.slice(start, end), hash };
    }
    at = target.indexOf(NEEDLE, at + 1);
  }
  return undefined;
}

/** The details a close with `closeId` is recorded with (none without an id). */
export function closeIdDetails(closeId: CloseId | undefined): CloseDetails | undefined {
  return closeId === undefined ? undefined : { closeId };
}
