/**
 * --tls-cert / --tls-key through the real agent: wss:// clients to a real
 * upstream, handshakes that fail (counted as tls_handshake), certificate
 * rotation the way a mounted Kubernetes Secret changes (a symlink swap), a
 * bad new pair that keeps the old one, --workers, and the configuration
 * errors. Certificates come from openssl, made in a fresh directory.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig } from '../src/agent/config.js';
import { runAgentCommand, scrape, startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { configError } from './helpers/config-error.js';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf } from './helpers/exposition.js';
import { startWsUpstream, type WsUpstream } from './helpers/upstreams.js';
import { selfSignedCert } from './helpers/self-signed.js';
import { waitFor } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-close-agent-tls-'));

interface Pair {
  cert: string;
  key: string;
  certPem: Buffer;
  fingerprint: string;
}

/** A self-signed P-256 certificate for 127.0.0.1, made by openssl. */
function makePair(name: string): Pair {
  const { cert, key } = selfSignedCert(dir, name, name, 'IP:127.0.0.1');
  const certPem = readFileSync(cert);
  return { cert, key, certPem, fingerprint: new X509Certificate(certPem).fingerprint256 };
}

/**
 * A directory laid out as the kubelet mounts a Secret: tls.crt and tls.key
 * are symlinks into ..data, itself a symlink to a versioned directory that
 * is replaced in one rename.
 */
class SecretDir {
  readonly path: string;
  private version = 0;
  constructor(name: string) {
    this.path = join(dir, name);
    mkdirSync(this.path);
    symlinkSync('..data/tls.crt', join(this.path, 'tls.crt'));
    symlinkSync('..data/tls.key', join(this.path, 'tls.key'));
  }
  get cert(): string {
    return join(this.path, 'tls.crt');
  }
  get key(): string {
    return join(this.path, 'tls.key');
  }
  /** Atomically point the files at new content. */
  swap(cert: Buffer | string, key: Buffer | string): void {
    const version = `..v${++this.version}`;
    mkdirSync(join(this.path, version));
    writeFileSync(join(this.path, version, 'tls.crt'), cert);
    writeFileSync(join(this.path, version, 'tls.key'), key);
    symlinkSync(version, join(this.path, '..data_tmp'));
    renameSync(join(this.path, '..data_tmp'), join(this.path, '..data'));
  }
}

/** The fingerprint of the certificate a new TLS connection to `listen` is served. */
function servedFingerprint(listen: string): Promise<string> {
  const [host, port] = splitHostPort(listen);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.end();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i), Number(listen.slice(i + 1))];
}

function openWss(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function ask(ws: WebSocket, message: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data: Buffer) => resolve(data.toString()));
    ws.send(message);
  });
}

function closeWith(ws: WebSocket, code: number): Promise<number> {
  return new Promise((resolve) => {
    ws.once('close', (c) => resolve(c));
    ws.close(code);
  });
}

/** Bytes that are not a TLS ClientHello, on a plain TCP connection, until the agent hangs up. */
function plainGarbage(listen: string): Promise<void> {
  const [host, port] = splitHostPort(listen);
  return new Promise((resolve) => {
    const socket = netConnect({ host, port }, () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => resolve());
  });
}

