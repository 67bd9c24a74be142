/**
 * Child processes of a benchmark run: bench children (fork + IPC
 * request/response), the agent command, and anything else spawned. Every
 * process is tracked so that the runner can kill what is left on any exit.
 */
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { watchAgent } from '../../scripts/lib/agent-child.mjs';
import { connectChild, waitForExit } from '../../scripts/lib/child-ipc.mjs';

const live = new Set();
const cleanups = new Set();

/** Register a synchronous last-resort cleanup (nginx workers, temp dirs); returns its remover. */
export function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export const AGENT_MAIN = fileURLToPath(new URL('../../dist/esm/agent/main.js', import.meta.url));

function track(proc) {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/** SIGKILL every child still running and run the cleanups (runner exit, error, signal). */
export function killAllChildren() {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  cleanups.clear();
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

export { waitForExit };

/** Spawn any command, tracked. */
export function spawnTracked(command, args, options) {
  return track(spawn(command, args, options));
}

/**
 * Fork a script of bench/children/ that answers requests over IPC (see
 * children/ipc.mjs). Resolves once it announced `ready`; `info` holds what it
 * announced (ports, ...).
 */
export async function forkChild(script, { args = [], execArgv = [], readyTimeoutMs = 15_000 } = {}) {
  const path = fileURLToPath(new URL(`../children/${script}`, import.meta.url));
  const proc = track(fork(path, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const child = await connectChild(proc, script, { readyTimeoutMs });
  return { pid: child.pid, info: child.info, request: child.request, stop: child.stop };
}

/**
 * Start the agent command (`node [nodeArgs] dist/esm/agent/main.js --upstream
 * ...`) on ephemeral ports of 127.0.0.1 and wait for its "listening" line.
 */
export async function startAgent({ upstream, nodeArgs = [], extraArgs = [], readyTimeoutMs = 15_000 }) {
  const args = [
    ...nodeArgs,
    AGENT_MAIN,
    '--upstream', upstream,
    '--listen', '127.0.0.1:0',
    '--metrics-listen', '127.0.0.1:0',
    '--drain-timeout', '1s',
    ...extraArgs,
  ];
  const proc = spawnTracked(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const { rec, waitForStderrLine } = await watchAgent(proc, { readyTimeoutMs, keepStderrLines: 20 });
  return {
    pid: proc.pid,
    url: `ws://${rec.listen}/`,
    metricsUrl: `http://${rec.metricsListen}/metrics`,
    /** Resolves with the first stderr line `match` accepts (the heap probe answers there). */
    waitForStderrLine,
    signal(sig) {
      proc.kill(sig);
    },
    async stop() {
      proc.kill('SIGTERM'); // drains (nothing open by now) and exits 0, writing a --cpu-prof profile
      await waitForExit(proc, 5_000);
    },
  };
}
