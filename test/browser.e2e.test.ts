/**
 * A real browser through the agent: headless Chromium loads a page (served by
 * the upstream, forwarded by the agent as plain HTTP) whose script closes one
 * WebSocket with 4321 and then navigates away from a second open one, which
 * makes the browser send 1001 Going Away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { expectNewCloses, metricsState } from './helpers/upstreams.js';
import { CHROMIUM_FLAGS } from './helpers/chromium.js';

const PAGE = `<!doctype html>
<title>ws-close-agent browser test</title>
<script>
  const url = 'ws://' + location.host + '/ws';
  const first = new WebSocket(url);
  first.onopen = () => first.close(4321, 'done with this one');
  first.onclose = () => {
    const second = new WebSocket(url);
    // Navigating away while it is open makes the browser close it with 1001.
    second.onopen = () => setTimeout(() => { location.href = '/done'; }, 50);
  };
</script>`;

describe('headless Chromium through the agent', () => {
  let upstream: Server;
  let wss: WebSocketServer;
  let agent: AgentProcess;
  let browser: ChildProcess | undefined;
  let profile: string;
  const upstreamCodes: number[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(req.url === '/done' ? '<!doctype html><title>done</title>done' : PAGE);
    });
    wss = new WebSocketServer({ server: upstream });
    wss.on('connection', (ws) => ws.on('close', (code) => upstreamCodes.push(code)));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    agent = await startAgentProcess(['--upstream', `ws://127.0.0.1:${(upstream.address() as AddressInfo).port}`]);
    profile = mkdtempSync(join(tmpdir(), 'ws-close-agent-chromium-'));
  });

  afterAll(async () => {
    if (browser?.pid !== undefined && browser.exitCode === null) {
      const exited = new Promise((r) => browser!.once('exit', r));
      process.kill(-browser.pid, 'SIGKILL');
      await exited;
    }
    agent?.kill();
    wss?.close();
    upstream?.closeAllConnections();
    upstream?.close();
    if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('records the page close (4321) and the navigation away (1001), both initiated by the client', async () => {
    const before = await metricsState(agent);
    browser = spawn(
      '/usr/bin/chromium',
      [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, `http://${agent.listen}/`],
      // Its own process group, so the renderer and zygote children die with it.
      { stdio: 'ignore', detached: true },
    );
    await expectNewCloses(
      agent,
      before,
      {
        '4321 APPLICATION application client': 1,
        '1001 CLOSE_GOING_AWAY standard client': 1,
      },
      20_000,
    );
    expect(upstreamCodes).toEqual([4321, 1001]);
  });
});
