/**
 * Turns a Scenario into `promtool test rules` files and reads the results:
 *
 * - `<name>.test.yml` states the scenario table as PromQL assertions over the
 *   ALERTS series that the rule evaluation writes: nothing fires before the
 *   anomaly, each expected alert fires within DETECTION_LIMIT_MINUTES of its
 *   start, nothing else fires during it, nothing fires after it. It passes or
 *   fails like any hand-written rule test.
 * - `<name>.probe.yml` has the same input but asks for the first firing
 *   minute, the number of firings and the firing minutes of every alert in
 *   each phase. Its assertions expect nothing, so promtool reports what it
 *   got, and parseProbeOutput() reads the measurements from that report.
 */
import YAML from 'yaml';
import { metricNames } from '../../src/codes/vocabulary.js';
import { ALERT_CONFIG } from './config.js';
import { ALERT_NAMES, baselineHistory, durationSeconds, RECORD, type AlertName } from './rules.js';
import { buildInputSeries, createRandom, type InputSeries } from './scenario-series.js';
import { DETECTION_LIMIT_MINUTES, RESOLVE_GRACE_MINUTES, type Scenario } from './scenarios.js';

export interface Phase {
  readonly name: 'before' | 'during' | 'after' | 'whole';
  /** First clock minute. */
  readonly from: number;
  /** First clock minute after. */
  readonly to: number;
}

/** The phases of a scenario: around its anomaly, or the whole run when it has none. */
export function phasesOf(scenario: Scenario): Phase[] {
  const anomaly = scenario.anomaly;
  if (anomaly === undefined) return [{ name: 'whole', from: scenario.from, to: scenario.to }];
  const phases: Phase[] = [];
  if (anomaly.start > scenario.from) phases.push({ name: 'before', from: scenario.from, to: anomaly.start });
  const duringEnd = Math.min(anomaly.end + RESOLVE_GRACE_MINUTES, scenario.to);
  phases.push({ name: 'during', from: anomaly.start, to: duringEnd });
  if (duringEnd < scenario.to) phases.push({ name: 'after', from: duringEnd, to: scenario.to });
  return phases;
}

/**
 * The quantities the main alerts compare with their thresholds, with their
 * volume guards applied. In scenarios where nothing may fire, the probe
 * reports their maximum: how close the normal traffic came to paging.
 */
export const HEADROOM_SIGNALS: readonly {
  readonly name: string;
  readonly expr: string;
  readonly threshold: number;
  readonly unit: 'share' | 'times';
}[] = (() => {
  const windowSeconds = durationSeconds(ALERT_CONFIG.rateWindow);
  const spike = ALERT_CONFIG.abnormalSpike;
  const internal = ALERT_CONFIG.internalErrors;
  const internalRate = `sum by (job) (${RECORD.codeRate}{code=~"${internal.codes.join('|')}"})`;
  return [
    {
      name: 'abnormal share (WebSocketAbnormalClosuresHigh)',
      expr: `${RECORD.abnormalRatio} and on (job) ${RECORD.closeRate} * ${windowSeconds} >= ${ALERT_CONFIG.abnormalShare.minClosesInWindow}`,
      threshold: ALERT_CONFIG.abnormalShare.threshold,
      unit: 'share',
    },
    {
      name: '1006 rate / baseline (WebSocketAbnormalClosureSpike)',
      expr:
        `${RECORD.abnormalRate} / on (job) clamp_min(${RECORD.abnormalBaseline}, ${spike.baselineFloorPerHour} / 3600) ` +
        `and on (job) ${RECORD.abnormalRate} * ${windowSeconds} >= ${spike.minAbnormalInWindow} ` +
        `and on (job) ${RECORD.closeRate} offset ${baselineHistory(ALERT_CONFIG)}`,
      threshold: spike.factor,
      unit: 'times',
    },
    {
      name: '1011 share (WebSocketInternalErrorClosures)',
      expr: `${internalRate} / on (job) (${RECORD.closeRate} > 0) and on (job) ${internalRate} * ${windowSeconds} >= ${internal.minCount}`,
      threshold: internal.minShare,
      unit: 'share',
    },
    {
      name: 'upgrade failure ratio (WebSocketUpgradeFailuresHigh)',
      expr:
        `${RECORD.upgradeFailureRatio} and on (job) sum by (job) (increase(${metricNames(ALERT_CONFIG.prefix).upgradeFailuresTotal}` +
        `{reason=~"${ALERT_CONFIG.upgradeFailures.reasons.join('|')}"}[${ALERT_CONFIG.rateWindow}])) >= ${ALERT_CONFIG.upgradeFailures.minCount}`,
      threshold: ALERT_CONFIG.upgradeFailures.threshold,
      unit: 'share',
    },
  ];
})();

