/**
 * Alerts delivered: the built agent (echo mode, two instances of one job) ->
 * a real Prometheus evaluating the shipped threshold rules (generated from
 * scripts/alerts/config.ts with the windows scaled down to seconds) -> a real
 * Alertmanager running alerts/alertmanager.example.yml (its receivers pointed
 * at this test, its timings shortened, its inhibit rules as shipped) -> a
 * webhook receiver here.
 *
 * A burst of TCP resets through one agent fires WebSocketAbnormalClosuresHigh
 * (job-wide, critical) and it is delivered; the other agent is then killed,
 * and its WebSocketTargetDown (per instance) is held back by the example's
 * inhibit rule while the job-wide alert fires. When the burst ends, the
 * abnormal-close alert resolves (delivered as resolved) and only then is
 * WebSocketTargetDown delivered.
 *
 * Needs `npm run build` first, `prometheus` and `prometheus-alertmanager`
 * (with `amtool`), Debian packages.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import YAML from 'yaml';
import { ALERT_CONFIG, type AlertConfig } from '../scripts/alerts/config.js';
import { renderRuleFile } from '../scripts/alerts/rule-files.js';
import { ALERT, RECORD } from '../scripts/alerts/rules.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { startAlertmanager, startWebhookReceiver, type AlertmanagerProcess, type Notification, type WebhookReceiver } from './helpers/alertmanager.js';
import { queryPrometheus, startPrometheus, type PrometheusProcess } from './helpers/prometheus.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const AGENT = root('dist/esm/agent/main.js');
const EXAMPLE = root('alerts/alertmanager.example.yml');
const AMTOOL = process.env.AMTOOL ?? 'amtool';
const JOB = 'ws-gateway';

/** The shipped rules with every window in seconds, so that the test takes seconds, not minutes. */
const SCALED: AlertConfig = {
  ...ALERT_CONFIG,
  rateWindow: '10s',
  abnormalShare: { ...ALERT_CONFIG.abnormalShare, minClosesInWindow: 10, for: '2s' },
  targets: { ...ALERT_CONFIG.targets, downFor: '2s' },
};

/** An alert as Alertmanager's API v2 lists it. */
interface AlertmanagerAlert {
  labels: Record<string, string>;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[]; silencedBy: string[] };
}

interface AlertmanagerConfig {
  route: { group_wait: string; group_interval: string; repeat_interval: string; routes?: unknown[] };
  receivers: { name: string; webhook_configs: { url: string; send_resolved: boolean }[] }[];
  inhibit_rules: unknown[];
}

/** The example with its receivers pointed at `webhook` and its timings in seconds; the routes and inhibit rules as shipped. */
function testConfig(webhook: string): string {
  const config = YAML.parse(readFileSync(EXAMPLE, 'utf8')) as AlertmanagerConfig;
  config.route.group_wait = '1s';
  config.route.group_interval = '1s';
  config.route.repeat_interval = '1h';
  for (const receiver of config.receivers) for (const hook of receiver.webhook_configs) hook.url = `${webhook}/${receiver.name}`;
  return YAML.stringify(config);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let dir = '';
let agentA: AgentProcess | undefined;
let agentB: AgentProcess | undefined;
let prometheus: PrometheusProcess | undefined;
let alertmanager: AlertmanagerProcess | undefined;
let receiver: WebhookReceiver | undefined;

/** Waits (bounded, polling) until `check` returns a value. */
async function waitUntil<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt += 1) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(
    `timed out waiting for ${what}\nnotifications: ${JSON.stringify(receiver?.notifications ?? []).slice(0, 2000)}\n` +
      `prometheus: ${prometheus?.log() ?? ''}\nalertmanager: ${alertmanager?.log() ?? ''}`,
  );
}

/** A notification that carries `alertname` in `status`, if one arrived. */
function notified(alertname: string, status: 'firing' | 'resolved'): Notification | undefined {
  return receiver?.notifications.find((n) => n.alerts.some((a) => a.labels.alertname === alertname && a.status === status));
}

/** One connection through the agent, one echoed message, then a TCP reset: no close frame (1006). */
async function dropOne(address: string): Promise<void> {
  const ws = new WebSocket(`ws://${address}/`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('drop connection timed out')), 5000);
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('open', () => ws.send('ping'));
    ws.once('message', () => {
      clearTimeout(timer);
      (ws as unknown as { _socket: { resetAndDestroy(): void } })._socket.resetAndDestroy();
      resolve();
    });
  });
}

/** Drops connections through `address`, a few at a time, until `until()` holds (bounded in count and time). */
async function dropUntil(address: string, until: () => boolean | Promise<boolean>, what: string): Promise<number> {
  const deadline = Date.now() + 45_000;
  let dropped = 0;
  while (!(await until())) {
    if (Date.now() > deadline || dropped >= 2000) throw new Error(`${what}: not reached after ${dropped} drops`);
    await Promise.all([0, 1, 2, 3].map(() => dropOne(address)));
    dropped += 4;
    await sleep(150);
  }
  return dropped;
}

