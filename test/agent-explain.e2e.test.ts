/**
 * Agent mode, explained closes, through the real agent (the built command)
 * in front of a real `ws` upstream: each cause of a 1006 (client FIN and RST,
 * upstream FIN and RST, the server's terminate(), the idle and half-close
 * timeouts), close handshakes answered and not, and reconnects with each
 * --client-key source, in one process and across --workers.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { parseExposition, promtoolCheckMetrics, sumOf, type Sample } from './helpers/exposition.js';
import { metricsState, type MetricsState } from './helpers/upstreams.js';
import { waitFor } from './helpers/wait.js';
import { rawPeer } from './hostile/helpers/raw-peer.js';
import { startScriptedUpstream, type ScriptedUpstream } from './hostile/helpers/scripted-upstream.js';

const STEP_MS = 10_000;
const HALF_CLOSE_MS = 600;

const socketOf = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

/** Non-zero series of `name` keyed by the values of `labels`, as after - before. */
function delta(before: Sample[], after: Sample[], name: string, labels: string[]): Record<string, number> {
  const sum = (samples: Sample[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const s of samples)
      if (s.name === name) m.set(labels.map((l) => s.labels[l]).join(' '), (m.get(labels.map((l) => s.labels[l]).join(' ')) ?? 0) + s.value);
    return m;
  };
  const a = sum(after);
  const b = sum(before);
  const out: Record<string, number> = {};
  for (const [k, v] of a) if (v - (b.get(k) ?? 0) !== 0) out[k] = v - (b.get(k) ?? 0);
  return out;
}

interface Explained {
  closes: Record<string, number>;
  abnormal: Record<string, number>;
  handshakes: Record<string, number>;
  unanswered: Record<string, number>;
  reconnects: Record<string, number>;
  reconnectDelays: number;
}

/** Every 1006 in _closed_total is counted exactly once in _abnormal_closures_total; opened = closed + active. */
function expectInvariants(s: MetricsState): void {
  expect(sumOf(s.samples, 'websocket_abnormal_closures_total')).toBe(sumOf(s.samples, 'websocket_connections_closed_total', { code: '1006' }));
  expect(s.opened).toBe(s.closed + s.active);
}

/** Wait (bounded) for `closes` more closes with nothing active, then what changed since `before`. */
async function explained(agent: AgentProcess, before: MetricsState, closes: number, extra: (s: MetricsState) => boolean = () => true): Promise<Explained> {
  let after = before;
  await waitFor(
    async () => {
      after = await metricsState(agent);
      return after.closed - before.closed >= closes && after.active === before.active && extra(after);
    },
    `${closes} closes`,
    STEP_MS,
  );
  promtoolCheckMetrics(after.text);
  expectInvariants(after);
  const b = before.samples;
  const a = after.samples;
  return {
    closes: delta(b, a, 'websocket_connections_closed_total', ['code', 'initiator']),
    abnormal: delta(b, a, 'websocket_abnormal_closures_total', ['side', 'cause']),
    handshakes: delta(b, a, 'websocket_close_handshake_duration_seconds_count', ['initiator']),
    unanswered: delta(b, a, 'websocket_close_handshakes_unanswered_total', ['initiator']),
    reconnects: delta(b, a, 'websocket_reconnects_total', ['previous_codename']),
    reconnectDelays: sumOf(a, 'websocket_reconnect_delay_seconds_count') - sumOf(b, 'websocket_reconnect_delay_seconds_count'),
  };
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}
function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