/** Subqueries over long ranges hit promtool's sample limit: take maxima over slices this long. */
const HEADROOM_SLICE_MINUTES = 720;

const FIRING = 'ALERTS{alertstate="firing"}';
const firing = (extra: string): string => `ALERTS{alertstate="firing"${extra}}`;

/**
 * The range and `@` time that cover the evaluations in clock minutes
 * [from, to) of a scenario (test time 0 is the scenario's first sample).
 */
function window(scenario: Scenario, from: number, to: number): { range: string; at: number } {
  const first = Math.ceil((from - scenario.from) / scenario.step) * scenario.step;
  const last = Math.ceil((to - scenario.from) / scenario.step) * scenario.step - scenario.step;
  if (last < first) throw new Error(`${scenario.name}: empty window ${from}-${to}`);
  // Ranges include both ends; a zero-length range is not valid PromQL, a
  // range shorter than the step still catches exactly one evaluation.
  return { range: last === first ? '1s' : `${last - first}m`, at: last * 60 };
}

interface PromqlTest {
  readonly expr: string;
  readonly eval_time: string;
  readonly exp_samples: { labels: string; value: number }[];
}

function testFile(ruleFile: string, scenario: Scenario, series: readonly InputSeries[], tests: PromqlTest[]): string {
  const interval = `${scenario.step}m`;
  const doc = {
    rule_files: [ruleFile],
    evaluation_interval: interval,
    tests: [{ name: scenario.name, interval, input_series: series, promql_expr_test: tests }],
  };
  return `# Scenario ${scenario.name}: ${scenario.description}\n# Generated by scripts/alerts/scenario-tests.ts; do not edit.\n${YAML.stringify(doc, { lineWidth: 0 })}`;
}

export interface ScenarioFiles {
  /** The requirement assertions; promtool must pass them. */
  readonly test: string;
  /** The measurement queries; promtool "fails" them and reports the values. */
  readonly probe: string;
}

export function renderScenarioFiles(scenario: Scenario, ruleFile: string): ScenarioFiles {
  const series = buildInputSeries(scenario.targets, scenario, scenario.traffic, createRandom(scenario.seed));
  const evalTime = `${scenario.to - scenario.from - scenario.step}m`;
  const overWindow = (selector: string, from: number, to: number): string => {
    const w = window(scenario, from, to);
    return `max_over_time(${selector}[${w.range}] @ ${w.at})`;
  };
  const quiet = (selector: string, phase: Phase): PromqlTest => ({
    expr: `count by (alertname) (${overWindow(selector, phase.from, phase.to)})`,
    eval_time: evalTime,
    exp_samples: [],
  });
  const requirements: PromqlTest[] = [];
  const anomaly = scenario.anomaly;
  for (const phase of phasesOf(scenario)) {
    if (phase.name !== 'during' || anomaly === undefined) {
      requirements.push(quiet(FIRING, phase));
      continue;
    }
    const allowed = [...anomaly.mustFire, ...anomaly.mayFire];
    requirements.push(quiet(firing(`,alertname!~"${allowed.join('|')}"`), phase));
    for (const alert of anomaly.mustFire) {
      const deadline = Math.min(anomaly.start + DETECTION_LIMIT_MINUTES + 1, scenario.to);
      requirements.push({
        expr: `count by (alertname) (${overWindow(firing(`,alertname="${alert}"`), anomaly.start, deadline)})`,
        eval_time: evalTime,
        exp_samples: [{ labels: `{alertname="${alert}"}`, value: 1 }],
      });
    }
  }
  const probes: PromqlTest[] = [];
  const step = `${scenario.step}m`;
  for (const phase of phasesOf(scenario)) {
    const w = window(scenario, phase.from, phase.to);
    const range = `[${w.range}:${step}] @ ${w.at}`;
    for (const expr of [
      `min_over_time(timestamp(${FIRING})${range})`,
      `count_over_time((${FIRING} unless ${FIRING} offset ${step})${range})`,
      `count_over_time(${FIRING}${range})`,
    ]) {
      probes.push({ expr: `label_replace(${expr}, "phase", "${phase.name}", "", "")`, eval_time: evalTime, exp_samples: [] });
    }
  }
  if (anomaly === undefined) {
    for (let from = scenario.from; from < scenario.to; from += HEADROOM_SLICE_MINUTES) {
      const w = window(scenario, from, Math.min(from + HEADROOM_SLICE_MINUTES, scenario.to));
      HEADROOM_SIGNALS.forEach((signal, index) => {
        probes.push({
          expr: `label_replace(max_over_time((${signal.expr})[${w.range}:${step}] @ ${w.at}), "signal", "${index}", "", "")`,
          eval_time: evalTime,
          exp_samples: [],
        });
      });
    }
  }
  return { test: testFile(ruleFile, scenario, series, requirements), probe: testFile(ruleFile, scenario, series, probes) };
}

