/**
 * The close recorder: counts closes into preallocated typed-array slots
 * (code slot x initiator) and exposes them as series sources that are read
 * only at scrape time. Recording a close is a few array increments; no label
 * object is built per event.
 */
import type { CodeNames } from '../codes/close-codes.js';
import type { CloseId } from '../hook/close-id.js';
import {
  CAUSE_ERROR,
  DURATION_BUCKETS_SECONDS,
  INITIATORS,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  LABEL,
  SIDES,
  UPGRADE_FAILURE_REASONS,
  VIOLATION_KINDS,
  type Initiator,
  type UpgradeFailureReason,
  type ViolationKind,
} from '../codes/vocabulary.js';
import { ClientReports } from './client-reports.js';
import { CodeSlots } from './code-slots.js';
import { ExplainCounters } from './explain.js';
import { FixedCounter, FixedHistogram, LazyCounter, SingleSeries, type SeriesSource } from './family.js';
import type { ValidOptions } from './options.js';

/** Codes whose client and server series are exported from the start, at zero. */
const PRE_EXPORTED_CODES = [1000, 1001, 1006];
const N_INITIATORS = INITIATORS.length;
const VIOLATION_INDEX = new Map<string, number>(VIOLATION_KINDS.map((k, i) => [k, i]));
const FAILURE_INDEX = new Map<string, number>(UPGRADE_FAILURE_REASONS.map((r, i) => [r, i]));
const OTHER_VIOLATION = VIOLATION_INDEX.get('other') as number;
const OTHER_FAILURE = FAILURE_INDEX.get('other') as number;

/** The labels one close was counted under; one object per (code slot, initiator), kept. */
export interface CloseSeries {
  /** The `code` label value (a decimal code or a range text). */
  readonly code: string;
  readonly codename: string;
  readonly category: string;
  readonly initiator: Initiator;
}

/**
 * What a source knows about one close beyond its code and initiator, for
 * close listeners (recent closes, logs, client-report join). Peer text
 * (reason, path) goes to listeners only, never to a label. A source may
 * reuse one object for every close: a listener copies what it keeps before
 * it returns, and copies bytes (a reason may be a view into a larger buffer).
 */
export interface CloseDetails {
  /** performance.now() when the close was recorded, if the source read the clock anyway (saves the listener a clock read). */
  readonly at?: number | undefined;
  /** The close frame's reason as received (raw bytes, at most 123). */
  readonly reason?: Buffer | string | undefined;
  /** The upgrade request's path as pathOf() (live/close-entry.ts) returns it: no query, bounded, escaped; once per connection. */
  readonly path?: string | undefined;
  /** The peer's address. */
  readonly peer?: string | undefined;
  /** The connection's ws_close_id (validated, with its hash), for the client-report join. */
  readonly closeId?: CloseId | undefined;
}

/** `code` is the close code itself (series.code is its label value, which may be a range). */
export type CloseListener = (series: CloseSeries, durationSeconds: number, details: CloseDetails | undefined, code: number) => void;

/**
 * Close counters for one label set of one registry and prefix. Get one from
 * createRecorder() (recorder/registry.ts), which registers its series.
 */
export class CloseRecorder {
  readonly prefix: string;
  readonly names: CodeNames;
  readonly maxCustomCodes: number;
  /** Constant labels added to every series (sorted by name). */
  readonly labels: Readonly<Record<string, string>>;

  private readonly slots: CodeSlots;
  /** The `_closed_total` series: one per (code slot in use, initiator), labels built on first export. */
  private readonly closedSeries: LazyCounter;
  private readonly series: (CloseSeries | undefined)[] = [];
  private opened = 0;
  private active = 0;
  private readonly duration: FixedHistogram;
  private readonly violations: FixedCounter;
  private readonly failures: FixedCounter;
  private readonly explain: ExplainCounters;
  private readonly listeners: CloseListener[] = [];
  /** What clients reported about their closes (client-reports.ts). */
  readonly clientReports: ClientReports;
  /** True while some listener wants each close's details: sources build them only then. */
  wantsDetails = false;

