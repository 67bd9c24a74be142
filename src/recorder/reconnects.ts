/**
 * Reconnect tracking for one source of connections (a hook, the proxy): the
 * client key of each connection is hashed at open (keyed, key-hash.ts), the
 * hash is kept with the connection, and at close it goes into the table of
 * recent endings. A connection whose hash is in that table within the window
 * is a reconnect, counted by how the previous connection ended.
 *
 * Times are epoch milliseconds (performance.timeOrigin + performance.now()),
 * so that endings and openings from several processes (the agent's
 * --workers) compare on one clock.
 */
import { performance } from 'node:perf_hooks';
import { KeyHasher } from './key-hash.js';
import { ReconnectTable, type ReconnectTableOptions } from './reconnect-table.js';
import type { CloseRecorder } from './recorder.js';

/** Where the openings and endings go: the local table, or the cluster primary's (agent --workers). */
export interface ReconnectSink {
  opened(hash: number, atMs: number): void;
  ended(hash: number, codename: number, atMs: number): void;
}

/** The table and the counters in one process. */
export class LocalReconnects implements ReconnectSink {
  readonly table: ReconnectTable;
  constructor(
    private readonly recorder: Pick<CloseRecorder, 'recordReconnect'>,
    options: ReconnectTableOptions,
  ) {
    this.table = new ReconnectTable(options, nowMs());
  }

  opened(hash: number, atMs: number): void {
    const delay = this.table.opened(hash, atMs);
    if (delay >= 0) this.recorder.recordReconnect(this.table.previous, delay / 1000);
  }

  ended(hash: number, codename: number, atMs: number): void {
    this.table.ended(hash, codename, atMs);
  }
}

/** The epoch ms of performance.now()'s zero (read once: it is a getter). */
export const TIME_ORIGIN = performance.timeOrigin;

/** Epoch ms on the monotonic clock. */
export function nowMs(): number {
  return TIME_ORIGIN + performance.now();
}

/** The hasher of this process: one random key, drawn at first use. */
let processHasher: KeyHasher | undefined;
function hashClientKey(key: string): number {
  processHasher ??= new KeyHasher();
  return processHasher.hash(key);
}

/**
 * Hash with `key` from now on instead of a random key of this process: the
 * agent's --workers share one key drawn by the primary, so that the same
 * client key gives the same hash in every worker.
 */
export function useHashKey(key: Uint8Array): void {
  processHasher = new KeyHasher(key);
}

/** "No key": connections without a client key are not tracked. Hashes are >= 0. */
export const NO_KEY = -1;

/**
 * Per connection: `open(key, atMs)` at the opening (returns the hash to keep
 * with the connection, NO_KEY without a key), `close(hash, code, atMs)` at the
 * end, with the close code it was recorded under.
 */
export class ReconnectTracker {
  constructor(
    private readonly recorder: Pick<CloseRecorder, 'codenameIndexOf'>,
    readonly sink: ReconnectSink,
  ) {}

  open(key: string | undefined, atMs: number): number {
    if (typeof key !== 'string' || key.length === 0) return NO_KEY;
    const hash = hashClientKey(key);
    this.sink.opened(hash, atMs);
    return hash;
  }

  close(hash: number, code: number, atMs: number): void {
    if (hash < 0) return;
    this.sink.ended(hash, this.recorder.codenameIndexOf(code), atMs);
  }
}
