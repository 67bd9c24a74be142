/**
 * A map from keyed client-key hashes (key-hash.ts: integers below 2^52) to
 * small integers (ring slots), with open addressing in typed arrays: at most
 * half full, linear probing, deletion by moving later entries of a probe run
 * back (no tombstones). Its tables are allocated once, for `capacity` entries.
 *
 * Not a Map: a hash above 2^31 is a heap number, so a Map of them allocates a
 * box per key and hashes it on every call; at 100,000 keys that was most of
 * the per-connection cost of reconnect tracking. Probing from the hash's low
 * bits (`hash & mask` takes them: ToInt32 is modulo 2^32) is safe against chosen keys because the hash is keyed: a client cannot
 * tell which keys land near each other.
 */
export class HashIndex {
  /** The most entries the index takes. */
  readonly capacity: number;
  private readonly keys: Float64Array;
  /** Value + 1 per slot; 0 is an empty slot. */
  private readonly values: Int32Array;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.keys = new Float64Array(slots);
    this.values = new Int32Array(slots);
    this.mask = slots - 1;
  }

  /** The slot holding `hash`, or -1. */
  private find(hash: number): number {
    const { keys, values, mask } = this;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      if (values[i] === 0) return -1;
      if (keys[i] === hash) return i;
    }
  }

  /** The value of `hash`, or -1. */
  get(hash: number): number {
    const i = this.find(hash);
    return i < 0 ? -1 : (this.values[i] as number) - 1;
  }

  /** Set `hash` to `value` (0 or more). A new key beyond `capacity` throws: callers keep within it. */
  set(hash: number, value: number): void {
    const { keys, values, mask } = this;
    let i = hash & mask;
    for (; values[i] !== 0; i = (i + 1) & mask) {
      if (keys[i] === hash) {
        values[i] = value + 1;
        return;
      }
    }
    if (this.size >= this.capacity) throw new RangeError('HashIndex is full');
    keys[i] = hash;
    values[i] = value + 1;
    this.size++;
  }

  /** Remove `hash`; returns its value, or -1 when it was not there. */
  delete(hash: number): number {
    const i = this.find(hash);
    if (i < 0) return -1;
    const value = (this.values[i] as number) - 1;
    this.unset(i);
    return value;
  }

  /** Empty slot `i`, moving later entries of its probe run back into the hole. */
  private unset(i: number): void {
    const { keys, values, mask } = this;
    values[i] = 0;
    this.size--;
    for (let j = (i + 1) & mask; values[j] !== 0; j = (j + 1) & mask) {
      const home = (keys[j] as number) & mask;
      // The entry at j may fill the hole at i if its home is not cyclically in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        keys[i] = keys[j] as number;
        values[i] = values[j] as number;
        values[j] = 0;
        i = j;
      }
    }
  }
}
