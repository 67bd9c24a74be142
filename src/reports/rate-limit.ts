/**
 * At most `limit` reports per address per minute-long window, in a table of
 * at most `maxAddresses` (the address seen longest ago goes first, so a
 * flood from many addresses costs memory it cannot grow).
 */
import { performance } from 'node:perf_hooks';
import { FifoIndex } from './fifo-index.js';

const WINDOW_MS = 60_000;

interface Window {
  /** When the window started. */
  readonly at: number;
  count: number;
}

export class RateLimit {
  /** In window start order. */
  private readonly windows: FifoIndex<Window>;

  constructor(
    private readonly limit: number,
    maxAddresses: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.windows = new FifoIndex(maxAddresses);
  }

  /** Count one request from `address`; false when it is over the limit. A limit of 0 lets everything through. */
  take(address: string): boolean {
    if (this.limit === 0) return true;
    const now = this.now();
    this.windows.expire(now - WINDOW_MS);
    const w = this.windows.get(address);
    if (w !== undefined) return ++w.count <= this.limit;
    this.windows.set(address, { at: now, count: 1 });
    return true;
  }

  get size(): number {
    return this.windows.size;
  }
}
