/**
 * Case 9: the per-close cost of the hook's recording with the OpenTelemetry
 * bridge, in the three situations a library user can be in:
 *   (a) no OTel SDK: the API's global meter is the no-op one;
 *   (b) @opentelemetry/sdk-metrics' MeterProvider with a (pull) reader;
 *   (c) Prometheus only (no bridge at all), the baseline.
 * Each replays the same closes through what the hook runs per connection:
 * performance.now() at open and close, recorder.recordOpen/recordClose, and
 * the bridge's recordClose where instrument() creates a bridge (with
 * trace.getActiveSpan() at open, as the hook does when it has one). The SDK
 * side's collection (the observed counters) is not per close and not timed.
 */
import { performance } from 'node:perf_hooks'; // as the hook reads the clock
import { metrics, trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { createRecorder } from '../../dist/esm/recorder/registry.js';
import { OTEL_METRIC, OtelBridge } from '../../dist/esm/otel.js';
import { MASK, NAMED, buildWorkload, calibrate, timePerCallNs } from '../lib/close-workload.mjs';
import { compareRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';

export const id = 9;
export const title = 'otel bridge per-close cost';

/** A pull reader: the SDK aggregates in memory until collect(). */
class PullReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

/** The hook's per-connection recording (Hook.track + onTrackedClose) for `bridge` (undefined: none). */
function createHookPath(recorder, bridge, { codes, initiators, agesMs }) {
  return (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & MASK;
      recorder.recordOpen();
      const span = bridge === undefined ? undefined : trace.getActiveSpan();
      const start = performance.now() - agesMs[k]; // the connection "opened" agesMs ago
      const duration = (performance.now() - start) / 1000;
      const series = recorder.recordClose(codes[k], initiators[k], duration);
      bridge?.recordClose(series, duration, span);
    }
  };
}

/** Closes the SDK's duration histogram counted, as a sanity check that it was recording. */
async function sdkCloses(reader) {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const m of scope.metrics) if (m.descriptor.name === OTEL_METRIC.duration) for (const p of m.dataPoints) total += p.value.count;
  }
  return total;
}

export async function run(ctx) {
  const { rounds, sampleMs } = ctx.quick ? { rounds: 7, sampleMs: 60 } : { rounds: 21, sampleMs: 120 };
  const workload = buildWorkload();
  const recorderFor = () => createRecorder({ registry: new Registry(), codes: NAMED });

  const promRecorder = recorderFor();
  const prometheusOnly = createHookPath(promRecorder, undefined, workload);

  // (a) What instrument() does without meterProvider and without an SDK: the global provider is the API's no-op one.
  const noSdkRecorder = recorderFor();
  const noSdkBridge = OtelBridge.create(noSdkRecorder, metrics.getMeterProvider());
  const noSdk = createHookPath(noSdkRecorder, noSdkBridge, workload);

  // (b) With the SDK (passed as instrument()'s meterProvider option; the global one is left alone).
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  const sdkRecorder = recorderFor();
  const sdkBridge = OtelBridge.create(sdkRecorder, provider);
  if (sdkBridge === undefined) throw new Error('the SDK MeterProvider was taken for the no-op one');
  const sdk = createHookPath(sdkRecorder, sdkBridge, workload);

  const n = {
    prometheus: calibrate(prometheusOnly, sampleMs),
    noSdk: calibrate(noSdk, sampleMs),
    sdk: calibrate(sdk, sampleMs),
  };
  const { samples } = await runInterleaved(
    [
      { name: 'prometheus', run: async () => timePerCallNs(prometheusOnly, n.prometheus) },
      { name: 'noSdk', run: async () => timePerCallNs(noSdk, n.noSdk) },
      { name: 'sdk', run: async () => timePerCallNs(sdk, n.sdk) },
    ],
    { rounds, deadline: ctx.deadline },
  );
  const sdkTotal = await sdkCloses(reader);
  const recorded = sdkRecorder.totals().closed;
  await provider.shutdown();
  if (sdkTotal !== recorded) throw new Error(`the SDK aggregated ${sdkTotal} closes, the recorder ${recorded}`);

  return [
    compareRow({
      caseId: id,
      name: 'otel: ns per close, no SDK (API no-op meter) vs Prometheus only',
      unit: 'ns',
      oursLabel: 'no SDK',
      baselineLabel: 'prometheus',
      ours: samples.noSdk,
      baseline: samples.prometheus,
      target: 'ratio ≤ 1.05 (nothing measurable)',
      check: ({ ratio }) => ratio <= 1.05,
      note: `instrument() makes no bridge when the provider is the API's no-op one (${noSdkBridge === undefined ? 'none made here either' : 'BUT ONE WAS MADE HERE'})`,
    }),
    compareRow({
      caseId: id,
      name: 'otel: ns per close, SDK MeterProvider vs Prometheus only',
      unit: 'ns',
      oursLabel: 'SDK',
      baselineLabel: 'prometheus',
      ours: samples.sdk,
      baseline: samples.prometheus,
      note: `@opentelemetry/sdk-metrics MeterProvider with a pull reader: one histogram record per close (the closes and active counters are observed from the recorder at collection); the SDK's histogram counted all ${sdkTotal.toLocaleString('en-US')} closes`,
    }),
  ];
}
