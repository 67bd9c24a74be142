/**
 * Case 12: the per-connection cost of reconnect tracking in agent mode
 * (--client-key): the client key hashed at open (keyed BLAKE2s), looked up in
 * the table of recent endings, and put back at close, on top of recording the
 * connection's open and close. Two key mixes: a pool of 4,096 clients that
 * keep reconnecting (every connection after the first of a key is a
 * reconnect, counted in the delay histogram), and distinct keys only, at a
 * full table (--reconnect-max-keys 100000: every ending evicts the oldest).
 * The baseline is the same recording without tracking, in the same rounds.
 */
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { agentReconnectTracking } from '../../dist/esm/agent/reconnects.js';
import { TIME_ORIGIN } from '../../dist/esm/recorder/reconnects.js';
import { createRecorder } from '../../dist/esm/recorder/registry.js';
import { MASK, buildWorkload, calibrate, timePerCallNs } from '../lib/close-workload.mjs';
import { compareRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';

export const id = 12;
export const title = 'reconnect tracking cost';

const TARGET_NS = 2000;

/** The client keys of the two mixes: addresses of a pool that reconnects, and distinct ones. */
function buildKeys() {
  return { pool: Array.from({ length: MASK + 1 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`) };
}

function createUntracked({ codes, initiators }) {
  const recorder = createRecorder({ registry: new Registry() });
  return (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & MASK;
      const start = performance.now();
      recorder.recordOpen();
      recorder.recordClose(codes[k], initiators[k], (performance.now() - start) / 1000);
    }
  };
}

function createTracked({ codes, initiators }, keyOf) {
  const registry = new Registry();
  const recorder = createRecorder({ registry });
  const tracking = agentReconnectTracking({ clientKey: { source: 'ip' }, reconnectWindowMs: 60_000, reconnectMaxKeys: 100_000 }, recorder);
  const { tracker } = tracking;
  let serial = 0;
  const fn = (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & MASK;
      const start = performance.now();
      recorder.recordOpen();
      const hash = tracker.open(keyOf(k, serial++), TIME_ORIGIN + start);
      const end = performance.now();
      recorder.recordClose(codes[k], initiators[k], (end - start) / 1000);
      tracker.close(hash, codes[k], TIME_ORIGIN + end);
    }
  };
  fn.tracking = tracking;
  fn.registry = registry;
  return fn;
}

export async function run(ctx) {
  const { rounds, sampleMs } = ctx.quick ? { rounds: 7, sampleMs: 60 } : { rounds: 21, sampleMs: 120 };
  const workload = buildWorkload();
  const { pool } = buildKeys();
  const none = createUntracked(workload);
  const reconnecting = createTracked(workload, (k) => pool[k]);
  const distinct = createTracked(workload, (_k, serial) => `198.51.${serial & 255}.${(serial >> 8) & 255}:${serial >>> 16}`);
  // The distinct-key variant builds a string per connection; the baseline for it builds the same string.
  let sink = 0;
  const noneWithKey = (n) => {
    none(n);
    for (let i = 0; i < n; i++) sink += `198.51.${i & 255}.${(i >> 8) & 255}:${i >>> 16}`.length;
  };
  // Fill the table first: every later ending evicts the oldest.
  distinct(120_000);
  const nNone = calibrate(none, sampleMs);
  const nNoneKey = calibrate(noneWithKey, sampleMs);
  const nRe = calibrate(reconnecting, sampleMs);
  const nDistinct = calibrate(distinct, sampleMs);
  const { samples } = await runInterleaved(
    [
      { name: 'none', run: async () => timePerCallNs(none, nNone) },
      { name: 'noneKey', run: async () => timePerCallNs(noneWithKey, nNoneKey) },
      { name: 'reconnecting', run: async () => timePerCallNs(reconnecting, nRe) },
      { name: 'distinct', run: async () => timePerCallNs(distinct, nDistinct) },
    ],
    { rounds, deadline: ctx.deadline },
  );
  let reconnects = 0;
  for (const m of (await reconnecting.registry.metrics()).matchAll(/^websocket_reconnects_total\{[^}]*\} (\d+)$/gm)) reconnects += Number(m[1]);
  const table = distinct.tracking.sink.table;
  if (sink < 0) throw new Error('unreachable');
  const cost = ({ ours, baseline }) => ours - baseline <= TARGET_NS;
  return [
    compareRow({
      caseId: id,
      name: 'reconnect tracking: ns per connection, 4,096 reconnecting clients (ratio vs no tracking)',
      unit: 'ns',
      oursLabel: 'tracked',
      baselineLabel: 'untracked',
      ours: samples.reconnecting,
      baseline: samples.none,
      target: `≤ ${TARGET_NS} ns more`,
      check: cost,
      note: `reconnects counted: ${reconnects.toLocaleString('en-US')}`,
    }),
    compareRow({
      caseId: id,
      name: 'reconnect tracking: ns per connection, distinct keys at a full table (100,000)',
      unit: 'ns',
      oursLabel: 'tracked',
      baselineLabel: 'untracked',
      ours: samples.distinct,
      baseline: samples.noneKey,
      target: `≤ ${TARGET_NS} ns more`,
      check: cost,
      note: `table size at the end: ${table.size.toLocaleString('en-US')} (bound 100,000)`,
    }),
  ];
}
