/**
 * --workers N: N agent processes (Node's cluster module) share the listen
 * port; the primary serves /metrics with the aggregate of all workers
 * (prom-client's AggregatorRegistry: counters and the active gauge summed,
 * histograms merged bucket by bucket), /healthz and /readyz, and on
 * SIGTERM/SIGINT drains every worker.
 */
import { MSG } from './ipc-messages.js';
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { renderMetrics, serveRendered } from '../export/http.js';
import { createAdminHandler } from './admin-server.js';
import { formatAddress, listenOn, startAgent, type StopResult } from './agent.js';
import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import { applyReconnects, PrimaryReconnects, receiveHashKey, WorkerReconnectSink } from './reconnects.js';
import { nowMs } from '../recorder/reconnects.js';
import { startLive } from './live-wiring.js';

/** How long the primary waits for a worker's metrics before scraping without it. */
const WORKER_SCRAPE_TIMEOUT_MS = 5000;
const WORKER_START_TIMEOUT_MS = 30_000;

/** One worker's metrics, as registry.getMetricsAsJSON() returns them. */
type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

interface Message {
  type: string;
  id?: number;
  listen?: string;
  metrics?: MetricJson[];
  result?: StopResult;
}

/** A cluster worker: the WebSocket side only, answering the primary's requests. */
export async function runWorker(config: AgentConfig, logger: Logger): Promise<void> {
  // --client-key: one hash key for all workers, and the reconnect table in the primary.
  if (config.clientKey !== undefined) await receiveHashKey();
  const reconnectSink = config.clientKey === undefined ? undefined : new WorkerReconnectSink();
  const agent = await startAgent(config, logger, { admin: false, reconnectSink });
  const send = (message: Message, done?: () => void): void => {
    if (process.send && process.connected) process.send(message, undefined, {}, () => done?.());
    else done?.();
  };
  // Signals are the primary's to handle: it drains the workers. (A terminal's
  // Ctrl-C reaches the whole process group, workers included.)
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('disconnect', () => process.exit(0)); // the primary is gone
  process.on('message', (message: Message) => {
    if (applyReconnects(agent.recorder, message)) return;
    if (message?.type === MSG.metrics) {
      agent.registry.getMetricsAsJSON().then(
        (metrics) => send({ type: MSG.metricsReply, id: message.id, metrics: metrics }),
        (err: unknown) => logger.error('metrics collection failed', { err }),
      );
    } else if (message?.type === MSG.drain) {
      void agent.stop().then((result) => send({ type: MSG.stopped, result }, () => process.exit(0)));
    }
  });
  send({ type: MSG.listening, listen: agent.listen });
}

export interface RunningPrimary {
  readonly listen: string;
  readonly metricsListen: string;
  readonly pids: number[];
  stop(): Promise<StopResult>;
}

/** The primary: forks the workers, serves the aggregate metrics, drains on stop(). */
export async function runPrimary(config: AgentConfig, logger: Logger, workerCount: number): Promise<RunningPrimary> {
  let draining = false;
  let nextId = 1;
  const pendingScrapes = new Map<number, { replies: MetricJson[][]; waiting: number; done: () => void }>();
  const results = new Map<number, StopResult>();
  const reconnects =
    config.clientKey === undefined ? undefined : new PrimaryReconnects({ windowMs: config.reconnectWindowMs, maxKeys: config.reconnectMaxKeys }, nowMs());

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: Message) => {
      if (reconnects?.handle(worker, message)) return;
      if (message?.type === MSG.metricsReply && message.id !== undefined) {
        const scrape = pendingScrapes.get(message.id);
        if (!scrape) return;
        scrape.replies.push(message.metrics ?? []);
        if (--scrape.waiting === 0) scrape.done();
      } else if (message?.type === MSG.stopped && message.result) {
        results.set(worker.id, message.result);
      }
    });
    worker.on('exit', (code, signal) => {
      if (draining) return;
      // Its connections are gone and so are its counts; a new worker takes its place.
      logger.error('worker exited; starting a new one', { pid: worker.process.pid, code, signal });
      fork();
    });
    return worker;
  };

  const started = Array.from({ length: workerCount }, () => {
    const worker = fork();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${worker.process.pid} did not start within ${WORKER_START_TIMEOUT_MS} ms`)),
        WORKER_START_TIMEOUT_MS,
      );
      worker.on('message', (message: Message) => {
        if (message?.type === MSG.listening) {
          clearTimeout(timer);
          resolve(message.listen ?? '');
        }
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker ${worker.process.pid} exited with ${code} while starting`));
      });
    });
  });
  let addresses: string[];
  try {
    addresses = await Promise.all(started);
  } catch (err) {
    draining = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    throw err;
  }
  const listen = addresses[0] ?? '';

  const liveWorkers = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());

  const collect = async (): Promise<MetricJson[][]> => {
    const workers = liveWorkers();
    if (workers.length === 0) return [];
    const id = nextId++;
    const replies: MetricJson[][] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, WORKER_SCRAPE_TIMEOUT_MS);
      pendingScrapes.set(id, {
        replies,
        waiting: workers.length,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const w of workers) w.send({ type: MSG.metrics, id });
    });
    pendingScrapes.delete(id);
    return replies;
  };

  const admin = createServer(
    createAdminHandler({
      serveMetrics: serveRendered(async (accept) => renderMetrics(AggregatorRegistry.aggregate(await collect()), accept)),
      token: config.metricsToken,
      isReady: () => !draining && liveWorkers().length > 0,
      // No recorder here: the live page's routes say so (live-wiring.ts).
      fallback: startLive(config, undefined, 'primary').fallback,
    }),
  );
  await listenOn(admin, config.metricsListen, '--metrics-listen');

  let stopping: Promise<StopResult> | undefined;
  return {
    listen,
    metricsListen: formatAddress(admin),
    pids: liveWorkers().map((w) => w.process.pid as number),
    stop() {
      stopping ??= (async () => {
        draining = true;
        const workers = liveWorkers();
        logger.info('draining', { workers: workers.length, drainTimeoutMs: config.drainTimeoutMs });
        const exited = workers.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
        for (const w of workers) w.send({ type: MSG.drain });
        const deadline = new Promise<void>((r) => setTimeout(r, config.drainTimeoutMs + 5000).unref());
        await Promise.race([Promise.all(exited), deadline]);
        for (const w of liveWorkers()) w.process.kill('SIGKILL');
        await new Promise<void>((resolve) => {
          admin.close(() => resolve());
          admin.closeAllConnections();
        });
        const total: StopResult = { drained: 0, terminated: 0, opened: 0, closed: 0, active: 0 };
        for (const r of results.values()) for (const k of Object.keys(total) as (keyof StopResult)[]) total[k] += r[k];
        return total;
      })();
      return stopping;
    },
  };
}
