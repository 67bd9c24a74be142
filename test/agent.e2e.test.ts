/**
 * The real `ws-close-agent` process (echo mode, built dist/) against real
 * peers: the `ws` client, Debian's python3-websockets, raw TCP, promtool.
 * Run `npm run build` first.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { scrape, startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf, type Sample } from './helpers/exposition.js';
import { closePayload, encodeFrame, firstCloseCode, rawConnect } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait.js';

const PYTHON = '/usr/bin/python3'; // Debian's interpreter: the one with python3-websockets
const PY_CLIENT = fileURLToPath(new URL('./peers/ws_client.py', import.meta.url));
const STEP_MS = 5000;

function withTimeout<T>(promise: Promise<T>, what: string, ms = STEP_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------
// Two client implementations behind one interface. Each call opens its own
// connection and resolves with the close code the client saw (undefined when
// it dropped the connection itself).

interface Client {
  readonly name: string;
  /** Close with `code` and wait for the closing handshake. */
  close(url: string, code: number): Promise<number | undefined>;
  /** Send a close frame with no payload. */
  closeEmpty(url: string): Promise<number | undefined>;
  /** End the TCP connection without a close frame. */
  drop(url: string): Promise<number | undefined>;
  /** Send `message` and wait until the server ends the connection. */
  sendAndWait(url: string, message: string): Promise<number | undefined>;
}

function openWs(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    }),
    `ws open ${url}`,
  );
}

function closeCodeOf(ws: WebSocket): Promise<number> {
  return withTimeout(new Promise((resolve) => ws.once('close', (code: number) => resolve(code))), 'ws close event');
}

const wsClient: Client = {
  name: 'ws',
  async close(url, code) {
    const ws = await openWs(url);
    const closed = closeCodeOf(ws);
    ws.close(code, 'bye');
    return closed;
  },
  async closeEmpty(url) {
    const ws = await openWs(url);
    const closed = closeCodeOf(ws);
    ws.close(); // no code: ws sends an empty close payload
    return closed;
  },
  async drop(url) {
    const ws = await openWs(url);
    const closed = closeCodeOf(ws);
    ws.terminate();
    await closed;
    return undefined;
  },
  async sendAndWait(url, message) {
    const ws = await openWs(url);
    const closed = closeCodeOf(ws);
    ws.send(message);
    return closed;
  },
};

function runPython(args: string[]): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [PY_CLIENT, ...args], { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ws_client.py ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      const result = JSON.parse(stdout.trim()) as { received: number | null; version: string };
      if (!/^10\./.test(result.version)) return reject(new Error(`expected Debian's websockets 10.x, got ${result.version}`));
      resolve(result.received ?? undefined);
    });
  });
}

const pythonClient: Client = {
  name: 'python3-websockets',
  close: (url, code) => runPython([url, 'close', String(code)]),
  closeEmpty: (url) => runPython([url, 'empty']),
  drop: (url) => runPython([url, 'drop']),
  sendAndWait: (url, message) => runPython([url, 'wait', message]),
};

// ---------------------------------------------------------------------------
// Reading /metrics

interface Scrape {
  text: string;
  samples: Sample[];
}

async function metrics(agent: AgentProcess, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await scrape(agent, '/metrics', headers);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  return { text, samples: parseExposition(text) };
}

function labelled(samples: Sample[], name: string, key: (l: Record<string, string>) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === name) out[key(s.labels)] = (out[key(s.labels)] ?? 0) + s.value;
  return out;
}

const violations = (s: Sample[]) => labelled(s, 'websocket_protocol_violations_total', (l) => `${l.side} ${l.kind}`);
const failures = (s: Sample[]) => labelled(s, 'websocket_upgrade_failures_total', (l) => l.reason as string);
const closedTotal = (s: Sample[]) => sumOf(s, 'websocket_connections_closed_total');

