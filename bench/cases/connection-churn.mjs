/**
 * Case 2: connection churn (open + client close) against a `ws` server,
 * instrumented with the hook vs bare, each alone in a child process; the
 * server's CPU time per connection is compared. The target (1 %) is far
 * below this machine's round-to-round noise, so both servers are churned at
 * the same time over the same window, and each round's ratio compares two
 * measurements that saw the same neighbours.
 *
 * A second row churns both servers in one process over in-memory streams
 * (children/ws-inmemory.mjs), in alternating blocks: no kernel and no peer,
 * so the hook's own CPU per connection shows through the noise.
 */
import { forkChild } from '../lib/children.mjs';
import { compareRow } from '../lib/rows.mjs';
import { pairDifferences, runInterleaved } from '../lib/rounds.mjs';
import { median } from '../../harness/stats.mjs';

export const id = 2;
export const title = 'connection churn, instrumented vs bare ws server';

const LOOPS_PER_SERVER = 4;

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 6, warmupMs: 200, durationMs: 1000 } : { rounds: 18, warmupMs: 200, durationMs: 2000 };
  const started = [];
  try {
    const bare = await forkChild('ws-server.mjs', { args: ['bare'] });
    started.push(bare);
    const instrumented = await forkChild('ws-server.mjs', { args: ['instrumented'] });
    started.push(instrumented);
    const client = await forkChild('load-client.mjs');
    started.push(client);

    const servers = { bare, instrumented };
    const target = (server) => ({ url: `ws://127.0.0.1:${server.info.port}/`, cpuPids: [server.pid] });
    // One variant per round: both servers at once, loops started in alternating order.
    const { samples, rounds } = await runInterleaved(
      [
        {
          name: 'both',
          run: async (round) => {
            const order = round % 2 === 0 ? ['bare', 'instrumented'] : ['instrumented', 'bare'];
            const r = await client.request('churn', {
              targets: order.map((n) => target(servers[n])),
              concurrency: LOOPS_PER_SERVER,
              warmupMs: s.warmupMs,
              durationMs: s.durationMs,
            });
            const out = { seconds: r.seconds };
            order.forEach((n, i) => (out[n] = r.targets[i]));
            return out;
          },
        },
      ],
      { rounds: s.rounds, deadline: ctx.deadline, warmupRounds: 2 },
    );
    const results = samples.both;
    const cpuPerConn = (n) => results.map((r) => (r[n].cpu / r[n].connections) * 1e6);
    const meanRate = (n) => Math.round(results.reduce((a, r) => a + r[n].connections / r.seconds, 0) / results.length);
    const errors = results.reduce((a, r) => a + r.bare.errors + r.instrumented.errors, 0);
    const totals = await instrumented.request('totals');

    const inMemory = await forkChild('ws-inmemory.mjs');
    started.push(inMemory);
    const m = ctx.quick ? { blocks: 60, connections: 200, warmup: 5000 } : { blocks: 300, connections: 250, warmup: 20000 };
    const pairs = await inMemory.request('pairs', { ...m, deadlineMs: Math.max(1000, ctx.deadline - performance.now()) }, 120_000);
    const toUs = (ns) => ns.map((x) => x / 1000);
    const addedNs = median(pairDifferences(pairs.hooked, pairs.bare));
    return [
      compareRow({
        caseId: id,
        name: 'churn: ws server CPU per connection, instrumented vs bare',
        unit: 'µs',
        oursLabel: 'hook',
        baselineLabel: 'bare',
        ours: cpuPerConn('instrumented'),
        baseline: cpuPerConn('bare'),
        target: 'ratio ≤ 1.01',
        check: ({ ratio }) => ratio <= 1.01,
        note: `${rounds} rounds, both servers churned at once by ${LOOPS_PER_SERVER} client loops each; mean rate ${meanRate('instrumented')}/s hooked, ${meanRate('bare')}/s bare; hook recorded ${totals.opened} opened / ${totals.closed} closed; ${errors} client errors`,
      }),
      compareRow({
        caseId: id,
        name: 'churn, in-memory sockets: ws CPU per connection, instrumented vs bare',
        unit: 'µs',
        oursLabel: 'hook',
        baselineLabel: 'bare',
        ours: toUs(pairs.hooked),
        baseline: toUs(pairs.bare),
        note: `the hook adds ${Math.round(addedNs)} ns per connection (median of ${pairs.bare.length} paired blocks of ${m.connections} connections, one process, no kernel); that is ${((addedNs / 1000 / median(cpuPerConn('bare'))) * 100).toFixed(2)} % of the bare server's CPU per real connection above; hook recorded ${pairs.recorded.closed} closes`,
      }),
    ];
  } finally {
    for (const p of started.reverse()) await p.stop();
  }
}
