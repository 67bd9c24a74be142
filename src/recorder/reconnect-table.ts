/**
 * Which client keys ended a connection recently: keyed hash -> (end time,
 * codename index of that close), for counting reconnects. Endings are kept
 * in a ring in end-time order (typed arrays, grown up to twice `maxKeys`
 * slots) and an index from hash to its ring slot (hash-index.ts: typed
 * arrays, no Map): a key that ends again or reconnects leaves a dead slot
 * behind, skipped when the front passes it.
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
import { HashIndex } from './hash-index.js';

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
  /** hash -> ring slot of its live entry. */
  private index: HashIndex;
  private hashes: Float64Array;
  /** (end time in whole ms since `base`) * CODENAME_RADIX + codename index. */
  private packed: Float64Array;
  /** 1 for a slot that holds its key's entry, 0 for a dead one (the key ended again, reconnected, or was dropped). */
  private live: Uint8Array;
  /** The ring slot of the oldest record, live or dead, and the number of records. */
  private head = 0;
  private length = 0;
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
    this.live = new Uint8Array(initial);
    this.index = new HashIndex(Math.min(initial, this.maxKeys));
  }

  get size(): number {
    return this.index.size;
  }

  /**
   * A connection from key `hash` opened at `now`: the delay in ms since the
   * same key's last connection ended, when that is within the window (then
   * `previous` holds how it ended, and the entry is used up: one ending is
   * followed by at most one reconnect); -1 otherwise.
   */
  opened(hash: number, now: number): number {
    if (this.index.size === 0) return -1;
    const at = this.index.delete(hash);
    if (at < 0) return -1;
    this.live[at] = 0; // its slot is dead now
    const packed = this.packed[at] as number;
    const endMs = Math.floor(packed / CODENAME_RADIX);
    const delay = now - this.base - endMs;
    if (delay > this.windowMs) return -1;
    this.previous = packed - endMs * CODENAME_RADIX;
    return delay < 0 ? 0 : delay;
  }

  /** A connection from key `hash` ended at `now` (not earlier than any previous call's `now`) under codename index `codename`. */
  ended(hash: number, codename: number, now: number): void {
    const t = Math.floor(now - this.base);
    if (this.length === this.hashes.length) this.resize();
    const cap = this.hashes.length;
    let at = this.head + this.length++;
    if (at >= cap) at -= cap;
    this.hashes[at] = hash;
    this.packed[at] = t * CODENAME_RADIX + (codename % CODENAME_RADIX);
    this.live[at] = 1;
    const earlier = this.index.get(hash);
    if (earlier >= 0)
      this.live[earlier] = 0; // an earlier slot of the same key is dead from now on
    else if (this.index.size === this.maxKeys) this.dropLive(); // the oldest goes: the index never holds more than maxKeys
    this.index.set(hash, at);
    // Expired entries are dropped from the front now and then (opened() ignores them meanwhile): each leaves once.
    if (++this.sincePurge >= PURGE_EVERY) {
      this.sincePurge = 0;
      const oldest = (t - this.windowMs) * CODENAME_RADIX;
      while (this.length > 0) {
        const i = this.head;
        if (this.live[i] === 1 && (this.packed[i] as number) >= oldest) break;
        this.dropFront();
      }
    }
  }

  /** Drop records from the front up to and including the oldest live one. */
  private dropLive(): void {
    while (this.length > 0) {
      const wasLive = this.live[this.head] === 1;
      this.dropFront();
      if (wasLive) return;
    }
  }

  /** Drop the front record (and its key's entry, unless the record is dead). */
  private dropFront(): void {
    const at = this.head;
    if (this.live[at] === 1) {
      this.live[at] = 0;
      this.index.delete(this.hashes[at] as number);
    }
    this.head = at + 1 === this.hashes.length ? 0 : at + 1;
    this.length--;
  }

  /** The ring is full: copy the live entries, in order, to the front of a ring twice as large (up to 2 * maxKeys slots). */
  private resize(): void {
    const oldCap = this.hashes.length;
    const cap = Math.max(oldCap, Math.min(oldCap * 2, this.maxKeys * 2));
    const hashes = new Float64Array(cap);
    const packed = new Float64Array(cap);
    const live = new Uint8Array(cap);
    const index = cap === oldCap ? this.index : new HashIndex(Math.min(cap, this.maxKeys));
    let n = 0;
    for (let k = 0, at = this.head; k < this.length; k++, at = at + 1 === oldCap ? 0 : at + 1) {
      if (this.live[at] !== 1) continue;
      const hash = this.hashes[at] as number;
      hashes[n] = hash;
      packed[n] = this.packed[at] as number;
      live[n] = 1;
      index.set(hash, n++);
    }
    this.hashes = hashes;
    this.packed = packed;
    this.live = live;
    this.index = index;
    this.head = 0;
    this.length = n;
  }
}