/** after - before, without the series that did not change. */
function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** opened = closed + active, and the exposition passes promtool. */
function expectConsistent(m: Scrape): void {
  const opened = sumOf(m.samples, 'websocket_connections_opened_total');
  const active = sumOf(m.samples, 'websocket_connections_active');
  expect(opened).toBe(closedTotal(m.samples) + active);
  promtoolCheckMetrics(m.text);
}

interface Expected {
  /** "code codename category initiator" -> count, exactly. */
  closes: Record<string, number>;
  violations?: Record<string, number>;
  failures?: Record<string, number>;
}

/**
 * Run one scenario and check what it added to /metrics: exactly the expected
 * close series, violations and upgrade failures; nothing left open.
 */
async function expectScenario(agent: AgentProcess, run: () => Promise<void>, expected: Expected): Promise<void> {
  const before = await metrics(agent);
  await run();
  const want = closedTotal(before.samples) + Object.values(expected.closes).reduce((a, b) => a + b, 0);
  let after = before;
  await waitFor(
    async () => {
      after = await metrics(agent);
      return closedTotal(after.samples) >= want && sumOf(after.samples, 'websocket_connections_active') === 0;
    },
    `${want} closes and no open connection`,
    STEP_MS,
  );
  expect(delta(closesByLabels(after.samples), closesByLabels(before.samples))).toEqual(expected.closes);
  expect(delta(violations(after.samples), violations(before.samples))).toEqual(expected.violations ?? {});
  expect(delta(failures(after.samples), failures(before.samples))).toEqual(expected.failures ?? {});
  expect(sumOf(after.samples, 'websocket_connections_opened_total') - sumOf(before.samples, 'websocket_connections_opened_total')).toBe(
    Object.values(expected.closes).reduce((a, b) => a + b, 0),
  );
  expectConsistent(after);
}

// The standard codes a client may send, with the labels they must get (SPEC section 2).
const SENDABLE: [number, string, string][] = [
  [1000, 'CLOSE_NORMAL', 'standard'],
  [1001, 'CLOSE_GOING_AWAY', 'standard'],
  [1002, 'CLOSE_PROTOCOL_ERROR', 'standard'],
  [1003, 'CLOSE_UNSUPPORTED', 'standard'],
  [1007, 'UNSUPPORTED_DATA', 'standard'],
  [1008, 'POLICY_VIOLATION', 'standard'],
  [1009, 'CLOSE_TOO_LARGE', 'standard'],
  [1010, 'MISSING_EXTENSION', 'standard'],
  [1011, 'INTERNAL_ERROR', 'standard'],
  [1012, 'SERVICE_RESTART', 'standard'],
  [1013, 'TRY_AGAIN_LATER', 'standard'],
  [3000, 'FRAMEWORK', 'framework'],
  [3999, 'FRAMEWORK', 'framework'],
  [4000, 'APPLICATION', 'application'],
  [4999, 'APPLICATION', 'application'],
];

