/**
 * The benchmark runner: `npm run bench` (full) or
 *   node --expose-gc bench/run.mjs [--quick] [--only 1,4] [--node 20,22,24] [--agent-cpu-prof DIR]
 * Runs each case with its baseline in the same run (interleaved rounds),
 * prints one table and writes it as JSON to bench/results/latest.json.
 * Everything listens on 127.0.0.1; every loop is bounded in count and time.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllChildren, killChildrenOnExit } from '../harness/children.mjs';
import { measureBusyCores } from '../harness/proc.mjs';
import { NGINX_BIN, nginxMissingReason } from './lib/nginx.mjs';
import { resolveNodes } from './lib/nodes.mjs';
import { formatTable, skippedRow } from './lib/rows.mjs';
import * as recordClose from './cases/record-close.mjs';
import * as connectionChurn from './cases/connection-churn.mjs';
import * as scrape from './cases/scrape.mjs';
import * as proxyStreaming from './cases/proxy-streaming.mjs';
import * as proxySetup from './cases/proxy-setup.mjs';
import * as proxyLatency from './cases/proxy-latency.mjs';
import * as proxyMemory from './cases/proxy-memory.mjs';
import * as frameScanner from './cases/frame-scanner.mjs';
import * as otelRecord from './cases/otel-record.mjs';
import * as clientReports from './cases/client-reports.mjs';
import * as recentCloses from './cases/recent-closes.mjs';
import * as reconnectTracking from './cases/reconnect-tracking.mjs';

const CASES = [
  recordClose,
  connectionChurn,
  scrape,
  proxyStreaming,
  proxySetup,
  proxyLatency,
  proxyMemory,
  frameScanner,
  otelRecord,
  clientReports,
  recentCloses,
  reconnectTracking,
];

/** Seconds each case may take (quick, full); the sums stay under 2 and 10 minutes. */
const BUDGET_S = {
  1: [5, 20],
  2: [13, 60],
  3: [8, 35],
  4: [22, 110],
  5: [13, 50],
  6: [8, 30],
  7: [22, 240],
  8: [3, 15],
  9: [5, 20],
  10: [5, 20],
  11: [20, 60],
  12: [6, 25],
};

/** The proxy cases: they start the agent and the bare relay under each --node binary. */
const PROXY_CASES = new Set([4, 5, 6, 7]);

const USAGE = `usage: node --expose-gc bench/run.mjs [--quick] [--only CASES] [--node VERSIONS] [--agent-cpu-prof DIR]
  --quick               fewer and shorter rounds (under 2 minutes)
  --only 1,4            run only these cases (numbers or names: ${CASES.map((c) => `${c.id}=${c.title}`).join(', ')})
  --node 22             run the agent and the bare relay of the proxy cases (${[...PROXY_CASES].join(', ')}) under this node:
                        a major version (the runner's own, or bench/node-versions: npm ci --prefix bench/node-versions)
                        or a path; several (--node 20,22,24) are measured in the same rounds, one set of rows each,
                        with the proxy cases' time budgets scaled to the extra processes
  --agent-cpu-prof DIR  start the agent with node --cpu-prof, profiles written to DIR`;

function parseFlags() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      node: { type: 'string' },
      'agent-cpu-prof': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  let selected = CASES;
  if (values.only) {
    const wanted = values.only.split(',').map((w) => w.trim().toLowerCase());
    selected = CASES.filter((c) => wanted.includes(String(c.id)) || wanted.some((w) => c.title.includes(w)));
    if (selected.length === 0) {
      process.stderr.write(`no case matches --only ${values.only}\n${USAGE}\n`);
      process.exit(2);
    }
  }
  let nodes;
  try {
    nodes = resolveNodes(values.node);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  return { quick: values.quick, selected, nodes, cpuProfDir: values['agent-cpu-prof'] };
}

