/**
 * Which client keys ended a connection recently: keyed hash -> (end time,
 * codename index of that close), for counting reconnects. Endings are kept
 * in a ring in end-time order (typed arrays, grown up to twice `maxKeys`
 * slots) and a Map from hash to its ring slot: a key that ends again or
 * reconnects leaves a stale slot behind, skipped when the front passes it.
 * Expired entries are dropped from the front as new ones come in, and past
 * `maxKeys` the oldest goes. Every operation is O(1) amortised (when the ring
 * fills, the live entries are copied to the front of a fresh one: at most
 * once per `maxKeys` endings), and the table never holds more than `maxKeys`
 * entries, whatever the clients send.
 *
 * (Not a Map in insertion order with keys().next() for the oldest: V8 leaves
 * deleted entries in place until the next rehash, and each new iterator skips
 * them all from the start: at a full table that is O(maxKeys) per ending.)
 */
import { DEFAULT_RECONNECT_MAX_KEYS, DEFAULT_RECONNECT_WINDOW_MS } from '../codes/vocabulary.js';

/** Codename indexes are packed below the end time (ms) in one number: 12 bits (the recorder has well under 4,096 codenames). */
const CODENAME_RADIX = 4096;
/** Ring slots allocated at first (it grows as keys come in). */
const INITIAL_SLOTS = 1024;
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
  /** hash -> absolute ring index (slot = index % capacity). */
  private readonly slots = new Map<number, number>();
  private hashes: Float64Array;
  /** (end time in whole ms since `base`) * CODENAME_RADIX + codename index. */
  private packed: Float64Array;
  private head = 0;
  private tail = 0;
  private readonly base: number;
  private sincePurge = 0;
  /** The codename index of the previous connection, after opened() found a reconnect. */
  previous = 0;

  /** `now` is the clock every later call uses (ms; any origin). */
  constructor(options: ReconnectTableOptions = {}, now = 0) {
    this.windowMs = options.windowMs ?? DEFAULT_RECONNECT_WINDOW_MS;
    this.maxKeys = options.maxKeys ?? DEFAULT_RECONNECT_MAX_KEYS;
    this.base = now;
    const initial = Math.min(INITIAL_SLOTS, this.maxKeys * 2);
    this.hashes = new Float64Array(initial);
    this.packed = new Float64Array(initial);
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * A connection from key `hash` opened at `now`: the delay in ms since the
   * same key's last connection ended, when that is within the window (then
   * `previous` holds how it ended, and the entry is used up: one ending is
   * followed by at most one reconnect); -1 otherwise.
   */
  opened(hash: number, now: number): number {
    const at = this.slots.get(hash);
    if (at === undefined) return -1;
    this.slots.delete(hash); // its slot is stale now
    const packed = this.packed[at % this.packed.length] as number;
    const endMs = Math.floor(packed / CODENAME_RADIX);
    const delay = now - this.base - endMs;
    if (delay > this.windowMs) return -1;
    this.previous = packed - endMs * CODENAME_RADIX;
    return delay < 0 ? 0 : delay;
  }

  /** A connection from key `hash` ended at `now` (not earlier than any previous call's `now`) under codename index `codename`. */
  ended(hash: number, codename: number, now: number): void {
    const t = Math.floor(now - this.base);
    if (this.tail - this.head === this.hashes.length) this.resize();
    const cap = this.hashes.length;
    const at = this.tail++;
    this.hashes[at % cap] = hash;
    this.packed[at % cap] = t * CODENAME_RADIX + (codename % CODENAME_RADIX);
    this.slots.set(hash, at); // an earlier slot of the same key is stale from now on
    while (this.slots.size > this.maxKeys) this.dropFront();
    // Expired entries are dropped from the front now and then (opened() ignores them meanwhile): each leaves once.
    if (++this.sincePurge >= PURGE_EVERY) {
      this.sincePurge = 0;
      const oldest = (t - this.windowMs) * CODENAME_RADIX;
      while (this.head < this.tail) {
        const i = this.head % cap;
        if (this.slots.get(this.hashes[i] as number) === this.head && (this.packed[i] as number) >= oldest) break;
        this.dropFront();
      }
    }
  }

  /** Drop the front slot (and its entry, unless the slot is stale). */
  private dropFront(): void {
    const at = this.head++;
    const hash = this.hashes[at % this.hashes.length] as number;
    if (this.slots.get(hash) === at) this.slots.delete(hash);
  }

  /** The ring is full: copy the live entries, in order, to the front of a ring twice as large (up to 2 * maxKeys slots). */
  private resize(): void {
    const oldCap = this.hashes.length;
    const cap = Math.max(oldCap, Math.min(oldCap * 2, this.maxKeys * 2));
    const hashes = new Float64Array(cap);
    const packed = new Float64Array(cap);
    let n = 0;
    for (let at = this.head; at < this.tail; at++) {
      const hash = this.hashes[at % oldCap] as number;
      if (this.slots.get(hash) !== at) continue;
      hashes[n] = hash;
      packed[n] = this.packed[at % oldCap] as number;
      this.slots.set(hash, n++);
    }
    this.hashes = hashes;
    this.packed = packed;
    this.head = 0;
    this.tail = n;
  }
}
