/**
 * Recently closed connections, by the id their page put in the upgrade
 * request, and the join of each page's report with the close the server
 * recorded. Bounded twice over: an entry lives at most `windowMs`, and there
 * are at most `maxEntries` (the oldest goes first). A report may arrive
 * before the server has recorded the close (a page that goes away reports
 * while its socket is still open; a beacon can overtake the proxy's
 * cleanup): it is held, within the same bound, for at most `holdMs`, and
 * counted as `unknown_id` if no close with its id comes by then.
 */
import { performance } from 'node:perf_hooks';
import type { ClientReportRejectReason } from '../codes/vocabulary.js';
import type { ClientReports } from '../recorder/client-reports.js';
import type { CloseDetails, CloseSeries } from '../recorder/recorder.js';
import type { CloseId } from '../hook/close-id.js';
import { IdRing } from './id-ring.js';

/** A held report as one number (no object per report): its code and whether it was clean. */
const heldOf = (code: number, clean: boolean): number => code * 2 + (clean ? 1 : 0);

export interface CloseTableOptions {
  windowMs: number;
  maxEntries: number;
  holdMs: number;
  /** Milliseconds on a monotonic clock (tests pass their own). Default: performance.now() read every CLOCK_TICK_MS. */
  now?: () => number;
}

/**
 * How often the table reads the clock. Entries are stamped with the last
 * reading instead of reading it on every close and report (a clock read
 * costs as much as the rest of an insert on a busy virtual machine); a
 * window of minutes does not need better than a quarter second.
 */
const CLOCK_TICK_MS = 250;

/** What became of a report: joined now, held for its close, or turned away. */
export type ReportOutcome = 'joined' | 'held' | ClientReportRejectReason;

export class CloseTable {
  /** In close order: the first entry is the oldest. Marked once its report joined. */
  private readonly closed: IdRing<CloseSeries>;
  /** Reports whose close has not come yet, as heldOf() numbers. */
  private readonly held: IdRing<number>;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private clock = performance.now();
  private ticker: NodeJS.Timeout | undefined;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly holdMs: number;

  constructor(
    private readonly counts: ClientReports,
    options: CloseTableOptions,
  ) {
    this.windowMs = options.windowMs;
    this.maxEntries = options.maxEntries;
    this.holdMs = options.holdMs;
    if (options.now !== undefined) this.now = options.now;
    else {
      this.now = () => this.clock;
      this.ticker = setInterval(() => (this.clock = performance.now()), CLOCK_TICK_MS);
      this.ticker.unref();
    }
    this.closed = new IdRing(this.maxEntries);
    this.held = new IdRing(this.maxEntries);
  }

  /** The recorder's close listener: remember closes that carry an id. */
  readonly onClose = (series: CloseSeries, _seconds: number, details: CloseDetails | undefined): void => {
    const closeId = details?.closeId;
    if (closeId === undefined) return;
    const now = this.now();
    this.expire(now);
    const held = this.held.size === 0 ? -1 : this.held.find(closeId);
    if (held >= 0) {
      const report = this.held.valueAt(held);
      this.held.delete(closeId);
      this.counts.recordReport(series, report >> 1, (report & 1) === 1);
    }
    // A reused id is a new connection: its entry starts over, at the back (the oldest goes when full).
    const pos = this.closed.set(closeId, series, now);
    if (held >= 0) this.closed.mark(pos);
  };

  /** A well-formed report from an allowed origin, within the limits: join it, hold it, or say why not. */
  report(id: CloseId, code: number, clean: boolean): ReportOutcome {
    const now = this.now();
    this.expire(now);
    const entry = this.closed.find(id);
    if (entry >= 0) {
      if (this.closed.marked(entry)) return 'duplicate';
      this.closed.mark(entry);
      this.counts.recordReport(this.closed.valueAt(entry), code, clean);
      return 'joined';
    }
    if (this.held.size !== 0 && this.held.find(id) >= 0) return 'duplicate';
    if (this.held.size >= this.maxEntries) return 'unknown_id';
    this.held.set(id, heldOf(code, clean), now);
    this.schedule(now);
    return 'held';
  }

  /** Drop closed entries past the window; count held reports past their time as unknown ids. */
  expire(now = this.now()): void {
    this.closed.expire(now - this.windowMs);
    this.held.expire(now - this.holdMs, this.countUnknown);
  }

  private readonly countUnknown = (): void => this.counts.recordRejected('unknown_id');

  private schedule(now: number): void {
    if (this.timer !== undefined) return;
    const first = this.held.firstAt();
    if (first === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.clock = performance.now();
        this.expire();
        this.schedule(this.now());
      },
      Math.max(1, Math.ceil(first + this.holdMs - now)),
    );
    this.timer.unref();
  }

  /** Entries now: closed connections remembered, reports held. */
  get size(): { closed: number; held: number } {
    return { closed: this.closed.size, held: this.held.size };
  }

  /** Stop the expiry timer; held reports are dropped uncounted. */
  close(): void {
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    this.timer = undefined;
    this.held.clear();
    this.closed.clear();
  }
}
