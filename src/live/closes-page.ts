/**
 * closesPage(): the live close-code page, its assets and its JSON API as one
 * plain (req, res) handler, for an app's own server (express `app.use()`,
 * node:http) and for the agent's metrics listener:
 *
 *   GET /                      the page (self-contained; CSP default-src 'self')
 *   GET /live/app.js, app.css  its script and style (uPlot bundled in), and icon.svg
 *   GET /api/closes/recent     recent closes, newest first (?limit=N&code=&codename=&initiator=)
 *   GET /api/closes/summary    the sampled totals of the last 15 minutes
 *   GET /api/closes/events     the same, live (server-sent events)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { INITIATORS } from '../codes/vocabulary.js';
import { OptionError, type RecorderOptions } from '../recorder/options.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import { createRecorder } from '../recorder/registry.js';
import type { RecentAnswer, SummaryAnswer } from './api-types.js';
import { CloseHistory } from './close-history.js';
import { LiveFeed } from './live-feed.js';
import { APP_CSS, APP_JS } from './page-bundle.generated.js';
import { ICON_SVG, PAGE_HTML } from './page-html.js';
import { RecentCloses, validateRingSize, type CloseFilter } from './recent-closes.js';
import { tokenCheck } from './token-check.js';

export interface ClosesPageOptions extends RecorderOptions {
  /** The recorder whose closes to show (default: createRecorder(options), the one instrument(wss) with the same options feeds). */
  recorder?: CloseRecorder;
  /** Recent closes kept (default 1000; 0 = off: the page shows rates only). */
  recentCloses?: number;
  /** Keep and show the peer's address (default false). */
  peer?: boolean;
  /** Require `Authorization: Bearer <token>` (or Basic with the token as password) on every route. */
  token?: string;
  /** Live streams at once (default 16); more viewers poll. */
  maxViewers?: number;
  /** With node:http, the path the page is mounted under (e.g. '/closes'); express's app.use(path) strips it itself. */
  basePath?: string;
  /** Milliseconds between the samples rates are computed from (default 10,000; 91 are kept). */
  sampleIntervalMs?: number;
}

export type NextFunction = (err?: unknown) => void;

