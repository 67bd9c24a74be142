import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createAdminHandler } from '../src/agent/admin-server.js';
import { metricsHandler, prefersOpenMetrics, type AnyRegistry, type RequestHandler } from '../src/export/http.js';
import { createRecorder } from '../src/recorder/registry.js';
import { INITIATOR_CLIENT, INITIATOR_SERVER, SIDE_CLIENT } from '../src/codes/vocabulary.js';
import { parseExposition, checkExposition, sumOf } from './helpers/exposition.js';

/** What Prometheus sends when scraping (scrape_protocols default, OpenMetrics first). */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
});

async function serve(app: express.Express | RequestHandler): Promise<string> {
  const server = createServer(app).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A registry with the recorder's metrics and a few recorded events. */
function populatedRegistry(): Registry {
  const registry = new Registry();
  const recorder = createRecorder({ registry, codes: { 4001: 'AUTH_EXPIRED' } });
  for (let i = 0; i < 3; i++) recorder.recordOpen();
  recorder.recordClose(1000, INITIATOR_CLIENT, 0.2);
  recorder.recordClose(4001, INITIATOR_SERVER, 3);
  recorder.recordViolation(SIDE_CLIENT, 'short_close_payload');
  recorder.recordUpgradeFailure('over_capacity');
  return registry;
}

async function appFor(registry: AnyRegistry): Promise<string> {
  const app = express();
  app.get('/metrics', metricsHandler(registry));
  return serve(app);
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** Lines of an exposition that start with `prefix`. */
function linesStarting(body: string, prefix: string): string[] {
  return body.split('\n').filter((l) => l.startsWith(prefix));
}

/** Sample lines with a non-zero value (a few close series are exported at zero from the start). */
function nonZero(lines: string[]): string[] {
  return lines.filter((l) => !l.endsWith(' 0'));
}

describe('metricsHandler', () => {
  it('answers the text format by default', async () => {
    const base = await appFor(populatedRegistry());
    const r = await get(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toBe(TEXT_CONTENT_TYPE);
    expect(r.body).not.toContain('# EOF');
    expect(linesStarting(r.body, '# TYPE websocket_connections_closed_total')).toEqual(['# TYPE websocket_connections_closed_total counter']);
    expect(nonZero(linesStarting(r.body, 'websocket_connections_closed_total{'))).toEqual([
      'websocket_connections_closed_total{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client"} 1',
      'websocket_connections_closed_total{code="4001",codename="AUTH_EXPIRED",category="application",initiator="server"} 1',
    ]);
    expect(linesStarting(r.body, 'websocket_connections_opened_total')).toEqual(['websocket_connections_opened_total 3']);
    expect(linesStarting(r.body, 'websocket_connections_active')).toEqual(['websocket_connections_active 1']);
    checkExposition(r.body);
  });

  it("answers OpenMetrics to Prometheus' Accept header", async () => {
    const base = await appFor(populatedRegistry());
    const r = await get(`${base}/metrics`, { Accept: PROMETHEUS_ACCEPT });
    expect(r.status).toBe(200);
    expect(r.type).toBe(OPENMETRICS_CONTENT_TYPE);
    expect(r.body.endsWith('\n# EOF\n')).toBe(true);
    expect(r.body.match(/# EOF/g)).toHaveLength(1);
    // OpenMetrics: a counter family is named without _total; its samples carry it.
    expect(linesStarting(r.body, '# TYPE websocket_connections_closed')).toEqual(['# TYPE websocket_connections_closed counter']);
    expect(linesStarting(r.body, '# TYPE websocket_connections_opened')).toEqual(['# TYPE websocket_connections_opened counter']);
    expect(linesStarting(r.body, '# TYPE websocket_upgrade_failures')).toEqual(['# TYPE websocket_upgrade_failures counter']);
    expect(linesStarting(r.body, '# TYPE websocket_protocol_violations')).toEqual(['# TYPE websocket_protocol_violations counter']);
    expect(nonZero(linesStarting(r.body, 'websocket_connections_closed_total'))).toEqual([
      'websocket_connections_closed_total{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client"} 1',
      'websocket_connections_closed_total{code="4001",codename="AUTH_EXPIRED",category="application",initiator="server"} 1',
    ]);
    expect(linesStarting(r.body, 'websocket_connections_opened')).toEqual(['websocket_connections_opened_total 3']);
    expect(linesStarting(r.body, 'websocket_upgrade_failures')).toEqual(['websocket_upgrade_failures_total{reason="over_capacity"} 1']);
    expect(linesStarting(r.body, 'websocket_protocol_violations')).toEqual(['websocket_protocol_violations_total{side="client",kind="short_close_payload"} 1']);
    // Gauges and histograms keep their names.
    expect(linesStarting(r.body, '# TYPE websocket_connections_active')).toEqual(['# TYPE websocket_connections_active gauge']);
    expect(linesStarting(r.body, 'websocket_connection_duration_seconds_count')).toEqual([
      'websocket_connection_duration_seconds_count{codename="CLOSE_NORMAL"} 1',
      'websocket_connection_duration_seconds_count{codename="AUTH_EXPIRED"} 1',
    ]);
    expect(checkExposition(r.body).format).toBe('openmetrics');
  });

  it('a text scrape after an OpenMetrics scrape still has the _total names (with a user counter on the registry)', async () => {
    const registry = populatedRegistry();
    const requests = new Counter({ name: 'app_requests_total', help: 'Requests the app served.', labelNames: ['route'], registers: [registry] });
    requests.inc({ route: '/a' }, 2);
    const base = await appFor(registry);

    const before = await get(`${base}/metrics`);
    const om = await get(`${base}/metrics`, { Accept: PROMETHEUS_ACCEPT });
    expect(linesStarting(om.body, '# TYPE app_requests')).toEqual(['# TYPE app_requests counter']);
    expect(linesStarting(om.body, 'app_requests')).toEqual(['app_requests_total{route="/a"} 2']);
    const om2 = await get(`${base}/metrics`, { Accept: PROMETHEUS_ACCEPT });
    expect(om2.body).toBe(om.body);

    const after = await get(`${base}/metrics`);
    expect(after.type).toBe(TEXT_CONTENT_TYPE);
    expect(after.body).toBe(before.body);
    expect(linesStarting(after.body, '# TYPE app_requests_total')).toEqual(['# TYPE app_requests_total counter']);
    expect(linesStarting(after.body, 'app_requests_total{')).toEqual(['app_requests_total{route="/a"} 2']);
    expect(linesStarting(after.body, '# TYPE websocket_connections_closed_total')).toHaveLength(1);
    // The registry object itself is untouched.
    expect(registry.getSingleMetric('app_requests_total')).toBe(requests);
    expect(registry.getSingleMetric('websocket_connections_closed_total')).toBeDefined();
    checkExposition(after.body);
    // And the values still add up after both renderings.
    const samples = parseExposition(after.body);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(
      sumOf(samples, 'websocket_connections_closed_total') + sumOf(samples, 'websocket_connections_active'),
    );
  });

  it('keeps the registry default labels in OpenMetrics', async () => {
    const registry = populatedRegistry();
    registry.setDefaultLabels({ pod: 'p-1' });
    const base = await appFor(registry);
    const om = await get(`${base}/metrics`, { Accept: PROMETHEUS_ACCEPT });
    expect(linesStarting(om.body, 'websocket_connections_opened')).toEqual(['websocket_connections_opened_total{pod="p-1"} 3']);
  });

  it.each([
    ['text/plain', false],
    ['text/plain;version=0.0.4', false],
    ['*/*', false],
    ['application/json', false],
    ['application/openmetrics-text', true],
    ['application/openmetrics-text;version=1.0.0', true],
    [PROMETHEUS_ACCEPT, true],
    ['text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5', false],
    ['application/openmetrics-text;q=0,text/plain', false],
  ])('Accept %j → OpenMetrics %s', (accept, om) => {
    expect(prefersOpenMetrics(accept)).toBe(om);
  });

  it('Accept: text/plain only → the text format', async () => {
    const base = await appFor(populatedRegistry());
    const r = await get(`${base}/metrics`, { Accept: 'text/plain' });
    expect(r.type).toBe(TEXT_CONTENT_TYPE);
    expect(linesStarting(r.body, '# TYPE websocket_connections_closed_total')).toHaveLength(1);
    expect(r.body).not.toContain('# EOF');
  });

  it('answers 500 with a message when a collector throws', async () => {
    const registry = populatedRegistry();
    new Counter({
      name: 'broken_total',
      help: 'A metric whose collect fails.',
      registers: [registry],
      collect() {
        throw new Error('database unavailable');
      },
    });
    const base = await appFor(registry);
    for (const headers of [{}, { Accept: PROMETHEUS_ACCEPT }] as Record<string, string>[]) {
      const r = await get(`${base}/metrics`, headers);
      expect(r.status).toBe(500);
      expect(r.type).toBe('text/plain; charset=utf-8');
      expect(r.body).toContain('database unavailable');
    }
  });

  it("a large body goes out whole, with its Content-Length, equal to prom-client's rendering; HEAD gets no body", async () => {
    const registry = new Registry();
    const recorder = createRecorder({ registry, maxCustomCodes: 600, labels: { server: 'é "chat"' } });
    for (let code = 3000; code < 3500; code++) {
      for (let initiator = 0; initiator < 4; initiator++) {
        recorder.recordOpen();
        recorder.recordClose(code, initiator, code / 100);
      }
    }
    const base = await appFor(registry);
    const r = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
    const body = await r.text();
    expect(body).toBe(await registry.metrics());
    expect(Number(r.headers.get('content-length'))).toBe(Buffer.byteLength(body));
    expect(body.split('\n').filter((l) => l.startsWith('websocket_connections_closed_total{')).length).toBeGreaterThanOrEqual(2000);
    const head = await fetch(`${base}/metrics`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('rejects something that is not a registry', () => {
    expect(() => metricsHandler({} as AnyRegistry)).toThrow(/registry must be a prom-client Registry/);
  });
});

describe('admin server', () => {
  async function admin(token: string | undefined, ready = { value: true }): Promise<string> {
    return serve(createAdminHandler({ serveMetrics: metricsHandler(populatedRegistry()), token, isReady: () => ready.value }));
  }

  it('/metrics needs the bearer token when one is configured', async () => {
    const base = await admin('s3cret');
    const none = await get(`${base}/metrics`);
    expect(none.status).toBe(401);
    expect(none.body).not.toContain('websocket_');
    for (const authorization of ['Bearer wrong', 'Bearer s3cre', 'Bearer s3cret2', 'Basic czNjcmV0', 's3cret', 'Bearer ']) {
      const r = await get(`${base}/metrics`, { Authorization: authorization });
      expect(r.status, authorization).toBe(401);
      expect(r.body).not.toContain('websocket_');
    }
    const ok = await get(`${base}/metrics`, { Authorization: 'Bearer s3cret' });
    expect(ok.status).toBe(200);
    // The scheme is case-insensitive (RFC 7235).
    expect((await get(`${base}/metrics`, { Authorization: 'bearer s3cret' })).status).toBe(200);
    expect(ok.body).toContain('websocket_connections_opened_total 3');
    const om = await get(`${base}/metrics`, { Authorization: 'Bearer s3cret', Accept: PROMETHEUS_ACCEPT });
    expect(om.type).toBe(OPENMETRICS_CONTENT_TYPE);
  });

  it('401 carries a WWW-Authenticate challenge', async () => {
    const base = await admin('s3cret');
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('/metrics is open without a token; /healthz and /readyz never need one', async () => {
    expect((await get(`${await admin(undefined)}/metrics`)).status).toBe(200);
    const base = await admin('s3cret');
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/readyz`)).status).toBe(200);
  });

  it('/healthz 200; /readyz 200, then 503 when not ready', async () => {
    const ready = { value: true };
    const base = await admin(undefined, ready);
    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(`${base}/readyz`)).toMatchObject({ status: 200, body: 'ready\n' });
    ready.value = false;
    expect(await get(`${base}/readyz`)).toMatchObject({ status: 503, body: 'draining\n' });
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('unknown paths answer 404', async () => {
    expect((await get(`${await admin(undefined)}/nope`)).status).toBe(404);
  });

  it('routes answer GET and HEAD, any case, with or without a trailing slash; other methods 404', async () => {
    const base = await admin('s3cret');
    const auth = { Authorization: 'Bearer s3cret' };
    for (const path of ['/metrics', '/METRICS', '/metrics/', '/metrics?x=1']) {
      expect((await get(`${base}${path}`, auth)).status, path).toBe(200);
    }
    expect((await get(`${base}/metrics//`, auth)).status).toBe(404);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const res = await fetch(`${base}/healthz`, { method, signal: AbortSignal.timeout(5000) });
      expect(res.status, method).toBe(404);
      expect(await res.text()).toBe('not found: try /metrics, /healthz or /readyz\n');
    }
    const head = await fetch(`${base}/healthz`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('3');
    expect(head.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await head.text()).toBe('');
    const unauthorized = await fetch(`${base}/metrics`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.text()).toBe('');
    expect(unauthorized.headers.get('x-powered-by')).toBeNull();
  });
});
