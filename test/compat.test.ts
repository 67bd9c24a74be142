/**
 * The compatibility matrix: the hook's core scenarios against every `ws`
 * line in use (7.5.x, 8.0.0, the latest 8) and both prom-client majors (14,
 * 15), installed side by side as npm aliases. Each server and client is the
 * same ws version; the registry is the prom-client version's own.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument } from '../src/hook/public.js';
import { renderMetrics } from '../src/export/http.js';
import type { AnyRegistry } from '../src/export/http.js';
import { closesByLabels, parseExposition, checkExposition, sumOf } from './helpers/exposition.js';
import { closePayload, encodeFrame, firstCloseCode, rawConnect } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait.js';

const require = createRequire(import.meta.url);
/** The installed version behind `name` (an alias: ws 8.0 exports no ./package.json). */
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;

interface WsModule {
  new (url: string): WsClient;
  Server: new (options: { port: number; host: string }) => WsServer;
}
interface WsClient {
  once(event: 'open' | 'error' | 'close', listener: (arg: never) => void): void;
  close(code?: number): void;
  terminate(): void;
  send(data: string): void;
  _socket: { destroy(): void };
}
interface WsServer {
  on(event: 'connection', listener: (ws: WsClient & { on(event: 'message' | 'error', l: (data: Buffer) => void): void }) => void): void;
  once(event: 'listening', listener: () => void): void;
  address(): AddressInfo;
  close(cb?: () => void): void;
  clients: Set<WsClient>;
}

const WS_VERSIONS = [
  { label: `ws ${versionOf('ws-7')}`, ws: require('ws-7') as WsModule },
  { label: `ws ${versionOf('ws-8.0.0')}`, ws: require('ws-8.0.0') as WsModule },
  { label: `ws ${versionOf('ws')}`, ws: require('ws') as WsModule },
];
type PromClient = { Registry: new () => AnyRegistry };
const PROM_VERSIONS = [
  { label: `prom-client ${versionOf('prom-client-14')}`, prom: require('prom-client-14') as PromClient },
  { label: `prom-client ${versionOf('prom-client')}`, prom: require('prom-client') as PromClient },
];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const MATRIX = WS_VERSIONS.flatMap((w) => PROM_VERSIONS.map((p) => ({ ...w, ...p, name: `${w.label} + ${p.label}` })));

describe.each(MATRIX)('$name', ({ ws: WS, prom }) => {
  async function start(): Promise<{ port: number; registry: AnyRegistry; errors: Error[] }> {
    const registry = new prom.Registry();
    const wss = new WS.Server({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => wss.once('listening', r));
    const errors: Error[] = [];
    // `registry` may be prom-client 14's: the options are typed by the one prom-client an app has, here 15.
    const hook = instrument(wss as never, { registry: registry as never, codes: { 4001: 'AUTH_EXPIRED' }, onError: (e) => errors.push(e) });
    wss.on('connection', (ws) => {
      ws.on('error', () => undefined); // the rejected frame's error: ws emits it on the connection
      ws.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('close ')) ws.close(Number(text.slice(6)));
        else if (text === 'terminate') ws.terminate();
      });
    });
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          hook.uninstall();
          for (const c of wss.clients) c.terminate();
          wss.close(() => r());
        }),
    );
    return { port: wss.address().port, registry, errors };
  }

  function open(port: number): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WS(`ws://127.0.0.1:${port}/`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject as never);
    });
  }
  const closed = (ws: WsClient): Promise<number> => new Promise((r) => ws.once('close', r));

  async function expectCloses(registry: AnyRegistry, expected: Record<string, number>, violations: Record<string, number> = {}): Promise<void> {
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    let text = '';
    await waitFor(
      async () => sumOf(parseExposition((text = (await renderMetrics(registry, undefined)).body)), 'websocket_connections_closed_total') >= total,
      `${total} closes`,
    );
    const samples = parseExposition(text);
    expect(closesByLabels(samples)).toEqual(expected);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(total);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
    const seen: Record<string, number> = {};
    for (const s of samples) if (s.name === 'websocket_protocol_violations_total' && s.value > 0) seen[`${s.labels.side} ${s.labels.kind}`] = s.value;
    expect(seen).toEqual(violations);
    checkExposition(text);
  }

  it('every core scenario, with exact counts', async () => {
    const { port, registry, errors } = await start();
    // The client closes with a code, and with an empty close frame.
    const a = await open(port);
    a.close(4001);
    expect(await closed(a)).toBe(4001);
    const b = await open(port);
    b.close();
    expect(await closed(b)).toBe(1005);
    // The client's TCP connection drops.
    const c = await open(port);
    c._socket.destroy();
    await closed(c);
    // The server closes with a code; the server terminates.
    const d = await open(port);
    d.send('close 1001');
    expect(await closed(d)).toBe(1001);
    const e = await open(port);
    e.send('terminate');
    expect(await closed(e)).toBe(1006);
    // A frame ws rejects: a close frame with code 1005 (which must never be sent); ws answers 1002 itself.
    const raw = await rawConnect(port);
    raw.socket.write(encodeFrame(0x8, closePayload(1005)));
    await waitFor(() => raw.received().length > 0, 'the close frame ws sends');
    expect(firstCloseCode(raw.received())).toBe(1002);
    raw.socket.end();
    await raw.closed;

    await expectCloses(
      registry,
      {
        '4001 AUTH_EXPIRED application client': 1,
        '1005 CLOSED_NO_STATUS standard client': 1,
        '1006 CLOSE_ABNORMAL standard client': 1,
        '1001 CLOSE_GOING_AWAY standard server': 1,
        '1006 CLOSE_ABNORMAL standard server': 1,
        '1002 CLOSE_PROTOCOL_ERROR standard server': 1,
      },
      { 'client internal_code_on_wire': 1 },
    );
    expect(errors).toEqual([]);
  });

  it('a message over maxPayload: the 1009 ws sends, and the violation', async () => {
    const registry = new prom.Registry();
    const wss = new (WS.Server as unknown as new (o: object) => WsServer)({ port: 0, host: '127.0.0.1', maxPayload: 64 });
    await new Promise<void>((r) => wss.once('listening', r));
    const hook = instrument(wss as never, { registry: registry as never });
    wss.on('connection', (ws) => ws.on('error', () => undefined));
    cleanups.push(() => new Promise<void>((r) => (hook.uninstall(), wss.close(() => r()))));
    const raw = await rawConnect(wss.address().port);
    raw.socket.write(encodeFrame(0x2, Buffer.alloc(128)));
    await waitFor(() => raw.received().length > 0, 'the close frame ws sends');
    expect(firstCloseCode(raw.received())).toBe(1009);
    raw.socket.end();
    await expectCloses(registry, { '1009 CLOSE_TOO_LARGE standard server': 1 }, { 'client message_too_large': 1 });
  });
});
