/**
 * Case 6: added latency. One connection per target sends a 64-byte message
 * and waits for its echo, again and again, in batches of 250 that alternate
 * between the targets (so that all of them see the same neighbours); p50 and
 * p99 of the round trip through each proxy minus the direct one, per round.
 * The rows against nginx also carry the bare Node relay (the floor).
 */
import { agentRow, startProxyFleet } from '../lib/proxy-fleet.mjs';
import { skippedRow } from '../lib/rows.mjs';
import { pairDifferences, runInterleaved } from '../lib/rounds.mjs';
import { summarize } from '../../harness/stats.mjs';

export const id = 6;
export const title = 'proxy added latency';

/** The quantiles compared, and how far above what nginx adds the agent may add. */
const QUANTILES = [
  { p: 'p50', overNginxUs: 10 },
  { p: 'p99', overNginxUs: 30 },
];

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 3, samples: 2000 } : { rounds: 7, samples: 8000 };
  const fleet = await startProxyFleet({ agentNodeArgs: ctx.agentNodeArgs, nodes: ctx.nodes });
  try {
    const names = fleet.targets.map((t) => t.name);
    const request = () =>
      fleet.client.request('latency', { urls: fleet.targets.map((t) => t.url), samples: s.samples, batch: 250, warmup: 300, size: 64, maxMs: 20_000 });
    const { samples: rawRounds, rounds } = await runInterleaved([{ name: 'all', run: request }], { rounds: s.rounds, deadline: ctx.deadline, warmupRounds: 1 });
    const samples = Object.fromEntries(names.map((n, i) => [n, rawRounds.all.map((perTarget) => perTarget[i])]));
    const roundTrips = (name, p) => samples[name].map((r) => r[p]);
    // Per quantile and target, what the target adds to the direct round trip, round by round.
    const added = Object.fromEntries(
      QUANTILES.map(({ p }) => [p, Object.fromEntries(names.map((n) => [n, pairDifferences(roundTrips(n, p), roundTrips('direct', p))]))]),
    );
    const direct = (p) => summarize(roundTrips('direct', p)).median.toFixed(0);
    const note = `${rounds} rounds of ${s.samples} round trips; direct p50 ${direct('p50')} µs, p99 ${direct('p99')} µs`;
    const rows = [];
    for (const v of fleet.variants) {
      if (samples.nginx) {
        for (const { p, overNginxUs } of QUANTILES) {
          rows.push(
            agentRow(id, v, added[p], 'nginx', {
              measure: `latency: ${p} added to a 64 B round trip`,
              unit: 'µs',
              target: `≤ nginx + ${overNginxUs} µs`,
              check: ({ ours, baseline }) => ours <= baseline + overNginxUs,
              better: 'lower',
              note: p === 'p50' ? note : undefined,
            }),
          );
        }
      } else {
        rows.push(skippedRow({ caseId: id, name: `latency vs nginx${v.suffix}`, reason: fleet.nginxSkip }));
      }
      if (samples['http-proxy']) {
        rows.push(
          agentRow(id, v, added.p50, 'http-proxy', { measure: 'latency: p50 added', unit: 'µs', note: samples.nginx ? undefined : note }),
          agentRow(id, v, added.p99, 'http-proxy', { measure: 'latency: p99 added', unit: 'µs' }),
        );
      }
    }
    return rows;
  } finally {
    await fleet.stop();
  }
}
