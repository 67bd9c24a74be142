/**
 * The OpenTelemetry bridge: the same closes as OTel instruments, through
 * @opentelemetry/api only. OpenTelemetry has no WebSocket semantic
 * conventions yet; these names are the project's own (docs/metrics.md).
 *
 * Only the duration histogram is recorded per close. The closes counter and
 * the active-connections up-down counter are observed from the recorder's
 * own counts when the SDK collects (asynchronous instruments): with the SDK,
 * every recorded measurement hashes its attribute set, so two synchronous
 * counters would cost more per connection than the histogram itself. The
 * exported data points are the same (a monotonic and a non-monotonic
 * cumulative sum per attribute set).
 */
import type { Attributes, BatchObservableResult, Histogram, Meter, MeterProvider, Observable, Span } from '@opentelemetry/api';
import { globalMeterProvider } from './otel-global.js';
import { DURATION_BUCKETS_SECONDS, HANDSHAKE_BUCKETS_SECONDS, INITIATORS, LABEL, RECONNECT_DELAY_BUCKETS_SECONDS } from './codes/vocabulary.js';
import type { SeriesSource } from './recorder/family.js';
import type { CloseRecorder, CloseSeries } from './recorder/recorder.js';
import { VERSION } from './version.js';

export const OTEL_METRIC = {
  closes: 'websocket.server.connection.closes',
  active: 'websocket.server.active_connections',
  duration: 'websocket.server.connection.duration',
  abnormalClosures: 'websocket.server.abnormal_closures',
  closeHandshakeDuration: 'websocket.server.close_handshake.duration',
  closeHandshakesUnanswered: 'websocket.server.close_handshakes.unanswered',
  reconnects: 'websocket.server.reconnects',
  reconnectDelay: 'websocket.server.reconnect.delay',
} as const;

export const OTEL_ATTRIBUTE = {
  code: 'websocket.close.code',
  codename: 'websocket.close.codename',
  category: 'websocket.close.category',
  initiator: 'websocket.close.initiator',
  side: 'websocket.close.side',
  cause: 'websocket.close.cause',
  previousCodename: 'websocket.reconnect.previous_codename',
} as const;

/** The attribute of each Prometheus label of the explaining families (constant labels keep their names). */
const ATTRIBUTE_OF_LABEL: Readonly<Record<string, string>> = {
  [LABEL.side]: OTEL_ATTRIBUTE.side,
  [LABEL.cause]: OTEL_ATTRIBUTE.cause,
  [LABEL.initiator]: OTEL_ATTRIBUTE.initiator,
  [LABEL.previousCodename]: OTEL_ATTRIBUTE.previousCodename,
};

/** The counters observed from a recorder's own series at collection: instrument name -> the recorder's source. */
const OBSERVED_COUNTERS = [
  {
    name: OTEL_METRIC.abnormalClosures,
    unit: '{close}',
    description: 'WebSocket connections closed without a close frame (1006), by the side whose transport ended first and cause.',
    source: 'abnormalClosuresTotal',
  },
  {
    name: OTEL_METRIC.closeHandshakesUnanswered,
    unit: '{handshake}',
    description: 'WebSocket close frames that got no close frame back before the transport ended, by initiator.',
    source: 'closeHandshakesUnansweredTotal',
  },
  {
    name: OTEL_METRIC.reconnects,
    unit: '{connection}',
    description: 'WebSocket connections from a client key whose previous connection ended within the reconnect window, by how it ended.',
    source: 'reconnectsTotal',
  },
] as const;

/** The span event added to the upgrade request's span, while it still records. */
export const OTEL_CLOSE_EVENT = 'websocket.close';

/** The API's no-op histogram class (a provider passed explicitly may be the no-op one). */
const NOOP_HISTOGRAM = 'NoopHistogramMetric';

/** A stable identity for an attribute set (several recorders may observe the same one: their counts add up). */
function attributesKey(attributes: Attributes): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The instruments of one MeterProvider and the bridges (recorders) they
 * observe: one batch callback per provider, which sums the counts of every
 * recorder bridged to it, so that two recorders with the same attribute
 * sets (say, two registries) add up as the synchronous counters did.
 */
class ProviderInstruments {
  readonly closes: Observable;
  readonly active: Observable;
  readonly observed: Observable[];
  readonly handshakeDuration: Histogram;
  readonly reconnectDelay: Histogram;
  readonly bridges = new Map<CloseRecorder, OtelBridge>();

