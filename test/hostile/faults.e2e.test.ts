/**
 * Faults around the real agent (HAProxy/Envoy-style): upstreams that die,
 * reset, hang or stop reading, clients that vanish or half-close, /metrics
 * scraped mid-burst, SIGTERM mid-burst. After each: exact counters,
 * opened = closed + active, the agent's descriptors back to their baseline,
 * its memory bounded, and no crash in its logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { scrape, startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { parseExposition, promtoolCheckMetrics, sumOf } from '../helpers/exposition.js';
import { encodeFrame } from '../helpers/raw-client.js';
import { startPyUpstream, type PyUpstream } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait.js';
import { expectChange, expectFdsBack, expectNoCrash, expectStillServing, fdBaseline, portOf, rssBytes, snapshot } from './helpers/agent-health.js';
import { closeCodes, rawPeer } from './helpers/raw-peer.js';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';

const HALF_CLOSE_MS = 800;
const MiB = 1024 * 1024;

function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`no open within 5 s: ${url}`)), 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function closeOf(ws: WebSocket, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no close within the time limit')), timeoutMs);
    ws.once('close', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true on 'drain', false when none comes within `ms`. */
function drained(emitter: NodeJS.EventEmitter, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      emitter.removeListener('drain', onDrain);
      resolve(false);
    }, ms);
    const onDrain = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    emitter.once('drain', onDrain);
  });
}

