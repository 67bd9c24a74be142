/**
 * The processes of a benchmark case, through the shared harness (tracked,
 * killed on any exit): the scripts of bench/children/ and the agent command.
 */
import { fileURLToPath } from 'node:url';
import { startAgent as startAgentCommand } from '../../harness/agent.mjs';
import { startChild } from '../../harness/ipc.mjs';

/** Start a script of bench/children/ (an IPC child); resolves once it announced `ready` ({ pid, info, request, stop }). */
export function forkChild(script, { args = [] } = {}) {
  return startChild(fileURLToPath(new URL(`../children/${script}`, import.meta.url)), { args });
}

/**
 * The agent in front of `upstream` on ephemeral ports, with the heap probe
 * when `gcProbe` is set. `stop()` drains (nothing is open by then) and waits
 * for the exit, which also writes a --cpu-prof profile.
 */
export async function startAgent({ upstream, nodeArgs = [], extraArgs = [], gcProbe = false }) {
  const agent = await startAgentCommand({ args: ['--upstream', upstream, '--drain-timeout', '1s', ...extraArgs], nodeArgs, gcProbe, keepStderrLines: 20 });
  return { ...agent, stop: () => agent.stop(5_000) };
}
