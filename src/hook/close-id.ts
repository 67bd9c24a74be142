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
 * A validated close id: its 128 bits in five small integers (7, 7, 7, 7 and
 * 4 hex digits, each within V8's small-integer range, so that none is boxed)
 * and its seeded hash (the report table's key). No string is kept: a slice
 * of the request target would keep the whole target alive for the window.
 */
export interface CloseId {
  readonly hash: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly e: number;
}

// One seed per process, shared by the ESM and CommonJS copies of this module
// (a hook from one and a report handler from the other must hash alike).
const SEED_KEY = Symbol.for('ws-close-agent.closeIdSeed');
const seeds = globalThis as { [SEED_KEY]?: number };
const SEED = (seeds[SEED_KEY] ??= randomInt(1, 2 ** 31));

/** Hex digit values by char code, -1 for anything else (only lowercase digits are an id's). */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;

class ParsedId implements CloseId {
  constructor(
    readonly hash: number,
    readonly a: number,
    readonly b: number,
    readonly c: number,
    readonly d: number,
    readonly e: number,
  ) {}
}

/** `n` hex digits of `s` from `at` as a number, or -1 when one is not a lowercase hex digit. */
function digits(s: string, at: number, n: number): number {
  let w = 0;
  let bad = 0;
  for (let i = at; i < at + n; i++) {
    const code = s.charCodeAt(i);
    const v = HEX[code & 127] as number;
    bad |= v | (127 - code); // a code unit above 127 is no digit either (the mask folded it)
    w = (w << 4) | (v & 15);
  }
  return bad < 0 ? -1 : w;
}

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** The 32 characters of `s` from `start` as a CloseId, or undefined when they are not 32 lowercase hex digits. */
function parseId(s: string, start: number): CloseId | undefined {
  if (s.length < start + CLOSE_ID_LENGTH) return undefined;
  const a = digits(s, start, 7);
  const b = digits(s, start + 7, 7);
  const c = digits(s, start + 14, 7);
  const d = digits(s, start + 21, 7);
  const e = digits(s, start + 28, 4);
  if ((a | b | c | d | e) < 0) return undefined;
  let h = mix(mix(mix(mix(mix(SEED, a), b), c), d), e);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return new ParsedId(h >>> 1, a, b, c, d, e);
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
export function closeIdText({ a, b, c, d, e }: CloseId): string {
  return [a, b, c, d].map((w) => w.toString(16).padStart(7, '0')).join('') + e.toString(16).padStart(4, '0');
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
