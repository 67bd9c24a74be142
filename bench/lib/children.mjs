/**
 * The processes of a benchmark case, through the shared harness (tracked,
 * killed on any exit): the scripts of bench/children/, the agent command and
 * the bare relay.
 */
import { fileURLToPath } from 'node:url';
import { startAgent as startAgentCommand } from '../../harness/agent.mjs';
import { startChild } from '../../harness/ipc.mjs';

/** Start a script of bench/children/ (an IPC child); resolves once it announced `ready` ({ pid, info, request, stop }). */
export function forkChild(script, { args = [], nodeArgs = [], node } = {}) {
  return startChild(fileURLToPath(new URL(`../children/${script}`, import.meta.url)), { args, nodeArgs, node });
}

/**
 * The agent in front of `upstream` on ephemeral ports, under `node` (the
 * runner's own binary by default), with the heap probe when `gcProbe` is
 * set. `stop()` drains (nothing is open by then) and waits for the exit,
 * which also writes a --cpu-prof profile.
 */
export async function startAgent({ upstream, nodeArgs = [], extraArgs = [], gcProbe = false, node }) {
  const agent = await startAgentCommand({
    args: ['--upstream', upstream, '--drain-timeout', '1s', ...extraArgs],
    nodeArgs,
    gcProbe,
    keepStderrLines: 20,
    ...(node ? { node } : {}),
  });
  return { ...agent, stop: () => agent.stop(5_000) };
}

/**
 * The bare relay (children/bare-relay.mjs) in front of 127.0.0.1:upstreamPort
 * under `node`: { pid, url, gc(), stop() }.
 */
export async function startRelay({ upstreamPort, node }) {
  const relay = await forkChild('bare-relay.mjs', { args: [String(upstreamPort)], nodeArgs: ['--expose-gc'], node });
  return { ...relay, url: `ws://127.0.0.1:${relay.info.port}/`, gc: () => relay.request('gc', {}, 10_000) };
}