  constructor(
    private readonly meter: Meter,
    readonly duration: Histogram,
  ) {
    this.closes = meter.createObservableCounter(OTEL_METRIC.closes, {
      unit: '{close}',
      description: 'WebSocket connections closed, by close code, codename, category and initiator.',
    });
    this.active = meter.createObservableUpDownCounter(OTEL_METRIC.active, { unit: '{connection}', description: 'WebSocket connections currently open.' });
    this.observed = OBSERVED_COUNTERS.map(({ name, unit, description }) => meter.createObservableCounter(name, { unit, description }));
    this.handshakeDuration = meter.createHistogram(OTEL_METRIC.closeHandshakeDuration, {
      unit: 's',
      description: 'WebSocket close handshakes, from the first close frame to the end of both transports, by initiator.',
      advice: { explicitBucketBoundaries: [...HANDSHAKE_BUCKETS_SECONDS] },
    });
    this.reconnectDelay = meter.createHistogram(OTEL_METRIC.reconnectDelay, {
      unit: 's',
      description: "Delay from the end of a client key's previous connection to its reconnect, by how the previous one ended.",
      advice: { explicitBucketBoundaries: [...RECONNECT_DELAY_BUCKETS_SECONDS] },
    });
    meter.addBatchObservableCallback(this.observe, [this.closes, this.active, ...this.observed]);
  }

  private readonly observe = (result: BatchObservableResult): void => {
    const closes = new Map<string, { attributes: Attributes; value: number }>();
    const active = new Map<string, { attributes: Attributes; value: number }>();
    const add = (into: typeof closes, key: string, attributes: Attributes, value: number): void => {
      const sum = into.get(key);
      if (sum === undefined) into.set(key, { attributes, value });
      else sum.value += value;
    };
    for (const bridge of this.bridges.values()) {
      bridge.forEachClose((key, attributes, count) => add(closes, key, attributes, count));
      add(active, bridge.baseKey, bridge.baseAttributes, bridge.activeConnections());
    }
    for (const { attributes, value } of closes.values()) result.observe(this.closes, value, attributes);
    for (const { attributes, value } of active.values()) result.observe(this.active, value, attributes);
    OBSERVED_COUNTERS.forEach(({ source }, i) => {
      const sums = new Map<string, { attributes: Attributes; value: number }>();
      for (const bridge of this.bridges.values()) bridge.forEachSeries(source, (key, attributes, value) => add(sums, key, attributes, value));
      const instrument = this.observed[i] as Observable;
      for (const { attributes, value } of sums.values()) result.observe(instrument, value, attributes);
    });
  };

  /** Stop observing once no bridge is left. */
  close(): void {
    this.meter.removeBatchObservableCallback(this.observe, [this.closes, this.active, ...this.observed]);
  }
}

const byProvider = new WeakMap<MeterProvider, ProviderInstruments>();

export class OtelBridge {
  readonly baseAttributes: Attributes;
  readonly baseKey: string;
  // Attribute objects (and their keys) per close series, built on first use.
  private readonly attributes = new Map<CloseSeries, { attributes: Attributes; key: string }>();
  // The same for the series of the observed counters, per source and series id.
  private readonly seriesAttributes = new Map<SeriesSource, { attributes: Attributes; key: string }[]>();
  // Attributes for the histograms, per initiator and per codename index.
  private readonly byInitiator: Attributes[];
  private readonly byPrevious: Attributes[] = [];
  /** Hooks using this bridge. */
  private users = 0;

  private constructor(
    private readonly provider: MeterProvider,
    private readonly instruments: ProviderInstruments,
    private readonly recorder: CloseRecorder,
  ) {
    this.baseAttributes = { ...recorder.labels };
    this.baseKey = attributesKey(this.baseAttributes);
    this.byInitiator = INITIATORS.map((initiator) => ({ ...this.baseAttributes, [OTEL_ATTRIBUTE.initiator]: initiator }));
  }

