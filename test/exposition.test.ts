import fc from 'fast-check';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { renderRegistry } from '../src/export/exposition.js';
import { createRecorder } from '../src/recorder/registry.js';
import { type CloseRecorder } from '../src/recorder/recorder.js';
import { INITIATOR_AGENT, INITIATOR_CLIENT, INITIATOR_SERVER, INITIATOR_UNKNOWN, SIDE_CLIENT, SIDE_SERVER } from '../src/codes/vocabulary.js';
import { checkExposition } from './helpers/exposition.js';
import { assertAsyncProperty } from './helpers/property.js';

/**
 * What prom-client itself renders for `build()`'s registry in OpenMetrics.
 * prom-client renames counters in place when it renders OpenMetrics, so it
 * gets a registry of its own, built the same way.
 */
async function promClientOpenMetrics(build: () => Registry): Promise<string> {
  const registry = build();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  return registry.metrics();
}

/** Both formats from our renderer and from prom-client, for the same registry contents. */
async function bothWays(build: () => Registry): Promise<{ ours: { text: string; om: string }; prom: { text: string; om: string } }> {
  const registry = build();
  const ours = { text: await renderRegistry(registry, false), om: await renderRegistry(registry, true) };
  const prom = { text: await build().metrics(), om: await promClientOpenMetrics(build) };
  return { ours, prom };
}

function recordSome(r: CloseRecorder): void {
  for (let i = 0; i < 12; i++) r.recordOpen();
  r.recordClose(1000, INITIATOR_CLIENT, 0.05);
  r.recordClose(1000, INITIATOR_CLIENT, 0.3);
  r.recordClose(1001, INITIATOR_SERVER, 12.5);
  r.recordClose(1006, INITIATOR_CLIENT, 0.1 + 0.2);
  r.recordClose(4001, INITIATOR_SERVER, 4000);
  r.recordClose(4321, INITIATOR_AGENT, 90000); // over the last bucket
  r.recordClose(2500, INITIATOR_UNKNOWN, 1);
  r.recordClose(70000, INITIATOR_CLIENT, 1);
  r.recordViolation(SIDE_CLIENT, 'short_close_payload');
  r.recordViolation(SIDE_SERVER, 'invalid_code');
  r.recordUpgradeFailure('over_capacity');
  r.recordUpgradeFailure('upstream_timeout');
}

/** A registry with user metrics before and after the recorder's, two label sets, and a second prefix. */
function mixedRegistry(defaults?: Record<string, string>): Registry {
  const registry = new Registry();
  const requests = new Counter({
    name: 'app_requests_total',
    help: 'Requests\nserved, with a \\ in the help.',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  requests.inc({ route: '/a"b\\c\nd', code: '200' }, 3);
  requests.inc({ route: '/', code: '500' });
  const chat = createRecorder({ registry, codes: { 4001: 'AUTH_EXPIRED' }, labels: { server: 'chat "main"\\\n' } });
  const feed = createRecorder({ registry, codes: { 4001: 'AUTH_EXPIRED' }, labels: { server: 'feed' } });
  recordSome(chat);
  recordSome(feed);
  feed.recordClose(1000, INITIATOR_CLIENT, 1);
  const queue = new Gauge({ name: 'app_queue_depth', help: 'Depth.', registers: [registry] });
  queue.set(7);
  const latency = new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['op'], buckets: [0.01, 0.1, 1], registers: [registry] });
  latency.observe({ op: 'read' }, 0.05);
  latency.observe({ op: 'write' }, 2);
  const sizes = new Summary({ name: 'app_size_bytes', help: 'Sizes.', percentiles: [0.5, 0.9], registers: [registry] });
  for (const v of [1, 5, 9, 100]) sizes.observe(v);
  const edge = createRecorder({ registry, prefix: 'edge_ws_' });
  edge.recordOpen();
  edge.recordClose(1000, INITIATOR_CLIENT, 2);
  new Counter({ name: 'app_never_incremented_total', help: 'No samples.', labelNames: ['x'], registers: [registry] });
  if (defaults) registry.setDefaultLabels(defaults);
  return registry;
}

