/**
 * The ring of recent closes: the last N closes a recorder saw, with their
 * reason, path and (when enabled) peer. Fed by a close listener; memory is
 * fixed by N at construction (a reason is at most 123 characters as given or
 * its escaped text, a path at most MAX_PATH_TEXT_CHARS). Recording one close
 * writes a few fields of a preallocated slot, escapes only a reason given in
 * bytes, and reads no clock when the source passes its own; text is escaped
 * when it is listed.
 */
import { performance } from 'node:perf_hooks';
import { OptionError } from '../recorder/options.js';
import type { CloseDetails, CloseListener, CloseRecorder, CloseSeries } from '../recorder/recorder.js';
import { MAX_PATH_CHARS, MAX_PATH_TEXT_CHARS, MAX_REASON_CHARS, escapeReason, escapeReasonText, pathOf, pathOfOnce, type CloseEntry } from './close-entry.js';

/** Ring size when none is given: about 1,000 x (123 B reason + 256 B path + the rest) at most. */
const DEFAULT_RECENT_CLOSES = 1000;
/** The largest ring accepted: beyond it a ring is a log, and logs have their own pipeline (--log-closes). */
const MAX_RECENT_CLOSES = 100_000;

export interface RecentClosesOptions {
  /** How many closes to keep (default 1000; 0 keeps none). */
  size?: number;
  /** Keep the peer's address too (default false). */
  peer?: boolean;
}

/** A filter on the entries listed: exact code, codename and initiator. */
export interface CloseFilter {
  code?: number | undefined;
  codename?: string | undefined;
  initiator?: string | undefined;
}

export function validateRingSize(size: unknown, name = 'size'): number {
  if (size === undefined) return DEFAULT_RECENT_CLOSES;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > MAX_RECENT_CLOSES) {
    throw new OptionError(`${name} must be an integer from 0 (off) to ${MAX_RECENT_CLOSES}, got ${JSON.stringify(size) ?? typeof size}`);
  }
  return size;
}

/** The reason as escaped text; '' for none. Never keeps the caller's buffer. */
function reasonText(reason: Buffer | string | undefined): string {
  if (reason === undefined || reason.length === 0) return '';
  return typeof reason === 'string' ? escapeReasonText(reason) : escapeReason(reason);
}

/** One close as kept: a preallocated object per ring slot, overwritten in place (no allocation per close). */
interface Slot {
  series: CloseSeries | undefined;
  code: number;
  durationSeconds: number;
  /** performance.now() of the close: turned into wall time when read, with the clock offset of that moment. */
  at: number;
  /** The reason as text: escaped already, or (rawReason) as the source gave it, escaped when read. */
  reason: string;
  rawReason: boolean;
  /** The path as the source gave it (pathOf() output from the sources here), at most MAX_PATH_TEXT_CHARS; made pathOf() output when read (pathOfOnce). */
  path: string;
  peer: string;
}

export class RecentCloses {
  readonly capacity: number;
  readonly keepsPeer: boolean;
  private readonly slots: Slot[];
  /** Closes recorded so far; close k is in slot k % capacity. */
  private count = 0;
  /** The slot the next close goes to. */
  private next = 0;

  constructor(options: RecentClosesOptions = {}) {
    if (options === null || typeof options !== 'object') throw new OptionError('recent closes options must be an object');
    this.capacity = validateRingSize(options.size);
    if (options.peer !== undefined && typeof options.peer !== 'boolean') throw new OptionError(`peer must be a boolean, got ${String(options.peer)}`);
    this.keepsPeer = options.peer === true;
    this.slots = Array.from({ length: this.capacity }, () => ({
      series: undefined,
      code: 0,
      durationSeconds: 0,
      at: 0,
      reason: '',
      rawReason: false,
      path: '',
      peer: '',
    }));
  }

  /** Closes recorded since the ring was made (also those that fell out of it). */
  get recorded(): number {
    return this.count;
  }

