/**
 * The framework recipes in examples/, run as written against real clients.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createExpressApp } from '../examples/express.mjs';
import { createFastifyApp } from '../examples/fastify.mjs';
import { createMultiServerApp } from '../examples/multiple-servers.mjs';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return (server.address() as AddressInfo).port;
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

async function scrapeText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return res.text();
}

describe('recipe: express + ws on one server (noServer + handleUpgrade)', () => {
  it('records closes from both sides and serves /metrics from express', async () => {
    const { server } = createExpressApp();
    const port = await listen(server);
    const a = await open(`ws://127.0.0.1:${port}/ws`);
    const b = await open(`ws://127.0.0.1:${port}/ws`);
    const c = await open(`ws://127.0.0.1:${port}/ws`);
    a.close(1000);
    b.send('logout');
    expect(await closed(b)).toBe(4001);
    c.terminate();
    await expect(open(`ws://127.0.0.1:${port}/other`)).rejects.toThrow(/404/);
    let text = '';
    await waitFor(
      async () => sumOf(parseExposition((text = await scrapeText(`http://127.0.0.1:${port}/metrics`))), 'websocket_connections_closed_total') === 3,
      'three closes',
    );
    expect(closesByLabels(parseExposition(text))).toEqual({
      '1000 CLOSE_NORMAL standard client': 1,
      '4001 AUTH_EXPIRED application server': 1,
      '1006 CLOSE_ABNORMAL standard client': 1,
    });
    expect(sumOf(parseExposition(text), 'websocket_connections_opened_total')).toBe(3);
    promtoolCheckMetrics(text);
  });
});

describe('recipe: Fastify with @fastify/websocket', () => {
  it('instruments fastify.websocketServer and serves /metrics through Fastify, in both formats', async () => {
    const { app } = await createFastifyApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const a = await open(`ws://127.0.0.1:${port}/ws`);
    const b = await open(`ws://127.0.0.1:${port}/ws`);
    a.close(4200);
    b.send('bye');
    expect(await closed(b)).toBe(1000);
    let text = '';
    await waitFor(
      async () => sumOf(parseExposition((text = await scrapeText(`http://127.0.0.1:${port}/metrics`))), 'websocket_connections_closed_total') === 2,
      'two closes',
    );
    expect(closesByLabels(parseExposition(text))).toEqual({
      '4200 APPLICATION application client': 1,
      '1000 CLOSE_NORMAL standard server': 1,
    });
    promtoolCheckMetrics(text);
    const om = await fetch(`http://127.0.0.1:${port}/metrics`, {
      headers: { Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
    });
    expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    expect(await om.text()).toMatch(/# EOF\n$/);
  });
});

describe('recipe: several WebSocketServers on one server, told apart by a constant label', () => {
  it('counts each connection once, under its own server label', async () => {
    const { server } = createMultiServerApp();
    const port = await listen(server);
    const chat = await Promise.all([open(`ws://127.0.0.1:${port}/chat`), open(`ws://127.0.0.1:${port}/chat`)]);
    const feed = await open(`ws://127.0.0.1:${port}/feed`);
    chat[0].close(1000);
    chat[1].close(4100);
    feed.close(1000);
    let text = '';
    await waitFor(
      async () => sumOf(parseExposition((text = await scrapeText(`http://127.0.0.1:${port}/metrics`))), 'websocket_connections_closed_total') === 3,
      'three closes',
    );
    const samples = parseExposition(text);
    expect(sumOf(samples, 'websocket_connections_closed_total', { server: 'chat' })).toBe(2);
    expect(sumOf(samples, 'websocket_connections_closed_total', { server: 'feed' })).toBe(1);
    expect(sumOf(samples, 'websocket_connections_closed_total', { server: 'chat', code: '4100' })).toBe(1);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(3);
    expect(sumOf(samples, 'websocket_connections_opened_total', { server: 'feed' })).toBe(1);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
    promtoolCheckMetrics(text);
  });
});
