#!/usr/bin/env node
/**
 * The ws-close-agent command: parse flags and environment, start the agent,
 * drain on SIGTERM/SIGINT and exit 0. Bad configuration exits 2 with one
 * message naming the flag or variable.
 */
import { VERSION } from '../version.js';
import cluster from 'node:cluster';
import type { StopResult } from './agent.js';
import { ConfigError, helpText, parseConfig } from './config.js';
import { createLogger } from './log.js';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ws-close-agent: ${err.message}\nRun ws-close-agent --help for the flags.\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(helpText());
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const { config } = parsed;
  // Loaded only now, so --help and configuration errors answer without
  // loading ws, prom-client and the proxy.
  const [{ startAgent }, { runPrimary, runWorker }] = await Promise.all([import('./agent.js'), import('./cluster.js')]);
  const worker = config.workers > 1 && cluster.isWorker;
  const logger = createLogger(config.logLevel, undefined, worker ? { worker: process.pid } : {});
  // A bug that escaped every handler leaves the process in an unknown state:
  // log it and exit non-zero so the supervisor restarts a clean agent.
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception', { err, stack: err.stack });
    process.exit(70);
  });
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled rejection', { err: reason instanceof Error ? reason : new Error(String(reason)) });
  });

  if (worker) {
    try {
      await runWorker(config, logger);
    } catch (err) {
      logger.error('worker cannot start', { err });
      process.exit(1);
    }
    return;
  }

  let agent: { listen: string; metricsListen: string | undefined; stop(): Promise<StopResult> };
  let workerPids: number[] | undefined;
  try {
    if (config.workers > 1) {
      const primary = await runPrimary(config, logger, config.workers);
      workerPids = primary.pids;
      agent = primary;
    } else {
      agent = await startAgent(config, logger);
    }
  } catch (err) {
    logger.error('cannot start', { err });
    process.stderr.write(`ws-close-agent: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  // Installed before the listening line: whoever waits for that line may signal at once.
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second signal during the drain means "stop now" (as with docker stop's SIGKILL, but logged).
    if (++signals > 1) {
      logger.warn('second signal: exiting without waiting for the drain', { signal });
      process.exit(1);
    }
    logger.info('signal', { signal });
    agent.stop().then(
      (result) => {
        logger.info('stopped', { ...result });
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('stop failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  logger.info('listening', {
    version: VERSION,
    mode: config.upstream ? 'proxy' : 'echo',
    tls: config.tls !== undefined,
    listen: agent.listen,
    metricsListen: agent.metricsListen,
    upstream: config.upstream?.href,
    pid: process.pid,
    workers: config.workers,
    workerPids,
  });
}

void main();