beforeAll(async () => {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build first`);
  dir = mkdtempSync(join(tmpdir(), 'ws-close-alerting-'));
  const rules = join(dir, 'ws-close-agent.rules.yml');
  writeFileSync(rules, renderRuleFile('thresholds', SCALED));
  receiver = await startWebhookReceiver();
  alertmanager = await startAlertmanager(testConfig(receiver.url));
  [agentA, agentB] = await Promise.all([startAgentProcess(), startAgentProcess()]);
  prometheus = await startPrometheus({
    targets: [agentA.metricsListen, agentB.metricsListen],
    job: JOB,
    ruleFiles: [rules],
    intervalSeconds: 1,
    extraConfig: { alerting: { alertmanagers: [{ static_configs: [{ targets: [alertmanager.address] }] }] } },
    // Alerts are re-sent every minute by default: every second here, so that a resolved one arrives at once.
    extraArgs: ['--rules.alert.resend-delay=1s'],
  });
  // Both targets scraped and known as ours (the latch WebSocketTargetDown needs).
  await waitUntil('both targets recorded as exporting', async () => {
    const result = await queryPrometheus((prometheus as PrometheusProcess).url, `count(${RECORD.exportingTarget})`);
    return Number(result.data?.result[0]?.value?.[1] ?? 0) === 2 ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await alertmanager?.stop();
  await receiver?.close();
  await Promise.all([agentA?.stop(5000).catch(() => undefined), agentB?.stop(5000).catch(() => undefined)]);
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('alerts/alertmanager.example.yml', () => {
  it('passes amtool check-config, as shipped and as this test runs it', () => {
    const shipped = execFileSync(AMTOOL, ['check-config', EXAMPLE], { encoding: 'utf8' });
    expect(shipped).toContain('SUCCESS');
    expect(shipped).toContain('2 inhibit rules');
    const file = join(dir, 'alertmanager.yml');
    writeFileSync(file, testConfig('http://127.0.0.1:1'));
    expect(execFileSync(AMTOOL, ['check-config', file], { encoding: 'utf8' })).toContain('SUCCESS');
  });
});

describe('agent -> Prometheus -> shipped rules -> Alertmanager -> webhook', () => {
  it('a burst of TCP drops fires the abnormal-close alert, holds back the per-instance alert while it fires, and resolves', async () => {
    const a = agentA as AgentProcess;
    const url = (alertmanager as AlertmanagerProcess).url;
    // 1. The burst, until the job-wide alert has been delivered.
    const started = Date.now();
    await dropUntil(a.listen, () => notified(ALERT.abnormalHigh, 'firing') !== undefined, 'abnormal-close alert delivered');
    const firing = notified(ALERT.abnormalHigh, 'firing') as Notification;
    expect(firing.receiver).toBe('page');
    expect(firing.path).toBe('/page');
    const alert = firing.alerts.find((x) => x.labels.alertname === ALERT.abnormalHigh);
    expect(alert?.labels).toMatchObject({ job: JOB, severity: 'critical' });
    expect(alert?.labels.instance).toBeUndefined();
    expect(alert?.annotations.description).toMatch(/^100% of the WebSocket closes of job ws-gateway in the last 10s were abnormal/);
    console.log(`abnormal-close alert delivered ${Date.now() - started} ms after the burst began`);

    // 2. The other instance dies while the burst goes on: its per-instance alert reaches
    // Alertmanager, inhibited by the job-wide one, and is not delivered.
    const b = agentB as AgentProcess;
    b.kill();
    const targetDown = async (): Promise<AlertmanagerAlert | undefined> => {
      const response = await fetch(`${url}/api/v2/alerts?filter=${encodeURIComponent(`alertname="${ALERT.targetDown}"`)}`);
      return ((await response.json()) as AlertmanagerAlert[])[0];
    };
    await dropUntil(a.listen, async () => ((await targetDown())?.status.inhibitedBy.length ?? 0) > 0, 'WebSocketTargetDown inhibited');
    const held = (await targetDown()) as AlertmanagerAlert;
    expect(held.labels).toMatchObject({ job: JOB, instance: b.metricsListen, severity: 'warning' });
    expect(held.status.state).toBe('suppressed');
    // Still firing at Prometheus, still held back here.
    expect(notified(ALERT.targetDown, 'firing')).toBeUndefined();

    // 3. The burst ends: the abnormal-close alert resolves (delivered as resolved), which
    // lifts the inhibition, and the per-instance alert is delivered.
    const stopped = Date.now();
    const resolved = await waitUntil('abnormal-close alert resolved', () => notified(ALERT.abnormalHigh, 'resolved'));
    console.log(`abnormal-close alert resolved ${resolved.at - stopped} ms after the burst ended`);
    expect(resolved.receiver).toBe('page');
    const down = await waitUntil('WebSocketTargetDown delivered', () => notified(ALERT.targetDown, 'firing'));
    expect(down.receiver).toBe('ticket');
    // Alertmanager lifts the inhibition once the source alert has ended, and flushes the two
    // groups independently: the two notifications arrive close together, in either order.
    expect(down.at).toBeGreaterThan(stopped);
    expect(down.alerts.find((x) => x.labels.alertname === ALERT.targetDown)?.labels.instance).toBe(b.metricsListen);
  }, 120_000);
});
