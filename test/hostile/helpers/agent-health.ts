/**
 * What every hostile case checks afterwards: exact counter deltas from one
 * scrape, opened = closed + active, the agent's file descriptors back to
 * their baseline, its memory, and no crash in its logs.
 */
import { failuresByLabels, violationsByLabels } from '../../../harness/exposition.mjs';
import { fdCount, portOf, rssBytes } from '../../../harness/proc.mjs';
import { expect } from 'vitest';
import { scrape, startAgentProcess, type AgentProcess } from '../../helpers/agent-process.js';
import { closesDelta, metricsState, type MetricsState } from '../../helpers/upstreams.js';
import { waitFor } from '../../helpers/wait.js';

export interface Snapshot extends MetricsState {
  violations: Record<string, number>;
  failures: Record<string, number>;
}

/** One scrape: closes, violations ("side kind") and upgrade failures (by reason). */
export async function snapshot(agent: AgentProcess): Promise<Snapshot> {
  const state = await metricsState(agent);
  return { ...state, violations: violationsByLabels(state.samples), failures: failuresByLabels(state.samples) };
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

export { rssBytes, portOf };

/** The agent's descriptors, without the admin connections of the test's scrapes. */
function agentFds(agent: AgentProcess): number {
  return fdCount(agent.child.pid as number, portOf(agent.metricsListen));
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

export interface Proxied<U> {
  upstream: U;
  agent: AgentProcess;
  /** The agent's WebSocket port. */
  port: number;
  /** The agent's descriptor baseline (fdBaseline). */
  fds: number;
}

/** Start an upstream and the agent in front of it (`--upstream URL ...args`), with the agent's port and descriptor baseline. */
export async function startProxied<U extends { url: string }>(startUpstream: () => Promise<U>, args: string[] = []): Promise<Proxied<U>> {
  const upstream = await startUpstream();
  const agent = await startAgentProcess(['--upstream', upstream.url, ...args]);
  return { upstream, agent, port: portOf(agent.listen), fds: await fdBaseline(agent) };
}

/** Stop what startProxied started (either may be missing when the start failed). */
export async function stopProxied(p: { agent?: AgentProcess; upstream?: { close(): Promise<void> } }): Promise<void> {
  p.agent?.kill();
  await p.upstream?.close();
}
