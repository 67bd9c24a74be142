import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader, type DataPoint, type Histogram as HistogramValue, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { instrument } from '../src/hook/instrument.js';
import { createRecorder } from '../src/recorder/registry.js';
import { DURATION_BUCKETS_SECONDS, INITIATOR_SERVER } from '../src/codes/vocabulary.js';
import { OTEL_ATTRIBUTE, OTEL_CLOSE_EVENT, OTEL_METRIC, OtelBridge } from '../src/otel.js';
import { closesByLabels, parseExposition } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

/** A pull reader: collect() returns what the SDK aggregated so far. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function otelMetrics(reader: TestReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
  return out;
}

function attributeKey(attributes: Record<string, unknown>): string {
  return [OTEL_ATTRIBUTE.code, OTEL_ATTRIBUTE.codename, OTEL_ATTRIBUTE.category, OTEL_ATTRIBUTE.initiator].map((k) => String(attributes[k])).join(' ');
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function server(setup: (wss: WebSocketServer, http: Server) => void): Promise<{ port: number; wss: WebSocketServer }> {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  setup(wss, http);
  wss.on('connection', (ws) => {
    ws.on('message', (m) => {
      const close = /^!close (\d+)$/.exec(textOf(m));
      if (close) ws.close(Number(close[1]));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
  return { port: (http.address() as AddressInfo).port, wss };
}

function client(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('OpenTelemetry metrics', () => {
  it('exports the same closes as OTel data points with the SPEC names, units and attributes', async () => {
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const registry = new Registry();
    const recorder = createRecorder({ registry, codes: { 4001: 'AUTH_EXPIRED' } });
    const { port } = await server((wss, http) => {
      http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
      instrument(wss, { recorder, meterProvider });
    });
    const a = await client(port);
    const b = await client(port);
    const c = await client(port);
    const d = await client(port);
    const e = await client(port);
    a.close(1000);
    b.close(4001);
    c.close(4001);
    d.terminate();
    e.send('!close 1011');
    await waitFor(() => recorder.totals().closed === 5, 'five closes');

    const m = await otelMetrics(reader);
    const closes = m.get(OTEL_METRIC.closes)!;
    expect(closes.descriptor.unit).toBe('{close}');
    const counts = Object.fromEntries(closes.dataPoints.map((p) => [attributeKey(p.attributes), p.value]));
    expect(counts).toEqual({
      '1000 CLOSE_NORMAL standard client': 1,
      '4001 AUTH_EXPIRED application client': 2,
      '1006 CLOSE_ABNORMAL standard client': 1,
      '1011 INTERNAL_ERROR standard server': 1,
    });
    for (const p of closes.dataPoints) expect(typeof p.attributes[OTEL_ATTRIBUTE.code]).toBe('number');

    const active = m.get(OTEL_METRIC.active)!;
    expect(active.dataPoints.map((p) => p.value)).toEqual([0]);

    const duration = m.get(OTEL_METRIC.duration)!;
    expect(duration.descriptor.unit).toBe('s');
    const histogram = duration.dataPoints as DataPoint<HistogramValue>[];
    expect(histogram.map((p) => p.value.count).reduce((x, y) => x + y)).toBe(5);
    expect(histogram[0]!.value.buckets.boundaries).toEqual(DURATION_BUCKETS_SECONDS);

    // The Prometheus side saw exactly the same closes.
    expect(closesByLabels(parseExposition(await registry.metrics()))).toEqual({
      '1000 CLOSE_NORMAL standard client': 1,
      '4001 AUTH_EXPIRED application client': 2,
      '1006 CLOSE_ABNORMAL standard client': 1,
      '1011 INTERNAL_ERROR standard server': 1,
    });
    await meterProvider.shutdown();
  });

  it('with no SDK installed nothing is bridged and nothing throws', async () => {
    const registry = new Registry();
    const recorder = createRecorder({ registry });
    // The global provider is the API's no-op one: no bridge at all.
    expect(OtelBridge.create(recorder)).toBeUndefined();
    const errors: Error[] = [];
    const { port } = await server((wss, http) => {
      http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
      instrument(wss, { recorder, onError: (err) => errors.push(err) });
    });
    const ws = await client(port);
    ws.close(4000);
    await waitFor(() => recorder.totals().closed === 1, 'the close');
    expect(errors).toEqual([]);
  });

  it('carries constant labels as attributes', async () => {
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const { port } = await server((wss, http) => {
      http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
      instrument(wss, { registry: new Registry(), meterProvider, labels: { server: 'chat' } });
    });
    const ws = await client(port);
    ws.close(1000);
    await waitFor(async () => ((await otelMetrics(reader)).get(OTEL_METRIC.closes)?.dataPoints.length ?? 0) === 1, 'one close');
    const [point] = (await otelMetrics(reader)).get(OTEL_METRIC.closes)!.dataPoints;
    expect(point!.attributes).toMatchObject({ server: 'chat', [OTEL_ATTRIBUTE.code]: 1000 });
    await meterProvider.shutdown();
  });
});

describe('OpenTelemetry counters observed from the recorders', () => {
  function closeCounts(m: Map<string, MetricData>): Record<string, number> {
    return Object.fromEntries((m.get(OTEL_METRIC.closes)?.dataPoints ?? []).map((p) => [attributeKey(p.attributes), p.value as number]));
  }

  it('two servers on one recorder: each close counted once, the open ones in active', async () => {
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const recorder = createRecorder({ registry: new Registry() });
    const hooks: ReturnType<typeof instrument>[] = [];
    const setup = (wss: WebSocketServer, http: Server): void => {
      http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
      hooks.push(instrument(wss, { recorder, meterProvider }));
    };
    const one = await server(setup);
    const two = await server(setup);
    const a = await client(one.port);
    const b = await client(two.port);
    const c = await client(two.port);
    cleanups.push(() => c.terminate());
    await waitFor(() => recorder.totals().opened === 3, 'three opens');
    expect((await otelMetrics(reader)).get(OTEL_METRIC.active)!.dataPoints.map((p) => p.value)).toEqual([3]);
    a.close(1000);
    b.close(1000);
    await waitFor(() => recorder.totals().closed === 2, 'two closes');
    const m = await otelMetrics(reader);
    expect(closeCounts(m)).toEqual({ '1000 CLOSE_NORMAL standard client': 2 });
    expect(m.get(OTEL_METRIC.active)!.dataPoints.map((p) => p.value)).toEqual([1]);
    expect((m.get(OTEL_METRIC.duration)!.dataPoints as DataPoint<HistogramValue>[]).map((p) => p.value.count)).toEqual([2]);
    for (const hook of hooks) hook.uninstall();
    await meterProvider.shutdown();
  });

  it('two registries (same attribute sets) on one provider add up, as synchronous counters would', async () => {
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const recorders = [createRecorder({ registry: new Registry() }), createRecorder({ registry: new Registry() })];
    const ports: number[] = [];
    for (const recorder of recorders) {
      const { port } = await server((wss, http) => {
        http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
        instrument(wss, { recorder, meterProvider });
      });
      ports.push(port);
    }
    for (const port of [...ports, ports[0]!]) (await client(port)).close(4001);
    await waitFor(() => recorders[0]!.totals().closed === 2 && recorders[1]!.totals().closed === 1, 'three closes');
    expect(closeCounts(await otelMetrics(reader))).toEqual({ '4001 APPLICATION application client': 3 });
    await meterProvider.shutdown();
  });

  it('uninstall() of the last hook stops the observation; a new hook starts it again', async () => {
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const recorder = createRecorder({ registry: new Registry() });
    let wssRef: WebSocketServer | undefined;
    const { port } = await server((wss, http) => {
      http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
      wssRef = wss;
    });
    const first = instrument(wssRef!, { recorder, meterProvider });
    (await client(port)).close(1000);
    await waitFor(() => recorder.totals().closed === 1, 'the close');
    expect(closeCounts(await otelMetrics(reader))).toEqual({ '1000 CLOSE_NORMAL standard client': 1 });
    first.uninstall();
    // Recorded while no hook bridges the recorder to the provider: not observed.
    recorder.recordOpen();
    recorder.recordClose(4000, INITIATOR_SERVER, 1);
    expect(closeCounts(await otelMetrics(reader))['4000 APPLICATION application server']).toBeUndefined();
    const second = instrument(wssRef!, { recorder, meterProvider });
    (await client(port)).close(1001);
    await waitFor(() => recorder.totals().closed === 3, 'the third close');
    expect(closeCounts(await otelMetrics(reader))).toEqual({
      '1000 CLOSE_NORMAL standard client': 1,
      '1001 CLOSE_GOING_AWAY standard client': 1,
      '4000 APPLICATION application server': 1,
    });
    second.uninstall();
    await meterProvider.shutdown();
  });
});

describe('OpenTelemetry span event', () => {
  const contextManager = new AsyncLocalStorageContextManager();
  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  afterAll(() => {
    context.disable();
  });

  it('adds websocket.close to the upgrade span while it records, and nothing once it has ended', async () => {
    const exporter = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const spans: ReturnType<typeof tracer.startSpan>[] = [];
    const { port } = await server((wss, http) => {
      http.on('upgrade', (req, socket, head) => {
        // What an http instrumentation would do: the upgrade runs inside a request span.
        const span = tracer.startSpan(`GET ${req.url}`);
        spans.push(span);
        context.with(trace.setSpan(context.active(), span), () => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
      });
      instrument(wss, { registry: new Registry(), meterProvider });
    });
    const live = await client(port);
    const ended = await client(port);
    spans[1]!.end(); // this one's span is over before its socket closes
    live.close(4002);
    ended.close(4003);
    await waitFor(async () => ((await otelMetrics(reader)).get(OTEL_METRIC.closes)?.dataPoints.length ?? 0) === 2, 'two closes');
    spans[0]!.end();
    const finished = exporter.getFinishedSpans();
    expect(finished).toHaveLength(2);
    const [first, second] = [
      finished.find((s) => s.spanContext().spanId === spans[0]!.spanContext().spanId)!,
      finished.find((s) => s.spanContext().spanId === spans[1]!.spanContext().spanId)!,
    ];
    expect(first.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        OTEL_CLOSE_EVENT,
        {
          [OTEL_ATTRIBUTE.code]: 4002,
          [OTEL_ATTRIBUTE.codename]: 'APPLICATION',
          [OTEL_ATTRIBUTE.category]: 'application',
          [OTEL_ATTRIBUTE.initiator]: 'client',
        },
      ],
    ]);
    expect(second.events).toEqual([]);
    await meterProvider.shutdown();
  });
});
