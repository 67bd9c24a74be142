/**
 * The JSON the live page's API answers (GET /api/closes/recent, /summary and
 * the event stream's ticks), shared by the server and the page's script so
 * the two cannot drift apart. Types only: the page is built against the DOM.
 */
import type { Initiator } from '../codes/vocabulary.js';

export interface CloseEntry {
  /** When the close was recorded (ISO 8601, UTC). */
  time: string;
  /** The close code as received or sent (not the `code` label, which may be a range). */
  code: number;
  codename: string;
  category: string;
  initiator: Initiator;
  durationSeconds: number;
  /** The close frame's reason, escaped (see escapeReason); '' when none. */
  reason: string;
  /** The upgrade request's path without its query string; '' when unknown. */
  path: string;
  /** The peer's address, only when enabled. */
  peer?: string;
}

export interface CloseSample {
  /** Wall time of the sample, ms since the epoch. */
  t: number;
  opened: number;
  active: number;
  closed: number;
  byCodename: Record<string, number>;
  byInitiator: Record<string, number>;
  upgradeFailures: Record<string, number>;
}

/** What every answer carries: how the page is configured. */
export interface PageConfig {
  recentCloses: number;
  peer: boolean;
  sampleIntervalMs: number;
}

/** GET /api/closes/recent */
export interface RecentAnswer extends PageConfig {
  recorded: number;
  closes: CloseEntry[];
}

/** GET /api/closes/summary */
export interface SummaryAnswer extends PageConfig {
  samples: readonly CloseSample[];
  now: CloseSample;
}

/** One `tick` event of GET /api/closes/events. */
export interface Tick {
  recorded: number;
  closes: CloseEntry[];
  sample: CloseSample;
}
