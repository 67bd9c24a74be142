/**
 * `npm start` must hand signals to the agent: npm passes SIGTERM/SIGINT to
 * the shell that runs the start script, and a shell that only forks the
 * agent dies without passing them on, leaving the agent running, orphaned.
 *
 * The agent itself must be ready for a signal by the time it logs
 * "listening": a supervisor (or npm) may send one the moment it sees that line.
 *
 * npm runs with --ignore-scripts so that prestart's build does not rewrite
 * dist/ under the suites running beside this one (pre/post scripts are the
 * only ones it skips; the start script itself runs as a user's would).
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { MAIN, ROOT, cleanEnv } from './helpers/agent-process.js';
import { waitFor } from './helpers/wait.js';

const orphans: number[] = [];
afterEach(() => {
  for (const pid of orphans.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s to the npm process drains and stops the agent; npm exits 0', async (signal) => {
    const npm = spawn('npm', ['start', '--ignore-scripts', '--', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], {
      cwd: ROOT,
      env: cleanEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // 'close' (stdout ended) as well as 'exit': an orphaned agent would hold npm's stdout open.
    const closed = new Promise<void>((resolve) => npm.once('close', () => resolve()));
    const logs: Record<string, unknown>[] = [];
    let out = '';
    let err = '';
    npm.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    npm.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const lines = out.split('\n');
      out = lines.pop() as string;
      for (const line of lines) {
        if (!line.startsWith('{')) continue; // npm's own banner
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
    });

    await waitFor(() => logs.some((l) => l.msg === 'listening') || npm.exitCode !== null, 'the listening line', 20_000);
    const listening = logs.find((l) => l.msg === 'listening');
    expect(listening, `npm start did not get the agent listening\n${err}`).toBeDefined();
    const agentPid = listening!.pid as number;
    orphans.push(agentPid);
    expect(agentPid).not.toBe(npm.pid);

    npm.kill(signal);
    await waitFor(() => npm.exitCode !== null || npm.signalCode !== null, `npm to exit after ${signal}`, 15_000);
    await waitFor(() => !alive(agentPid), `the agent (pid ${agentPid}) to exit after npm got ${signal}`, 15_000);
    await closed;
    expect({ code: npm.exitCode, signal: npm.signalCode }, `${JSON.stringify(logs)}\n${err}`).toEqual({ code: 0, signal: null });
    expect(logs.map((l) => l.msg)).toEqual(['listening', 'signal', 'draining', 'stopped']);
    expect(logs.find((l) => l.msg === 'signal')?.signal).toBe(signal);
  });
});

describe('the listening line', () => {
  it('a signal sent the moment it appears is handled (drain, exit 0), five times over', async () => {
    for (let i = 0; i < 5; i++) {
      const child = spawn(process.execPath, [MAIN, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], {
        cwd: ROOT,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let sent = false;
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (!sent && out.includes('"msg":"listening"')) {
          sent = true;
          child.kill('SIGTERM');
        }
      });
      const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('close', (code, signal) => resolve({ code, signal })),
      );
      expect(result, `run ${i}:\n${out}`).toEqual({ code: 0, signal: null });
      expect(
        out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => (JSON.parse(l) as { msg: string }).msg),
      ).toEqual(['listening', 'signal', 'draining', 'stopped']);
    }
  });
});
