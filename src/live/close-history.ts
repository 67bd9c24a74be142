/**
 * What the live page draws its rates from: cumulative counts (closes by
 * codename and by initiator, opened, active, upgrade failures by reason)
 * sampled from the recorder every interval, the last `keep` samples kept.
 * Nothing is counted per close: a sample reads the recorder's slots, as a
 * scrape does, and the page divides the differences by the time between
 * samples. Keys are the recorder's fixed vocabularies (codenames, INITIATORS,
 * upgrade-failure reasons), so a sample's size is bounded too.
 */
import { INITIATORS, LABEL } from '../codes/vocabulary.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import type { CloseSample } from './api-types.js';

export type { CloseSample };

export interface CloseHistoryOptions {
  /** Milliseconds between samples (default 10 s). */
  intervalMs?: number;
  /** Samples kept (default 91: 15 minutes of 10-second intervals). */
  keep?: number;
}

/** One sample of `recorder`'s totals now. */
function sampleRecorder(recorder: CloseRecorder): CloseSample {
  const byCodename: Record<string, number> = {};
  const byInitiator: Record<string, number> = {};
  for (const initiator of INITIATORS) byInitiator[initiator] = 0;
  let closed = 0;
  recorder.forEachClose((series, count) => {
    byCodename[series.codename] = (byCodename[series.codename] ?? 0) + count;
    byInitiator[series.initiator] = (byInitiator[series.initiator] ?? 0) + count;
    closed += count;
  });
  const upgradeFailures: Record<string, number> = {};
  const failures = recorder.sources.upgradeFailuresTotal;
  failures.visit((id, value) => {
    const reason = String(failures.sample(id).labels[LABEL.reason]);
    upgradeFailures[reason] = (upgradeFailures[reason] ?? 0) + value;
  });
  const { opened, active } = recorder.totals();
  return { t: Date.now(), opened, active, closed, byCodename, byInitiator, upgradeFailures };
}

export class CloseHistory {
  readonly intervalMs: number;
  readonly keep: number;
  private readonly ring: CloseSample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly recorder: CloseRecorder,
    { intervalMs = 10_000, keep = 91 }: CloseHistoryOptions = {},
  ) {
    this.intervalMs = intervalMs;
    this.keep = keep;
  }

  /** Take a sample now and every interval after (the timer does not keep the process alive). */
  start(onSample?: (sample: CloseSample) => void): void {
    if (this.timer !== undefined) return;
    this.take();
    this.timer = setInterval(() => {
      const sample = this.take();
      onSample?.(sample);
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private take(): CloseSample {
    const sample = sampleRecorder(this.recorder);
    this.ring.push(sample);
    if (this.ring.length > this.keep) this.ring.shift();
    return sample;
  }

  /** The kept samples, oldest first. */
  samples(): readonly CloseSample[] {
    return this.ring;
  }

  /** A sample of now, not kept (the page's latest point). */
  now(): CloseSample {
    return sampleRecorder(this.recorder);
  }
}
