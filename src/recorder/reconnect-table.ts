/**
 * Which client keys ended a connection recently: keyed hash -> (end time,
 * codename index of that close), for counting reconnects. A Map keeps
 * insertion order, and entries are inserted at their end time, so the oldest
 * entry is always first: expired entries are dropped from the front as new
 * ones come in, and past `maxKeys` the oldest goes. Every operation is O(1)
 * (amortised for the expiry) and the table never holds more than `maxKeys`
 * entries, whatever the clients send.
 */
import { DEFAULT_RECONNECT_MAX_KEYS, DEFAULT_RECONNECT_WINDOW_MS } from '../codes/vocabulary.js';

/** Codename indexes are packed below the end time (ms) in one number: 12 bits (the recorder has well under 4,096 codenames). */
const CODENAME_RADIX = 4096;
/** Endings between two sweeps of the expired entries at the front. */
const PURGE_EVERY = 64;

export interface ReconnectTableOptions {
  /** How long after a connection ended a new one from the same key counts as a reconnect, ms (default 60,000). */
  windowMs?: number;
  /** Most keys remembered at once (default 100,000); past it the oldest is forgotten. */
  maxKeys?: number;
}

export class ReconnectTable {
  readonly windowMs: number;
  readonly maxKeys: number;
  /** hash -> (end time in whole ms since `base`) * CODENAME_RADIX + codename index. */
  private readonly endings = new Map<number, number>();
  private readonly base: number;
  private sincePurge = 0;
  /** The codename index of the previous connection, after opened() found a reconnect. */
  previous = 0;

  /** `now` is the clock every later call uses (ms; any origin). */
  constructor(options: ReconnectTableOptions = {}, now = 0) {
    this.windowMs = options.windowMs ?? DEFAULT_RECONNECT_WINDOW_MS;
    this.maxKeys = options.maxKeys ?? DEFAULT_RECONNECT_MAX_KEYS;
    this.base = now;
  }

  get size(): number {
    return this.endings.size;
  }

  /**
   * A connection from key `hash` opened at `now`: the delay in ms since the
   * same key's last connection ended, when that is within the window (then
   * `previous` holds how it ended, and the entry is used up: one ending is
   * followed by at most one reconnect); -1 otherwise.
   */
  opened(hash: number, now: number): number {
    const packed = this.endings.get(hash);
    if (packed === undefined) return -1;
    this.endings.delete(hash);
    const endMs = Math.floor(packed / CODENAME_RADIX);
    const delay = now - this.base - endMs;
    if (delay > this.windowMs) return -1;
    this.previous = packed - endMs * CODENAME_RADIX;
    return delay < 0 ? 0 : delay;
  }

  /** A connection from key `hash` ended at `now` (not earlier than any previous call's `now`) under codename index `codename`. */
  ended(hash: number, codename: number, now: number): void {
    const t = Math.floor(now - this.base);
    const map = this.endings;
    map.delete(hash); // re-inserted at the back: the Map stays in end-time order
    map.set(hash, t * CODENAME_RADIX + (codename % CODENAME_RADIX));
    if (map.size > this.maxKeys) map.delete(map.keys().next().value as number);
    // Expired entries are dropped from the front now and then (opened() ignores them meanwhile): each leaves once.
    if (++this.sincePurge >= PURGE_EVERY) {
      this.sincePurge = 0;
      const oldest = (t - this.windowMs) * CODENAME_RADIX;
      for (const [h, packed] of map) {
        if (packed >= oldest) break;
        map.delete(h);
      }
    }
  }
}
