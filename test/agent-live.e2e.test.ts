/// <reference lib="dom" />
/**
 * The agent's live page, its API and its close log, through the real built
 * agent (echo mode and proxy mode) and real headless Chromium: real closes
 * (a 4001 with a reason, a 1000, a TCP drop) show on the page; hostile
 * reasons sent as raw close frames (markup, quotes, control characters,
 * bytes that are not UTF-8) come back escaped in the API, the page and the
 * log; the page asks nothing of any other origin; with --metrics-token the
 * page and the API answer 401 without the token. --log-closes modes and
 * configuration errors too.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgentProcess, runAgentCommandAsync, type AgentProcess } from './helpers/agent-process.js';
import { suiteChromium, tableRows } from './helpers/chromium.js';
import { configError } from './helpers/config-error.js';
import { closePayload, encodeFrame, rawConnect } from './helpers/raw-client.js';
import { startWsUpstream, type WsUpstream } from './helpers/upstreams.js';
import { waitFor } from './helpers/wait.js';

const chromium = suiteChromium();
const agents: AgentProcess[] = [];
const upstreams: WsUpstream[] = [];

afterEach(async () => {
  while (agents.length) agents.pop()!.kill();
  while (upstreams.length) await upstreams.pop()!.close();
});

async function agent(args: string[]): Promise<AgentProcess> {
  const a = await startAgentProcess(args);
  agents.push(a);
  return a;
}

interface Entry {
  time: string;
  code: number;
  codename: string;
  category: string;
  initiator: string;
  durationSeconds: number;
  reason: string;
  path: string;
  peer?: string;
}

async function recent(a: AgentProcess, headers: Record<string, string> = {}): Promise<{ recorded: number; peer: boolean; closes: Entry[] }> {
  const res = await fetch(`http://${a.metricsListen}/api/closes/recent`, { headers, signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return (await res.json()) as { recorded: number; peer: boolean; closes: Entry[] };
}

/** The close log's lines (msg "close"), without the logger's own fields. */
function closeLines(a: AgentProcess): Entry[] {
  return a
    .logs()
    .filter((l) => l.msg === 'close')
    .map(({ level, msg, ...entry }) => {
      expect([level, msg]).toEqual(['info', 'close']);
      return entry as unknown as Entry;
    });
}

/** Open a ws client, resolve once open. */
function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((r) => (ws.readyState === WebSocket.CLOSED ? r() : ws.once('close', () => r())));
}

/** A raw client through the agent that sends one masked close frame with `reason` (bytes as given) and waits for the end. */
async function rawClose(a: AgentProcess, path: string, code: number, reason: Buffer | string): Promise<void> {
  const port = Number(a.listen.split(':').at(-1));
  const raw = await rawConnect(port, path);
  expect(raw.response).toMatch(/^HTTP\/1\.1 101/);
  raw.socket.write(encodeFrame(0x8, closePayload(code, reason)));
  // The upstream answers (a 1007 for a reason that is not UTF-8); end our side once it did.
  await waitFor(() => raw.received().length > 0 || raw.socket.destroyed, 'the close answer');
  raw.socket.end();
  await raw.closed;
}

const MARKUP = '</script><img src=x onerror="alert(1)">\'"';

