/**
 * The client's side of the close in agent mode, end to end: headless
 * Chromium loads a page through the real agent (the built command) in front
 * of a real `ws` upstream; the agent serves the browser module and takes the
 * page's report on its own WebSocket port, and joins it with the close it
 * recorded for the same ws_close_id. A test middlebox between the page and
 * the agent can swallow the upstream's close frame. Then the reports a page
 * must not get counted: forged, duplicate, oversized, from another origin,
 * too frequent; each is turned away and counted, and the agent keeps serving.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { scrape, startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { startCloseSwallower, type CloseSwallower } from './helpers/close-swallower.js';
import { CLIENT_JS, SCENARIO_PAGE, actOn, runScenario, viewOf } from './helpers/client-report-scenarios.js';
import { parseExposition, sumOf } from './helpers/exposition.js';
import { closesDelta } from './helpers/upstreams.js';
import { waitFor } from './helpers/wait.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request on a fresh connection; the answer even when the server closes before reading all of the body. */
function send(listen: string, method: string, path: string, headers: Record<string, string | number> = {}, body?: string): Promise<Answer> {
  const [host, port] = listen.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A report as the browser module posts it: text/plain JSON from the page's origin. */
function report(listen: string, body: unknown, origin = `http://${listen}`): Promise<Answer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return send(
    listen,
    'POST',
    '/ws-close-agent/report',
    { Origin: origin, 'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': Buffer.byteLength(text) },
    text,
  );
}

const newId = (): string => randomBytes(16).toString('hex');

async function rejected(agent: AgentProcess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of parseExposition(await (await scrape(agent)).text()))
    if (s.name === 'websocket_client_reports_rejected_total') out[s.labels.reason as string] = s.value;
  return out;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Open a socket through the agent with `id`, have it end by `command` (an echo-agent command, or an upstream scenario in the path), and wait for its close event. */
async function connectAndClose(url: string, command?: string): Promise<number> {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  if (command !== undefined) ws.send(command);
  return new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
}

/** opened = closed + active in the agent's metrics. */
async function expectConsistent(agent: AgentProcess): Promise<void> {
  const samples = parseExposition(await (await scrape(agent)).text());
  expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(
    sumOf(samples, 'websocket_connections_closed_total') + sumOf(samples, 'websocket_connections_active'),
  );
}

