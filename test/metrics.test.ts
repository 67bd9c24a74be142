import { AggregatorRegistry, Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CloseRecorder } from '../src/recorder/recorder.js';
import { OptionError } from '../src/recorder/options.js';
import { createRecorder } from '../src/recorder/registry.js';
import { INITIATOR_AGENT, INITIATOR_CLIENT, INITIATOR_SERVER, INITIATOR_UNKNOWN, SIDE_CLIENT, SIDE_SERVER } from '../src/codes/vocabulary.js';
import { closesByLabels, parseExposition, checkExposition, sumOf } from './helpers/exposition.js';

async function scrape(registry: Registry) {
  const text = await registry.metrics();
  return { text, samples: parseExposition(text) };
}

describe('CloseRecorder exposition', () => {
  it('renders exact series for recorded closes', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry, codes: { 4001: 'AUTH_EXPIRED' } });
    for (let i = 0; i < 5; i++) r.recordOpen();
    r.recordClose(1000, INITIATOR_CLIENT, 0.05);
    r.recordClose(1006, INITIATOR_CLIENT, 3);
    r.recordClose(4001, INITIATOR_SERVER, 42);
    r.recordClose(2500, INITIATOR_AGENT, 0.2);

    const { text, samples } = await scrape(registry);
    const lines = text.split('\n');
    const want = [
      'websocket_connections_closed_total{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client"} 1',
      'websocket_connections_closed_total{code="1006",codename="CLOSE_ABNORMAL",category="standard",initiator="client"} 1',
      'websocket_connections_closed_total{code="4001",codename="AUTH_EXPIRED",category="application",initiator="server"} 1',
      'websocket_connections_closed_total{code="2000-2999",codename="EXTENSION",category="extension",initiator="agent"} 1',
      'websocket_connections_opened_total 5',
      'websocket_connections_active 1',
      'websocket_connection_duration_seconds_bucket{le="0.1",codename="CLOSE_NORMAL"} 1',
      'websocket_connection_duration_seconds_bucket{le="2.5",codename="CLOSE_ABNORMAL"} 0',
      'websocket_connection_duration_seconds_bucket{le="5",codename="CLOSE_ABNORMAL"} 1',
      'websocket_connection_duration_seconds_bucket{le="+Inf",codename="AUTH_EXPIRED"} 1',
      'websocket_connection_duration_seconds_sum{codename="AUTH_EXPIRED"} 42',
      'websocket_connection_duration_seconds_count{codename="EXTENSION"} 1',
    ];
    expect(
      want.filter((l) => !lines.includes(l)),
      'lines missing from the exposition',
    ).toEqual([]);
    expect(sumOf(samples, 'websocket_connections_closed_total')).toBe(4);
    checkExposition(text);
  });

  it('puts codes outside 1000-1015 and 3000-4999 under their range text', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry });
    const codes = [0, 999, 1016, 1999, 2000, 2999, 5000, 65535, -1, 1.5, Number.NaN, 70000];
    for (const code of codes) {
      r.recordOpen();
      r.recordClose(code, INITIATOR_UNKNOWN, 1);
    }
    const { samples } = await scrape(registry);
    expect(closesByLabels(samples)).toEqual({
      '0-999 UNUSED unused unknown': 2,
      '1016-1999 RESERVED reserved unknown': 2,
      '2000-2999 EXTENSION extension unknown': 2,
      '5000-65535 INVALID invalid unknown': 6,
    });
  });

  it('caps distinct unnamed 3000-4999 codes at maxCustomCodes; named codes keep their own series', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry, maxCustomCodes: 10, codes: { 4499: 'NAMED_LATE' } });
    for (let code = 4000; code < 4500; code++) {
      r.recordOpen();
      r.recordClose(code, INITIATOR_CLIENT, 1);
    }
    for (let code = 3000; code < 3005; code++) {
      r.recordOpen();
      r.recordClose(code, INITIATOR_CLIENT, 1);
    }
    const { text, samples } = await scrape(registry);
    const closes = closesByLabels(samples);
    // 10 own values (4000-4009), the named 4499, and the two range buckets.
    expect(Object.keys(closes)).toHaveLength(13);
    expect(closes['4000-4999 APPLICATION application client']).toBe(500 - 10 - 1);
    expect(closes['3000-3999 FRAMEWORK framework client']).toBe(5);
    expect(closes['4499 NAMED_LATE application client']).toBe(1);
    expect(closes['4009 APPLICATION application client']).toBe(1);
    expect(r.codeLabel(4010)).toBe('4000-4999');
    expect(r.codeLabel(4005)).toBe('4005');
    checkExposition(text);
  });

  it('maxCustomCodes 0 labels every unnamed 3000-4999 code by range', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry, maxCustomCodes: 0 });
    r.recordOpen();
    r.recordClose(4321, INITIATOR_CLIENT, 1);
    expect(closesByLabels((await scrape(registry)).samples)).toEqual({ '4000-4999 APPLICATION application client': 1 });
  });

  it('keeps opened = closed + active, also across registry.resetMetrics()', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry });
    for (let i = 0; i < 7; i++) r.recordOpen();
    for (let i = 0; i < 4; i++) r.recordClose(1000, INITIATOR_CLIENT, 1);
    expect(r.totals()).toEqual({ opened: 7, closed: 4, active: 3 });
    registry.resetMetrics();
    expect(r.totals()).toEqual({ opened: 3, closed: 0, active: 3 });
    r.recordClose(1001, INITIATOR_SERVER, 1);
    const { samples } = await scrape(registry);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(3);
    expect(sumOf(samples, 'websocket_connections_closed_total')).toBe(1);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(2);
  });

  it('counts violations and upgrade failures under fixed label sets', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry });
    r.recordViolation(SIDE_CLIENT, 'short_close_payload');
    r.recordViolation(SIDE_SERVER, 'invalid_code');
    r.recordViolation(SIDE_SERVER, 'invalid_code');
    r.recordViolation(SIDE_CLIENT, 'made-up "kind"\n' as never);
    r.recordUpgradeFailure('over_capacity');
    r.recordUpgradeFailure('nonsense' as never);
    const { text, samples } = await scrape(registry);
    expect(sumOf(samples, 'websocket_protocol_violations_total', { side: 'server', kind: 'invalid_code' })).toBe(2);
    expect(sumOf(samples, 'websocket_protocol_violations_total', { side: 'client', kind: 'short_close_payload' })).toBe(1);
    expect(sumOf(samples, 'websocket_protocol_violations_total', { side: 'client', kind: 'other' })).toBe(1);
    expect(sumOf(samples, 'websocket_upgrade_failures_total', { reason: 'over_capacity' })).toBe(1);
    expect(sumOf(samples, 'websocket_upgrade_failures_total', { reason: 'other' })).toBe(1);
    expect(text).not.toContain('made-up');
    checkExposition(text);
  });

  it('uses the prefix option for every metric name', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry, prefix: 'edge_ws_' });
    r.recordOpen();
    r.recordClose(1000, INITIATOR_CLIENT, 1);
    const names = new Set(parseExposition(await registry.metrics()).map((s) => s.name));
    expect([...names].every((n) => n.startsWith('edge_ws_'))).toBe(true);
    expect(names.has('edge_ws_connections_closed_total')).toBe(true);
  });
});