describe('agent mode: why a 1006 happened, and how the close handshake went', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    agent = await startAgentProcess(['--upstream', upstream.url, '--half-close-timeout', `${HALF_CLOSE_MS}ms`]);
    port = Number(agent.listen.split(':').pop());
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  it('client FIN without a close frame: client fin', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/c-fin' });
    await upstream.connection('/c-fin');
    peer.socket.end();
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 client': 1 });
    expect(e.abnormal).toEqual({ 'client fin': 1 });
    expect(e.handshakes).toEqual({});
  });

  it('client RST: client reset', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/c-rst' });
    await upstream.connection('/c-rst');
    peer.socket.resetAndDestroy();
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 client': 1 });
    expect(e.abnormal).toEqual({ 'client reset': 1 });
  });

  it('upstream FIN without a close frame: server fin', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/u-fin' });
    const up = await upstream.connection('/u-fin');
    socketOf(up.ws).end();
    await peer.closed;
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 server': 1 });
    expect(e.abnormal).toEqual({ 'server fin': 1 });
  });

  it('upstream RST: server reset', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/u-rst' });
    const up = await upstream.connection('/u-rst');
    socketOf(up.ws).resetAndDestroy();
    await peer.closed;
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 server': 1 });
    expect(e.abnormal).toEqual({ 'server reset': 1 });
  });

  it("the server's terminate(): the agent sees the upstream's FIN (server fin)", async () => {
    const before = await metricsState(agent);
    const ws = new WebSocket(`ws://${agent.listen}/u-terminate`);
    ws.on('error', () => undefined);
    await opened(ws);
    const up = await upstream.connection('/u-terminate');
    up.ws.terminate();
    expect(await closed(ws)).toBe(1006);
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 server': 1 });
    expect(e.abnormal).toEqual({ 'server fin': 1 });
  });

  it('a client half-closes and the upstream never finishes: ended by --half-close-timeout, client timeout', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/half-close', allowHalfOpen: true });
    const up = await upstream.connection('/half-close');
    // A peer that does not react to a FIN (ws would end its side at once).
    socketOf(up.ws).removeAllListeners('end');
    const started = Date.now();
    peer.socket.end();
    await peer.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(HALF_CLOSE_MS - 50);
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 client': 1 });
    expect(e.abnormal).toEqual({ 'client timeout': 1 });
  });

  it('a close handshake the upstream answers: one handshake by client, answered', async () => {
    const before = await metricsState(agent);
    const ws = new WebSocket(`ws://${agent.listen}/answered`);
    await opened(ws);
    ws.close(1000);
    expect(await closed(ws)).toBe(1000);
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1000 client': 1 });
    expect(e.abnormal).toEqual({});
    expect(e.handshakes).toEqual({ client: 1 });
    expect(e.unanswered).toEqual({});
  });

  it('a server close the client never answers (it ends its TCP instead): unanswered by server', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/unanswered' });
    const up = await upstream.connection('/unanswered');
    up.ws.close(4001);
    await waitFor(() => peer.receivedBytes() >= 4, 'the close frame at the client', STEP_MS);
    peer.socket.end();
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '4001 server': 1 });
    expect(e.handshakes).toEqual({ server: 1 });
    expect(e.unanswered).toEqual({ server: 1 });
    // The handshake's duration runs from the close frame to the end of both transports.
    expect(sumOf(parseExposition((await metricsState(agent)).text), 'websocket_close_handshake_duration_seconds_sum', { initiator: 'server' })).toBeGreaterThan(
      0,
    );
  });
});

describe('agent mode: the idle timeout', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    agent = await startAgentProcess(['--upstream', upstream.url, '--idle-timeout', '300ms', '--half-close-timeout', `${HALF_CLOSE_MS}ms`]);
    port = Number(agent.listen.split(':').pop());
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  it('idle peers that answer: 1001 by the agent, its handshake answered', async () => {
    const before = await metricsState(agent);
    const ws = new WebSocket(`ws://${agent.listen}/idle-answered`);
    await opened(ws);
    expect(await closed(ws)).toBe(1001);
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1001 agent': 1 });
    expect(e.handshakes).toEqual({ agent: 1 });
    expect(e.unanswered).toEqual({});
  });

  it('an idle client that never answers the agent: 1001 by the agent, unanswered, ended after the grace', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/idle-silent' });
    await upstream.connection('/idle-silent');
    await peer.closed;
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1001 agent': 1 });
    expect(e.handshakes).toEqual({ agent: 1 });
    expect(e.unanswered).toEqual({ agent: 1 });
  });

  it('idle with both peers stuck mid-frame (no close frame can be sent): agent timeout', async () => {
    const before = await metricsState(agent);
    const peer = await rawPeer(port, { path: '/idle-stuck' });
    const up = await upstream.connection('/idle-stuck');
    // Half a frame each way: the agent's 1001 must wait for a frame boundary that never comes.
    peer.socket.write(Buffer.from([0x81]));
    socketOf(up.ws).write(Buffer.from([0x81, 0x05, 0x68]));
    await waitFor(() => peer.receivedBytes() >= 3, 'the partial frame at the client', STEP_MS);
    await peer.closed;
    const e = await explained(agent, before, 1);
    expect(e.closes).toEqual({ '1006 agent': 1 });
    expect(e.abnormal).toEqual({ 'agent timeout': 1 });
    expect(e.handshakes).toEqual({});
  });
});

/** Open and close (1000) one connection, then wait until the agent recorded it. */
async function openAndClose(agent: AgentProcess, url: string, headers: Record<string, string> = {}): Promise<string> {
  const before = await metricsState(agent);
  const ws = new WebSocket(url, { headers });
  ws.on('error', () => undefined);
  await opened(ws);
  const pid = await new Promise<string>((resolve) => {
    ws.once('message', (data) => resolve((data as Buffer).toString()));
    ws.send('!pid');
  });
  ws.close(1000);
  await closed(ws);
  await waitFor(async () => (await metricsState(agent)).closed > before.closed, 'the close recorded', STEP_MS);
  return pid;
}

