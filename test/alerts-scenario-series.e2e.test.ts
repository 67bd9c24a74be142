/**
 * The promtool series notation the scenario generator writes means to promtool what it
 * means to us: run through the real promtool (the rest of the notation's tests are in
 * alerts-scenario-series.test.ts and need nothing but Node).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { runPromtool } from '../scripts/alerts/promtool.js';
import { encodeValues } from '../scripts/alerts/scenario-series.js';

describe('encodeValues', () => {
  it('means to promtool what it means to us (a value after three missing samples is at minute 4)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-close-notation-'));
    try {
      const file = join(dir, 'notation.test.yml');
      writeFileSync(
        file,
        YAML.stringify({
          rule_files: [],
          evaluation_interval: '1m',
          tests: [
            {
              interval: '1m',
              input_series: [{ series: 'x{a="1"}', values: encodeValues([1, '_', '_', '_', 2, 3, 4, 5]) }],
              promql_expr_test: [
                { expr: 'timestamp(x)', eval_time: '4m', exp_samples: [{ labels: '{a="1"}', value: 240 }] },
                { expr: 'x', eval_time: '7m', exp_samples: [{ labels: 'x{a="1"}', value: 5 }] },
              ],
            },
          ],
        }),
      );
      const result = await runPromtool(['test', 'rules', file]);
      expect(result.exitCode, result.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
