/** Run the real `ws-close-agent` command (the built dist/) as a child process. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../dist/esm/agent/main.js', import.meta.url));

/** The parent's environment without WS_CLOSE_AGENT_* variables (they would change the agent's config). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WS_CLOSE_AGENT_')) env[k] = v;
  return { ...env, ...extra };
}

export interface AgentProcess {
  readonly child: ChildProcess;
  /** WebSocket side, HOST:PORT. */
  readonly listen: string;
  /** /metrics side, HOST:PORT. */
  readonly metricsListen: string;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** stdout lines parsed as JSON (the logs). */
  logs(): Record<string, unknown>[];
  stderr(): string;
  /** SIGTERM, then wait (bounded) for the exit; SIGKILL after timeoutMs. Resolves to the exit code (null if killed). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code once the process has exited and its output is read. */
  readonly exited: Promise<number | null>;
  /** SIGKILL if still running (for afterAll). */
  kill(): void;
}

/**
 * Start `node dist/esm/agent/main.js --listen 127.0.0.1:0 --metrics-listen
 * 127.0.0.1:0 ...extra` and wait (bounded) for its "listening" log line.
 */
export async function startAgentProcess(extra: string[] = [], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<AgentProcess> {
  const child = spawn(process.execPath, [MAIN, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...extra], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr += s));
  // 'close', not 'exit': by then every stdout line has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not log "listening" within ${timeoutMs} ms\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`)), timeoutMs);
    child.stdout!.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() as string;
      for (const line of parts) {
        lines.push(line);
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          if (record.msg === 'listening') {
            clearTimeout(timer);
            resolve(record);
          }
        } catch {
          // not a log line; kept in `lines`
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited (${code}) before listening (is dist/ built? npm run build)\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
    });
  });

  let record: Record<string, unknown>;
  try {
    record = await listening;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const running = (): boolean => child.exitCode === null && child.signalCode === null;

  return {
    child,
    listen: record.listen as string,
    metricsListen: record.metricsListen as string,
    lines,
    exited,
    logs: () =>
      lines.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stderr: () => stderr,
    async stop(stopTimeoutMs = 10_000) {
      if (running()) child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), stopTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`agent did not exit within ${stopTimeoutMs} ms of SIGTERM`);
      }
      return code;
    },
    kill() {
      if (running()) child.kill('SIGKILL');
    },
  };
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the command to completion (bounded), e.g. for --help or a bad flag. */
export function runAgentCommand(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): CommandResult {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Fetch /metrics (or another admin path) from a running agent. */
export async function scrape(agent: AgentProcess, path = '/metrics', headers: Record<string, string> = {}): Promise<Response> {
  const get = (): Promise<Response> => fetch(`http://${agent.metricsListen}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  try {
    return await get();
  } catch (err) {
    // A pooled keep-alive connection that the server closed just as it was
    // reused (a race on a loaded machine, as with any HTTP client): once more
    // on a new connection, as Prometheus's next scrape would.
    if ((err as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw err;
    return get();
  }
}
