/**
 * Reconnect tracking in agent mode. One table of recent endings (the
 * recorder's ReconnectTable: keyed hashes only, bounded, O(1)) per agent:
 * in the process itself, or with --workers in the primary, so that a client
 * that reconnects to another worker still counts. Workers hash client keys
 * with one key the primary draws at start (so one client key gives one hash
 * everywhere), send their openings and endings to the primary in batches (one
 * IPC message per event-loop turn, not per connection), and the primary
 * answers each worker with the reconnects of its own connections, which the
 * worker counts in its registry (the primary's /metrics sums the workers).
 *
 * Openings and endings from different processes can arrive out of order (a
 * client's new connection on worker B reported before its old one on worker
 * A): an opening that matches no ending waits a short while in a small
 * bounded table, and an ending that arrives after it still counts it.
 */
import { MSG } from './ipc-messages.js';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HashIndex } from '../recorder/hash-index.js';
import { ReconnectTable, type ReconnectTableOptions } from '../recorder/reconnect-table.js';
import { nowMs, ReconnectTracker, useHashKey, type ReconnectSink } from '../recorder/reconnects.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import { clientKeyFunction, type ClientKeySpec } from './client-key.js';

/** How long an unmatched opening waits for an ending reported late (ms): well above IPC latency. */
const LATE_ENDING_MS = 2000;
/** Most unmatched openings kept waiting; past it the oldest is dropped (a missed reconnect, never a wrong one). */
const MAX_WAITING_OPENINGS = 4096;

/** Counts a reconnect: `origin` is who opened the new connection (a worker id; 0 in one process). */
export type OnReconnect = (origin: number, previous: number, delayMs: number) => void;

/**
 * Openings that matched no ending, kept for LATE_ENDING_MS in a ring of
 * MAX_WAITING_OPENINGS slots with an index from hash to slot (a slot whose
 * key opened again or was matched is dead and skipped): O(1) per call, and
 * no Map (hash-index.ts says why).
 */
class WaitingOpenings {
  private readonly slots = new HashIndex(MAX_WAITING_OPENINGS);
  private readonly hashes = new Float64Array(MAX_WAITING_OPENINGS);
  private readonly at = new Float64Array(MAX_WAITING_OPENINGS);
  private readonly origins = new Float64Array(MAX_WAITING_OPENINGS);
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.slots.size;
  }

  add(hash: number, atMs: number, origin: number): void {
    const cap = MAX_WAITING_OPENINGS;
    while (this.head < this.tail && (this.tail - this.head === cap || atMs - (this.at[this.head % cap] as number) > LATE_ENDING_MS)) this.dropFront();
    const i = this.tail++;
    this.hashes[i % cap] = hash;
    this.at[i % cap] = atMs;
    this.origins[i % cap] = origin;
    this.slots.set(hash, i % cap);
  }

  /** The waiting opening of `hash` (its time and origin in `found`), removed; false when none. */
  take(hash: number, found: [number, number]): boolean {
    if (this.slots.size === 0) return false;
    const i = this.slots.delete(hash);
    if (i < 0) return false;
    found[0] = this.at[i] as number;
    found[1] = this.origins[i] as number;
    return true;
  }

  private dropFront(): void {
    const i = this.head++ % MAX_WAITING_OPENINGS;
    const hash = this.hashes[i] as number;
    if (this.slots.get(hash) === i) this.slots.delete(hash);
  }
}

/**
 * The table, tolerant of endings reported a little after the next opening
 * (`lateEndings`: the primary of --workers). In one process openings and
 * endings are reported in the order they happen, so an opening that matched
 * no ending can never be matched by a later one (its delay would not be
 * positive): nothing waits there.
 */
export class AgentReconnects implements ReconnectSink {
  readonly table: ReconnectTable;
  private readonly waiting: WaitingOpenings | undefined;
  private readonly found: [number, number] = [0, 0];
  private lastEnd = 0;

  constructor(
    options: Required<ReconnectTableOptions>,
    private readonly onReconnect: OnReconnect,
    now: number,
    lateEndings = true,
  ) {
    this.table = new ReconnectTable(options, now);
    this.lastEnd = now;
    this.waiting = lateEndings ? new WaitingOpenings() : undefined;
  }

  /** Unmatched openings waiting (bounded by MAX_WAITING_OPENINGS). */
  get waitingCount(): number {
    return this.waiting?.size ?? 0;
  }

  opened(hash: number, atMs: number, origin = 0): void {
    const delay = this.table.opened(hash, atMs);
    if (delay >= 0) this.onReconnect(origin, this.table.previous, delay);
    else this.waiting?.add(hash, atMs, origin);
  }

  ended(hash: number, codename: number, atMs: number): void {
    const open = this.found;
    if (this.waiting !== undefined && this.waiting.take(hash, open)) {
      const delay = open[0] - atMs;
      // An opening after this ending, reported before it: that opening was the reconnect, and the ending is used up.
      // (Not at the same instant: that is a connection's own opening, ended at once.)
      if (delay > 0 && delay <= this.table.windowMs) {
        this.onReconnect(open[1], codename, delay);
        return;
      }
    }
    // The table wants non-decreasing times; endings from several workers can be a few ms apart.
    if (atMs < this.lastEnd) atMs = this.lastEnd;
    else this.lastEnd = atMs;
    this.table.ended(hash, codename, atMs);
  }
}

// ---------------------------------------------------------------------------
// --workers: the IPC between the workers and the primary

const KEY_TIMEOUT_MS = 10_000;

const OP_OPENED = 0;
const OP_ENDED = 1;

