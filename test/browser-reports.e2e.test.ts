/**
 * The client's side of the close, end to end in headless Chromium: a page
 * loads the browser module (install()), opens one WebSocket, and the server
 * ends it one way or another; the page's report is joined with the close the
 * server recorded. Hook mode here: an express app with instrument() and
 * closeReportHandler() mounted; a test middlebox between the page and the
 * app can swallow the server's close frame.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { instrument, type Instrumentation } from '../dist/esm/index.js';
import { closeReportHandler, type CloseReportHandler } from '../dist/esm/reports/public.js';
import { ROOT } from './helpers/agent-process.js';
import { openPage } from './helpers/chromium.js';
import { startCloseSwallower, type CloseSwallower } from './helpers/close-swallower.js';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf, type Sample } from './helpers/exposition.js';
import { closesDelta } from './helpers/upstreams.js';
import { waitFor } from './helpers/wait.js';

export const CLIENT_JS = readFileSync(`${ROOT}dist/browser/index.js`, 'utf8');

/** The page: the module from the site's own /ws-close-agent/client.js, one socket, and for `navigate` a navigation away while it is open. */
export const SCENARIO_PAGE = `<!doctype html>
<title>ws-close-agent client reports</title>
<script type="module">
  import { install } from '/ws-close-agent/client.js';
  install();
  const scenario = new URLSearchParams(location.search).get('scenario');
  const ws = new WebSocket('ws://' + location.host + '/ws?scenario=' + scenario);
  if (scenario === 'navigate') ws.onopen = () => setTimeout(() => { location.href = '/done'; }, 50);
</script>`;

export type Scenario = 'close4001' | 'drop' | 'swallow' | 'navigate';

/** What the upstream does once the page's socket is open. */
export function actOn(ws: import('ws').WebSocket, url: string | undefined): void {
  const scenario = new URL(url ?? '/', 'http://x').searchParams.get('scenario');
  if (scenario === 'close4001') ws.close(4001, 'done');
  else if (scenario === 'drop') ws.terminate();
  else if (scenario === 'swallow') ws.close(1000);
}

export interface View {
  server: Record<string, number>;
  client: Record<string, number>;
  mismatches: Record<string, number>;
  text: string;
  samples: Sample[];
}

export function viewOf(text: string): View {
  const samples = parseExposition(text);
  const client: Record<string, number> = {};
  const mismatches: Record<string, number> = {};
  for (const s of samples) {
    if (s.value === 0) continue;
    if (s.name === 'websocket_client_closes_total') client[`${s.labels.code} ${s.labels.codename} ${s.labels.category} ${s.labels.clean}`] = s.value;
    if (s.name === 'websocket_close_mismatches_total') mismatches[`${s.labels.server_codename} ${s.labels.client_codename}`] = s.value;
  }
  return { server: closesByLabels(samples), client, mismatches, text, samples };
}

export interface Expected {
  server: Record<string, number>;
  client: Record<string, number>;
  mismatches: Record<string, number>;
}

/** The views each scenario must end with: the server's close, the client's, and the mismatch where they differ. */
export const EXPECTED: Record<Scenario, Expected> = {
  close4001: { server: { '4001 APPLICATION application server': 1 }, client: { '4001 APPLICATION application true': 1 }, mismatches: {} },
  drop: { server: { '1006 CLOSE_ABNORMAL standard server': 1 }, client: { '1006 CLOSE_ABNORMAL standard false': 1 }, mismatches: {} },
  swallow: {
    server: { '1000 CLOSE_NORMAL standard server': 1 },
    client: { '1006 CLOSE_ABNORMAL standard false': 1 },
    mismatches: { 'CLOSE_NORMAL CLOSE_ABNORMAL': 1 },
  },
  // The page went away with the socket open: the browser closes it with 1001, the page reports that it went away.
  navigate: { server: { '1001 CLOSE_GOING_AWAY standard client': 1 }, client: { '1001 CLOSE_GOING_AWAY standard false': 1 }, mismatches: {} },
};

const total = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

/** Load the scenario page from `base` in Chromium and wait until both views of its one connection are in `metrics()`. */
export async function runScenario(scenario: Scenario, base: string, metrics: () => Promise<string>): Promise<void> {
  const before = viewOf(await metrics());
  const browser = openPage(`${base}/?scenario=${scenario}`);
  try {
    let after = before;
    await waitFor(
      async () => {
        after = viewOf(await metrics());
        return total(closesDelta(before.client, after.client)) >= 1 && total(closesDelta(before.server, after.server)) >= 1;
      },
      `the ${scenario} close and its report`,
      30_000,
    );
    expect({
      server: closesDelta(before.server, after.server),
      client: closesDelta(before.client, after.client),
      mismatches: closesDelta(before.mismatches, after.mismatches),
    }).toEqual(EXPECTED[scenario]);
    const opened = sumOf(after.samples, 'websocket_connections_opened_total');
    expect(opened).toBe(sumOf(after.samples, 'websocket_connections_closed_total') + sumOf(after.samples, 'websocket_connections_active'));
    expect(sumOf(after.samples, 'websocket_client_reports_rejected_total')).toBe(sumOf(before.samples, 'websocket_client_reports_rejected_total'));
    promtoolCheckMetrics(after.text);
  } finally {
    await browser.close();
  }
}

describe('hook mode: an express app with closeReportHandler() mounted, in headless Chromium', () => {
  let server: Server;
  let wss: WebSocketServer;
  let hook: Instrumentation;
  let reports: CloseReportHandler;
  let swallower: CloseSwallower;
  let base: string;
  const registry = new Registry();

  beforeAll(async () => {
    const app = express();
    app.get('/ws-close-agent/client.js', (_req, res) => void res.type('text/javascript').send(CLIENT_JS));
    server = createServer(app);
    wss = new WebSocketServer({ server, path: '/ws' });
    hook = instrument(wss, { registry });
    // Created before the first connection: the hook reads the ids only while it listens.
    reports = closeReportHandler({ registry });
    expect(reports.recorder).toBe(hook.recorder);
    app.post('/ws-close-agent/report', reports);
    app.get('/done', (_req, res) => void res.type('html').send('<!doctype html><title>done</title>done'));
    app.get('/', (_req, res) => void res.type('html').send(SCENARIO_PAGE));
    wss.on('connection', (ws, req) => {
      ws.on('error', () => undefined);
      actOn(ws, req.url);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    swallower = await startCloseSwallower(port);
  });

  afterAll(async () => {
    await swallower?.close();
    reports?.close();
    hook?.uninstall();
    wss?.close();
    server?.closeAllConnections();
    server?.close();
  });

  const metrics = (): Promise<string> => registry.metrics();

  it('the server closes with 4001: both views agree', async () => {
    await runScenario('close4001', base, metrics);
  });

  it('the server drops TCP: both see 1006', async () => {
    await runScenario('drop', base, metrics);
  });

  it('a middlebox swallows the close frame: server 1000, client 1006, one mismatch', async () => {
    await runScenario('swallow', `http://127.0.0.1:${swallower.port}`, metrics);
    expect(swallower.swallowed).toBe(1);
  });

  it('the page navigates away: the page reports it went away, the server recorded 1001 from the client', async () => {
    await runScenario('navigate', base, metrics);
  });
});
