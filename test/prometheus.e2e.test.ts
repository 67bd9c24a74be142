/**
 * The dashboards and rules against a real Prometheus: start the built agent
 * (echo mode), let a real `prometheus` on loopback scrape it every second with
 * the rule file loaded, drive WebSocket traffic with a mix of close codes,
 * then run every panel query of every dashboard (variables substituted) and
 * every rule expression through /api/v1/query.
 *
 * Needs `npm run build` first (npm test runs it) and the `prometheus` binary
 * (Debian package `prometheus`, or PROMETHEUS=/path).
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import YAML from 'yaml';
import { RECORD } from '../scripts/alerts/rules.js';
import { committedDashboards, e2eVariables, panelQueries, substitute, type PanelQuery } from './helpers/dashboard-queries.js';
import { echoConnection } from './helpers/echo-traffic.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { queryPrometheus, startPrometheus, type PrometheusProcess } from './helpers/prometheus.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const AGENT = root('dist/esm/agent/main.js');
const RULE_FILE = root('alerts/ws-close-agent.rules.yml');
const JOB = 'ws-close-agent';

/** What Grafana would put in for each variable. */
const VARIABLES = e2eVariables('e2e', JOB);

/** The committed files, as a user imports and loads them. */
const DASHBOARDS = committedDashboards();
const PANEL_QUERIES = panelQueries(DASHBOARDS);
const substituted = (expr: string): string => substitute(expr, VARIABLES);

interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
}
const RULES: readonly Rule[] = (YAML.parse(readFileSync(RULE_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const ruleName = (rule: Rule): string => rule.record ?? rule.alert ?? '?';

/** Panels that must show data after the traffic below. */
const MAIN_PANELS = ['Close rate by codename', 'Active connections', 'Opened vs closed', 'Close rate by initiator', 'Top close codes'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let agent: AgentProcess | undefined;
let prometheus: PrometheusProcess | undefined;
let agentAddress = '';
const held: WebSocket[] = [];

/** A close frame carrying 1005, which must never be on the wire: a protocol violation. */
async function sendForbiddenCloseCode(): Promise<void> {
  const ws = new WebSocket(`ws://${agentAddress}/`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('violation connection timed out')), 5000);
    ws.once('error', () => undefined);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('open', () => {
      const mask = [1, 2, 3, 4];
      const payload = [0x03, 0xed]; // 1005
      const frame = Buffer.from([0x88, 0x82, ...mask, ...payload.map((b, i) => b ^ (mask[i] as number))]);
      (ws as unknown as { _socket: NodeJS.WritableStream })._socket.write(frame);
    });
  });
}

/** An upgrade request without Sec-WebSocket-Key: an upgrade failure (bad_request). */
async function sendBadUpgrade(): Promise<void> {
  const [host, port] = agentAddress.split(':') as [string, string];
  await new Promise<void>((resolve) => {
    const socket = connect(Number(port), host, () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${agentAddress}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
    });
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on('data', () => socket.end());
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function driveTraffic(): Promise<void> {
  const ends: (number | 'drop')[] = [1000, 1000, 1000, 1000, 1001, 1001, 4001, 4001, 4001, 3000, 'drop', 'drop', 'drop'];
  await Promise.all(ends.map((end) => echoConnection(agentAddress, end)));
  await sendForbiddenCloseCode();
  await sendBadUpgrade();
}

/** Waits (bounded) until `expr` returns a first sample whose value passes `accept`. */
async function waitFor(expr: string, accept: (value: number) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no result';
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt += 1) {
    const result = await queryPrometheus((prometheus as PrometheusProcess).url, expr);
    const value = result.data?.result[0]?.value?.[1];
    if (value !== undefined && accept(Number(value))) return;
    last = JSON.stringify(result).slice(0, 300);
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what} (${expr}): ${last}\n${prometheus?.log() ?? ''}`);
}

beforeAll(async () => {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build first`);
  agent = await startAgentProcess(['--log-level', 'info']);
  const { listen, metricsListen } = agent;
  agentAddress = listen;
  // The target carries a `cluster` label, as relabelling sets it in multi-cluster setups.
  prometheus = await startPrometheus({ targets: [metricsListen], job: JOB, ruleFiles: [RULE_FILE], intervalSeconds: 1, labels: { cluster: 'e2e' } });
  // Two rounds of traffic with scrapes between them, so that rates see increases
  // (a counter's first sample only creates its series).
  held.push(await echoConnection(agentAddress, 'hold'), await echoConnection(agentAddress, 'hold'));
  await driveTraffic();
  await waitFor(`count_over_time(websocket_connections_closed_total{code="1000"}[1m])`, (n) => n >= 3, 'three scrapes after round 1');
  await driveTraffic();
  await waitFor(`sum(websocket_connections_closed_total{code="1000"})`, (n) => n >= 8, 'round 2 scraped');
  await waitFor(`count_over_time(websocket_connections_closed_total{code="1000"}[1m])`, (n) => n >= 6, 'more scrapes after round 2');
  await waitFor(RECORD.closeRate, (v) => v > 0, 'the recording rules evaluated');
}, 90_000);

