/**
 * Bun and Deno, for real: examples/bun.mjs under the `bun` binary and
 * examples/deno.mjs under the `deno` binary (both from their npm packages),
 * driven by `ws` clients through a close with a code, an empty close, a TCP
 * drop, server closes and (Bun) terminate(), then their /metrics scraped
 * and checked with promtool.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ROOT, cleanEnv } from './helpers/agent-process.js';
import { expectScrapedCloses } from './helpers/scraped-closes.js';
import { waitFor } from './helpers/wait.js';
import { textOf } from './helpers/text.js';

const BIN = join(ROOT, 'node_modules', '.bin');
const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

const scratch = mkdtempSync(join(tmpdir(), 'ws-close-agent-runtimes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Start a runtime on an example; resolves with its URLs once it logs "listening". */
async function start(command: string, args: string[], env: Record<string, string> = {}): Promise<{ ws: string; metrics: string }> {
  const child = spawn(command, args, { cwd: ROOT, env: cleanEnv({ PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  let listening: { ws: string; metrics: string } | undefined;
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}):\n${out}\n${err}`);
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line !== undefined) listening = JSON.parse(line) as typeof listening;
      return listening !== undefined;
    },
    `${command} to listen`,
    20_000,
  );
  return listening!;
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const closed = (ws: WebSocket): Promise<number> => new Promise((r) => ws.once('close', (code) => r(code)));

/** The scenarios both runtimes share, in order; returns the closes they must produce. */
async function commonScenarios(url: string, emptyServerClose: number): Promise<Record<string, number>> {
  const a = await open(url);
  const echoed = new Promise<string>((r) => a.once('message', (d) => r(textOf(d))));
  a.send('hello');
  expect(await echoed).toBe('hello');
  a.close(4001);
  expect(await closed(a)).toBe(4001);
  const b = await open(url);
  b.close();
  expect(await closed(b)).toBe(1005);
  const c = await open(url);
  c.terminate(); // the client's TCP connection drops without a close frame
  await closed(c);
  const d = await open(url);
  d.send('logout');
  expect(await closed(d)).toBe(4001);
  const e = await open(url);
  e.send('bye');
  expect(await closed(e)).toBe(emptyServerClose);
  return {
    '4001 AUTH_EXPIRED application client': 1,
    '1005 CLOSED_NO_STATUS standard client': 1,
    '1006 CLOSE_ABNORMAL standard client': 1,
    '4001 AUTH_EXPIRED application server': 1,
  };
}

async function expectScrape(metricsUrl: string, expected: Record<string, number>): Promise<void> {
  await expectScrapedCloses(metricsUrl, expected, (res) => expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/));
  // OpenMetrics on request, as from the Node hook.
  const om = await fetch(metricsUrl, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' }, signal: AbortSignal.timeout(5000) });
  expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
  expect(await om.text()).toMatch(/# EOF\n$/);
}

describe('Bun.serve({ websocket: bunWebSocket(handler) })', () => {
  it('records every close with its code and initiator; /metrics from fetch()', async () => {
    const { ws, metrics } = await start(join(BIN, 'bun'), ['--no-install', example('bun.mjs')], { BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' });
    const expected = await commonScenarios(ws, 1000);
    const f = await open(ws);
    f.send('kill');
    expect(await closed(f)).toBe(1006);
    await expectScrape(metrics, { ...expected, '1000 CLOSE_NORMAL standard server': 1, '1006 CLOSE_ABNORMAL standard server': 1 });
  });
});

describe('Deno.upgradeWebSocket + trackWebSockets()', () => {
  it('records every close with its code and initiator; /metrics from Deno.serve()', async () => {
    // The example imports ws-close-agent as an app would; this map points it at the build (prom-client comes from node_modules).
    const importMap = join(scratch, 'import-map.json');
    writeFileSync(importMap, JSON.stringify({ imports: { 'ws-close-agent': pathToFileURL(join(ROOT, 'dist/esm/index.js')).href } }));
    const { ws, metrics } = await start(
      join(BIN, 'deno'),
      ['run', `--import-map=${importMap}`, '--no-remote', '--allow-net=127.0.0.1', '--allow-read', '--allow-env', example('deno.mjs')],
      { DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(scratch, 'deno-dir') },
    );
    const expected = await commonScenarios(ws, 1005);
    await expectScrape(metrics, { ...expected, '1005 CLOSED_NO_STATUS standard server': 1 });
  });
});
