/** Dashboard "WebSocket close codes — overview" (uid ws-close-overview). */
import { CLOSE_CODE_TABLE, isAllowedOnWire, rangeText } from '../../src/codes/close-codes.js';
import { closeClassOf } from '../alerts/close-classes.js';
import { ALERT_CONFIG } from '../alerts/config.js';
import {
  dashboard,
  dashboardLink,
  datasourceVariable,
  heatmap,
  labelValuesVariable,
  redAbove,
  row,
  stat,
  table,
  text,
  timeseries,
  trafficLight,
  type Dashboard,
  type DashboardFields,
  type Variable,
} from './grafana.js';
import {
  ABNORMAL_MATCHER,
  closeRate,
  closeShare,
  durationHeatmap,
  durationQuantile,
  ERROR_MATCHER,
  increaseOverRange,
  METRICS,
  quantileQueries,
  rate,
  selector,
} from './queries.js';

export const OVERVIEW_UID = 'ws-close-overview';
export const DRILLDOWN_UID = 'ws-close-drilldown';

/** Variables every dashboard has. */
function commonVariables(): Variable[] {
  return [
    datasourceVariable(),
    // Optional: empty where Prometheus sets no `cluster` label; `All` (.*) then matches every series.
    labelValuesVariable('cluster', 'cluster', `label_values(${METRICS.openedTotal}, cluster)`, { allValue: '.*' }),
    labelValuesVariable('job', 'job', `label_values(${METRICS.openedTotal}{cluster=~"$cluster"}, job)`),
    labelValuesVariable('instance', 'instance', `label_values(${METRICS.openedTotal}{cluster=~"$cluster", job=~"$job"}, instance)`),
  ];
}

/** A dashboard of this project: its tags, and the common variables before its own `variables`. */
export function closeCodesDashboard(fields: Omit<DashboardFields, 'tags' | 'variables'> & { variables?: Variable[] }): Dashboard {
  const tags = ['websocket', 'ws-close-agent', 'close-codes'];
  return dashboard({ ...fields, tags, variables: [...commonVariables(), ...(fields.variables ?? [])] });
}

// A link to another dashboard keeps the time range and the variables every dashboard has.
const KEEP_VARIABLES = '${__url_time_range}&${datasource:queryparam}&${cluster:queryparam}&${job:queryparam}&${instance:queryparam}';
export const OVERVIEW_URL = `/d/${OVERVIEW_UID}/websocket-close-codes-overview?${KEEP_VARIABLES}`;
export const DRILLDOWN_URL = `/d/${DRILLDOWN_UID}/websocket-close-codes-drill-down?${KEEP_VARIABLES}`;

/** The close-code table as markdown, with how the dashboards count each row. */
export function closeCodeReference(): string {
  const lines = [
    'How each close code is labelled and counted. **abnormal**: 1006, no close frame at all. ' +
      '**error**: a failure code, or a code that must never appear on the wire. ' +
      '3000-3999 (frameworks) and 4000-4999 (applications) are counted as normal: their meaning is yours ' +
      '(look them up on the drill-down dashboard).',
    '',
    '| code | codename | category | allowed on the wire | counted as | description |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of CLOSE_CODE_TABLE) {
    const code = r.from === r.to ? String(r.from) : rangeText(r);
    const wire = isAllowedOnWire(r.from) && isAllowedOnWire(r.to) ? 'yes' : 'no';
    lines.push(`| ${code} | \`${r.codename}\` | ${r.category} | ${wire} | ${closeClassOf(r.from)} | ${r.description} |`);
  }
  return lines.join('\n');
}

const round = (value: number): number => Math.round(value * 1e6) / 1e6;