afterAll(async () => {
  for (const ws of held) ws.terminate();
  await prometheus?.stop();
  await agent?.stop(5000).catch(() => undefined); // stop() kills it after 5 s
}, 20_000);

describe('every dashboard panel query against a real Prometheus', () => {
  it.each(PANEL_QUERIES)('$name', async ({ expr }) => {
    const result = await queryPrometheus((prometheus as PrometheusProcess).url, substituted(expr));
    expect(result.error, substituted(expr)).toBeUndefined();
    expect(result.status).toBe('success');
  });

  it.each(MAIN_PANELS)('main panel "%s" shows data', async (title) => {
    const queries = PANEL_QUERIES.filter((q) => q.name.includes(`ws-close-overview.json / ${title} /`));
    expect(queries.length).toBeGreaterThan(0);
    for (const { expr, name } of queries) {
      const result = await queryPrometheus((prometheus as PrometheusProcess).url, substituted(expr));
      expect(result.data?.result.length ?? 0, name).toBeGreaterThan(0);
    }
  });

  it('the close rate by codename names what was sent', async () => {
    const query = PANEL_QUERIES.find((q) => q.name.includes('ws-close-overview.json / Close rate by codename /')) as PanelQuery;
    const result = await queryPrometheus((prometheus as PrometheusProcess).url, substituted(query.expr));
    const codenames = (result.data?.result ?? []).map((r) => r.metric.codename);
    expect(codenames).toEqual(expect.arrayContaining(['CLOSE_NORMAL', 'CLOSE_GOING_AWAY', 'APPLICATION', 'FRAMEWORK', 'CLOSE_ABNORMAL']));
  });

  it('the template variables find the job, instance, codes and codenames', async () => {
    for (const [file, dashboard] of DASHBOARDS) {
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        const query = (variable.query as { query: string }).query;
        const match = /^label_values\((.+),\s*(\w+)\)$/.exec(query) as RegExpExecArray;
        const result = await queryPrometheus((prometheus as PrometheusProcess).url, `group by (${match[2]}) (${substituted(match[1] as string)})`);
        expect(result.status, `${file} $${variable.name}`).toBe('success');
        expect(result.data?.result.length ?? 0, `${file} $${variable.name}`).toBeGreaterThan(0);
      }
    }
  });
});

describe('every rule of alerts/ws-close-agent.rules.yml against a real Prometheus', () => {
  it.each(RULES.map((r) => ({ name: ruleName(r), expr: r.expr })))('$name', async ({ expr }) => {
    const result = await queryPrometheus((prometheus as PrometheusProcess).url, expr);
    expect(result.error, expr).toBeUndefined();
    expect(result.status).toBe('success');
  });

  it('records close rates by code and category and the abnormal share from the scraped agent', async () => {
    for (const record of [RECORD.codeRate, RECORD.categoryRate, RECORD.closeRate, RECORD.abnormalRatio, RECORD.errorRatio]) {
      const result = await queryPrometheus((prometheus as PrometheusProcess).url, record);
      expect(result.data?.result.length ?? 0, record).toBeGreaterThan(0);
    }
    const share = await queryPrometheus((prometheus as PrometheusProcess).url, RECORD.abnormalRatio);
    expect(share.data?.result[0]?.metric.job).toBe(JOB);
  });

  it('Prometheus loaded every rule and evaluates each without error', async () => {
    const response = await fetch(`${(prometheus as PrometheusProcess).url}/api/v1/rules`);
    const body = (await response.json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const loaded = body.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name)).toEqual(RULES.map(ruleName));
    for (const rule of loaded) {
      expect(rule.lastError ?? '', rule.name).toBe('');
      expect(rule.health, rule.name).toBe('ok');
    }
  });
});
