/**
 * The agent's second port: /metrics (optionally behind a bearer token),
 * /healthz (the process is up) and /readyz (accepting connections; turns 503
 * as soon as draining starts).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import type { RequestHandler } from '../export/http.js';

export interface AdminServerOptions {
  /** Serves /metrics once the token (if any) is checked. */
  serveMetrics: RequestHandler;
  token: string | undefined;
  /** Whether the agent accepts new connections (false while draining). */
  isReady: () => boolean;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function createAdminApp({ serveMetrics, token, isReady }: AdminServerOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const expected = token === undefined ? undefined : digest(token);
  app.get('/metrics', (req, res) => {
    // The auth scheme is case-insensitive (RFC 7235 §2.1). Compare digests so the
    // comparison takes the same time for any header length.
    const given = /^bearer +(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (expected !== undefined && (given === undefined || !timingSafeEqual(digest(given), expected))) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain').send('unauthorized: /metrics needs "Authorization: Bearer <token>"\n');
      return;
    }
    serveMetrics(req, res);
  });
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    if (isReady()) res.type('text/plain').send('ready\n');
    else res.status(503).type('text/plain').send('draining\n');
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found: try /metrics, /healthz or /readyz\n');
  });
  return app;
}

export type { Server };