describe('ws-close-agent (echo mode): every close is recorded with its code and initiator', () => {
  let agent: AgentProcess;
  let url: string;
  let port: number;

  beforeAll(async () => {
    agent = await startAgentProcess(['--codes', '4001=AUTH_EXPIRED']);
    url = `ws://${agent.listen}/`;
    port = Number(agent.listen.split(':').pop());
  });
  afterAll(() => agent?.kill());

  it('starts with nothing recorded and a clean exposition', async () => {
    const m = await metrics(agent);
    expect(closesByLabels(m.samples)).toEqual({});
    expect(sumOf(m.samples, 'websocket_connections_opened_total')).toBe(0);
    expectConsistent(m);
  });

  it('exports the process metrics whose cost does not grow with connections, and process_open_fds as /proc shows it', async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => openWs(url)));
    try {
      const m = await metrics(agent);
      const names = new Set(m.samples.map((s) => s.name));
      for (const name of [
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_p99_seconds',
        'nodejs_heap_size_used_bytes',
        'process_open_fds',
        'process_max_fds',
      ]) {
        expect(names, name).toContain(name);
      }
      // Walking every handle on each scrape costs milliseconds per thousand connections.
      for (const name of ['nodejs_active_handles', 'nodejs_active_resources', 'nodejs_active_handles_total', 'nodejs_active_resources_total']) {
        expect(names, name).not.toContain(name);
      }
      // The count is listed in the background, so a scrape shows the listing
      // that last finished: within a scrape or two it matches /proc (give or
      // take the listing's own descriptor), and 20 held connections are at
      // least 20 descriptors.
      let reported = -1;
      let fds = 0;
      await waitFor(async () => {
        reported = sumOf((await metrics(agent)).samples, 'process_open_fds');
        fds = readdirSync(`/proc/${agent.child.pid}/fd`).length;
        return Math.abs(reported - fds) <= 2;
      }, 'process_open_fds to match /proc');
      expect(reported).toBeGreaterThanOrEqual(20);
    } finally {
      for (const ws of held) ws.terminate();
      // Recorded before the next scenario takes its "before" snapshot.
      await waitFor(async () => sumOf((await metrics(agent)).samples, 'websocket_connections_active') === 0, 'the held connections closed');
    }
  });

  for (const client of [wsClient, pythonClient]) {
    describe(`${client.name} client`, () => {
      for (const [code, codename, category] of SENDABLE) {
        it(`closes with ${code}: ${code} ${codename} ${category} client`, async () => {
          await expectScenario(
            agent,
            async () => {
              expect(await client.close(url, code)).toBe(code); // the echo server answers with the same code
            },
            { closes: { [`${code} ${codename} ${category} client`]: 1 } },
          );
        });
      }

      it('sends an empty close frame: 1005 CLOSED_NO_STATUS, initiator client', async () => {
        await expectScenario(
          agent,
          async () => {
            expect(await client.closeEmpty(url)).toBe(1005);
          },
          { closes: { '1005 CLOSED_NO_STATUS standard client': 1 } },
        );
      });

      it('drops TCP without a close frame: 1006 CLOSE_ABNORMAL, initiator client', async () => {
        await expectScenario(agent, async () => void (await client.drop(url)), { closes: { '1006 CLOSE_ABNORMAL standard client': 1 } });
      });

      it('the server closes with a named code (--codes 4001=AUTH_EXPIRED): initiator server', async () => {
        await expectScenario(
          agent,
          async () => {
            expect(await client.sendAndWait(url, '!close 4001 token expired')).toBe(4001);
          },
          { closes: { '4001 AUTH_EXPIRED application server': 1 } },
        );
      });

      it('the server closes with an unnamed code: APPLICATION', async () => {
        await expectScenario(
          agent,
          async () => {
            expect(await client.sendAndWait(url, '!close 4002')).toBe(4002);
          },
          { closes: { '4002 APPLICATION application server': 1 } },
        );
      });

      it('the server terminates: 1006 CLOSE_ABNORMAL, initiator server', async () => {
        await expectScenario(
          agent,
          async () => {
            expect(await client.sendAndWait(url, '!terminate')).toBe(1006);
          },
          { closes: { '1006 CLOSE_ABNORMAL standard server': 1 } },
        );
      });
    });
  }

  describe('raw socket', () => {
    // What ws does with each frame decides what the hook records (SPEC section 2).
    const cases: [string, Buffer, number, string, string][] = [
      ['a 1-byte close payload', encodeFrame(0x8, Buffer.from([0x03])), 1002, '1002 CLOSE_PROTOCOL_ERROR standard server', 'client short_close_payload'],
      ['close code 1005 on the wire', encodeFrame(0x8, closePayload(1005)), 1002, '1002 CLOSE_PROTOCOL_ERROR standard server', 'client internal_code_on_wire'],
      ['close code 5000', encodeFrame(0x8, closePayload(5000)), 1002, '1002 CLOSE_PROTOCOL_ERROR standard server', 'client invalid_code'],
      ['close code 1014 (ws accepts it)', encodeFrame(0x8, closePayload(1014)), 1014, '1014 UNUSED standard client', 'client internal_code_on_wire'],
    ];
    for (const [what, frame, answered, series, violation] of cases) {
      it(`${what}: the agent answers ${answered} and records ${series}, violation ${violation}`, async () => {
        await expectScenario(
          agent,
          async () => {
            const raw = await withTimeout(rawConnect(port), 'raw handshake');
            expect(raw.response).toMatch(/^HTTP\/1\.1 101 /);
            raw.socket.write(frame);
            await withTimeout(raw.closed, 'the agent ends the raw connection');
            expect(firstCloseCode(raw.received())).toBe(answered);
          },
          { closes: { [series]: 1 }, violations: { [violation]: 1 } },
        );
      });
    }

    it('an upgrade request without Sec-WebSocket-Key gets 400, counted as bad_request, no close recorded', async () => {
      await expectScenario(
        agent,
        async () => {
          const response = await withTimeout(
            new Promise<string>((resolve, reject) => {
              const socket = connect(port, '127.0.0.1');
              let data = '';
              socket.setEncoding('latin1');
              socket.on('data', (s: string) => (data += s));
              socket.on('error', reject);
              socket.on('close', () => resolve(data));
              socket.write(`GET / HTTP/1.1\r\nHost: ${agent.listen}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`);
            }),
            'answer to a bad upgrade',
          );
          expect(response).toMatch(/^HTTP\/1\.1 400 /);
        },
        { closes: {}, failures: { bad_request: 1 } },
      );
    });
  });

  it('logs nothing per connection at the default level', () => {
    const msgs = agent.logs().map((l) => l.msg);
    expect(msgs).toEqual(['listening']);
    expect(agent.stderr()).toBe('');
  });
});

