/**
 * Turns a Scenario into one `promtool test rules` file and reads the result.
 * The file holds two kinds of PromQL checks over the ALERTS series that the
 * rule evaluation writes:
 *
 * - requirements state the scenario table: nothing fires before the anomaly,
 *   each expected alert fires within its detection limit, nothing else fires
 *   during it, nothing fires after it. promtool passes them silently; one
 *   that fails is in its report.
 * - probes ask for the first firing minute, the number of firings and the
 *   firing minutes of every alert in each phase, and for the largest value of
 *   each headroom signal. They expect nothing, so promtool reports what it
 *   got, and parseProbeOutput() reads the measurements from that report.
 *
 * One run per scenario: the rule evaluation, which is most of promtool's
 * time, is shared by both.
 */
import YAML from 'yaml';
import { metricNames } from '../../src/codes/vocabulary.js';
import { ALERT_CONFIG } from './config.js';
import { buildPack, type RulePack } from './rule-files.js';
import { baselineHistory, durationSeconds, historyOf, RECORD } from './rules.js';
import { buildInputSeries, createRandom } from './scenario-series.js';
import { detectionLimitOf, packsOf, RESOLVE_GRACE_MINUTES, SCENARIO_ALERTS, type Scenario, type ScenarioAlert } from './scenarios.js';
import { SLO_RECORD, sloGuard } from './slo.js';

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
export interface HeadroomSignal {
  readonly name: string;
  readonly expr: string;
  readonly threshold: number;
  readonly unit: 'share' | 'times';
  readonly pack: RulePack;
}