describe('faults around a ws upstream', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  let url: string;
  let port: number;
  let fds: number;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    agent = await startAgentProcess(['--upstream', upstream.url, '--half-close-timeout', `${HALF_CLOSE_MS}ms`, '--connect-timeout', '800ms']);
    url = `ws://${agent.listen}`;
    port = portOf(agent.listen);
    fds = await fdBaseline(agent);
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  async function settled(): Promise<void> {
    await expectStillServing(agent);
    await expectFdsBack(agent, fds);
  }

  it('the upstream dies in the middle of a frame: 1006 at the client, 1006 initiator server', async () => {
    const before = await snapshot(agent);
    const ws = await openWs(`${url}/dies`);
    const up = await upstream.connection('/dies');
    const code = closeOf(ws);
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    // A binary frame announcing 4096 bytes, three of them sent, then the process "dies".
    const raw = (up.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.write(Buffer.from([0x82, 0x7e, 0x10, 0x00, 1, 2, 3]));
    await sleep(20);
    raw.destroy();
    expect(await code).toBe(1006);
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard server': 1 } });
    await settled();
  });

  it('the upstream resets (RST) while the client streams: 1006 initiator server', async () => {
    const before = await snapshot(agent);
    const ws = await openWs(`${url}/resets`);
    ws.on('error', () => undefined);
    const up = await upstream.connection('/resets');
    const code = closeOf(ws);
    const streaming = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(Buffer.alloc(32 * 1024)), 2);
    await waitFor(() => up.received > 256 * 1024, 'some streamed data at the upstream');
    (up.ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy();
    expect(await code).toBe(1006);
    clearInterval(streaming);
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard server': 1 } });
    await settled();
  });

  it('the upstream hangs (stops reading, never answers the close): the close is recorded when the client gives up', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/hangs-up' });
    const up = await upstream.connection('/hangs-up');
    (up.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    peer.sendClose(1000, 'bye');
    await sleep(300);
    expect(closeCodes(peer.received())).toEqual([]); // no answer
    expect((await snapshot(agent)).active).toBe(before.active + 1);
    peer.socket.destroy();
    await expectChange(agent, before, { closes: { '1000 CLOSE_NORMAL standard client': 1 } });
    // The close frame did reach the upstream's socket: it finds it once it reads again.
    (up.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
    expect(await up.closed).toBe(1000);
    await settled();
  });

  it('a client that vanishes without FIN (RST): 1006 initiator client, the upstream is told at once', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/vanishes' });
    const up = await upstream.connection('/vanishes');
    peer.send(0x2, Buffer.alloc(1000));
    await waitFor(() => up.received === 1000, 'the message at the upstream');
    peer.socket.resetAndDestroy();
    expect(await up.closed).toBe(1006);
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard client': 1 } });
    await settled();
  });

  it('a client half-closes (FIN, no close frame): the FIN is passed on, 1006 initiator client, promptly', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/client-fin' });
    const up = await upstream.connection('/client-fin');
    const started = Date.now();
    peer.socket.end();
    expect(await up.closed).toBe(1006);
    await peer.closed;
    expect(Date.now() - started).toBeLessThan(HALF_CLOSE_MS);
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard client': 1 } });
    await settled();
  });

  it('a client half-closes and the upstream ignores the FIN: both ended after --half-close-timeout, 1006 initiator client', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/ignores-fin', allowHalfOpen: true });
    const up = await upstream.connection('/ignores-fin');
    // A peer that does not react to a FIN (ws would end its side at once).
    (up.ws as unknown as { _socket: import('node:net').Socket })._socket.removeAllListeners('end');
    const started = Date.now();
    peer.socket.end();
    await peer.closed;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(HALF_CLOSE_MS - 50);
    expect(elapsed).toBeLessThan(HALF_CLOSE_MS + 3000);
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard client': 1 } });
    await settled();
  });

  it('the upstream half-closes (FIN, no close frame) while the client keeps its half open: the FIN is passed on, 1006 initiator server, the agent lets go', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/upstream-fin', allowHalfOpen: true });
    const up = await upstream.connection('/upstream-fin');
    (up.ws as unknown as { _socket: import('node:net').Socket })._socket.end();
    await peer.ended; // the FIN reached the client
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard server': 1 } });
    // The agent's descriptors are free although this client never finishes its half.
    await settled();
    peer.socket.destroy();
  });

  it('a client half-closes right after its close frame: a normal close, 1000 initiator client', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/close-then-fin' });
    peer.socket.end(encodeFrame(0x8, Buffer.from([0x03, 0xe8])));
    await peer.closed;
    expect(closeCodes(peer.received())).toEqual([1000]);
    await expectChange(agent, before, { closes: { '1000 CLOSE_NORMAL standard client': 1 } });
    await settled();
  });

  it('an upstream that stops reading: the agent stops reading the client, its memory stays bounded, every byte arrives later', async () => {
    const pid = agent.child.pid as number;
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/slow-reader' });
    const up = await upstream.connection('/slow-reader');
    up.sink = true;
    const upSocket = (up.ws as unknown as { _socket: import('node:net').Socket })._socket;
    upSocket.pause();
    const rss0 = rssBytes(pid);
    const frame = encodeFrame(0x2, Buffer.alloc(MiB, 0x61));
    const LIMIT = 256; // MiB the client tries to push
    let sent = 0;
    let peak = rss0;
    const started = Date.now();
    while (sent < LIMIT && Date.now() - started < 5000) {
      const more = peer.socket.write(frame);
      sent++;
      peak = Math.max(peak, rssBytes(pid));
      if (!more && !(await drained(peer.socket, 300))) break; // stalled: backpressure reached the client
    }
    peak = Math.max(peak, rssBytes(pid));
    expect(sent, 'MiB accepted before the stall').toBeLessThan(64);
    expect(peak - rss0, 'agent RSS growth').toBeLessThan(48 * MiB);
    // The upstream reads again: everything arrives, nothing was dropped.
    upSocket.resume();
    await waitFor(() => up.received === sent * MiB, `${sent} MiB at the upstream`, 10_000);
    peer.sendClose(1000);
    await peer.closed;
    await expectChange(agent, before, { closes: { '1000 CLOSE_NORMAL standard client': 1 } });
    await settled();
  });

  it('a client that stops reading: the agent stops reading the upstream, its memory stays bounded, every byte arrives later', async () => {
    const pid = agent.child.pid as number;
    const before = await snapshot(agent);
    const peer = await rawPeer(port, { path: '/slow-client', countOnly: true });
    peer.socket.pause();
    const up = await upstream.connection('/slow-client');
    const rss0 = rssBytes(pid);
    const message = Buffer.alloc(MiB, 0x62);
    const LIMIT = 256;
    let sent = 0;
    let peak = rss0;
    const started = Date.now();
    let stalledSince = 0;
    while (sent < LIMIT && Date.now() - started < 5000) {
      if (up.ws.bufferedAmount > 4 * MiB) {
        // The upstream cannot get rid of its data: the agent is not reading it.
        stalledSince ||= Date.now();
        if (Date.now() - stalledSince > 300) break;
        await sleep(10);
        continue;
      }
      stalledSince = 0;
      up.ws.send(message);
      sent++;
      peak = Math.max(peak, rssBytes(pid));
      if (sent % 4 === 0) await sleep(1);
    }
    peak = Math.max(peak, rssBytes(pid));
    const delivered = sent * MiB - up.ws.bufferedAmount;
    expect(delivered / MiB, 'MiB the upstream got rid of before the stall').toBeLessThan(64);
    expect(peak - rss0, 'agent RSS growth').toBeLessThan(48 * MiB);
    // The client reads again: every frame arrives (1 MiB payload + 10 header bytes each).
    peer.socket.resume();
    await waitFor(() => peer.receivedBytes() === sent * (MiB + 10), `${sent} MiB at the client`, 10_000);
    up.ws.close(4000);
    // The client answers once the upstream's close (4 bytes) has arrived, so the upstream's is the first.
    await waitFor(() => peer.receivedBytes() === sent * (MiB + 10) + 4, 'the upstream close at the client');
    peer.socket.end(encodeFrame(0x8, Buffer.from([0x0f, 0xa0])));
    await peer.closed;
    await expectChange(agent, before, { closes: { '4000 APPLICATION application server': 1 } });
    await settled();
  });

  it('/metrics scraped throughout a burst of opens and closes: every scrape consistent, the totals exact', async () => {
    const before = await snapshot(agent);
    const WORKERS = 20;
    const ROUNDS = 5;
    const expected: Record<string, number> = {};
    const add = (k: string): void => void (expected[k] = (expected[k] ?? 0) + 1);
    let burstDone = false;
    const scrapes: { opened: number; closed: number; active: number }[] = [];
    const scraper = (async () => {
      while (!burstDone && scrapes.length < 2000) {
        const res = await scrape(agent);
        expect(res.status).toBe(200);
        const samples = parseExposition(await res.text());
        scrapes.push({
          opened: sumOf(samples, 'websocket_connections_opened_total'),
          closed: sumOf(samples, 'websocket_connections_closed_total'),
          active: sumOf(samples, 'websocket_connections_active'),
        });
        await sleep(5);
      }
    })();
    const worker = async (w: number): Promise<void> => {
      for (let r = 0; r < ROUNDS; r++) {
        const path = `/burst/${w}/${r}`;
        const ws = await openWs(`${url}${path}`);
        ws.on('error', () => undefined);
        const code = closeOf(ws);
        ws.send(Buffer.alloc(512));
        await new Promise((res) => ws.once('message', res));
        switch ((w + r) % 4) {
          case 0:
            ws.close(1000);
            add('1000 CLOSE_NORMAL standard client');
            break;
          case 1:
            ws.close(4000 + w);
            add(`${4000 + w} APPLICATION application client`);
            break;
          case 2:
            (await upstream.connection(path)).ws.close(3001);
            add('3001 FRAMEWORK framework server');
            break;
          default:
            ws.terminate();
            add('1006 CLOSE_ABNORMAL standard client');
        }
        await code;
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    const after = await expectChange(agent, before, { closes: expected });
    burstDone = true;
    await scraper;
    expect(scrapes.length).toBeGreaterThan(5);
    for (const s of scrapes) expect(s.opened).toBe(s.closed + s.active);
    for (let i = 1; i < scrapes.length; i++) {
      expect(scrapes[i]!.opened).toBeGreaterThanOrEqual(scrapes[i - 1]!.opened);
      expect(scrapes[i]!.closed).toBeGreaterThanOrEqual(scrapes[i - 1]!.closed);
    }
    promtoolCheckMetrics(after.text);
    await settled();
  });

  it('after every fault: no crash and no error logged', () => {
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('faults: the upstream process is killed mid-stream', () => {
  let py: PyUpstream;
  let agent: AgentProcess;
  beforeAll(async () => {
    py = await startPyUpstream();
    agent = await startAgentProcess(['--upstream', py.url]);
  });
  afterAll(async () => {
    agent?.kill();
    await py?.kill();
  });

  it('SIGKILL of a python3-websockets upstream with 10 streaming connections: ten 1006 initiator server, descriptors back', async () => {
    const fds = await fdBaseline(agent);
    const before = await snapshot(agent);
    const clients = await Promise.all(Array.from({ length: 10 }, () => openWs(`ws://${agent.listen}`)));
    const codes = clients.map((ws) => {
      ws.on('error', () => undefined);
      return closeOf(ws);
    });
    const streaming = setInterval(() => {
      for (const ws of clients) if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.alloc(16 * 1024));
    }, 5);
    await sleep(100);
    await py.kill('SIGKILL');
    clearInterval(streaming);
    expect(await Promise.all(codes)).toEqual(Array(10).fill(1006));
    await expectChange(agent, before, { closes: { '1006 CLOSE_ABNORMAL standard server': 10 } });
    await expectStillServing(agent);
    await expectFdsBack(agent, fds);
  });
});

describe('faults: SIGTERM in the middle of a burst', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    agent = await startAgentProcess(['--upstream', upstream.url, '--drain-timeout', '1500ms']);
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  it('every open connection gets 1001 both ways at a frame boundary, upgrades in flight too, all recorded, exit 0', async () => {
    const N = 20;
    const clients = await Promise.all(Array.from({ length: N }, (_, i) => openWs(`ws://${agent.listen}/burst/${i}`)));
    const errors: Error[] = [];
    const codes = clients.map((ws) => {
      ws.on('error', (e) => errors.push(e));
      return closeOf(ws, 8000);
    });
    // A connection whose upstream stops reading (so it never answers the 1001) keeps the drain open until its timeout.
    const laggard = await rawPeer(portOf(agent.listen), { path: '/laggard' });
    ((await upstream.connection('/laggard')).ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    // Every client streams 64 KiB messages (each checked by ws for framing) as fast as the echo allows.
    let echoed = 0;
    for (const ws of clients) {
      ws.on('message', () => {
        echoed++;
        if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.alloc(64 * 1024, 0x63));
      });
      ws.send(Buffer.alloc(64 * 1024, 0x63));
    }
    await waitFor(() => echoed > N * 4, 'the burst under way');
    // Two upgrades are in flight at the upstream (it answers after 300 ms) when the signal arrives.
    const late = [0, 1].map((i) =>
      openWs(`ws://${agent.listen}/slow/300/late-${i}`).then((ws) => {
        ws.on('error', () => undefined);
        return closeOf(ws, 8000);
      }),
    );
    await waitFor(() => [0, 1].every((i) => upstream.upgradeRequests.includes(`/slow/300/late-${i}`)), 'both upgrades at the upstream');
    agent.child.kill('SIGTERM');

    expect(await Promise.all(codes)).toEqual(Array(N).fill(1001));
    expect(errors).toEqual([]); // no frame was cut: ws would have failed with 1002
    expect(await Promise.all(late)).toEqual([1001, 1001]);
    await waitFor(() => upstream.connections.filter((c) => c.path.startsWith('/burst/') && c.closeCode !== undefined).length === N, 'the upstream closes');
    expect(upstream.connections.filter((c) => c.path.startsWith('/burst/')).map((c) => c.closeCode)).toEqual(Array(N).fill(1001));
    await waitFor(() => closeCodes(laggard.received()).length > 0, '1001 at the laggard');
    expect(closeCodes(laggard.received())).toEqual([1001]);

    // While the laggard holds the drain open: all the others are recorded, initiator agent.
    let m = await snapshot(agent);
    await waitFor(async () => (m = await snapshot(agent)).closed === N + 2, `${N + 2} closes`);
    expect(m.closes).toEqual({ '1001 CLOSE_GOING_AWAY standard agent': N + 2 });
    expect(m.active).toBe(1);
    expect(m.opened).toBe(m.closed + m.active);
    expect((await scrape(agent, '/readyz')).status).toBe(503);

    expect(await agent.exited).toBe(0);
    await laggard.closed;
    const stopped = agent.logs().find((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ opened: N + 3, closed: N + 3, active: 0, terminated: 1 });
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level === 'error')).toEqual([]);
  });
});
