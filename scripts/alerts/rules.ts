/**
 * Builds alerts/ws-close-agent.rules.yml (recording and alerting rules) from
 * ALERT_CONFIG. Record names follow the Prometheus convention
 * level:metric:operations. Every aggregation and match keeps an optional
 * `cluster` label next to `job` (set by external labels or relabelling in
 * multi-cluster setups such as Thanos, Mimir or VictoriaMetrics cluster);
 * where it is absent, the results are the same as by `job` alone.
 */
import { DURATION_BUCKETS_SECONDS, metricNames } from '../../src/codes/vocabulary.js';
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
  reconnectRate: 'job:websocket_reconnects:rate5m',
  reconnectBaseline: 'job:websocket_reconnects:rate1h_offset10m',
  durationBucketRate: 'job_le:websocket_connection_duration_seconds_bucket:rate5m',
  lifetimeShare: 'job_le:websocket_connection_duration_seconds_bucket_closes:ratio_rate5m',
  lifetimeBaseline: 'job_le:websocket_connection_duration_seconds_bucket_closes:ratio_rate1h_offset10m',
  clientReportRate: 'job:websocket_client_closes:rate5m',
  framesLostRate: 'job:websocket_close_frames_lost:rate5m',
  framesLostRatio: 'job:websocket_close_frames_lost:ratio_rate5m',
  framesLostBaseline: 'job:websocket_close_frames_lost:ratio_rate1h_offset10m',
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
  reconnectStorm: 'WebSocketReconnectStorm',
  fixedLifetime: 'WebSocketClosesAtFixedLifetime',
  closeFramesLost: 'WebSocketCloseFramesLost',
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

/** A baseline: the window averaged, ending `baselineOffset` ago. */
interface Baseline {
  readonly baselineWindow: string;
  readonly baselineOffset: string;
}