export function buildOverview(): Dashboard {
  const m = METRICS;
  const abnormalThreshold = round(ALERT_CONFIG.abnormalShare.threshold);
  return closeCodesDashboard({
    uid: OVERVIEW_UID,
    title: 'WebSocket close codes — overview',
    description:
      'How WebSocket connections end, from ws-close-agent metrics: close codes by codename, category and initiator, ' +
      'abnormal (1006) and error shares, connection churn and duration, proxy upgrade failures and protocol violations.',
    links: [dashboardLink('Drill-down: one close code', DRILLDOWN_URL, 'One code or codename across instances and over time')],
    panels: [
      stat('Closes / s', 'Connections closing per second, all codes.', { expr: closeRate('') }, { unit: 'cps', decimals: 2 }),
      stat(
        'Abnormal share (1006)',
        `Share of closes without a close frame (1006). WebSocketAbnormalClosuresHigh fires above ${round(abnormalThreshold * 100)} %.`,
        { expr: closeShare(ABNORMAL_MATCHER) },
        { unit: 'percentunit', decimals: 1, thresholds: trafficLight(round(abnormalThreshold / 2), abnormalThreshold) },
      ),
      stat(
        'Error share',
        'Share of closes with an error code: 1002, 1003, 1007-1011, 1013, 1015, and codes that must never be on the wire (unused, reserved, extension, invalid).',
        { expr: closeShare(ERROR_MATCHER) },
        { unit: 'percentunit', decimals: 1, thresholds: trafficLight(0.01, 0.05) },
      ),
      stat('Active connections', 'Open WebSocket connections right now.', { expr: `sum(${selector(m.active)})` }, { unit: 'short', decimals: 0 }),
      stat(
        'Opened / s',
        'Connections that completed the opening handshake, per second.',
        { expr: `sum(${rate(m.openedTotal)})` },
        { unit: 'cps', decimals: 2 },
      ),
      stat(
        'Upgrade failures / s',
        'Upgrade requests that never became a connection (proxy: upstream unreachable, timeout, rejected; over capacity; bad requests).',
        { expr: `sum(${rate(m.upgradeFailuresTotal)}) or vector(0)` },
        {
          unit: 'cps',
          decimals: 2,
          thresholds: [
            { color: 'green', value: null },
            { color: 'red', value: 0.1 },
          ],
        },
      ),

      row('Closes'),
      timeseries(
        'Close rate by codename',
        'Closes per second by codename (user-registered names for 3000-4999 appear under their own name).',
        [{ expr: closeRate('codename'), legend: '{{codename}}' }],
        { unit: 'cps', stack: true },
      ),
      timeseries(
        'Close rate by category',
        'Closes per second by category of the close code: standard, framework (3000-3999), application (4000-4999), and the never-on-the-wire ranges.',
        [{ expr: closeRate('category'), legend: '{{category}}' }],
        { unit: 'cps', stack: true },
      ),
      timeseries(
        'Close rate by initiator',
        'Who sent the first close frame: client, server (or the upstream), agent (drain, idle timeout, capacity), unknown. For 1006: whose transport ended first.',
        [{ expr: closeRate('initiator'), legend: '{{initiator}}' }],
        { unit: 'cps', stack: true },
      ),
      timeseries(
        'Abnormal and error share',
        `Share of closes that were abnormal (1006) and that carried an error code. The red band starts at the ${round(abnormalThreshold * 100)} % threshold of WebSocketAbnormalClosuresHigh.`,
        [
          { expr: closeShare(ABNORMAL_MATCHER), legend: 'abnormal (1006)' },
          { expr: closeShare(ERROR_MATCHER), legend: 'error codes' },
        ],
        { unit: 'percentunit', thresholdLine: redAbove(abnormalThreshold) },
      ),

      row('Connections'),
      timeseries(
        'Opened vs closed',
        'Connections opened and closed per second. Closes above opens drain the service (deploys, outages); opens far above closes after an outage are a reconnect storm.',
        [
          { expr: `sum(${rate(m.openedTotal)})`, legend: 'opened' },
          { expr: closeRate(''), legend: 'closed' },
        ],
        { unit: 'cps' },
      ),
      timeseries('Active connections', 'Open connections per instance.', [{ expr: `sum by (instance) (${selector(m.active)})`, legend: '{{instance}}' }], {
        unit: 'short',
        stack: true,
      }),
      timeseries(
        'Connection duration by codename (median, p90)',
        'How long connections lived before they closed, by codename. Durations piling up at 60 s or 100 s point to a proxy idle timeout (see the runbook).',
        quantileQueries([0.5, 0.9], '{{codename}} ', (q) => durationQuantile(q, 'codename')),
        { unit: 's', log: true },
      ),
      heatmap('Connection duration', 'Closed connections per duration bucket (all codes), 0.1 s to 1 day.', { expr: durationHeatmap() }, {}),
      table(
        'Top close codes',
        'Closes in the selected time range by code, codename and category. Click a code to drill down.',
        { expr: `topk(20, sum by (code, codename, category) (${increaseOverRange(m.closedTotal)}))` },
        {
          columns: ['code', 'codename', 'category'],
          valueName: 'closes',
          links: { code: `${DRILLDOWN_URL}&var-code=\${__value.raw}` },
        },
      ),
      text('Close-code reference', 'The close-code table (RFC 6455 §7.4) as this project labels it.', closeCodeReference(), {}),

      row('Proxy and protocol'),
      timeseries(
        'Upgrade failures by reason',
        "Upgrade requests that did not become connections, by reason. upstream_* and over_capacity are the service side (WebSocketUpgradeFailuresHigh); bad_request, handshake_timeout, client_aborted and tls_handshake are the clients (tls_handshake rising while opened connections fall points at the listener's certificate).",
        [{ expr: `sum by (reason) (${rate(m.upgradeFailuresTotal)})`, legend: '{{reason}}' }],
        { unit: 'cps', stack: true },
      ),
      timeseries(
        'Protocol violations by kind',
        'Frames that broke RFC 6455, by the side that sent them and the rule they broke.',
        [{ expr: `sum by (side, kind) (${rate(m.protocolViolationsTotal)})`, legend: '{{side}}: {{kind}}' }],
        { unit: 'cps', stack: true },
      ),
    ],
  });
}
