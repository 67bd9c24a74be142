/**
 * The live page's event stream (server-sent events): every second, while
 * someone watches, the closes recorded since the last message (at most
 * MAX_CLOSES_PER_TICK, newest first) and a sample of the totals. Each message
 * is serialised once and written to every viewer. Bounded: at most
 * `maxViewers` streams (more get 503 and the page falls back to polling),
 * and a viewer whose unsent output passes `maxBufferedBytes` is dropped
 * rather than buffered for (its browser reconnects).
 */
import type { Tick } from './api-types.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloseHistory } from './close-history.js';
import type { RecentCloses } from './recent-closes.js';

const MAX_CLOSES_PER_TICK = 100;

export interface LiveFeedOptions {
  maxViewers: number;
  maxBufferedBytes: number;
  tickMs: number;
}

export class LiveFeed {
  private readonly viewers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  /** ring.recorded at the last tick. */
  private sent = 0;

  constructor(
    private readonly ring: RecentCloses | undefined,
    private readonly history: CloseHistory,
    private readonly options: LiveFeedOptions,
  ) {}

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Start a stream on `res`; `after` is the last `recorded` value the page has. */
  open(req: IncomingMessage, res: ServerResponse, after: number): void {
    if (this.viewers.size >= this.options.maxViewers) {
      res.statusCode = 503;
      res.setHeader('Retry-After', '30');
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(`too many live viewers (at most ${this.options.maxViewers}); the page polls instead\n`);
      return;
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no'); // nginx in front would otherwise hold the stream
    res.flushHeaders();
    req.socket.setNoDelay(true);
    this.viewers.add(res);
    res.on('close', () => this.drop(res));
    if (this.timer === undefined) {
      this.sent = this.ring?.recorded ?? 0;
      this.timer = setInterval(() => this.tick(), this.options.tickMs);
      this.timer.unref();
    }
    // This viewer's catch-up: what it missed since `after`, then the shared ticks.
    res.write(`retry: 5000\n\n${this.message(after >= 0 ? after : this.sent)}`);
  }

  private drop(res: ServerResponse): void {
    if (!this.viewers.delete(res)) return;
    if (!res.writableEnded) res.end();
    if (this.viewers.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private message(after: number): string {
    const recorded = this.ring?.recorded ?? 0;
    const closes = this.ring === undefined || recorded <= after ? [] : this.ring.list(MAX_CLOSES_PER_TICK, {}, after);
    // JSON escapes CR and LF, so no peer text can end the data line.
    return `event: tick\ndata: ${JSON.stringify({ recorded, closes, sample: this.history.now() } satisfies Tick)}\n\n`;
  }

  private tick(): void {
    const message = this.message(this.sent);
    this.sent = this.ring?.recorded ?? 0;
    for (const res of this.viewers) {
      if (res.writableLength > this.options.maxBufferedBytes) {
        res.destroy(); // a viewer that does not read is not buffered for
        this.drop(res);
        continue;
      }
      res.write(message);
    }
  }

  /** End every stream. */
  close(): void {
    for (const res of [...this.viewers]) this.drop(res);
  }
}