export const HEADROOM_SIGNALS: readonly HeadroomSignal[] = (() => {
  const windowSeconds = durationSeconds(ALERT_CONFIG.rateWindow);
  const spike = ALERT_CONFIG.abnormalSpike;
  const internal = ALERT_CONFIG.internalErrors;
  const internalRate = `sum by (cluster, job) (${RECORD.codeRate}{code=~"${internal.codes.join('|')}"})`;
  const storm = ALERT_CONFIG.reconnectStorm;
  const life = ALERT_CONFIG.fixedLifetime;
  const lost = ALERT_CONFIG.closeFramesLost;
  return [
    {
      name: 'abnormal share (WebSocketAbnormalClosuresHigh)',
      expr: `${RECORD.abnormalRatio} and on (cluster, job) ${RECORD.closeRate} * ${windowSeconds} >= ${ALERT_CONFIG.abnormalShare.minClosesInWindow}`,
      threshold: ALERT_CONFIG.abnormalShare.threshold,
      unit: 'share',
      pack: 'thresholds',
    },
    {
      name: '1006 rate / baseline (WebSocketAbnormalClosureSpike)',
      expr:
        `${RECORD.abnormalRate} / on (cluster, job) clamp_min(${RECORD.abnormalBaseline}, ${spike.baselineFloorPerHour} / 3600) ` +
        `and on (cluster, job) ${RECORD.abnormalRate} * ${windowSeconds} >= ${spike.minAbnormalInWindow} ` +
        `and on (cluster, job) ${RECORD.closeRate} offset ${baselineHistory(ALERT_CONFIG)}`,
      threshold: spike.factor,
      unit: 'times',
      pack: 'thresholds',
    },
    {
      name: '1011 share (WebSocketInternalErrorClosures)',
      expr: `${internalRate} / on (cluster, job) (${RECORD.closeRate} > 0) and on (cluster, job) ${internalRate} * ${windowSeconds} >= ${internal.minCount}`,
      threshold: internal.minShare,
      unit: 'share',
      pack: 'thresholds',
    },
    {
      name: 'upgrade failure ratio (WebSocketUpgradeFailuresHigh)',
      expr:
        `${RECORD.upgradeFailureRatio} and on (cluster, job) sum by (cluster, job) (increase(${metricNames(ALERT_CONFIG.prefix).upgradeFailuresTotal}` +
        `{reason=~"${ALERT_CONFIG.upgradeFailures.reasons.join('|')}"}[${ALERT_CONFIG.rateWindow}])) >= ${ALERT_CONFIG.upgradeFailures.minCount}`,
      threshold: ALERT_CONFIG.upgradeFailures.threshold,
      unit: 'share',
      pack: 'thresholds',
    },
    {
      name: 'reconnects / baseline (WebSocketReconnectStorm, before its abnormal-wave condition)',
      expr:
        `${RECORD.reconnectRate} / on (cluster, job) clamp_min(${RECORD.reconnectBaseline}, ${storm.baselineFloorPerHour} / 3600) ` +
        `and on (cluster, job) ${RECORD.reconnectRate} * ${windowSeconds} >= ${storm.minReconnectsInWindow} ` +
        `and on (cluster, job) ${RECORD.closeRate} offset ${historyOf(ALERT_CONFIG, storm)}`,
      threshold: storm.factor,
      unit: 'times',
      pack: 'thresholds',
    },
    {
      name: 'largest lifetime bucket share (WebSocketClosesAtFixedLifetime, before its baseline condition)',
      expr:
        `${RECORD.lifetimeShare} and on (cluster, job, le) ${RECORD.lifetimeShare} * ignoring (le) group_left () ${RECORD.durationBucketRate}{le="+Inf"} * ${windowSeconds} >= ${life.minClosesInWindow} ` +
        `and on (cluster, job) ${RECORD.closeRate} offset ${historyOf(ALERT_CONFIG, life)}`,
      threshold: life.minShare,
      unit: 'share',
      pack: 'thresholds',
    },
    {
      name: 'lost close-frame share (WebSocketCloseFramesLost)',
      expr:
        `${RECORD.framesLostRatio} and on (cluster, job) ${RECORD.framesLostRate} * ${windowSeconds} >= ${lost.minLostInWindow} ` +
        `and on (cluster, job) ${RECORD.clientReportRate} offset ${historyOf(ALERT_CONFIG, lost)}`,
      threshold: lost.minShare,
      unit: 'share',
      pack: 'thresholds',
    },
    // The SLO: the burn rate of each alert's long window (its short window
    // must burn as fast as well), with the volume guard applied.
    ...ALERT_CONFIG.slo.windows.map((w): HeadroomSignal => ({
      name: `${w.longWindow} burn rate (SLO ${w.action}, ${w.longWindow}/${w.shortWindow})`,
      expr: `${SLO_RECORD.badRatio(w.longWindow)} / (1 - scalar(${SLO_RECORD.objective})) ` + `and on (cluster, job) ${sloGuard(ALERT_CONFIG, w)}`,
      threshold: w.burnRate,
      unit: 'times',
      pack: 'slo',
    })),
  ];
})();

const headroomRecord = (index: number): string => `scenario:headroom_${index}`;

/**
 * The headroom signals of one pack as recording rules, evaluated after the
 * pack's own group: the probe then reads a recorded series instead of
 * running a subquery over the whole scenario.
 */
export function renderHeadroomRules(pack: RulePack): string {
  const rules = HEADROOM_SIGNALS.flatMap((signal, index) => (signal.pack === pack ? [{ record: headroomRecord(index), expr: signal.expr }] : []));
  return YAML.stringify({ groups: [{ name: `scenario-headroom-${pack}`, rules }] }, { lineWidth: 0 });
}

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

/** Rule files a scenario's promtool file loads: each pack's file, and the headroom rules of each pack. */
export type ScenarioRuleFiles = Readonly<Record<RulePack, { readonly rules: string; readonly headroom: string }>>;

export interface ScenarioFile {
  /** The promtool test file. */
  readonly text: string;
  /** The requirement expressions in it; any that promtool reports has failed. */
  readonly requirements: ReadonlySet<string>;
}

