/**
 * Hostile opening handshakes against the real agent in front of a `ws`
 * upstream whose path picks its behaviour: each request gets an exact HTTP
 * status, the exact upgrade-failure count, no connection is counted as
 * opened, and the agent's descriptors return to their baseline.
 */
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { promtoolCheckMetrics } from '../helpers/exposition.js';
import { closePayload, encodeFrame } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import {
  type Change,
  expectChange,
  expectFdsBack,
  expectNoCrash,
  expectStillServing,
  fdBaseline,
  portOf,
  snapshot,
  startProxied,
  stopProxied,
} from './helpers/agent-health.js';
import { abortInRequestHead, closeCodes, exchange, upgradeRequest, type HttpExchange } from './helpers/raw-peer.js';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';

const HANDSHAKE_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 800;

const head = (ex: HttpExchange): string => {
  const text = ex.data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? text : text.slice(0, end);
};
const body = (ex: HttpExchange): string => {
  const text = ex.data.toString('latin1');
  return text.slice(text.indexOf('\r\n\r\n') + 4);
};
const refused = (reason: string): Change => ({ closes: {}, failures: { [reason]: 1 }, opened: 0 });

/** Send `request` to the agent at `port`, expect `status` and exactly `change`, then the agent is unharmed (descriptors back to `fds`). */
async function answers(
  { agent, port, fds }: { agent: AgentProcess; port: number; fds: number },
  request: string | Buffer,
  status: number,
  change: Change,
  options: Parameters<typeof exchange>[2],
): Promise<HttpExchange> {
  const before = await snapshot(agent);
  const ex = await exchange(port, request, options);
  expect(ex.status, head(ex)).toBe(status);
  await expectChange(agent, before, change);
  await expectStillServing(agent);
  await expectFdsBack(agent, fds);
  return ex;
}