export interface ClosesPage {
  (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void;
  /** The ring (undefined when recentCloses is 0). */
  readonly recent: RecentCloses | undefined;
  /** Live viewers now. */
  readonly viewers: number;
  /** Stop listening to the recorder, stop sampling and end the live streams. */
  close(): void;
}

const MAX_LIMIT = 1000;
const MAX_BUFFERED_BYTES = 1 << 20;
const CSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const SECURITY_HEADERS: [string, string][] = [
  ['Content-Security-Policy', CSP],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
];

function validate(options: ClosesPageOptions): void {
  if (options === null || typeof options !== 'object') throw new OptionError('closesPage(options): options must be an object');
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length === 0))
    throw new OptionError('token must be a non-empty string');
  if (options.maxViewers !== undefined && (!Number.isInteger(options.maxViewers) || options.maxViewers < 0 || options.maxViewers > 1000)) {
    throw new OptionError(`maxViewers must be an integer from 0 to 1000, got ${String(options.maxViewers)}`);
  }
  if (options.basePath !== undefined && (typeof options.basePath !== 'string' || !/^(\/[^/?#]+)*$/.test(options.basePath))) {
    throw new OptionError(`basePath must look like '/closes' (no trailing slash), got ${String(options.basePath)}`);
  }
  if (options.sampleIntervalMs !== undefined && (!Number.isInteger(options.sampleIntervalMs) || options.sampleIntervalMs < 100)) {
    throw new OptionError(`sampleIntervalMs must be an integer of at least 100, got ${String(options.sampleIntervalMs)}`);
  }
}

function send(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string, cache = 'no-store'): void {
  res.statusCode = status;
  for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value);
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', cache);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, req: IncomingMessage, value: unknown): void {
  send(res, req, 200, 'application/json; charset=utf-8', JSON.stringify(value));
}

/** The query's filters; an error message for a bad one. */
function filterOf(query: URLSearchParams): CloseFilter | string {
  const filter: CloseFilter = {};
  const code = query.get('code');
  if (code !== null && code !== '') {
    if (!/^\d{1,4}$/.test(code)) return `code must be a close code (0-4999), got ${JSON.stringify(code.slice(0, 20))}`;
    filter.code = Number(code);
  }
  const codename = query.get('codename');
  if (codename !== null && codename !== '') filter.codename = codename;
  const initiator = query.get('initiator');
  if (initiator !== null && initiator !== '') {
    if (!(INITIATORS as readonly string[]).includes(initiator)) return `initiator must be one of ${INITIATORS.join(', ')}`;
    filter.initiator = initiator;
  }
  return filter;
}

function limitOf(query: URLSearchParams, fallback: number): number | string {
  const limit = query.get('limit');
  if (limit === null || limit === '') return fallback;
  if (!/^\d{1,7}$/.test(limit)) return `limit must be a whole number, got ${JSON.stringify(limit.slice(0, 20))}`;
  return Math.min(Number(limit), MAX_LIMIT);
}

export function closesPage(options: ClosesPageOptions = {}): ClosesPage {
  validate(options);
  const size = validateRingSize(options.recentCloses, 'recentCloses');
  const recorder = options.recorder ?? createRecorder(options);
  const ring = size === 0 ? undefined : new RecentCloses({ size, peer: options.peer ?? false });
  const detach = ring?.attach(recorder);
  const history = new CloseHistory(recorder, { intervalMs: options.sampleIntervalMs ?? 10_000 });
  history.start();
  const feed = new LiveFeed(ring, history, { maxViewers: options.maxViewers ?? 16, maxBufferedBytes: MAX_BUFFERED_BYTES, tickMs: 1000 });
  const authorized = tokenCheck(options.token);
  const basePath = options.basePath ?? '';
  const config = { recentCloses: size, peer: ring?.keepsPeer ?? false, sampleIntervalMs: history.intervalMs };

  const handle = (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void => {
    const url = new URL(req.url ?? '/', 'http://page.invalid');
    let path = url.pathname;
    if (basePath !== '') {
      if (path !== basePath && !path.startsWith(`${basePath}/`)) return notFound(req, res, next);
      path = path.slice(basePath.length);
    }
    const known = path === '' || path === '/' || path.startsWith('/live/') || path.startsWith('/api/closes/');
    if (!known) return notFound(req, res, next);
    if (!authorized(req, res)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, req, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    // Relative asset paths need the mount point with its slash (express strips the mount path from req.url).
    const mounted = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const mountedPath = mounted.split('?')[0]!;
    if (path === '' || (path === '/' && !mountedPath.endsWith('/'))) {
      res.statusCode = 301;
      res.setHeader('Location', `${mountedPath.slice(mountedPath.lastIndexOf('/') + 1) || '.'}/`);
      res.end();
      return;
    }
    switch (path) {
      case '/':
        return send(res, req, 200, 'text/html; charset=utf-8', PAGE_HTML);
      case '/live/app.js':
        return send(res, req, 200, 'text/javascript; charset=utf-8', APP_JS, 'no-cache');
      case '/live/app.css':
        return send(res, req, 200, 'text/css; charset=utf-8', APP_CSS, 'no-cache');
      case '/live/icon.svg':
        return send(res, req, 200, 'image/svg+xml', ICON_SVG, 'max-age=86400');
      case '/api/closes/recent': {
        const limit = limitOf(url.searchParams, 100);
        const filter = filterOf(url.searchParams);
        if (typeof limit === 'string') return send(res, req, 400, 'text/plain; charset=utf-8', `${limit}\n`);
        if (typeof filter === 'string') return send(res, req, 400, 'text/plain; charset=utf-8', `${filter}\n`);
        return sendJson(res, req, { ...config, recorded: ring?.recorded ?? 0, closes: ring?.list(limit, filter) ?? [] } satisfies RecentAnswer);
      }
      case '/api/closes/summary':
        return sendJson(res, req, { ...config, samples: history.samples(), now: history.now() } satisfies SummaryAnswer);
      case '/api/closes/events': {
        const after = Number(url.searchParams.get('after') ?? -1);
        return feed.open(req, res, Number.isSafeInteger(after) ? after : -1);
      }
      default:
        return notFound(req, res, next);
    }
  };

  const page = handle as ClosesPage;
  Object.defineProperty(page, 'recent', { value: ring });
  Object.defineProperty(page, 'viewers', { get: () => feed.viewerCount });
  Object.defineProperty(page, 'close', {
    value: () => {
      detach?.();
      history.stop();
      feed.close();
    },
  });
  return page;
}

function notFound(req: IncomingMessage, res: ServerResponse, next: NextFunction | undefined): void {
  if (next !== undefined) return next();
  send(res, req, 404, 'text/plain; charset=utf-8', 'not found\n');
}
