/**
 * The fast loop, proven in CI: `npm run test:unit` (scripts/test-unit.mjs, only node on
 * PATH) passes, and every text-format exposition its tests accepted with the JS
 * checker (harness/exposition-check.mjs) is then accepted by the real promtool too.
 * The unit tests write each accepted exposition to EXPOSITION_CAPTURE_DIR
 * (test/helpers/exposition.ts), so both checkers judge the very same texts.
 *
 * OpenMetrics texts are captured but only counted: promtool's `check metrics` reads
 * the text format alone (it would look for the HELP of `x_total` where OpenMetrics
 * puts it on `x`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/agent-process.js';
import { CAPTURE_ENV, promtoolCheckMetrics } from './helpers/exposition.js';

const capture = mkdtempSync(join(tmpdir(), 'ws-close-agent-capture-'));
afterAll(() => rmSync(capture, { recursive: true, force: true }));

function runUnitProject(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'test-unit.mjs'), '--reporter=dot'], {
      cwd: ROOT,
      env: { ...process.env, [CAPTURE_ENV]: capture, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the unit project with only node on PATH, and promtool on what it accepted', () => {
  it('passes, and promtool accepts every text exposition the JS checker accepted there', async () => {
    const { code, output } = await runUnitProject();
    expect(code, output.slice(-4000)).toBe(0);
    expect(output).toMatch(/Tests\s+\d+ passed/);

    const files = readdirSync(capture);
    const texts = files.filter((f) => f.endsWith('.txt'));
    const openMetrics = files.filter((f) => f.endsWith('.om'));
    console.log(`captured ${texts.length} text and ${openMetrics.length} OpenMetrics expositions from the unit run`);
    // The recorder, hook, export and property tests each check many distinct texts.
    expect(texts.length).toBeGreaterThanOrEqual(40);
    expect(openMetrics.length).toBeGreaterThanOrEqual(5);
    const rejected: string[] = [];
    for (const file of texts) {
      const text = readFileSync(join(capture, file), 'utf8');
      try {
        promtoolCheckMetrics(text);
      } catch (error) {
        rejected.push(`${file}: ${(error as Error).message}\n${text.slice(0, 600)}`);
      }
    }
    expect(rejected).toEqual([]);
  }, 180_000);
});
