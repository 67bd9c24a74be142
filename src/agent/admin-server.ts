/**
 * The agent's second port: /metrics (optionally behind a bearer token),
 * /healthz (the process is up) and /readyz (accepting connections; turns 503
 * as soon as draining starts). A plain node:http listener: three routes need
 * no framework, and the command then installs none.
 *
 * Routes answer GET and HEAD; paths match case-insensitively and with or
 * without one trailing slash; anything else is 404.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from '../export/http.js';
import type { AdminFallback } from './live-wiring.js';

export interface AdminServerOptions {
  /** Serves /metrics once the token (if any) is checked. */
  serveMetrics: RequestHandler;
  token: string | undefined;
  /** Whether the agent accepts new connections (false while draining). */
  isReady: () => boolean;
  /** Paths not served here (the live page: live-wiring.ts); its `next()` answers 404. */
  fallback?: AdminFallback | undefined;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The request's path, lower-cased, without query, fragment or one trailing slash; '' when it has none. */
function routeOf(url: string | undefined): string {
  let path = url ?? '';
  if (!path.startsWith('/')) {
    // The absolute form (GET http://host/metrics) names the path too.
    try {
      path = new URL(path).pathname;
    } catch {
      return '';
    }
  }
  const end = path.search(/[?#]/);
  if (end >= 0) path = path.slice(0, end);
  path = path.toLowerCase();
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function sendText(req: IncomingMessage, res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

export function createAdminHandler({ serveMetrics, token, isReady, fallback }: AdminServerOptions): RequestHandler {
  const expected = token === undefined ? undefined : digest(token);
  return (req, res) => {
    const route = req.method === 'GET' || req.method === 'HEAD' ? routeOf(req.url) : '';
    switch (route) {
      case '/metrics': {
        // The auth scheme is case-insensitive (RFC 7235 §2.1). Compare digests so the
        // comparison takes the same time for any header length.
        const given = /^bearer +(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
        if (expected !== undefined && (given === undefined || !timingSafeEqual(digest(given), expected))) {
          sendText(req, res, 401, 'unauthorized: /metrics needs "Authorization: Bearer <token>"\n', { 'WWW-Authenticate': 'Bearer realm="metrics"' });
          return;
        }
        serveMetrics(req, res);
        return;
      }
      case '/healthz':
        sendText(req, res, 200, 'ok\n');
        return;
      case '/readyz':
        if (isReady()) sendText(req, res, 200, 'ready\n');
        else sendText(req, res, 503, 'draining\n');
        return;
      default: {
        // `/` is only served when a fallback (the live page) is there to answer it.
        const notFound = (): void => sendText(req, res, 404, `not found: try ${fallback === undefined ? '' : '/, '}/metrics, /healthz or /readyz\n`);
        if (fallback !== undefined) fallback(req, res, notFound);
        else notFound();
      }
    }
  };
}