describe('ws-close-agent --max-connections 2 --metrics-token', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgentProcess(['--max-connections', '2', '--metrics-token', 's3cret']);
  });
  afterAll(() => agent?.kill());
  const auth = { Authorization: 'Bearer s3cret' };

  it('/metrics needs the token; /healthz and /readyz do not', async () => {
    expect((await scrape(agent)).status).toBe(401);
    expect((await scrape(agent, '/metrics', { Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await scrape(agent, '/metrics', auth)).status).toBe(200);
    expect((await scrape(agent, '/healthz')).status).toBe(200);
    expect((await scrape(agent, '/readyz')).status).toBe(200);
  });

  it('the third upgrade gets 503 and counts over_capacity; a freed slot is usable again', async () => {
    const url = `ws://${agent.listen}/`;
    const port = Number(agent.listen.split(':').pop());
    const a = await openWs(url);
    const b = await openWs(url);
    const third = await withTimeout(rawConnect(port), 'third upgrade');
    expect(third.response).toMatch(/^HTTP\/1\.1 503 /);
    await withTimeout(third.closed, 'the agent ends the refused connection');

    let m = await metrics(agent, auth);
    expect(failures(m.samples)).toEqual({ over_capacity: 1 });
    expect(sumOf(m.samples, 'websocket_connections_opened_total')).toBe(2);
    expect(sumOf(m.samples, 'websocket_connections_active')).toBe(2);
    expect(closesByLabels(m.samples)).toEqual({});
    expectConsistent(m);

    const aClosed = closeCodeOf(a);
    a.close(1000);
    await aClosed;
    await waitFor(async () => closedTotal((await metrics(agent, auth)).samples) === 1, 'the first close', STEP_MS);
    const c = await openWs(url);
    for (const ws of [b, c]) {
      const closed = closeCodeOf(ws);
      ws.close(4000);
      await closed;
    }
    await waitFor(async () => closedTotal((m = await metrics(agent, auth)).samples) === 3, 'three closes', STEP_MS);
    expect(closesByLabels(m.samples)).toEqual({ '1000 CLOSE_NORMAL standard client': 1, '4000 APPLICATION application client': 2 });
    expect(failures(m.samples)).toEqual({ over_capacity: 1 });
    expectConsistent(m);
  });
});

