/**
 * The app's OpenTelemetry globals, read without importing @opentelemetry/api:
 * it is an optional peer, and apps without it load the hook all the same.
 * Every copy of the API 1.x registers its globals (the meter provider, the
 * context manager) on one versioned object on globalThis, so that copies
 * share them; this reads that object the way the API's own
 * `metrics.getMeterProvider()` and `trace.getActiveSpan()` do.
 */
import type { Context, MeterProvider, Span } from '@opentelemetry/api';

const API_KEY = Symbol.for('opentelemetry.js.api.1');
/** The context key the API stores the active span under (`createContextKey` makes it with Symbol.for). */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');

interface OtelGlobal {
  metrics?: MeterProvider;
  context?: { active(): Context };
}

function otelGlobal(): OtelGlobal | undefined {
  const value = (globalThis as Record<symbol, unknown>)[API_KEY];
  return typeof value === 'object' && value !== null ? value : undefined;
}

/** The meter provider the app registered (metrics.setGlobalMeterProvider), or undefined: then nothing is recorded through OTel. */
export function globalMeterProvider(): MeterProvider | undefined {
  return otelGlobal()?.metrics;
}

/** The span active in the current context, as trace.getActiveSpan() returns it. */
export function activeSpan(): Span | undefined {
  const span = otelGlobal()?.context?.active().getValue(SPAN_KEY);
  return span === undefined || span === null ? undefined : (span as Span);
}
