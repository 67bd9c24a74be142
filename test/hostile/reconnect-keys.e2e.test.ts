/**
 * Hostile client keys: a million distinct keys through the agent's reconnect
 * tracking (in one process, against the table, with the heap plus the
 * ArrayBuffer stores of its typed arrays measured after a forced GC at each
 * quarter, from before the table exists) and a few hundred through the real agent with
 * a small --reconnect-max-keys. Memory stays bounded by the max-keys setting,
 * /metrics stays valid, and no key text reaches a label or a log line.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { cleanEnv, ROOT, startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { promtoolCheckMetrics, sumOf } from '../helpers/exposition.js';
import { metricsState } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait.js';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/million-keys.mjs', import.meta.url));

interface MillionResult {
  n: number;
  maxKeys: number;
  size: number;
  waiting: number;
  quarters: { keys: number; size: number; heapBytes: number }[];
  nsPerKey: number;
}

describe('a million distinct client keys', () => {
  it('leave the table at --reconnect-max-keys and the heap flat (in one process, against the table)', () => {
    const run = spawnSync(process.execPath, ['--expose-gc', FIXTURE, '1000000', '100000'], {
      cwd: ROOT,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 150_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(run.status, run.stderr).toBe(0);
    const [first, ...rest] = run.stdout.split('\n');
    const result = JSON.parse(first as string) as MillionResult;
    const text = rest.join('\n');
    console.log(`million keys: ${JSON.stringify(result)}`);
    expect(result.n).toBe(1_000_000);
    for (const q of result.quarters) expect(q.size).toBeLessThanOrEqual(100_000);
    expect(result.waiting).toBeLessThanOrEqual(4096);
    const heaps = result.quarters.map((q) => q.heapBytes);
    // The typed arrays are allocated at creation and the ring is full at the
    // first quarter already: the next 750,000 keys add nothing but noise.
    expect(Math.max(...heaps)).toBeLessThan(Math.max(heaps[0] as number, 1) * 1.25 + 1024 * 1024);
    // About 100 bytes a key at most (README, "Reconnects").
    expect(Math.max(...heaps)).toBeLessThan(100_000 * 160);
    promtoolCheckMetrics(text);
    expect(text).not.toContain('secret-client');
    // The last key is still remembered (a reconnect), the first was forgotten long ago.
    expect(text).toMatch(/^websocket_reconnects_total\{previous_codename="CLOSE_NORMAL"\} 1$/m);
  }, 180_000);
});

describe('distinct client keys through the real agent', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  const MAX_KEYS = 50;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    agent = await startAgentProcess([
      '--upstream',
      upstream.url,
      '--client-key',
      'header:X-Id',
      '--reconnect-max-keys',
      String(MAX_KEYS),
      '--log-level',
      'debug',
    ]);
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  const connectAndClose = async (key: string): Promise<void> => {
    const ws = new WebSocket(`ws://${agent.listen}/k`, { headers: { 'X-Id': key } });
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    ws.close(1000);
    await closed;
  };

  it('400 keys (8 at a time) with --reconnect-max-keys 50: valid /metrics, only the recent keys remembered, no key text anywhere', async () => {
    const before = await metricsState(agent);
    const N = 400;
    const keyOf = (i: number): string => `hostile-${i}-${'\u00e9'.repeat(i % 7)}"\\{}=`;
    for (let i = 0; i < N; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => connectAndClose(keyOf(i + j))));
    await waitFor(async () => (await metricsState(agent)).closed - before.closed >= N, `${N} closes`, 20_000);
    let s = await metricsState(agent);
    promtoolCheckMetrics(s.text);
    expect(sumOf(s.samples, 'websocket_reconnects_total') - sumOf(before.samples, 'websocket_reconnects_total')).toBe(0);
    // A recent key reconnects; the first one was forgotten (the table holds 50).
    await connectAndClose(keyOf(N - 1));
    await connectAndClose(keyOf(0));
    await waitFor(async () => (await metricsState(agent)).closed - before.closed >= N + 2, 'two more closes', 20_000);
    s = await metricsState(agent);
    expect(sumOf(s.samples, 'websocket_reconnects_total') - sumOf(before.samples, 'websocket_reconnects_total')).toBe(1);
    expect(s.opened).toBe(s.closed + s.active);
    const everything = s.text + agent.lines.join('\n') + agent.stderr();
    expect(everything).not.toContain('hostile-');
  }, 60_000);
});
