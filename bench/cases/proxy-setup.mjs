/**
 * Case 5: connection setup + close through each proxy. Twenty client loops
 * open a connection, close it (1000, client first) and start over; rate is
 * completed connections per second, CPU the proxy processes' own time per
 * connection over the same window. The rows against nginx also carry the
 * bare Node relay (the floor) from the same rounds.
 */
import { startProxyFleet } from '../lib/proxy-fleet.mjs';
import { compareRow, skippedRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';

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
    const rate = {};
    const cpu = {};
    const errors = {};
    for (const [name, results] of Object.entries(samples)) {
      rate[name] = results.map((r) => r.connections / r.seconds);
      cpu[name] = results.map((r) => (r.cpu / r.connections) * 1e6);
      errors[name] = results.reduce((n, r) => n + r.errors, 0);
    }
    const errorNote = `${rounds} rounds, ${CONCURRENCY} client loops; client errors: ${Object.entries(errors)
      .map(([n, e]) => `${n} ${e}`)
      .join(', ')}`;
    const rows = [];
    for (const v of fleet.variants) {
      const base = { caseId: id, oursLabel: v.agent };
      const floor = (values, better) => ({ label: v.relay, values, better });
      if (cpu.nginx) {
        rows.push(
          compareRow({
            ...base,
            name: `setup+close: proxy CPU per connection, agent vs nginx${v.suffix}`,
            unit: 'µs',
            baselineLabel: 'nginx',
            ours: cpu[v.agent],
            baseline: cpu.nginx,
            target: 'ratio ≤ 1.5',
            check: ({ ratio }) => ratio <= 1.5,
            floor: floor(cpu[v.relay], 'lower'),
          }),
          compareRow({
            ...base,
            name: `setup+close: connections/s, agent vs nginx${v.suffix}`,
            unit: '/s',
            baselineLabel: 'nginx',
            ours: rate[v.agent],
            baseline: rate.nginx,
            target: 'ratio ≥ 0.9',
            check: ({ ratio }) => ratio >= 0.9,
            floor: floor(rate[v.relay], 'higher'),
            note: errorNote,
          }),
        );
      } else {
        rows.push(skippedRow({ caseId: id, name: `setup+close vs nginx${v.suffix}`, reason: fleet.nginxSkip }));
      }
      if (cpu['http-proxy']) {
        rows.push(
          compareRow({
            ...base,
            name: 'setup+close: proxy CPU per connection, agent vs http-proxy',
            unit: 'µs',
            baselineLabel: 'http-proxy',
            ours: cpu[v.agent],
            baseline: cpu['http-proxy'],
          }),
          compareRow({
            ...base,
            name: 'setup+close: connections/s, agent vs http-proxy',
            unit: '/s',
            baselineLabel: 'http-proxy',
            ours: rate[v.agent],
            baseline: rate['http-proxy'],
          }),
        );
      }
      rows.push(
        compareRow({
          ...base,
          name: `setup+close: connections/s, agent vs direct${v.suffix}`,
          unit: '/s',
          baselineLabel: 'direct',
          ours: rate[v.agent],
          baseline: rate.direct,
          note: cpu.nginx ? undefined : errorNote,
        }),
      );
    }
    return rows;
  } finally {
    await fleet.stop();
  }
}
