/**
 * The abnormal-close SLO as Prometheus rules: the objective as a record, the
 * bad-close ratio over every window the burn-rate alerts need, and one
 * multiwindow burn-rate alert per entry of ALERT_CONFIG.slo.windows (the SRE
 * workbook's "multiwindow, multi-burn-rate alerts"). The same SLO, as a Sloth
 * spec, is built by slothSpec() below.
 */
import { metricNames } from '../../src/codes/vocabulary.js';
import { ALERT_CONFIG, type AlertConfig, type BurnRateWindow } from './config.js';
import { durationSeconds, jobRate, ratio, selector, type AlertingRule, type RecordingRule, type RuleGroup } from './rules.js';

/** Labels every SLO series is aggregated by, as jobRate() does; `cluster` is empty (and harmless) where Prometheus does not set it. */
const BY = 'cluster, job';

export const SLO_RECORD = {
  objective: 'slo:websocket_close_objective:ratio',
  closeRate: 'job:websocket_close_slo_closes:rate5m',
  badRate: 'job:websocket_close_slo_bad:rate5m',
  badRatio: (window: string) => `job:websocket_close_slo_bad:ratio_rate${window}`,
} as const;

/** The window of the two rate records; every longer window is built from them. */
const BASE_WINDOW = '5m';

export const SLO_ALERT = {
  pageFast: 'WebSocketCloseSLOPageFast',
  pageSlow: 'WebSocketCloseSLOPageSlow',
  ticket: 'WebSocketCloseSLOTicket',
} as const;

export type SloAlertName = (typeof SLO_ALERT)[keyof typeof SLO_ALERT];
export const SLO_ALERT_NAMES: readonly SloAlertName[] = Object.values(SLO_ALERT);

/** The alert of each configured window, in order: the first page, the second page, the ticket. */
export function sloAlertOf(config: AlertConfig, window: BurnRateWindow): SloAlertName {
  const pages = config.slo.windows.filter((w) => w.action === 'page');
  if (window.action === 'ticket') return SLO_ALERT.ticket;
  return pages.indexOf(window) === 0 ? SLO_ALERT.pageFast : SLO_ALERT.pageSlow;
}

/** Every window a record is needed for, shortest first. */
export function sloWindows(config: AlertConfig): string[] {
  const all = new Set(config.slo.windows.flatMap((w) => [w.shortWindow, w.longWindow]));
  return [...all].sort((a, b) => durationSeconds(a) - durationSeconds(b));
}

/** PromQL matchers of a bad close. */
export function badCloseMatchers(config: AlertConfig): string[] {
  return [`code="${config.slo.badCode}"`, `initiator=~"${config.slo.badInitiators.join('|')}"`];
}

const percent = (share: number): string => `${Math.round(share * 100000) / 1000} %`;

function sloRecordingRules(config: AlertConfig): RecordingRule[] {
  const m = metricNames(config.prefix);
  const labels = { slo: config.slo.name };
  const rules: RecordingRule[] = [
    // The objective as a series: the alerts read it, so that a dashboard or a
    // query can show it, and changing it here changes every threshold.
    { record: SLO_RECORD.objective, expr: `vector(${config.slo.objective})`, labels },
    // Only these two rules read the raw counters, over 5 minutes. The long
    // windows (up to 3 days) average these records instead of reading days
    // of raw samples of every code at every evaluation; the price is that a
    // long window only covers the time since the rules were loaded.
    { record: SLO_RECORD.closeRate, expr: jobRate(config, BASE_WINDOW, m.closedTotal), labels },
    // "or 0 * closes": a job with closes but no bad close yet has a bad rate
    // of 0, not no value.
    {
      record: SLO_RECORD.badRate,
      expr: `${jobRate(config, BASE_WINDOW, m.closedTotal, ...badCloseMatchers(config))}\nor on (${BY})\n0 * ${SLO_RECORD.closeRate}`,
      labels,
    },
  ];
  for (const w of sloWindows(config)) {
    // "> 0": no closes at all gives no ratio instead of NaN. Summing the
    // recorded rates weighs every evaluation by its traffic, as a rate over
    // the whole window would.
    const expr =
      w === BASE_WINDOW
        ? ratio(SLO_RECORD.badRate, SLO_RECORD.closeRate)
        : ratio(`sum_over_time(${SLO_RECORD.badRate}[${w}])`, `sum_over_time(${SLO_RECORD.closeRate}[${w}])`);
    rules.push({ record: SLO_RECORD.badRatio(w), expr, labels });
  }
  return rules;
}

