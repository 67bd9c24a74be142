/**
 * The agent's door into the hook (src/agent/tracked-connections.ts): the
 * echo endpoint's idle sweep and drain close connections through it, and
 * what they close must be recorded with initiator `agent`. Real `ws` server
 * and clients.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { closeAsAgent, liveConnections, terminateAsAgent } from '../src/agent/tracked-connections.js';
import { instrument, type Instrumentation } from '../src/hook/instrument.js';
import { closesByLabels, parseExposition } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';
import { closeWsServer } from './helpers/ws-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(): Promise<{ registry: Registry; hook: Instrumentation; port: number; serverSockets: WebSocket[] }> {
  const registry = new Registry();
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const serverSockets: WebSocket[] = [];
  wss.on('connection', (ws) => {
    serverSockets.push(ws);
    ws.on('error', () => undefined);
  });
  const hook = instrument(wss, { registry });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () => closeWsServer(server, wss),
    () => hook.uninstall(),
  );
  return { registry, hook, port: (server.address() as AddressInfo).port, serverSockets };
}

async function clients(port: number, n: number): Promise<{ ws: WebSocket; closed: Promise<number> }[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<{ ws: WebSocket; closed: Promise<number> }>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
          const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
          ws.once('open', () => resolve({ ws, closed }));
          ws.once('error', reject);
        }),
    ),
  );
}

async function closes(registry: Registry): Promise<Record<string, number>> {
  return closesByLabels(parseExposition(await registry.metrics()));
}

describe('tracked connections', () => {
  it('liveConnections lists the open connections, and no longer a closed one', async () => {
    const f = await start();
    const peers = await clients(f.port, 3);
    await waitFor(() => f.serverSockets.length === 3, 'three server sockets');
    expect(new Set(liveConnections(f.hook))).toEqual(new Set(f.serverSockets));
    peers[0]!.ws.close(1000);
    await peers[0]!.closed;
    await waitFor(() => liveConnections(f.hook).length === 2, 'two left');
    expect(liveConnections(f.hook)).not.toContain(f.serverSockets[0]);
  });

  it("closeAsAgent sends the code and records initiator agent; a client close stays the client's", async () => {
    const f = await start();
    const peers = await clients(f.port, 2);
    await waitFor(() => f.serverSockets.length === 2, 'two server sockets');
    closeAsAgent(f.hook, f.serverSockets[0]!, 1001);
    expect(await peers[0]!.closed).toBe(1001);
    peers[1]!.ws.close(4000);
    await peers[1]!.closed;
    await waitFor(async () => Object.keys(await closes(f.registry)).length === 2, 'both closes recorded');
    expect(await closes(f.registry)).toEqual({ '1001 CLOSE_GOING_AWAY standard agent': 1, '4000 APPLICATION application client': 1 });
  });

  it('terminateAsAgent drops only that connection, recorded as 1006 with initiator agent', async () => {
    const f = await start();
    const peers = await clients(f.port, 2);
    await waitFor(() => f.serverSockets.length === 2, 'two server sockets');
    terminateAsAgent(f.hook, f.serverSockets[1]!);
    expect(await peers[1]!.closed).toBe(1006);
    await waitFor(async () => Object.keys(await closes(f.registry)).length === 1, 'the close recorded');
    expect(await closes(f.registry)).toEqual({ '1006 CLOSE_ABNORMAL standard agent': 1 });
    expect(peers[0]!.ws.readyState).toBe(WebSocket.OPEN);
    expect(liveConnections(f.hook)).toEqual([f.serverSockets[0]]);
  });
});
