/**
 * A monitoring daemon (Prometheus, Alertmanager, VictoriaMetrics, vmalert) on a
 * free loopback port, its output kept for failure messages, ready when an HTTP
 * path answers 2xx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface Daemon {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly child: ChildProcess;
  /** Everything it logged, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly binary: string;
  /** The command line for a listen address 127.0.0.1:PORT; `attempt` counts the retries (for a fresh data directory). */
  readonly args: (address: string, attempt: number) => string[];
  /** The path that answers 2xx once it is ready (`/-/ready`, `/health`). */
  readonly readyPath: string;
  readonly readyTimeoutMs?: number;
  /** Run once the daemon is gone for good: after stop(), or when it never became ready. */
  readonly cleanup?: () => void;
}

/** A port that was free a moment ago on 127.0.0.1, for a process that cannot listen on port 0 and report it. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the daemon and waits until `readyPath` answers; rejects with its output when it does not. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  let lastError: unknown;
  // The port is free when we look, but could be taken before the daemon binds it: retry a few times.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const address = `127.0.0.1:${await findFreePort()}`;
    const url = `http://${address}`;
    const child = spawn(options.binary, options.args(address, attempt), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      options.cleanup?.();
    };
    const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        if ((await fetch(`${url}${options.readyPath}`)).ok) return { url, address, child, log: () => output, stop };
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    lastError = new Error(`${options.binary} did not become ready (exit ${child.exitCode}):\n${output}`);
    child.kill('SIGKILL');
    await exited;
  }
  options.cleanup?.();
  throw lastError;
}
