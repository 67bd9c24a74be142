/**
 * A real Alertmanager (Debian `prometheus-alertmanager`, or ALERTMANAGER=/path)
 * on loopback with temporary storage and clustering off, and a webhook
 * receiver that records every notification it gets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from './prometheus.js';

const ALERTMANAGER = process.env.ALERTMANAGER ?? (process.platform === 'linux' ? '/usr/bin/prometheus-alertmanager' : 'alertmanager');

export interface AlertmanagerProcess {
  readonly url: string;
  /** host:port, for Prometheus' alerting config. */
  readonly address: string;
  readonly child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts Alertmanager with the configuration text `config` and waits until it is ready. */
export async function startAlertmanager(config: string, readyTimeoutMs = 15_000): Promise<AlertmanagerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-close-alertmanager-'));
  const file = join(dir, 'alertmanager.yml');
  writeFileSync(file, config);
  let lastError: unknown;
  // The port is free when we look, but could be taken before Alertmanager binds it: retry a few times.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await findFreePort();
    const address = `127.0.0.1:${port}`;
    const child = spawn(
      ALERTMANAGER,
      [
        `--config.file=${file}`,
        `--storage.path=${join(dir, `data-${attempt}`)}`,
        `--web.listen-address=${address}`,
        // No gossip: a single instance, and no port of its own.
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
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
      rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const response = await fetch(`http://${address}/-/ready`);
        if (response.ok) return { url: `http://${address}`, address, child, log: () => output, stop };
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    lastError = new Error(`alertmanager did not become ready (exit ${child.exitCode}):\n${output}`);
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

/** One alert of a webhook notification (Alertmanager's webhook payload, version 4). */
interface NotifiedAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

export interface Notification {
  readonly receiver: string;
  readonly status: 'firing' | 'resolved';
  readonly alerts: NotifiedAlert[];
  /** The path it was posted to. */
  readonly path: string;
  /** Date.now() when it arrived. */
  readonly at: number;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly notifications: Notification[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1:0 that keeps every POSTed notification (bodies up to 1 MiB). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: Notification[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1 << 20) chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Notification, 'path' | 'at'>;
        notifications.push({ receiver: body.receiver, status: body.status, alerts: body.alerts, path: req.url ?? '', at: Date.now() });
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    notifications,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