describe('renderRegistry: the same bytes prom-client renders', () => {
  it('a fresh recorder (only the series exported at zero)', async () => {
    const { ours, prom } = await bothWays(() => {
      const registry = new Registry();
      createRecorder({ registry });
      return registry;
    });
    expect(ours.text).toBe(prom.text);
    expect(ours.om).toBe(prom.om);
  });

  it('recorded closes, violations and failures, with user metrics before and after, in registry order', async () => {
    const { ours, prom } = await bothWays(() => mixedRegistry());
    expect(ours.text).toBe(prom.text);
    expect(ours.om).toBe(prom.om);
    const order = ours.text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2]);
    expect(order.slice(0, 3)).toEqual(['app_requests_total', 'websocket_connections_closed_total', 'websocket_connections_opened_total']);
    expect(order).toContain('app_size_bytes');
    expect(ours.text).toContain(
      'websocket_connections_closed_total{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client",server="chat \\"main\\"\\\\\\n"} 2',
    );
    checkExposition(ours.text);
    expect(checkExposition(ours.om).format).toBe('openmetrics');
  });

  it('default labels: added after the own labels, never over a label the series sets itself', async () => {
    // `server` is a constant label of the recorders and `le` a histogram bucket's own label: those series keep theirs.
    const defaults = { pod: 'p-1 "x"\\', server: 'default-server', le: 'nope', zone: 'z' };
    const { ours, prom } = await bothWays(() => mixedRegistry(defaults));
    expect(ours.text).toBe(prom.text);
    expect(ours.om).toBe(prom.om);
    expect(ours.text).toContain('edge_ws_connections_opened_total{pod="p-1 \\"x\\"\\\\",server="default-server",le="nope",zone="z"} 1');
    expect(ours.text).toContain(
      'websocket_connection_duration_seconds_sum{codename="CLOSE_NORMAL",server="feed",pod="p-1 \\"x\\"\\\\",le="nope",zone="z"} 1.35',
    );
  });

  it('default labels that change between scrapes (the cached label strings follow)', async () => {
    const registry = mixedRegistry({ pod: 'a' });
    const twin = mixedRegistry({ pod: 'a' });
    expect(await renderRegistry(registry, false)).toBe(await twin.metrics());
    registry.setDefaultLabels({ pod: 'b', zone: 'z' });
    twin.setDefaultLabels({ pod: 'b', zone: 'z' });
    expect(await renderRegistry(registry, false)).toBe(await twin.metrics());
    registry.setDefaultLabels({});
    twin.setDefaultLabels({});
    expect(await renderRegistry(registry, false)).toBe(await twin.metrics());
  });

  it('series that appear after the first scrape, and counts that change', async () => {
    const build = (): { registry: Registry; r: CloseRecorder } => {
      const registry = new Registry();
      return { registry, r: createRecorder({ registry, maxCustomCodes: 3 }) };
    };
    const a = build();
    const b = build();
    for (const { r } of [a, b]) recordSome(r);
    expect(await renderRegistry(a.registry, false)).toBe(await b.registry.metrics());
    for (const { r } of [a, b]) {
      for (let code = 3000; code < 3010; code++) {
        r.recordOpen();
        r.recordClose(code, INITIATOR_CLIENT, code / 1000);
      }
      r.recordViolation(SIDE_CLIENT, 'made-up' as never);
    }
    expect(await renderRegistry(a.registry, false)).toBe(await b.registry.metrics());
    a.registry.resetMetrics();
    b.registry.resetMetrics();
    expect(await renderRegistry(a.registry, false)).toBe(await b.registry.metrics());
  });

  it('an AggregatorRegistry of several workers (rendered by prom-client, through the same function)', async () => {
    const workers = [mixedRegistry(), mixedRegistry()];
    const json = await Promise.all(workers.map((w) => w.getMetricsAsJSON()));
    const aggregated = AggregatorRegistry.aggregate(json);
    const again = AggregatorRegistry.aggregate(await Promise.all([mixedRegistry(), mixedRegistry()].map((w) => w.getMetricsAsJSON())));
    expect(await renderRegistry(aggregated, false)).toBe(await again.metrics());
  });

  it('a registry set to OpenMetrics is rendered without renaming its counters', async () => {
    const registry = mixedRegistry();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    const om = await renderRegistry(registry, true);
    expect(om).toBe(await promClientOpenMetrics(() => mixedRegistry()));
    const nameOf = (metric: string): string | undefined => (registry.getSingleMetric(metric) as unknown as { name: string } | undefined)?.name;
    expect(nameOf('websocket_connections_closed_total')).toBe('websocket_connections_closed_total');
    expect(nameOf('app_requests_total')).toBe('app_requests_total');
    // Its text rendering (on request) is the text registry's.
    expect(await renderRegistry(registry, false)).toBe(await mixedRegistry().metrics());
  });

  it('rejects when another metric of the registry fails to collect', async () => {
    const registry = mixedRegistry();
    new Gauge({
      name: 'broken',
      help: 'Fails.',
      registers: [registry],
      collect() {
        throw new Error('database unavailable');
      },
    });
    await expect(renderRegistry(registry, false)).rejects.toThrow('database unavailable');
    await expect(renderRegistry(registry, true)).rejects.toThrow('database unavailable');
  });

  it('any mix of closes, constant labels and default labels (property)', async () => {
    const labelName = fc
      .stringMatching(/^[a-z][a-z0-9_]{0,8}$/)
      .filter((n) => !['code', 'codename', 'category', 'initiator', 'reason', 'side', 'kind', 'le'].includes(n));
    const labelValue = fc.string({ maxLength: 20, unit: fc.constantFrom('a', 'Z', '"', '\\', '\n', ' ', 'é', '{', '}', ',', '=') });
    const close = fc.record({
      code: fc.oneof(fc.integer({ min: 999, max: 1016 }), fc.integer({ min: 3000, max: 4999 }), fc.integer({ min: -2, max: 70000 })),
      initiator: fc.integer({ min: 0, max: 3 }),
      seconds: fc.oneof(fc.double({ min: 0, max: 200000, noNaN: true }), fc.constantFrom(0.1, 0.25, 86400)),
    });
    await assertAsyncProperty(
      fc.asyncProperty(
        fc.array(close, { maxLength: 40 }),
        fc.dictionary(labelName, labelValue, { maxKeys: 2 }),
        fc.dictionary(labelName, labelValue, { maxKeys: 3 }),
        fc.integer({ min: 0, max: 5 }),
        async (closes, constLabels, defaults, maxCustomCodes) => {
          const build = (): Registry => {
            const registry = new Registry();
            new Counter({ name: 'app_total', help: 'App.', labelNames: ['route'], registers: [registry] }).inc({ route: 'x' });
            const r = createRecorder({ registry, labels: constLabels, maxCustomCodes });
            for (const c of closes) {
              r.recordOpen();
              r.recordClose(c.code, c.initiator, c.seconds);
            }
            registry.setDefaultLabels(defaults);
            return registry;
          };
          const { ours, prom } = await bothWays(build);
          expect(ours.text).toBe(prom.text);
          expect(ours.om).toBe(prom.om);
        },
      ),
      { numRuns: 150 },
    );
  });
});
