/**
 * The container image, built from the repository's Dockerfile with podman and
 * run: non-root, /healthz and /metrics on the published ports, WebSocket
 * closes through the container's port counted exactly in its /metrics, the
 * image's own HEALTHCHECK, a read-only root filesystem (no tmpfs either,
 * capabilities dropped, as the Helm chart runs it), and `podman stop`
 * (SIGTERM) draining open WebSockets with 1001 and exiting 0 within the drain
 * timeout.
 *
 * No container registry is reachable here, so the Dockerfile's FROM image is
 * a local stand-in built by test/helpers/containers.ts (Debian minbase of the
 * same suite via mmdebstrap, this machine's node and npm, a `node` user with
 * uid 1000) and the build runs with --pull=never. Everything after FROM is
 * the Dockerfile as shipped, including its `npm ci` and `apt-get install`.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ROOT,
  buildImage,
  containerState,
  dockerfileBase,
  nodeForBase,
  ensureStandInBase,
  fullImageName,
  imageConfig,
  imageSize,
  podman,
  podmanAsync,
  publishedAddress,
  untag,
} from './helpers/containers.js';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf } from './helpers/exposition.js';
import { encodeFrame, firstCloseCode, rawConnect } from './helpers/raw-client.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
const BASE = dockerfileBase(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const TAG = `localhost/ws-close-agent:e2e-${process.pid}`;
const WS_PORT = 8080;
const METRICS_PORT = 9095;
const started: string[] = [];

interface Running {
  name: string;
  ws: string;
  metrics: string;
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  } catch {
    return { status: 0, type: '', body: '' };
  }
}

/**
 * Runs the image the way the Helm chart does (read-only root, no tmpfs, no
 * capabilities, no privilege escalation), both ports published on loopback
 * only; returns the container's name.
 */
function launch(env: Record<string, string> = {}, args: string[] = []): string {
  const name = `ws-close-agent-e2e-${process.pid}-${started.length}`;
  started.push(name);
  podman([
    'run',
    '--detach',
    '--name',
    name,
    '--read-only',
    '--read-only-tmpfs=false',
    '--cap-drop=ALL',
    '--security-opt=no-new-privileges',
    '--publish',
    `127.0.0.1::${WS_PORT}`,
    '--publish',
    `127.0.0.1::${METRICS_PORT}`,
    ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    TAG,
    ...args,
  ]);
  return name;
}

/** launch(), then waits for /healthz on the published metrics port. */
async function start(env: Record<string, string> = {}, args: string[] = []): Promise<Running> {
  const name = launch(env, args);
  const ws = publishedAddress(name, WS_PORT);
  const metrics = publishedAddress(name, METRICS_PORT);
  const running = { name, ws: `${ws.host}:${ws.port}`, metrics: `http://${metrics.host}:${metrics.port}` };
  await waitFor(async () => (await get(`${running.metrics}/healthz`)).status === 200, `${name} /healthz`, 90_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${podman(['logs', name], { allowFailure: true }).stdout}`);
  });
  return running;
}

async function metrics(c: Running) {
  const res = await get(`${c.metrics}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(res.body);
}

/** One echo round trip, then a close with `code` from the client; resolves once closed. */
function echoAndClose(c: Running, code: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${c.ws}/`);
    ws.on('open', () => ws.send('through the container'));
    ws.on('message', (data) => {
      if (textOf(data) !== 'through the container') reject(new Error(`echo was ${textOf(data)}`));
      ws.close(code);
    });
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
}

/** waitFor() for checks that each start a podman process: a calmer interval. */
async function poll(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The host /proc status of a process: its uids and effective capabilities. */
function procStatus(pid: number): { uids: number[]; capEff: string; name: string; argv0: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    name: /^Name:\s+(\S+)/m.exec(status)![1]!,
    // Not Name: Node 24 renames its main thread (comm) to "MainThread".
    argv0: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!,
    uids: /^Uid:\s+(.*)$/m.exec(status)![1]!.trim().split(/\s+/).map(Number),
    capEff: /^CapEff:\s+(\S+)/m.exec(status)![1]!,
  };
}

beforeAll(async () => {
  const standIn = await ensureStandInBase(BASE);
  const built = await buildImage(TAG);
  const total = imageSize(TAG);
  const base = imageSize(standIn.image);
  console.log(
    `image: stand-in base ${standIn.built ? `built in ${standIn.seconds.toFixed(0)} s (mmdebstrap ${standIn.mmdebstrapSeconds!.toFixed(0)} s, import ${standIn.importSeconds!.toFixed(0)} s)` : 'reused'}; ` +
      `podman build ${built.seconds.toFixed(0)} s; ${TAG} ${(total / 1e6).toFixed(1)} MB ` +
      `(stand-in base ${(base / 1e6).toFixed(1)} MB + ${((total - base) / 1e6).toFixed(1)} MB of the Dockerfile's layers)`,
  );
}, 20 * 60_000);

afterAll(async () => {
  for (const name of started) await podmanAsync(['rm', '--force', '--time', '0', name], { timeoutMs: 60_000, allowFailure: true });
  untag(TAG);
}, 120_000);

