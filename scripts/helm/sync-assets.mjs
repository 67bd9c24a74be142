// Copies the Grafana dashboards (dashboards/*.json) and Prometheus rule files
// (alerts/*.rules.yml) into the chart (helm/ws-close-agent/files/). Helm's
// .Files cannot read outside the chart directory, so the chart carries copies;
// the files at the repository root stay the single source of truth, and the
// test suite fails when the copies drift (`--check`).
//
//   node scripts/helm/sync-assets.mjs           copy, and delete stale copies
//   node scripts/helm/sync-assets.mjs --check   exit 1 if the copies differ
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What is copied where; the chart's templates glob the same patterns. */
export const ASSET_SETS = [
  { source: 'dashboards', target: 'helm/ws-close-agent/files/dashboards', pattern: /\.json$/ },
  { source: 'alerts', target: 'helm/ws-close-agent/files/alerts', pattern: /\.rules\.yml$/ },
];

function listMatching(dir, pattern) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && pattern.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

/**
 * Compares the chart's copies with the sources.
 * @param {string} [root] repository root
 * @returns {{ missing: string[], differing: string[], stale: string[] }} chart-relative paths
 */
export function diffAssets(root = REPO_ROOT) {
  const result = { missing: [], differing: [], stale: [] };
  for (const set of ASSET_SETS) {
    const sources = listMatching(join(root, set.source), set.pattern);
    const copies = new Set(listMatching(join(root, set.target), set.pattern));
    for (const name of sources) {
      const copy = join(set.target, name);
      if (!copies.has(name)) result.missing.push(copy);
      else if (!readFileSync(join(root, set.source, name)).equals(readFileSync(join(root, copy)))) {
        result.differing.push(copy);
      }
      copies.delete(name);
    }
    for (const name of copies) result.stale.push(join(set.target, name));
  }
  return result;
}

/**
 * Brings the chart's copies in line with the sources.
 * @param {string} [root] repository root
 * @returns {string[]} chart-relative paths written or deleted
 */
export function syncAssets(root = REPO_ROOT) {
  const { missing, differing, stale } = diffAssets(root);
  for (const set of ASSET_SETS) {
    for (const name of listMatching(join(root, set.source), set.pattern)) {
      const copy = join(set.target, name);
      if (missing.includes(copy) || differing.includes(copy)) {
        mkdirSync(join(root, set.target), { recursive: true });
        copyFileSync(join(root, set.source, name), join(root, copy));
      }
    }
  }
  for (const copy of stale) rmSync(join(root, copy));
  return [...missing, ...differing, ...stale];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const { missing, differing, stale } = diffAssets();
    const problems = [
      ...missing.map((p) => `missing: ${p}`),
      ...differing.map((p) => `differs from its source: ${p}`),
      ...stale.map((p) => `no longer has a source: ${p}`),
    ];
    if (problems.length > 0) {
      console.error(`${problems.join('\n')}\nRun: node scripts/helm/sync-assets.mjs`);
      process.exit(1);
    }
  } else {
    for (const p of syncAssets()) console.log(`synced ${p}`);
  }
}
