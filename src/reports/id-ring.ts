/**
 * Entries keyed by close id, in insertion order, at most `capacity` of them:
 * a ring of records (the oldest goes when a new one would not fit; entries
 * older than a cutoff go from the front) with an open-addressing index over
 * it, keyed by the id's seeded hash (hook/close-id.ts). No Map and no
 * strings: hashing a fresh 32-character string and a Map's bookkeeping cost
 * more than the rest of the join together, on every connection; the ids'
 * four numbers live in one typed array and compare as integers. Each
 * record's time and mark live in typed arrays beside it, so that a record is
 * no object of its own: an entry outlives many young-generation collections,
 * and an object per entry would be copied by each of them (and read through
 * a pointer by every expiry check).
 */
import type { CloseId } from '../hook/close-id.js';

const WORDS = 4;

export class IdRing<V> {
  /** Each record's id, WORDS numbers per ring position. */
  private readonly ids: Int32Array;
  private readonly hashes: Int32Array;
  /** When each record was set (the caller's clock). */
  private readonly ats: Float64Array;
  /** Per record: 1 when live, 3 when live and marked (mark()), 0 when dead (replaced or deleted). */
  private readonly states: Uint8Array;
  private readonly values: (V | undefined)[];
  /** Ring position + 1 per slot; 0 is empty. At most half full. */
  private readonly index: Int32Array;
  private readonly mask: number;
  private head = 0;
  /** Records in the ring, live or dead (dead ones are dropped when they reach the front). */
  private count = 0;
  /** Live entries. */
  size = 0;

  constructor(readonly capacity: number) {
    this.ids = new Int32Array(capacity * WORDS);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.hashes = new Int32Array(capacity);
    this.ats = new Float64Array(capacity);
    this.states = new Uint8Array(capacity);
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
      if (hashes[p - 1] === hash && ids[w] === id.a && ids[w + 1] === id.b && ids[w + 2] === id.c && ids[w + 3] === id.d) return i;
    }
  }

  /** The ring position of `id`'s live record, or -1. */
  find(id: CloseId): number {
    const slot = this.slotOf(id);
    return slot < 0 ? -1 : (this.index[slot] as number) - 1;
  }

  /** The value of the live record at `pos` (a find() result). */
  valueAt(pos: number): V {
    return this.values[pos] as V;
  }

  /** Whether the live record at `pos` was marked. */
  marked(pos: number): boolean {
    return this.states[pos] === 3;
  }

  /** Mark the live record at `pos` (a flag the owner gives a meaning: reported, say). */
  mark(pos: number): void {
    this.states[pos] = 3;
  }

  get(id: CloseId): V | undefined {
    const pos = this.find(id);
    return pos < 0 ? undefined : this.values[pos];
  }

  /** Add `id` at time `at`, or replace it (the replacement counts as new: it goes to the back, unmarked). The oldest record goes if the ring is full. Returns its ring position. */
  set(id: CloseId, value: V, at: number): number {
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
    this.hashes[pos] = hash;
    this.ats[pos] = at;
    this.states[pos] = 1;
    this.values[pos] = value;
    this.count++;
    this.size++;
    const { index, mask } = this;
    let i = hash & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = pos + 1;
    return pos;
  }

  delete(id: CloseId): void {
    const slot = this.slotOf(id);
    if (slot < 0) return;
    const pos = (this.index[slot] as number) - 1;
    this.unindex(slot);
    this.kill(pos);
  }

  /** Remove records set at or before `cutoff`, front first; `expired` sees the value of each live one. */
  expire(cutoff: number, expired?: (value: V) => void): void {
    const { ats, states } = this;
    while (this.count > 0) {
      const pos = this.head;
      const live = states[pos] !== 0;
      if (live && (ats[pos] as number) > cutoff) return;
      const value = this.values[pos] as V;
      this.shift();
      if (live && expired !== undefined) expired(value);
    }
  }

  /** The time the oldest live record was set, if there is one. */
  firstAt(): number | undefined {
    for (let i = 0; i < this.count; i++) {
      const pos = (this.head + i) % this.capacity;
      if (this.states[pos] !== 0) return this.ats[pos];
    }
    return undefined;
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.states.fill(0);
    this.index.fill(0);
    this.head = 0;
    this.count = 0;
    this.size = 0;
  }

  private kill(pos: number): void {
    this.states[pos] = 0;
    this.values[pos] = undefined;
    this.size--;
  }

  private shift(): void {
    const pos = this.head;
    if (this.states[pos] !== 0) {
      this.unindex(this.indexSlotOf(pos));
      this.kill(pos);
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
