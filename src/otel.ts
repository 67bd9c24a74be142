/**
 * The OpenTelemetry bridge (SPEC section 5): the same closes as OTel
 * instruments, through @opentelemetry/api only. OpenTelemetry has no
 * WebSocket semantic conventions yet; these names are the project's own.
 */
import {
  createNoopMeter,
  metrics,
  type Attributes,
  type Counter,
  type Histogram,
  type MeterProvider,
  type Span,
  type UpDownCounter,
} from '@opentelemetry/api';
import { DURATION_BUCKETS_SECONDS, INITIATORS } from './metric-names.js';
import type { CloseRecorder } from './metrics.js';
import { VERSION } from './version.js';

export const OTEL_METRIC = {
  closes: 'websocket.server.connection.closes',
  active: 'websocket.server.active_connections',
  duration: 'websocket.server.connection.duration',
} as const;

export const OTEL_ATTRIBUTE = {
  code: 'websocket.close.code',
  codename: 'websocket.close.codename',
  category: 'websocket.close.category',
  initiator: 'websocket.close.initiator',
} as const;

/** The span event added to the upgrade request's span, while it still records. */
export const OTEL_CLOSE_EVENT = 'websocket.close';

const NOOP_COUNTER = createNoopMeter().createCounter('noop').constructor;

export class OtelBridge {
  private readonly closes: Counter;
  private readonly active: UpDownCounter;
  private readonly duration: Histogram;
  private readonly baseAttributes: Attributes;
  // Attribute objects per (recorder slot, initiator), built on first use.
  private readonly attributes: (Attributes | undefined)[] = [];

  private constructor(
    provider: MeterProvider,
    private readonly recorder: CloseRecorder,
  ) {
    const meter = provider.getMeter('ws-close-agent', VERSION);
    this.closes = meter.createCounter(OTEL_METRIC.closes, { unit: '{close}', description: 'WebSocket connections closed, by close code, codename, category and initiator.' });
    this.active = meter.createUpDownCounter(OTEL_METRIC.active, { unit: '{connection}', description: 'WebSocket connections currently open.' });
    this.duration = meter.createHistogram(OTEL_METRIC.duration, {
      unit: 's',
      description: 'WebSocket connection lifetime from handshake to close.',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    });
    this.baseAttributes = { ...recorder.labels };
  }

  /**
   * A bridge for `provider` (default: the global one), or undefined when it is
   * the API's no-op provider: then recording costs nothing at all. Register the
   * SDK before calling instrument() for its meters to be used.
   */
  static create(recorder: CloseRecorder, provider: MeterProvider = metrics.getMeterProvider()): OtelBridge | undefined {
    const bridge = new OtelBridge(provider, recorder);
    return bridge.closes.constructor === NOOP_COUNTER ? undefined : bridge;
  }

  recordOpen(): void {
    this.active.add(1, this.baseAttributes);
  }

  /** After recorder.recordClose(), with the slot it returned. */
  recordClose(slot: number, initiator: number, durationSeconds: number, span: Span | undefined): void {
    const key = slot * INITIATORS.length + initiator;
    let attributes = this.attributes[key];
    if (attributes === undefined) {
      const labels = this.recorder.slotLabels(slot);
      attributes = { ...this.baseAttributes };
      // Codes folded into a range (over the cap, or outside 1000-1015/3000-4999) carry no code attribute, as in Prometheus.
      if (/^\d+$/.test(labels.code)) attributes[OTEL_ATTRIBUTE.code] = Number(labels.code);
      attributes[OTEL_ATTRIBUTE.codename] = labels.codename;
      attributes[OTEL_ATTRIBUTE.category] = labels.category;
      attributes[OTEL_ATTRIBUTE.initiator] = INITIATORS[initiator] as string;
      this.attributes[key] = attributes;
    }
    this.closes.add(1, attributes);
    this.active.add(-1, this.baseAttributes);
    this.duration.record(durationSeconds, attributes);
    if (span !== undefined && span.isRecording()) span.addEvent(OTEL_CLOSE_EVENT, attributes);
  }
}
