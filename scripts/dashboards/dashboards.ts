/** The committed dashboard files and their contents; `npm run generate` writes them. */
import { buildDrilldown } from './drilldown.js';
import { buildExplain } from './explain.js';
import type { Dashboard } from './grafana.js';
import { buildOverview } from './overview.js';

/** File name under dashboards/ → dashboard (names are fixed: the Helm chart copies them). */
export function buildDashboards(): ReadonlyMap<string, Dashboard> {
  return new Map([
    ['ws-close-overview.json', buildOverview()],
    ['ws-close-drilldown.json', buildDrilldown()],
    ['ws-close-explain.json', buildExplain()],
  ]);
}

export function renderDashboard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
