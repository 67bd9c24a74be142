/**
 * A real Alertmanager (Debian `prometheus-alertmanager`, or ALERTMANAGER=/path)
 * on loopback with temporary storage and clustering off, and a webhook
 * receiver that records every notification it gets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from './daemon.js';

const ALERTMANAGER = process.env.ALERTMANAGER ?? (process.platform === 'linux' ? '/usr/bin/prometheus-alertmanager' : 'alertmanager');

/** `address` is host:port, for Prometheus' alerting config. */
export type AlertmanagerProcess = Daemon;

/** Starts Alertmanager with the configuration text `config` and waits until it is ready. */
export async function startAlertmanager(config: string, readyTimeoutMs = 15_000): Promise<AlertmanagerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-close-alertmanager-'));
  const file = join(dir, 'alertmanager.yml');
  writeFileSync(file, config);
  return startDaemon({
    binary: ALERTMANAGER,
    args: (address, attempt) => [
      `--config.file=${file}`,
      `--storage.path=${join(dir, `data-${attempt}`)}`,
      `--web.listen-address=${address}`,
      // No gossip: a single instance, and no port of its own.
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    readyPath: '/-/ready',
    readyTimeoutMs,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
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
