/**
 * A fleet and a second engine: three built agents (echo mode), scraped by a
 * real Prometheus in agent mode that remote-writes into a real
 * VictoriaMetrics (Debian `victoria-metrics`) with the external label
 * `cluster="fleet-a"`; a real `vmalert` evaluates the committed rule files
 * against VictoriaMetrics and writes its records back. A Prometheus server
 * scrapes the same agents (with the same `cluster` label) and evaluates the
 * same rules. Every dashboard query runs against both backends.
 *
 * Needs `npm run build` first, `prometheus`, `victoria-metrics` and `vmalert`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { RULE_FILES } from '../scripts/alerts/rule-files.js';
import { RECORD } from '../scripts/alerts/rules.js';
import { echoConnection } from './helpers/echo-traffic.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/alertmanager.js';
import { startDaemon, type Daemon } from './helpers/daemon.js';
import { committedDashboards, e2eVariables, panelQueries, substitute } from './helpers/dashboard-queries.js';
import { queryPrometheus, startPrometheus, type PrometheusProcess, type QueryResult } from './helpers/prometheus.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const AGENT = root('dist/esm/agent/main.js');
const RULES = Object.values(RULE_FILES).map(root);
const JOB = 'ws-fleet';
const CLUSTER = 'fleet-a';

const VARIABLES = e2eVariables(CLUSTER, JOB);

const PANEL_QUERIES = panelQueries(committedDashboards()).map((q) => ({ ...q, expr: substitute(q.expr, VARIABLES) }));

const RULE_NAMES = RULES.flatMap((file) =>
  (YAML.parse(readFileSync(file, 'utf8')) as { groups: { rules: { record?: string; alert?: string }[] }[] }).groups.flatMap((g) =>
    g.rules.map((r) => r.record ?? r.alert),
  ),
);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a VictoriaMetrics binary on 127.0.0.1 with `args` (plus -httpListenAddr), waiting for `/health`. */
function startVictoria(binary: string, args: string[]): Promise<Daemon> {
  return startDaemon({ binary, args: (address) => [...args, `-httpListenAddr=${address}`, '-loggerLevel=WARN'], readyPath: '/health' });
}

let dir = '';
const agents: AgentProcess[] = [];
let vm: Daemon | undefined;
let vmalert: Daemon | undefined;
let promAgent: PrometheusProcess | undefined;
let prometheus: PrometheusProcess | undefined;
let notifier: WebhookReceiver | undefined;

