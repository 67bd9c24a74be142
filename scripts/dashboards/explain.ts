/**
 * Dashboard "WebSocket close codes — why connections end" (uid ws-close-explain):
 * what the counters of codes cannot answer. Abnormal closes (1006) by side
 * and cause, the close handshake, reconnects, connection lifetimes (idle
 * timeouts), and what browsers reported (ws-close-agent/browser).
 */
import { ALERT_CONFIG } from '../alerts/config.js';
import { dashboardLink, heatmap, redAbove, row, stat, table, timeseries, trafficLight, type Dashboard } from './grafana.js';
import { closeCodesDashboard, DRILLDOWN_URL, OVERVIEW_URL } from './overview.js';
import {
  bucketIncrease,
  closeRate,
  durationHeatmap,
  histogramQuantile,
  increaseOverRange,
  METRICS,
  quantileQueries,
  selector,
  share,
  sumRate,
} from './queries.js';

export const EXPLAIN_UID = 'ws-close-explain';

const LOST = ['client_codename="CLOSE_ABNORMAL"', 'server_codename!="CLOSE_ABNORMAL"'];

export function buildExplain(): Dashboard {
  const m = METRICS;
  const lostShare = share(sumRate(m.closeMismatchesTotal, '', ...LOST), sumRate(m.clientClosesTotal, ''));
  return closeCodesDashboard({
    uid: EXPLAIN_UID,
    title: 'WebSocket close codes — why connections end',
    description:
      'Why connections end the way they do: abnormal closes (1006) by the side that ended first and by cause, the close handshake, ' +
      'reconnect storms, connection lifetimes piling up at a proxy idle timeout, and what the browsers saw next to what the server recorded.',
    links: [
      dashboardLink('Overview', OVERVIEW_URL, 'All close codes'),
      dashboardLink('Drill-down', `${DRILLDOWN_URL}&var-code=1006`, '1006 across instances and time'),
    ],
    panels: [
      row('Abnormal closes (1006) by side and cause'),
      timeseries(
        'Abnormal closes by side and cause',
        'Closes without a close frame per second, by whose transport ended first (client, server, agent) and how: ' +
          'fin (TCP closed cleanly), reset (ECONNRESET/EPIPE), terminated (the server called terminate()), timeout, error.',
        [{ expr: sumRate(m.abnormalClosuresTotal, 'side, cause'), legend: '{{side}} {{cause}}' }],
        { unit: 'cps', stack: true, size: { w: 16, h: 8 } },
      ),
      stat(
        'Abnormal closes ended by the server side',
        'Share of the abnormal closes whose server side (the upstream, the hooked server or the agent) ended first: those are ours to fix.',
        { expr: share(sumRate(m.abnormalClosuresTotal, '', 'side=~"server|agent"'), sumRate(m.abnormalClosuresTotal, '')) },
        { unit: 'percentunit', decimals: 1, size: { w: 8, h: 4 }, thresholds: trafficLight(0.25, 0.5) },
      ),
      stat(
        'Abnormal closes in range',
        'Closes without a close frame in the selected time range.',
        { expr: `sum(${increaseOverRange(m.abnormalClosuresTotal)}) or vector(0)` },
        { unit: 'short', decimals: 0, size: { w: 8, h: 4 } },
      ),
      table(
        'Abnormal closes by side and cause in range',
        'Closes without a close frame in the selected time range, per instance, side and cause.',
        { expr: `sum by (instance, side, cause) (${increaseOverRange(m.abnormalClosuresTotal)}) > 0` },
        { columns: ['instance', 'side', 'cause'], valueName: 'closes', size: { w: 24, h: 8 } },
      ),

      row('Close handshake'),
      timeseries(
        'Close handshake duration (p50, p99)',
        'From the first close frame to the end of both transports, by who sent the first close frame. ' +
          'A p99 near a timeout means the other side does not answer close frames.',
        quantileQueries([0.5, 0.99], '{{initiator}} ', (q) => histogramQuantile(q, m.closeHandshakeDurationSeconds, 'initiator')),
        { unit: 's', log: true },
      ),
      timeseries(
        'Unanswered close handshakes',
        'Close handshakes per second whose first close frame got no close frame back before the transport ended, by initiator.',
        [{ expr: sumRate(m.closeHandshakesUnansweredTotal, 'initiator'), legend: 'first close from {{initiator}}' }],
        { unit: 'cps' },
      ),
      stat(
        'Unanswered share of close handshakes',
        'Share of the close handshakes that the other side never answered.',
        { expr: share(sumRate(m.closeHandshakesUnansweredTotal, ''), sumRate(`${m.closeHandshakeDurationSeconds}_count`, '')) },
        { unit: 'percentunit', decimals: 1, size: { w: 24, h: 4 }, thresholds: trafficLight(0.05, 0.2) },
      ),

      row('Reconnects'),
      timeseries(
        'Reconnects by previous codename',
        'New connections per second from a client key that ended a connection within the reconnect window, by how that previous ' +
          'connection ended. A wall of CLOSE_ABNORMAL right after a wave of 1006 is a reconnect storm.',
        [
          { expr: sumRate(m.reconnectsTotal, 'previous_codename'), legend: 'after {{previous_codename}}' },
          { expr: closeRate(''), legend: 'all closes' },
        ],
        { unit: 'cps' },
      ),
      timeseries(
        'Reconnect delay (p50, p90, p99)',
        'Time from the end of the previous connection to the reconnect. Clients without backoff and jitter reconnect all at the same delay.',
        quantileQueries([0.5, 0.9, 0.99], '', (q) => histogramQuantile(q, m.reconnectDelaySeconds, '')),
        { unit: 's', log: true },
      ),
      heatmap(
        'Reconnect delay',
        'Reconnects per delay bucket: one bright band means every client waits the same fixed time.',
        { expr: bucketIncrease(m.reconnectDelaySeconds) },
        {},
      ),
      stat(
        'Reconnects per close',
        'Reconnects per closed connection: the share of clients that come back within the reconnect window.',
        { expr: share(sumRate(m.reconnectsTotal, ''), closeRate('')) },
        { unit: 'percentunit', decimals: 1, size: { w: 12, h: 8 } },
      ),

      row('Connection lifetime'),
      heatmap(
        'Share of closes by connection lifetime',
        `Closed connections per duration bucket as a share of all closes. One bucket standing out (for example 30-60 s after ` +
          `an idle timeout at 30 s) is a load balancer or proxy cutting idle sockets; WebSocketClosesAtFixedLifetime fires at ` +
          `${ALERT_CONFIG.fixedLifetime.minShare * 100} % and ${ALERT_CONFIG.fixedLifetime.factor} times the bucket's usual share.`,
        {
          expr: `${durationHeatmap()}\n/ ignoring (le) group_left ()\n` + `(sum (increase(${selector(`${m.durationSeconds}_count`)}[$__rate_interval])) > 0)`,
        },
        { size: { w: 24, h: 8 } },
      ),

      row('What the browsers saw'),
      timeseries(
        'Close frames lost in between',
        'Share of the closes browsers reported where the server sent a close code and the browser saw 1006: ' +
          'a proxy or load balancer between them ate the close frame.',
        [{ expr: lostShare, legend: 'lost close frames' }],
        { unit: 'percentunit', thresholdLine: redAbove(ALERT_CONFIG.closeFramesLost.minShare) },
      ),
      timeseries(
        'Client-reported closes by codename',
        'Closes the browsers reported per second, by the code they saw and whether the close was clean.',
        [{ expr: sumRate(m.clientClosesTotal, 'codename, clean'), legend: '{{codename}} clean={{clean}}' }],
        { unit: 'cps', stack: true },
      ),
      {
        // The pairs as a matrix: a row per server codename, a column per client codename.
        ...table(
          'Server vs client close',
          'Connections whose two views differ in the selected time range: a row per codename the server recorded, ' +
            'a column per codename the browser saw. CLOSE_NORMAL or CLOSE_GOING_AWAY against CLOSE_ABNORMAL is a lost close frame.',
          { expr: `sum by (server_codename, client_codename) (${increaseOverRange(m.closeMismatchesTotal)}) > 0` },
          { columns: ['server_codename', 'client_codename'], valueName: 'connections', size: { w: 12, h: 8 } },
        ),
        options: { showHeader: true, cellHeight: 'sm' },
        transformations: [{ id: 'groupingToMatrix', options: { rowField: 'server_codename', columnField: 'client_codename', valueField: 'Value' } }],
      },
      timeseries(
        'Rejected client reports by reason',
        'Reports turned away per second: unknown or duplicate ids, too large, malformed, another origin, rate limited.',
        [{ expr: sumRate(m.clientReportsRejectedTotal, 'reason'), legend: '{{reason}}' }],
        { unit: 'reqps' },
      ),
    ],
  });
}