export interface ReconnectMessage {
  type: string;
  /** MSG.reconnectKey: the hash key, hex. */
  key?: string;
  /** MSG.reconnectEvents: [op, hash, codename, atMs] * n. MSG.reconnects: [previous, delayMs] * n. */
  events?: number[];
}

interface ProcessChannel {
  send?: (message: unknown) => boolean;
  connected?: boolean;
  on(event: 'message', listener: (message: ReconnectMessage) => void): unknown;
  removeListener(event: 'message', listener: (message: ReconnectMessage) => void): unknown;
}

/** A worker's sink: openings and endings go to the primary, one message per event-loop turn. */
export class WorkerReconnectSink implements ReconnectSink {
  private batch: number[] = [];
  private scheduled = false;

  constructor(private readonly channel: ProcessChannel = process) {}

  opened(hash: number, atMs: number): void {
    this.push(OP_OPENED, hash, 0, atMs);
  }

  ended(hash: number, codename: number, atMs: number): void {
    this.push(OP_ENDED, hash, codename, atMs);
  }

  private push(op: number, hash: number, codename: number, atMs: number): void {
    this.batch.push(op, hash, codename, atMs);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const events = this.batch;
    this.batch = [];
    if (events.length !== 0 && this.channel.connected !== false) this.channel.send?.({ type: MSG.reconnectEvents, events });
  };
}

/** In a worker, before it starts: the primary's hash key, made this process's. */
export function receiveHashKey(channel: ProcessChannel = process): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.removeListener('message', onMessage);
      reject(new Error(`the primary did not send the reconnect hash key within ${KEY_TIMEOUT_MS} ms`));
    }, KEY_TIMEOUT_MS);
    const onMessage = (message: ReconnectMessage): void => {
      if (message?.type !== MSG.reconnectKey || typeof message.key !== 'string') return;
      clearTimeout(timer);
      channel.removeListener('message', onMessage);
      useHashKey(Buffer.from(message.key, 'hex'));
      resolve();
    };
    channel.on('message', onMessage);
    channel.send?.({ type: MSG.reconnectKeyRequest });
  });
}

/** In a worker: the primary's answer, counted in this worker's registry. */
export function applyReconnects(recorder: { recordReconnect(previous: number, delaySeconds: number): void }, message: ReconnectMessage): boolean {
  if (message?.type !== MSG.reconnects) return false;
  const r = message.events;
  if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) recorder.recordReconnect(r[i] as number, (r[i + 1] as number) / 1000);
  return true;
}

interface WorkerLike {
  readonly id: number;
  send(message: ReconnectMessage): unknown;
  isConnected(): boolean;
}

/** In the primary: the table for all workers. */
export class PrimaryReconnects {
  private readonly key = randomBytes(32).toString('hex');
  private readonly workers = new Map<number, WorkerLike>();
  private readonly replies = new Map<number, number[]>();
  readonly reconnects: AgentReconnects;

  constructor(options: Required<ReconnectTableOptions>, now: number) {
    this.reconnects = new AgentReconnects(
      options,
      (origin, previous, delayMs) => {
        let r = this.replies.get(origin);
        if (r === undefined) this.replies.set(origin, (r = []));
        r.push(previous, delayMs);
      },
      now,
    );
  }

  /** A message from `worker`; false when it is not about reconnects. */
  handle(worker: WorkerLike, message: ReconnectMessage): boolean {
    if (message?.type === MSG.reconnectKeyRequest) {
      this.workers.set(worker.id, worker);
      worker.send({ type: MSG.reconnectKey, key: this.key });
      return true;
    }
    if (message?.type !== MSG.reconnectEvents) return false;
    this.workers.set(worker.id, worker);
    const e = message.events;
    if (!Array.isArray(e)) return true;
    const table = this.reconnects;
    for (let i = 0; i + 3 < e.length; i += 4) {
      const hash = e[i + 1];
      const at = e[i + 3];
      if (typeof hash !== 'number' || typeof at !== 'number') continue;
      if (e[i] === OP_OPENED) table.opened(hash, at, worker.id);
      else table.ended(hash, (e[i + 2] as number) | 0, at);
    }
    for (const [origin, r] of this.replies) {
      const w = this.workers.get(origin);
      if (w !== undefined && w.isConnected()) w.send({ type: MSG.reconnects, events: r });
    }
    this.replies.clear();
    return true;
  }
}

// ---------------------------------------------------------------------------
// Wiring: what the proxy and the echo endpoint get from the config

export interface ReconnectConfig {
  clientKey: ClientKeySpec | undefined;
  reconnectWindowMs: number;
  reconnectMaxKeys: number;
}

export interface AgentReconnectTracking {
  readonly clientKey: (req: Pick<IncomingMessage, 'headers' | 'url' | 'socket'>) => string | undefined;
  readonly tracker: ReconnectTracker;
  readonly table: Required<ReconnectTableOptions>;
  /** Where openings and endings go: this process's table, or the primary's (`sink` given). */
  readonly sink: ReconnectSink;
}

/** Reconnect tracking for one agent process; undefined unless --client-key is set. */
export function agentReconnectTracking(config: ReconnectConfig, recorder: CloseRecorder, sink?: ReconnectSink): AgentReconnectTracking | undefined {
  if (config.clientKey === undefined) return undefined;
  const table = { windowMs: config.reconnectWindowMs, maxKeys: config.reconnectMaxKeys };
  const target = sink ?? new AgentReconnects(table, (_origin, previous, delayMs) => recorder.recordReconnect(previous, delayMs / 1000), nowMs(), false);
  return { clientKey: clientKeyFunction(config.clientKey), tracker: new ReconnectTracker(recorder, target), table, sink: target };
}