async function vmQuery(expr: string): Promise<QueryResult> {
  const response = await fetch(`${(vm as Daemon).url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
  });
  return (await response.json()) as QueryResult;
}

/** Waits (bounded) until `query(expr)` has a first value passing `accept`. */
async function waitFor(what: string, query: (expr: string) => Promise<QueryResult>, expr: string, accept: (v: number) => boolean): Promise<void> {
  const deadline = Date.now() + 40_000;
  let last = '';
  for (let attempt = 0; attempt < 400 && Date.now() < deadline; attempt += 1) {
    const result = await query(expr);
    const value = result.data?.result[0]?.value?.[1];
    if (value !== undefined && accept(Number(value))) return;
    last = JSON.stringify(result).slice(0, 300);
    await sleep(250);
  }
  throw new Error(
    `timed out waiting for ${what} (${expr}): ${last}\nvm: ${vm?.log() ?? ''}\nvmalert: ${vmalert?.log() ?? ''}\nagent: ${promAgent?.log() ?? ''}`,
  );
}

async function traffic(): Promise<void> {
  await Promise.all(agents.flatMap((a) => ([1000, 1000, 1001, 4001, 'drop'] as const).map((end) => echoConnection(a.listen, end))));
}

beforeAll(async () => {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build first`);
  dir = mkdtempSync(join(tmpdir(), 'ws-close-fleet-'));
  vm = await startVictoria('victoria-metrics', [
    `-storageDataPath=${join(dir, 'vm')}`,
    '-retentionPeriod=1d',
    // Recent samples are hidden for 30 s by default: queries here want what was just written.
    '-search.latencyOffset=0s',
  ]);
  agents.push(...(await Promise.all([0, 1, 2].map(() => startAgentProcess()))));
  const targets = agents.map((a) => a.metricsListen);
  promAgent = await startPrometheus({
    agent: true,
    targets,
    job: JOB,
    ruleFiles: [],
    intervalSeconds: 1,
    extraConfig: {
      global: { scrape_interval: '1s', scrape_timeout: '1s', external_labels: { cluster: CLUSTER } },
      remote_write: [{ url: `${vm.url}/api/v1/write`, queue_config: { batch_send_deadline: '1s' } }],
    },
  });
  prometheus = await startPrometheus({ targets, job: JOB, ruleFiles: RULES, intervalSeconds: 1, labels: { cluster: CLUSTER } });
  notifier = await startWebhookReceiver();
  vmalert = await startVictoria('vmalert', [
    ...RULES.map((r) => `-rule=${r}`),
    `-datasource.url=${vm.url}`,
    `-remoteWrite.url=${vm.url}`,
    `-notifier.url=${notifier.url}`,
    '-evaluationInterval=1s',
  ]);
  // Two rounds with scrapes between them, so that rates see increases.
  await traffic();
  await waitFor(
    'all three agents in VictoriaMetrics',
    vmQuery,
    `count(websocket_connections_opened_total{cluster="${CLUSTER}", job="${JOB}"})`,
    (n) => n === 3,
  );
  await traffic();
  await waitFor('round 2 in VictoriaMetrics', vmQuery, `sum(websocket_connections_closed_total{cluster="${CLUSTER}", code="1000"})`, (n) => n >= 12);
  await waitFor(
    'round 2 in Prometheus',
    (e) => queryPrometheus((prometheus as PrometheusProcess).url, e),
    `sum(websocket_connections_closed_total{code="1000"})`,
    (n) => n >= 12,
  );
  await waitFor('vmalert records in VictoriaMetrics', vmQuery, `sum(${RECORD.closeRate}{cluster="${CLUSTER}"})`, (v) => v > 0);
}, 90_000);

afterAll(async () => {
  await vmalert?.stop();
  await promAgent?.stop();
  await prometheus?.stop();
  await vm?.stop();
  await notifier?.close();
  await Promise.all(agents.map((a) => a.stop(5000).catch(() => undefined)));
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('three agents -> Prometheus (agent mode) -> VictoriaMetrics, rules in vmalert', () => {
  it('VictoriaMetrics holds every agent under the cluster label, and vmalert recorded per cluster and job', async () => {
    const opened = await vmQuery(`count by (cluster, job) (websocket_connections_opened_total)`);
    expect(opened.data?.result).toEqual([{ metric: { cluster: CLUSTER, job: JOB }, value: [expect.any(Number), '3'] }]);
    const record = await vmQuery(RECORD.closeRate);
    expect(record.data?.result.map((r) => r.metric)).toEqual([{ __name__: RECORD.closeRate, cluster: CLUSTER, job: JOB }]);
  });

  it('vmalert loaded every rule of both files and evaluates each without error', async () => {
    const body = (await (await fetch(`${(vmalert as Daemon).url}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; lastError?: string; health?: string }[] }[] };
    };
    const loaded = body.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual([...RULE_NAMES].sort());
    for (const rule of loaded) expect(rule.lastError ?? '', rule.name).toBe('');
  });
});

describe.each([
  { backend: 'VictoriaMetrics', query: (expr: string) => vmQuery(expr) },
  { backend: 'Prometheus', query: (expr: string) => queryPrometheus((prometheus as PrometheusProcess).url, expr) },
])('every dashboard query against $backend', ({ query }) => {
  it.each(PANEL_QUERIES)('$name', async ({ expr }) => {
    const result = await query(expr);
    expect(result.error, expr).toBeUndefined();
    expect(result.status, expr).toBe('success');
  });

  it('the main panels show the fleet', async () => {
    for (const title of ['Close rate by codename', 'Active connections', 'Opened vs closed']) {
      const queries = PANEL_QUERIES.filter((q) => q.name.startsWith(`ws-close-overview.json / ${title} /`));
      expect(queries.length, title).toBeGreaterThan(0);
      for (const { expr, name } of queries) expect((await query(expr)).data?.result.length ?? 0, name).toBeGreaterThan(0);
    }
  });
});
