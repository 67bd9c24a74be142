/**
 * Starts the agent from a validated config: the WebSocket side (the echo
 * endpoint, or the proxy when an upstream is set) and the admin side
 * (/metrics, /healthz, /readyz), both feeding one recorder on one registry.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createRecorder, type CloseRecorder } from '../metrics.js';
import { createAdminApp } from './admin-server.js';
import type { AgentConfig, HostPort } from './config.js';
import { createEchoServer } from './echo-server.js';
import { createProxyServer } from './proxy.js';
import type { Logger } from './log.js';

export interface RunningAgent {
  readonly registry: Registry;
  readonly recorder: CloseRecorder;
  /** Bound address of the WebSocket side, HOST:PORT. */
  readonly listen: string;
  /** Bound address of /metrics, HOST:PORT. */
  readonly metricsListen: string;
  /** Drain (1001 to every connection, up to the drain timeout), then close both servers. */
  stop(): Promise<void>;
}

function formatAddress(server: Server): string {
  const a = server.address() as AddressInfo;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function listenOn(server: Server, { host, port }: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which promtool's lint rejects; the
  // process and event-loop metrics that remain are the useful ones.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  const recorder = createRecorder({ registry, prefix: config.metricPrefix, codes: config.codes, maxCustomCodes: config.maxCustomCodes });

  const ws =
    config.upstream === undefined
      ? createEchoServer({ recorder, logger, maxConnections: config.maxConnections, handshakeTimeoutMs: config.handshakeTimeoutMs, idleTimeoutMs: config.idleTimeoutMs })
      : createProxyServer({
          upstream: config.upstream,
          recorder,
          logger,
          maxConnections: config.maxConnections,
          handshakeTimeoutMs: config.handshakeTimeoutMs,
          connectTimeoutMs: config.connectTimeoutMs,
          idleTimeoutMs: config.idleTimeoutMs,
          halfCloseTimeoutMs: config.halfCloseTimeoutMs,
        });

  let ready = false;
  const admin = createAdminApp({ registry, token: config.metricsToken, isReady: () => ready });
  const metricsServer = createServer(admin);

  try {
    await listenOn(ws.server, config.listen);
    await listenOn(metricsServer, config.metricsListen);
  } catch (err) {
    ws.server.close();
    metricsServer.close();
    throw err;
  }
  ready = true;

  let stopping: Promise<void> | undefined;
  return {
    registry,
    recorder,
    listen: formatAddress(ws.server),
    metricsListen: formatAddress(metricsServer),
    stop() {
      stopping ??= (async () => {
        ready = false;
        const open = ws.openConnections;
        logger.info('draining', { connections: open, drainTimeoutMs: config.drainTimeoutMs });
        const result = await ws.drain(config.drainTimeoutMs);
        await new Promise<void>((resolve) => {
          metricsServer.close(() => resolve());
          metricsServer.closeAllConnections();
        });
        logger.info('stopped', { ...result, ...recorder.totals() });
      })();
      return stopping;
    },
  };
}
