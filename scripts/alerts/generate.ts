/**
 * `npm run generate`: regenerates every committed asset from the typed
 * generators: the rule files and the Sloth spec (scripts/alerts), the
 * dashboards (scripts/dashboards), the measured scenario table of
 * dashboards/README.md (runs promtool), and the Helm chart's copies
 * (scripts/helm/sync-assets.mjs). The tests only check that the committed
 * files are what this writes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syncAssets } from '../helm/sync-assets.mjs';
import { buildDashboards, renderDashboard } from '../dashboards/dashboards.js';
import { renderRuleFile, renderSlothSpec, RULE_FILES, SLOTH_SPEC_FILE, type RulePack } from './rule-files.js';
import { measuredTable, runScenarios, withTable } from './scenario-run.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function write(path: string, text: string): void {
  const full = join(ROOT, path);
  mkdirSync(dirname(full), { recursive: true });
  let old: string | undefined;
  try {
    old = readFileSync(full, 'utf8');
  } catch {
    old = undefined;
  }
  if (old === text) return;
  writeFileSync(full, text);
  console.log(`wrote ${path}`);
}

for (const pack of Object.keys(RULE_FILES) as RulePack[]) write(RULE_FILES[pack], renderRuleFile(pack));
write(SLOTH_SPEC_FILE, renderSlothSpec());
for (const [file, dashboard] of buildDashboards()) write(`dashboards/${file}`, renderDashboard(dashboard));

const dir = mkdtempSync(join(tmpdir(), 'ws-close-generate-'));
try {
  const outcomes = await runScenarios(ROOT, dir);
  const failing = [...outcomes].filter(([, o]) => !o.verdict.ok || o.failedRequirements.length > 0).map(([name]) => name);
  const readme = 'dashboards/README.md';
  write(readme, withTable(readFileSync(join(ROOT, readme), 'utf8'), measuredTable(outcomes)));
  if (failing.length > 0) console.error(`scenarios that do not hold their table row: ${failing.join(', ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const path of syncAssets(ROOT)) console.log(`synced ${path}`);