/** A TLS client that does not trust the agent's (self-signed) certificate and aborts the handshake. */
function distrustingClient(listen: string): Promise<string> {
  const [host, port] = splitHostPort(listen);
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port });
    socket.once('secureConnect', () => resolve('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** A TCP connection that sends nothing and closes, as a port probe does. */
function silentProbe(listen: string): Promise<void> {
  const [host, port] = splitHostPort(listen);
  return new Promise((resolve) => {
    const socket = netConnect({ host, port }, () => socket.end());
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

async function tlsFailures(agent: AgentProcess): Promise<number> {
  return sumOf(parseExposition(await (await scrape(agent)).text()), 'websocket_upgrade_failures_total', { reason: 'tls_handshake' });
}

let pairA: Pair;
let pairB: Pair;
let pairC: Pair;

beforeAll(() => {
  pairA = makePair('a');
  pairB = makePair('b');
  pairC = makePair('c');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('wss:// in front of an upstream', () => {
  let upstream: WsUpstream;
  let agent: AgentProcess;
  let secret: SecretDir;

  beforeAll(async () => {
    upstream = await startWsUpstream();
    secret = new SecretDir('proxy-secret');
    secret.swap(pairA.certPem, readFileSync(pairA.key));
    agent = await startAgentProcess([
      '--upstream',
      upstream.url,
      '--tls-cert',
      secret.cert,
      '--tls-key',
      secret.key,
      '--tls-check-interval',
      '100ms',
      '--log-level',
      'debug',
    ]);
  });

  afterAll(async () => {
    await agent?.stop();
    await upstream?.close();
  });

  it('carries a verified wss:// client to the upstream and records its close code', async () => {
    const ws = await openWss(`wss://${agent.listen}/chat`, { ca: pairA.certPem });
    expect(await ask(ws, 'hello over tls')).toBe('hello over tls');
    expect(await closeWith(ws, 4000)).toBe(4000);
    await waitFor(() => upstream.closeCodes.includes(4000), 'the upstream sees 4000');
    await waitFor(
      async () => closesByLabels(parseExposition(await (await scrape(agent)).text()))['4000 APPLICATION application client'] === 1,
      'the close recorded',
    );
    expect(upstream.paths).toContain('/chat');
    const loaded = agent.logs().find((l) => l.msg === 'tls certificate loaded');
    expect(loaded?.fingerprint256).toBe(pairA.fingerprint);
    expect(agent.logs().find((l) => l.msg === 'listening')?.tls).toBe(true);
  });

  it('counts failed TLS handshakes as tls_handshake, not silent probes, and keeps serving', async () => {
    const before = await tlsFailures(agent);
    await plainGarbage(agent.listen);
    expect(await distrustingClient(agent.listen)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    await waitFor(async () => (await tlsFailures(agent)) === before + 2, 'two tls_handshake failures');

    const probesBefore = agent.logs().filter((l) => l.msg === 'tls connection sent nothing; not counted').length;
    await silentProbe(agent.listen);
    await waitFor(() => agent.logs().filter((l) => l.msg === 'tls connection sent nothing; not counted').length === probesBefore + 1, 'the probe seen');
    expect(await tlsFailures(agent)).toBe(before + 2);

    const ws = await openWss(`wss://${agent.listen}/`, { ca: pairA.certPem });
    expect(await ask(ws, 'still here')).toBe('still here');
    await closeWith(ws, 1000);
    const text = await (await scrape(agent)).text();
    expect(promtoolCheckMetrics(text)).toBe('');
    // A failed handshake is not a connection: opened = closed + active still holds.
    const samples = parseExposition(text);
    await waitFor(async () => {
      const s = parseExposition(await (await scrape(agent)).text());
      return sumOf(s, 'websocket_connections_opened_total') === sumOf(s, 'websocket_connections_closed_total') + sumOf(s, 'websocket_connections_active');
    }, 'opened = closed + active');
    expect(sumOf(samples, 'websocket_upgrade_failures_total', { reason: 'tls_handshake' })).toBe(before + 2);
  });

  it('serves a rotated pair to new connections, keeps open ones, and keeps the old pair when the new one is bad', async () => {
    expect(await servedFingerprint(agent.listen)).toBe(pairA.fingerprint);
    const open = await openWss(`wss://${agent.listen}/`, { ca: pairA.certPem });

    secret.swap(pairB.certPem, readFileSync(pairB.key));
    await waitFor(async () => (await servedFingerprint(agent.listen)) === pairB.fingerprint, 'the new certificate served', 10_000);
    expect(await ask(open, 'opened before the rotation')).toBe('opened before the rotation');
    const after = await openWss(`wss://${agent.listen}/`, { ca: pairB.certPem });
    expect(await ask(after, 'after')).toBe('after');
    await closeWith(after, 1000);
    await closeWith(open, 1000);
    expect(agent.logs().find((l) => l.msg === 'tls certificate reloaded')?.fingerprint256).toBe(pairB.fingerprint);

    // C's certificate with B's key: not a pair.
    const failures = (): number => agent.logs().filter((l) => l.msg === 'tls certificate reload failed; keeping the one in use').length;
    secret.swap(pairC.certPem, readFileSync(pairB.key));
    await waitFor(() => failures() === 1, 'the mismatched pair refused', 10_000);
    const refusal = agent.logs().find((l) => l.msg === 'tls certificate reload failed; keeping the one in use');
    expect(JSON.stringify(refusal)).toContain('does not belong to the certificate');
    expect(await servedFingerprint(agent.listen)).toBe(pairB.fingerprint);

    // Not PEM at all.
    secret.swap('not a certificate\n', readFileSync(pairB.key));
    await waitFor(() => failures() === 2, 'the garbage certificate refused', 10_000);
    expect(JSON.stringify(agent.logs().filter((l) => l.msg === 'tls certificate reload failed; keeping the one in use')[1])).toContain('no PEM certificate');
    expect(await servedFingerprint(agent.listen)).toBe(pairB.fingerprint);
    // Logged once per bad pair, not at every check.
    const reloads = agent.logs().filter((l) => l.msg === 'tls certificate reloaded').length;

    // A good pair again: taken.
    secret.swap(pairC.certPem, readFileSync(pairC.key));
    await waitFor(async () => (await servedFingerprint(agent.listen)) === pairC.fingerprint, 'the third certificate served', 10_000);
    expect(failures()).toBe(2);
    expect(agent.logs().filter((l) => l.msg === 'tls certificate reloaded').length).toBe(reloads + 1);
    const ws = await openWss(`wss://${agent.listen}/`, { ca: pairC.certPem });
    await closeWith(ws, 1000);
  });
});

describe('wss:// with --workers 2 and the echo endpoint', () => {
  let agent: AgentProcess;
  let secret: SecretDir;

  beforeAll(async () => {
    secret = new SecretDir('workers-secret');
    secret.swap(pairA.certPem, readFileSync(pairA.key));
    agent = await startAgentProcess(['--workers', '2', '--tls-cert', secret.cert, '--tls-key', secret.key, '--tls-check-interval', '100ms'], {}, 30_000);
  });

  afterAll(async () => {
    await agent?.stop();
  });

  /** pid of the worker that served a new wss:// connection -> the fingerprint it served. */
  async function sample(): Promise<[string, string]> {
    const ws = await openWss(`wss://${agent.listen}/`, { rejectUnauthorized: false });
    const fingerprint = (ws as unknown as { _socket: import('node:tls').TLSSocket })._socket.getPeerX509Certificate()?.fingerprint256 ?? '';
    const pid = await ask(ws, '!pid');
    await closeWith(ws, 1000);
    return [pid, fingerprint];
  }

  it('every worker serves wss://, counts failed handshakes into the sum, and takes a rotated pair', async () => {
    const served = new Map<string, string>();
    await waitFor(
      async () => {
        const [pid, fingerprint] = await sample();
        served.set(pid, fingerprint);
        return served.size === 2;
      },
      'both workers serve wss://',
      20_000,
    );
    expect([...served.values()]).toEqual([pairA.fingerprint, pairA.fingerprint]);

    await plainGarbage(agent.listen);
    await plainGarbage(agent.listen);
    await waitFor(async () => (await tlsFailures(agent)) === 2, 'the primary sums both tls_handshake failures', 10_000);

    secret.swap(pairB.certPem, readFileSync(pairB.key));
    await waitFor(
      async () => {
        const [pid, fingerprint] = await sample();
        served.set(pid, fingerprint);
        return served.size === 2 && [...served.values()].every((f) => f === pairB.fingerprint);
      },
      'both workers serve the new certificate',
      20_000,
    );
  });

  it('drains wss:// connections with 1001 on SIGTERM and exits 0', async () => {
    const ws = await openWss(`wss://${agent.listen}/`, { ca: pairB.certPem });
    expect(await ask(ws, 'before the drain')).toBe('before the drain');
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    expect(await agent.stop(30_000)).toBe(0);
    expect(await code).toBe(1001);
    const stopped = agent.logs().find((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ drained: 1, terminated: 0 });
  });
});

describe('TLS configuration', () => {
  it('wants both files or neither', () => {
    expect(configError(['--tls-cert', join(dir, 'a.crt')]).message).toBe(
      '--tls-cert: needs --tls-key as well (give both the certificate and its private key, or neither)',
    );
    expect(configError(['--tls-key', join(dir, 'a.key')]).message).toBe(
      '--tls-key: needs --tls-cert as well (give both the certificate and its private key, or neither)',
    );
    expect(configError([], { WS_CLOSE_AGENT_TLS_KEY: join(dir, 'a.key') }).message).toBe(
      'WS_CLOSE_AGENT_TLS_KEY: needs --tls-cert as well (give both the certificate and its private key, or neither)',
    );
  });

  it('names the file that is missing, not PEM, or not the key of the certificate', () => {
    const missing = join(dir, 'missing.crt');
    expect(configError(['--tls-cert', missing, '--tls-key', pairA.key]).message).toMatch(new RegExp(`^--tls-cert: ${missing}: cannot read it \\(ENOENT`));
    expect(configError(['--tls-cert', pairA.cert, '--tls-key', join(dir, 'missing.key')]).message).toContain('--tls-key');
    const notPem = join(dir, 'not-pem.txt');
    writeFileSync(notPem, 'hello\n');
    expect(configError(['--tls-cert', notPem, '--tls-key', pairA.key]).message).toBe(
      `--tls-cert: ${notPem}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`,
    );
    expect(configError(['--tls-cert', pairA.cert, '--tls-key', notPem]).message).toMatch(new RegExp(`^--tls-key: ${notPem}: not a valid PEM private key`));
    expect(configError(['--tls-cert', pairA.cert, '--tls-key', pairB.key]).message).toBe(
      `--tls-key: ${pairB.key}: this private key does not belong to the certificate in --tls-cert: ${pairA.cert}`,
    );
    expect(configError(['--tls-cert', pairA.cert, '--tls-key', pairA.key, '--tls-check-interval', 'soon']).message).toContain('--tls-check-interval');
  });

  it('parses a good pair with its reload interval', () => {
    const parsed = parseConfig(['--tls-cert', pairA.cert, '--tls-key', pairA.key, '--tls-check-interval', '2s']);
    expect(parsed.kind === 'run' && parsed.config.tls).toEqual({
      certFile: pairA.cert,
      keyFile: pairA.key,
      certSource: '--tls-cert',
      keySource: '--tls-key',
      checkIntervalMs: 2000,
    });
    const plain = parseConfig([]);
    expect(plain.kind === 'run' && plain.config.tls).toBeUndefined();
  });

  it('the command exits 2 naming the missing file', () => {
    const missing = join(dir, 'nowhere.key');
    const r = runAgentCommand(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--tls-cert', pairA.cert, '--tls-key', missing]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--tls-key: ${missing}: cannot read it`);
  });
});
