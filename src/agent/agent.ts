/**
 * Starts the agent from a validated config: the WebSocket side (the echo
 * endpoint, or the proxy when an upstream is set) and, unless it is a
 * cluster worker, the admin side (/metrics, /healthz, /readyz), both feeding
 * one recorder on one registry.
 */
import type { AddressInfo, Server } from 'node:net';
import { createServer } from 'node:http';
import { readdir } from 'node:fs/promises';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { metricsHandler } from '../export/http.js';
import { createRecorder } from '../recorder/registry.js';
import { type CloseRecorder } from '../recorder/recorder.js';
import { createAdminHandler } from './admin-server.js';
import { createClientReportRoutes } from './client-reports.js';
import type { AgentConfig, HostPort } from './config.js';
import { createEchoServer } from './echo-server.js';
import type { Logger } from './log.js';
import { createProxyServer } from './proxy/server.js';
import { agentReconnectTracking } from './reconnects.js';
import type { ReconnectSink } from '../recorder/reconnects.js';
import { loadTlsPair, watchTls } from './tls.js';
import { startLive } from './live-wiring.js';

export interface StopResult {
  drained: number;
  terminated: number;
  opened: number;
  closed: number;
  active: number;
}

export interface RunningAgent {
  readonly registry: Registry;
  readonly recorder: CloseRecorder;
  /** Bound address of the WebSocket side, HOST:PORT. */
  readonly listen: string;
  /** Bound address of /metrics, HOST:PORT (undefined for a cluster worker). */
  readonly metricsListen: string | undefined;
  /** Drain (1001 to every connection, up to the drain timeout), then close the servers. */
  stop(): Promise<StopResult>;
}

export function formatAddress(server: Server): string {
  const a = server.address() as AddressInfo;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Listen, or reject with a message naming the flag whose address failed (e.g. already in use). */
export function listenOn(server: Server, { host, port }: HostPort, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      const why =
        err.code === 'EADDRINUSE'
          ? 'address already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.code === 'EADDRNOTAVAIL'
              ? 'address not available on this host'
              : err.message;
      const wrapped = new Error(`${flag} ${address}: ${why} (${err.code ?? 'error'})`, { cause: err });
      reject(wrapped);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/**
 * A registry with the agent's metrics and Node's process metrics. Of
 * prom-client's defaults, those whose scrape-time cost grows with the number
 * of open connections are left out or replaced: the handle and resource
 * counts walk every socket on the event loop (about 15 ms at 5,000
 * connections), and process_open_fds lists /proc/self/fd synchronously (about
 * 19 ms at 10,000 descriptors): the agent's own active-connections gauge says
 * what the first two would, and the descriptor count is listed in the
 * background. The *_total variants are gauges that promtool's lint rejects.
 */
function createAgentRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of [
    'nodejs_active_handles',
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources',
    'nodejs_active_resources_total',
    'process_open_fds',
  ]) {
    registry.removeSingleMetric(name);
  }
  if (process.platform === 'linux') {
    // The same gauge, kept off the scrape's path: listing /proc/self/fd takes
    // ≈15 ms at 10,000 descriptors even on the thread pool, so a scrape
    // answers with the count of the listing that last finished and starts the
    // next one (the value is at most one scrape interval old).
    let openFds = -1;
    let listing = false;
    const refresh = (): void => {
      if (listing) return;
      listing = true;
      readdir('/proc/self/fd').then(
        (entries) => {
          // The listing's own descriptor is counted too.
          openFds = entries.length - 1;
          listing = false;
        },
        () => {
          listing = false; // /proc unavailable: nothing to report
        },
      );
    };
    refresh();
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers: [registry],
      collect() {
        if (openFds >= 0) this.set(openFds);
        refresh();
      },
    });
  }
  return registry;
}

export async function startAgent(
  config: AgentConfig,
  logger: Logger,
  options: { admin: boolean; reconnectSink?: ReconnectSink } = { admin: true },
): Promise<RunningAgent> {
  const registry = createAgentRegistry();
  const recorder = createRecorder({ registry, prefix: config.metricPrefix, codes: config.codes, maxCustomCodes: config.maxCustomCodes });
  // --client-key: reconnect tracking, in this process or (a cluster worker) in the primary's table.
  const reconnects = agentReconnectTracking(config, recorder, options.reconnectSink);
  // Before the WebSocket side exists: connections read their ws_close_id only while the report table listens.
  const routes = config.clientReports === undefined ? undefined : createClientReportRoutes(recorder, config.clientReports);

  const tls = config.tls ? loadTlsPair(config.tls) : undefined;
  const ws =
    config.upstream === undefined
      ? createEchoServer({
          recorder,
          logger,
          maxConnections: config.maxConnections,
          handshakeTimeoutMs: config.handshakeTimeoutMs,
          idleTimeoutMs: config.idleTimeoutMs,
          reconnects,
          routes,
          tls,
        })
      : createProxyServer({
          upstream: config.upstream,
          recorder,
          logger,
          maxConnections: config.maxConnections,
          handshakeTimeoutMs: config.handshakeTimeoutMs,
          connectTimeoutMs: config.connectTimeoutMs,
          idleTimeoutMs: config.idleTimeoutMs,
          halfCloseTimeoutMs: config.halfCloseTimeoutMs,
          reconnects,
          routes,
          tls,
        });
  const tlsWatch = config.tls && tls ? watchTls(ws.server, config.tls, tls, recorder, logger) : undefined;

  let ready = false;
  // The live page and the close log (live-wiring.ts); a cluster worker logs only.
  const live = startLive(config, recorder, options.admin ? 'single' : 'worker');
  const metricsServer = options.admin
    ? createServer(createAdminHandler({ serveMetrics: metricsHandler(registry), token: config.metricsToken, isReady: () => ready, fallback: live.fallback }))
    : undefined;

  try {
    await listenOn(ws.server, config.listen, '--listen');
    if (metricsServer) await listenOn(metricsServer, config.metricsListen, '--metrics-listen');
  } catch (err) {
    tlsWatch?.stop();
    ws.server.close();
    metricsServer?.close();
    routes?.close();
    live.close();
    throw err;
  }
  ready = true;

  let stopping: Promise<StopResult> | undefined;
  return {
    registry,
    recorder,
    listen: formatAddress(ws.server),
    metricsListen: metricsServer ? formatAddress(metricsServer) : undefined,
    stop() {
      stopping ??= (async () => {
        ready = false;
        tlsWatch?.stop();
        logger.info('draining', { connections: ws.openConnections, drainTimeoutMs: config.drainTimeoutMs });
        const result = await ws.drain(config.drainTimeoutMs);
        routes?.close();
        live.close();
        if (metricsServer) {
          await new Promise<void>((resolve) => {
            metricsServer.close(() => resolve());
            metricsServer.closeAllConnections();
          });
        }
        return { ...result, ...recorder.totals() };
      })();
      return stopping;
    },
  };
}
