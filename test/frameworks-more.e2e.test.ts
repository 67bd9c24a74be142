/**
 * The recipes for graphql-ws, NestJS (ws and Socket.IO adapters), express-ws
 * and Hono on Node (examples/), each against its framework's own client
 * where it has one (graphql-ws's createClient, socket.io-client) and a real
 * `ws` client otherwise, with exact counts on /metrics.
 */
import { spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import { io as connectIo, type Socket as IoClient } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createExpressWsApp } from '../examples/express-ws.mjs';
import { createHonoApp } from '../examples/hono.mjs';
import { createNestApp } from '../examples/nestjs.mjs';
import { expectScrapedCloses } from './helpers/scraped-closes.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function open(url: string, protocols?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const closed = (ws: WebSocket): Promise<number> => new Promise((r) => ws.once('close', (code) => r(code)));

/** Scrape until `expected` holds as a whole (exact closes, opened = their sum, nothing active). */
function expectMetrics(port: number, expected: Record<string, number>): Promise<void> {
  return expectScrapedCloses(`http://127.0.0.1:${port}/metrics`, expected);
}

describe('recipe: graphql-ws (useServer)', () => {
  // As its own process: graphql refuses a schema from another copy of itself, and vitest's resolver would load
  // graphql's ESM build for the example beside the CommonJS build that graphql-ws gets from Node.
  it('its client’s query and dispose, a bad message (4400), an init timeout (4408)', async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('../examples/graphql-ws.mjs', import.meta.url))], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await waitFor(() => out.includes('\n'), 'the example to listen', 15_000);
    const { graphql: url } = JSON.parse(out.split('\n')[0]!) as { graphql: string };
    const port = Number(new URL(url).port);

    const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    const result = await new Promise((resolve, reject) => {
      let value: unknown;
      client.subscribe({ query: '{ hello }' }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
    });
    expect(result).toEqual({ data: { hello: 'world' } });
    await client.dispose(); // the client closes with 1000

    const bad = await open(url, 'graphql-transport-ws');
    bad.send('not json');
    expect(await closed(bad)).toBe(4400);

    const silent = await open(url, 'graphql-transport-ws'); // never sends connection_init: closed after 3 s
    expect(await closed(silent)).toBe(4408);

    await expectMetrics(port, {
      '1000 CLOSE_NORMAL standard client': 1,
      '4400 GQL_BAD_REQUEST application server': 1,
      '4408 GQL_INIT_TIMEOUT application server': 1,
    });
  });
});

describe('recipe: NestJS gateways', () => {
  it('with the ws adapter: a message, a server close(4001), a client close', async () => {
    const { app } = await createNestApp({ adapter: 'ws' });
    await app.listen(0, '127.0.0.1');
    cleanups.push(() => app.close());
    const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;

    const a = await open(`ws://127.0.0.1:${port}/ws`);
    const answer = new Promise<string>((r) => a.once('message', (d) => r(textOf(d))));
    a.send(JSON.stringify({ event: 'echo', data: 'hi' }));
    expect(JSON.parse(await answer)).toEqual({ event: 'echo', data: 'hi' });
    a.send(JSON.stringify({ event: 'logout' }));
    expect(await closed(a)).toBe(4001);
    const b = await open(`ws://127.0.0.1:${port}/ws`);
    b.close(1000);
    await closed(b);

    await expectMetrics(port, { '4001 AUTH_EXPIRED application server': 1, '1000 CLOSE_NORMAL standard client': 1 });
  });

  it('with the Socket.IO adapter: socket.io-client, a server disconnect(true), a client disconnect()', async () => {
    const { app } = await createNestApp({ adapter: 'socket.io' });
    await app.listen(0, '127.0.0.1');
    cleanups.push(() => app.close());
    const port = ((app.getHttpServer() as Server).address() as AddressInfo).port;
    const client = (): Promise<IoClient> => {
      const socket = connectIo(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
      cleanups.push(() => void socket.close());
      return new Promise((resolve, reject) => (socket.once('connect', () => resolve(socket)), socket.once('connect_error', reject)));
    };
    const gone = (s: IoClient): Promise<string> => new Promise((r) => s.once('disconnect', (reason) => r(reason)));

    const a = await client();
    const echoed = new Promise((r) => a.once('echo', r)); // the gateway's { event, data } answer is emitted as that event
    a.emit('echo', 'hi');
    expect(await echoed).toBe('hi');
    const aGone = gone(a);
    a.emit('logout');
    expect(await aGone).toBe('io server disconnect');
    const b = await client();
    const bGone = gone(b);
    b.disconnect();
    await bGone;

    await expectMetrics(port, { '1005 CLOSED_NO_STATUS standard server': 1, '1005 CLOSED_NO_STATUS standard client': 1 });
  });
});

describe('recipe: express-ws (its own ws 7)', () => {
  it('a server close(4001), a client close, a path no route handles (closed without a code)', async () => {
    const { app } = createExpressWsApp();
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const port = (server.address() as AddressInfo).port;

    const a = await open(`ws://127.0.0.1:${port}/ws`);
    a.send('logout');
    expect(await closed(a)).toBe(4001);
    const b = await open(`ws://127.0.0.1:${port}/ws`);
    b.close(1001);
    await closed(b);
    const c = await open(`ws://127.0.0.1:${port}/nowhere`);
    expect(await closed(c)).toBe(1005);

    await expectMetrics(port, {
      '4001 AUTH_EXPIRED application server': 1,
      '1001 CLOSE_GOING_AWAY standard client': 1,
      '1005 CLOSED_NO_STATUS standard server': 1,
    });
  });
});

describe('recipe: Hono with @hono/node-ws', () => {
  it('a server close(4001) through the Hono context, a dropped client', async () => {
    const { listen: listenHono } = createHonoApp();
    const server = (await listenHono(0)) as Server;
    cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const port = (server.address() as AddressInfo).port;

    const a = await open(`ws://127.0.0.1:${port}/ws`);
    const echoed = new Promise<string>((r) => a.once('message', (d) => r(textOf(d))));
    a.send('hi');
    expect(await echoed).toBe('hi');
    a.send('logout');
    expect(await closed(a)).toBe(4001);
    const b = await open(`ws://127.0.0.1:${port}/ws`);
    b.terminate();
    await closed(b);

    await expectMetrics(port, { '4001 AUTH_EXPIRED application server': 1, '1006 CLOSE_ABNORMAL standard client': 1 });
  });
});
