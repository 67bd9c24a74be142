/**
 * The dashboards are typed by Grafana's own SDK: scripts/dashboards checks
 * every builder's output (`satisfies`) against @grafana/grafana-foundation-sdk's
 * types, and this test type-checks the generators (tsconfig.scripts.json) with
 * the real compiler. The SDK is pinned to the Grafana version the dashboards
 * target: 10.4, whose dashboards have schemaVersion 39.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../scripts/dashboards/grafana.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

/** Grafana version -> the dashboard schemaVersion it writes. */
const SCHEMA_OF_GRAFANA: Readonly<Record<string, number>> = { '10.4': 39 };

describe('dashboards typed by @grafana/grafana-foundation-sdk', () => {
  it('pins the SDK exactly, to the Grafana version whose schemaVersion the dashboards have', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { devDependencies: Record<string, string> };
    const pinned = pkg.devDependencies['@grafana/grafana-foundation-sdk'] as string;
    const match = /^(\d+\.\d+)\.\d+-cog/.exec(pinned);
    expect(match, `an exact Grafana-versioned SDK release, not ${pinned}`).not.toBeNull();
    expect(SCHEMA_OF_GRAFANA[match?.[1] as string]).toBe(SCHEMA_VERSION);
    const installed = JSON.parse(readFileSync(`${ROOT}/node_modules/@grafana/grafana-foundation-sdk/package.json`, 'utf8')) as { version: string };
    expect(installed.version.replace(/^v/, '')).toBe(pinned);
  });

  it('the generators type-check against the SDK types (tsc -p tsconfig.scripts.json)', async () => {
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, [TSC, '-p', 'tsconfig.scripts.json'], { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, output: `${stdout}${stderr}` });
      });
    });
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  }, 150_000);
});
