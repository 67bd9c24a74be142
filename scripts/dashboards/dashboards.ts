/**
 * The committed dashboard files and their contents. Regenerate with
 *   UPDATE_ASSETS=1 npx vitest run test/dashboards.test.ts
 */
import { buildDrilldown } from './drilldown.js';
import type { Dashboard } from './grafana.js';
import { buildOverview } from './overview.js';

/** File name under dashboards/ → dashboard (names are fixed: the Helm chart copies them). */
export function buildDashboards(): ReadonlyMap<string, Dashboard> {
  return new Map([
    ['ws-close-overview.json', buildOverview()],
    ['ws-close-drilldown.json', buildDrilldown()],
  ]);
}

export function renderDashboard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