describe('createRecorder', () => {
  it('returns the same recorder for the same registry and prefix', () => {
    const registry = new Registry();
    const a = createRecorder({ registry, codes: { 4001: 'A_B' } });
    expect(createRecorder({ registry, codes: { 4001: 'A_B' } })).toBe(a);
    expect(createRecorder({ registry, prefix: 'other_' })).not.toBe(a);
  });

  it('refuses a second recorder with different options on the same registry and prefix', () => {
    const registry = new Registry();
    createRecorder({ registry, maxCustomCodes: 5 });
    expect(() => createRecorder({ registry, maxCustomCodes: 6 })).toThrow(expect.objectContaining({ code: 'WS_CLOSE_AGENT_RECORDER_CONFLICT' }));
  });

  it('refuses to shadow a metric the application already registered', () => {
    const registry = new Registry();
    new Counter({ name: 'websocket_connections_opened_total', help: 'x', registers: [registry] });
    expect(() => createRecorder({ registry })).toThrow(expect.objectContaining({ code: 'WS_CLOSE_AGENT_METRIC_CONFLICT' }));
  });

  const bad: [string, object, RegExp][] = [
    ['prefix', { prefix: 'bad-prefix' }, /^prefix must be/],
    ['maxCustomCodes', { maxCustomCodes: -1 }, /^maxCustomCodes must be an integer/],
    ['maxCustomCodes', { maxCustomCodes: 2.5 }, /^maxCustomCodes/],
    ['maxCustomCodes', { maxCustomCodes: 2001 }, /^maxCustomCodes/],
    ['registry', { registry: {} }, /^registry must be a prom-client Registry/],
  ];
  for (const [option, options, message] of bad) {
    it(`rejects a bad ${option} with an error naming it`, () => {
      expect(() => createRecorder({ registry: new Registry(), ...options })).toThrow(OptionError);
      expect(() => createRecorder({ registry: new Registry(), ...options })).toThrow(message);
    });
  }

  it('rejects bad code names with the entry named', () => {
    expect(() => createRecorder({ registry: new Registry(), codes: { 1001: 'AWAY' } })).toThrow(/codes\["1001"\]/);
  });
});

