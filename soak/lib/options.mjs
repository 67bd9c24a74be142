/**
 * The soak's command line: the full and --quick sizes, every flag with its
 * default, and the checkpoints and deadline derived from them.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LOAD_NICE } from './procs.mjs';

const DEFAULT_OUT = fileURLToPath(new URL('../results/latest.json', import.meta.url));

const FULL = { connections: 5000, churn: 200_000, seconds: 600, concurrency: 64 };
const QUICK = { connections: 500, churn: 5000, seconds: 60, concurrency: 32 };

const USAGE = `usage: node soak/run.mjs [options]        (npm run soak = build + full run)
  --quick                    small run for CI: ${QUICK.connections} held, ${QUICK.churn} churned, --seconds ${QUICK.seconds}
  --connections N            connections held open through the agent (default ${FULL.connections})
  --churn N                  connections churned while they are held (default ${FULL.churn.toLocaleString('en-US')})
  --seconds N                hard deadline for the whole run; past it the run fails (default ${FULL.seconds})
  --concurrency N            churn loops in the load client (default ${FULL.concurrency}; quick ${QUICK.concurrency})
  --open-concurrency N       handshakes (closes, echoes) in flight for the held connections (default: --concurrency)
  --scrape-interval-ms N     /metrics scrape period (default 200)
  --scrape-limit-ms N        the p99 of /metrics answers must be at most this (default 50)
  --heap-limit-pct N         agent heap (after GC) at the end of the churn vs after the first checkpoint (default 10)
  --rss-limit-pct N          agent RSS, the same comparison (default 10)
  --first-checkpoint N       churned connections at the first memory checkpoint (default 10000, at most churn/10)
  --checkpoints N            checkpoints over the churn (default 10)
  --load-nice N              niceness of the load client and the upstream, so that they do not take the
                             agent's CPU (default ${LOAD_NICE}; 0 = same priority as the agent)
  --out PATH                 where the JSON summary goes (default soak/results/latest.json)`;

export function parseFlags(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      connections: { type: 'string' },
      churn: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      'open-concurrency': { type: 'string' },
      'scrape-interval-ms': { type: 'string' },
      'scrape-limit-ms': { type: 'string' },
      'heap-limit-pct': { type: 'string' },
      'rss-limit-pct': { type: 'string' },
      'first-checkpoint': { type: 'string' },
      checkpoints: { type: 'string' },
      'load-nice': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const base = values.quick ? QUICK : FULL;
  const num = (name, fallback, min = 0) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`soak: --${name} must be a number >= ${min} (got ${raw})\n${USAGE}\n`);
      process.exit(2);
    }
    return n;
  };
  const churn = Math.floor(num('churn', base.churn, 1));
  return {
    quick: values.quick,
    connections: Math.floor(num('connections', base.connections, 0)),
    churn,
    seconds: num('seconds', base.seconds, 5),
    concurrency: Math.floor(num('concurrency', base.concurrency, 1)),
    openConcurrency: Math.floor(num('open-concurrency', num('concurrency', base.concurrency, 1), 1)),
    scrapeIntervalMs: num('scrape-interval-ms', 200, 10),
    scrapeLimitMs: num('scrape-limit-ms', 50, 1),
    heapLimitPct: num('heap-limit-pct', 10),
    rssLimitPct: num('rss-limit-pct', 10),
    firstCheckpoint: Math.max(1, Math.min(Math.floor(num('first-checkpoint', 10_000, 1)), Math.floor(churn / 10))),
    checkpoints: Math.floor(num('checkpoints', 10, 1)),
    loadNice: Math.min(19, Math.floor(num('load-nice', LOAD_NICE))),
    out: resolve(values.out ?? DEFAULT_OUT),
  };
}

/** Churned counts at which the churn pauses for a measurement: the first, then every 1/n of the churn. */
export function checkpointList(opts) {
  const points = new Set([opts.firstCheckpoint]);
  for (let j = 1; j < opts.checkpoints; j++) {
    const at = Math.round((opts.churn * j) / opts.checkpoints);
    if (at > opts.firstCheckpoint && at < opts.churn) points.add(at);
  }
  return [...points].filter((p) => p < opts.churn).sort((a, b) => a - b);
}

/** The run's hard deadline (--seconds). */
export class Deadline {
  constructor(seconds) {
    this.start = Date.now();
    this.end = this.start + seconds * 1000;
    this.seconds = seconds;
  }
  remaining() {
    return this.end - Date.now();
  }
  elapsed() {
    return (Date.now() - this.start) / 1000;
  }
  /** Throws a clear failure when the deadline has passed. */
  check(what) {
    if (this.remaining() <= 0)
      throw new Error(`deadline: the run passed its --seconds ${this.seconds} limit during ${what} (${this.elapsed().toFixed(0)} s elapsed)`);
  }
}
