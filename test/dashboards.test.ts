/**
 * dashboards/: the committed JSON is what scripts/dashboards generates, works
 * under provisioning (a `datasource` variable, no __inputs placeholders),
 * has stable uids and unique panel ids, and queries only SPEC metric names,
 * labels and label values. (test/prometheus.e2e.test.ts runs every query.)
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildDashboards, renderDashboard } from '../scripts/dashboards/dashboards.js';
import type { Dashboard, Variable } from '../scripts/dashboards/grafana.js';
import { allPanels } from './helpers/dashboard-queries.js';
import { lintPromql, SPEC_LABELS, SPEC_SERIES } from './helpers/prometheus.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const VOCABULARY = { series: SPEC_SERIES, labels: SPEC_LABELS };
const EXPECTED_UIDS: Record<string, string> = {
  'ws-close-overview.json': 'ws-close-overview',
  'ws-close-drilldown.json': 'ws-close-drilldown',
  'ws-close-explain.json': 'ws-close-explain',
};

const committed = (file: string): { text: string; json: Dashboard } => {
  const text = readFileSync(root(`dashboards/${file}`), 'utf8');
  return { text, json: JSON.parse(text) as Dashboard };
};

function variableQuery(variable: Variable): string {
  const query = variable.query as string | { query: string };
  return typeof query === 'string' ? query : query.query;
}

describe.each(Object.keys(EXPECTED_UIDS))('dashboards/%s', (file) => {
  it('is what scripts/dashboards generates', () => {
    const generated = buildDashboards().get(file);
    expect(generated, `${file} is generated`).toBeDefined();
    const text = renderDashboard(generated as Dashboard);
    expect(committed(file).text, 'stale dashboard: run `npm run generate`').toBe(text);
  });

  it('has its stable uid, schemaVersion 39, tags and a title', () => {
    const { json } = committed(file);
    expect(json.uid).toBe(EXPECTED_UIDS[file]);
    expect(json.schemaVersion).toBe(39);
    expect(json.tags).toEqual(expect.arrayContaining(['websocket', 'ws-close-agent']));
    expect(json.title).toMatch(/^WebSocket close codes/);
    expect(json.id).toBeNull();
  });

  it('selects its data source through a prometheus `datasource` variable, with no import placeholders', () => {
    const { text, json } = committed(file);
    expect(json).not.toHaveProperty('__inputs');
    expect(json).not.toHaveProperty('__requires');
    expect(text).not.toMatch(/\$\{DS_|__inputs/);
    const datasource = json.templating.list.find((v) => v.name === 'datasource');
    expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const panel of allPanels(json.panels)) {
      if (panel.type === 'row' || panel.type === 'text') continue;
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual(panel.datasource);
    }
    for (const variable of json.templating.list.filter((v) => v.type === 'query')) {
      expect(variable.datasource, variable.name).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('filters by an optional cluster, job and instance, from label_values of websocket_connections_opened_total', () => {
    const { json } = committed(file);
    const byName = new Map(json.templating.list.map((v) => [v.name, v]));
    expect(variableQuery(byName.get('cluster') as Variable)).toBe('label_values(websocket_connections_opened_total, cluster)');
    // All = .*: also the series without a cluster label.
    expect(byName.get('cluster')?.allValue).toBe('.*');
    expect(variableQuery(byName.get('job') as Variable)).toBe('label_values(websocket_connections_opened_total{cluster=~"$cluster"}, job)');
    expect(variableQuery(byName.get('instance') as Variable)).toBe(
      'label_values(websocket_connections_opened_total{cluster=~"$cluster", job=~"$job"}, instance)',
    );
    for (const panel of allPanels(json.panels)) {
      for (const target of panel.targets ?? []) {
        for (const selector of target.expr.matchAll(/websocket_\w+\{([^}]*)\}/g)) {
          expect(selector[1], `${panel.title}: ${target.expr}`).toContain('job=~"$job", instance=~"$instance", cluster=~"$cluster"');
        }
        expect(target.expr, `${panel.title}: every metric is filtered`).not.toMatch(/websocket_\w+(?![\w{])/);
      }
    }
  });

  it('has unique panel ids and a layout inside 24 columns without overlaps', () => {
    const { json } = committed(file);
    const panels = allPanels(json.panels);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x += 1) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y += 1) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('queries only SPEC metric names, labels and label values', () => {
    const { json } = committed(file);
    for (const panel of allPanels(json.panels)) {
      for (const target of panel.targets ?? []) {
        expect(lintPromql(target.expr, VOCABULARY), `${panel.title}: ${target.expr}`).toEqual([]);
      }
    }
    for (const variable of json.templating.list.filter((v) => v.type === 'query')) {
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(variableQuery(variable));
      expect(match, variable.name).not.toBeNull();
      expect(lintPromql(match?.[1] as string, VOCABULARY), variable.name).toEqual([]);
      expect(SPEC_LABELS.has(match?.[2] as string), variable.name).toBe(true);
    }
  });

  it('gives every data panel a unit and a description, and names codes by codename in legends', () => {
    const { json } = committed(file);
    for (const panel of allPanels(json.panels)) {
      if (panel.type === 'row') continue;
      expect(panel.description, panel.title).toMatch(/\S/);
      if (panel.type === 'text' || panel.type === 'heatmap') continue;
      expect(panel.fieldConfig?.defaults.unit, panel.title).toMatch(/\S/);
      for (const target of panel.targets ?? []) {
        if (panel.type === 'timeseries') expect(target.legendFormat, panel.title).not.toBe('__auto');
        if (target.legendFormat.includes('{{code}}')) expect(target.legendFormat, panel.title).toContain('{{codename}}');
      }
    }
  });
});

describe('dashboards', () => {
  it('overview has the panels the issue lists; drill-down has a code variable', () => {
    const overview = buildDashboards().get('ws-close-overview.json') as Dashboard;
    const titles = allPanels(overview.panels).map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Close rate by codename',
        'Close rate by category',
        'Close rate by initiator',
        'Abnormal and error share',
        'Opened vs closed',
        'Active connections',
        'Connection duration by codename (median, p90)',
        'Top close codes',
        'Close-code reference',
        'Upgrade failures by reason',
        'Protocol violations by kind',
      ]),
    );
    const reference = allPanels(overview.panels).find((p) => p.title === 'Close-code reference');
    expect(reference?.options?.content).toContain('| 1006 | `CLOSE_ABNORMAL` | standard | no | abnormal |');
    const drilldown = buildDashboards().get('ws-close-drilldown.json') as Dashboard;
    expect(drilldown.templating.list.map((v) => v.name)).toEqual(['datasource', 'cluster', 'job', 'instance', 'code', 'codename']);
  });

  it('why-connections-end has the panels of abnormal causes, handshakes, reconnects, lifetimes and client reports', () => {
    const explain = buildDashboards().get('ws-close-explain.json') as Dashboard;
    const panels = allPanels(explain.panels);
    const exprOf = (title: string): string => {
      const panel = panels.find((p) => p.title === title);
      expect(panel, title).toBeDefined();
      return (panel?.targets ?? []).map((t) => t.expr).join('\n');
    };
    expect(exprOf('Abnormal closes by side and cause')).toContain('sum by (side, cause) (rate(websocket_abnormal_closures_total{');
    expect(exprOf('Close handshake duration (p50, p99)')).toContain('websocket_close_handshake_duration_seconds_bucket{');
    expect(exprOf('Unanswered close handshakes')).toContain('websocket_close_handshakes_unanswered_total{');
    expect(exprOf('Reconnects by previous codename')).toContain('sum by (previous_codename) (rate(websocket_reconnects_total{');
    expect(exprOf('Reconnect delay (p50, p90, p99)')).toContain('websocket_reconnect_delay_seconds_bucket{');
    expect(exprOf('Share of closes by connection lifetime')).toContain('websocket_connection_duration_seconds_bucket{');
    // Lost close frames: the server sent a code, the client saw 1006.
    expect(exprOf('Close frames lost in between')).toContain('client_codename="CLOSE_ABNORMAL", server_codename!="CLOSE_ABNORMAL"');
    expect(exprOf('Server vs client close')).toContain('sum by (server_codename, client_codename) (increase(websocket_close_mismatches_total{');
    expect(exprOf('Rejected client reports by reason')).toContain('sum by (reason) (rate(websocket_client_reports_rejected_total{');
    const matrix = panels.find((p) => p.title === 'Server vs client close');
    expect(matrix?.transformations).toEqual([
      { id: 'groupingToMatrix', options: { rowField: 'server_codename', columnField: 'client_codename', valueField: 'Value' } },
    ]);
  });

  it('has every panel the runbook points to', () => {
    const runbook = readFileSync(root('alerts/runbook.md'), 'utf8');
    const titles = new Set([...buildDashboards().values()].flatMap((d) => allPanels(d.panels).map((p) => p.title)));
    const referenced = [...runbook.matchAll(/\*\*Dashboards\.\*\*([\s\S]*?)(?=\n\n)/g)].flatMap((m) =>
      [...(m[1] as string).matchAll(/(?<!\*)\*([^*]+)\*(?!\*)/g)].map((r) => (r[1] as string).replace(/\s+/g, ' ')),
    );
    expect(referenced.length).toBeGreaterThan(5);
    for (const title of referenced) expect(titles, `runbook panel "${title}"`).toContain(title);
  });

  it('the vocabulary check rejects what it should', () => {
    expect(lintPromql('rate(websocket_connections_closed_totl{job="a"}[5m])', VOCABULARY)).toEqual(['unknown series "websocket_connections_closed_totl"']);
    expect(lintPromql('sum by (reason_text) (websocket_upgrade_failures_total)', VOCABULARY)).toEqual(['unknown label "reason_text"']);
    expect(lintPromql('websocket_connections_closed_total{initiator="proxy", code=~"1006|1020|4000-4999"}', VOCABULARY)).toEqual([
      'label initiator has no value "proxy"',
      'label code has no value "1020"',
    ]);
    expect(lintPromql('sum(rate(websocket_connections_closed_total{code=~"$code"}[$__rate_interval])) or vector(0)', VOCABULARY)).toEqual([]);
  });
});
