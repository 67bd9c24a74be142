/**
 * Case 7: memory. (a) RSS per idle proxied connection: a fresh agent (and a
 * fresh bare relay, and a fresh nginx: master + worker) before and after
 * 1,000 idle connections are opened through it; the agent and the relay
 * collect garbage before each reading (the agent via the heap probe,
 * SIGUSR2; the relay over its IPC channel). (b) Leaks: the agent's heap
 * after N churned connections against its heap after the first M (full:
 * 200,000 vs 10,000; --quick: 20,000 vs 2,000), under the first --node.
 */
import { forkChild, startAgent, startRelay } from '../lib/children.mjs';
import { proxyVariants } from '../lib/proxy-fleet.mjs';
import { nginxMissingReason, startNginx } from '../lib/nginx.mjs';
import { sleep } from '../../harness/wait.mjs';
import { readRssBytes } from '../../harness/proc.mjs';
import { compareRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';

export const id = 7;
export const title = 'proxy memory';

const IDLE_CONNECTIONS = 1000;

function startProbedAgent(upstreamUrl, extraNodeArgs, node) {
  return startAgent({ upstream: upstreamUrl, nodeArgs: extraNodeArgs, gcProbe: true, node: node.bin });
}

/** GC in the agent, then its memory figures (from the probe's stderr line). */
async function probe(agent) {
  const m = await agent.gc();
  return { ...m, rss: readRssBytes([agent.pid]) };
}

async function settle(ms = 300) {
  await sleep(ms);
}

export async function run(ctx) {
  const s = ctx.quick
    ? { rssRounds: 1, churnFirst: 2000, churnTotal: 20000, checkpoints: 5 }
    : { rssRounds: 3, churnFirst: 10000, churnTotal: 200000, checkpoints: 10 };
  const nginxSkip = nginxMissingReason();
  const started = [];
  const rows = [];
  try {
    const upstream = await forkChild('echo-upstream.mjs');
    started.push(upstream);
    const upstreamUrl = `ws://127.0.0.1:${upstream.info.port}/`;
    const client = await forkChild('load-client.mjs');
    started.push(client);

    // (a) RSS per idle connection, a fresh proxy process for every reading.
    const perConnection = async (start, readRss) => {
      const proxy = await start();
      try {
        await client.request('churnCount', { url: proxy.url, count: 50, concurrency: 5, maxMs: 10_000 }); // warm the code paths
        await settle();
        const before = await readRss(proxy);
        const held = await client.request('hold', { url: proxy.url, count: IDLE_CONNECTIONS, concurrency: 50 }, 60_000);
        if (held.errors > 0) throw new Error(`${held.errors} of ${IDLE_CONNECTIONS} idle connections failed to open`);
        await settle(500);
        const after = await readRss(proxy);
        await client.request('release', {}, 60_000);
        return (after - before) / IDLE_CONNECTIONS / 1024;
      } finally {
        await proxy.stop();
      }
    };
    const proxies = proxyVariants(ctx.nodes);
    const variants = proxies.flatMap((v) => [
      {
        name: v.agent,
        run: () =>
          perConnection(
            () => startProbedAgent(upstreamUrl, ctx.agentNodeArgs, v.node),
            async (a) => (await probe(a)).rss,
          ),
      },
      {
        name: v.relay,
        run: () =>
          perConnection(
            () => startRelay({ upstreamPort: upstream.info.port, node: v.node.bin }),
            async (r) => (await r.gc(), readRssBytes([r.pid])),
          ),
      },
    ]);
    if (!nginxSkip) {
      variants.push({
        name: 'nginx',
        run: () =>
          perConnection(
            async () => startNginx({ upstreamPort: upstream.info.port }),
            async (n) => readRssBytes(n.pids()),
          ),
      });
    }
    // The churn below runs one agent whatever the run compares: the readings get a larger share when there are more variants.
    const rssShare = Math.min(0.6, 0.3 * (variants.length / 3));
    const rssDeadline = performance.now() + (ctx.deadline - performance.now()) * rssShare;
    const { samples, rounds } = await runInterleaved(variants, { rounds: s.rssRounds, deadline: rssDeadline });
    const rssNote = `${rounds} round(s), ${IDLE_CONNECTIONS.toLocaleString('en-US')} idle connections each; agent and relay GC'd before each reading; nginx = master + worker`;
    for (const v of proxies) {
      rows.push(
        compareRow({
          caseId: id,
          name: samples.nginx
            ? `memory: RSS per idle proxied connection, agent vs nginx${v.suffix}`
            : `memory: RSS per idle proxied connection (no nginx baseline)${v.suffix}`,
          unit: 'KiB',
          oursLabel: v.agent,
          baselineLabel: 'nginx',
          ours: samples[v.agent],
          baseline: samples.nginx ?? [],
          target: '≤ 10 KiB',
          check: ({ ours }) => ours <= 10,
          floor: { label: v.relay, values: samples[v.relay], better: 'lower' },
          note: samples.nginx ? rssNote : `${rssNote}; ${nginxSkip}`,
        }),
      );
    }

    // (b) Heap after many churned connections vs after the first few.
    const agent = await startProbedAgent(upstreamUrl, ctx.agentNodeArgs, ctx.nodes[0]);
    started.push(agent);
    const churnDeadline = ctx.deadline;
    let done = 0;
    let errors = 0;
    const churnTo = async (total) => {
      const left = Math.max(0, churnDeadline - performance.now());
      const r = await client.request('churnCount', { url: agent.url, count: total - done, concurrency: 16, maxMs: left }, left + 30_000);
      done += r.completed;
      errors += r.errors;
    };
    await churnTo(s.churnFirst);
    await settle();
    const first = await probe(agent);
    const checkpoints = [{ connections: done, heapUsed: first.heapUsed, rss: first.rss }];
    const step = (s.churnTotal - s.churnFirst) / s.checkpoints;
    for (let k = 1; k <= s.checkpoints && performance.now() < churnDeadline; k++) {
      await churnTo(Math.round(s.churnFirst + step * k));
      await settle();
      const m = await probe(agent);
      checkpoints.push({ connections: done, heapUsed: m.heapUsed, rss: m.rss });
    }
    const last = checkpoints[checkpoints.length - 1];
    const mib = (b) => (b / 2 ** 20).toFixed(1);
    const shortOf = done < s.churnTotal ? ` (time budget ran out at ${done.toLocaleString('en-US')} of ${s.churnTotal.toLocaleString('en-US')})` : '';
    rows.push(
      compareRow({
        caseId: id,
        name: `memory: agent heap after ${last.connections.toLocaleString('en-US')} vs ${checkpoints[0].connections.toLocaleString('en-US')} churned connections${ctx.quick ? ' (quick: fewer)' : ''}`,
        unit: 'MiB',
        oursLabel: 'after all',
        baselineLabel: 'after first',
        ours: [last.heapUsed / 2 ** 20],
        baseline: [first.heapUsed / 2 ** 20],
        target: 'ratio ≤ 1.05',
        check: ({ ratio }) => ratio <= 1.05,
        note: `heap after GC at checkpoints: ${checkpoints.map((c) => `${Math.round(c.connections / 1000)}k ${mib(c.heapUsed)}`).join(', ')} MiB; RSS ${mib(first.rss)} → ${mib(last.rss)} MiB; ${errors} client errors${shortOf}`,
      }),
    );
    return rows;
  } finally {
    for (const p of started.reverse()) await p.stop();
  }
}
