/**
 * A map from string keys to entries, in insertion order, of at most
 * `capacity` entries: the oldest goes when a new one would not fit, and
 * entries older than a time-to-live go from the front. A ring of insertion
 * records keeps the order, so expiring and evicting never walk a Map from
 * its head (V8 leaves deleted slots there until it rehashes, and a walk from
 * the head then skips every one of them: O(n) per call under churn).
 */
export interface Timed {
  readonly at: number;
}

export class FifoIndex<V extends Timed> {
  private readonly map = new Map<string, V>();
  private readonly keys: (string | undefined)[];
  private readonly values: (V | undefined)[];
  private head = 0;
  /** Insertion records in the ring, live or replaced since. */
  private count = 0;

  constructor(readonly capacity: number) {
    this.keys = new Array<string | undefined>(capacity);
    this.values = new Array<V | undefined>(capacity);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Add or replace `key` (a replaced entry counts as new: it moves to the back); the oldest entry goes if the ring is full. */
  set(key: string, value: V): void {
    if (this.count === this.capacity) this.shift();
    const tail = (this.head + this.count) % this.capacity;
    this.keys[tail] = key;
    this.values[tail] = value;
    this.count++;
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.map.delete(key); // its ring record is dropped when it reaches the front
  }

  /** Remove entries with `at` at or before `cutoff`, front first; `expired` sees each live one. */
  expire(cutoff: number, expired?: (value: V) => void): void {
    while (this.count > 0) {
      const value = this.values[this.head] as V;
      if (value.at > cutoff) return;
      const live = this.map.get(this.keys[this.head] as string) === value;
      this.shift();
      if (live && expired !== undefined) expired(value);
    }
  }

  /** The oldest live entry, if any. */
  first(): V | undefined {
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) % this.capacity;
      const value = this.values[at] as V;
      if (this.map.get(this.keys[at] as string) === value) return value;
    }
    return undefined;
  }

  clear(): void {
    this.map.clear();
    this.keys.fill(undefined);
    this.values.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  private shift(): void {
    const key = this.keys[this.head] as string;
    if (this.map.get(key) === this.values[this.head]) this.map.delete(key);
    this.keys[this.head] = undefined;
    this.values[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }
}