describe('agent mode: the agent serves the module and the report endpoint, in headless Chromium', () => {
  let upstream: Server;
  let wss: WebSocketServer;
  let agent: AgentProcess;
  let swallower: CloseSwallower;
  const upgradeUrls: string[] = [];
  const plainPaths: string[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      plainPaths.push(req.url ?? '');
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(SCENARIO_PAGE);
      else if (path === '/done') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>done</title>done');
      else res.writeHead(404).end('not here\n');
    });
    wss = new WebSocketServer({ server: upstream, path: '/ws' });
    wss.on('connection', (ws, req) => {
      upgradeUrls.push(req.url ?? '');
      ws.on('error', () => undefined);
      actOn(ws, req.url);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    agent = await startAgentProcess(['--upstream', `ws://127.0.0.1:${port}`]);
    swallower = await startCloseSwallower(Number(agent.listen.split(':')[1]));
  });

  afterAll(async () => {
    await swallower?.close();
    await agent?.stop();
    wss?.close();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  const metrics = async (): Promise<string> => (await scrape(agent)).text();
  const base = (): string => `http://${agent.listen}`;

  it('serves the built browser module: JavaScript, cached by ETag, loadable from any origin; other methods get 405', async () => {
    const get = await send(agent.listen, 'GET', '/ws-close-agent/client.js?v=1');
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(get.headers['x-content-type-options']).toBe('nosniff');
    expect(get.headers['access-control-allow-origin']).toBe('*');
    expect(get.headers['cache-control']).toBe('public, max-age=300');
    expect(get.body).toBe(CLIENT_JS);
    const etag = get.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await send(agent.listen, 'GET', '/ws-close-agent/client.js', { 'If-None-Match': etag });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const head = await send(agent.listen, 'HEAD', '/ws-close-agent/client.js');
    expect([head.status, head.headers['content-length']]).toEqual([200, String(Buffer.byteLength(CLIENT_JS))]);
    const post = await send(agent.listen, 'POST', '/ws-close-agent/client.js', { 'Content-Length': 0 });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    // None of these went to the upstream; other plain HTTP does.
    expect(plainPaths.filter((p) => p.startsWith('/ws-close-agent/'))).toEqual([]);
    expect((await send(agent.listen, 'GET', '/elsewhere')).status).toBe(404);
    expect(plainPaths).toContain('/elsewhere');
  });

  it('the upstream closes with 4001: both views agree', async () => {
    await runScenario('close4001', base(), metrics);
    // The proxy reads the id and passes the request on unchanged.
    expect(upgradeUrls.at(-1)).toMatch(/^\/ws\?scenario=close4001&ws_close_id=[0-9a-f]{32}$/);
  });

  it('the upstream drops TCP: both see 1006', async () => {
    await runScenario('drop', base(), metrics);
  });

  it('a middlebox between the page and the agent swallows the close frame: server 1000, client 1006, one mismatch', async () => {
    await runScenario('swallow', `http://127.0.0.1:${swallower.port}`, metrics);
    expect(swallower.swallowed).toBe(1);
  });

  it('the page navigates away: the page reports it went away, the agent recorded 1001 from the client', async () => {
    await runScenario('navigate', base(), metrics);
  });

  it('forged, duplicate, oversized and other-origin reports are each turned away and counted; the agent keeps serving', async () => {
    const before = await rejected(agent);
    const viewBefore = viewOf(await metrics());

    // A real connection through the agent, reported once: joined; reported again: a duplicate.
    const id = newId();
    const port = Number(agent.listen.split(':')[1]);
    expect(await connectAndClose(`ws://127.0.0.1:${port}/ws?scenario=close4001&ws_close_id=${id}`)).toBe(4001);
    const first = await report(agent.listen, { id, code: 4001, clean: true, ms: 5 });
    expect([202, 204]).toContain(first.status); // held when it overtakes the agent's record of the close
    expect((await report(agent.listen, { id, code: 1006, clean: false, ms: 5 })).status).toBe(409);

    // Forged: not a report at all, and a well-formed id no connection had (held, then counted when its hold runs out).
    expect((await report(agent.listen, { id: 'not-an-id', code: 1000, clean: true })).status).toBe(400);
    expect((await report(agent.listen, '{"id":')).status).toBe(400);
    expect((await report(agent.listen, { id: newId(), code: 1000, clean: true })).status).toBe(202);
    // Oversized, from another origin, without an origin.
    const big = await report(agent.listen, { id: newId(), code: 1000, clean: true, pad: 'x'.repeat(2000) });
    expect(big.status).toBe(413);
    expect((await report(agent.listen, { id: newId(), code: 1000, clean: true }, 'https://evil.example')).status).toBe(403);

    await waitFor(async () => (await rejected(agent)).unknown_id! > (before.unknown_id ?? 0), 'the forged id counted once its hold runs out', 30_000, 200);
    expect(delta(before, await rejected(agent))).toEqual({ duplicate: 1, bad_request: 2, unknown_id: 1, too_large: 1, origin: 1 });
    // The one real connection counted once on the client's side, as it reported it first.
    const viewAfter = viewOf(await metrics());
    expect(closesDelta(viewBefore.client, viewAfter.client)).toEqual({ '4001 APPLICATION application true': 1 });
    expect(closesDelta(viewBefore.mismatches, viewAfter.mismatches)).toEqual({});

    // Still serving: plain HTTP, the module, WebSocket connections, health.
    expect((await send(agent.listen, 'GET', '/done')).status).toBe(200);
    expect((await send(agent.listen, 'GET', '/ws-close-agent/client.js')).status).toBe(200);
    expect(await connectAndClose(`ws://127.0.0.1:${port}/ws?scenario=close4001`)).toBe(4001);
    expect((await scrape(agent, '/healthz')).status).toBe(200);
    await waitFor(async () => {
      const samples = parseExposition(await metrics());
      return sumOf(samples, 'websocket_connections_active') === 0;
    }, 'every connection recorded');
    await expectConsistent(agent);
  });
});

describe('agent mode, echo endpoint: the join and the rate limit', () => {
  let agent: AgentProcess;

  beforeAll(async () => {
    agent = await startAgentProcess(['--client-report-rate-limit', '3']);
  });

  afterAll(async () => {
    await agent?.stop();
  });

  it('a report for an echo connection is joined; past the per-address limit reports get 429 and are counted; the agent keeps serving', async () => {
    const before = await rejected(agent);
    const id = newId();
    expect(await connectAndClose(`ws://${agent.listen}/?ws_close_id=${id}`, '!close 4002 bye')).toBe(4002);
    await waitFor(async () => sumOf(parseExposition(await (await scrape(agent)).text()), 'websocket_connections_active') === 0, 'the close recorded');
    expect((await report(agent.listen, { id, code: 4002, clean: true, ms: 3 })).status).toBe(204);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await report(agent.listen, { id: newId(), code: 1000, clean: true })).status);
    // Three a minute: the join used one, two more are held (well-formed ids), then the limit.
    expect(statuses).toEqual([202, 202, 429, 429]);
    const view = viewOf(await (await scrape(agent)).text());
    expect(view.client).toEqual({ '4002 APPLICATION application true': 1 });
    expect(delta(before, await rejected(agent))).toEqual({ rate_limited: 2 });
    // Serving as before: the module (not rate limited) and connections.
    expect((await send(agent.listen, 'GET', '/ws-close-agent/client.js')).status).toBe(200);
    expect(await connectAndClose(`ws://${agent.listen}/`, '!close 1000')).toBe(1000);
    await waitFor(async () => sumOf(parseExposition(await (await scrape(agent)).text()), 'websocket_connections_active') === 0, 'the close recorded');
    await expectConsistent(agent);
  });

  it("--client-reports off: the routes are the echo endpoint's again (404), nothing is counted", async () => {
    const off = await startAgentProcess(['--client-reports', 'off']);
    try {
      expect((await send(off.listen, 'GET', '/ws-close-agent/client.js')).status).toBe(404);
      expect((await report(off.listen, { id: newId(), code: 1000, clean: true })).status).toBe(404);
      const text = await (await scrape(off)).text();
      expect(parseExposition(text).filter((s) => s.name === 'websocket_client_reports_rejected_total')).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});
