import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { instrument, type Instrumentation } from '../src/hook/instrument.js';
import { createRecorder } from '../src/recorder/registry.js';
import { closesByLabels, parseExposition, checkExposition, sumOf } from './helpers/exposition.js';
import { closePayload, encodeFrame, firstCloseCode, rawConnect } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait.js';
import { listenLoopback } from '../harness/net.mjs';
import { closeWsServer } from './helpers/ws-server.js';
import { textOf } from './helpers/text.js';

interface Fixture {
  registry: Registry;
  wss: WebSocketServer;
  server: Server;
  port: number;
  hook: Instrumentation;
  /** Server-side sockets in connection order. */
  serverSockets: WebSocket[];
  errors: Error[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Listen on 127.0.0.1 port 0 until the test's cleanups run; resolves with the port. */
async function listenUntilCleanup(server: Server): Promise<number> {
  const { port } = await listenLoopback(server);
  cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return port;
}

async function start(options: { noServer?: boolean; maxPayload?: number; codes?: Record<number, string>; maxCustomCodes?: number } = {}): Promise<Fixture> {
  const registry = new Registry();
  const server = createServer();
  const wss = options.noServer
    ? new WebSocketServer({ noServer: true, maxPayload: options.maxPayload })
    : new WebSocketServer({ server, maxPayload: options.maxPayload });
  if (options.noServer) {
    server.on('upgrade', (req, socket, head) => {
      if (req.url !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }
  const serverSockets: WebSocket[] = [];
  const errors: Error[] = [];
  wss.on('connection', (ws) => {
    serverSockets.push(ws);
    ws.on('error', () => undefined);
  });
  const hook = instrument(wss, { registry, codes: options.codes, maxCustomCodes: options.maxCustomCodes, onError: (e) => errors.push(e) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(
    () => closeWsServer(server, wss),
    () => hook.uninstall(),
  );
  return { registry, wss, server, port, hook, serverSockets, errors };
}

function client(port: number, path = '/'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function metrics(f: Fixture) {
  const text = await f.registry.metrics();
  return { text, samples: parseExposition(text) };
}

async function closedCount(f: Fixture): Promise<number> {
  return sumOf((await metrics(f)).samples, 'websocket_connections_closed_total');
}

async function expectCloses(f: Fixture, expected: Record<string, number>): Promise<void> {
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  await waitFor(async () => (await closedCount(f)) >= total, `${total} closes`);
  const { text, samples } = await metrics(f);
  expect(closesByLabels(samples)).toEqual(expected);
  const opened = sumOf(samples, 'websocket_connections_opened_total');
  const active = sumOf(samples, 'websocket_connections_active');
  expect(opened).toBe(total + active);
  checkExposition(text);
}

async function violations(f: Fixture): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of (await metrics(f)).samples) {
    if (s.name === 'websocket_protocol_violations_total') out[`${s.labels.side} ${s.labels.kind}`] = s.value;
  }
  return out;
}

describe('instrument(wss): who closed, with which code', () => {
  it('client close with a code', async () => {
    const f = await start();
    const c = await client(f.port);
    c.close(4000, 'bye');
    await expectCloses(f, { '4000 APPLICATION application client': 1 });
  });

  it('client close with an empty payload records 1005', async () => {
    const f = await start();
    const c = await client(f.port);
    c.close();
    await expectCloses(f, { '1005 CLOSED_NO_STATUS standard client': 1 });
  });

  it('client transport lost records 1006, initiator client', async () => {
    const f = await start();
    const c = await client(f.port);
    c.terminate();
    await expectCloses(f, { '1006 CLOSE_ABNORMAL standard client': 1 });
  });

  it('server close(code) records the server code even when the client echoes another', async () => {
    const f = await start({ codes: { 4001: 'AUTH_EXPIRED' } });
    const c = await client(f.port);
    c.on('close', () => undefined);
    // A raw client answers the server's close with a different code.
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 2, 'two connections');
    f.serverSockets[0]!.close(4001, 'token expired');
    f.serverSockets[1]!.close(1001);
    await waitFor(() => raw.received().length > 0, 'close frame at the raw client');
    expect(firstCloseCode(raw.received())).toBe(1001);
    raw.socket.write(encodeFrame(0x8, closePayload(4999)));
    await expectCloses(f, {
      '4001 AUTH_EXPIRED application server': 1,
      '1001 CLOSE_GOING_AWAY standard server': 1,
    });
  });

  const serverEnds = [
    ['server close() without a code records 1005, initiator server', 'close', '1005 CLOSED_NO_STATUS standard server'],
    ['server terminate() records 1006, initiator server', 'terminate', '1006 CLOSE_ABNORMAL standard server'],
  ] as const;
  for (const [name, end, series] of serverEnds) {
    it(name, async () => {
      const f = await start();
      await client(f.port);
      await waitFor(() => f.serverSockets.length === 1, 'connection');
      f.serverSockets[0]![end]();
      await expectCloses(f, { [series]: 1 });
    });
  }

  it('terminate() after the server sent a close frame keeps the close code', async () => {
    const f = await start();
    const raw = await rawConnect(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'connection');
    f.serverSockets[0]!.close(4002);
    f.serverSockets[0]!.terminate();
    await raw.closed;
    await expectCloses(f, { '4002 APPLICATION application server': 1 });
  });

  it('an invalid code passed to close() throws into the caller as without the hook, and records nothing', async () => {
    const f = await start();
    const c = await client(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'connection');
    expect(() => f.serverSockets[0]!.close(1006)).toThrow(/First argument must be a valid error code number/);
    c.close(1000);
    await expectCloses(f, { '1000 CLOSE_NORMAL standard client': 1 });
  });

  it('a client close frame with 1014, which ws accepts, is recorded as received and counted as a violation', async () => {
    const f = await start();
    const raw = await rawConnect(f.port);
    raw.socket.write(encodeFrame(0x8, closePayload(1014)));
    await expectCloses(f, { '1014 UNUSED standard client': 1 });
    expect(await violations(f)).toEqual({ 'client internal_code_on_wire': 1 });
  });
});

describe('instrument(wss): frames ws rejects', () => {
  const cases: [string, Buffer, number, string][] = [
    ['a close code that must not be sent (1005)', encodeFrame(0x8, closePayload(1005)), 1002, 'internal_code_on_wire'],
    ['a close code of 5000', encodeFrame(0x8, closePayload(5000)), 1002, 'invalid_code'],
    ['a 1-byte close payload', encodeFrame(0x8, Buffer.from([0x03])), 1002, 'short_close_payload'],
    ['a 126-byte ping', encodeFrame(0x9, Buffer.alloc(126)), 1002, 'oversized_control_frame'],
    ['a fragmented close', encodeFrame(0x8, closePayload(1000), { fin: false }), 1002, 'fragmented_control_frame'],
    ['a non-UTF-8 close reason', encodeFrame(0x8, closePayload(1000, Buffer.from([0xff, 0xfe]))), 1007, 'invalid_utf8_reason'],
    ['a non-UTF-8 text message', encodeFrame(0x1, Buffer.from([0xc3, 0x28])), 1007, 'invalid_utf8_message'],
    ['an unmasked client frame', encodeFrame(0x1, Buffer.from('hi'), { mask: false }), 1002, 'bad_masking'],
    ['a reserved opcode', encodeFrame(0x3, Buffer.from('x')), 1002, 'invalid_opcode'],
    ['RSV1 without an extension', encodeFrame(0x1, Buffer.from('x'), { rsv: 4 }), 1002, 'unexpected_rsv'],
    ['a message over maxPayload', encodeFrame(0x2, Buffer.alloc(2048)), 1009, 'message_too_large'],
  ];
  for (const [what, frame, sent, kind] of cases) {
    it(`${what}: records the ${sent} ws sent, initiator server, and a ${kind} violation`, async () => {
      const f = await start({ maxPayload: 1024 });
      const raw = await rawConnect(f.port);
      raw.socket.write(frame);
      await waitFor(() => raw.received().length > 0, 'the server close frame');
      expect(firstCloseCode(raw.received())).toBe(sent);
      raw.socket.end();
      const cn = sent === 1002 ? 'CLOSE_PROTOCOL_ERROR' : sent === 1007 ? 'UNSUPPORTED_DATA' : 'CLOSE_TOO_LARGE';
      await expectCloses(f, { [`${sent} ${cn} standard server`]: 1 });
      expect(await violations(f)).toEqual({ [`client ${kind}`]: 1 });
      expect(f.errors).toEqual([]);
    });
  }
});

describe('instrument(wss): what is not a connection', () => {
  it('never counts a handshake that did not complete', async () => {
    const f = await start({ noServer: true });
    // Wrong path: the app refuses the upgrade.
    await expect(client(f.port, '/elsewhere')).rejects.toThrow(/404/);
    // Missing Sec-WebSocket-Key: ws answers 400.
    const bad = await new Promise<string>((resolve) => {
      const s = connect(f.port, '127.0.0.1', () =>
        s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'),
      );
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
    });
    expect(bad).toMatch(/^HTTP\/1.1 400/);
    const c = await client(f.port, '/ws');
    c.close(1000);
    await expectCloses(f, { '1000 CLOSE_NORMAL standard client': 1 });
    expect(sumOf((await metrics(f)).samples, 'websocket_connections_opened_total')).toBe(1);
  });
});

describe('instrument(wss): modes and lifecycle', () => {
  it('works with noServer + handleUpgrade', async () => {
    const f = await start({ noServer: true });
    const a = await client(f.port, '/ws');
    const b = await client(f.port, '/ws');
    a.close(3000);
    b.terminate();
    await expectCloses(f, { '3000 FRAMEWORK framework client': 1, '1006 CLOSE_ABNORMAL standard client': 1 });
  });

  it('adopts connections that were open before instrument()', async () => {
    const registry = new Registry();
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const port = await listenUntilCleanup(server);
    const early = await client(port);
    await waitFor(() => wss.clients.size === 1, 'early connection');
    const hook = instrument(wss, { registry });
    cleanups.push(() => hook.uninstall());
    early.close(4100);
    await waitFor(() => hook.recorder.totals().closed === 1, 'close of the adopted connection');
    expect(closesByLabels(parseExposition(await registry.metrics()))).toEqual({ '4100 APPLICATION application client': 1 });
  });

  it('two servers on one registry share one recorder without double counting', async () => {
    const f = await start();
    const registry = f.registry;
    const server2 = createServer();
    const wss2 = new WebSocketServer({ server: server2 });
    const hook2 = instrument(wss2, { registry });
    cleanups.push(() => hook2.uninstall());
    const port2 = await listenUntilCleanup(server2);
    const a = await client(f.port);
    const b = await client(port2);
    a.close(1000);
    b.close(1000);
    await expectCloses(f, { '1000 CLOSE_NORMAL standard client': 2 });
  });

  it('uninstall() leaves no listener or wrapper behind and stops recording', async () => {
    // Every other test's hook is uninstalled by now (cleanups), so ws's own methods are in place.
    const proto = WebSocket.prototype as WebSocket & { emitClose(): void };
    const { close: originalClose, terminate: originalTerminate, emitClose: originalEmitClose } = proto;
    const registry = new Registry();
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const port = await listenUntilCleanup(server);
    const before = wss.listenerCount('connection');
    const hook = instrument(wss, { registry });
    expect(wss.listenerCount('connection')).toBe(before + 1);
    const c = await client(port);
    await waitFor(() => wss.clients.size === 1, 'connection');
    const [serverWs] = [...wss.clients] as [WebSocket];
    const closeListenersWithHook = serverWs.listenerCount('close'); // ws's own (client tracking)
    // close(), terminate() and emitClose() are wrapped once, on the class, never on the connection itself.
    expect(proto.close).not.toBe(originalClose);
    expect(proto.terminate).not.toBe(originalTerminate);
    expect(proto.emitClose).not.toBe(originalEmitClose);
    expect(Object.hasOwn(serverWs, 'close')).toBe(false);

    hook.uninstall();
    expect(wss.listenerCount('connection')).toBe(before);
    expect(serverWs.listenerCount('close')).toBe(closeListenersWithHook);
    expect(proto.close).toBe(originalClose);
    expect(proto.terminate).toBe(originalTerminate);
    expect(proto.emitClose).toBe(originalEmitClose);
    expect(Object.hasOwn(serverWs, 'close')).toBe(false);
    expect(Object.hasOwn(serverWs, 'terminate')).toBe(false);
    hook.uninstall(); // idempotent

    c.close(1000);
    const c2 = await client(port);
    c2.close(1000);
    await new Promise((r) => setTimeout(r, 100));
    expect(hook.recorder.totals()).toEqual({ opened: 1, closed: 0, active: 1 });
  });

  it('the class methods stay wrapped until the last hook using them is uninstalled', async () => {
    const { close: originalClose } = WebSocket.prototype;
    const a = instrument(new WebSocketServer({ noServer: true }), { registry: new Registry() });
    const f = await start(); // its hook wraps the class on its first connection
    await client(f.port);
    await waitFor(() => f.serverSockets.length === 1, 'connection');
    a.uninstall();
    f.hook.uninstall();
    expect(WebSocket.prototype.close).toBe(originalClose);
    const g = await start();
    const c = await client(g.port);
    await waitFor(() => g.serverSockets.length === 1, 'connection');
    expect(WebSocket.prototype.close).not.toBe(originalClose);
    const h = await start();
    await client(h.port);
    await waitFor(() => h.serverSockets.length === 1, 'connection');
    g.hook.uninstall();
    expect(WebSocket.prototype.close).not.toBe(originalClose); // h still needs it
    h.serverSockets[0]!.close(4003);
    await expectCloses(h, { '4003 APPLICATION application server': 1 });
    h.hook.uninstall();
    expect(WebSocket.prototype.close).toBe(originalClose);
    c.close();
  });

  it('a WebSocket subclass that overrides close() is recorded once, also next to a plain server', async () => {
    class AppSocket extends WebSocket {
      override close(code?: number, data?: string | Buffer): void {
        super.close(code, data);
      }
    }
    const plain = await start({ maxPayload: 1024 }); // wraps WebSocket.prototype
    await client(plain.port);
    await waitFor(() => plain.serverSockets.length === 1, 'plain connection');
    const registry = new Registry();
    const server = createServer();
    const wss = new WebSocketServer({ server, WebSocket: AppSocket, maxPayload: 1024 });
    const sockets: WebSocket[] = [];
    wss.on('connection', (ws) => {
      sockets.push(ws);
      ws.on('error', () => undefined);
    });
    const hook = instrument(wss, { registry });
    const port = await listenUntilCleanup(server);
    cleanups.push(() => hook.uninstall());
    const raw = await rawConnect(port);
    await waitFor(() => sockets.length === 1, 'subclass connection');
    expect(sockets[0]).toBeInstanceOf(AppSocket);
    raw.socket.write(encodeFrame(0x8, Buffer.from([0x03]))); // ws rejects it and calls close(1002) itself
    await waitFor(() => raw.received().length > 0, 'the server close frame');
    raw.socket.end();
    await waitFor(() => hook.recorder.totals().closed === 1, 'the close');
    const samples = parseExposition(await registry.metrics());
    expect(closesByLabels(samples)).toEqual({ '1002 CLOSE_PROTOCOL_ERROR standard server': 1 });
    expect(sumOf(samples, 'websocket_protocol_violations_total')).toBe(1);
  });

  it('a WebSocket class without a wrappable emitClose() gets a close listener instead, removed by uninstall()', async () => {
    class SealedSocket extends WebSocket {}
    Object.defineProperty(SealedSocket.prototype, 'emitClose', {
      value: (WebSocket.prototype as unknown as { emitClose(): void }).emitClose,
      configurable: false,
    });
    const registry = new Registry();
    const server = createServer();
    const wss = new WebSocketServer({ server, WebSocket: SealedSocket });
    const sockets: WebSocket[] = [];
    wss.on('connection', (ws) => sockets.push(ws));
    const hook = instrument(wss, { registry });
    const port = await listenUntilCleanup(server);
    cleanups.push(() => hook.uninstall());
    const a = await client(port);
    await client(port);
    await waitFor(() => sockets.length === 2, 'two connections');
    const withHook = sockets[1]!.listenerCount('close');
    a.close(4100);
    sockets[1]!.close(4101);
    await waitFor(() => hook.recorder.totals().closed === 2, 'two closes');
    expect(closesByLabels(parseExposition(await registry.metrics()))).toEqual({
      '4100 APPLICATION application client': 1,
      '4101 APPLICATION application server': 1,
    });
    const c = await client(port);
    await waitFor(() => sockets.length === 3, 'third connection');
    expect(sockets[2]!.listenerCount('close')).toBe(withHook);
    hook.uninstall();
    expect(sockets[2]!.listenerCount('close')).toBe(withHook - 1);
    c.close(1000);
  });

  async function startWithBrokenRecorder(broken: { open: boolean; close: boolean }) {
    const registry = new Registry();
    const recorder = createRecorder({ registry });
    const faulty = Object.create(recorder) as typeof recorder;
    if (broken.close) {
      faulty.recordClose = () => {
        throw new Error('metrics backend exploded on close');
      };
    }
    if (broken.open) {
      faulty.recordOpen = () => {
        throw new Error('metrics backend exploded on open');
      };
    }
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const errors: Error[] = [];
    const appCloses: number[] = [];
    wss.on('connection', (ws) => {
      ws.on('message', (m) => ws.send(m));
      ws.on('close', (code) => appCloses.push(code));
    });
    const hook = instrument(wss, { recorder: faulty, onError: (e) => errors.push(e) });
    const port = await listenUntilCleanup(server);
    const c = await client(port);
    const echoed = new Promise<string>((r) => c.once('message', (m) => r(textOf(m))));
    c.send('still works');
    expect(await echoed).toBe('still works');
    c.close(4000);
    await waitFor(() => appCloses.length === 1, 'the application close event');
    expect(appCloses).toEqual([4000]);
    return { errors, hook, recorder: faulty };
  }

  it('survives a recorder that throws on close: the application sees nothing, the error goes to onError', async () => {
    const { errors, hook, recorder } = await startWithBrokenRecorder({ open: false, close: true });
    expect(errors.map((e) => e.message)).toEqual(['metrics backend exploded on close']);
    expect(recorder.totals()).toEqual({ opened: 1, closed: 0, active: 1 });
    hook.uninstall();
  });

  it('survives a recorder that throws on open, and leaves that connection untracked', async () => {
    const { errors, hook, recorder } = await startWithBrokenRecorder({ open: true, close: true });
    expect(errors.map((e) => e.message)).toEqual(['metrics backend exploded on open']);
    expect(recorder.totals()).toEqual({ opened: 0, closed: 0, active: 0 });
    hook.uninstall();
  });

  it('rejects bad options with an error that names them', () => {
    const wss = new WebSocketServer({ noServer: true });
    expect(() => instrument(null as never)).toThrow(/wss must be a ws WebSocketServer/);
    expect(() => instrument(wss, { registry: new Registry(), maxCustomCodes: -5 })).toThrow(/maxCustomCodes/);
    expect(() => instrument(wss, { registry: new Registry(), codes: { 1000: 'X' } })).toThrow(/codes\["1000"\]/);
    expect(() => instrument(wss, { onError: 'log' as never })).toThrow(/onError must be a function/);
    expect(wss.listenerCount('connection')).toBe(0);
  });
});

describe('instrument(wss): cardinality', () => {
  it('500 distinct 4xxx codes from clients give at most maxCustomCodes + a few series', async () => {
    const f = await start({ maxCustomCodes: 100 });
    const batch = 50;
    for (let first = 4000; first < 4500; first += batch) {
      const clients = await Promise.all(Array.from({ length: batch }, () => client(f.port)));
      clients.forEach((c, i) => c.close(first + i));
      await waitFor(async () => (await closedCount(f)) >= first - 4000 + batch, 'batch closes', 10_000);
    }
    const { text, samples } = await metrics(f);
    const series = Object.keys(closesByLabels(samples));
    expect(series.length).toBeLessThanOrEqual(100 + 1);
    expect(closesByLabels(samples)['4000-4999 APPLICATION application client']).toBe(400);
    expect(sumOf(samples, 'websocket_connections_closed_total')).toBe(500);
    checkExposition(text);
  });
});
