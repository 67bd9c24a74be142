// Pins the one file that reaches into prom-client beyond its typings
// (src/export/prom-internals.ts) to every supported prom-client major: the
// default labels it reads, the per-metric formatter it calls, and the whole
// exposition built on them, byte for byte against the registry's own output.
import * as prom14 from 'prom-client-14';
import * as prom15 from 'prom-client';
import { describe, expect, it } from 'vitest';
import { INITIATOR_CLIENT, INITIATOR_SERVER } from '../src/codes/vocabulary.js';
import { renderRegistry } from '../src/export/exposition.js';
import { defaultLabelsOf, formatOneMetric, type AnyRegistry } from '../src/export/prom-internals.js';
import { createRecorder } from '../src/recorder/registry.js';

const VERSIONS = [
  { major: 14, prom: prom14 as unknown as typeof prom15 },
  { major: 15, prom: prom15 },
];

describe.each(VERSIONS)('prom-client $major', ({ major, prom }) => {
  it('is the major version the test means', async () => {
    const { readFileSync } = await import('node:fs');
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve(`${major === 14 ? 'prom-client-14' : 'prom-client'}/package.json`), 'utf8')) as { version: string };
    expect(pkg.version.split('.')[0]).toBe(String(major));
  });

  it('keeps default labels where defaultLabelsOf() reads them', () => {
    const registry = new prom.Registry();
    expect(defaultLabelsOf(registry as unknown as AnyRegistry)).toBeUndefined();
    registry.setDefaultLabels({ service: 'chat', zone: 'a' });
    expect(defaultLabelsOf(registry as unknown as AnyRegistry)).toEqual({ service: 'chat', zone: 'a' });
  });

  it('formats one metric with formatOneMetric() as metrics() does', async () => {
    const registry = new prom.Registry();
    const counter = new prom.Counter({ name: 'app_things_total', help: 'Things.', labelNames: ['kind'], registers: [registry] });
    counter.inc({ kind: 'a' }, 2);
    const text = await formatOneMetric(registry, counter);
    expect(text).toBe('# HELP app_things_total Things.\n# TYPE app_things_total counter\napp_things_total{kind="a"} 2');
    expect(`${text}\n`).toBe(await registry.metrics());
  });

  it("the whole exposition equals the registry's own, with default labels and the recorder's series", async () => {
    const registry = new prom.Registry();
    registry.setDefaultLabels({ service: 'chat' });
    new prom.Gauge({ name: 'app_up', help: 'Up.', registers: [registry] }).set(1);
    const recorder = createRecorder({ registry: registry, codes: { 4001: 'AUTH_EXPIRED' } });
    recorder.recordOpen();
    recorder.recordOpen();
    recorder.recordClose(4001, INITIATOR_SERVER, 3);
    recorder.recordClose(1006, INITIATOR_CLIENT, 0.2);
    recorder.recordViolation(0, 'bad_masking');
    const ours = await renderRegistry(registry, false);
    expect(ours).toBe(await registry.metrics());
    expect(ours).toMatch(
      /^websocket_connections_closed_total\{code="4001",codename="AUTH_EXPIRED",category="application",initiator="server",service="chat"\} 1$/m,
    );
  });
});

describe('metricsHandler with either major', () => {
  it.each(VERSIONS)('prom-client $major: a Prometheus scrape gets a valid body with the content type that major can render', async ({ major, prom }) => {
    const { metricsHandler } = await import('../src/export/http.js');
    const { createServer } = await import('node:http');
    const registry = new prom.Registry();
    const recorder = createRecorder({ registry: registry });
    recorder.recordOpen();
    recorder.recordClose(1000, INITIATOR_CLIENT, 1);
    const server = createServer(metricsHandler(registry as unknown as AnyRegistry));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
        headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
      });
      const body = await res.text();
      expect(res.status).toBe(200);
      if (major === 14) {
        expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
        expect(body).toBe(await registry.metrics());
      } else {
        expect(res.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
        expect(body.endsWith('# EOF\n')).toBe(true);
      }
      expect(body).toMatch(/^websocket_connections_closed_total\{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client"\} 1$/m);
    } finally {
      server.close();
    }
  });
});
