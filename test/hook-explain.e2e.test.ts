/**
 * Hook mode, explained closes: each cause of a 1006 the hook can tell, the
 * close handshakes (answered and not), and reconnects by client key, through
 * a real ws server and real ws / raw TCP clients.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type ServerOptions } from 'ws';
import { instrument, type Instrumentation } from '../src/hook/instrument.js';
import { parseExposition, promtoolCheckMetrics, sumOf, type Sample } from './helpers/exposition.js';
import { closePayload, encodeFrame, rawConnect } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait.js';

interface Fixture {
  registry: Registry;
  wss: WebSocketServer;
  port: number;
  hook: Instrumentation;
  serverSockets: WebSocket[];
  errors: Error[];
  scrape(): Promise<Sample[]>;
  closed(): number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(
  options: { closeTimeout?: number; clientKey?: (req: IncomingMessage) => string | undefined; reconnectWindowMs?: number } = {},
): Promise<Fixture> {
  const registry = new Registry();
  const server: Server = createServer();
  // ws spreads its options over the defaults: an explicit undefined closeTimeout would be a 1 ms timer.
  // closeTimeout (ws 8.18) is missing from @types/ws.
  const wss = new WebSocketServer(options.closeTimeout === undefined ? { server } : ({ server, closeTimeout: options.closeTimeout } as ServerOptions));
  const serverSockets: WebSocket[] = [];
  const errors: Error[] = [];
  wss.on('connection', (ws) => {
    serverSockets.push(ws);
    ws.on('error', () => undefined);
  });
  const hook = instrument(wss, { registry, onError: (e) => errors.push(e), clientKey: options.clientKey, reconnectWindowMs: options.reconnectWindowMs });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
    () => hook.uninstall(),
  );
  const scrape = async (): Promise<Sample[]> => {
    const text = await registry.metrics();
    promtoolCheckMetrics(text);
    return parseExposition(text);
  };
  return { registry, wss, port, hook, serverSockets, errors, scrape, closed: () => hook.recorder.totals().closed };
}

function abnormal(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === 'websocket_abnormal_closures_total' && s.value !== 0) out[`${s.labels.side} ${s.labels.cause}`] = s.value;
  return out;
}

function unanswered(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === 'websocket_close_handshakes_unanswered_total') out[s.labels.initiator as string] = s.value;
  return out;
}

/** Every 1006 in _closed_total is counted once in _abnormal_closures_total. */
function expectAbnormalInvariant(samples: Sample[]): void {
  expect(sumOf(samples, 'websocket_abnormal_closures_total')).toBe(sumOf(samples, 'websocket_connections_closed_total', { code: '1006' }));
}

