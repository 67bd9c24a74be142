/**
 * Phase 0: start the processes, the observer's periodic scrapes, and take
 * the baseline (the agent has served a scrape and nothing else).
 */
import { existsSync } from 'node:fs';
import { AGENT_MAIN } from '../../harness/agent.mjs';
import { sleep } from '../../harness/wait.mjs';
import { createObserver } from '../lib/observer.mjs';
import { startProcesses } from '../lib/procs.mjs';
import { mib } from '../lib/report.mjs';

export async function start(run) {
  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: run npm run build first`);
  run.procs = await startProcesses(run.opts, {
    onEvent: (name, data) => {
      if (name === 'progress') run.progress = data;
      if (name === 'checkpoint') run.onCheckpoint(data);
    },
    check: run.check,
    figures: run.result.figures,
  });
  const { agent, upstream, client, limits } = run.procs;
  run.log(
    `agent pid ${agent.pid} on ${agent.listen} (metrics ${agent.metricsListen}), upstream 127.0.0.1:${upstream.info.port}, load client pid ${client.pid}`,
  );
  run.obs = createObserver(run);
  await run.obs.calibrateControl();
  await sleep(50);
  const fds = await run.obs.fds();
  const mem = await run.obs.memory();
  run.log(`baseline: ${fds} descriptors, RSS ${mib(mem.rss)} MiB, heap ${mib(mem.heapUsed)} MiB (after GC); fd limits ${JSON.stringify(limits)}`);
  return { fds, mem };
}
