/**
 * Entries keyed by close id, in insertion order, at most `capacity` of them:
 * a ring of records (the oldest goes when a new one would not fit; entries
 * older than a cutoff go from the front) with an open-addressing index over
 * it, keyed by the id's seeded hash (hook/close-id.ts). No Map and no
 * strings: hashing a fresh 32-character string and a Map's bookkeeping cost
 * more than the rest of the join together, on every connection; the ids'
 * five numbers live in one typed array and compare as integers.
 */
import type { CloseId } from '../hook/close-id.js';

const WORDS = 5;

export interface Timed {
  readonly at: number;
}

export class IdRing<V extends Timed> {
  /** Each record's id, WORDS numbers per ring position. */
  private readonly ids: Int32Array;
  private readonly hashes: Int32Array;
  private readonly values: (V | undefined)[];
  /** Ring position + 1 per slot; 0 is empty. At most half full. */
  private readonly index: Int32Array;
  private readonly mask: number;
  private head = 0;
  /** Records in the ring, live or dead (replaced or deleted, dropped when they reach the front). */
  private count = 0;
  /** Live entries. */
  size = 0;

  constructor(readonly capacity: number) {
    this.ids = new Int32Array(capacity * WORDS);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.hashes = new Int32Array(capacity);
    let slots = 2;
    while (slots < capacity * 2) slots *= 2;
    this.index = new Int32Array(slots);
    this.mask = slots - 1;
  }

  /** The index slot of `id`, or -1. */
  private slotOf(id: CloseId): number {
    const { index, mask, ids, hashes } = this;
    const hash = id.hash;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const p = index[i] as number;
      if (p === 0) return -1;
      const w = (p - 1) * WORDS;
      if (hashes[p - 1] === hash && ids[w] === id.a && ids[w + 1] === id.b && ids[w + 2] === id.c && ids[w + 3] === id.d && ids[w + 4] === id.e) return i;
    }
  }

  get(id: CloseId): V | undefined {
    const slot = this.slotOf(id);
    return slot < 0 ? undefined : this.values[(this.index[slot] as number) - 1];
  }

  /** Add `id`, or replace it (the replacement counts as new: it goes to the back). The oldest record goes if the ring is full. */
  set(id: CloseId, value: V): void {
    if (this.size !== 0) this.delete(id);
    if (this.count === this.capacity) this.shift();
    const pos = (this.head + this.count) % this.capacity;
    const hash = id.hash;
    const w = pos * WORDS;
    const ids = this.ids;
    ids[w] = id.a;
    ids[w + 1] = id.b;
    ids[w + 2] = id.c;
    ids[w + 3] = id.d;
    ids[w + 4] = id.e;
    this.hashes[pos] = hash;
    this.values[pos] = value;
    this.count++;
    this.size++;
    const { index, mask } = this;
    let i = hash & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = pos + 1;
  }

  delete(id: CloseId): void {
    const slot = this.slotOf(id);
    if (slot < 0) return;
    const pos = (this.index[slot] as number) - 1;
    this.unindex(slot);
    this.values[pos] = undefined;
    this.size--;
  }

  /** Remove entries with `at` at or before `cutoff`, front first; `expired` sees each. */
  expire(cutoff: number, expired?: (value: V) => void): void {
    while (this.count > 0) {
      const value = this.values[this.head];
      if (value !== undefined && value.at > cutoff) return;
      this.shift();
      if (value !== undefined && expired !== undefined) expired(value);
    }
  }

  /** The oldest entry, if any. */
  first(): V | undefined {
    for (let i = 0; i < this.count; i++) {
      const value = this.values[(this.head + i) % this.capacity];
      if (value !== undefined) return value;
    }
    return undefined;
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.index.fill(0);
    this.head = 0;
    this.count = 0;
    this.size = 0;
  }

  private shift(): void {
    const pos = this.head;
    if (this.values[pos] !== undefined) {
      this.unindex(this.indexSlotOf(pos));
      this.values[pos] = undefined;
      this.size--;
    }
    this.head = (pos + 1) % this.capacity;
    this.count--;
  }

  /** The index slot that points at ring position `pos` (which is live). */
  private indexSlotOf(pos: number): number {
    const { index, mask } = this;
    let i = (this.hashes[pos] as number) & mask;
    while (index[i] !== pos + 1) i = (i + 1) & mask;
    return i;
  }

  /** Empty index slot `i`, moving later entries of its probe run back (linear probing's deletion without tombstones). */
  private unindex(i: number): void {
    const { index, mask, hashes } = this;
    index[i] = 0;
    for (let j = (i + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const p = index[j] as number;
      const home = (hashes[p - 1] as number) & mask;
      // The entry at j may fill the hole at i if its home is not cyclically in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        index[i] = p;
        index[j] = 0;
        i = j;
      }
    }
  }
}
