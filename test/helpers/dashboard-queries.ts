/** The dashboards' queries as the tests run them: every panel (rows' panels too), Grafana's variables put in. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Dashboard, Panel } from '../../scripts/dashboards/grafana.js';

const DASHBOARD_FILES = ['ws-close-overview.json', 'ws-close-drilldown.json', 'ws-close-explain.json'] as const;

/** The committed dashboards/ files by file name, as a user imports and loads them. */
export function committedDashboards(): ReadonlyMap<string, Dashboard> {
  return new Map(
    DASHBOARD_FILES.map((file) => [file, JSON.parse(readFileSync(fileURLToPath(new URL(`../../dashboards/${file}`, import.meta.url)), 'utf8')) as Dashboard]),
  );
}

/** Every panel, with the panels of collapsed rows. */
export function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Puts in $name, ${name} and ${name:format} as Grafana would; an unknown variable is an error, not an empty string. */
export function substitute(expr: string, variables: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const value = variables[(braced ?? bare) as string];
    if (value === undefined) throw new Error(`unknown variable ${whole} in ${expr}`);
    return value;
  });
}

/**
 * What Grafana would put in for each variable in the e2e runs: the codes and codenames
 * their traffic closes with, and windows short enough for a few seconds of scrapes.
 */
export function e2eVariables(cluster: string, job: string): Readonly<Record<string, string>> {
  return {
    datasource: 'prometheus',
    cluster,
    job,
    instance: '.+',
    code: '1000|1006|4001',
    codename: 'CLOSE_NORMAL|CLOSE_ABNORMAL|APPLICATION',
    __rate_interval: '20s',
    __interval: '2s',
    __range: '5m',
  };
}

export interface PanelQuery {
  /** file / panel title / refId */
  readonly name: string;
  readonly expr: string;
}

/** Every panel target of the dashboards, as written (variables not put in). */
export function panelQueries(dashboards: Iterable<readonly [string, Dashboard]>): PanelQuery[] {
  return [...dashboards].flatMap(([file, dashboard]) =>
    allPanels(dashboard.panels).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ name: `${file} / ${panel.title} / ${target.refId}`, expr: target.expr })),
    ),
  );
}