export function renderScenarioFile(scenario: Scenario, files: ScenarioRuleFiles): ScenarioFile {
  const series = buildInputSeries(scenario.targets, scenario, scenario.traffic, createRandom(scenario.seed), createRandom(scenario.seed ^ 0x2ec0));
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
    requirements.push(quiet(allowed.length === 0 ? FIRING : firing(`,alertname!~"${allowed.join('|')}"`), phase));
    for (const alert of anomaly.mustFire) {
      const deadline = Math.min(anomaly.start + detectionLimitOf(anomaly) + 1, scenario.to);
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
  const packs = packsOf(scenario);
  const withHeadroom = anomaly === undefined;
  if (withHeadroom) {
    const w = window(scenario, scenario.from, scenario.to);
    HEADROOM_SIGNALS.forEach((signal, index) => {
      if (!packs.includes(signal.pack)) return;
      probes.push({
        expr: `label_replace(max_over_time(${headroomRecord(index)}[${w.range}] @ ${w.at}), "signal", "${index}", "", "")`,
        eval_time: evalTime,
        exp_samples: [],
      });
    });
  }
  const ruleFiles = packs.flatMap((pack) => [files[pack].rules, ...(withHeadroom ? [files[pack].headroom] : [])]);
  // Each pack's records first, then the headroom rules that read them.
  const order = [
    ...packs.flatMap((pack) => buildPack(pack).map((group) => group.name)),
    ...(withHeadroom ? packs.map((pack) => `scenario-headroom-${pack}`) : []),
  ];
  const interval = `${scenario.step}m`;
  const doc = {
    rule_files: ruleFiles,
    evaluation_interval: interval,
    group_eval_order: order,
    tests: [{ name: scenario.name, interval, input_series: series, promql_expr_test: [...requirements, ...probes] }],
  };
  const text = `# Scenario ${scenario.name}: ${scenario.description}\n# Generated by scripts/alerts/scenario-tests.ts; do not edit.\n${YAML.stringify(doc, { lineWidth: 0 })}`;
  return { text, requirements: new Set(requirements.map((r) => r.expr)) };
}

/** What one alert did in one phase of a scenario. */
export interface AlertActivity {
  readonly alert: ScenarioAlert;
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
  /** promtool's report of each requirement that failed. */
  readonly failedRequirements: string[];
  readonly activity: AlertActivity[];
  /** Per HEADROOM_SIGNALS index: the largest value seen (absent: the signal never had a value). */
  readonly headroom: ReadonlyMap<number, number>;
}

/**
 * Reads promtool's report of a scenario file. Checks that hold print
 * nothing; every other one prints `got: {labels} value, ...`.
 */
export function parseProbeOutput(output: string, requirements: ReadonlySet<string> = new Set()): ProbeResults {
  const byKey = new Map<string, { alert: ScenarioAlert; phase: Phase['name']; first?: number; firings?: number; minutes?: number }>();
  const headroom = new Map<number, number>();
  const failedRequirements: string[] = [];
  const blocks = output.split(/^\s*expr: /m).slice(1);
  for (const block of blocks) {
    const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(block);
    const gotLine = /^\s*got: (.*)$/m.exec(block);
    if (!quoted || !gotLine) throw new Error(`unexpected promtool report:\n${block}`);
    const expr = JSON.parse(`"${quoted[1]}"`) as string;
    if (requirements.has(expr)) {
      failedRequirements.push(`expr: ${block.trim()}`);
      continue;
    }
    const kind = expr.includes('min_over_time(timestamp') ? 'first' : expr.includes(' unless ') ? 'firings' : 'minutes';
    for (const match of (gotLine[1] as string).matchAll(GOT_SAMPLE)) {
      const labels = Object.fromEntries([...(match[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]));
      const value = Number(match[2]);
      if (labels.signal !== undefined) {
        const index = Number(labels.signal);
        headroom.set(index, Math.max(headroom.get(index) ?? -Infinity, value));
        continue;
      }
      const alert = labels.alertname as ScenarioAlert;
      const phase = labels.phase as Phase['name'];
      if (!SCENARIO_ALERTS.includes(alert) || phase === undefined) throw new Error(`unexpected probe sample ${match[0]}`);
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
  return { failedRequirements, activity, headroom };
}

export interface ScenarioVerdict {
  readonly scenario: string;
  /** Per must-fire alert: minutes from the anomaly's start to its first firing (undefined: never). */
  readonly detection: ReadonlyMap<ScenarioAlert, number | undefined>;
  /** Firings that the table does not allow. */
  readonly falseAlerts: readonly AlertActivity[];
  /** Firings the table allows but does not require. */
  readonly alsoFired: readonly AlertActivity[];
  readonly ok: boolean;
}

/** Compares a scenario's measured activity with its table row. */
export function judgeScenario(scenario: Scenario, activity: readonly AlertActivity[]): ScenarioVerdict {
  const anomaly = scenario.anomaly;
  const detection = new Map<ScenarioAlert, number | undefined>();
  const falseAlerts: AlertActivity[] = [];
  const alsoFired: AlertActivity[] = [];
  for (const a of activity) {
    if (a.phase !== 'during' || anomaly === undefined) falseAlerts.push(a);
    else if (anomaly.mustFire.includes(a.alert)) detection.set(a.alert, scenario.from + a.firstFiring - anomaly.start);
    else if (anomaly.mayFire.includes(a.alert)) alsoFired.push(a);
    else falseAlerts.push(a);
  }
  for (const alert of anomaly?.mustFire ?? []) if (!detection.has(alert)) detection.set(alert, undefined);
  const limit = anomaly === undefined ? 0 : detectionLimitOf(anomaly);
  const detected = [...detection.values()].every((d) => d !== undefined && d <= limit);
  return { scenario: scenario.name, detection, falseAlerts, alsoFired, ok: detected && falseAlerts.length === 0 };
}

function formatActivity(scenario: Scenario, a: AlertActivity): string {
  const clock = scenario.from + a.firstFiring;
  const day = Math.floor(clock / 1440);
  const time = `${String(Math.floor((clock % 1440) / 60)).padStart(2, '0')}:${String(clock % 60).padStart(2, '0')}`;
  const when = scenario.to - scenario.from > 1440 ? `day ${day + 1} ${time}` : time;
  return `${a.alert} (from ${when}, ${formatMinutes(a.firingEvaluations * scenario.step)})`;
}

/** The scenario table of dashboards/README.md, from measured verdicts. */
export function renderScenarioTable(rows: readonly { scenario: Scenario; verdict: ScenarioVerdict; activity: readonly AlertActivity[] }[]): string {
  const lines = ['| scenario | what happens | must fire | detection delay | also fired (allowed) | false alerts |', '|---|---|---|---|---|---|'];
  for (const { scenario, verdict } of rows) {
    const anomaly = scenario.anomaly;
    const must = anomaly?.mustFire.join(', ') || 'nothing';
    const delays = [...verdict.detection.entries()].map(([alert, delay]) => {
      if (delay === undefined) return `${alert}: not detected`;
      const onset = anomaly?.onset === undefined ? '' : ` (${formatMinutes(delay + anomaly.start - anomaly.onset)} after the ramp began)`;
      const which = verdict.detection.size > 1 ? `${alert}: ` : '';
      return `${which}${formatMinutes(delay)}${onset}`;
    });
    const also = verdict.alsoFired.map((a) => formatActivity(scenario, a)).join('; ') || '-';
    const falseAlerts = verdict.falseAlerts.map((a) => formatActivity(scenario, a)).join('; ') || '0';
    lines.push(`| \`${scenario.name}\` | ${scenario.description} | ${must} | ${delays.join('; ') || '-'} | ${also} | ${falseAlerts} |`);
  }
  return lines.join('\n') + '\n';
}

/** Minutes as the table shows them: `12 min`, or `54 h 10 min` past two hours. */
export function formatMinutes(minutes: number): string {
  if (minutes < 120) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h${minutes % 60 === 0 ? '' : ` ${minutes % 60} min`}`;
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
      if (!packsOf(scenario).includes(signal.pack)) return 'not evaluated';
      const value = headroom.get(index);
      return value === undefined ? 'never (guard not met)' : `max ${formatSignal(signal.unit, value)}`;
    });
    lines.push(`| \`${scenario.name}\` | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
