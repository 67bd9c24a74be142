import type { ChildProcess } from 'node:child_process';

export const AGENT_MAIN: string;

export interface AgentOptions {
  /** Agent flags after `--listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0`. */
  args?: string[];
  /** Node flags before the agent's main module. */
  nodeArgs?: string[];
  /** Added to the clean environment (the parent's without WS_CLOSE_AGENT_*). */
  env?: Record<string, string>;
  /** Raise `ulimit -n` to this first. */
  nofile?: number;
  /** Preload the GC probe, so that gc() works. */
  gcProbe?: boolean;
  readyTimeoutMs?: number;
  keepStderrLines?: number;
  /** The node binary (default: the runner's own, process.execPath). */
  node?: string;
}

export interface GcFigures {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

export interface StartedAgent {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** WebSocket side, HOST:PORT. */
  readonly listen: string;
  /** /metrics side, HOST:PORT. */
  readonly metricsListen: string;
  /** ws://HOST:PORT of the WebSocket side. */
  readonly url: string;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** stderr lines so far (the last `keepStderrLines`). */
  readonly stderrLines: string[];
  /** Resolves once the process has exited and its output is read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** The JSON log records on stdout so far. */
  logs(): Record<string, unknown>[];
  /** stderr lines other than the GC probe's. */
  strayStderr(): string[];
  waitForStderrLine<T>(match: (line: string) => T | undefined, timeoutMs?: number): Promise<T>;
  gc(timeoutMs?: number): Promise<GcFigures>;
  /** SIGTERM and wait (bounded); SIGKILL and throw after `timeoutMs`. Resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL if still running. */
  kill(): void;
}

export function startAgent(options?: AgentOptions): Promise<StartedAgent>;

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}
/** runAgentCommand without blocking, so that several run at once: SIGKILLed after `timeoutMs`. */
export function runAgentCommandAsync(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<CommandResult>;
/** Run the command to completion (bounded), e.g. for --help or a bad flag. */
export function runAgentCommand(args: string[], env?: Record<string, string>, timeoutMs?: number): CommandResult;