describe('the agent serves the live page on its metrics listener', () => {
  it('shows real closes (4001 with a reason, 1000, TCP drop) in headless Chromium, asks only its own origin, and logs every close (--log-closes all)', async () => {
    const a = await agent(['--log-closes', 'all']);
    const url = `ws://${a.listen}`;
    const first = await open(`${url}/chat?token=secret`);
    first.close(4001, 'token expired');
    await closed(first);

    const { page, requests, problems, close } = await chromium.watchedPage();
    const origin = `http://${a.metricsListen}`;
    expect((await page.goto(`${origin}/`))?.status()).toBe(200);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 20_000 });

    const second = await open(`${url}/ws`);
    second.close(1000, 'bye');
    await closed(second);
    const third = await open(`${url}/drop`);
    third.terminate();
    await closed(third);

    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length === 3, undefined, { timeout: 20_000 });
    const rows = await tableRows(page);
    // code, codename, initiator, reason, path
    expect(rows.map((r) => [r[1], r[2], r[4], r[6], r[7]])).toEqual([
      ['1006', 'CLOSE_ABNORMAL', 'client', '', '/drop'],
      ['1000', 'CLOSE_NORMAL', 'client', 'bye', '/ws'],
      ['4001', 'APPLICATION', 'client', 'token expired', '/chat'],
    ]);
    await page.waitForFunction(() => document.getElementById('closes-15m')?.textContent === '3', undefined, { timeout: 30_000 });
    expect(requests.length).toBeGreaterThanOrEqual(4);
    for (const r of requests) expect(new URL(r).origin, r).toBe(origin);
    expect(problems).toEqual([]);
    await close();

    // The log carries the ring's entries, one line per close, in the order they happened.
    const api = await recent(a);
    expect(api.peer).toBe(false);
    await waitFor(() => closeLines(a).length === 3, 'three close lines');
    const strip = ({ time, ...rest }: Entry): Omit<Entry, 'time'> => (expect(Date.parse(time)).not.toBeNaN(), rest);
    expect(closeLines(a).map(strip)).toEqual(api.closes.map(strip).reverse());
    expect(closeLines(a).every((e) => e.peer === undefined)).toBe(true);
  }, 120_000);

  it('escapes hostile reasons from raw close frames through the proxy, keeps the peer with --recent-closes-peer, and logs abnormal closes only', async () => {
    const upstream = await startWsUpstream();
    upstreams.push(upstream);
    const a = await agent(['--upstream', upstream.url, '--recent-closes-peer', '--log-closes', 'abnormal']);
    await rawClose(a, '/a?q=1', 4400, MARKUP);
    await rawClose(a, '/b', 4401, Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x0a, 0x00, 0x1b, 0x5c]));
    await rawClose(a, '/c', 4402, 'line\u2028break\u202eevil\r\n');
    await rawClose(a, '/ok', 1000, 'fine');

    await waitFor(async () => (await recent(a)).recorded === 4, 'four closes recorded');
    const api = await recent(a);
    expect(api.peer).toBe(true);
    expect(api.closes.map((e) => [e.code, e.initiator, e.reason, e.path, e.peer])).toEqual([
      [1000, 'client', 'fine', '/ok', '127.0.0.1'],
      [4402, 'client', 'line\\u2028break\\u202eevil\\u000d\\u000a', '/c', '127.0.0.1'],
      [4401, 'client', 'bad\\xff\\xfe\\u000a\\u0000\\u001b\\\\', '/b', '127.0.0.1'],
      [4400, 'client', MARKUP, '/a', '127.0.0.1'],
    ]);

    // abnormal: the three 44xx closes, not the 1000; each line is one JSON object (no raw newline or control byte).
    await waitFor(() => closeLines(a).length === 3, 'three close lines');
    const closeLogText = a.lines.filter((l) => l.includes('"msg":"close"'));
    for (const line of closeLogText) expect(line).toMatch(/^[\x20-\x7e]*\n?$/);
    expect(closeLines(a).map((e) => [e.code, e.reason, e.path, e.peer])).toEqual(
      api.closes
        .filter((e) => e.code !== 1000)
        .reverse()
        .map((e) => [e.code, e.reason, e.path, e.peer]),
    );

    // The page shows the markup as text: no element made from it, no script ran.
    const { page, problems, close } = await chromium.watchedPage();
    await page.goto(`http://${a.metricsListen}/`);
    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length === 4, undefined, { timeout: 20_000 });
    const rows = await tableRows(page);
    expect(rows.map((r) => r[6])).toEqual(api.closes.map((e) => e.reason));
    expect(await page.$$eval('#closes img, #closes script', (els) => els.length)).toBe(0);
    expect(problems).toEqual([]);
    await close();
  }, 120_000);

  it('with --metrics-token: the page, its assets and the API answer 401 without the token, in Chromium too; no close log by default', async () => {
    const a = await agent(['--metrics-token', 'let-me-in']);
    const origin = `http://${a.metricsListen}`;
    for (const path of ['/', '/live/app.js', '/api/closes/recent', '/api/closes/summary', '/api/closes/events', '/metrics']) {
      const res = await fetch(`${origin}${path}`, { signal: AbortSignal.timeout(5000) });
      expect(res.status, path).toBe(401);
      const wrong = await fetch(`${origin}${path}`, { headers: { authorization: 'Bearer nope' }, signal: AbortSignal.timeout(5000) });
      expect(wrong.status, path).toBe(401);
    }
    const ws = await open(`ws://${a.listen}/private`);
    ws.close(4001, 'token expired');
    await closed(ws);
    await waitFor(async () => (await recent(a, { authorization: 'Bearer let-me-in' })).recorded === 1, 'the close recorded');

    const anonymous = await chromium.watchedPage();
    const statuses = new Map<string, number>();
    anonymous.page.on('response', (r) => statuses.set(new URL(r.url()).pathname, r.status()));
    await expect(anonymous.page.goto(`${origin}/`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect(statuses.get('/')).toBe(401);
    await anonymous.close();

    const { page, requests, close } = await chromium.watchedPage({ httpCredentials: { username: 'ops', password: 'let-me-in' } });
    expect((await page.goto(`${origin}/`))?.status()).toBe(200);
    await page.waitForFunction(() => document.querySelectorAll('#closes tbody tr').length === 1, undefined, { timeout: 20_000 });
    expect((await tableRows(page))[0]![6]).toBe('token expired');
    for (const r of requests) expect(new URL(r).origin).toBe(origin);
    await close();
    expect(closeLines(a)).toEqual([]);
  }, 120_000);

  it('--recent-closes 0 keeps no ring (the page still serves rates); --workers 2 answers the page with 503 and each worker logs its closes', async () => {
    const off = await agent(['--recent-closes', '0']);
    const ws = await open(`ws://${off.listen}/x`);
    ws.close(1000);
    await closed(ws);
    const api = await recent(off);
    expect([api.closes, (api as unknown as { recentCloses: number }).recentCloses]).toEqual([[], 0]);
    expect((await fetch(`http://${off.metricsListen}/`)).status).toBe(200);

    const cluster = await agent(['--workers', '2', '--log-closes', 'all']);
    const res = await fetch(`http://${cluster.metricsListen}/api/closes/recent`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/--workers 1.*--log-closes/);
    const w = await open(`ws://${cluster.listen}/y`);
    w.close(4003, 'per worker');
    await closed(w);
    await waitFor(() => closeLines(cluster).length === 1, 'the worker logged the close');
    const line = cluster.logs().find((l) => l.msg === 'close')!;
    expect([line.code, line.reason, line.path, typeof line.worker]).toEqual([4003, 'per worker', '/y', 'number']);
  }, 120_000);
});

describe('the live flags reject bad values', () => {
  it('names the flag or variable and what it expects', async () => {
    expect(configError(['--recent-closes', '-1']).message).toMatch(/--recent-closes: "-1" is not valid: expected a whole number/);
    expect(configError(['--recent-closes', '100001']).message).toMatch(/--recent-closes: 100001 is too many: expected 0 \(off\) to 100000/);
    expect(configError([], { WS_CLOSE_AGENT_RECENT_CLOSES: 'many' }).message).toMatch(/WS_CLOSE_AGENT_RECENT_CLOSES: "many" is not valid/);
    expect(configError(['--log-closes', 'some']).message).toMatch(/--log-closes: "some" is not valid: expected one of off, abnormal, all/);
    expect(configError(['--recent-closes-peer=yes']).message).toMatch(/--recent-closes-peer: "yes" is not valid: expected true or false/);
    expect(configError([], { WS_CLOSE_AGENT_RECENT_CLOSES_PEER: 'maybe' }).message).toMatch(/WS_CLOSE_AGENT_RECENT_CLOSES_PEER/);
    const r = await runAgentCommandAsync(['--log-closes', 'loud']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ws-close-agent: --log-closes: "loud" is not valid/);
  });
});
