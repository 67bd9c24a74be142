/**
 * The hook as the package root exports it. The recorder is shared one way
 * only: instrument() calls (and the Socket.IO, Bun and Deno adapters) with
 * the same registry, prefix and labels record into the same recorder, and
 * differing `codes`/`maxCustomCodes` for it are an error. The recorder is
 * seen through a read-only view whose parameters are names, never the
 * recorder's internal slot indexes.
 */
import type { WebSocketServer } from 'ws';
import type { Initiator, UpgradeFailureReason } from '../codes/vocabulary.js';
import { OptionError } from '../recorder/options.js';
import type { CloseDetails, CloseListener, CloseSeries } from '../recorder/recorder.js';
import { instrument as instrumentInternal, type InstrumentOptions } from './instrument.js';

export type { CloseDetails, CloseListener, CloseSeries };
export type { Initiator, UpgradeFailureReason };

/** What an instrumentation records into; the same object for every instrumentation with the same registry, prefix and labels. */
export interface CloseRecorder {
  /** The metric name prefix. */
  readonly prefix: string;
  /** Constant labels on every series (sorted by name). */
  readonly labels: Readonly<Record<string, string>>;
  /** Connections opened and closed so far, and open now (opened = closed + active). */
  totals(): { opened: number; closed: number; active: number };
  /** `visit(series, count)` for every close series with a count. */
  forEachClose(visit: (series: CloseSeries, count: number) => void): void;
  /** The `code` label value a close code is recorded under right now (a decimal code, or its range text over the cap). */
  codeLabel(code: number): string;
  /** Call `listener` after every close; returns the function that removes it. */
  addCloseListener(listener: CloseListener): () => void;
  /** Count an upgrade your code rejected before the connection opened (unknown reasons count as `other`). */
  recordUpgradeFailure(reason: UpgradeFailureReason): void;
}

/** The public options of instrument() and the adapters. */
export type { InstrumentOptions };

export interface Instrumentation {
  /** The recorder this instrumentation feeds. */
  readonly recorder: CloseRecorder;
  /** Stop recording: detach from the server and from every connection still open. */
  uninstall(): void;
}

/** Throws the OptionError for a `recorder` option: sharing goes through the registry, prefix and labels. */
export function rejectRecorderOption(options: unknown): void {
  if (options !== null && typeof options === 'object' && 'recorder' in options) {
    throw new OptionError(
      'recorder is not an option: instrumentations with the same registry, prefix and labels share one recorder (pass the same options to each)',
    );
  }
}

/**
 * Record every close of `wss`'s connections (a `ws` WebSocketServer, 7.5 or
 * 8). Works with a server that owns its HTTP server, with `noServer: true`
 * (emit `connection` from your `handleUpgrade` callback, as the ws docs
 * show) and with servers created by frameworks. Options are validated here
 * and throw OptionError / CodeNameError naming the bad option; nothing thrown
 * later reaches the app.
 */
export function instrument(wss: WebSocketServer, options: InstrumentOptions = {}): Instrumentation {
  rejectRecorderOption(options);
  return instrumentInternal(wss, options);
}
