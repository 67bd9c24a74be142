/**
 * The agent's live view and close log: the closes page (`/`, `/live/*`,
 * `/api/closes/*`) on the metrics listener behind the /metrics token, fed by
 * the agent's recorder (--recent-closes, --recent-closes-peer), and
 * --log-closes, one JSON line per close with the same entry the ring keeps.
 *
 * Under --workers N each worker has its own recorder and the primary has
 * none, so the primary cannot show one process's ring as the whole agent's:
 * it answers the page's routes with 503 and a pointer to --log-closes (each
 * worker logs its own closes, with its pid), and the workers keep no ring.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { closesPage, type ClosesPage } from '../live/closes-page.js';
import { entryOf } from '../live/recent-closes.js';
import { tokenCheck } from '../live/token-check.js';
import type { CloseListener, CloseRecorder } from '../recorder/recorder.js';
import type { AgentConfig, LogCloses } from './config.js';
import { createLogger, type LogFields } from './log.js';

/** The metrics listener's fallback for paths it does not serve itself; `next()` answers 404. */
export type AdminFallback = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

export interface LiveWiring {
  /** Serves the page and its API (undefined for a cluster worker, whose listener is the primary's). */
  readonly fallback: AdminFallback | undefined;
  readonly page: ClosesPage | undefined;
  /** Stop sampling, end the live streams, stop logging closes. */
  close(): void;
}

/** Whether --log-closes `mode` logs a close with `code`: abnormal is every code but 1000 (normal) and 1001 (going away). */
function logsClose(mode: LogCloses, code: number): boolean {
  return mode === 'all' || (mode === 'abnormal' && code !== 1000 && code !== 1001);
}

/**
 * The close log's listener. Lines are written whatever --log-level says:
 * asking for them is the switch. The entry's reason and path are already
 * escaped, and JSON.stringify escapes what is left for a JSON line.
 */
function closeLogListener(mode: LogCloses, peer: boolean, base: LogFields, write?: (line: string) => void): CloseListener {
  const log = createLogger('debug', write, base);
  return (series, durationSeconds, details, code) => {
    if (!logsClose(mode, code)) return;
    log.info('close', { ...entryOf(series, durationSeconds, details, code, peer) });
  };
}

/** `role`: 'single' (one process: page and log), 'worker' (log only), 'primary' (no recorder: the page's routes answer 503). */
export function startLive(config: AgentConfig, recorder: CloseRecorder | undefined, role: 'single' | 'worker' | 'primary'): LiveWiring {
  const detachLog =
    recorder !== undefined && config.logCloses !== 'off'
      ? recorder.addCloseListener(closeLogListener(config.logCloses, config.recentClosesPeer, role === 'worker' ? { worker: process.pid } : {}))
      : undefined;
  if (role === 'worker') return { fallback: undefined, page: undefined, close: () => detachLog?.() };
  if (role === 'primary' || recorder === undefined) {
    const authorized = tokenCheck(config.metricsToken);
    const fallback: AdminFallback = (req, res, next) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path !== '/' && !path.startsWith('/live/') && !path.startsWith('/api/closes/')) return next();
      if (!authorized(req, res)) return;
      res.statusCode = 503;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(
        'the live page shows one process: with --workers N each worker has its own recorder. Run with --workers 1 for the page, or use --log-closes (every worker logs its closes).\n',
      );
    };
    return { fallback, page: undefined, close: () => detachLog?.() };
  }
  const page = closesPage({ recorder, recentCloses: config.recentCloses, peer: config.recentClosesPeer, token: config.metricsToken });
  return {
    fallback: (req, res, next) => page(req, res, next),
    page,
    close() {
      detachLog?.();
      page.close();
    },
  };
}
