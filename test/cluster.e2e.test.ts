/**
 * Several processes, one set of numbers: `ws-close-agent --workers 2`, and
 * the documented pattern for library users who run cluster themselves
 * (examples/cluster.mjs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { scrape, startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function ask(ws: WebSocket, message: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(textOf(data)));
    ws.send(message);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/** Open connections until both workers have served some; each is closed with the next code. Returns pid -> count. */
async function spreadOverWorkers(url: string, pidCommand: string, codes: number[]): Promise<Map<string, number>> {
  const byPid = new Map<string, number>();
  for (const code of codes) {
    const ws = await open(url);
    const pid = await ask(ws, pidCommand);
    byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    ws.close(code);
    await closed(ws);
  }
  return byPid;
}

const CODES = [1000, 1000, 1001, 4000, 4001, 4001, 3000, 1011];
const EXPECTED = {
  '1000 CLOSE_NORMAL standard client': 2,
  '1001 CLOSE_GOING_AWAY standard client': 1,
  '4000 APPLICATION application client': 1,
  '4001 APPLICATION application client': 2,
  '3000 FRAMEWORK framework client': 1,
  '1011 INTERNAL_ERROR standard client': 1,
};

describe('ws-close-agent --workers 2', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgentProcess(['--workers', '2']);
  });
  afterAll(() => agent?.kill());

  it('spreads connections over both workers and serves exact aggregate counts from the primary', async () => {
    const listening = agent.logs().find((l) => l.msg === 'listening') as { workerPids: number[] };
    expect(listening.workerPids).toHaveLength(2);
    const byPid = await spreadOverWorkers(`ws://${agent.listen}`, '!pid', CODES);
    expect([...byPid.keys()].sort()).toEqual(listening.workerPids.map(String).sort());

    // One connection stays open on some worker: the summed active gauge shows it.
    const open1 = await open(`ws://${agent.listen}`);
    let text = '';
    await waitFor(async () => {
      text = await (await scrape(agent)).text();
      const s = parseExposition(text);
      return sumOf(s, 'websocket_connections_closed_total') === CODES.length && sumOf(s, 'websocket_connections_active') === 1;
    }, 'aggregate counts');
    const samples = parseExposition(text);
    expect(closesByLabels(samples)).toEqual(EXPECTED);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(CODES.length + 1);
    expect(sumOf(samples, 'websocket_connection_duration_seconds_count')).toBe(CODES.length);
    expect(sumOf(samples, 'websocket_connection_duration_seconds_bucket', { le: '+Inf', codename: 'CLOSE_NORMAL' })).toBe(2);
    promtoolCheckMetrics(text);

    const om = await scrape(agent, '/metrics', { Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
    expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    const omText = await om.text();
    expect(omText).toMatch(/^# TYPE websocket_connections_closed counter$/m);
    expect(omText).toMatch(/# EOF\n$/);

    // SIGTERM on the primary drains the workers: the open connection gets 1001.
    const code = closed(open1);
    expect(await agent.stop()).toBe(0);
    expect(await code).toBe(1001);
    const stopped = agent.logs().find((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ opened: CODES.length + 1, closed: CODES.length + 1, active: 0, drained: 1 });
  });
});

describe('library users running cluster themselves (examples/cluster.mjs)', () => {
  let child: ChildProcess;
  let ports: { wsPort: number; metricsPort: number };
  beforeAll(async () => {
    child = spawn(process.execPath, [fileURLToPath(new URL('../examples/cluster.mjs', import.meta.url)), '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    ports = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('examples/cluster.mjs did not start')), 15_000);
      child.stdout!.once('data', (d: Buffer) => {
        clearTimeout(timer);
        resolve(JSON.parse(d.toString()) as { wsPort: number; metricsPort: number });
      });
    });
  });
  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('the primary aggregates both workers exactly', async () => {
    const byPid = await spreadOverWorkers(`ws://127.0.0.1:${ports.wsPort}`, 'pid', CODES);
    expect(byPid.size).toBe(2);
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(`http://127.0.0.1:${ports.metricsPort}/metrics`)).text();
      return sumOf(parseExposition(text), 'websocket_connections_closed_total') === CODES.length;
    }, 'aggregate counts');
    const samples = parseExposition(text);
    expect(closesByLabels(samples)).toEqual(EXPECTED);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(CODES.length);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
  });
});
