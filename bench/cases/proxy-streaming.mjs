/**
 * Case 4: echo traffic through each proxy. Every connection keeps `window`
 * messages in flight to a `ws` echo upstream; a message counts when its echo
 * is back (so it crossed the proxy twice). Throughput is echoed messages per
 * second; CPU per message is the proxy processes' own CPU time (nginx: master
 * + worker) over the same window, divided by the echoed messages. Every
 * row against nginx also carries the bare Node relay (the floor) from the
 * same rounds; with several node binaries, one set of rows per binary.
 */
import { agentRow, startProxyFleet } from '../lib/proxy-fleet.mjs';
import { skippedRow } from '../lib/rows.mjs';
import { mapSamples, runInterleaved } from '../lib/rounds.mjs';

export const id = 4;
export const title = 'proxy streaming';

const CONFIGS = [
  { label: '1 KiB × 4 conns', size: 1024, conns: 4, window: 32, cpuTarget: 1 },
  { label: '1 KiB × 16 conns', size: 1024, conns: 16, window: 32, cpuTarget: 1 },
  { label: '64 KiB × 4 conns', size: 65536, conns: 4, window: 4, cpuTarget: 1.5 },
];

const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const pct = (x) => `${Math.round(x * 100)}%`;

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 2, warmupMs: 150, durationMs: 500, warmRoundMs: 300 } : { rounds: 5, warmupMs: 300, durationMs: 1200, warmRoundMs: 1500 };
  const fleet = await startProxyFleet({ agentNodeArgs: ctx.agentNodeArgs, nodes: ctx.nodes });
  const rows = [];
  try {
    const configDeadline = (i) => performance.now() + (ctx.deadline - performance.now()) / (CONFIGS.length - i);
    for (const [i, cfg] of CONFIGS.entries()) {
      const variants = fleet.targets.map((t) => ({
        name: t.name,
        run: (round) =>
          fleet.client.request('stream', {
            url: t.url,
            conns: cfg.conns,
            size: cfg.size,
            window: cfg.window,
            warmupMs: s.warmupMs,
            durationMs: round < 0 ? s.warmRoundMs : s.durationMs,
            cpuGroups: { proxy: t.pids(), upstream: [fleet.upstream.pid] },
          }),
      }));
      ctx.log(`  ${cfg.label}`);
      const { samples } = await runInterleaved(variants, { rounds: s.rounds, deadline: configDeadline(i), warmupRounds: i === 0 ? 1 : 0 });
      const throughput = mapSamples(samples, (r) => r.messages / r.seconds);
      const cpuPerMsg = mapSamples(samples, (r) => (r.cpu.proxy / r.messages) * 1e6);
      const util = (name, k) => mean(samples[name].map((r) => r.cpu[k] / r.seconds));
      const busy = (name) =>
        `${name} run: proxy ${pct(util(name, 'proxy'))}, upstream ${pct(util(name, 'upstream'))}, client ${pct(util(name, 'client'))} of a core`;
      const throughputRow = { measure: `stream ${cfg.label}: throughput`, unit: 'msg/s' };
      const cpuRow = { measure: `stream ${cfg.label}: CPU per message`, unit: 'µs' };
      for (const v of fleet.variants) {
        if (throughput.nginx) {
          rows.push(
            agentRow(id, v, throughput, 'nginx', {
              ...throughputRow,
              target: 'ratio ≥ 1',
              check: ({ ratio }) => ratio >= 1,
              better: 'higher',
              note: `${busy(v.agent)}; ${busy(v.relay)}; ${busy('nginx')}`,
            }),
            agentRow(id, v, cpuPerMsg, 'nginx', {
              ...cpuRow,
              target: `ratio ≤ ${cfg.cpuTarget}`,
              check: ({ ratio }) => ratio <= cfg.cpuTarget,
              better: 'lower',
            }),
          );
        } else {
          for (const { measure } of [throughputRow, cpuRow]) {
            rows.push(skippedRow({ caseId: id, name: `${measure}, agent vs nginx${v.suffix}`, reason: fleet.nginxSkip }));
          }
        }
        if (throughput['http-proxy']) {
          rows.push(
            agentRow(id, v, throughput, 'http-proxy', { ...throughputRow, target: 'ratio ≥ 1', check: ({ ratio }) => ratio >= 1 }),
            agentRow(id, v, cpuPerMsg, 'http-proxy', { ...cpuRow, target: 'ratio ≤ 1', check: ({ ratio }) => ratio <= 1 }),
          );
        }
        rows.push(agentRow(id, v, throughput, 'direct', { ...throughputRow, note: busy('direct') }));
      }
    }
  } finally {
    await fleet.stop();
  }
  return rows;
}