  /** The series sources of each metric, by the metric's key in METRIC. */
  readonly sources: {
    readonly closedTotal: SeriesSource;
    readonly openedTotal: SeriesSource;
    readonly active: SeriesSource;
    readonly durationSeconds: SeriesSource;
    readonly upgradeFailuresTotal: SeriesSource;
    readonly protocolViolationsTotal: SeriesSource;
    readonly clientClosesTotal: SeriesSource;
    readonly closeMismatchesTotal: SeriesSource;
    readonly clientReportsRejectedTotal: SeriesSource;
    readonly abnormalClosuresTotal: SeriesSource;
    readonly closeHandshakeDurationSeconds: SeriesSource;
    readonly closeHandshakesUnansweredTotal: SeriesSource;
    readonly reconnectsTotal: SeriesSource;
    readonly reconnectDelaySeconds: SeriesSource;
  };

  /** Use createRecorder(): a recorder made here is registered nowhere. */
  constructor({ prefix, names, maxCustomCodes, labels }: ValidOptions) {
    this.prefix = prefix;
    this.names = names;
    this.maxCustomCodes = maxCustomCodes;
    this.labels = labels;
    this.slots = new CodeSlots(names, maxCustomCodes);
    const slots = this.slots;
    this.closedSeries = new LazyCounter(
      slots.capacity * N_INITIATORS,
      () => slots.used * N_INITIATORS,
      (id) => {
        const { code, codename, category } = slots.labelsOf((id / N_INITIATORS) | 0);
        return {
          [LABEL.code]: code,
          [LABEL.codename]: codename,
          [LABEL.category]: category,
          [LABEL.initiator]: INITIATORS[id % N_INITIATORS] as string,
          ...labels,
        };
      },
    );
    // A counter series that first appears at 1 loses that increment to rate()
    // and increase(); the closes alerts and dashboards divide by are there from the start.
    for (const code of PRE_EXPORTED_CODES) {
      const slot = this.slots.slotOf(code);
      for (const initiator of [INITIATOR_CLIENT, INITIATOR_SERVER]) this.closedSeries.exportAtZero(slot * N_INITIATORS + initiator);
    }
    this.duration = new FixedHistogram(
      DURATION_BUCKETS_SECONDS,
      this.slots.codenames.map((codename) => ({ [LABEL.codename]: codename })),
      labels,
    );
    this.violations = new FixedCounter(
      SIDES.flatMap((side) => VIOLATION_KINDS.map((kind) => ({ [LABEL.side]: side, [LABEL.kind]: kind }))),
      labels,
    );
    this.failures = new FixedCounter(
      UPGRADE_FAILURE_REASONS.map((reason) => ({ [LABEL.reason]: reason })),
      labels,
    );
    this.clientReports = new ClientReports(this.slots, labels);
    this.explain = new ExplainCounters(this.slots.codenames, labels);
    this.sources = {
      closedTotal: this.closedSeries,
      openedTotal: new SingleSeries(labels, () => this.opened),
      active: new SingleSeries(labels, () => this.active),
      durationSeconds: this.duration,
      upgradeFailuresTotal: this.failures,
      protocolViolationsTotal: this.violations,
      clientClosesTotal: this.clientReports.closes,
      closeMismatchesTotal: this.clientReports.mismatches,
      clientReportsRejectedTotal: this.clientReports.rejected,
      abnormalClosuresTotal: this.explain.abnormal,
      closeHandshakeDurationSeconds: this.explain.handshakeDuration,
      closeHandshakesUnansweredTotal: this.explain.unanswered,
      reconnectsTotal: this.explain.reconnects,
      reconnectDelaySeconds: this.explain.reconnectDelay,
    };
  }

  /** A connection completed its opening handshake. */
  recordOpen(): void {
    this.opened++;
    this.active++;
  }

  /**
   * A connection that was opened has closed with a close frame carrying
   * `code` (1005 for an empty payload), sent by `initiator` (an index into
   * INITIATORS); `durationSeconds` its lifetime. Returns the series it was
   * counted under. `details` go to the close listeners only.
   *
   * A close without a close frame is recordAbnormalClose(). A 1006 passed
   * here (a peer put the internal code on the wire) is counted in
   * `_abnormal_closures_total` too, under its sender as side and cause
   * `error` (an unknown initiator counts as the client): every 1006 in
   * `_closed_total` is there exactly once, by construction.
   */
  recordClose(code: number, initiator: number, durationSeconds: number, details?: CloseDetails): CloseSeries {
    if (code === 1006) this.explain.countAbnormal(initiator < 3 ? initiator : INITIATOR_CLIENT, CAUSE_ERROR);
    return this.countClose(code, initiator, durationSeconds, details);
  }

