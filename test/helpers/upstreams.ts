/** Real upstream WebSocket servers for agent-mode tests: `ws` in-process, python3-websockets as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { listenLoopback } from '../../harness/net.mjs';
import { closesByLabels, countsDelta, failuresByLabels, parseExposition, sumOf, violationsByLabels, type Sample } from '../../harness/exposition.mjs';
import { checkExpositionWithPromtool } from './exposition.js';
import { scrape, type AgentProcess } from './agent-process.js';
import { waitFor } from './wait.js';
import { textOf } from './text.js';

export const PYTHON = '/usr/bin/python3';
export const PEERS = fileURLToPath(new URL('../peers/', import.meta.url));

export interface WsUpstream {
  readonly port: number;
  readonly url: string;
  readonly server: Server;
  readonly wss: WebSocketServer;
  /** Close codes the upstream received, in order. */
  readonly closeCodes: number[];
  /** Request paths seen at the upgrade. */
  readonly paths: string[];
  close(): Promise<void>;
}

/**
 * A `ws` echo server with permessage-deflate and subprotocols chat/superchat.
 * Text commands: "!close CODE" (server closes), "!terminate" (server drops TCP).
 */
export async function startWsUpstream(): Promise<WsUpstream> {
  const server = createServer((req, res) => {
    res.setHeader('X-Upstream', 'ws');
    res.end(`plain ${req.method} ${req.url}`);
  });
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: true,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  const closeCodes: number[] = [];
  const paths: string[] = [];
  wss.on('connection', (ws: WebSocket, req) => {
    paths.push(req.url ?? '');
    ws.on('error', () => undefined);
    ws.on('close', (code) => closeCodes.push(code));
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : textOf(data);
      const close = /^!close (\d+)$/.exec(text);
      if (close) return ws.close(Number(close[1]), 'server');
      if (text === '!terminate') return ws.terminate();
      ws.send(data, { binary: isBinary });
    });
  });
  return {
    ...(await listenLoopback(server)),
    server,
    wss,
    closeCodes,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface PyUpstream {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** test/peers/ws_server.py, the python3-websockets echo server. */
export async function startPyUpstream(): Promise<PyUpstream> {
  const child = spawn(PYTHON, [`${PEERS}ws_server.py`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`python upstream did not start: ${stderr}`)), 10_000);
    child.stdout.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve((JSON.parse(d.toString()) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`python upstream exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    child,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface MetricsState {
  text: string;
  samples: Sample[];
  closes: Record<string, number>;
  opened: number;
  closed: number;
  active: number;
}

export async function metricsState(agent: AgentProcess): Promise<MetricsState> {
  const res = await scrape(agent);
  const text = await res.text();
  const samples = parseExposition(text);
  return {
    text,
    samples,
    closes: closesByLabels(samples),
    opened: sumOf(samples, 'websocket_connections_opened_total'),
    closed: sumOf(samples, 'websocket_connections_closed_total'),
    active: sumOf(samples, 'websocket_connections_active'),
  };
}

/** Difference of two closesByLabels maps (after - before), without zero entries. */
export const closesDelta = countsDelta;

/**
 * Wait until `expected` closes were added since `before`, then check they are
 * exactly these, that opened = closed + active, and that promtool and the JS checker accept the
 * exposition. Returns the new state.
 */
export async function expectNewCloses(agent: AgentProcess, before: MetricsState, expected: Record<string, number>, timeoutMs = 8000): Promise<MetricsState> {
  const want = Object.values(expected).reduce((a, b) => a + b, 0);
  let state = before;
  await waitFor(
    async () => {
      state = await metricsState(agent);
      return state.closed - before.closed >= want;
    },
    `${want} new closes`,
    timeoutMs,
  );
  state = await metricsState(agent);
  const sorted = (o: Record<string, number>): string => JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  if (sorted(closesDelta(before.closes, state.closes)) !== sorted(expected)) {
    throw new Error(`closes: expected ${JSON.stringify(expected)}, got ${JSON.stringify(closesDelta(before.closes, state.closes))}`);
  }
  if (state.opened !== state.closed + state.active) throw new Error(`opened ${state.opened} != closed ${state.closed} + active ${state.active}`);
  checkExpositionWithPromtool(state.text);
  return state;
}

/** Upgrade failures by reason, zero series included. */
export async function upgradeFailures(agent: AgentProcess): Promise<Record<string, number>> {
  return failuresByLabels((await metricsState(agent)).samples);
}

/** Protocol violations as "side kind", zero series included. */
export async function violations(agent: AgentProcess): Promise<Record<string, number>> {
  return violationsByLabels((await metricsState(agent)).samples);
}