  /**
   * The close listener that feeds the ring (see attach). It only copies:
   * text a source hands over as a string (a reason given to close(), a path
   * that pathOf() made) is kept as given, within its bound, and escaped when
   * it is read (list()); only a reason in bytes is turned into text here, so
   * that the ring never keeps the caller's buffer.
   */
  readonly record: CloseListener = (series, durationSeconds, details, code) => {
    if (this.capacity === 0) return;
    const i = this.next;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    this.count++;
    const slot = this.slots[i]!;
    slot.series = series;
    slot.code = code;
    slot.durationSeconds = durationSeconds;
    if (details === undefined) {
      slot.at = performance.now();
      slot.reason = '';
      slot.rawReason = false;
      slot.path = '';
      if (this.keepsPeer) slot.peer = '';
      return;
    }
    slot.at = details.at ?? performance.now();
    const { reason, path } = details;
    // A string reason longer than a close frame carries (only a foreign source passes one) is cut and escaped now: the ring keeps no more than 123 bytes of it.
    if (typeof reason === 'string' && reason.length <= MAX_REASON_CHARS) {
      slot.reason = reason;
      slot.rawReason = true;
    } else {
      slot.reason = reasonText(reason);
      slot.rawReason = false;
    }
    // A path is kept as given up to the bound of pathOf()'s output (the cheap test first: the usual path is short); a longer one (only a foreign source passes one) is cut now, for the same reason.
    slot.path = path === undefined ? '' : path.length <= MAX_PATH_CHARS + 1 ? path : path.length <= MAX_PATH_TEXT_CHARS ? pathOfOnce(path) : pathOf(path);
    if (this.keepsPeer) slot.peer = details.peer ?? '';
  };

  /** Feed the ring from `recorder`'s closes; returns the function that stops it. */
  attach(recorder: CloseRecorder): () => void {
    return recorder.addCloseListener(this.record);
  }

  /**
   * Up to `limit` entries, newest first, matching `filter`; only the closes
   * recorded after the first `after` (a `recorded` value seen earlier).
   */
  list(limit: number, filter: CloseFilter = {}, after = 0): CloseEntry[] {
    const out: CloseEntry[] = [];
    const oldest = Math.max(this.count - this.capacity, after, 0);
    const offset = Date.now() - performance.now();
    for (let k = this.count - 1; k >= oldest && out.length < limit; k--) {
      const slot = this.slots[k % this.capacity]!;
      const series = slot.series!;
      if (filter.code !== undefined && slot.code !== filter.code) continue;
      if (filter.codename !== undefined && series.codename !== filter.codename) continue;
      if (filter.initiator !== undefined && series.initiator !== filter.initiator) continue;
      out.push(this.entryOf(slot, series, offset));
    }
    return out;
  }

  private entryOf(slot: Slot, series: CloseSeries, offset: number): CloseEntry {
    const entry: CloseEntry = {
      time: new Date(Math.round(offset + slot.at)).toISOString(),
      code: slot.code,
      codename: series.codename,
      category: series.category,
      initiator: series.initiator,
      durationSeconds: Math.round(slot.durationSeconds * 1e6) / 1e6,
      reason: slot.rawReason ? escapeReasonText(slot.reason) : slot.reason,
      path: pathOfOnce(slot.path),
    };
    if (this.keepsPeer) entry.peer = slot.peer;
    return entry;
  }
}

/** The entry for one close as it happens (the close log): the same shape as the ring's. */
export function entryOf(series: CloseSeries, durationSeconds: number, details: CloseDetails | undefined, code: number, peer: boolean): CloseEntry {
  const entry: CloseEntry = {
    time: new Date().toISOString(),
    code,
    codename: series.codename,
    category: series.category,
    initiator: series.initiator,
    durationSeconds: Math.round(durationSeconds * 1e6) / 1e6,
    reason: reasonText(details?.reason),
    path: pathOf(details?.path),
  };
  if (peer) entry.peer = details?.peer ?? '';
  return entry;
}
