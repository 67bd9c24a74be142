/**
 * The proxy's own upstream handshake (src/agent/proxy/upstream-handshake.ts):
 * upstreams that answer with exact bytes (raw TCP servers), a `ws` upstream
 * behind TLS (wss://, certificate made with openssl), and real clients. Each
 * case checks what the client receives byte for byte and what is counted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createProxyServer, type ProxyServer } from '../src/agent/proxy/server.js';
import { createRecorder } from '../src/recorder/registry.js';
import { type CloseRecorder } from '../src/recorder/recorder.js';
import { scrape, startAgentProcess } from './helpers/agent-process.js';
import { closesByLabels, parseExposition } from './helpers/exposition.js';
import { selfSignedCert } from './helpers/self-signed.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function listen(server: Server | HttpsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** An upstream that reads the request head, then writes `answer` (chunks, with a pause between) and keeps the socket open. */
async function scriptedUpstream(answer: (string | Buffer)[], requests: string[] = []): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      requests.push(head);
      void (async () => {
        for (const part of answer) {
          if (socket.destroyed) return;
          socket.write(part);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
    });
  });
  closers.push(() => {
    for (const s of sockets) s.destroy();
  });
  return listen(server);
}

interface Agent {
  proxy: ProxyServer;
  recorder: CloseRecorder;
  registry: Registry;
  port: number;
}

async function agentFor(upstream: string, connectTimeoutMs = 2000): Promise<Agent> {
  const registry = new Registry();
  const recorder = createRecorder({ registry });
  const proxy = createProxyServer({
    upstream: new URL(upstream),
    recorder,
    logger,
    maxConnections: 0,
    handshakeTimeoutMs: 2000,
    connectTimeoutMs,
    idleTimeoutMs: 0,
    halfCloseTimeoutMs: 1000,
  });
  const port = await listen(proxy.server);
  closers.push(async () => {
    await proxy.drain(200);
  });
  return { proxy, recorder, registry, port };
}

/**
 * Send an upgrade request by hand; resolve with every byte received until the
 * agent closes the connection, or until `until` is among them (the client then
 * ends its side).
 */
function rawUpgrade(port: number, extraHeaders = '', until?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (until !== undefined && received.includes(until)) socket.end();
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no close within 5 s; received ${JSON.stringify(received)}`));
    });
    socket.write(
      `GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    );
  });
}

async function counts(agent: Agent): Promise<{ opened: number; failures: Record<string, number> }> {
  const samples = parseExposition(await agent.registry.metrics());
  const failures: Record<string, number> = {};
  let opened = 0;
  for (const s of samples) {
    if (s.name === 'websocket_upgrade_failures_total' && s.value > 0) failures[s.labels.reason as string] = s.value;
    if (s.name === 'websocket_connections_opened_total') opened = s.value;
  }
  return { opened, failures };
}

describe('answers other than 101 are relayed byte for byte, and the connection is not opened', () => {
  it('a Content-Length body, sent in pieces, followed by bytes that are not part of it', async () => {
    const head = 'HTTP/1.1 403 Forbidden\r\nX-Reason: no-token\r\nContent-Length: 9\r\n\r\n';
    const agent = await agentFor(`ws://127.0.0.1:${await scriptedUpstream([head, 'forb', 'idden', 'TRAILING GARBAGE'])}`);
    expect(await rawUpgrade(agent.port)).toBe(`${head}forbidden`);
    expect(await counts(agent)).toEqual({ opened: 0, failures: { upstream_rejected: 1 } });
  });

  it('a chunked body with a chunk extension and a trailer, split inside the framing', async () => {
    const head = 'HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n';
    const body = ['5;ext=1\r\nhel', 'lo\r\n', 'A\r\n0123456789\r', '\n0\r\nX-Trailer: yes\r', '\n\r\n'];
    const agent = await agentFor(`ws://127.0.0.1:${await scriptedUpstream([head, ...body, 'NOT PART OF IT'])}`);
    expect(await rawUpgrade(agent.port)).toBe(head + body.join(''));
    expect(await counts(agent)).toEqual({ opened: 0, failures: { upstream_rejected: 1 } });
  });

  it('no length: the body runs until the upstream closes', async () => {
    const answer = 'HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nbusy, try later';
    const server = createServer((socket) => {
      socket.once('data', () => socket.end(answer));
    });
    const agent = await agentFor(`ws://127.0.0.1:${await listen(server)}`);
    expect(await rawUpgrade(agent.port)).toBe(answer);
    expect(await counts(agent)).toEqual({ opened: 0, failures: { upstream_rejected: 1 } });
  });

  it('204 has no body, even when bytes follow', async () => {
    const head = 'HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n';
    const agent = await agentFor(`ws://127.0.0.1:${await scriptedUpstream([head, 'junk'])}`);
    expect(await rawUpgrade(agent.port)).toBe(head);
  });
});