describe('ws-close-agent on SIGTERM', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgentProcess(['--drain-timeout', '2s']);
  });
  afterAll(() => agent?.kill());

  it('sends 1001 to every open connection, records each with initiator agent, and exits 0', async () => {
    const url = `ws://${agent.listen}/`;
    const port = Number(agent.listen.split(':').pop());
    const N = 5;
    const clients = await Promise.all(Array.from({ length: N }, () => openWs(url)));
    const codes = clients.map((ws) => withTimeout(new Promise<number>((r) => ws.once('close', (code: number) => r(code))), '1001 at a ws client'));
    // A raw client that never answers the close: it keeps the drain open until the timeout.
    const laggard = await withTimeout(rawConnect(port), 'laggard handshake');
    await waitFor(async () => sumOf((await metrics(agent)).samples, 'websocket_connections_active') === N + 1, 'all connections open', STEP_MS);

    agent.child.kill('SIGTERM');
    expect(await Promise.all(codes)).toEqual(Array(N).fill(1001));
    await waitFor(() => firstCloseCode(laggard.received()) !== undefined, '1001 at the raw client', STEP_MS);
    expect(firstCloseCode(laggard.received())).toBe(1001);

    // While the laggard holds the drain open: the five are recorded, initiator agent.
    let m = await metrics(agent);
    await waitFor(async () => closedTotal((m = await metrics(agent)).samples) === N, `${N} closes`, STEP_MS);
    expect(closesByLabels(m.samples)).toEqual({ '1001 CLOSE_GOING_AWAY standard agent': N });
    expect(sumOf(m.samples, 'websocket_connections_active')).toBe(1);
    expectConsistent(m);
    expect((await scrape(agent, '/readyz')).status).toBe(503);
    // No new connections while draining.
    await expect(openWs(url)).rejects.toThrow();

    // After the drain timeout the laggard is ended and recorded too; the process exits 0.
    expect(await withTimeout(agent.exited, 'exit after SIGTERM', 8000)).toBe(0);
    await withTimeout(laggard.closed, 'laggard connection ended');
    const stopped = agent.logs().find((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ level: 'info', drained: N, terminated: 1, opened: N + 1, closed: N + 1, active: 0 });
    expect(agent.logs().map((l) => l.msg)).toEqual(['listening', 'signal', 'draining', 'stopped']);
  });
});

describe('ws-close-agent (echo mode) --idle-timeout', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgentProcess(['--idle-timeout', '300ms']);
  });
  afterAll(() => agent?.kill());

  it('closes a silent connection with 1001, initiator agent, and leaves a chatty one open', async () => {
    const silent = new WebSocket(`ws://${agent.listen}`);
    const chatty = new WebSocket(`ws://${agent.listen}`);
    await Promise.all([silent, chatty].map((ws) => new Promise((r) => ws.once('open', r))));
    const silentClosed = new Promise<number>((r) => silent.once('close', (code) => r(code)));
    const started = Date.now();
    const keepAlive = setInterval(() => chatty.send('.'), 100);
    try {
      expect(await silentClosed).toBe(1001);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(chatty.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(keepAlive);
    }
    await waitFor(async () => sumOf(parseExposition(await (await scrape(agent)).text()), 'websocket_connections_closed_total') === 1, 'one close');
    const samples = parseExposition(await (await scrape(agent)).text());
    expect(closesByLabels(samples)).toEqual({ '1001 CLOSE_GOING_AWAY standard agent': 1 });
    chatty.close(1000);
  });
});