function openClient(port: number, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('hook: why a connection closed without a close frame', () => {
  it('client FIN without a close frame: side client, cause fin', async () => {
    const f = await start();
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    raw.socket.end();
    await waitFor(() => f.closed() === 1, 'the close');
    const samples = await f.scrape();
    expect(abnormal(samples)).toEqual({ 'client fin': 1 });
    expect(sumOf(samples, 'websocket_connections_closed_total', { code: '1006', initiator: 'client' })).toBe(1);
    expect(sumOf(samples, 'websocket_close_handshake_duration_seconds_count')).toBe(0);
    expectAbnormalInvariant(samples);
  });

  it('client RST: side client, cause reset', async () => {
    const f = await start();
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    raw.socket.resetAndDestroy();
    await waitFor(() => f.closed() === 1, 'the close');
    const samples = await f.scrape();
    expect(abnormal(samples)).toEqual({ 'client reset': 1 });
    expectAbnormalInvariant(samples);
  });

  it('a write to a connection the client reset (EPIPE or ECONNRESET): side client, cause reset', async () => {
    const f = await start();
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    const server = f.serverSockets[0]!;
    raw.socket.resetAndDestroy();
    // Keep writing until ws notices; whichever of the two errors the kernel gives, it is a reset.
    const timer = setInterval(() => {
      if (server.readyState === WebSocket.OPEN) server.send(Buffer.alloc(64 * 1024));
    }, 5);
    try {
      await waitFor(() => f.closed() === 1, 'the close');
    } finally {
      clearInterval(timer);
    }
    const samples = await f.scrape();
    expect(abnormal(samples)).toEqual({ 'client reset': 1 });
  });

  it('server terminate(): side server, cause terminated', async () => {
    const f = await start();
    const client = await openClient(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    client.on('error', () => undefined);
    f.serverSockets[0]!.terminate();
    await waitFor(() => f.closed() === 1, 'the close');
    const samples = await f.scrape();
    expect(abnormal(samples)).toEqual({ 'server terminated': 1 });
    expect(sumOf(samples, 'websocket_connections_closed_total', { code: '1006', initiator: 'server' })).toBe(1);
    expectAbnormalInvariant(samples);
  });

  it("server close() whose frame never leaves (the client stopped reading) ends by ws's close timer: side server, cause timeout", async () => {
    const f = await start({ closeTimeout: 300 });
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    raw.socket.pause(); // the kernel buffers fill, and the server's frames queue behind them
    const server = f.serverSockets[0]!;
    for (let i = 0; i < 64; i++) server.send(Buffer.alloc(1024 * 1024));
    await waitFor(() => server.bufferedAmount > 0, 'frames queued in the server');
    server.close(1000);
    await waitFor(() => f.closed() === 1, 'the close timer', 15_000);
    const samples = await f.scrape();
    expect(abnormal(samples)).toEqual({ 'server timeout': 1 });
    expect(sumOf(samples, 'websocket_connections_closed_total', { code: '1000' })).toBe(0);
    expect(unanswered(samples)).toEqual({ server: 1 });
    expectAbnormalInvariant(samples);
    raw.socket.destroy();
  });
});

describe('hook: the close handshake', () => {
  it('client-initiated and server-initiated handshakes, answered by real peers', async () => {
    const f = await start();
    const a = await openClient(f.port);
    const aClosed = new Promise((r) => a.once('close', r));
    a.close(1000);
    await aClosed;
    await waitFor(() => f.closed() === 1, 'the first close');
    const b = await openClient(f.port);
    await waitFor(() => f.serverSockets.length === 2, 'the second connection');
    f.serverSockets[1]!.close(4000);
    await new Promise((r) => b.once('close', r));
    await waitFor(() => f.closed() === 2, 'the second close');
    const samples = await f.scrape();
    expect(sumOf(samples, 'websocket_close_handshake_duration_seconds_count', { initiator: 'client' })).toBe(1);
    expect(sumOf(samples, 'websocket_close_handshake_duration_seconds_count', { initiator: 'server' })).toBe(1);
    const serverSum = sumOf(samples, 'websocket_close_handshake_duration_seconds_sum', { initiator: 'server' });
    expect(serverSum).toBeGreaterThan(0);
    expect(serverSum).toBeLessThan(5);
    expect(unanswered(samples), JSON.stringify(samples.filter((s) => /handshake/.test(s.name) && !/bucket/.test(s.name)))).toEqual({});
    expect(abnormal(samples)).toEqual({});
  });

  it("a server close frame the client reads but never answers: ws's close timer ends it, the handshake unanswered (code kept)", async () => {
    const f = await start({ closeTimeout: 200 });
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    f.serverSockets[0]!.close(4001);
    await waitFor(() => f.closed() === 1, 'the close timer', 10_000);
    const samples = await f.scrape();
    expect(sumOf(samples, 'websocket_connections_closed_total', { code: '4001', initiator: 'server' })).toBe(1);
    expect(unanswered(samples)).toEqual({ server: 1 });
    const seconds = sumOf(samples, 'websocket_close_handshake_duration_seconds_sum', { initiator: 'server' });
    expect(seconds).toBeGreaterThanOrEqual(0.19);
    expect(abnormal(samples)).toEqual({});
    raw.socket.destroy();
  });

  it('a client close frame followed by a FIN before the answer could go out is still answered by ws', async () => {
    const f = await start();
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'the connection');
    raw.socket.end(encodeFrame(0x8, closePayload(1001)));
    await waitFor(() => f.closed() === 1, 'the close');
    const samples = await f.scrape();
    expect(sumOf(samples, 'websocket_connections_closed_total', { code: '1001', initiator: 'client' })).toBe(1);
    expect(sumOf(samples, 'websocket_close_handshake_duration_seconds_count', { initiator: 'client' })).toBe(1);
    expect(abnormal(samples)).toEqual({});
  });
});

describe('hook: reconnects', () => {
  const byHeader = (req: IncomingMessage): string | undefined => req.headers['x-client-id'] as string | undefined;

  it('a client key that reconnects within the window counts once per ending, by previous codename, with its delay', async () => {
    const f = await start({ clientKey: byHeader });
    const secret = 'user-7f3a-SECRET-KEY';
    const a = await openClient(f.port, { 'x-client-id': secret });
    const aClosed = new Promise((r) => a.once('close', r));
    a.close(4001);
    await aClosed;
    await waitFor(() => f.closed() === 1, 'the first close');
    const b = await openClient(f.port, { 'x-client-id': secret });
    const other = await openClient(f.port, { 'x-client-id': 'someone-else' });
    const anonymous = await openClient(f.port);
    await waitFor(() => f.serverSockets.length === 4, 'the connections');
    b.terminate();
    other.terminate();
    anonymous.terminate();
    await waitFor(() => f.closed() === 4, 'the closes');
    const c = await openClient(f.port, { 'x-client-id': secret });
    await waitFor(() => f.serverSockets.length === 5, 'the reconnect');
    const text = await f.registry.metrics();
    const samples = parseExposition(text);
    const reconnects = samples.filter((s) => s.name === 'websocket_reconnects_total').map((s) => `${s.labels.previous_codename} ${s.value}`);
    expect(reconnects.sort()).toEqual(['APPLICATION 1', 'CLOSE_ABNORMAL 1']);
    expect(sumOf(samples, 'websocket_reconnect_delay_seconds_count')).toBe(2);
    expect(sumOf(samples, 'websocket_reconnect_delay_seconds_bucket', { le: '30' })).toBe(2);
    expect(text).not.toContain('SECRET');
    expect(text).not.toContain('someone-else');
    expect(f.errors).toEqual([]);
    c.terminate();
  });

  it('a reconnect after the window does not count; a throwing clientKey is reported and tracks nothing', async () => {
    const f = await start({ clientKey: byHeader, reconnectWindowMs: 50 });
    const a = await openClient(f.port, { 'x-client-id': 'k' });
    a.terminate();
    await waitFor(() => f.closed() === 1, 'the close');
    await new Promise((r) => setTimeout(r, 120)); // past the window on purpose: the assertion is that nothing counts
    const b = await openClient(f.port, { 'x-client-id': 'k' });
    await waitFor(() => f.serverSockets.length === 2, 'the second connection');
    b.terminate();
    const samples = await f.scrape();
    expect(sumOf(samples, 'websocket_reconnects_total')).toBe(0);

    const g = await start({
      clientKey: () => {
        throw new Error('no key here');
      },
    });
    const c = await openClient(g.port);
    await waitFor(() => g.serverSockets.length === 1, 'the connection');
    expect(g.errors.map((e) => e.message)).toEqual(['no key here']);
    c.terminate();
  });

  it('rejects bad reconnect options at the door', () => {
    const wss = new WebSocketServer({ noServer: true });
    expect(() => instrument(wss, { registry: new Registry(), clientKey: 'ip' as never })).toThrow(/clientKey must be a function/);
    expect(() => instrument(wss, { registry: new Registry(), clientKey: () => 'x', reconnectWindowMs: 0 })).toThrow(/reconnectWindowMs must be a duration/);
    expect(() => instrument(wss, { registry: new Registry(), clientKey: () => 'x', reconnectMaxKeys: 0.5 })).toThrow(/reconnectMaxKeys must be an integer/);
    wss.close();
  });
});
