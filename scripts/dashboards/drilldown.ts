/** Dashboard "WebSocket close codes — drill-down" (uid ws-close-drilldown): one code across instances and time. */
import { dashboardLink, heatmap, labelValuesVariable, row, stat, table, timeseries, type Dashboard } from './grafana.js';
import { closeCodesDashboard, DRILLDOWN_UID, OVERVIEW_URL } from './overview.js';
import { closeRate, closeShare, durationHeatmap, durationQuantile, increaseOverRange, METRICS, quantileQueries, rate, selector } from './queries.js';

const CODE = 'code=~"$code"';
const CODENAME = 'codename=~"$codename"';

export function buildDrilldown(): Dashboard {
  const m = METRICS;
  const allCloses = `(${closeRate('')} > 0)`;
  return closeCodesDashboard({
    uid: DRILLDOWN_UID,
    title: 'WebSocket close codes — drill-down',
    description:
      'One close code (or a few) across instances and over time: rate per instance and initiator, share of all closes, ' +
      'comparison with yesterday and last week, and how long those connections lived.',
    links: [dashboardLink('Overview', OVERVIEW_URL, 'All close codes')],
    variables: [
      labelValuesVariable('code', 'code', `label_values(${selector(m.closedTotal)}, code)`, { sort: 'numerical' }),
      // Durations are labelled by codename only: this follows the chosen codes.
      labelValuesVariable('codename', 'codename (of the codes)', `label_values(${selector(m.closedTotal, CODE)}, codename)`),
    ],
    panels: [
      stat('Closes / s', 'Closes per second with the selected codes.', { expr: `${closeRate('', CODE)} or vector(0)` }, { unit: 'cps', decimals: 2 }),
      stat('Share of all closes', 'The selected codes as a share of all closes.', { expr: closeShare(CODE) }, { unit: 'percentunit', decimals: 2 }),
      stat(
        'Closes in range',
        'Closes with the selected codes in the selected time range.',
        { expr: `sum(${increaseOverRange(m.closedTotal, CODE)}) or vector(0)` },
        { unit: 'short', decimals: 0 },
      ),
      stat(
        'Instances seeing it',
        'Instances that recorded at least one close with the selected codes in the time range.',
        { expr: `count(sum by (instance) (${increaseOverRange(m.closedTotal, CODE)}) > 0) or vector(0)` },
        { unit: 'short', decimals: 0 },
      ),
      stat(
        'Median duration',
        'Median lifetime of the connections that closed with the selected codenames.',
        { expr: durationQuantile(0.5, '', CODENAME) },
        { unit: 's', decimals: 1, size: { w: 8, h: 4 } },
      ),

      row('Where and who'),
      timeseries(
        'Close rate by instance',
        'Closes per second with the selected codes, per instance: one instance standing out points at that host, all together at something shared.',
        [{ expr: closeRate('instance, code, codename', CODE), legend: '{{instance}} {{code}} {{codename}}' }],
        { unit: 'cps' },
      ),
      timeseries(
        'Close rate by initiator',
        'Who sent the close frame (for 1006: whose transport ended first).',
        [{ expr: closeRate('codename, initiator', CODE), legend: '{{codename}} from {{initiator}}' }],
        { unit: 'cps', stack: true },
      ),
      timeseries(
        'Share of all closes by codename',
        'Each selected codename as a share of all closes of the selected jobs and instances.',
        [{ expr: `${closeRate('codename', CODE)}\n/ on () group_left ()\n${allCloses}`, legend: '{{codename}}' }],
        { unit: 'percentunit' },
      ),
      timeseries(
        'Now vs yesterday vs last week',
        'Closes per second with the selected codes, against the same time one day and one week ago.',
        [
          { expr: closeRate('', CODE), legend: 'now' },
          { expr: `sum (rate(${selector(m.closedTotal, CODE)}[$__rate_interval] offset 1d))`, legend: '1 day ago' },
          { expr: `sum (rate(${selector(m.closedTotal, CODE)}[$__rate_interval] offset 7d))`, legend: '7 days ago' },
        ],
        { unit: 'cps' },
      ),
      table(
        'Per instance and initiator',
        'Closes with the selected codes in the time range.',
        { expr: `sum by (instance, code, codename, initiator) (${increaseOverRange(m.closedTotal, CODE)}) > 0` },
        { columns: ['instance', 'code', 'codename', 'initiator'], valueName: 'closes', size: { w: 24, h: 8 } },
      ),

      row('Duration of these connections'),
      timeseries(
        'Connection duration (p50, p90, p99)',
        'Lifetime of the connections that closed with the selected codenames. A flat line at 60 s or 100 s is a proxy idle timeout.',
        quantileQueries([0.5, 0.9, 0.99], '{{codename}} ', (q) => durationQuantile(q, 'codename', CODENAME)),
        { unit: 's', log: true },
      ),
      heatmap('Connection duration', 'Closed connections per duration bucket, selected codenames.', { expr: durationHeatmap(CODENAME) }, {}),
      timeseries(
        'Closes per second, all instances',
        'Opened and closed connections of the selected jobs, for context.',
        [
          { expr: `sum(${rate(m.openedTotal)})`, legend: 'opened (all)' },
          { expr: closeRate(''), legend: 'closed (all)' },
          { expr: closeRate('', CODE), legend: 'closed with the selected codes' },
        ],
        { unit: 'cps', size: { w: 24, h: 8 } },
      ),
    ],
  });
}
