/**
 * Alert quality, measured: every named scenario of scripts/alerts/scenarios.ts
 * runs through the real promtool against the committed rule files, one run
 * per scenario. Its table row must hold as promtool assertions (detected
 * within its limit, nothing else fires), and the measured detection delays
 * and firings must match the table in dashboards/README.md.
 *
 * Set WS_SCENARIO_DIR=some/dir to keep the generated promtool files.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measuredTable, runScenarios, tableIn, TABLE_START, type Outcome } from '../scripts/alerts/scenario-run.js';
import { detectionLimitOf, SCENARIOS } from '../scripts/alerts/scenarios.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = join(ROOT, 'dashboards/README.md');

let outcomes = new Map<string, Outcome>();
let dir = '';

beforeAll(async () => {
  dir = process.env.WS_SCENARIO_DIR ?? mkdtempSync(join(tmpdir(), 'ws-close-scenarios-'));
  outcomes = await runScenarios(ROOT, dir);
}, 400_000);

afterAll(() => {
  if (outcomes.size === SCENARIOS.length) console.log(`\n${measuredTable(outcomes)}`);
  if (dir !== '' && process.env.WS_SCENARIO_DIR === undefined) rmSync(dir, { recursive: true, force: true });
});

describe.each(SCENARIOS.map((s) => ({ name: s.name, scenario: s })))('scenario $name', ({ scenario }) => {
  it('holds its table row as promtool assertions', () => {
    const outcome = outcomes.get(scenario.name) as Outcome;
    // An evaluation or parse error is a failure whatever the checks say.
    expect(outcome.result.output).not.toMatch(/\berr:|could not|error (in|loading|parsing)|parse error/i);
    expect(outcome.failedRequirements, outcome.failedRequirements.join('\n\n')).toEqual([]);
  });

  const limit = scenario.anomaly === undefined ? 0 : detectionLimitOf(scenario.anomaly);
  it(`measured: every expected alert within ${limit} minutes, no false alerts`, () => {
    const outcome = outcomes.get(scenario.name) as Outcome;
    expect(outcome.verdict.falseAlerts).toEqual([]);
    for (const [alert, delay] of outcome.verdict.detection) {
      expect(delay, `${alert} detection delay`).toBeDefined();
      expect(delay as number, `${alert} detection delay`).toBeGreaterThanOrEqual(0);
      expect(delay as number, `${alert} detection delay`).toBeLessThanOrEqual(limit);
    }
    expect(outcome.verdict.ok).toBe(true);
  });
});

describe('dashboards/README.md', () => {
  it('shows the scenario table as measured', () => {
    const current = tableIn(readFileSync(README, 'utf8'));
    expect(current, `${TABLE_START} marker`).toBeDefined();
    expect(current, 'stale scenario table: run `npm run generate`').toBe(measuredTable(outcomes).trim());
  });
});
