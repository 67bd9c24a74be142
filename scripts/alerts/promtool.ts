/** Runs the real promtool (Debian package `prometheus`, or PROMTOOL=/path). */
import { execFile } from 'node:child_process';

export const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

export interface PromtoolResult {
  readonly exitCode: number;
  /** stdout and stderr together, in the order promtool wrote them is not kept. */
  readonly output: string;
}

export function runPromtool(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    execFile(PROMTOOL, [...args], { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${PROMTOOL} ${args.join(' ')}: ${error.message} (${error.signal ?? error.code ?? 'no exit code'})`));
        return;
      }
      resolve({ exitCode: error ? (error.code as number) : 0, output: `${stdout}${stderr}` });
    });
  });
}
