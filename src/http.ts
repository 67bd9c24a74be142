/**
 * metricsHandler(): serves a prom-client registry to Prometheus, in OpenMetrics
 * when the scraper's Accept header prefers it (Prometheus does) and in the
 * text format otherwise.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry, register as globalRegistry, type OpenMetricsContentType, type RegistryContentType } from 'prom-client';

/** A prom-client registry of either content type. */
export type AnyRegistry = Registry<RegistryContentType>;
import { OptionError } from './metrics.js';

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

interface PromMetric {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  get(): unknown;
  getForPromString?(): unknown;
}

/**
 * Render `registry` as OpenMetrics without touching it. prom-client renames
 * counters in place (strips `_total`) when a registry is switched to
 * OpenMetrics, which would corrupt later text-format scrapes of the same
 * metrics; a throwaway registry of read-only views avoids that.
 */
export async function renderOpenMetrics(registry: AnyRegistry): Promise<string> {
  const om = new Registry<OpenMetricsContentType>();
  om.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const defaults = (registry as unknown as { _defaultLabels?: object })._defaultLabels;
  if (defaults && Object.keys(defaults).length > 0) om.setDefaultLabels(defaults);
  for (const metric of registry.getMetricsAsArray() as unknown as PromMetric[]) {
    const strip = (name: string): string => (metric.type === 'counter' ? name.replace(/_total$/, '') : name);
    const view = {
      name: strip(metric.name),
      help: metric.help,
      type: metric.type,
      aggregator: metric.aggregator,
      async get() {
        const data = (await (metric.getForPromString ? metric.getForPromString() : metric.get())) as { name: string };
        return { ...data, name: strip(data.name) };
      },
      reset() {},
    };
    om.registerMetric(view as never);
  }
  return om.metrics();
}

/** Render `registry` in the format the Accept header asks for. */
export async function renderMetrics(registry: AnyRegistry, accept: string | undefined): Promise<{ contentType: string; body: string }> {
  if (prefersOpenMetrics(accept)) {
    return { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: await renderOpenMetrics(registry) };
  }
  // A registry already set to OpenMetrics renders OpenMetrics; label it as such.
  return { contentType: registry.contentType, body: await registry.metrics() };
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
  return serveRendered((accept) => renderMetrics(registry, accept));
}

/** A handler serving whatever `render` produces for the request's Accept header (e.g. a cluster's aggregate). */
export function serveRendered(render: (accept: string | undefined) => Promise<{ contentType: string; body: string }>): RequestHandler {
  return (req, res) => {
    render(req.headers.accept).then(
      ({ contentType, body }) => {
        res.statusCode = 200;
        res.setHeader('Content-Type', contentType);
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  };
}
