/**
 * The browser e2e scenarios of the client's side of the close, shared by
 * hook mode (browser-reports.e2e.test.ts) and agent mode
 * (agent-client-reports.e2e.test.ts): the page, what the server does to its
 * one socket, the views each scenario must end with, and the run in
 * headless Chromium.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { ROOT } from './agent-process.js';
import { openPage } from './chromium.js';
import { checkExpositionWithPromtool, closesByLabels, parseExposition, sumOf, type Sample } from './exposition.js';
import { closesDelta } from './upstreams.js';
import { waitFor } from './wait.js';

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

interface Expected {
  server: Record<string, number>;
  client: Record<string, number>;
  mismatches: Record<string, number>;
}

/** The views each scenario must end with: the server's close, the client's, and the mismatch where they differ. */
const EXPECTED: Record<Scenario, Expected> = {
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
    checkExpositionWithPromtool(after.text);
  } finally {
    await browser.close();
  }
}