describe('agent mode: reconnects by --client-key', () => {
  let upstream: ScriptedUpstream;
  const agents: AgentProcess[] = [];
  const secret = `key-${Math.random().toString(36).slice(2)}-text`;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
  });
  afterAll(async () => {
    for (const a of agents) a.kill();
    await upstream?.close();
  });

  const SOURCES: { flag: string; url: (base: string, key: string) => string; headers: (key: string) => Record<string, string> }[] = [
    { flag: 'ip', url: (b) => `${b}/ip`, headers: () => ({}) },
    { flag: 'header:X-Client-Id', url: (b) => `${b}/h`, headers: (k) => ({ 'X-Client-Id': k }) },
    { flag: 'cookie:sid', url: (b) => `${b}/c`, headers: (k) => ({ Cookie: `theme=dark; sid=${k}; x=1` }) },
    { flag: 'query:client', url: (b, k) => `${b}/q?room=1&client=${encodeURIComponent(k)}`, headers: () => ({}) },
  ];

  for (const source of SOURCES) {
    it(`--client-key ${source.flag}: the same key within the window is a reconnect, by previous codename; another key is not`, async () => {
      const agent = await startAgentProcess(['--upstream', upstream.url, '--client-key', source.flag, '--reconnect-window', '30s']);
      agents.push(agent);
      const base = `ws://${agent.listen}`;
      const before = await metricsState(agent);
      await openAndClose(agent, source.url(base, secret), source.headers(secret));
      await openAndClose(agent, source.url(base, secret), source.headers(secret));
      if (source.flag !== 'ip') {
        // Another key, and no key at all: neither is a reconnect.
        await openAndClose(agent, source.url(base, `${secret}-other`), source.headers(`${secret}-other`));
        await openAndClose(agent, `${base}/none`);
      }
      const e = await explained(agent, before, source.flag === 'ip' ? 2 : 4);
      expect(e.reconnects).toEqual({ CLOSE_NORMAL: 1 });
      expect(e.reconnectDelays).toBe(1);
      // The key text reaches no label and no log line.
      expect((await metricsState(agent)).text).not.toContain('key-');
      expect(agent.lines.join('\n') + agent.stderr()).not.toContain(secret);
    });
  }

  it('--workers 2: a client reconnecting to the other worker still counts (echo endpoint, so each connection names its process)', async () => {
    const agent = await startAgentProcess(['--workers', '2', '--client-key', 'header:X-Client-Id']);
    agents.push(agent);
    const before = await metricsState(agent);
    const pids: string[] = [];
    const N = 8;
    for (let i = 0; i < N; i++) pids.push(await openAndClose(agent, `ws://${agent.listen}/`, { 'X-Client-Id': secret }));
    let crossed = 0;
    for (let i = 1; i < N; i++) if (pids[i] !== pids[i - 1]) crossed++;
    // The primary hands connections to the workers in turn: most reconnects land on the other worker.
    expect(new Set(pids).size).toBe(2);
    expect(crossed).toBeGreaterThan(0);
    const e = await explained(
      agent,
      before,
      N,
      (s) => sumOf(s.samples, 'websocket_reconnects_total') - sumOf(before.samples, 'websocket_reconnects_total') >= N - 1,
    );
    expect(e.reconnects).toEqual({ CLOSE_NORMAL: N - 1 });
    console.log(`--workers 2: ${N - 1} reconnects, ${crossed} of them to the other worker, all ${e.reconnects.CLOSE_NORMAL} counted`);
    expect(agent.lines.join('\n') + agent.stderr()).not.toContain(secret);
  });

  it('--workers 2 in proxy mode: every reconnect counts, wherever it lands', async () => {
    const agent = await startAgentProcess(['--workers', '2', '--upstream', upstream.url, '--client-key', 'query:u']);
    agents.push(agent);
    const before = await metricsState(agent);
    const N = 6;
    for (let i = 0; i < N; i++) await openAndClose(agent, `ws://${agent.listen}/w?u=${secret}`);
    const e = await explained(
      agent,
      before,
      N,
      (s) => sumOf(s.samples, 'websocket_reconnects_total') - sumOf(before.samples, 'websocket_reconnects_total') >= N - 1,
    );
    expect(e.reconnects).toEqual({ CLOSE_NORMAL: N - 1 });
  });
});
