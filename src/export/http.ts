/**
 * metricsHandler(): serves a prom-client registry to Prometheus, in OpenMetrics
 * when the scraper's Accept header prefers it (Prometheus does) and in the
 * text format otherwise.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { register as globalRegistry } from 'prom-client';
import { OptionError } from '../recorder/options.js';
import { renderRegistry, renderRegistryChunks } from './exposition.js';
import { OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, supportsOpenMetrics, type AnyRegistry } from './prom-internals.js';

export type { AnyRegistry } from './prom-internals.js';

const OPENMETRICS = 'application/openmetrics-text';
const TEXT = 'text/plain';

/** Quality (q) of the most specific Accept range matching `type`; 0 when none matches. */
function acceptQuality(accept: string, type: string): number {
  const wildcard = `${type.split('/')[0]}/*`;
  let quality = 0;
  let specificity = -1;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const s = range === type ? 2 : range === wildcard ? 1 : range === '*/*' ? 0 : -1;
    if (s <= specificity) continue;
    specificity = s;
    const q = params.find((p) => p.startsWith('q='));
    quality = q === undefined ? 1 : Number(q.slice(2)) || 0;
  }
  return quality;
}

/** Whether a request's Accept header asks for OpenMetrics over the text format. */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  const om = acceptQuality(accept, OPENMETRICS);
  return om > 0 && om >= acceptQuality(accept, TEXT) && accept.toLowerCase().includes(OPENMETRICS);
}

/**
 * Render `registry` in the format the Accept header asks for, without
 * touching it (prom-client renames counters in place when it renders
 * OpenMetrics, which would corrupt later text-format scrapes).
 */
export async function renderMetrics(registry: AnyRegistry, accept: string | undefined): Promise<{ contentType: string; body: string }> {
  const openMetrics = wantsOpenMetrics(registry, accept);
  return { contentType: contentTypeOf(openMetrics), body: await renderRegistry(registry, openMetrics) };
}

// A registry already set to OpenMetrics renders OpenMetrics, as registry.metrics() would; prom-client 14 only has text.
function wantsOpenMetrics(registry: AnyRegistry, accept: string | undefined): boolean {
  if (!supportsOpenMetrics(registry)) return false;
  return prefersOpenMetrics(accept) || registry.contentType === OPENMETRICS_CONTENT_TYPE;
}

function contentTypeOf(openMetrics: boolean): string {
  return openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * An express (or plain node:http) handler serving `registry` (default:
 * prom-client's global registry). Errors answer 500 with the message.
 */
export function metricsHandler(registry: AnyRegistry = globalRegistry): RequestHandler {
  if (registry === null || typeof registry !== 'object' || typeof registry.metrics !== 'function') {
    throw new OptionError('metricsHandler(registry): registry must be a prom-client Registry');
  }
  return serveRendered(async (accept) => {
    const openMetrics = wantsOpenMetrics(registry, accept);
    return { contentType: contentTypeOf(openMetrics), body: await renderRegistryChunks(registry, openMetrics) };
  });
}

/**
 * A handler serving whatever `render` produces for the request's Accept
 * header (e.g. a cluster's aggregate): one string, or chunks of it written
 * in order (see renderRegistryChunks).
 */
export function serveRendered(render: (accept: string | undefined) => Promise<{ contentType: string; body: string | readonly string[] }>): RequestHandler {
  return (req, res) => {
    render(req.headers.accept).then(
      ({ contentType, body }) => {
        res.statusCode = 200;
        res.setHeader('Content-Type', contentType);
        if (req.method === 'HEAD') res.end();
        else if (typeof body === 'string') res.end(body);
        else writeChunks(res, body);
      },
      (err: unknown) => {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  };
}

/** The body in one writev, with its Content-Length. */
function writeChunks(res: ServerResponse, chunks: readonly string[]): void {
  let length = 0;
  for (const chunk of chunks) length += Buffer.byteLength(chunk);
  res.setHeader('Content-Length', length);
  res.cork();
  for (const chunk of chunks) res.write(chunk);
  res.end(); // uncorks
}
