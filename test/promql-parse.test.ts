/**
 * Every PromQL expression the project ships, parsed by Prometheus' own
 * grammar (@prometheus-io/lezer-promql, the parser of Prometheus' web UI):
 * every panel query and template variable of every dashboard, every
 * recording and alerting rule of both rule packs (as committed, and with
 * the windows scaled down as test/alertmanager.e2e.test.ts loads them), and
 * the scenario suite's headroom signals. A parse error anywhere fails.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ALERT_CONFIG, type AlertConfig } from '../scripts/alerts/config.js';
import { buildPack, RULE_FILES, type RulePack } from '../scripts/alerts/rule-files.js';
import { HEADROOM_SIGNALS } from '../scripts/alerts/scenario-tests.js';
import { buildDashboards } from '../scripts/dashboards/dashboards.js';
import type { Variable } from '../scripts/dashboards/grafana.js';
import { panelQueries, substitute as substituteVariables } from './helpers/dashboard-queries.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));

/** What Grafana puts in for its variables before the query reaches Prometheus. */
const GRAFANA_VARIABLES: Readonly<Record<string, string>> = {
  datasource: 'prometheus',
  job: '.+',
  instance: '.+',
  cluster: '.+',
  code: '1000|1006',
  codename: 'CLOSE_NORMAL|CLOSE_ABNORMAL',
  __rate_interval: '1m',
  __interval: '15s',
  __range: '6h',
};

/** The parse errors of `expr`: each error node's position and the text around it. */
const substitute = (expr: string): string => substituteVariables(expr, GRAFANA_VARIABLES);

/** The parse errors of `expr`: each error node's position and the text around it. */
function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  const tree = parser.parse(expr);
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.to + 20))}`);
    },
  });
  // The top node must be a whole PromQL expression.
  if (tree.topNode.name !== 'PromQL') errors.push(`top node ${tree.topNode.name}`);
  return errors;
}

function variableQuery(variable: Variable): string {
  const query = variable.query as string | { query: string };
  return typeof query === 'string' ? query : query.query;
}

interface Expression {
  readonly name: string;
  readonly expr: string;
}

const DASHBOARD_EXPRESSIONS: readonly Expression[] = [...buildDashboards()].flatMap(([file, dashboard]) => [
  ...panelQueries([[file, dashboard]]).map((q) => ({ ...q, expr: substitute(q.expr) })),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      // label_values(selector, label) is Grafana's, not PromQL: its selector is.
      const match = /^label_values\((.+),\s*\w+\)$/.exec(variableQuery(v));
      return { name: `${file} / $${v.name}`, expr: substitute(match?.[1] ?? variableQuery(v)) };
    }),
]);

const SCALED: AlertConfig = {
  ...ALERT_CONFIG,
  rateWindow: '10s',
  abnormalShare: { ...ALERT_CONFIG.abnormalShare, minClosesInWindow: 10, for: '2s' },
  targets: { ...ALERT_CONFIG.targets, downFor: '2s' },
};

function ruleExpressions(label: string, pack: RulePack, config: AlertConfig): Expression[] {
  return buildPack(pack, config).flatMap((group) =>
    group.rules.map((rule) => ({ name: `${label} / ${'record' in rule ? rule.record : rule.alert}`, expr: rule.expr })),
  );
}

const COMMITTED_RULES: readonly Expression[] = (Object.keys(RULE_FILES) as RulePack[]).flatMap((pack) =>
  (YAML.parse(readFileSync(root(RULE_FILES[pack]), 'utf8')) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] }).groups.flatMap(
    (group) => group.rules.map((rule) => ({ name: `${RULE_FILES[pack]} / ${rule.record ?? rule.alert}`, expr: rule.expr })),
  ),
);

const RULE_EXPRESSIONS: readonly Expression[] = [
  ...COMMITTED_RULES,
  ...(Object.keys(RULE_FILES) as RulePack[]).flatMap((pack) => ruleExpressions(`${pack} (scaled)`, pack, SCALED)),
  ...HEADROOM_SIGNALS.map((signal) => ({ name: `headroom / ${signal.name}`, expr: signal.expr })),
];

describe('every dashboard expression parses as PromQL', () => {
  it('finds the expressions', () => {
    expect(DASHBOARD_EXPRESSIONS.length).toBeGreaterThan(50);
  });
  it.each(DASHBOARD_EXPRESSIONS)('$name', ({ expr }) => {
    expect(promqlErrors(expr), expr).toEqual([]);
  });
});

describe('every rule expression parses as PromQL', () => {
  it('finds the expressions', () => {
    expect(COMMITTED_RULES.length).toBeGreaterThan(30);
  });
  it.each(RULE_EXPRESSIONS)('$name', ({ expr }) => {
    expect(promqlErrors(expr), expr).toEqual([]);
  });
});

describe('the parser check', () => {
  it('rejects what Prometheus rejects', () => {
    for (const bad of [
      'sum by (job (rate(websocket_connections_closed_total[5m]))',
      'rate(websocket_connections_closed_total[5m]',
      'websocket_connections_closed_total{code="1006"',
      'rate(websocket_connections_closed_total[$__rate_interval])',
      'a / / b',
    ]) {
      expect(promqlErrors(bad), bad).not.toEqual([]);
    }
    expect(promqlErrors('sum by (job) (rate(websocket_connections_closed_total{code="1006"}[5m])) / on (job) group_left () x > 0.1')).toEqual([]);
  });
});
