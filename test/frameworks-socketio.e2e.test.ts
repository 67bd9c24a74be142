/**
 * Socket.IO 4 and engine.io 6 (examples/socket-io.mjs, examples/engine-io.mjs)
 * against their own clients: every way a WebSocket transport connection ends
 * is recorded with its real code and initiator, wiring done before listen()
 * follows engine.io's replacement of its ws server, and HTTP long-polling is
 * not counted.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket as EngineClient } from 'engine.io-client';
import { io as connect, type Socket as IoClient } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngineIoApp } from '../examples/engine-io.mjs';
import { createSocketIoApp } from '../examples/socket-io.mjs';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Scrape /metrics until `closes` closes are in, then return the samples. */
async function scrapeAfter(url: string, closes: number): Promise<ReturnType<typeof parseExposition>> {
  let text = '';
  await waitFor(
    async () => {
      text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return sumOf(parseExposition(text), 'websocket_connections_closed_total') >= closes;
    },
    `${closes} closes on /metrics`,
    10_000,
  );
  promtoolCheckMetrics(text);
  return parseExposition(text);
}

describe('recipe: Socket.IO 4 (instrumentSocketIo(io))', () => {
  async function start(options: Record<string, unknown> = {}): Promise<{ url: string; reasons: string[] }> {
    const { server, io } = createSocketIoApp(options);
    // io.engine.ws is private in engine.io's typings; the test reads it to show the replacement.
    const engineWs = (): unknown => (io.engine as unknown as { ws: unknown }).ws;
    const wsBeforeListen = engineWs();
    const reasons: string[] = [];
    io.on('connection', (socket) => socket.on('disconnect', (reason) => reasons.push(reason)));
    const url = await listen(server);
    // engine.io replaced its ws server on listen: the hook, wired before, must still see every connection.
    expect(engineWs()).not.toBe(wsBeforeListen);
    cleanups.push(() => io.close());
    return { url, reasons };
  }

  function client(url: string, options: Record<string, unknown> = {}): Promise<IoClient> {
    const socket = connect(url, { transports: ['websocket'], reconnection: false, ...options });
    cleanups.push(() => void socket.close());
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }
  const disconnected = (socket: IoClient): Promise<string> => new Promise((r) => socket.once('disconnect', (reason) => r(reason)));

  it('server disconnect(true), client disconnect(), a dropped TCP connection, a ping timeout', async () => {
    const { url, reasons } = await start({ pingInterval: 200, pingTimeout: 400 });

    const kicked = await client(url);
    const kickedGone = disconnected(kicked);
    kicked.emit('kick'); // the server calls socket.disconnect(true)
    expect(await kickedGone).toBe('io server disconnect');

    const leaving = await client(url);
    const leavingGone = disconnected(leaving);
    leaving.disconnect();
    expect(await leavingGone).toBe('io client disconnect');

    const dropped = await client(url);
    const droppedGone = disconnected(dropped);
    (dropped.io.engine.transport as unknown as { ws: { _socket: { destroy(): void } } }).ws._socket.destroy();
    expect(await droppedGone).toBe('transport close');

    // A client that stops answering pings: the server's ping timeout closes it.
    const silent = await client(url);
    const engine = silent.io.engine as unknown as { _sendPacket: (type: string, ...rest: unknown[]) => void };
    const send = engine._sendPacket.bind(engine);
    engine._sendPacket = (type, ...rest) => (type === 'pong' ? undefined : send(type, ...rest));
    const silentGone = disconnected(silent);
    await silentGone;

    const samples = await scrapeAfter(url, 4);
    expect(closesByLabels(samples)).toEqual({
      '1005 CLOSED_NO_STATUS standard server': 2, // disconnect(true) and the ping timeout: engine.io closes without a code
      '1005 CLOSED_NO_STATUS standard client': 1,
      '1006 CLOSE_ABNORMAL standard client': 1,
    });
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(4);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
    await waitFor(() => reasons.length === 4, 'four server-side disconnect events');
    expect(reasons.sort()).toEqual(['client namespace disconnect', 'ping timeout', 'server namespace disconnect', 'transport close']);
  });

  it('HTTP long-polling is not counted; a session that upgrades is counted once, from its WebSocket', async () => {
    const { url } = await start();
    const polling = await client(url, { transports: ['polling'] });
    expect(await polling.emitWithAck('echo', 'over polling')).toBe('over polling');
    const pollingGone = disconnected(polling);
    polling.disconnect();
    await pollingGone;

    const upgrading = await client(url, { transports: ['polling', 'websocket'] });
    await new Promise<void>((r) => (upgrading.io.engine.transport.name === 'websocket' ? r() : upgrading.io.engine.once('upgrade', () => r())));
    const upgradingGone = disconnected(upgrading);
    upgrading.disconnect();
    await upgradingGone;

    const samples = await scrapeAfter(url, 1);
    expect(closesByLabels(samples)).toEqual({ '1005 CLOSED_NO_STATUS standard client': 1 });
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(1);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
  });

  it('instrumentSocketIo before io.attach(): follows the engine bound later', async () => {
    const { Server: IoServer } = await import('socket.io');
    const { createServer } = await import('node:http');
    const { Registry } = await import('prom-client');
    const { instrumentSocketIo, metricsHandler } = await import('ws-close-agent');
    const registry = new Registry();
    const serveMetrics = metricsHandler(registry);
    const io = new IoServer();
    const hook = instrumentSocketIo(io, { registry });
    const server = createServer((req, res) => serveMetrics(req, res));
    io.attach(server);
    const url = await listen(server);
    cleanups.push(() => io.close());
    const socket = await client(url);
    const gone = disconnected(socket);
    socket.disconnect();
    await gone;
    const samples = await scrapeAfter(url, 1);
    expect(closesByLabels(samples)).toEqual({ '1005 CLOSED_NO_STATUS standard client': 1 });
    expect(hook.recorder.totals()).toEqual({ opened: 1, closed: 1, active: 0 });
  });
});

describe('recipe: engine.io 6 directly (instrumentSocketIo(engine))', () => {
  function client(url: string): Promise<EngineClient> {
    const socket = new EngineClient(url, { transports: ['websocket'] });
    cleanups.push(() => void socket.close());
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
  }
  const closed = (socket: EngineClient): Promise<string> => new Promise((r) => socket.once('close', (reason) => r(reason)));

  it('server close(), client close(), a dropped TCP connection', async () => {
    const { server, engine } = createEngineIoApp();
    const url = await listen(server);
    cleanups.push(() => void engine.close());

    const kicked = await client(url);
    const kickedGone = closed(kicked);
    kicked.send('kick');
    expect(await kickedGone).toBe('transport close');

    const leaving = await client(url);
    const leavingGone = closed(leaving);
    leaving.close();
    expect(await leavingGone).toBe('forced close');

    const dropped = await client(url);
    const droppedGone = closed(dropped);
    (dropped.transport as unknown as { ws: { _socket: { destroy(): void } } }).ws._socket.destroy();
    await droppedGone;

    const samples = await scrapeAfter(url, 3);
    expect(closesByLabels(samples)).toEqual({
      '1005 CLOSED_NO_STATUS standard server': 1,
      '1005 CLOSED_NO_STATUS standard client': 1,
      '1006 CLOSE_ABNORMAL standard client': 1,
    });
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(3);
  });
});
