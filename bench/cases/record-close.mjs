/**
 * Case 1: the cost of recording one connection's life in the hook path
 * (performance.now() at open and close, recordOpen, recordClose) against the
 * idiomatic prom-client equivalent (opened.inc + active.inc at open;
 * closed.inc(labels) + duration.observe(labels) + active.dec at close).
 * Both replay the same codes, initiators and connection ages. A second row
 * holds today's path to the same path on the recorder's bookkeeping before
 * it explained closes (lib/recorder-before-explain.mjs): explaining must
 * not make plain recording noticeably slower.
 */
// The hook reads the clock through perf_hooks' object (the `performance` global is a getter, run on every access).
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { classify } from '../../dist/esm/codes/close-codes.js';
import { createRecorder } from '../../dist/esm/recorder/registry.js';
import { DURATION_BUCKETS_SECONDS, INITIATORS, metricNames } from '../../dist/esm/codes/vocabulary.js';
import { MASK, NAMED, buildWorkload, calibrate, timePerCallNs } from '../lib/close-workload.mjs';
import { loopCopy } from '../lib/hook-loop.mjs';
import { RecorderBeforeExplain } from '../lib/recorder-before-explain.mjs';
import { compareRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';
import { summarize } from '../../harness/stats.mjs';

export const id = 1;
export const title = 'per-close recording cost';

function createPromClient({ codes, initiators, agesMs }) {
  const registers = [new Registry()];
  const n = metricNames('websocket_');
  const opened = new Counter({ name: n.openedTotal, help: 'opened', registers });
  const active = new Gauge({ name: n.active, help: 'active', registers });
  const closed = new Counter({ name: n.closedTotal, help: 'closed', labelNames: ['code', 'codename', 'category', 'initiator'], registers });
  const duration = new Histogram({ name: n.durationSeconds, help: 'duration', labelNames: ['codename'], buckets: [...DURATION_BUCKETS_SECONDS], registers });
  // What an idiomatic hook would look up per close: the code's names, from a table built once.
  const names = new Map();
  for (const code of new Set(codes)) {
    const c = classify(code, new Map(Object.entries(NAMED).map(([k, v]) => [Number(k), v])));
    names.set(code, c);
  }
  return (count) => {
    for (let i = 0; i < count; i++) {
      const k = i & MASK;
      const start = performance.now() - agesMs[k];
      opened.inc();
      active.inc();
      const code = codes[k];
      const c = names.get(code);
      closed.inc({ code: String(code), codename: c.codename, category: c.category, initiator: INITIATORS[initiators[k]] });
      duration.observe({ codename: c.codename }, (performance.now() - start) / 1000);
      active.dec();
    }
  };
}

/** The clock alone: the two performance.now() calls of the hook path, to tell them from the recorder's share. */
function createClockOnly({ agesMs }) {
  let sink = 0;
  return (n) => {
    for (let i = 0; i < n; i++) {
      const start = performance.now() - agesMs[i & MASK];
      sink += performance.now() - start;
    }
    return sink;
  };
}

export async function run(ctx) {
  const { rounds, sampleMs } = ctx.quick ? { rounds: 7, sampleMs: 60 } : { rounds: 21, sampleMs: 120 };
  const workload = buildWorkload();
  const ours = (await loopCopy('today'))(workload, createRecorder({ registry: new Registry(), codes: NAMED }));
  const before = (await loopCopy('before'))(workload, new RecorderBeforeExplain({ codes: NAMED }));
  const prom = createPromClient(workload);
  const nOurs = calibrate(ours, sampleMs);
  const nBefore = calibrate(before, sampleMs);
  const nProm = calibrate(prom, sampleMs);
  const clock = createClockOnly(workload);
  const nClock = calibrate(clock, sampleMs);
  const { samples } = await runInterleaved(
    [
      { name: 'ours', run: async () => timePerCallNs(ours, nOurs) },
      { name: 'before', run: async () => timePerCallNs(before, nBefore) },
      { name: 'prom-client', run: async () => timePerCallNs(prom, nProm) },
      { name: 'clock', run: async () => timePerCallNs(clock, nClock) },
    ],
    { rounds, deadline: ctx.deadline },
  );
  return [
    compareRow({
      caseId: id,
      name: 'record: ns per connection close (hook path incl. timestamps)',
      unit: 'ns',
      oursLabel: 'hook',
      baselineLabel: 'prom-client',
      ours: samples.ours,
      baseline: samples['prom-client'],
      target: '≤ 150 ns',
      check: ({ ours }) => ours <= 150,
      note: `of which the two performance.now() calls alone: ${summarize(samples.clock).median.toFixed(0)} ns (median)`,
    }),
    compareRow({
      caseId: id,
      name: 'record: ns per connection close, today vs before close explanations',
      unit: 'ns',
      oursLabel: 'today',
      baselineLabel: 'before',
      ours: samples.ours,
      baseline: samples.before,
      target: 'ratio ≤ 1.10',
      check: ({ ratio }) => ratio <= 1.1,
      note: 'before: recordOpen/recordClose as they were before 1006 causes, handshakes and reconnects (lib/recorder-before-explain.mjs)',
    }),
  ];
}
