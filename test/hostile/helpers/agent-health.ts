/**
 * What every hostile case checks afterwards: exact counter deltas from one
 * scrape, opened = closed + active, the agent's file descriptors back to
 * their baseline, its memory, and no crash in its logs.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { expect } from 'vitest';
import { scrape, type AgentProcess } from '../../helpers/agent-process.js';
import { closesDelta, metricsState, type MetricsState } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

export interface Snapshot extends MetricsState {
  violations: Record<string, number>;
  failures: Record<string, number>;
}

/** One scrape: closes, violations ("side kind") and upgrade failures (by reason). */
export async function snapshot(agent: AgentProcess): Promise<Snapshot> {
  const state = await metricsState(agent);
  const violations: Record<string, number> = {};
  const failures: Record<string, number> = {};
  for (const s of state.samples) {
    if (s.name === 'websocket_protocol_violations_total') violations[`${s.labels.side} ${s.labels.kind}`] = s.value;
    if (s.name === 'websocket_upgrade_failures_total') failures[s.labels.reason as string] = s.value;
  }
  return { ...state, violations, failures };
}

export interface Change {
  /** "code codename category initiator" -> count, exactly. */
  closes: Record<string, number>;
  /** "side kind" -> count, exactly (default: none). */
  violations?: Record<string, number>;
  /** reason -> count, exactly (default: none). */
  failures?: Record<string, number>;
  /** Connections opened (default: the number of closes). */
  opened?: number;
  /** Connections still open afterwards, relative to before (default 0). */
  active?: number;
}

/**
 * Wait (bounded) until the closes of `expected` are recorded and the active
 * count has settled, then assert exactly what changed since `before`.
 */
export async function expectChange(agent: AgentProcess, before: Snapshot, expected: Change, timeoutMs = 5000): Promise<Snapshot> {
  const closes = Object.values(expected.closes).reduce((a, b) => a + b, 0);
  const opened = expected.opened ?? closes;
  const active = before.active + (expected.active ?? 0);
  let after = before;
  try {
    await waitFor(
      async () => {
        after = await snapshot(agent);
        return after.closed - before.closed >= closes && after.active === active && after.opened - before.opened >= opened;
      },
      `${closes} closes and ${active} active`,
      timeoutMs,
    );
  } catch {
    // fall through to the exact comparison, which says what differs
  }
  // A moment more, so that an extra close or violation arriving late is seen.
  await new Promise((r) => setTimeout(r, 20));
  after = await snapshot(agent);
  expect({
    closes: closesDelta(before.closes, after.closes),
    violations: closesDelta(before.violations, after.violations),
    failures: closesDelta(before.failures, after.failures),
    opened: after.opened - before.opened,
    active: after.active - before.active,
  }).toEqual({
    closes: expected.closes,
    violations: expected.violations ?? {},
    failures: expected.failures ?? {},
    opened,
    active: expected.active ?? 0,
  });
  expect(after.opened).toBe(after.closed + after.active);
  return after;
}

/** Inodes of the TCP connections (not listeners) whose local port is `port`. */
function connectionInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is field 1 ("ADDR:PORT"), st field 3 (0A = LISTEN), inode field 9.
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] !== '0A') inodes.add(f[9] as string);
    }
  }
  return inodes;
}

/**
 * Open file descriptors of a process (entries of /proc/PID/fd). With
 * `ignorePort`, connections accepted on that local port are not counted: the
 * test's own /metrics scrapes (fetch keeps them alive) are not the agent's leak.
 */
export function fdCount(pid: number, ignorePort?: number): number {
  const entries = readdirSync(`/proc/${pid}/fd`);
  if (ignorePort === undefined) return entries.length;
  const ignored = connectionInodes(ignorePort);
  let n = 0;
  for (const e of entries) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${e}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && ignored.has(m[1] as string)) continue;
    n++;
  }
  return n;
}

/** The agent's descriptors, without the admin connections of the test's scrapes. */
export function agentFds(agent: AgentProcess): number {
  return fdCount(agent.child.pid as number, portOf(agent.metricsListen));
}

/** Resident set size of a process in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Wait (bounded) until the agent's descriptors are back to `baseline`; fail with the count otherwise. */
export async function expectFdsBack(agent: AgentProcess, baseline: number, timeoutMs = 5000): Promise<void> {
  try {
    await waitFor(() => agentFds(agent) <= baseline, `fds back to ${baseline}`, timeoutMs);
  } catch {
    expect(agentFds(agent), 'agent file descriptors after the case').toBeLessThanOrEqual(baseline);
  }
}

/** The agent's descriptor count once it has served a scrape (lazily opened descriptors are open by then). */
export async function fdBaseline(agent: AgentProcess): Promise<number> {
  await (await scrape(agent)).text();
  await new Promise((r) => setTimeout(r, 20));
  return agentFds(agent);
}

const CRASH = /uncaught exception|unhandled rejection/i;

/** The agent is still running, answers /healthz, and logged no crash. */
export async function expectStillServing(agent: AgentProcess): Promise<void> {
  expect(agent.child.exitCode, 'agent exit code').toBeNull();
  expect(agent.child.signalCode, 'agent signal').toBeNull();
  expect((await scrape(agent, '/healthz')).status).toBe(200);
  expectNoCrash(agent);
}

/** No 'uncaught exception' / 'unhandled rejection' log line or stderr output. */
export function expectNoCrash(agent: AgentProcess): void {
  const crashes = agent.logs().filter((l) => CRASH.test(String(l.msg)));
  expect(crashes, 'crash log lines').toEqual([]);
  expect(agent.stderr(), 'agent stderr').not.toMatch(CRASH);
}

/** The port of an agent's HOST:PORT. */
export function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}
