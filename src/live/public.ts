/**
 * `ws-close-agent/live`: the live close-code page, its recent-closes ring
 * and its JSON API, for apps that use the hook. It shows the closes of the
 * recorder that the same registry, prefix and labels name (pass the options
 * you gave instrument()), the one way a recorder is shared.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rejectRecorderOption } from '../hook/public.js';
import type { CloseEntry } from './close-entry.js';
import type { CloseFilter } from './recent-closes.js';
import { closesPage as closesPageInternal, type ClosesPageOptions as InternalOptions, type NextFunction } from './closes-page.js';

export type { CloseEntry, CloseFilter, NextFunction };

/** closesPage()'s options: the recorder's (registry, prefix, labels, codes) and the page's. */
export type ClosesPageOptions = Omit<InternalOptions, 'recorder'>;

/** The recent-closes ring as the page's handler exposes it. */
export interface RecentClosesView {
  /** Closes kept at most. */
  readonly capacity: number;
  /** Whether entries carry the peer's address. */
  readonly keepsPeer: boolean;
  /** Closes recorded so far (the ring keeps the last `capacity`). */
  readonly recorded: number;
  /** Up to `limit` entries, newest first, matching `filter`. */
  list(limit: number, filter?: CloseFilter): CloseEntry[];
}

export interface ClosesPage {
  (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void;
  /** The ring (undefined when recentCloses is 0). */
  readonly recent: RecentClosesView | undefined;
  /** Live viewers now. */
  readonly viewers: number;
  /** Stop listening to the recorder, stop sampling and end the live streams. */
  close(): void;
}

/**
 * A plain (req, res[, next]) handler serving the page under `/`, its assets
 * under `/live/` and the API under `/api/closes/` (recent, summary, events).
 * Create it before the closes it should show. Options are validated here and
 * throw OptionError naming the bad one.
 */
export function closesPage(options: ClosesPageOptions = {}): ClosesPage {
  rejectRecorderOption(options);
  return closesPageInternal(options);
}
