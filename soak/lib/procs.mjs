/**
 * Child processes of a soak run. Every child is started through bash with a
 * raised descriptor limit (`ulimit -n`, up to the hard limit when 65536 is
 * not allowed) and `exec`s node, so its pid is the node process. Every child
 * is tracked so that the runner can kill what is left on any exit.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { watchAgent } from '../../scripts/lib/agent-child.mjs';
import { connectChild, waitForExit, withTimeout } from '../../scripts/lib/child-ipc.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const AGENT_MAIN = fileURLToPath(new URL('../../dist/esm/agent/main.js', import.meta.url));
export const GC_PROBE = fileURLToPath(new URL('../children/gc-probe.mjs', import.meta.url));

/** The descriptor limit the children ask for. */
export const WANTED_NOFILE = 65536;

const ULIMIT_EXEC = `ulimit -n ${WANTED_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;

/**
 * Niceness of the load generators (the load client and the upstream): on a
 * small machine they share the cores with the agent, and at the same
 * priority they would take CPU the agent needs to answer /metrics in time;
 * in production the agent does not share its cores with its own load.
 */
export const LOAD_NICE = 10;

const live = new Set();

/** SIGKILL every child still running (runner exit, error, deadline). */
export function killAllChildren() {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** The parent's environment without WS_CLOSE_AGENT_* variables (they would change the agent's config). */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WS_CLOSE_AGENT_')) env[k] = v;
  return env;
}

/** `node ...args` under a raised `ulimit -n` (and `nice -n nice` when given), tracked. */
export function spawnNode(args, { stdio = ['ignore', 'pipe', 'pipe'], nice = 0 } = {}) {
  const command = nice ? ['nice', '-n', String(nice), process.execPath] : [process.execPath];
  const proc = spawn('bash', ['-c', ULIMIT_EXEC, 'soak-ulimit', ...command, ...args], { cwd: ROOT, env: cleanEnv(), stdio });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/** The soft "Max open files" of a running process. */
export function openFilesLimit(pid) {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!m) throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

export { waitForExit, withTimeout };

/**
 * Start a script of soak/children/ that answers requests over IPC (see
 * children/ipc.mjs). Resolves once it announced `ready`. `onEvent` gets the
 * events it sends between answers (progress, checkpoints).
 */
export async function startChild(script, { onEvent = () => undefined, readyTimeoutMs = 15_000, nice = 0 } = {}) {
  const path = fileURLToPath(new URL(`../children/${script}`, import.meta.url));
  const proc = spawnNode([path], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], nice });
  return connectChild(proc, script, { onEvent, readyTimeoutMs });
}

/**
 * Start the agent command: `node --expose-gc --import gc-probe.mjs
 * dist/esm/agent/main.js --upstream URL --listen 127.0.0.1:0
 * --metrics-listen 127.0.0.1:0 ...extraArgs`, and wait for its "listening"
 * line. The probe only adds a SIGUSR2 handler (collect garbage, print one
 * line on stderr), so that heap readings compare live data, not garbage.
 */
export async function startAgent({ upstream, extraArgs = [], readyTimeoutMs = 15_000 }) {
  const proc = spawnNode(['--expose-gc', '--import', GC_PROBE, AGENT_MAIN, '--upstream', upstream, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...extraArgs]);
  const { rec, ...watched } = await watchAgent(proc, { readyTimeoutMs });
  return {
    proc,
    pid: proc.pid,
    listen: rec.listen,
    metricsListen: rec.metricsListen,
    url: `ws://${rec.listen}`,
    ...watched,
  };
}