describe('constant label sets', () => {
  it('keeps one set of counters per label set on one registry, each series carrying its labels', async () => {
    const registry = new Registry();
    const chat = createRecorder({ registry, labels: { server: 'chat' } });
    const feed = createRecorder({ registry, labels: { server: 'feed' } });
    expect(createRecorder({ registry, labels: { server: 'chat' } })).toBe(chat);
    expect(feed).not.toBe(chat);
    for (const r of [chat, chat, feed]) {
      r.recordOpen();
      r.recordClose(1000, INITIATOR_CLIENT, 1);
    }
    feed.recordOpen();
    const { text, samples } = await scrape(registry);
    expect(text.split('\n')).toContain(
      'websocket_connections_closed_total{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client",server="chat"} 2',
    );
    expect(text.split('\n')).toContain(
      'websocket_connections_closed_total{code="1000",codename="CLOSE_NORMAL",category="standard",initiator="client",server="feed"} 1',
    );
    expect(sumOf(samples, 'websocket_connections_active', { server: 'feed' })).toBe(1);
    expect(sumOf(samples, 'websocket_connections_opened_total', { server: 'chat' })).toBe(2);
    expect(sumOf(samples, 'websocket_connection_duration_seconds_count', { server: 'chat', codename: 'CLOSE_NORMAL' })).toBe(2);
    checkExposition(text);
  });

  it('rejects label names the metrics use and invalid names or values', () => {
    const registry = new Registry();
    expect(() => createRecorder({ registry, labels: { code: 'x' } })).toThrow(/labels.code: the label name is used by the metrics/);
    expect(() => createRecorder({ registry, labels: { 'bad-name': 'x' } })).toThrow(/labels.bad-name: not a valid Prometheus label name/);
    expect(() => createRecorder({ registry, labels: { server: 7 as never } })).toThrow(/labels.server: the value must be a string/);
  });
});

describe('AggregatorRegistry', () => {
  it('sums counters, the active gauge and the histogram across workers', async () => {
    const workers = [new Registry(), new Registry()];
    const [a, b] = workers.map((registry) => createRecorder({ registry })) as [CloseRecorder, CloseRecorder];
    for (let i = 0; i < 3; i++) a.recordOpen();
    a.recordClose(1000, INITIATOR_CLIENT, 0.5);
    for (let i = 0; i < 2; i++) b.recordOpen();
    b.recordClose(1000, INITIATOR_CLIENT, 2);
    b.recordClose(4000, INITIATOR_SERVER, 20);

    const aggregated = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.getMetricsAsJSON())));
    const text = await aggregated.metrics();
    const samples = parseExposition(text);
    expect(closesByLabels(samples)).toEqual({
      '1000 CLOSE_NORMAL standard client': 2,
      '4000 APPLICATION application server': 1,
    });
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(5);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(2);
    expect(sumOf(samples, 'websocket_connection_duration_seconds_count', { codename: 'CLOSE_NORMAL' })).toBe(2);
    expect(sumOf(samples, 'websocket_connection_duration_seconds_bucket', { codename: 'CLOSE_NORMAL', le: '1' })).toBe(1);
    expect(sumOf(samples, 'websocket_connection_duration_seconds_sum', { codename: 'CLOSE_NORMAL' })).toBe(2.5);
    checkExposition(text);
  });
});

describe('series present from the start', () => {
  it('exports 1000, 1001 and 1006 for client and server at zero before any close, so rate() sees the first one', async () => {
    const registry = new Registry();
    createRecorder({ registry });
    const zero = parseExposition(await registry.metrics()).filter((s) => s.name === 'websocket_connections_closed_total');
    expect(zero.map((s) => `${s.labels.code} ${s.labels.initiator} ${s.value}`).sort()).toEqual([
      '1000 client 0',
      '1000 server 0',
      '1001 client 0',
      '1001 server 0',
      '1006 client 0',
      '1006 server 0',
    ]);
  });
});