/** History a baseline needs: its window, its offset and the rate window before it, in minutes. */
export function historyOf(config: AlertConfig, baseline: Baseline): string {
  const seconds = durationSeconds(baseline.baselineWindow) + durationSeconds(baseline.baselineOffset) + durationSeconds(config.rateWindow);
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/** History the spike baseline needs. */
export function baselineHistory(config: AlertConfig): string {
  return historyOf(config, config.abnormalSpike);
}

/** Prometheus' text of a histogram bound (the `le` label), as the exporters write it. */
export function leText(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** The connection-duration buckets (lower, upper] the fixed-lifetime alert watches. */
export function lifetimeBuckets(config: AlertConfig): [lower: number, upper: number][] {
  const bounds = [...DURATION_BUCKETS_SECONDS, Infinity];
  const pairs: [number, number][] = [];
  for (let i = 1; i < bounds.length; i++) {
    const lower = bounds[i - 1] as number;
    if (lower >= config.fixedLifetime.minLowerBoundSeconds) pairs.push([lower, bounds[i] as number]);
  }
  return pairs;
}

function percent(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

function codeRegex(codes: readonly number[]): string {
  return codes.map(String).join('|');
}

/** `numerator / denominator`; "> 0" in the divisor: no closes at all gives no ratio instead of NaN. */
export function ratio(numerator: string, denominator: string): string {
  return `${numerator}\n/\n(${denominator} > 0)`;
}

/** Per-job rate of a counter over `window`, the configured selector and `matchers` applied. */
export function jobRate(config: AlertConfig, window: string, metric: string, ...matchers: string[]): string {
  return `sum by (cluster, job) (rate(${selector(config, metric, ...matchers)}[${window}]))`;
}

/**
 * `source` averaged over the baseline window before the last `baselineOffset`: offset, so that a spike
 * does not raise its own baseline before it is detected; averaged over the recorded 5m rates (cheap: one series per job).
 */
function baselineRule(record: string, source: string, baseline: Baseline): RecordingRule {
  return { record, expr: `avg_over_time(${source}[${baseline.baselineWindow}] offset ${baseline.baselineOffset})` };
}

function recordingRules(config: AlertConfig): RecordingRule[] {
  const m = metricNames(config.prefix);
  const w = config.rateWindow;
  // Only the first rule reads the raw counter; the others aggregate its result.
  // Rules of a group run in order at the same timestamp, so each sees the
  // values the rules above it just recorded.
  return [
    { record: RECORD.codeRate, expr: `sum by (cluster, job, code, codename, category) (rate(${selector(config, m.closedTotal)}[${w}]))` },
    { record: RECORD.categoryRate, expr: `sum by (cluster, job, category) (${RECORD.codeRate})` },
    { record: RECORD.closeRate, expr: `sum by (cluster, job) (${RECORD.codeRate})` },
    // "or 0 * total": a job with closes but no 1006 series yet has a 1006
    // rate of 0, not no value at all.
    {
      record: RECORD.abnormalRate,
      expr: `sum by (cluster, job) (${RECORD.codeRate}{code="${ABNORMAL_CODE}"})\nor\n0 * ${RECORD.closeRate}`,
    },
    { record: RECORD.abnormalRatio, expr: ratio(RECORD.abnormalRate, RECORD.closeRate) },
    baselineRule(RECORD.abnormalBaseline, RECORD.abnormalRate, config.abnormalSpike),
    {
      record: RECORD.errorRate,
      expr: `sum by (cluster, job) (${RECORD.codeRate}{codename=~"${ERROR_CODENAME_REGEX}"})\nor\n0 * ${RECORD.closeRate}`,
    },
    { record: RECORD.errorRatio, expr: ratio(RECORD.errorRate, RECORD.closeRate) },
    // Attempts = upgrades that failed for any reason + connections that opened.
    {
      record: RECORD.upgradeFailureRatio,
      expr:
        `${jobRate(config, w, m.upgradeFailuresTotal, `reason=~"${config.upgradeFailures.reasons.join('|')}"`)}\n` +
        `/\n(sum by (cluster, job) (\n  rate(${selector(config, m.upgradeFailuresTotal)}[${w}])\n  or\n  rate(${selector(config, m.openedTotal)}[${w}])\n) > 0)`,
    },
    // A latch: 1 for each target that exports these metrics, kept for as long
    // as the target stays in service discovery (has an `up` series), so that
    // WebSocketTargetDown knows which failing targets are ours without a job
    // name and without a long range lookup.
    // Reconnects (only where reconnect tracking is on) and their baseline.
    { record: RECORD.reconnectRate, expr: jobRate(config, w, m.reconnectsTotal) },
    baselineRule(RECORD.reconnectBaseline, RECORD.reconnectRate, config.reconnectStorm),
    // Closes per duration bucket: the cumulative buckets' rates, then each
    // bucket (lower, upper] of interest as a share of all closes, labelled
    // with its upper bound as `le`.
    { record: RECORD.durationBucketRate, expr: `sum by (cluster, job, le) (rate(${selector(config, `${m.durationSeconds}_bucket`)}[${w}]))` },
    {
      record: RECORD.lifetimeShare,
      expr: lifetimeBuckets(config)
        .map(
          ([lower, upper]) =>
            `label_replace(\n  (${RECORD.durationBucketRate}{le="${leText(upper)}"} - ignoring (le) ${RECORD.durationBucketRate}{le="${leText(lower)}"})\n` +
            `  / ignoring (le)\n  (${RECORD.durationBucketRate}{le="+Inf"} > 0),\n  "le", "${leText(upper)}", "", ""\n)`,
        )
        .join('\nor\n'),
    },
    baselineRule(RECORD.lifetimeBaseline, RECORD.lifetimeShare, config.fixedLifetime),
    // Client reports: all of them, and those where the server sent a code and the client saw 1006.
    { record: RECORD.clientReportRate, expr: jobRate(config, w, m.clientClosesTotal) },
    {
      record: RECORD.framesLostRate,
      expr:
        `${jobRate(config, w, m.closeMismatchesTotal, 'client_codename="CLOSE_ABNORMAL"', 'server_codename!="CLOSE_ABNORMAL"')}\n` +
        `or\n0 * ${RECORD.clientReportRate}`,
    },
    { record: RECORD.framesLostRatio, expr: ratio(RECORD.framesLostRate, RECORD.clientReportRate) },
    baselineRule(RECORD.framesLostBaseline, RECORD.framesLostRatio, config.closeFramesLost),
    {
      record: RECORD.exportingTarget,
      expr: `group by (cluster, job, instance) (${selector(config, m.openedTotal)})\nor\n(${RECORD.exportingTarget} and on (cluster, job, instance) ${selector(config, 'up')})`,
    },
  ];
}

function annotations(config: AlertConfig, alert: AlertName, summary: string, description: string): AlertingRule['annotations'] {
  return { summary, description, runbook_url: `${config.runbookUrl}#${alert.toLowerCase()}` };
}

function burstAlert(config: AlertConfig, alert: AlertName, burst: BurstAlertConfig, what: string): AlertingRule {
  const codes = codeRegex(burst.codes);
  const rate = `sum by (cluster, job) (${RECORD.codeRate}{code=~"${codes}"})`;
  const shown = burst.codes.join('/');
  return {
    alert,
    expr:
      `${rate}\n/ on (cluster, job)\n(${RECORD.closeRate} > 0)\n>= ${burst.minShare}\n` +
      `and on (cluster, job)\n${rate} * ${durationSeconds(config.rateWindow)} >= ${burst.minCount}`,
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
  const storm = config.reconnectStorm;
  const life = config.fixedLifetime;
  const lost = config.closeFramesLost;
  const windowSeconds = durationSeconds(config.rateWindow);
  return [
    {
      alert: ALERT.abnormalHigh,
      expr:
        `${RECORD.abnormalRatio} > ${share.threshold}\n` +
        `and on (cluster, job)\n${RECORD.closeRate} * ${durationSeconds(config.rateWindow)} >= ${share.minClosesInWindow}`,
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
        `${RECORD.abnormalRate}\n/ on (cluster, job)\nclamp_min(${RECORD.abnormalBaseline}, ${spike.baselineFloorPerHour} / 3600)\n> ${spike.factor}\n` +
        `and on (cluster, job)\n${RECORD.abnormalRate} * ${durationSeconds(config.rateWindow)} >= ${spike.minAbnormalInWindow}\n` +
        // Only with a whole baseline: the job had closes before the baseline window began.
        `and on (cluster, job)\n${RECORD.closeRate} offset ${baselineHistory(config)}`,
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
        `${RECORD.upgradeFailureRatio} > ${up.threshold}\nand on (cluster, job)\n` +
        `sum by (cluster, job) (increase(${selector(config, m.upgradeFailuresTotal, `reason=~"${up.reasons.join('|')}"`)}[${config.rateWindow}])) >= ${up.minCount}`,
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
      expr: `${selector(config, 'up')} == 0\nand on (cluster, job, instance)\n${RECORD.exportingTarget}`,
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
        `count by (cluster, job) (present_over_time(${selector(config, m.openedTotal)}[${t.absentLookback}]))\n` +
        `unless on (cluster, job)\ngroup by (cluster, job) (${selector(config, m.openedTotal)})\n` +
        `unless on (cluster, job)\ngroup by (cluster, job) (${selector(config, 'up')} == 0)`,
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
    {
      alert: ALERT.reconnectStorm,
      expr:
        `${RECORD.reconnectRate}\n/ on (cluster, job)\nclamp_min(${RECORD.reconnectBaseline}, ${storm.baselineFloorPerHour} / 3600)\n> ${storm.factor}\n` +
        `and on (cluster, job)\n${RECORD.reconnectRate} * ${windowSeconds} >= ${storm.minReconnectsInWindow}\n` +
        // Right after a wave of abnormal closes: a planned restart (1001/1012) brings clients back too, and is no storm.
        `and on (cluster, job)\nmax_over_time(${RECORD.abnormalRate}[${storm.abnormalLookback}])\n/ on (cluster, job)\n` +
        `clamp_min(${RECORD.abnormalBaseline}, ${spike.baselineFloorPerHour} / 3600)\n> ${storm.abnormalFactor}\n` +
        `and on (cluster, job)\n${RECORD.closeRate} offset ${historyOf(config, storm)}`,
      for: storm.for,
      labels: { severity: storm.severity },
      annotations: annotations(
        config,
        ALERT.reconnectStorm,
        'WebSocket clients of {{ $labels.job }} are reconnecting in a storm after abnormal closes',
        `Reconnects of job {{ $labels.job }} over the last ${config.rateWindow} run at {{ $value | printf "%.1f" }} times their baseline ` +
          `(the ${storm.baselineWindow} before the last ${storm.baselineOffset}), within ${storm.abnormalLookback} of abnormal closes (1006) ` +
          `at over ${storm.abnormalFactor} times theirs; the alert fires above ${storm.factor} times with at least ${storm.minReconnectsInWindow} reconnects in ${config.rateWindow}.`,
      ),
    },
    {
      alert: ALERT.fixedLifetime,
      expr:
        `${RECORD.lifetimeShare} > ${life.minShare}\n` +
        `and on (cluster, job, le)\n${RECORD.lifetimeShare} > ${life.factor} * ${RECORD.lifetimeBaseline}\n` +
        `and on (cluster, job, le)\n${RECORD.lifetimeShare} * ignoring (le) group_left ()\n${RECORD.durationBucketRate}{le="+Inf"} * ${windowSeconds} >= ${life.minClosesInWindow}\n` +
        `and on (cluster, job)\n${RECORD.closeRate} offset ${historyOf(config, life)}`,
      for: life.for,
      labels: { severity: life.severity },
      annotations: annotations(
        config,
        ALERT.fixedLifetime,
        'WebSocket connections of {{ $labels.job }} pile up at one lifetime (up to {{ $labels.le }} s): an idle timeout?',
        `{{ $value | humanizePercentage }} of the WebSocket closes of job {{ $labels.job }} in the last ${config.rateWindow} ` +
          `came from connections that lived up to {{ $labels.le }} s (one bucket of the duration histogram), over ${life.factor} times that bucket's share ` +
          `in the ${life.baselineWindow} before the last ${life.baselineOffset}; the threshold is ${percent(life.minShare)} with at least ${life.minClosesInWindow} closes in the bucket. ` +
          `A load balancer or proxy idle timeout ends idle sockets at one fixed age.`,
      ),
    },
    {
      alert: ALERT.closeFramesLost,
      expr:
        `${RECORD.framesLostRatio} > ${lost.minShare}\n` +
        `and on (cluster, job)\n${RECORD.framesLostRatio}\n/ on (cluster, job)\nclamp_min(${RECORD.framesLostBaseline}, ${lost.baselineFloorShare})\n> ${lost.factor}\n` +
        `and on (cluster, job)\n${RECORD.framesLostRate} * ${windowSeconds} >= ${lost.minLostInWindow}\n` +
        `and on (cluster, job)\n${RECORD.clientReportRate} offset ${historyOf(config, lost)}`,
      for: lost.for,
      labels: { severity: lost.severity },
      annotations: annotations(
        config,
        ALERT.closeFramesLost,
        'Close frames of {{ $labels.job }} are lost between server and browser',
        `In {{ $value | humanizePercentage }} of the closes browsers reported for job {{ $labels.job }} in the last ${config.rateWindow}, ` +
          `the server sent a close code and the browser saw 1006 (no close frame arrived); that is over ${lost.factor} times the share ` +
          `in the ${lost.baselineWindow} before the last ${lost.baselineOffset}, with at least ${lost.minLostInWindow} such closes and a threshold of ${percent(lost.minShare)}.`,
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