  /**
   * The bridge of `recorder` to `provider` (default: the global one), shared
   * by every hook that feeds that recorder; undefined when the provider is
   * the API's no-op one: then recording costs nothing at all. Register the
   * SDK before calling instrument() for its meters to be used. Each call
   * must be matched by release().
   */
  static create(recorder: CloseRecorder, provider: MeterProvider | undefined = globalMeterProvider()): OtelBridge | undefined {
    if (provider === undefined) return undefined;
    let instruments = byProvider.get(provider);
    if (instruments === undefined) {
      const meter = provider.getMeter('ws-close-agent', VERSION);
      const duration = meter.createHistogram(OTEL_METRIC.duration, {
        unit: 's',
        description: 'WebSocket connection lifetime from handshake to close.',
        advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
      });
      if (duration.constructor.name === NOOP_HISTOGRAM) return undefined;
      instruments = new ProviderInstruments(meter, duration);
      byProvider.set(provider, instruments);
    }
    let bridge = instruments.bridges.get(recorder);
    if (bridge === undefined) {
      bridge = new OtelBridge(provider, instruments, recorder);
      instruments.bridges.set(recorder, bridge);
    }
    bridge.users++;
    return bridge;
  }

  /** A hook no longer records through this bridge (uninstall()); the last one stops its observation. */
  release(): void {
    if (this.users === 0 || --this.users > 0) return;
    this.instruments.bridges.delete(this.recorder);
    if (this.instruments.bridges.size === 0) {
      this.instruments.close();
      byProvider.delete(this.provider);
    }
  }

  /** Connections open in the recorder (what the active up-down counter reports). */
  activeConnections(): number {
    return this.recorder.totals().active;
  }

  /** `visit(key, attributes, count)` for every close series of the recorder with a count. */
  forEachClose(visit: (key: string, attributes: Attributes, count: number) => void): void {
    this.recorder.forEachClose((series, count) => {
      const { attributes, key } = this.attributesOf(series);
      visit(key, attributes, count);
    });
  }

  private attributesOf(series: CloseSeries): { attributes: Attributes; key: string } {
    let entry = this.attributes.get(series);
    if (entry === undefined) {
      const attributes: Attributes = { ...this.baseAttributes };
      // Codes folded into a range (over the cap, or outside 1000-1015/3000-4999) carry no code attribute, as in Prometheus.
      if (/^\d+$/.test(series.code)) attributes[OTEL_ATTRIBUTE.code] = Number(series.code);
      attributes[OTEL_ATTRIBUTE.codename] = series.codename;
      attributes[OTEL_ATTRIBUTE.category] = series.category;
      attributes[OTEL_ATTRIBUTE.initiator] = series.initiator;
      entry = { attributes, key: attributesKey(attributes) };
      this.attributes.set(series, entry);
    }
    return entry;
  }

  /** `visit(key, attributes, value)` for every series the recorder's `source` exports now. */
  forEachSeries(source: (typeof OBSERVED_COUNTERS)[number]['source'], visit: (key: string, attributes: Attributes, value: number) => void): void {
    const series = this.recorder.sources[source];
    let cache = this.seriesAttributes.get(series);
    if (cache === undefined) {
      cache = [];
      this.seriesAttributes.set(series, cache);
    }
    const known = cache;
    series.visit((id, value) => {
      let entry = known[id];
      if (entry === undefined) {
        const attributes: Attributes = {};
        for (const [name, v] of Object.entries(series.sample(id).labels)) attributes[ATTRIBUTE_OF_LABEL[name] ?? name] = v;
        entry = { attributes, key: attributesKey(attributes) };
        known[id] = entry;
      }
      visit(entry.key, entry.attributes, value);
    });
  }

  /** After recorder.recordCloseHandshake(). */
  recordCloseHandshake(initiator: number, seconds: number): void {
    this.instruments.handshakeDuration.record(seconds, this.byInitiator[initiator & 3]);
  }

  /** After recorder.recordReconnect(), with the codename index of the previous close. */
  recordReconnect(previous: number, delaySeconds: number): void {
    let attributes = this.byPrevious[previous];
    if (attributes === undefined) {
      attributes = { ...this.baseAttributes, [OTEL_ATTRIBUTE.previousCodename]: this.recorder.codenameAt(previous) };
      this.byPrevious[previous] = attributes;
    }
    this.instruments.reconnectDelay.record(delaySeconds, attributes);
  }

  /** After recorder.recordClose(), with the series it returned. */
  recordClose(series: CloseSeries, durationSeconds: number, span: Span | undefined): void {
    const { attributes } = this.attributesOf(series);
    this.instruments.duration.record(durationSeconds, attributes);
    if (span !== undefined && span.isRecording()) span.addEvent(OTEL_CLOSE_EVENT, attributes);
  }
}