function describeMachine(nodes) {
  let nginx = 'absent';
  if (!nginxMissingReason()) {
    // nginx -v prints its version on stderr.
    const r = spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' });
    nginx = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim() || 'nginx';
  }
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    node: process.version,
    agentNodes: nodes.map((n) => n.version),
    nginx,
    loadavgAtStart: loadavg(),
  };
}

async function main() {
  const { quick, selected, nodes, cpuProfDir } = parseFlags();
  if (!existsSync(fileURLToPath(new URL('../dist/esm/index.js', import.meta.url)))) {
    process.stderr.write('dist/esm is missing: run `npm run build` first (npm run bench does)\n');
    process.exit(2);
  }
  if (typeof globalThis.gc !== 'function') process.stderr.write('note: run with node --expose-gc for steadier in-process cases\n');
  const log = (msg) => process.stderr.write(`${msg}\n`);
  const agentNodeArgs = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const startedAt = new Date();
  const t0 = performance.now();
  const machine = describeMachine(nodes);
  const busyAtStart = await measureBusyCores(1000);
  const nginxSkip = nginxMissingReason();
  if (nginxSkip) log(nginxSkip);

  const rows = [];
  const timings = {};
  let failed = false;
  for (const c of selected) {
    // Each extra node binary adds an agent and a relay to the proxy cases' rounds (case 7 gives its readings a larger share instead).
    const scale = PROXY_CASES.has(c.id) && c.id !== 7 ? 1 + 0.5 * (nodes.length - 1) : 1;
    const budgetMs = BUDGET_S[c.id][quick ? 0 : 1] * 1000 * scale;
    log(`case ${c.id}: ${c.title} (budget ${budgetMs / 1000} s)`);
    const caseStart = performance.now();
    try {
      rows.push(...(await c.run({ quick, deadline: caseStart + budgetMs, log, agentNodeArgs, nodes })));
    } catch (err) {
      failed = true;
      log(`case ${c.id} failed: ${err.stack ?? err}`);
      rows.push(skippedRow({ caseId: c.id, name: c.title, reason: `error: ${err.message}`, status: 'error' }));
      killAllChildren();
    }
    timings[c.id] = { seconds: Math.round((performance.now() - caseStart) / 100) / 10, loadavg1m: loadavg()[0] };
    log(`case ${c.id} took ${timings[c.id].seconds} s (load average ${timings[c.id].loadavg1m.toFixed(2)})`);
  }

  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const table = formatTable(rows);
  const busyAtEnd = await measureBusyCores(1000);
  process.stdout.write(
    `\nws-close-agent benchmarks (${quick ? 'quick' : 'full'}; ${seconds} s; ${machine.cores} × ${machine.cpu}; node ${machine.node}; agent and relay on node ${machine.agentNodes.join(', ')}; ${machine.nginx})\n`,
  );
  process.stdout.write(
    `other load: ${busyAtStart.toFixed(2)} of ${machine.cores} cores busy before the run, ${busyAtEnd.toFixed(2)} after it (a busy machine slows every row; ratios stay within one run)\n`,
  );
  process.stdout.write('ours/baseline: median [min–max] over interleaved rounds; ratio: median [min–max] of per-round ratios\n\n');
  process.stdout.write(`${table}\n`);

  const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(resultsDir, { recursive: true });
  const command = `node --expose-gc bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
  // A run under other node binaries than the runner's own is a comparison of versions, kept apart from the latest run.
  const ownNodeOnly = nodes.length === 1 && nodes[0].bin === process.execPath;
  const resultsFile = ownNodeOnly ? 'latest.json' : `nodes-${nodes.map((n) => n.label).join('-')}.json`;
  writeFileSync(
    `${resultsDir}${resultsFile}`,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), seconds, command, quick, machine: { ...machine, busyCoresBefore: busyAtStart, busyCoresAfter: busyAtEnd, loadavgAtEnd: loadavg() }, cases: timings, rows }, null, 2)}\n`,
  );
  log(`results written to bench/results/${resultsFile}`);
  process.exitCode = failed ? 1 : 0;
}

killChildrenOnExit();

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  killAllChildren();
  process.exit(1);
});
