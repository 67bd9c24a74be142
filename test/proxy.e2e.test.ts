/**
 * Agent mode end to end: the real agent process between real clients (`ws`,
 * python3-websockets) and real upstreams (`ws`, python3-websockets).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { closePayload, encodeFrame, firstCloseCode, rawConnect } from './helpers/raw-client.js';
import {
  PEERS,
  PYTHON,
  closesDelta,
  expectNewCloses,
  metricsState,
  startPyUpstream,
  startWsUpstream,
  upgradeFailures,
  violations,
  type PyUpstream,
  type WsUpstream,
} from './helpers/upstreams.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

function open(url: string, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: true, headers: { Cookie: 'session=abc' } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

function nextMessage(ws: WebSocket): Promise<Buffer | string> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve(isBinary ? (data as Buffer) : textOf(data))));
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function runPython(args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`python ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

const ROUNDTRIP_BYTES = 1_200_000;

describe.each([['ws'], ['python3-websockets']])('agent in front of a %s upstream', (kind) => {
  let upstream: WsUpstream | PyUpstream;
  let agent: AgentProcess;
  let url: string;

  beforeAll(async () => {
    upstream = kind === 'ws' ? await startWsUpstream() : await startPyUpstream();
    agent = await startAgentProcess(['--upstream', `${upstream.url}/`, '--codes', '4001=AUTH_EXPIRED']);
    url = `ws://${agent.listen}`;
  });
  afterAll(async () => {
    agent?.kill();
    if (upstream) await ('close' in upstream ? upstream.close() : upstream.kill());
  });
  // Every test leaves nothing open, so the next one's "before" snapshot
  // cannot catch a close that was still on its way.
  afterEach(async () => {
    await waitFor(async () => (await metricsState(agent)).active === 0, 'no connection left open by the test');
  });

  it('passes 1 MiB+ binary and text messages byte for byte with permessage-deflate and the subprotocol (ws client)', async () => {
    const before = await metricsState(agent);
    const ws = await open(url, ['chat']);
    expect(ws.protocol).toBe('chat');
    expect(ws.extensions).toContain('permessage-deflate');
    const binary = randomBytes(ROUNDTRIP_BYTES);
    ws.send(binary);
    expect(sha256((await nextMessage(ws)) as Buffer)).toBe(sha256(binary));
    const text = randomBytes(ROUNDTRIP_BYTES / 2).toString('hex') + 'éü✓';
    ws.send(text);
    expect(sha256(await nextMessage(ws))).toBe(sha256(text));
    ws.close(4001, 'done');
    expect(await closed(ws)).toBe(4001);
    await expectNewCloses(agent, before, { '4001 AUTH_EXPIRED application client': 1 });
  });

  it('passes 1 MiB+ messages byte for byte for a python3-websockets client', async () => {
    const before = await metricsState(agent);
    const result = JSON.parse(await runPython([`${PEERS}ws_roundtrip.py`, url, String(ROUNDTRIP_BYTES), '4003'])) as {
      extensions: string[];
      binary: [string, string];
      text: [string, string];
    };
    expect(result.extensions).toEqual(['permessage-deflate']);
    expect(result.binary[1]).toBe(result.binary[0]);
    expect(result.text[1]).toBe(result.text[0]);
    await expectNewCloses(agent, before, { '4003 APPLICATION application client': 1 });
  });

  it('forwards the path, query, subprotocol, cookies and X-Forwarded-For', async () => {
    const before = await metricsState(agent);
    const ws = await open(`${url}/room/7?x=1`, ['chat']);
    if ('paths' in upstream) {
      expect(upstream.paths.at(-1)).toBe('/room/7?x=1');
    } else {
      ws.send('!info');
      const info = JSON.parse((await nextMessage(ws)) as string) as Record<string, unknown>;
      expect(info).toMatchObject({ subprotocol: 'chat', path: '/room/7?x=1', cookie: 'session=abc', forwardedFor: '127.0.0.1' });
    }
    expect(ws.protocol).toBe('chat');
    ws.close(1000);
    await closed(ws);
    // The client sees its close before the agent has seen both sockets end:
    // wait for the record, so the next test's snapshot does not catch it.
    await expectNewCloses(agent, before, { '1000 CLOSE_NORMAL standard client': 1 });
  });

  it('records client closes with standard codes and an empty close, and upstream closes', async () => {
    const before = await metricsState(agent);
    for (const code of [1000, 1001, 1011]) {
      const ws = await open(url);
      ws.close(code);
      await closed(ws);
    }
    const empty = await open(url);
    empty.close();
    await closed(empty);
    for (const code of [1001, 1013, 4002]) {
      const ws = await open(url);
      ws.send(`!close ${code}`);
      expect(await closed(ws)).toBe(code);
    }
    await expectNewCloses(agent, before, {
      '1000 CLOSE_NORMAL standard client': 1,
      '1001 CLOSE_GOING_AWAY standard client': 1,
      '1011 INTERNAL_ERROR standard client': 1,
      '1005 CLOSED_NO_STATUS standard client': 1,
      '1001 CLOSE_GOING_AWAY standard server': 1,
      '1013 TRY_AGAIN_LATER standard server': 1,
      '4002 APPLICATION application server': 1,
    });
  });

  it('records a client that vanishes as 1006, initiator client', async () => {
    const before = await metricsState(agent);
    const ws = await open(url);
    ws.terminate();
    await expectNewCloses(agent, before, { '1006 CLOSE_ABNORMAL standard client': 1 });
  });

  it('records a close frame split into 1-byte writes, and a code that must not be on the wire', async () => {
    const before = await metricsState(agent);
    const raw = await rawConnect(Number(agent.listen.split(':')[1]));
    expect(raw.response).toMatch(/^HTTP\/1.1 101/);
    const frame = encodeFrame(0x8, closePayload(4100, 'split'));
    for (const byte of frame) {
      raw.socket.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor(() => firstCloseCode(raw.received()) !== undefined, 'the upstream close reply');
    raw.socket.end();
    await expectNewCloses(agent, before, { '4100 APPLICATION application client': 1 });

    const before2 = await metricsState(agent);
    const v0 = await violations(agent);
    const raw2 = await rawConnect(Number(agent.listen.split(':')[1]));
    raw2.socket.write(encodeFrame(0x8, closePayload(1006)));
    await raw2.closed;
    await expectNewCloses(agent, before2, { '1006 CLOSE_ABNORMAL standard client': 1 });
    const v1 = await violations(agent);
    expect((v1['client internal_code_on_wire'] ?? 0) - (v0['client internal_code_on_wire'] ?? 0)).toBe(1);
  });
});

describe('agent: upstream failures and limits', () => {
  let upstream: WsUpstream;
  const agents: AgentProcess[] = [];
  const servers: Server[] = [];

  beforeAll(async () => {
    upstream = await startWsUpstream();
  });
  afterAll(async () => {
    for (const a of agents) a.kill();
    for (const s of servers) s.close();
    await upstream.close();
  });

  async function agentFor(upstreamUrl: string, extra: string[] = []): Promise<AgentProcess> {
    const a = await startAgentProcess(['--upstream', upstreamUrl, ...extra]);
    agents.push(a);
    return a;
  }

  it('answers 502 when the upstream is down, counts it, and records no close', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const agent = await agentFor(`ws://127.0.0.1:${port}`);
    const raw = await rawConnect(Number(agent.listen.split(':')[1]));
    expect(raw.response).toMatch(/^HTTP\/1.1 502 Bad Gateway/);
    const state = await metricsState(agent);
    expect(state.opened).toBe(0);
    expect(state.closed).toBe(0);
    expect(await upgradeFailures(agent)).toEqual({ upstream_unreachable: 1 });
    // The process is unaffected: health is fine and it still answers.
    expect((await fetch(`http://${agent.metricsListen}/healthz`)).status).toBe(200);
  });

  it('answers 504 when the upstream accepts TCP but never answers', async () => {
    const sockets: import('node:net').Socket[] = [];
    const hanging = (await import('node:net')).createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const agent = await agentFor(`ws://127.0.0.1:${(hanging.address() as AddressInfo).port}`, ['--connect-timeout', '300ms']);
    const started = Date.now();
    const raw = await rawConnect(Number(agent.listen.split(':')[1]));
    expect(raw.response).toMatch(/^HTTP\/1.1 504 Gateway Timeout/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await upgradeFailures(agent)).toEqual({ upstream_timeout: 1 });
    for (const s of sockets) s.destroy();
    hanging.close();
  });

  it('relays a non-101 upstream answer unchanged and does not count a connection', async () => {
    const refusing = createServer();
    refusing.on('upgrade', (_req, socket) => {
      socket.end('HTTP/1.1 403 Forbidden\r\nX-Reason: no-token\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden');
    });
    servers.push(refusing);
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const agent = await agentFor(`ws://127.0.0.1:${(refusing.address() as AddressInfo).port}`);
    const res = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`ws://${agent.listen}`);
      ws.on('unexpected-response', (_req, response) => {
        let body = '';
        response.on('data', (d: Buffer) => (body += d.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      });
      ws.on('error', reject);
    });
    expect(res).toMatchObject({ status: 403, body: 'forbidden' });
    expect(res.headers['x-reason']).toBe('no-token');
    const state = await metricsState(agent);
    expect(state.opened).toBe(0);
    expect(await upgradeFailures(agent)).toEqual({ upstream_rejected: 1 });
  });

  it('answers 502 to an upstream 101 with a wrong Sec-WebSocket-Accept', async () => {
    const liar = createServer();
    liar.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n');
    });
    servers.push(liar);
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    const agent = await agentFor(`ws://127.0.0.1:${(liar.address() as AddressInfo).port}`);
    const raw = await rawConnect(Number(agent.listen.split(':')[1]));
    expect(raw.response).toMatch(/^HTTP\/1.1 502/);
    expect((await metricsState(agent)).opened).toBe(0);
    expect(await upgradeFailures(agent)).toEqual({ upstream_rejected: 1 });
  });

  it('answers 503 over --max-connections and counts it', async () => {
    const agent = await agentFor(upstream.url, ['--max-connections', '2']);
    const a = await open(`ws://${agent.listen}`);
    const b = await open(`ws://${agent.listen}`);
    const raw = await rawConnect(Number(agent.listen.split(':')[1]));
    expect(raw.response).toMatch(/^HTTP\/1.1 503/);
    expect(await upgradeFailures(agent)).toEqual({ over_capacity: 1 });
    const before = await metricsState(agent);
    a.close(1000);
    await closed(a);
    // Room again once one has closed.
    await waitFor(async () => (await metricsState(agent)).active === 1, 'one active');
    const c = await open(`ws://${agent.listen}`);
    b.close(1000);
    c.close(1000);
    await Promise.all([closed(b), closed(c)]);
    await expectNewCloses(agent, before, { '1000 CLOSE_NORMAL standard client': 3 });
  });

  it('drops a client whose request headers dribble in past --handshake-timeout, and keeps open connections past it', async () => {
    const agent = await agentFor(upstream.url, ['--handshake-timeout', '500ms']);
    const ws = await open(`ws://${agent.listen}`);
    const port = Number(agent.listen.split(':')[1]);
    const slow = connect(port, '127.0.0.1');
    slow.on('error', () => undefined);
    const request = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    let sent = 0;
    const dribble = setInterval(() => {
      if (sent < request.length && slow.writable) slow.write(request[sent++] as string);
    }, 100);
    const started = Date.now();
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise<void>((r) => slow.once('close', () => r()));
    clearInterval(dribble);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(3000);
    expect(answer === '' || /^HTTP\/1.1 408/.test(answer)).toBe(true);
    expect((await upgradeFailures(agent)).handshake_timeout).toBe(1);
    // The connection opened before is still fine after the handshake timeout.
    await new Promise((r) => setTimeout(r, 700));
    ws.send('still here');
    expect(await nextMessage(ws)).toBe('still here');
    ws.close(1000);
    await closed(ws);
  });

  it('rejects a bad upgrade request with 400 and forwards plain HTTP requests', async () => {
    const agent = await agentFor(upstream.url);
    const raw = await new Promise<string>((resolve) => {
      const s = connect(Number(agent.listen.split(':')[1]), '127.0.0.1', () =>
        s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'),
      );
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
    });
    expect(raw).toMatch(/^HTTP\/1.1 400/);
    expect(await upgradeFailures(agent)).toEqual({ bad_request: 1 });
    const res = await fetch(`http://${agent.listen}/hello?x=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-upstream')).toBe('ws');
    expect(await res.text()).toBe('plain GET /hello?x=1');
    expect((await metricsState(agent)).opened).toBe(0);
  });

  it('closes idle connections with 1001 after --idle-timeout, initiator agent', async () => {
    const agent = await agentFor(upstream.url, ['--idle-timeout', '300ms']);
    const before = await metricsState(agent);
    const upstreamCodesBefore = upstream.closeCodes.length;
    const ws = await open(`ws://${agent.listen}`);
    expect(await closed(ws)).toBe(1001);
    await expectNewCloses(agent, before, { '1001 CLOSE_GOING_AWAY standard agent': 1 });
    await waitFor(() => upstream.closeCodes.length > upstreamCodesBefore, 'the upstream close');
    expect(upstream.closeCodes.at(-1)).toBe(1001);
  });

  it('keeps a connection that keeps talking past --idle-timeout, and closes it once it goes quiet', async () => {
    // The timeout is 20 times the gap between messages, so a loaded machine's stalls stay far below it.
    const agent = await agentFor(upstream.url, ['--idle-timeout', '2s']);
    const before = await metricsState(agent);
    const ws = await open(`ws://${agent.listen}`);
    const code = closed(ws);
    const startedAt = Date.now();
    let quietAt = startedAt;
    // One message every 100 ms for 2.5 s: longer than the timeout, never close to it without a byte.
    for (let i = 0; i < 25; i++) {
      ws.send(`tick ${i}`);
      expect(await nextMessage(ws)).toBe(`tick ${i}`);
      quietAt = Date.now();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(quietAt - startedAt).toBeGreaterThan(2000);
    expect(await code).toBe(1001);
    // Closed after the timeout, counted from the last byte (the upper bound only catches a timer that never fires).
    expect(Date.now() - quietAt).toBeGreaterThanOrEqual(2000 - 20);
    expect(Date.now() - quietAt).toBeLessThan(2000 + 500 + 10_000);
    await expectNewCloses(agent, before, { '1001 CLOSE_GOING_AWAY standard agent': 1 });
  });

  it('records 1006 initiator server when the upstream process is killed mid-connection', async () => {
    const py = await startPyUpstream();
    try {
      const agent = await agentFor(py.url);
      const before = await metricsState(agent);
      const ws = await open(`ws://${agent.listen}`);
      ws.send('ping');
      expect(await nextMessage(ws)).toBe('ping');
      const code = closed(ws);
      await py.kill('SIGKILL');
      expect(await code).toBe(1006);
      await expectNewCloses(agent, before, { '1006 CLOSE_ABNORMAL standard server': 1 });
    } finally {
      await py.kill();
    }
  });

  it('drains on SIGTERM: every connection gets 1001 both ways, all are recorded, exit 0', async () => {
    const agent = await startAgentProcess(['--upstream', upstream.url, '--drain-timeout', '5s']);
    const upstreamCodesBefore = upstream.closeCodes.length;
    const clients = await Promise.all(Array.from({ length: 5 }, () => open(`ws://${agent.listen}`)));
    // One client is mid-message when the drain starts: the 1001 must wait for the frame boundary.
    await waitFor(async () => (await metricsState(agent)).active === 5, 'five active');
    const codes = Promise.all(clients.map(closed));
    const code = await agent.stop();
    expect(code).toBe(0);
    expect(await codes).toEqual([1001, 1001, 1001, 1001, 1001]);
    await waitFor(() => upstream.closeCodes.length - upstreamCodesBefore === 5, 'five upstream closes');
    expect(upstream.closeCodes.slice(upstreamCodesBefore)).toEqual([1001, 1001, 1001, 1001, 1001]);
    const stopped = agent.logs().find((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ opened: 5, closed: 5, active: 0, drained: 5, terminated: 0 });
  });
});

describe('agent: closes seen in the frames even when they are invalid', () => {
  let upstream: WsUpstream;
  let agent: AgentProcess;
  beforeAll(async () => {
    upstream = await startWsUpstream();
    agent = await startAgentProcess(['--upstream', upstream.url]);
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  it('records the code on the wire under its range text and counts the violation', async () => {
    const port = Number(agent.listen.split(':')[1]);
    const cases: [Buffer, string, string][] = [
      [encodeFrame(0x8, closePayload(5000)), '5000-65535 INVALID invalid client', 'client invalid_code'],
      [encodeFrame(0x8, closePayload(2500)), '2000-2999 EXTENSION extension client', 'client internal_code_on_wire'],
      [encodeFrame(0x8, closePayload(1015)), '1015 TLS_HANDSHAKE_FAIL standard client', 'client internal_code_on_wire'],
      [encodeFrame(0x8, Buffer.from([0x03])), '1005 CLOSED_NO_STATUS standard client', 'client short_close_payload'],
    ];
    for (const [frame, close, violation] of cases) {
      const before = await metricsState(agent);
      const v0 = await violations(agent);
      const raw = await rawConnect(port);
      raw.socket.write(frame);
      await raw.closed;
      await expectNewCloses(agent, before, { [close]: 1 });
      const v1 = await violations(agent);
      expect(closesDelta(v0, v1)).toEqual({ [violation]: 1 });
    }
  });
});
