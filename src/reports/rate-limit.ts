/**
 * At most `limit` reports per address per minute-long window, in a table of
 * at most `maxAddresses` (the address seen longest ago goes first, so a
 * flood from many addresses costs memory it cannot grow).
 */
import { performance } from 'node:perf_hooks';

const WINDOW_MS = 60_000;

interface Window {
  readonly start: number;
  count: number;
}

export class RateLimit {
  /** Insertion order is window start order. */
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limit: number,
    private readonly maxAddresses: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Count one request from `address`; false when it is over the limit. A limit of 0 lets everything through. */
  take(address: string): boolean {
    if (this.limit === 0) return true;
    const now = this.now();
    for (const [key, w] of this.windows) {
      if (now - w.start < WINDOW_MS) break;
      this.windows.delete(key);
    }
    const w = this.windows.get(address);
    if (w !== undefined) return ++w.count <= this.limit;
    if (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value as string);
    this.windows.set(address, { start: now, count: 1 });
    return true;
  }

  get size(): number {
    return this.windows.size;
  }
}
