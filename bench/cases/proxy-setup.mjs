/**
 * Case 5: connection setup + close through each proxy. Twenty client loops
 * open a connection, close it (1000, client first) and start over; rate is
 * completed connections per second, CPU the proxy processes' own time per
 * connection over the same window. The rows against nginx also carry the
 * bare Node relay (the floor) from the same rounds.
 */
import { agentRow, startProxyFleet } from '../lib/proxy-fleet.mjs';
import { skippedRow } from '../lib/rows.mjs';
import { mapSamples, runInterleaved } from '../lib/rounds.mjs';

export const id = 5;
export const title = 'proxy connection setup + close';

const CONCURRENCY = 20;

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 2, warmupMs: 150, durationMs: 800, warmRoundMs: 500 } : { rounds: 5, warmupMs: 300, durationMs: 1500, warmRoundMs: 2000 };
  const fleet = await startProxyFleet({ agentNodeArgs: ctx.agentNodeArgs, nodes: ctx.nodes });
  try {
    const variants = fleet.targets.map((t) => ({
      name: t.name,
      run: (round) =>
        fleet.client
          .request('churn', {
            targets: [{ url: t.url, cpuPids: t.pids() }],
            concurrency: CONCURRENCY,
            warmupMs: s.warmupMs,
            durationMs: round < 0 ? s.warmRoundMs : s.durationMs,
          })
          .then((r) => ({ seconds: r.seconds, ...r.targets[0] })),
    }));
    const { samples, rounds } = await runInterleaved(variants, { rounds: s.rounds, deadline: ctx.deadline, warmupRounds: 1 });
    const rate = mapSamples(samples, (r) => r.connections / r.seconds);
    const cpu = mapSamples(samples, (r) => (r.cpu / r.connections) * 1e6);
    const errors = Object.entries(samples).map(([name, results]) => `${name} ${results.reduce((n, r) => n + r.errors, 0)}`);
    const errorNote = `${rounds} rounds, ${CONCURRENCY} client loops; client errors: ${errors.join(', ')}`;
    const cpuRow = { measure: 'setup+close: proxy CPU per connection', unit: 'µs' };
    const rateRow = { measure: 'setup+close: connections/s', unit: '/s' };
    const rows = [];
    for (const v of fleet.variants) {
      if (cpu.nginx) {
        rows.push(
          agentRow(id, v, cpu, 'nginx', { ...cpuRow, target: 'ratio ≤ 1.5', check: ({ ratio }) => ratio <= 1.5, better: 'lower' }),
          agentRow(id, v, rate, 'nginx', { ...rateRow, target: 'ratio ≥ 0.9', check: ({ ratio }) => ratio >= 0.9, better: 'higher', note: errorNote }),
        );
      } else {
        rows.push(skippedRow({ caseId: id, name: `setup+close vs nginx${v.suffix}`, reason: fleet.nginxSkip }));
      }
      if (cpu['http-proxy']) rows.push(agentRow(id, v, cpu, 'http-proxy', cpuRow), agentRow(id, v, rate, 'http-proxy', rateRow));
      rows.push(agentRow(id, v, rate, 'direct', { ...rateRow, note: cpu.nginx ? undefined : errorNote }));
    }
    return rows;
  } finally {
    await fleet.stop();
  }
}