describe('the 101', () => {
  it('an informational 103 before the 101 is dropped; the 101 head is relayed as sent, and the bytes after it reach the client', async () => {
    const early = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n';
    const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nX-Upstream: raw\r\n\r\n`;
    const hello = Buffer.from([0x81, 0x02, 0x68, 0x69]); // text frame "hi", unmasked
    const requests: string[] = [];
    const agent = await agentFor(
      `ws://127.0.0.1:${await scriptedUpstream([early + head.slice(0, 20), head.slice(20), hello, Buffer.from([0x88, 0x02, 0x0f, 0xa1])], requests)}`,
    );
    const received = await rawUpgrade(agent.port, 'X-Forwarded-For: 10.0.0.1\r\nCookie: a=b\r\n', '\x88\x02\x0f\xa1');
    expect(received).toBe(`${head}\x81\x02hi\x88\x02\x0f\xa1`);
    // The request went upstream as the client sent it, plus the client's address.
    expect(requests[0]).toMatch(/^GET \/chat HTTP\/1\.1\r\nHost: example\r\nUpgrade: websocket\r\n/);
    expect(requests[0]).toContain('\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nCookie: a=b\r\n');
    await waitFor(async () => Object.keys(closesByLabels(parseExposition(await agent.registry.metrics()))).length > 0, 'the close recorded');
    expect(closesByLabels(parseExposition(await agent.registry.metrics()))).toEqual({ '4001 APPLICATION application server': 1 });
  });

  for (const [name, answer, reason] of [
    ['a 101 with the wrong accept', `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n`, 'upstream_rejected'],
    ['a 101 without an accept', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'upstream_rejected'],
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n\r\n', 'upstream_rejected'],
    ['a header line without a colon', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n', 'upstream_rejected'],
    ['an answer head over 16 KiB', `HTTP/1.1 101 Switching Protocols\r\nX-Big: ${'a'.repeat(17 * 1024)}`, 'upstream_rejected'],
  ] as const) {
    it(`${name}: 502 and ${reason}`, async () => {
      const agent = await agentFor(`ws://127.0.0.1:${await scriptedUpstream([answer])}`);
      expect(await rawUpgrade(agent.port)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(await counts(agent)).toEqual({ opened: 0, failures: { [reason]: 1 } });
    });
  }

  it('an upstream that closes in the middle of its answer head: 502 upstream_unreachable', async () => {
    const server = createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 101 Swi'));
    });
    const agent = await agentFor(`ws://127.0.0.1:${await listen(server)}`);
    expect(await rawUpgrade(agent.port)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n[^]*upstream unreachable: ECONNRESET\n$/);
    expect(await counts(agent)).toEqual({ opened: 0, failures: { upstream_unreachable: 1 } });
  });
});

describe('a wss:// upstream', () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ws-close-agent-tls-'));
    const files = selfSignedCert(dir, 'localhost', 'localhost', 'DNS:localhost', 1);
    cert = readFileSync(files.cert);
    key = readFileSync(files.key);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function tlsUpstream(): Promise<number> {
    const server = createHttpsServer({ cert, key });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data) => (textOf(data) === 'bye' ? ws.close(4002, 'bye') : ws.send(data))));
    closers.push(() => {
      for (const c of wss.clients) c.terminate();
    });
    return listen(server);
  }

  it('with a certificate the agent trusts (NODE_EXTRA_CA_CERTS, checked against the name): proxied and recorded', async () => {
    const port = await tlsUpstream();
    const agent = await startAgentProcess(['--upstream', `wss://localhost:${port}/`], { NODE_EXTRA_CA_CERTS: join(dir, 'localhost.crt') });
    closers.push(() => agent.kill());
    const ws = new WebSocket(`ws://${agent.listen}/`);
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (d) => resolve(textOf(d)));
      ws.on('error', reject);
    });
    expect(echoed).toBe('ping');
    const closed = new Promise<number>((resolve) => ws.on('close', resolve));
    ws.send('bye');
    expect(await closed).toBe(4002);
    await waitFor(async () => Object.keys(closesByLabels(parseExposition(await (await scrape(agent)).text()))).length > 0, 'the close recorded');
    expect(closesByLabels(parseExposition(await (await scrape(agent)).text()))).toEqual({ '4002 APPLICATION application server': 1 });
  });

  it('with a certificate the agent does not trust: 502 upstream_unreachable, nothing opened', async () => {
    const port = await tlsUpstream();
    const agent = await agentFor(`wss://localhost:${port}/`);
    expect(await rawUpgrade(agent.port)).toMatch(
      /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*upstream unreachable: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n$/,
    );
    expect(await counts(agent)).toEqual({ opened: 0, failures: { upstream_unreachable: 1 } });
  });
});
