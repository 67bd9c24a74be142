/**
 * The short soak in CI: the same driver as `npm run soak` (soak/run.mjs),
 * with --quick numbers (500 connections held through the real agent while
 * 5,000 are churned with mixed close codes), run as a child process. Its
 * JSON summary must show exact counts, /metrics answering every scrape with
 * its p99 under the latency limit, the agent's descriptors back to their baseline, and no error.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/agent-process.js';
import { SOAK_CHECKS, checkOf, failedChecks, soakCheckProblems, type SoakCheck, type SoakCheckId } from './soak-summary.js';

interface SoakResult {
  ok: boolean;
  error?: string;
  seconds: number;
  options: { connections: number; churn: number; seconds: number; scrapeLimitMs: number };
  checks: SoakCheck[];
  checkpoints: { label: string; closesExact: boolean }[];
  figures: {
    hold: { opened: number };
    churn: { completed: number; opened: number; ratePerSecond: number };
    closes: { opened: number; closed: number; active: number; model: number };
    scrape: { count: number; maxMs: number; p99Ms: number; limitMs: number; failures: string[] };
    fds: { before: number; held: number; after: number };
  };
}

const DEADLINE_S = 150; // the driver's own --seconds; it fails (and exits) past it. Alone it needs ≈20 s; in the full suite, sharing 2 cores with the other e2e files, it has churned as slowly as 150/s

function runSoak(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['soak/run.mjs', '--quick', '--seconds', String(DEADLINE_S), '--out', out], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    // The driver kills its children and exits 30 s past its deadline at the latest.
    const timer = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error(`soak/run.mjs --quick still running after ${DEADLINE_S + 40} s\n${output}`));
      },
      (DEADLINE_S + 40) * 1000,
    );
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('soak (quick): connections held and churned through the real agent', () => {
  let dir: string;
  let result: SoakResult;
  let output: string;
  let code: number | null;

  beforeAll(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ws-close-agent-soak-'));
      const out = join(dir, 'soak.json');
      ({ code, output } = await runSoak(out));
      result = JSON.parse(readFileSync(out, 'utf8')) as SoakResult;
    },
    (DEADLINE_S + 45) * 1000,
  );
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Each check must be in the summary (exactly once) and have passed. */
  const expectPassed = (...ids: SoakCheckId[]): void => {
    for (const id of ids) {
      const c = checkOf(result.checks, id);
      expect(c.ok, `${c.name}: ${JSON.stringify(c.detail)}`).toBe(true);
    }
  };

  it('recorded every check of the driver, exactly once and in order', () => {
    expect(
      result.checks.map((c) => c.id),
      output,
    ).toEqual([...SOAK_CHECKS]);
    expect(soakCheckProblems(result.checks)).toEqual([]);
  });

  it('ran to the end within its deadline', () => {
    expect(result.error, output).toBeUndefined();
    expect(result.seconds).toBeLessThan(DEADLINE_S);
    expect(result.figures.hold.opened).toBe(result.options.connections);
    expect(result.figures.churn.completed).toBe(result.options.churn);
  });

  it('every close counted once: exact per series at every checkpoint and at the end, opened = closed, nothing active', () => {
    expectPassed('closes-exact', 'checkpoints-exact', 'totals', 'scrape-consistent', 'no-failures');
    const { closes } = result.figures;
    expect(closes.opened).toBe(result.options.connections + result.options.churn);
    expect(closes.closed).toBe(closes.opened);
    expect(closes.active).toBe(0);
    expect(closes.model).toBe(closes.opened);
    expect(result.checkpoints.length).toBeGreaterThan(1);
    expect(result.checkpoints.every((c) => c.closesExact)).toBe(true);
  });

  it('/metrics answered every scrape (its latency is reported, and enforced by the full soak only)', () => {
    const { scrape } = result.figures;
    expect(scrape.count).toBeGreaterThan(10);
    expect(scrape.failures).toEqual([]);
    expectPassed('scrape-answered');
    expect(result.checks.find((c) => c.id === 'scrape-latency')?.enforced).toBe(false);
  });

  it('the agent descriptors are back to their baseline; none leaked during the churn', () => {
    const { fds } = result.figures;
    expect(fds.held).toBeGreaterThanOrEqual(fds.before + 2 * result.options.connections);
    expect(fds.after).toBeLessThanOrEqual(fds.before);
    expectPassed('fds-back', 'churn-no-fd-leak', 'upstream-closed');
  });

  it('no error: clients saw the close codes they expected, the agent logged no error and exited 0 on SIGTERM', () => {
    expectPassed('hold-opened', 'churn-complete', 'hold-echo', 'held-echo-after-churn', 'release', 'agent-exit', 'agent-log-clean');
  });

  it('every enforced check of the driver passed (heap flat included), and it exited 0', () => {
    expect(failedChecks(result.checks), output).toEqual([]);
    expect(result.ok).toBe(true);
    expect(code).toBe(0);
  });
});