  /**
   * A connection that was opened has closed without a close frame (code
   * 1006): `side` (an index into ABNORMAL_SIDES, the same as the initiator
   * indexes client/server/agent) is whose transport ended first and the
   * close's initiator, `cause` an index into ABNORMAL_CAUSES.
   */
  recordAbnormalClose(side: number, cause: number, durationSeconds: number, details?: CloseDetails): CloseSeries {
    const s = side >= 0 && side < 3 ? side : INITIATOR_CLIENT;
    this.explain.countAbnormal(s, cause);
    return this.countClose(1006, s, durationSeconds, details);
  }

  /**
   * A close handshake ended (both transports done) `seconds` after its first
   * close frame, sent by `initiator`; `answered` when the other side sent a
   * close frame back before its transport ended.
   */
  recordCloseHandshake(initiator: number, seconds: number, answered: boolean): void {
    this.explain.recordHandshake(initiator, seconds, answered);
  }

  /** A client reconnected `delaySeconds` after its previous connection ended under codename index `previous` (codenameIndexOf()). */
  recordReconnect(previous: number, delaySeconds: number): void {
    this.explain.recordReconnect(previous, delaySeconds);
  }

  /** The index of the codename a close code is counted under (for reconnect tracking: a small integer to keep). */
  codenameIndexOf(code: number): number {
    return this.slots.codenameIndexOf(this.slots.slotOf(code));
  }

  /** The codename of a codename index. */
  codenameAt(index: number): string {
    return this.slots.codenames[index] ?? 'UNKNOWN';
  }

  private countClose(code: number, initiator: number, durationSeconds: number, details: CloseDetails | undefined): CloseSeries {
    const slot = this.slots.slotOf(code);
    const i = slot * N_INITIATORS + (initiator & 3);
    this.closedSeries.counts[i]! += 1;
    this.active--;
    this.duration.observe(this.slots.codenameIndexOf(slot), durationSeconds);
    const series = this.series[i] ?? this.seriesOf(i);
    if (this.listeners.length !== 0) this.notify(series, durationSeconds, details, code);
    return series;
  }

  private seriesOf(i: number): CloseSeries {
    const series = { ...this.slots.labelsOf((i / N_INITIATORS) | 0), initiator: INITIATORS[i % N_INITIATORS] as Initiator };
    this.series[i] = series;
    return series;
  }

  private notify(series: CloseSeries, durationSeconds: number, details: CloseDetails | undefined, code: number): void {
    const listeners = this.listeners;
    for (let k = 0; k < listeners.length; k++) {
      const listener = listeners[k]!;
      try {
        listener(series, durationSeconds, details, code);
      } catch {
        // A listener's failure must not reach the source that recorded the close.
      }
    }
  }

  /** Call `listener` after every close; returns the function that removes it. */
  addCloseListener(listener: CloseListener): () => void {
    this.listeners.push(listener);
    this.wantsDetails = true;
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
      this.wantsDetails = this.listeners.length > 0;
    };
  }

  /** A protocol violation by `side` (index into SIDES). Unknown kinds count as `other`. */
  recordViolation(side: number, kind: ViolationKind): void {
    this.violations.inc((side & 1) * VIOLATION_KINDS.length + (VIOLATION_INDEX.get(kind) ?? OTHER_VIOLATION));
  }

  /** An upgrade that failed before the connection opened. Unknown reasons count as `other`. */
  recordUpgradeFailure(reason: UpgradeFailureReason): void {
    this.failures.inc(FAILURE_INDEX.get(reason) ?? OTHER_FAILURE);
  }

  /** Current totals, for health checks and tests. */
  totals(): { opened: number; closed: number; active: number } {
    let closed = 0;
    for (const count of this.closedSeries.counts) closed += count;
    return { opened: this.opened, closed, active: this.active };
  }

  /** `visit(series, count)` for every close series with a count. */
  forEachClose(visit: (series: CloseSeries, count: number) => void): void {
    const counts = this.closedSeries.counts;
    for (let i = 0; i < this.slots.used * N_INITIATORS; i++) {
      const count = counts[i] as number;
      if (count !== 0) visit(this.series[i] ?? this.seriesOf(i), count);
    }
  }

  /** The `code` label value a close code is recorded under right now. */
  codeLabel(code: number): string {
    return this.slots.codeLabel(code);
  }

  /** Zero the counters (prom-client's registry.resetMetrics()); the active gauge stays true. */
  resetCounters(): void {
    this.closedSeries.counts.fill(0);
    this.opened = this.active; // keeps opened = closed + active after a reset
    this.duration.reset();
    this.violations.reset();
    this.failures.reset();
    this.clientReports.reset();
    this.explain.reset();
  }
}