/** What one alert did in one phase of a scenario. */
export interface AlertActivity {
  readonly alert: AlertName;
  readonly phase: Phase['name'];
  /** Test-time minute of its first firing evaluation (0 = the scenario's first sample). */
  readonly firstFiring: number;
  /** How many times it started firing. */
  readonly firings: number;
  /** Rule evaluations at which it was firing. */
  readonly firingEvaluations: number;
}

const GOT_SAMPLE = /\{([^}]*)\} (\S+?)(?:,|$)/gm;

export interface ProbeResults {
  readonly activity: AlertActivity[];
  /** Per HEADROOM_SIGNALS index: the largest value seen (absent: the signal never had a value). */
  readonly headroom: ReadonlyMap<number, number>;
}

/**
 * Reads promtool's report of a probe file. Probes that found nothing pass and
 * print nothing; every other probe prints `got: {labels} value, ...`.
 */
export function parseProbeOutput(output: string): ProbeResults {
  const byKey = new Map<string, { alert: AlertName; phase: Phase['name']; first?: number; firings?: number; minutes?: number }>();
  const headroom = new Map<number, number>();
  const blocks = output.split(/^\s*expr: /m).slice(1);
  for (const block of blocks) {
    const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(block);
    const gotLine = /^\s*got: (.*)$/m.exec(block);
    if (!quoted || !gotLine) throw new Error(`unexpected promtool report:\n${block}`);
    const expr = JSON.parse(`"${quoted[1]}"`) as string;
    const kind = expr.includes('min_over_time(timestamp') ? 'first' : expr.includes(' unless ') ? 'firings' : 'minutes';
    for (const match of (gotLine[1] as string).matchAll(GOT_SAMPLE)) {
      const labels = Object.fromEntries(
        [...(match[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]),
      );
      const value = Number(match[2]);
      if (labels.signal !== undefined) {
        const index = Number(labels.signal);
        headroom.set(index, Math.max(headroom.get(index) ?? -Infinity, value));
        continue;
      }
      const alert = labels.alertname as AlertName;
      const phase = labels.phase as Phase['name'];
      if (!ALERT_NAMES.includes(alert) || phase === undefined) throw new Error(`unexpected probe sample ${match[0]}`);
      const key = `${alert}/${phase}`;
      const entry = byKey.get(key) ?? { alert, phase };
      // An alert can fire for two label sets (two targets): keep the earliest first firing and sum the rest.
      if (kind === 'first') entry.first = Math.min(entry.first ?? Infinity, value / 60);
      else if (kind === 'firings') entry.firings = (entry.firings ?? 0) + value;
      else entry.minutes = (entry.minutes ?? 0) + value;
      byKey.set(key, entry);
    }
  }
  const activity = [...byKey.values()].map((e) => ({
    alert: e.alert,
    phase: e.phase,
    firstFiring: e.first ?? NaN,
    firings: e.firings ?? 0,
    firingEvaluations: e.minutes ?? 0,
  }));
  return { activity, headroom };
}

export interface ScenarioVerdict {
  readonly scenario: string;
  /** Per must-fire alert: minutes from the anomaly's start to its first firing (undefined: never). */
  readonly detection: ReadonlyMap<AlertName, number | undefined>;
  /** Firings that the table does not allow. */
  readonly falseAlerts: readonly AlertActivity[];
  /** Firings the table allows but does not require. */
  readonly alsoFired: readonly AlertActivity[];
  readonly ok: boolean;
}

/** Compares a scenario's measured activity with its table row. */
export function judgeScenario(scenario: Scenario, activity: readonly AlertActivity[]): ScenarioVerdict {
  const anomaly = scenario.anomaly;
  const detection = new Map<AlertName, number | undefined>();
  const falseAlerts: AlertActivity[] = [];
  const alsoFired: AlertActivity[] = [];
  for (const a of activity) {
    if (a.phase !== 'during' || anomaly === undefined) falseAlerts.push(a);
    else if (anomaly.mustFire.includes(a.alert)) detection.set(a.alert, scenario.from + a.firstFiring - anomaly.start);
    else if (anomaly.mayFire.includes(a.alert)) alsoFired.push(a);
    else falseAlerts.push(a);
  }
  for (const alert of anomaly?.mustFire ?? []) if (!detection.has(alert)) detection.set(alert, undefined);
  const detected = [...detection.values()].every((d) => d !== undefined && d <= DETECTION_LIMIT_MINUTES);
  return { scenario: scenario.name, detection, falseAlerts, alsoFired, ok: detected && falseAlerts.length === 0 };
}

function formatActivity(scenario: Scenario, a: AlertActivity): string {
  const clock = scenario.from + a.firstFiring;
  const day = Math.floor(clock / 1440);
  const time = `${String(Math.floor((clock % 1440) / 60)).padStart(2, '0')}:${String(clock % 60).padStart(2, '0')}`;
  const when = scenario.to - scenario.from > 1440 ? `day ${day + 1} ${time}` : time;
  return `${a.alert} (from ${when}, ${a.firingEvaluations * scenario.step} min)`;
}

/** The scenario table of dashboards/README.md, from measured verdicts. */
export function renderScenarioTable(rows: readonly { scenario: Scenario; verdict: ScenarioVerdict; activity: readonly AlertActivity[] }[]): string {
  const lines = [
    '| scenario | what happens | must fire | detection delay | also fired (allowed) | false alerts |',
    '|---|---|---|---|---|---|',
  ];
  for (const { scenario, verdict } of rows) {
    const anomaly = scenario.anomaly;
    const must = anomaly?.mustFire.join(', ') || 'nothing';
    const delays = [...verdict.detection.entries()].map(([alert, delay]) => {
      if (delay === undefined) return `${alert}: not detected`;
      const onset = anomaly?.onset === undefined ? '' : ` (${delay + anomaly.start - anomaly.onset} min after the ramp began)`;
      return `${delay} min${onset}`;
    });
    const also = verdict.alsoFired.map((a) => formatActivity(scenario, a)).join('; ') || '-';
    const falseAlerts = verdict.falseAlerts.map((a) => formatActivity(scenario, a)).join('; ') || '0';
    lines.push(`| \`${scenario.name}\` | ${scenario.description} | ${must} | ${delays.join('; ') || '-'} | ${also} | ${falseAlerts} |`);
  }
  return lines.join('\n') + '\n';
}

function formatSignal(unit: 'share' | 'times', value: number): string {
  return unit === 'share' ? `${Math.round(value * 10000) / 100} %` : `${Math.round(value * 100) / 100}×`;
}

/** How close the scenarios without an anomaly came to each threshold. */
export function renderHeadroomTable(rows: readonly { scenario: Scenario; headroom: ReadonlyMap<number, number> }[]): string {
  const lines = [
    `| scenario | ${HEADROOM_SIGNALS.map((s) => `${s.name}: threshold ${formatSignal(s.unit, s.threshold)}`).join(' | ')} |`,
    `|---|${HEADROOM_SIGNALS.map(() => '---').join('|')}|`,
  ];
  for (const { scenario, headroom } of rows) {
    const cells = HEADROOM_SIGNALS.map((signal, index) => {
      const value = headroom.get(index);
      return value === undefined ? 'never (guard not met)' : `max ${formatSignal(signal.unit, value)}`;
    });
    lines.push(`| \`${scenario.name}\` | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
