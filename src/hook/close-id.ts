/**
 * The connection id a browser page puts in the upgrade request's query
 * (`ws_close_id`, see ws-close-agent/browser) so that its close report can be
 * joined to the close the server recorded. Read only while the recorder has
 * a close listener (recorder.wantsDetails): without client reports the
 * request is not looked at.
 *
 * The shape is checked strictly (32 lowercase hex digits, nothing a peer
 * could make longer) in the same pass that reads it into numbers and hashes it for the report table,
 * with a seed chosen at random per process, so that nobody can pick ids
 * that collide in it.
 */
import { randomInt } from 'node:crypto';
import type { CloseDetails } from '../recorder/recorder.js';

const CLOSE_ID_PARAM = 'ws_close_id';
/** 32 lowercase hex digits: the browser module's 128 random bits. */
const CLOSE_ID_LENGTH = 32;

/**
 * A validated close id: its 128 bits in four 32-bit integers (8 hex digits
 * each, as signed int32, which V8 keeps unboxed) and its seeded hash (the
 * report table's key). No string is kept: a slice of the request target
 * would keep the whole target alive for the window.
 */
export interface CloseId {
  readonly hash: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

// One seed per process, shared by the ESM and CommonJS copies of this module
// (a hook from one and a report handler from the other must hash alike).
const SEED_KEY = Symbol.for('ws-close-agent.closeIdSeed');
const seeds = globalThis as { [SEED_KEY]?: number };
const SEED = (seeds[SEED_KEY] ??= randomInt(1, 2 ** 31));

/**
 * The value of two lowercase hex digits by their char codes (each masked to
 * 7 bits), -1 for any pair that is not two of them. Reading two digits per
 * lookup halves the lookups of the 32-digit read that every upgrade and
 * every report does (the table is 32 KiB, of which 16 rows of 256 bytes are ever read).
 */
const HEX_PAIR = new Int16Array(1 << 14).fill(-1);
{
  const digits = '0123456789abcdef';
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) HEX_PAIR[(digits.charCodeAt(i) << 7) | digits.charCodeAt(j)] = i * 16 + j;
}

class ParsedId implements CloseId {
  constructor(
    readonly hash: number,
    readonly a: number,
    readonly b: number,
    readonly c: number,
    readonly d: number,
  ) {}
}

/** Set below 0 by word() when a character it read is not a lowercase hex digit (reset by parseId). */
let invalid = 0;

/** The 8 hex digits of `s` from `at` as an int32; a character that is no lowercase hex digit sets `invalid`. */
function word(s: string, at: number): number {
  let w = 0;
  let bad = 0;
  for (let i = at; i < at + 8; i += 2) {
    const c1 = s.charCodeAt(i);
    const c2 = s.charCodeAt(i + 1);
    const v = HEX_PAIR[((c1 & 127) << 7) | (c2 & 127)] as number;
    bad |= v | (127 - c1) | (127 - c2); // a code unit above 127 is no digit either (the mask folded it)
    w = (w << 8) | (v & 255);
  }
  invalid |= bad;
  return w;
}

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** The 32 characters of `s` from `start` as a CloseId, or undefined when they are not 32 lowercase hex digits. */
function parseId(s: string, start: number): CloseId | undefined {
  if (s.length < start + CLOSE_ID_LENGTH) return undefined;
  invalid = 0;
  const a = word(s, start);
  const b = word(s, start + 8);
  const c = word(s, start + 16);
  const d = word(s, start + 24);
  if (invalid < 0) return undefined;
  let h = mix(mix(mix(mix(SEED, a), b), c), d);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return new ParsedId(h >>> 1, a, b, c, d);
}

/** Whether `s` is a close id: 32 lowercase hex digits and nothing else. */
export function isCloseId(s: unknown): s is string {
  return typeof s === 'string' && s.length === CLOSE_ID_LENGTH && parseId(s, 0) !== undefined;
}

/** `s` as a CloseId, when it is one. */
export function toCloseId(s: unknown): CloseId | undefined {
  if (typeof s !== 'string' || s.length !== CLOSE_ID_LENGTH) return undefined;
  return parseId(s, 0);
}

/** The id's text again (32 lowercase hex digits), for logs and tests. */
export function closeIdText({ a, b, c, d }: CloseId): string {
  return [a, b, c, d].map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
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
      return parseId(target, start);
    }
    at = target.indexOf(NEEDLE, at + 1);
  }
  return undefined;
}

/** The details a close with `closeId` is recorded with (none without an id). */
export function closeIdDetails(closeId: CloseId | undefined): CloseDetails | undefined {
  return closeId === undefined ? undefined : { closeId };
}
