/**
 * The processes of a soak run, through the shared harness (tracked, killed
 * on any exit): the upstream, the control server, the load client and the
 * agent, each under a raised descriptor limit (`ulimit -n`, up to the hard
 * limit when 65536 is not allowed).
 */
import { fileURLToPath } from 'node:url';
import { startAgent } from '../../harness/agent.mjs';
import { startChild } from '../../harness/ipc.mjs';
import { openFilesLimit } from '../../harness/proc.mjs';
import { NAMED_CODE_FLAG } from './scenarios.mjs';

/** The descriptor limit the children ask for. */
const WANTED_NOFILE = 65536;

/**
 * Niceness of the load generators (the load client and the upstream): on a
 * small machine they share the cores with the agent, and at the same
 * priority they would take CPU the agent needs to answer /metrics in time;
 * in production the agent does not share its cores with its own load.
 */
export const LOAD_NICE = 10;

function startSoakChild(script, options = {}) {
  return startChild(fileURLToPath(new URL(`../children/${script}`, import.meta.url)), { nofile: WANTED_NOFILE, ...options });
}

/**
 * Start everything, in order: the upstream, the control server, the load
 * client (its `progress` and `checkpoint` events go to `onEvent`) and the
 * agent in front of the upstream, preloaded with the GC probe so that heap
 * readings compare live data. Checks that the descriptor limits cover the
 * load (`check`), and throws when they do not.
 */
export async function startProcesses(opts, { onEvent, check, figures }) {
  const upstream = await startSoakChild('upstream.mjs', { nice: opts.loadNice });
  const control = await startSoakChild('control-server.mjs');
  const client = await startSoakChild('load-client.mjs', { nice: opts.loadNice, onEvent });
  const maxConnections = Math.max(10_000, opts.connections + 2 * opts.concurrency + 100);
  const agent = await startAgent({
    args: [
      '--upstream',
      `ws://127.0.0.1:${upstream.info.port}`,
      '--codes',
      NAMED_CODE_FLAG,
      '--max-connections',
      String(maxConnections),
      '--drain-timeout',
      '5s',
    ],
    nofile: WANTED_NOFILE,
    gcProbe: true,
  });

  // The agent holds two sockets per connection, the client and the upstream one.
  const need = {
    agent: 2 * (opts.connections + opts.concurrency) + 200,
    client: opts.connections + opts.concurrency + 100,
    upstream: opts.connections + opts.concurrency + 100,
  };
  const limits = { agent: openFilesLimit(agent.pid), client: openFilesLimit(client.pid), upstream: openFilesLimit(upstream.pid) };
  figures.openFilesLimit = { wanted: WANTED_NOFILE, ...limits, needed: need };
  const procs = { upstream, control, client, agent, limits };
  if (
    !check(
      'fd-limits',
      'descriptor limits (ulimit -n) cover the load',
      Object.keys(need).every((k) => limits[k] >= need[k]),
      { limits, need },
    )
  ) {
    await stopProcesses(procs);
    throw new Error(
      `ulimit -n too low for ${opts.connections} held connections: ${JSON.stringify({ limits, need })} (the hard limit caps it; lower --connections)`,
    );
  }
  return procs;
}

/** Stop what startProcesses started (the agent by SIGKILL when it is still running: a clean stop is a phase of its own). */
export async function stopProcesses({ upstream, control, client, agent }) {
  await Promise.allSettled([client.stop(), upstream.stop(), control.stop()]);
  agent.kill();
  await agent.exited;
}
