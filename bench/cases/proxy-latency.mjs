/**
 * Case 6: added latency. One connection per target sends a 64-byte message
 * and waits for its echo, again and again, in batches of 250 that alternate
 * between the targets (so that all of them see the same neighbours); p50 and
 * p99 of the round trip through each proxy minus the direct one, per round.
 * The rows against nginx also carry the bare Node relay (the floor).
 */
import { startProxyFleet } from '../lib/proxy-fleet.mjs';
import { compareRow, skippedRow } from '../lib/rows.mjs';
import { pairDifferences, runInterleaved } from '../lib/rounds.mjs';
import { summarize } from '../../harness/stats.mjs';

export const id = 6;
export const title = 'proxy added latency';

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 3, samples: 2000 } : { rounds: 7, samples: 8000 };
  const fleet = await startProxyFleet({ agentNodeArgs: ctx.agentNodeArgs, nodes: ctx.nodes });
  try {
    const names = fleet.targets.map((t) => t.name);
    const request = () =>
      fleet.client.request('latency', { urls: fleet.targets.map((t) => t.url), samples: s.samples, batch: 250, warmup: 300, size: 64, maxMs: 20_000 });
    const { samples: rawRounds, rounds } = await runInterleaved([{ name: 'all', run: request }], { rounds: s.rounds, deadline: ctx.deadline, warmupRounds: 1 });
    const samples = Object.fromEntries(names.map((n, i) => [n, rawRounds.all.map((perTarget) => perTarget[i])]));
    const added = (name, p) =>
      pairDifferences(
        samples[name].map((r) => r[p]),
        samples.direct.map((r) => r[p]),
      );
    const direct = (p) => summarize(samples.direct.map((r) => r[p])).median.toFixed(0);
    const note = `${rounds} rounds of ${s.samples} round trips; direct p50 ${direct('p50')} µs, p99 ${direct('p99')} µs`;
    const rows = [];
    for (const v of fleet.variants) {
      const base = { caseId: id, unit: 'µs', oursLabel: v.agent };
      const floor = (p) => ({ label: v.relay, values: added(v.relay, p), better: 'lower' });
      if (samples.nginx) {
        rows.push(
          compareRow({
            ...base,
            name: `latency: p50 added to a 64 B round trip, agent vs nginx${v.suffix}`,
            baselineLabel: 'nginx',
            ours: added(v.agent, 'p50'),
            baseline: added('nginx', 'p50'),
            target: '≤ nginx + 10 µs',
            check: ({ ours, baseline }) => ours <= baseline + 10,
            floor: floor('p50'),
            note,
          }),
          compareRow({
            ...base,
            name: `latency: p99 added to a 64 B round trip, agent vs nginx${v.suffix}`,
            baselineLabel: 'nginx',
            ours: added(v.agent, 'p99'),
            baseline: added('nginx', 'p99'),
            target: '≤ nginx + 30 µs',
            check: ({ ours, baseline }) => ours <= baseline + 30,
            floor: floor('p99'),
          }),
        );
      } else {
        rows.push(skippedRow({ caseId: id, name: `latency vs nginx${v.suffix}`, reason: fleet.nginxSkip }));
      }
      if (samples['http-proxy']) {
        rows.push(
          compareRow({
            ...base,
            name: 'latency: p50 added, agent vs http-proxy',
            baselineLabel: 'http-proxy',
            ours: added(v.agent, 'p50'),
            baseline: added('http-proxy', 'p50'),
            note: samples.nginx ? undefined : note,
          }),
          compareRow({
            ...base,
            name: 'latency: p99 added, agent vs http-proxy',
            baselineLabel: 'http-proxy',
            ours: added(v.agent, 'p99'),
            baseline: added('http-proxy', 'p99'),
          }),
        );
      }
    }
    return rows;
  } finally {
    await fleet.stop();
  }
}