/** The volume guard of a burn-rate alert: enough bad closes in its long window. */
export function sloGuard(config: AlertConfig, window: BurnRateWindow): string {
  // From the raw counter (only the bad-close series, so few samples): an
  // average of the records would extrapolate a short history to the whole
  // window.
  const m = metricNames(config.prefix);
  const bad = selector(config, m.closedTotal, ...badCloseMatchers(config));
  return `sum by (${BY}) (increase(${bad}[${window.longWindow}])) >= ${config.slo.minBadClosesInLongWindow}`;
}

function burnAlert(config: AlertConfig, window: BurnRateWindow): AlertingRule {
  const alert = sloAlertOf(config, window);
  const budget = `(1 - scalar(${SLO_RECORD.objective}))`;
  const threshold = `${window.burnRate} * ${budget}`;
  const guard = config.slo.minBadClosesInLongWindow;
  const budgetShare = 1 - config.slo.objective;
  const long = window.longWindow;
  const short = window.shortWindow;
  return {
    alert,
    expr:
      `${SLO_RECORD.badRatio(long)} > ${threshold}\n` +
      `and on (${BY})\n${SLO_RECORD.badRatio(short)} > ${threshold}\n` +
      `and on (${BY})\n${sloGuard(config, window)}`,
    for: window.for,
    labels: {
      severity: window.severity,
      slo: config.slo.name,
      objective: String(config.slo.objective),
      action: window.action,
    },
    annotations: {
      summary:
        window.action === 'page'
          ? `{{ $labels.job }} is burning its abnormal-close error budget ${window.burnRate} times too fast`
          : `{{ $labels.job }} is spending its abnormal-close error budget faster than it lasts`,
      description:
        `{{ $value | humanizePercentage }} of the WebSocket closes of job {{ $labels.job }} over the last ${long} ` +
        `were bad closes (${config.slo.badCode} ended by ${config.slo.badInitiators.join(' or ')}), and more than ` +
        `${percent(window.burnRate * budgetShare)} over the last ${short} too: ${window.burnRate} times the error budget ` +
        `of the ${percent(config.slo.objective)} objective (${percent(budgetShare)} over ${config.slo.period}). ` +
        `At this rate the budget lasts ${budgetDays(config, window.burnRate)}; the alert needs at least ${guard} bad closes in ${long}.`,
      runbook_url: `${config.runbookUrl}#${alert.toLowerCase()}`,
    },
  };
}

function budgetDays(config: AlertConfig, burnRate: number): string {
  const days = durationSeconds(config.slo.period) / 86400 / burnRate;
  return days >= 2 ? `${Math.round(days)} days` : `${Math.round(days * 24 * 10) / 10} hours`;
}

export function buildSloRuleGroups(config: AlertConfig = ALERT_CONFIG): RuleGroup[] {
  return [{ name: 'ws-close-agent-slo', rules: [...sloRecordingRules(config), ...config.slo.windows.map((w) => burnAlert(config, w))] }];
}

/**
 * The same SLO as a Sloth spec (prometheus/v1): Sloth generates its own
 * multiwindow alerts from it, with the page and ticket windows above.
 */
export function slothSpec(config: AlertConfig = ALERT_CONFIG): Record<string, unknown> {
  const m = metricNames(config.prefix);
  return {
    version: 'prometheus/v1',
    service: 'ws-close-agent',
    labels: { owner: 'websocket' },
    slos: [
      {
        name: config.slo.name,
        objective: Math.round(config.slo.objective * 100 * 1000) / 1000,
        description:
          `WebSocket closes that are not bad closes: a ${config.slo.badCode} (no close frame) ` + `ended by ${config.slo.badInitiators.join(' or ')}.`,
        sli: {
          events: {
            error_query: jobRate(config, '{{.window}}', m.closedTotal, ...badCloseMatchers(config)),
            total_query: jobRate(config, '{{.window}}', m.closedTotal),
          },
        },
        alerting: {
          name: 'WebSocketCloseSLO',
          labels: { category: 'availability' },
          annotations: { runbook_url: `${config.runbookUrl}#websocketclosesloticket` },
          page_alert: { labels: { severity: 'critical' } },
          ticket_alert: { labels: { severity: 'warning' } },
        },
      },
    ],
  };
}