describe('hostile handshakes through the proxy', () => {
  let upstream: ScriptedUpstream, agent: AgentProcess, port: number, fds: number;
  beforeAll(async () => {
    const args = ['--handshake-timeout', `${HANDSHAKE_TIMEOUT_MS}ms`, '--connect-timeout', `${CONNECT_TIMEOUT_MS}ms`, '--half-close-timeout', '1s'];
    ({ upstream, agent, port, fds } = await startProxied(startScriptedUpstream, args));
  });
  afterAll(() => stopProxied({ agent, upstream }));

  const expectAnswer = (request: string | Buffer, status: number, change: Change, options: Parameters<typeof exchange>[2] = {}): Promise<HttpExchange> =>
    answers({ agent, port, fds }, request, status, change, options);

  const badRequests: [string, string][] = [
    ['no Sec-WebSocket-Key', upgradeRequest('/', { 'Sec-WebSocket-Key': null })],
    ['a Sec-WebSocket-Key that is not 16 bytes of base64', upgradeRequest('/', { 'Sec-WebSocket-Key': 'c2hvcnQ=' })],
    ['a Sec-WebSocket-Key with characters outside base64', upgradeRequest('/', { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' })],
    ['two Sec-WebSocket-Key headers', upgradeRequest('/', {}, 'GET', [`Sec-WebSocket-Key: ${'A'.repeat(22)}==`])],
    ['method POST', upgradeRequest('/', {}, 'POST')],
    ['method PUT', upgradeRequest('/', {}, 'PUT')],
    ['Upgrade: h2c instead of websocket', upgradeRequest('/', { Upgrade: 'h2c' })],
  ];
  for (const [what, request] of badRequests) {
    it(`${what}: 400, bad_request, nothing opened`, async () => {
      await expectAnswer(request, 400, refused('bad_request'));
    });
  }

  for (const version of [null, '8', '14', 'thirteen']) {
    it(`Sec-WebSocket-Version ${version ?? 'missing'}: 400 naming the supported version`, async () => {
      const ex = await expectAnswer(upgradeRequest('/', { 'Sec-WebSocket-Version': version }), 400, refused('bad_request'));
      expect(head(ex)).toMatch(/\r\nSec-WebSocket-Version: 13\r\n/i);
    });
  }

  it('a plain GET to the WebSocket-only upstream: its 426 relayed unchanged, nothing counted', async () => {
    const before = await snapshot(agent);
    // node:http without an agent, so no keep-alive connection outlives the case.
    const res = await new Promise<{ status: number; upstream: unknown; body: string }>((resolve, reject) => {
      const req = httpGet({ host: '127.0.0.1', port, path: '/chat', agent: false, timeout: 5000 }, (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (text += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, upstream: r.headers['x-upstream'], body: text }));
      });
      req.on('error', reject);
    });
    expect(res).toEqual({ status: 426, upstream: 'scripted', body: 'Upgrade Required' });
    await expectChange(agent, before, { closes: {}, opened: 0 });
    await expectFdsBack(agent, fds);
  });

  it('2,000 short headers (within the 16 KiB head limit): forwarded, the upgrade completes', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `x${i % 10}: ${i % 10}`);
    const before = await snapshot(agent);
    const request = Buffer.concat([Buffer.from(upgradeRequest('/many-headers', {}, 'GET', many), 'latin1'), encodeFrame(0x8, closePayload(4000))]);
    const ex = await exchange(port, request);
    expect(ex.status).toBe(101);
    expect(closeCodes(ex.data.subarray(ex.data.indexOf('\r\n\r\n') + 4))).toEqual([4000]);
    await expectChange(agent, before, { closes: { '4000 APPLICATION application client': 1 } });
    await expectFdsBack(agent, fds);
  });

  it('2,000 headers over the head limit: 431, bad_request', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(8)}`);
    await expectAnswer(upgradeRequest('/', {}, 'GET', many), 431, refused('bad_request'));
  });

  it('an oversized Sec-WebSocket-Protocol (20 KiB): 431, bad_request', async () => {
    const protocols = Array.from({ length: 2500 }, (_, i) => `p${i}`).join(', ');
    expect(protocols.length).toBeGreaterThan(16 * 1024);
    await expectAnswer(upgradeRequest('/', { 'Sec-WebSocket-Protocol': protocols }), 431, refused('bad_request'));
  });

  it('a malformed Sec-WebSocket-Protocol: the upstream 400 relayed, upstream_rejected', async () => {
    await expectAnswer(upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'chat, "quoted"' }), 400, refused('upstream_rejected'));
  });

  it('headers dribbled one byte at a time (each second, and every 50 ms): 408 at the handshake timeout', async () => {
    const before = await snapshot(agent);
    const request = upgradeRequest('/');
    const [perSecond, fast] = await Promise.all([
      exchange(port, request, { pieces: request.length, gapMs: 1000, timeoutMs: 4000 }),
      exchange(port, request, { pieces: request.length, gapMs: 50, timeoutMs: 4000 }),
    ]);
    for (const ex of [perSecond, fast]) {
      expect(ex.status).toBe(408);
      expect(ex.elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
      expect(ex.elapsed).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 3000);
    }
    await expectChange(agent, before, { closes: {}, failures: { handshake_timeout: 2 }, opened: 0 });
    await expectFdsBack(agent, fds);
  });

  for (const how of ['FIN', 'RST'] as const) {
    it(`a client that goes away (${how}) in the middle of its request head: client_aborted, nothing opened`, async () => {
      const before = await snapshot(agent);
      await abortInRequestHead(port, how);
      await expectChange(agent, before, refused('client_aborted'));
      await expectStillServing(agent);
      await expectFdsBack(agent, fds);
    });

    it(`a client that goes away (${how}) while the upstream is answering: client_aborted, the upstream connection ended too`, async () => {
      const before = await snapshot(agent);
      const path = `/slow/300/${how}`;
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((r) => socket.once('connect', () => r()));
      socket.write(upgradeRequest(path));
      await new Promise((r) => setTimeout(r, 100));
      if (how === 'FIN') socket.end();
      else socket.resetAndDestroy();
      await expectChange(agent, before, refused('client_aborted'));
      // The agent gave up on the upstream request too: the upstream never opened a WebSocket.
      await waitFor(() => upstream.openSockets() === 0, 'the upstream side closed');
      await new Promise((r) => setTimeout(r, 300));
      expect(upstream.connections.some((c) => c.path === path)).toBe(false);
      await expectFdsBack(agent, fds);
    });
  }

  it('an upstream that answers 101 with a wrong Sec-WebSocket-Accept: 502, upstream_rejected', async () => {
    await expectAnswer(upgradeRequest('/wrong-accept'), 502, refused('upstream_rejected'));
  });

  for (const status of [403, 404, 500, 503]) {
    it(`an upstream that answers ${status}: relayed unchanged, upstream_rejected, not opened`, async () => {
      const ex = await expectAnswer(upgradeRequest(`/status/${status}`), status, refused('upstream_rejected'));
      expect(head(ex)).toMatch(/\r\nX-Upstream: scripted\r\n/i);
      expect(body(ex)).toBe(`refused with ${status}`);
    });
  }

  it('an upstream that accepts the request and never answers: 504 after --connect-timeout, upstream_timeout', async () => {
    const ex = await expectAnswer(upgradeRequest('/hang'), 504, refused('upstream_timeout'));
    expect(ex.elapsed).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
    await waitFor(() => upstream.openSockets() === 0, 'the upstream side of /hang closed');
  });

  it('an upstream that resets the connection instead of answering: 502, upstream_unreachable', async () => {
    await expectAnswer(upgradeRequest('/reset'), 502, refused('upstream_unreachable'));
  });

  it('a close frame in the same packet as the request head reaches the upstream and is recorded', async () => {
    const before = await snapshot(agent);
    const ex = await exchange(port, Buffer.concat([Buffer.from(upgradeRequest('/pipelined')), encodeFrame(0x8, closePayload(4005, 'early'))]));
    expect(ex.status).toBe(101);
    expect(closeCodes(ex.data.subarray(ex.data.indexOf('\r\n\r\n') + 4))).toEqual([4005]);
    await expectChange(agent, before, { closes: { '4005 APPLICATION application client': 1 } });
    expect((await upstream.connection('/pipelined')).closeCode).toBe(4005);
  });

  it('after every case: a valid exposition and no crash', async () => {
    promtoolCheckMetrics((await snapshot(agent)).text);
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('hostile handshakes against the echo endpoint (hook mode)', () => {
  let agent: AgentProcess;
  let port: number;
  let fds: number;

  beforeAll(async () => {
    agent = await startAgentProcess(['--handshake-timeout', `${HANDSHAKE_TIMEOUT_MS}ms`]);
    port = portOf(agent.listen);
    fds = await fdBaseline(agent);
  });
  afterAll(() => agent?.kill());

  const expectAnswer = (request: string | Buffer, status: number, change: Change, options: Parameters<typeof exchange>[2] = {}): Promise<HttpExchange> =>
    answers({ agent, port, fds }, request, status, change, options);

  const badRequests: [string, string][] = [
    ['no Sec-WebSocket-Key', upgradeRequest('/', { 'Sec-WebSocket-Key': null })],
    ['a Sec-WebSocket-Key that is not 16 bytes of base64', upgradeRequest('/', { 'Sec-WebSocket-Key': 'c2hvcnQ=' })],
    ['method POST', upgradeRequest('/', {}, 'POST')],
    ['Upgrade: h2c instead of websocket', upgradeRequest('/', { Upgrade: 'h2c' })],
    ['a malformed Sec-WebSocket-Protocol', upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'chat, "quoted"' })],
  ];
  for (const [what, request] of badRequests) {
    it(`${what}: 400, bad_request, nothing opened`, async () => {
      await expectAnswer(request, 400, refused('bad_request'));
    });
  }

  for (const version of [null, '8']) {
    it(`Sec-WebSocket-Version ${version ?? 'missing'}: 400 naming the supported version (RFC 6455 §4.4)`, async () => {
      const ex = await expectAnswer(upgradeRequest('/', { 'Sec-WebSocket-Version': version }), 400, refused('bad_request'));
      expect(head(ex)).toMatch(/\r\nSec-WebSocket-Version: 13\r\n/i);
    });
  }

  it('a plain GET to the WebSocket path: 426, nothing counted', async () => {
    await expectAnswer('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 426, { closes: {}, opened: 0 });
  });

  it('2,000 headers over the head limit and an oversized Sec-WebSocket-Protocol: 431, bad_request', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(8)}`);
    await expectAnswer(upgradeRequest('/', {}, 'GET', many), 431, refused('bad_request'));
    const protocols = Array.from({ length: 2500 }, (_, i) => `p${i}`).join(', ');
    await expectAnswer(upgradeRequest('/', { 'Sec-WebSocket-Protocol': protocols }), 431, refused('bad_request'));
  });

  it('headers dribbled one byte every 50 ms: 408 at the handshake timeout', async () => {
    const request = upgradeRequest('/');
    const ex = await expectAnswer(request, 408, refused('handshake_timeout'), { pieces: request.length, gapMs: 50, timeoutMs: 4000 });
    expect(ex.elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
  });

  it('a client that resets in the middle of its request head: client_aborted', async () => {
    const before = await snapshot(agent);
    await abortInRequestHead(port, 'RST');
    await expectChange(agent, before, refused('client_aborted'));
    await expectFdsBack(agent, fds);
  });

  it('after every case: a valid exposition, no hook error, no crash', async () => {
    promtoolCheckMetrics((await snapshot(agent)).text);
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level === 'error')).toEqual([]);
  });
});
