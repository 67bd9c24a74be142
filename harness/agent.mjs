/**
 * The real agent command (the built dist/) as a child process, for bench,
 * soak and the end-to-end tests: `node [nodeArgs] dist/esm/agent/main.js
 * --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 ...args`, tracked, in
 * the clean environment. startAgent() resolves once the agent logged
 * "listening", and keeps its log lines and stderr.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ROOT, cleanEnv, spawnTracked } from './children.mjs';
import { withTimeout } from './wait.mjs';

export const AGENT_MAIN = fileURLToPath(new URL('../dist/esm/agent/main.js', import.meta.url));
/** Preloaded with `gcProbe`: on SIGUSR2 the agent collects garbage and prints one line (see gc-probe.mjs). */
const GC_PROBE = fileURLToPath(new URL('./gc-probe.mjs', import.meta.url));
const PROBE_PREFIX = '{"gcProbe"';

/** Lines that are JSON, parsed; the others left out. */
function jsonLines(lines) {
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

/**
 * Start the agent. Options: `args` (after the listen flags), `nodeArgs`,
 * `env` (added to the clean environment), `nofile` (ulimit -n), `gcProbe`
 * (preload the probe; gc() then works), `readyTimeoutMs`, `keepStderrLines`,
 * `node` (the node binary; the runner's own by default, bench --node).
 * Resolves with { proc, pid, listen, metricsListen, url, lines, stderrLines,
 * stderr(), logs(), exited ({ code, signal } once every line is read),
 * waitForStderrLine(), gc(), stop(), kill() }; rejects with the agent's
 * output when it exits first or does not listen in time (and kills it).
 */
export async function startAgent({
  args = [],
  nodeArgs = [],
  env = {},
  nofile,
  gcProbe = false,
  readyTimeoutMs = 15_000,
  keepStderrLines = Infinity,
  node = process.execPath,
} = {}) {
  const argv = [
    ...(gcProbe ? ['--expose-gc', '--import', GC_PROBE] : []),
    ...nodeArgs,
    AGENT_MAIN,
    '--listen',
    '127.0.0.1:0',
    '--metrics-listen',
    '127.0.0.1:0',
    ...args,
  ];
  const proc = spawnTracked(node, argv, { nofile, env });
  const lines = [];
  const stderrLines = [];
  const stderrListeners = new Set();
  createInterface({ input: proc.stderr }).on('line', (line) => {
    stderrLines.push(line);
    if (stderrLines.length > keepStderrLines) stderrLines.shift();
    for (const l of stderrListeners) l(line);
  });
  // 'close', not 'exit': by then every line has been read.
  const exited = new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
  const output = () => `stdout:\n${lines.join('\n')}\nstderr:\n${stderrLines.join('\n')}`;
  const listening = new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"listening"')) {
        const rec = jsonLines([line])[0];
        if (rec?.msg === 'listening') resolve(rec);
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`agent exited (${code ?? signal}) before listening (is dist/ built? npm run build)\n${output()}`)));
  });
  let rec;
  try {
    rec = await withTimeout(listening, readyTimeoutMs, 'agent start');
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${err.message}\n${output()}`, { cause: err });
  }
  const running = () => proc.exitCode === null && proc.signalCode === null;

  /** Resolves with the first stderr line `match` maps to a value other than undefined. */
  const waitForStderrLine = (match, timeoutMs = 10_000) => {
    let listener;
    const found = new Promise((resolve) => {
      listener = (line) => {
        const v = match(line);
        if (v !== undefined) resolve(v);
      };
      stderrListeners.add(listener);
    });
    return withTimeout(found, timeoutMs, 'agent probe').finally(() => stderrListeners.delete(listener));
  };

  return {
    proc,
    pid: proc.pid,
    listen: rec.listen,
    metricsListen: rec.metricsListen,
    url: `ws://${rec.listen}`,
    lines,
    stderrLines,
    exited,
    stderr: () => stderrLines.join('\n'),
    /** The JSON log records on stdout so far. */
    logs: () => jsonLines(lines),
    /** stderr lines other than the probe's. */
    strayStderr: () => stderrLines.filter((l) => !l.startsWith(PROBE_PREFIX)),
    waitForStderrLine,
    /** With `gcProbe`: collect garbage in the agent; resolves with its memory figures after the collection. */
    async gc(timeoutMs = 10_000) {
      const answer = waitForStderrLine((line) => (line.startsWith(PROBE_PREFIX) ? JSON.parse(line).gcProbe : undefined), timeoutMs);
      proc.kill('SIGUSR2');
      return answer;
    },
    /** SIGTERM and wait (bounded) for the exit; SIGKILL and throw after `timeoutMs`. Resolves with the exit code. */
    async stop(timeoutMs = 10_000) {
      if (running()) proc.kill('SIGTERM');
      try {
        return (await withTimeout(exited, timeoutMs, 'agent exit after SIGTERM')).code;
      } catch (err) {
        proc.kill('SIGKILL');
        throw err;
      }
    },
    /** SIGKILL if still running. */
    kill() {
      if (running()) proc.kill('SIGKILL');
    },
  };
}

/** runAgentCommand without blocking, so that several run at once: SIGKILLed after `timeoutMs`. */
export function runAgentCommandAsync(args, env = {}, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [AGENT_MAIN, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d.toString()));
    child.stderr.on('data', (d) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Run the command to completion (bounded), e.g. for --help or a bad flag: { status, stdout, stderr }. */
export function runAgentCommand(args, env = {}, timeoutMs = 10_000) {
  const r = spawnSync(process.execPath, [AGENT_MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
