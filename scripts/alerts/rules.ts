/**
 * Builds alerts/ws-close-agent.rules.yml (recording and alerting rules) from
 * ALERT_CONFIG. Record names follow the Prometheus convention
 * level:metric:operations.
 */
import { metricNames } from '../../src/codes/vocabulary.js';
import { ABNORMAL_CODE, ERROR_CODENAME_REGEX } from './close-classes.js';
import { ALERT_CONFIG, type AlertConfig, type BurstAlertConfig, type Severity } from './config.js';

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity; readonly [name: string]: string };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string };
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly (RecordingRule | AlertingRule)[];
}

/** Names of the recorded series, shared with the tests and the scenario generator. */
export const RECORD = {
  codeRate: 'job_code:websocket_connections_closed:rate5m',
  categoryRate: 'job_category:websocket_connections_closed:rate5m',
  closeRate: 'job:websocket_connections_closed:rate5m',
  abnormalRate: 'job:websocket_connections_closed_abnormal:rate5m',
  abnormalRatio: 'job:websocket_connections_closed_abnormal:ratio_rate5m',
  abnormalBaseline: 'job:websocket_connections_closed_abnormal:rate1h_offset10m',
  errorRate: 'job:websocket_connections_closed_error:rate5m',
  errorRatio: 'job:websocket_connections_closed_error:ratio_rate5m',
  upgradeFailureRatio: 'job:websocket_upgrade_failures:ratio_rate5m',
  exportingTarget: 'job_instance:websocket_metrics_target:present',
} as const;

export const ALERT = {
  abnormalHigh: 'WebSocketAbnormalClosuresHigh',
  abnormalSpike: 'WebSocketAbnormalClosureSpike',
  internalErrors: 'WebSocketInternalErrorClosures',
  protocolErrors: 'WebSocketProtocolErrorClosures',
  overload: 'WebSocketOverloadClosures',
  upgradeFailures: 'WebSocketUpgradeFailuresHigh',
  targetDown: 'WebSocketTargetDown',
  metricsAbsent: 'WebSocketMetricsAbsent',
} as const;

export type AlertName = (typeof ALERT)[keyof typeof ALERT];
export const ALERT_NAMES: readonly AlertName[] = Object.values(ALERT);

/** Metric selector with the configured extra matchers. */
export function selector(config: AlertConfig, metric: string, ...matchers: string[]): string {
  const all = [...matchers, config.selector].filter((m) => m !== '');
  return all.length === 0 ? metric : `${metric}{${all.join(', ')}}`;
}

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of a simple Prometheus duration (`90s`, `5m`, `1h`, `1d`). */
export function durationSeconds(duration: string): number {
  const match = /^(\d+)([smhd])$/.exec(duration);
  if (!match) throw new TypeError(`not a simple duration: ${duration}`);
  return Number(match[1]) * (SECONDS_PER_UNIT[match[2] as string] as number);
}

/** History a spike baseline needs: its window, its offset and the rate window before it, in minutes. */
export function baselineHistory(config: AlertConfig): string {
  const spike = config.abnormalSpike;
  const seconds = durationSeconds(spike.baselineWindow) + durationSeconds(spike.baselineOffset) + durationSeconds(config.rateWindow);
  return `${seconds / 60}m`;
}

