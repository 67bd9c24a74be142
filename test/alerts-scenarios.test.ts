/**
 * Alert quality, measured: every named scenario of scripts/alerts/scenarios.ts
 * runs through the real promtool against the committed rule file. The
 * scenario's table row must pass as a `promtool test rules` file (detected
 * within 15 minutes, nothing else fires), and the probe run measures the
 * detection delay and any firing outside the table, which must match the
 * table in dashboards/README.md.
 *
 * Set WS_SCENARIO_DIR=some/dir to keep the generated promtool files.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPromtool, type PromtoolResult } from '../scripts/alerts/promtool.js';
import {
  judgeScenario,
  parseProbeOutput,
  renderScenarioFiles,
  renderHeadroomTable,
  renderScenarioTable,
  type AlertActivity,
  type ScenarioVerdict,
} from '../scripts/alerts/scenario-tests.js';
import { DETECTION_LIMIT_MINUTES, SCENARIOS, type Scenario } from '../scripts/alerts/scenarios.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const RULE_FILE = root('alerts/ws-close-agent.rules.yml');
const README = root('dashboards/README.md');
const TABLE_START = '<!-- scenario-table:start -->';
const TABLE_END = '<!-- scenario-table:end -->';
const UPDATE = process.env.UPDATE_ASSETS === '1';

interface Outcome {
  readonly test: PromtoolResult;
  readonly probe: PromtoolResult;
  readonly activity: AlertActivity[];
  readonly headroom: ReadonlyMap<number, number>;
  readonly verdict: ScenarioVerdict;
}

const outcomes = new Map<string, Outcome>();
let dir = '';

/** Runs the jobs with at most `limit` promtool processes at a time. */
async function runAll<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await (jobs[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

const cost = (s: Scenario): number => (s.to - s.from) / s.step;

beforeAll(async () => {
  dir = process.env.WS_SCENARIO_DIR ?? mkdtempSync(join(tmpdir(), 'ws-close-scenarios-'));
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, { test: string; probe: string }>();
  for (const scenario of SCENARIOS) {
    const rendered = renderScenarioFiles(scenario, RULE_FILE);
    const paths = { test: join(dir, `${scenario.name}.test.yml`), probe: join(dir, `${scenario.name}.probe.yml`) };
    writeFileSync(paths.test, rendered.test);
    writeFileSync(paths.probe, rendered.probe);
    files.set(scenario.name, paths);
  }
  // Longest first, so that the week does not start last.
  const ordered = [...SCENARIOS].sort((a, b) => cost(b) - cost(a));
  const jobs = ordered.flatMap((scenario) =>
    (['test', 'probe'] as const).map((kind) => async () => ({
      scenario,
      kind,
      result: await runPromtool(['test', 'rules', (files.get(scenario.name) as { test: string; probe: string })[kind]], {
        timeoutMs: 90_000,
      }),
    })),
  );
  const results = await runAll(jobs, Math.max(1, Math.min(2, availableParallelism())));
  for (const scenario of SCENARIOS) {
    const test = results.find((r) => r.scenario === scenario && r.kind === 'test')?.result as PromtoolResult;
    const probe = results.find((r) => r.scenario === scenario && r.kind === 'probe')?.result as PromtoolResult;
    const { activity, headroom } = parseProbeOutput(probe.output);
    outcomes.set(scenario.name, { test, probe, activity, headroom, verdict: judgeScenario(scenario, activity) });
  }
}, 150_000);

afterAll(() => {
  if (outcomes.size === SCENARIOS.length) {
    console.log(`\n${measuredTable()}`);
  }
  if (dir !== '' && process.env.WS_SCENARIO_DIR === undefined) rmSync(dir, { recursive: true, force: true });
});

function measuredTable(): string {
  const rows = SCENARIOS.map((scenario) => ({ scenario, ...(outcomes.get(scenario.name) as Outcome) }));
  return (
    `${renderScenarioTable(rows)}\n` +
    `Closest approach to each threshold where nothing may fire (maxima of the 5-minute values, guards applied):\n\n` +
    renderHeadroomTable(rows.filter((row) => row.scenario.anomaly === undefined))
  );
}

describe.each(SCENARIOS.map((s) => ({ name: s.name, scenario: s })))('scenario $name', ({ scenario }) => {
  it('passes its table row as a promtool rule test', () => {
    const outcome = outcomes.get(scenario.name) as Outcome;
    expect(outcome.test.output, outcome.test.output).toContain('SUCCESS');
    expect(outcome.test.exitCode, outcome.test.output).toBe(0);
  });

  it(`probe run: every expected alert within ${DETECTION_LIMIT_MINUTES} minutes, no false alerts`, () => {
    const outcome = outcomes.get(scenario.name) as Outcome;
    // The probe run "fails" only because its queries expect nothing; an evaluation error is a real failure.
    expect(outcome.probe.output).not.toMatch(/\berr:/);
    expect(outcome.verdict.falseAlerts).toEqual([]);
    for (const [alert, delay] of outcome.verdict.detection) {
      expect(delay, `${alert} detection delay`).toBeDefined();
      expect(delay as number, `${alert} detection delay`).toBeGreaterThanOrEqual(0);
      expect(delay as number, `${alert} detection delay`).toBeLessThanOrEqual(DETECTION_LIMIT_MINUTES);
    }
    expect(outcome.verdict.ok).toBe(true);
  });
});

describe('dashboards/README.md', () => {
  it('shows the scenario table as measured', () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    expect(start, `${TABLE_START} marker`).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const table = measuredTable();
    const current = readme.slice(start + TABLE_START.length, end).trim();
    if (UPDATE && current !== table.trim()) {
      writeFileSync(README, `${readme.slice(0, start + TABLE_START.length)}\n${table}${readme.slice(end)}`);
      return;
    }
    expect(current, 'stale table: run UPDATE_ASSETS=1 npx vitest run test/alerts-scenarios.test.ts').toBe(table.trim());
  });
});
