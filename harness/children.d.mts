import type { ChildProcess, StdioOptions } from 'node:child_process';

/** The repository root. */
export const ROOT: string;
/** The parent's environment without WS_CLOSE_AGENT_* variables, plus `extra`. */
export function cleanEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
export function onCleanup(fn: () => void): () => void;
export function killAllChildren(): void;
export function killChildrenOnExit(): void;
export function spawnTracked(
  command: string,
  args?: string[],
  options?: { nofile?: number; nice?: number; env?: Record<string, string>; stdio?: StdioOptions; cwd?: string },
): ChildProcess;
export function waitForExit(proc: ChildProcess, timeoutMs: number): Promise<number | null>;
