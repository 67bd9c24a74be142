/**
 * ws-close-agent/browser: the browser's side of the close. Tags each
 * WebSocket with a random id in the `ws_close_id` query parameter and, when
 * the connection ends, reports what the page saw (code, wasClean, lifetime)
 * to the server, which joins it with the close it recorded for the same id.
 *
 * Dependency-free and DOM-only (no Node API): the agent serves this file as
 * it is at /ws-close-agent/client.js.
 *
 *   import { install } from '/ws-close-agent/client.js';
 *   install(); // every `new WebSocket(url)` of the page from now on
 */

/** The query parameter that carries the id; the server reads the same name. */
export const CLOSE_ID_PARAM = 'ws_close_id';
/** The report path on the WebSocket's origin (the agent's port, or where the app mounts closeReportHandler()). */
export const REPORT_PATH = '/ws-close-agent/report';

export interface ReportOptions {
  /** Where reports are posted. Default: the WebSocket's own origin (ws: -> http:, wss: -> https:) + REPORT_PATH. */
  endpoint?: string | URL;
}

/** The report body: one JSON object per connection. */
export interface CloseReport {
  /** The connection's ws_close_id. */
  id: string;
  /** CloseEvent.code; 1001 when the page went away with the socket open. */
  code: number;
  /** CloseEvent.wasClean; false when the page went away. */
  clean: boolean;
  /** Milliseconds from the constructor to the close (or to the page going away). */
  ms: number;
  /** Present when the page was hidden or unloaded with the connection still open. */
  gone?: true;
}

interface Live {
  readonly id: string;
  readonly endpoint: string;
  readonly start: number;
  done: boolean;
}

const ID_SHAPE = /^[0-9a-f]{32}$/;
const live = new Set<Live>();
let listening = false;

/** 128 random bits as 32 lowercase hex digits (the only shape the server accepts). */
function newId(): string {
  let id = '';
  for (const b of crypto.getRandomValues(new Uint8Array(16))) id += (b < 16 ? '0' : '') + b.toString(16);
  return id;
}

function toUrl(url: string | URL): URL {
  return new URL(url, globalThis.location?.href);
}

/** `url` with a fresh ws_close_id (an id already there is kept, so tagging twice is harmless). */
export function tagUrl(url: string | URL): string {
  const u = toUrl(url);
  if (!ID_SHAPE.test(u.searchParams.get(CLOSE_ID_PARAM) ?? '')) u.searchParams.set(CLOSE_ID_PARAM, newId());
  return u.href;
}

function send(endpoint: string, report: CloseReport): void {
  const body = JSON.stringify(report);
  try {
    // A string body goes as text/plain: a simple request, no CORS preflight, and it survives the page unloading.
    if (navigator.sendBeacon(endpoint, body)) return;
  } catch {
    // no sendBeacon here (or it refused the URL): fall through
  }
  fetch(endpoint, { method: 'POST', body, keepalive: true, mode: 'no-cors', credentials: 'omit' }).catch(() => undefined);
}

function onPageHide(): void {
  // The page is going away with these sockets open: the browser closes them
  // (1001) but the page may not live to see their close events.
  for (const c of live) {
    c.done = true;
    send(c.endpoint, { id: c.id, code: 1001, clean: false, ms: Math.round(performance.now() - c.start), gone: true });
  }
  live.clear();
}

/**
 * Report the close of `ws`, an instance whose URL carries a ws_close_id
 * (made with `new WebSocket(tagUrl(url))`). An untagged socket is returned
 * untouched: the server could not join its report to anything.
 */
export function watch<T extends WebSocket>(ws: T, options: ReportOptions = {}): T {
  let u: URL;
  try {
    u = new URL(ws.url);
  } catch {
    return ws;
  }
  const id = u.searchParams.get(CLOSE_ID_PARAM) ?? '';
  if (!ID_SHAPE.test(id)) return ws;
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  const c: Live = { id, endpoint: String(options.endpoint ?? new URL(REPORT_PATH, u.origin)), start: performance.now(), done: false };
  live.add(c);
  if (!listening && typeof addEventListener === 'function') {
    listening = true;
    addEventListener('pagehide', onPageHide);
  }
  ws.addEventListener('close', (e) => {
    live.delete(c);
    if (c.done) return;
    c.done = true;
    send(c.endpoint, { id, code: e.code, clean: e.wasClean, ms: Math.round(performance.now() - c.start) });
  });
  return ws;
}

/** A WebSocket class whose every instance is tagged and watched. */
export function wrap(Base: typeof WebSocket, options: ReportOptions = {}): typeof WebSocket {
  return class TrackedWebSocket extends Base {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(tagUrl(url), protocols);
      watch(this, options);
    }
  };
}

/** Replace the page's WebSocket with wrap(WebSocket); returns the function that puts the original back. */
export function install(options: ReportOptions = {}): () => void {
  const original = globalThis.WebSocket;
  globalThis.WebSocket = wrap(original, options);
  return () => {
    globalThis.WebSocket = original;
  };
}