function percent(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

function codeRegex(codes: readonly number[]): string {
  return codes.map(String).join('|');
}

function recordingRules(config: AlertConfig): RecordingRule[] {
  const m = metricNames(config.prefix);
  const w = config.rateWindow;
  const spike = config.abnormalSpike;
  // Only the first rule reads the raw counter; the others aggregate its result.
  // Rules of a group run in order at the same timestamp, so each sees the
  // values the rules above it just recorded.
  return [
    { record: RECORD.codeRate, expr: `sum by (job, code, codename, category) (rate(${selector(config, m.closedTotal)}[${w}]))` },
    { record: RECORD.categoryRate, expr: `sum by (job, category) (${RECORD.codeRate})` },
    { record: RECORD.closeRate, expr: `sum by (job) (${RECORD.codeRate})` },
    // "or 0 * total": a job with closes but no 1006 series yet has a 1006
    // rate of 0, not no value at all.
    {
      record: RECORD.abnormalRate,
      expr: `sum by (job) (${RECORD.codeRate}{code="${ABNORMAL_CODE}"})\nor\n0 * ${RECORD.closeRate}`,
    },
    // "> 0" in the divisor: no closes at all gives no ratio instead of NaN.
    { record: RECORD.abnormalRatio, expr: `${RECORD.abnormalRate}\n/\n(${RECORD.closeRate} > 0)` },
    // Offset, so that a spike does not raise its own baseline before it is
    // detected; averaged over the recorded 5m rates (cheap: one series per job).
    {
      record: RECORD.abnormalBaseline,
      expr: `avg_over_time(${RECORD.abnormalRate}[${spike.baselineWindow}] offset ${spike.baselineOffset})`,
    },
    {
      record: RECORD.errorRate,
      expr: `sum by (job) (${RECORD.codeRate}{codename=~"${ERROR_CODENAME_REGEX}"})\nor\n0 * ${RECORD.closeRate}`,
    },
    { record: RECORD.errorRatio, expr: `${RECORD.errorRate}\n/\n(${RECORD.closeRate} > 0)` },
    // Attempts = upgrades that failed for any reason + connections that opened.
    {
      record: RECORD.upgradeFailureRatio,
      expr:
        `sum by (job) (rate(${selector(config, m.upgradeFailuresTotal, `reason=~"${config.upgradeFailures.reasons.join('|')}"`)}[${w}]))\n` +
        `/\n(sum by (job) (\n  rate(${selector(config, m.upgradeFailuresTotal)}[${w}])\n  or\n  rate(${selector(config, m.openedTotal)}[${w}])\n) > 0)`,
    },
    // A latch: 1 for each target that exports these metrics, kept for as long
    // as the target stays in service discovery (has an `up` series), so that
    // WebSocketTargetDown knows which failing targets are ours without a job
    // name and without a long range lookup.
    {
      record: RECORD.exportingTarget,
      expr: `group by (job, instance) (${selector(config, m.openedTotal)})\nor\n(${RECORD.exportingTarget} and on (job, instance) ${selector(config, 'up')})`,
    },
  ];
}

function annotations(config: AlertConfig, alert: AlertName, summary: string, description: string): AlertingRule['annotations'] {
  return { summary, description, runbook_url: `${config.runbookUrl}#${alert.toLowerCase()}` };
}

function burstAlert(config: AlertConfig, alert: AlertName, burst: BurstAlertConfig, what: string): AlertingRule {
  const codes = codeRegex(burst.codes);
  const rate = `sum by (job) (${RECORD.codeRate}{code=~"${codes}"})`;
  const shown = burst.codes.join('/');
  return {
    alert,
    expr:
      `${rate}\n/ on (job)\n(${RECORD.closeRate} > 0)\n>= ${burst.minShare}\n` +
      `and on (job)\n${rate} * ${durationSeconds(config.rateWindow)} >= ${burst.minCount}`,
    for: burst.for,
    labels: { severity: burst.severity },
    annotations: annotations(
      config,
      alert,
      `WebSocket ${what} closes (${shown}) in {{ $labels.job }}`,
      `{{ $value | humanizePercentage }} of the WebSocket closes of job {{ $labels.job }} in the last ${config.rateWindow} ` +
        `were ${shown} (${what}); the alert needs at least ${burst.minCount} of them and ${percent(burst.minShare)} of all closes.`,
    ),
  };
}

function alertingRules(config: AlertConfig): AlertingRule[] {
  const m = metricNames(config.prefix);
  const share = config.abnormalShare;
  const spike = config.abnormalSpike;
  const up = config.upgradeFailures;
  const t = config.targets;
  return [
    {
      alert: ALERT.abnormalHigh,
      expr:
        `${RECORD.abnormalRatio} > ${share.threshold}\n` +
        `and on (job)\n${RECORD.closeRate} * ${durationSeconds(config.rateWindow)} >= ${share.minClosesInWindow}`,
      for: share.for,
      labels: { severity: share.severity },
      annotations: annotations(
        config,
        ALERT.abnormalHigh,
        'Many WebSocket connections of {{ $labels.job }} end without a close frame (1006)',
        `{{ $value | humanizePercentage }} of the WebSocket closes of job {{ $labels.job }} in the last ${config.rateWindow} ` +
          `were abnormal (1006, no close frame); the threshold is ${percent(share.threshold)} ` +
          `with at least ${share.minClosesInWindow} closes in ${config.rateWindow}.`,
      ),
    },
    {
      alert: ALERT.abnormalSpike,
      expr:
        `${RECORD.abnormalRate}\n/ on (job)\nclamp_min(${RECORD.abnormalBaseline}, ${spike.baselineFloorPerHour} / 3600)\n> ${spike.factor}\n` +
        `and on (job)\n${RECORD.abnormalRate} * ${durationSeconds(config.rateWindow)} >= ${spike.minAbnormalInWindow}\n` +
        // Only with a whole baseline: the job had closes before the baseline window began.
        `and on (job)\n${RECORD.closeRate} offset ${baselineHistory(config)}`,
      for: spike.for,
      labels: { severity: spike.severity },
      annotations: annotations(
        config,
        ALERT.abnormalSpike,
        'Abnormal WebSocket closes (1006) of {{ $labels.job }} spiked above their baseline',
        `The rate of abnormal closes (1006) of job {{ $labels.job }} over the last ${config.rateWindow} is ` +
          `{{ $value | printf "%.1f" }} times its baseline (the ${spike.baselineWindow} before the last ${spike.baselineOffset}); ` +
          `the alert fires above ${spike.factor} times, with at least ${spike.minAbnormalInWindow} abnormal closes in ${config.rateWindow} ` +
          `and ${baselineHistory(config)} of history.`,
      ),
    },
    burstAlert(config, ALERT.internalErrors, config.internalErrors, 'internal error'),
    burstAlert(config, ALERT.protocolErrors, config.protocolErrors, 'protocol error'),
    burstAlert(config, ALERT.overload, config.overload, 'try again later'),
    {
      alert: ALERT.upgradeFailures,
      expr:
        `${RECORD.upgradeFailureRatio} > ${up.threshold}\nand on (job)\n` +
        `sum by (job) (increase(${selector(config, m.upgradeFailuresTotal, `reason=~"${up.reasons.join('|')}"`)}[${config.rateWindow}])) >= ${up.minCount}`,
      for: up.for,
      labels: { severity: up.severity },
      annotations: annotations(
        config,
        ALERT.upgradeFailures,
        'WebSocket upgrades of {{ $labels.job }} are failing',
        `{{ $value | humanizePercentage }} of the WebSocket upgrade attempts of job {{ $labels.job }} in the last ${config.rateWindow} ` +
          `failed with ${up.reasons.join(', ')}; the threshold is ${percent(up.threshold)} with at least ${up.minCount} failures.`,
      ),
    },
    {
      alert: ALERT.targetDown,
      expr: `${selector(config, 'up')} == 0\nand on (job, instance)\n${RECORD.exportingTarget}`,
      for: t.downFor,
      labels: { severity: t.severity },
      annotations: annotations(
        config,
        ALERT.targetDown,
        'Prometheus cannot scrape WebSocket metrics from {{ $labels.instance }}',
        `Every scrape of {{ $labels.instance }} (job {{ $labels.job }}) for the last ${t.downFor} has failed; ` +
          `its WebSocket close metrics are not being collected.`,
      ),
    },
    {
      alert: ALERT.metricsAbsent,
      expr:
        `count by (job) (present_over_time(${selector(config, m.openedTotal)}[${t.absentLookback}]))\n` +
        `unless on (job)\ngroup by (job) (${selector(config, m.openedTotal)})\n` +
        `unless on (job)\ngroup by (job) (${selector(config, 'up')} == 0)`,
      for: t.absentFor,
      labels: { severity: t.severity },
      annotations: annotations(
        config,
        ALERT.metricsAbsent,
        'WebSocket metrics of {{ $labels.job }} have disappeared',
        `Job {{ $labels.job }} had {{ $value }} target(s) exporting WebSocket close metrics within the last ${t.absentLookback}; ` +
          `for ${t.absentFor} none has, and no target of the job is left failing its scrapes.`,
      ),
    },
  ];
}

/**
 * One group: its rules run in order at the same timestamp, so every alert
 * sees the records of this very evaluation. (Two groups run independently;
 * the alerts would see records up to one interval old, and promtool would
 * evaluate them in a random order unless each test names group_eval_order.)
 */
export function buildRuleGroups(config: AlertConfig = ALERT_CONFIG): RuleGroup[] {
  return [{ name: 'ws-close-agent', rules: [...recordingRules(config), ...alertingRules(config)] }];
}
