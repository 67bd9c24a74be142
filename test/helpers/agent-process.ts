/** Run the real `ws-close-agent` command (the built dist/) as a child process, through the shared harness. */
import type { ChildProcess } from 'node:child_process';
import { AGENT_MAIN, startAgent } from '../../harness/agent.mjs';

export { ROOT, cleanEnv } from '../../harness/children.mjs';
export { runAgentCommand, runAgentCommandAsync, type CommandResult } from '../../harness/agent.mjs';
export const MAIN = AGENT_MAIN;

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
  const agent = await startAgent({ args: extra, env, readyTimeoutMs: timeoutMs });
  return {
    child: agent.proc,
    listen: agent.listen,
    metricsListen: agent.metricsListen,
    lines: agent.lines,
    exited: agent.exited.then((e) => e.code),
    logs: agent.logs,
    stderr: agent.stderr,
    stop: agent.stop,
    kill: agent.kill,
  };
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