// Each test starts containers with podman; on a busy two-core machine that alone takes seconds.
const TIMEOUT = { timeout: 180_000 };

describe('the image built from the Dockerfile', TIMEOUT, () => {
  it('sits on the stand-in base, carries its OCI labels, and adds little to the base', () => {
    const config = imageConfig(TAG);
    expect(config.Labels['ws-close-agent.stand-in'], 'built on the local stand-in for the FROM image').toMatch(/^[0-9a-f]{16}$/);
    expect(config.Labels['org.opencontainers.image.version']).toBe(PKG.version);
    expect(config.Labels['org.opencontainers.image.base.name']).toBe(fullImageName(BASE));
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '--', 'node', `/app/${PKG.bin['ws-close-agent']}`]);
    expect(Object.keys(config.ExposedPorts).sort()).toEqual([`${METRICS_PORT}/tcp`, `${WS_PORT}/tcp`].sort());
    expect(config.Env).toContain('NODE_ENV=production');
    // The Dockerfile's own layers: tini, the production node_modules, dist/.
    const added = imageSize(TAG) - imageSize(fullImageName(BASE));
    expect(added).toBeGreaterThan(0);
    expect(added, `${added} bytes added to the base`).toBeLessThan(40e6);
    // No dev dependency, source or test in the shipped image.
    const app = podman(['run', '--rm', '--entrypoint', 'ls', TAG, '-A', '/app']).stdout.split('\n').filter(Boolean);
    expect(app.sort()).toEqual(['dist', 'node_modules', 'package.json']);
    // Exactly the agent's runtime tree: the library's two peers and prom-client's own dependencies (image/package-lock.json).
    const modules = podman(['run', '--rm', '--entrypoint', 'ls', TAG, '-A', '/app/node_modules']).stdout.split('\n').filter(Boolean);
    expect(modules.filter((m) => m !== '.package-lock.json').sort()).toEqual(['@opentelemetry', 'bintrees', 'prom-client', 'tdigest', 'ws']);
  });

  it('finds the stand-in node by the tag version, or says which versions are here and how to add one', () => {
    expect(nodeForBase(`node:${process.versions.node}-bookworm-slim`)).toBe(realpathSync(process.execPath));
    expect(() => nodeForBase('node:1.2.3-bookworm-slim')).toThrow(
      /ships node v1\.2\.3, and no such node is here: .*\(v\d+.*npm ci --prefix bench\/node-versions/,
    );
  });

  it('runs the agent as uid 1000 (node) with no effective capabilities, under tini as PID 1', async () => {
    expect(imageConfig(TAG).User).toBe('node');
    const c = await start();
    const pid = containerState(c.name).Pid;
    const init = procStatus(pid);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(children).toHaveLength(1);
    const agent = procStatus(children[0]!);
    expect(init.name).toBe('tini');
    expect(agent.argv0).toBe('node');
    for (const p of [init, agent]) {
      expect(p.uids, `${p.name} real/effective/saved/fs uid`).toEqual([1000, 1000, 1000, 1000]);
      expect(p.capEff, `${p.name} CapEff`).toMatch(/^0+$/);
    }
    expect(podman(['exec', c.name, 'id', '-un']).stdout.trim()).toBe('node');
    // The Node the Dockerfile pins, not this machine's: the stand-in carries the FROM tag's version.
    const pinned = /:(\d+\.\d+\.\d+)-/.exec(BASE)?.[1];
    expect(pinned, 'the Dockerfile pins an exact node version').toBeDefined();
    expect(podman(['exec', c.name, 'node', '--version']).stdout.trim()).toBe(`v${pinned}`);
  });

  it('serves /healthz, /readyz and a /metrics exposition promtool accepts on the published metrics port', async () => {
    const c = await start();
    expect((await get(`${c.metrics}/healthz`)).status).toBe(200);
    expect((await get(`${c.metrics}/readyz`)).status).toBe(200);
    const res = await get(`${c.metrics}/metrics`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    promtoolCheckMetrics(res.body);
    const samples = parseExposition(res.body);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(0);
    expect(sumOf(samples, 'process_max_fds'), 'the ulimit the container runs with').toBe(1024);
  });

  it('counts WebSocket closes made through the container port exactly, by code and initiator', async () => {
    const c = await start();
    await echoAndClose(c, 4001);
    await echoAndClose(c, 1000);
    await echoAndClose(c, 1000);
    const expected = { '1000 CLOSE_NORMAL standard client': 2, '4001 APPLICATION application client': 1 };
    let seen: Record<string, number> = {};
    await waitFor(
      async () => {
        seen = closesByLabels(await metrics(c));
        return Object.values(seen).reduce((a, b) => a + b, 0) >= 3;
      },
      'three closes in /metrics',
      60_000,
    );
    expect(seen).toEqual(expected);
    const samples = await metrics(c);
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(3);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
  });

  it('has a HEALTHCHECK that passes against the agent, follows a moved metrics port, and fails without the agent', async () => {
    const healthcheck = imageConfig(TAG).Healthcheck!;
    expect(healthcheck.Test.slice(0, 2)).toEqual(['CMD', 'node']);
    expect(healthcheck.Test.join(' ')).toContain('/healthz');
    expect(healthcheck.Interval).toBe(30e9);
    expect(healthcheck.Timeout).toBe(3e9);

    const c = await start();
    expect(podman(['healthcheck', 'run', c.name], { allowFailure: true }).status).toBe(0);
    expect((JSON.parse(podman(['inspect', '--format', '{{json .State.Health}}', c.name]).stdout) as { Status: string }).Status).toBe('healthy');

    // The healthcheck reads the metrics port from the same variable the agent does.
    const moved = launch({ WS_CLOSE_AGENT_METRICS_LISTEN: '0.0.0.0:9100' });
    await poll(() => podman(['logs', moved]).stdout.includes('"metricsListen":"0.0.0.0:9100"'), 'the agent on 9100', 90_000);
    expect(podman(['healthcheck', 'run', moved], { allowFailure: true }).status).toBe(0);

    // The same container image with no agent running: unhealthy.
    const idle = `ws-close-agent-e2e-${process.pid}-${started.length}`;
    started.push(idle);
    podman(['run', '--detach', '--name', idle, '--entrypoint', 'sleep', TAG, '300']);
    const failed = podman(['healthcheck', 'run', idle], { allowFailure: true });
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('unhealthy');
  });

  it('works with a read-only root filesystem: nothing is writable, the agent still serves', async () => {
    const c = await start();
    expect(podman(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', c.name]).stdout.trim()).toBe('true');
    for (const dir of ['/app', '/tmp', '/home/node']) {
      const write = podman(['exec', c.name, 'sh', '-c', `echo x > ${dir}/probe`], { allowFailure: true });
      expect(write.status, dir).not.toBe(0);
      expect(write.stderr, dir).toContain('Read-only file system');
    }
    await echoAndClose(c, 1000);
    await waitFor(async () => sumOf(await metrics(c), 'websocket_connections_closed_total') === 1, 'the close recorded', 60_000);
    expect(podman(['logs', c.name]).stderr + podman(['logs', c.name]).stdout).not.toMatch(/EROFS|read-only/i);
  });
});

describe('podman stop (SIGTERM)', TIMEOUT, () => {
  it('sends 1001 to an open WebSocket, and the container exits 0 well within the drain timeout', async () => {
    const drainSeconds = 20;
    const c = await start({ WS_CLOSE_AGENT_DRAIN_TIMEOUT: `${drainSeconds}s` });
    const ws = new WebSocket(`ws://${c.ws}/`);
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    const t0 = Date.now();
    // podman's own limit (then SIGKILL, exit 137) is well above the drain timeout.
    await podmanAsync(['stop', '--time', String(drainSeconds + 30), c.name], { timeoutMs: (drainSeconds + 60) * 1000 });
    const seconds = (Date.now() - t0) / 1000;
    expect(await closed).toBe(1001);
    const state = containerState(c.name);
    expect(state.Status).toBe('exited');
    expect(state.ExitCode).toBe(0);
    expect(seconds, 'the client answered the 1001 at once, so no need to wait out the drain').toBeLessThan(drainSeconds);
    const logs = podman(['logs', c.name]).stdout;
    expect(logs).toMatch(/"msg":"signal","signal":"SIGTERM"/);
    expect(logs).toMatch(/"msg":"stopped","drained":1,"terminated":0/);
  });

  it('exits 0 after the drain timeout when a client never answers the 1001', async () => {
    const drainSeconds = 3;
    const c = await start({ WS_CLOSE_AGENT_DRAIN_TIMEOUT: `${drainSeconds}s` });
    const [host, port] = [c.ws.split(':')[0]!, Number(c.ws.split(':')[1])];
    // A raw client that completes the handshake and then ignores every frame.
    const raw = await rawConnect(port, '/', [], host);
    expect(raw.response).toMatch(/^HTTP\/1\.1 101/);
    raw.socket.write(encodeFrame(0x1, Buffer.from('hello')));
    await waitFor(() => raw.received().length > 0, 'the echo', 60_000);

    const t0 = Date.now();
    await podmanAsync(['stop', '--time', String(drainSeconds + 30), c.name], { timeoutMs: (drainSeconds + 60) * 1000 });
    const seconds = (Date.now() - t0) / 1000;
    const state = containerState(c.name);
    expect(state.ExitCode, 'drained and exited by itself, not killed').toBe(0);
    expect(seconds).toBeGreaterThanOrEqual(drainSeconds - 0.5);
    expect(seconds).toBeLessThan(drainSeconds + 25);
    // After the echo (2 header bytes + 5), the server's close frame: 1001.
    await waitFor(() => firstCloseCode(raw.received().subarray(2 + 'hello'.length)) !== undefined, 'the close frame', 60_000);
    expect(firstCloseCode(raw.received().subarray(2 + 'hello'.length))).toBe(1001);
    expect(podman(['logs', c.name]).stdout).toMatch(/"msg":"stopped","drained":0,"terminated":1/);
    raw.socket.destroy();
  });
});
