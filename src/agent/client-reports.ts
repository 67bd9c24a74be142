/**
 * The client's side of the close on the agent's WebSocket port: the browser
 * module at GET /ws-close-agent/client.js and the report endpoint at
 * POST /ws-close-agent/report (closeReportHandler(), joined with the agent's
 * own recorder). Both are answered by the agent before any other plain HTTP
 * request goes on to the upstream (or to the echo endpoint's answer).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { CloseRecorder } from '../recorder/recorder.js';
import { closeReportHandler, type CloseReportHandler } from '../reports/handler.js';
import type { ClientReportConfig } from './client-report-config.js';
import { CLIENT_JS } from './client-js.generated.js';

const CLIENT_JS_PATH = '/ws-close-agent/client.js';
const REPORT_PATH = '/ws-close-agent/report';

/** Answers the agent's own routes; everything else is the front end's. */
export interface ClientReportRoutes {
  /** True when the request was one of the agent's routes and has been answered. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Stop listening for closes. */
  close(): void;
}

interface Script {
  readonly body: Buffer;
  readonly etag: string;
}

let script: Script | undefined;

/** The built browser module (the build writes it into client-js.generated.ts) and its ETag, made once. */
function clientScript(): Script {
  if (script === undefined) {
    const body = Buffer.from(CLIENT_JS, 'utf8');
    script = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  }
  return script;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * The script is public and the same for everyone: any origin may load it
 * (a page on app.example.com importing it from the WebSocket host needs
 * CORS for a module script), caches may keep it briefly and revalidate by
 * its ETag, and it is never sniffed as anything but JavaScript.
 */
function serveScript(script: Script, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 }).end();
    return;
  }
  const headers = {
    'Cache-Control': 'public, max-age=300',
    ETag: script.etag,
    'Access-Control-Allow-Origin': '*',
    'Cross-Origin-Resource-Policy': 'cross-origin',
    'X-Content-Type-Options': 'nosniff',
  };
  if (req.headers['if-none-match'] === script.etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8', 'Content-Length': script.body.length });
  res.end(req.method === 'HEAD' ? undefined : script.body);
}

/** The routes, with a report handler listening to `recorder` from now on (create them before the server accepts connections). */
export function createClientReportRoutes(recorder: CloseRecorder, config: ClientReportConfig): ClientReportRoutes {
  const reports: CloseReportHandler = closeReportHandler({
    recorder,
    windowMs: config.windowMs,
    maxEntries: config.maxEntries,
    rateLimit: config.rateLimit,
    maxBodyBytes: config.maxBodyBytes,
    ...(config.origins === undefined ? {} : { origins: config.origins }),
  });
  const script = clientScript();
  return {
    handle(req, res) {
      const path = pathOf(req.url);
      if (path === REPORT_PATH) reports(req, res);
      else if (path === CLIENT_JS_PATH) serveScript(script, req, res);
      else return false;
      return true;
    },
    close: () => reports.close(),
  };
}

/** `next`, after the agent's routes when there are any. */
export function withClientReportRoutes(routes: ClientReportRoutes | undefined, next: RequestListener): RequestListener {
  if (routes === undefined) return next;
  return (req, res) => {
    if (!routes.handle(req, res)) next(req, res);
  };
}
