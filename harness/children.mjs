/**
 * Every process a bench, soak or test run starts: spawned through here, it
 * is tracked until it exits, so that killAllChildren() (on an error, a
 * signal, a deadline or the runner's exit) leaves nothing behind. Children
 * get the runner's environment without WS_CLOSE_AGENT_* variables, which
 * would change the agent's configuration behind the run's back.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const live = new Set();
const cleanups = new Set();

/** The parent's environment without WS_CLOSE_AGENT_* and npm_* variables, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = {};
  // npm exports its own config to scripts as npm_config_* (the repo's .npmrc sets
  // legacy-peer-deps); a child npm must see a user's defaults, not ours.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WS_CLOSE_AGENT_') && !/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Track `proc` until it exits. */
function track(proc) {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/** Register a synchronous last-resort cleanup (nginx workers, temp dirs); returns its remover. */
export function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Run the cleanups, then SIGKILL every child still running. */
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

/** Kill every child when the runner exits or is interrupted (exit code 130). */
export function killChildrenOnExit() {
  process.once('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

const ULIMIT_EXEC = (nofile) => `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;

/**
 * Spawn `command args`, tracked, in the repository root with the clean
 * environment. `nofile` raises `ulimit -n` first (to the hard limit when that
 * is lower) and `nice` lowers the priority; both go through bash, which
 * `exec`s the command, so the pid is the command's.
 */
export function spawnTracked(command, args = [], { nofile, nice = 0, env = {}, stdio = ['ignore', 'pipe', 'pipe'], cwd = ROOT } = {}) {
  let argv = [command, ...args];
  if (nice) argv = ['nice', '-n', String(nice), ...argv];
  if (nofile) argv = ['bash', '-c', ULIMIT_EXEC(nofile), 'ulimit-exec', ...argv];
  return track(spawn(argv[0], argv.slice(1), { cwd, env: cleanEnv(env), stdio }));
}

/** Resolves with the exit code once `proc` exits; SIGKILLs it after `timeoutMs` (resolves null then). */
export function waitForExit(proc, timeoutMs) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
