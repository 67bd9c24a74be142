/**
 * Runs the alert scenarios through the real promtool against the committed
 * rule files, and renders the measured table of dashboards/README.md. Used by
 * test/alerts-scenarios.test.ts (which checks the table) and by
 * `npm run generate` (which writes it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { runPromtool, type PromtoolResult } from './promtool.js';
import { RULE_FILES, type RulePack } from './rule-files.js';
import {
  judgeScenario,
  parseProbeOutput,
  renderHeadroomRules,
  renderHeadroomTable,
  renderScenarioFile,
  renderScenarioTable,
  type AlertActivity,
  type ScenarioRuleFiles,
  type ScenarioVerdict,
} from './scenario-tests.js';
import { packsOf, SCENARIOS, type Scenario } from './scenarios.js';

export interface Outcome {
  readonly result: PromtoolResult;
  readonly failedRequirements: readonly string[];
  readonly activity: AlertActivity[];
  readonly headroom: ReadonlyMap<number, number>;
  readonly verdict: ScenarioVerdict;
}

/** Runs the jobs with at most `limit` of them at a time. */
async function runAll<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length);
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

/** Rough promtool cost: evaluations times rule files. */
const cost = (s: Scenario): number => ((s.to - s.from) / s.step) * packsOf(s).length;

/**
 * Writes each scenario's promtool file into `dir`, runs them (longest first,
 * two at a time on this many cores) and judges the results.
 */
export async function runScenarios(root: string, dir: string, scenarios: readonly Scenario[] = SCENARIOS): Promise<Map<string, Outcome>> {
  mkdirSync(dir, { recursive: true });
  const files = Object.fromEntries(
    (Object.keys(RULE_FILES) as RulePack[]).map((pack) => {
      const headroom = join(dir, `headroom-${pack}.rules.yml`);
      writeFileSync(headroom, renderHeadroomRules(pack));
      return [pack, { rules: join(root, RULE_FILES[pack]), headroom }];
    }),
  ) as ScenarioRuleFiles;
  const rendered = new Map(
    scenarios.map((scenario) => {
      const file = renderScenarioFile(scenario, files);
      const path = join(dir, `${scenario.name}.test.yml`);
      writeFileSync(path, file.text);
      return [scenario.name, { path, requirements: file.requirements }];
    }),
  );
  const ordered = [...scenarios].sort((a, b) => cost(b) - cost(a));
  const results = await runAll(
    ordered.map((scenario) => async () => ({
      scenario,
      result: await runPromtool(['test', 'rules', rendered.get(scenario.name)?.path as string], { timeoutMs: 300_000 }),
    })),
    Math.max(1, Math.min(2, availableParallelism())),
  );
  const outcomes = new Map<string, Outcome>();
  for (const { scenario, result } of results) {
    const probe = parseProbeOutput(result.output, rendered.get(scenario.name)?.requirements);
    outcomes.set(scenario.name, { result, ...probe, verdict: judgeScenario(scenario, probe.activity) });
  }
  return outcomes;
}

export const TABLE_START = '<!-- scenario-table:start -->';
export const TABLE_END = '<!-- scenario-table:end -->';

/** The tables between the markers of dashboards/README.md, as measured. */
export function measuredTable(outcomes: ReadonlyMap<string, Outcome>, scenarios: readonly Scenario[] = SCENARIOS): string {
  const rows = scenarios.map((scenario) => ({ scenario, ...(outcomes.get(scenario.name) as Outcome) }));
  return (
    `${renderScenarioTable(rows)}\n` +
    `Closest approach to each threshold where nothing may fire (maxima over the scenario, guards applied):\n\n` +
    renderHeadroomTable(rows.filter((row) => row.scenario.anomaly === undefined))
  );
}

/** The text between the markers, or undefined without them. */
export function tableIn(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + TABLE_START.length, end).trim();
}

export function withTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`no ${TABLE_START} ... ${TABLE_END} markers`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}${readme.slice(end)}`;
}
