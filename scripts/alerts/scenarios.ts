/**
 * Named alert-quality scenarios: synthetic traffic of one WebSocket service
 * and the table of what must fire when. scenario-tests.ts turns each into a
 * `promtool test rules` file; test/alerts-scenarios.test.ts runs them.
 *
 * Times are minutes after a Monday 00:00 (the "clock"); load follows
 * diurnalFactor() (low at 04:00, peak at 16:00, quieter weekends). A scenario
 * covers the clock window [from, to) with one sample and one rule evaluation
 * every `step` minutes.
 */
import { classify } from '../../src/codes/close-codes.js';
import { DURATION_BUCKETS_SECONDS, type UpgradeFailureReason } from '../../src/codes/vocabulary.js';
import { ALERT_CONFIG } from './config.js';
import type { RulePack } from './rule-files.js';
import { ALERT, ALERT_NAMES, type AlertName } from './rules.js';
import { SLO_ALERT, SLO_ALERT_NAMES, type SloAlertName } from './slo.js';
import { createRandom, diurnalFactor, MINUTES_PER_DAY, reportKey, type MinuteTraffic, type Target } from './scenario-series.js';

/** Every injected anomaly must fire its alert within this many minutes of its start, unless it sets its own limit. */
export const DETECTION_LIMIT_MINUTES = 15;

/** An alert of either rule pack. */
export type ScenarioAlert = AlertName | SloAlertName;
export const SCENARIO_ALERTS: readonly ScenarioAlert[] = [...ALERT_NAMES, ...SLO_ALERT_NAMES];
/** After an anomaly ends, alerts may take this long to resolve before a firing counts as false. */
export const RESOLVE_GRACE_MINUTES = 20;

export interface Anomaly {
  /** First minute of the anomaly (for a ramp: the minute it crosses the alert's threshold), on the clock. */
  readonly start: number;
  /** First minute after it. */
  readonly end: number;
  /** Must fire within `detectionLimit` (default DETECTION_LIMIT_MINUTES) of `start`. */
  readonly mustFire: readonly ScenarioAlert[];
  /** May also fire between `start` and `end` + RESOLVE_GRACE_MINUTES (same cause, another angle). */
  readonly mayFire: readonly ScenarioAlert[];
  readonly detectionLimit?: number;
  /** Where the injected change itself begins, when earlier than `start` (slow ramp). */
  readonly onset?: number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Clock window of the scenario. */
  readonly from: number;
  readonly to: number;
  /** Minutes between samples and between rule evaluations. */
  readonly step: number;
  readonly seed: number;
  readonly targets: readonly Target[];
  readonly traffic: (target: Target, minute: number) => MinuteTraffic | undefined;
  /** None: nothing may fire at all. */
  readonly anomaly?: Anomaly;
  /** The rule files evaluated (default: the threshold pack); nothing of the others is judged. */
  readonly packs?: readonly RulePack[];
}

export const packsOf = (scenario: Scenario): readonly RulePack[] => scenario.packs ?? ['thresholds'];
export const detectionLimitOf = (anomaly: Anomaly): number => anomaly.detectionLimit ?? DETECTION_LIMIT_MINUTES;

const JOB = 'chat-gateway';
const GATEWAY: Target = { job: JOB, instance: '10.0.0.11:9464' };

/** Mean closes per second of the whole service at relative load 1. */
const MEAN_CLOSES_PER_SECOND = 5;

/** Normal mix of close codes apart from 1006; the rest of the closes are 1000. */
const BACKGROUND_SHARES: ReadonlyMap<number, number> = new Map([
  [1001, 0.24], // tab closed, page navigated away
  [4000, 0.1], // application logout / session end
  [1008, 0.001],
  [1011, 0.0005], // a rare server exception
  [1002, 0.0002],
  [1009, 0.0002],
]);

/** Share of 1006 in normal operation: wanders between 1 % and 3 % over days. */
function normalAbnormalShare(minute: number): number {
  return 0.02 + 0.01 * Math.sin((2 * Math.PI * minute) / (MINUTES_PER_DAY * 2.3));
}

/**
 * Share of closes that are 1006 with the server side ending first (a crashed
 * or killed upstream): rare in normal operation. The other 1006 closes are
 * the client's (dropped networks).
 */
const SERVER_ABNORMAL_SHARE = 0.001;

interface TrafficOptions {
  /** Relative load, default diurnalFactor(minute). */
  readonly load?: number;
  /** Mean closes per second at relative load 1, default MEAN_CLOSES_PER_SECOND. */
  readonly closesPerSecond?: number;
  /** Share of client-side 1006 among closes, default normalAbnormalShare(minute). */
  readonly abnormalShare?: number;
  /** Share of server-side 1006 among closes, default SERVER_ABNORMAL_SHARE. */
  readonly serverAbnormalShare?: number;
  /** Extra close codes and their share of closes (taken from 1000). */
  readonly extraShares?: ReadonlyMap<number, number>;
  /** Closes per second added on top, per code. */
  readonly extraCloses?: ReadonlyMap<number, number>;
  /** Opens per second instead of matching the close rate. */
  readonly opened?: number;
  readonly upgradeFailures?: ReadonlyMap<UpgradeFailureReason, number>;
  readonly initiators?: MinuteTraffic['initiators'];
  /** Reconnects per second added on top, per previous codename. */
  readonly extraReconnects?: ReadonlyMap<string, number>;
  /** Closes per second added on top of the normal lifetimes, per duration bucket (upper bound). */
  readonly extraLifetimes?: ReadonlyMap<number, number>;
  /** Share of client reports whose close frame was lost in between, default LOST_FRAME_SHARE. */
  readonly lostFrameShare?: number;
}

/**
 * Share of closes followed by a reconnect of the same client within the
 * window, by how the previous connection ended (the rest are not counted).
 */
const RECONNECT_SHARES: ReadonlyMap<number, number> = new Map([
  [1006, 0.8], // a dropped network comes back
  [1001, 0.5], // a reload
  [1000, 0.1],
]);

/**
 * Connection lifetimes: log-normal, median 2 minutes, σ = 1.5 (in ln s),
 * as the buckets of the duration histogram from 10 s up.
 */
const LIFETIME_MEDIAN_SECONDS = 120;
const LIFETIME_SIGMA = 1.5;
const LIFETIME_BOUNDS: readonly number[] = [...DURATION_BUCKETS_SECONDS.filter((b) => b >= ALERT_CONFIG.fixedLifetime.minLowerBoundSeconds), Infinity];

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 for erf, error < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

const lifetimeCdf = (seconds: number): number =>
  seconds === Infinity ? 1 : normalCdf((Math.log(seconds) - Math.log(LIFETIME_MEDIAN_SECONDS)) / LIFETIME_SIGMA);

/** Share of closes per bucket (upper bound); the first holds everything up to it. */
const LIFETIME_SHARES: ReadonlyMap<number, number> = new Map(LIFETIME_BOUNDS.map((upper, i) => [upper, lifetimeCdf(upper) - (i === 0 ? 0 : lifetimeCdf(LIFETIME_BOUNDS[i - 1] as number))]));

/** Share of closes that browsers report (ws-close-agent/browser on the page). */
const REPORTED_SHARE = 0.6;
/** Share of client reports where the server sent a code and the browser saw 1006, in normal operation (mobile networks). */
const LOST_FRAME_SHARE = 0.003;

/** A slow random wobble of the load (mean-reverting, about ±10 %), one per scenario. */
function createWobble(seed: number): (minute: number) => number {
  const random = createRandom(seed ^ 0x5eed);
  const values: number[] = [];
  let x = 0;
  return (minute) => {
    while (values.length <= minute) {
      x = 0.97 * x + 0.025 * (random() - 0.5);
      values.push(Math.exp(x));
    }
    return values[minute] as number;
  };
}

function serviceTraffic(minute: number, wobble: (minute: number) => number, options: TrafficOptions = {}): MinuteTraffic {
  const closeRate = (options.closesPerSecond ?? MEAN_CLOSES_PER_SECOND) * (options.load ?? diurnalFactor(minute)) * wobble(minute);
  const abnormal = options.abnormalShare ?? normalAbnormalShare(minute);
  const serverAbnormal = options.serverAbnormalShare ?? SERVER_ABNORMAL_SHARE;
  const closes = new Map<number, number>();
  let rest = 1 - abnormal - serverAbnormal;
  // Every close abnormal: nothing else is left.
  const others = rest <= 0 ? [] : [...BACKGROUND_SHARES, ...(options.extraShares ?? [])];
  for (const [code, share] of others) {
    closes.set(code, (closes.get(code) ?? 0) + closeRate * share);
    rest -= share;
  }
  closes.set(1006, closeRate * abnormal);
  closes.set(1000, closeRate * Math.max(rest, 0));
  // Clients come back after the normal closes; a scenario adds the reconnects its extra closes cause, if any can.
  const reconnects = new Map<string, number>();
  for (const [code, share] of RECONNECT_SHARES) reconnects.set(classify(code).codename, (closes.get(code) ?? 0) * share);
  for (const [code, rate] of options.extraCloses ?? []) closes.set(code, (closes.get(code) ?? 0) + rate);
  const opened = options.opened ?? closeRate * 1.001;
  if (serverAbnormal > 0) reconnects.set('CLOSE_ABNORMAL', (reconnects.get('CLOSE_ABNORMAL') ?? 0) + closeRate * serverAbnormal * 0.8);
  for (const [codename, rate] of options.extraReconnects ?? []) reconnects.set(codename, (reconnects.get(codename) ?? 0) + rate);
  let allCloses = closeRate * serverAbnormal;
  for (const rate of closes.values()) allCloses += rate;
  const lifetimes = new Map<number, number>();
  for (const [upper, share] of LIFETIME_SHARES) lifetimes.set(upper, allCloses * share + (options.extraLifetimes?.get(upper) ?? 0));
  const reported = closeRate * REPORTED_SHARE;
  const lost = reported * (options.lostFrameShare ?? LOST_FRAME_SHARE);
  const reportedAbnormal = closeRate * (abnormal + serverAbnormal) * REPORTED_SHARE;
  const reportedClean = Math.max(0, reported - reportedAbnormal - lost);
  return {
    reconnects,
    lifetimes,
    clientReports: {
      closes: new Map([
        [reportKey(1000, true), reportedClean * 0.75],
        [reportKey(1001, true), reportedClean * 0.25],
        [reportKey(1006, false), reportedAbnormal + lost],
      ]),
      lost,
    },
    up: true,
    closes,
    serverAbnormal: closeRate * serverAbnormal,
    opened,
    initiators: options.initiators,
    upgradeFailures:
      options.upgradeFailures ??
      new Map<UpgradeFailureReason, number>([
        ['client_aborted', opened * 0.002],
        ['upstream_timeout', opened * 0.0005],
      ]),
  };
}

/** A scenario on the single gateway target with the normal traffic, changed by `change` where it returns options. */
function gatewayScenario(
  fields: Omit<Scenario, 'targets' | 'traffic' | 'step'> & { step?: number },
  change: (minute: number) => TrafficOptions | 'down' | 'absent' | undefined = () => undefined,
): Scenario {
  const wobble = createWobble(fields.seed);
  return {
    step: 1,
    ...fields,
    targets: [GATEWAY],
    traffic: (_target, minute) => {
      const options = change(minute);
      if (options === 'down') return { up: false, closes: new Map(), opened: 0 };
      if (options === 'absent') return undefined;
      return serviceTraffic(minute, wobble, options);
    },
  };
}

const at = (hours: number, minutes = 0): number => hours * 60 + minutes;
const inWindow = (minute: number, start: number, end: number): boolean => minute >= start && minute < end;
const codes = (entries: readonly [number, number][]): ReadonlyMap<number, number> => new Map(entries);

// Slow ramp: 1006 share from 2 % to 30 % over four hours from 08:00.
const RAMP_START = at(8);
const RAMP_MINUTES = 240;
const RAMP_FROM = 0.02;
const RAMP_TO = 0.3;
const rampShare = (minute: number): number => RAMP_FROM + ((RAMP_TO - RAMP_FROM) * (minute - RAMP_START)) / RAMP_MINUTES;
const RAMP_CROSSES = RAMP_START + Math.ceil(((ALERT_CONFIG.abnormalShare.threshold - RAMP_FROM) / (RAMP_TO - RAMP_FROM)) * RAMP_MINUTES);

// Rolling deploy: two old instances drain one after the other; new ones take over.
const DEPLOY_AT = at(12);
const OLD_A: Target = { job: JOB, instance: '10.0.0.11:9464' };
const OLD_B: Target = { job: JOB, instance: '10.0.0.12:9464' };
const NEW_A: Target = { job: JOB, instance: '10.0.0.21:9464' };
const NEW_B: Target = { job: JOB, instance: '10.0.0.22:9464' };
/** Connections held by one instance at the time of the deploy. */
const CONNECTIONS_PER_INSTANCE = 6000;

function deployScenario(): Scenario {
  const wobble = createWobble(606);
  const drainStart = new Map([
    [OLD_A.instance, DEPLOY_AT],
    [OLD_B.instance, DEPLOY_AT + 6],
  ]);
  const replaces = new Map([
    [NEW_A.instance, OLD_A.instance],
    [NEW_B.instance, OLD_B.instance],
  ]);
  return {
    name: 'deploy',
    description:
      'rolling deploy at 12:00: each old instance drains its 6000 connections within 2 minutes (1001 from the agent, 1012 from the server), ' +
      'disappears from discovery, and a new instance takes the reconnects',
    from: DEPLOY_AT - 90,
    to: DEPLOY_AT + 150,
    step: 1,
    seed: 606,
    targets: [OLD_A, OLD_B, NEW_A, NEW_B],
    traffic: (target, minute) => {
      const ownDrain = drainStart.get(target.instance);
      const replaced = replaces.get(target.instance);
      const replacedDrain = replaced === undefined ? undefined : (drainStart.get(replaced) as number);
      const half = { load: diurnalFactor(minute) / 2 };
      if (ownDrain !== undefined) {
        if (minute < ownDrain) return serviceTraffic(minute, wobble, half);
        if (minute < ownDrain + 2) {
          // Half the connections get 1001 Going Away from the agent, half 1012 from the server.
          const drainRate = CONNECTIONS_PER_INSTANCE / 2 / 120;
          return serviceTraffic(minute, wobble, {
            ...half,
            opened: 0,
            extraCloses: codes([
              [1001, drainRate],
              [1012, drainRate],
            ]),
            initiators: new Map([[1001, 'agent' as const]]),
          });
        }
        return undefined;
      }
      if (replacedDrain === undefined || minute < replacedDrain + 1) return undefined;
      // The new instance: clients reconnect over ~3 minutes, then normal traffic.
      const reconnecting = minute < replacedDrain + 4 ? CONNECTIONS_PER_INSTANCE / 180 : 0;
      const normal = serviceTraffic(minute, wobble, half);
      return { ...normal, opened: normal.opened + reconnecting };
    },
  };
}

/** The SLO's error budget: the share of closes that may be bad. */
const BUDGET = 1 - ALERT_CONFIG.slo.objective;

/** A gateway scenario of the SLO pack: the server-side 1006 share is `burn` times the budget where `burning` says so. */
function sloScenario(
  fields: Omit<Scenario, 'targets' | 'traffic' | 'step' | 'packs'> & { step?: number },
  burning: (minute: number) => number | undefined,
): Scenario {
  return {
    ...gatewayScenario(fields, (minute) => {
      const burn = burning(minute);
      return burn === undefined ? undefined : { serverAbnormalShare: Math.min(1, burn * BUDGET), abnormalShare: burn * BUDGET >= 1 ? 0 : undefined };
    }),
    packs: ['slo'],
  };
}

const SLO_SCENARIOS: readonly Scenario[] = [
  sloScenario(
    {
      name: 'slo-full-outage',
      description: 'full outage at 10:00 for 30 minutes, after 6 hours of normal traffic: every close is a 1006 ended by the server side',
      from: at(4),
      to: at(10, 30),
      seed: 1301,
      anomaly: {
        start: at(10),
        end: at(10, 30),
        mustFire: [SLO_ALERT.pageFast],
        mayFire: [SLO_ALERT.pageSlow, SLO_ALERT.ticket],
        detectionLimit: 10,
      },
    },
    (minute) => (minute >= at(10) ? 1 / BUDGET : undefined),
  ),
  sloScenario(
    {
      name: 'slo-burn-18x',
      description: `server-side 1006 at 18 times the error budget (${Math.round(18 * BUDGET * 1000) / 10} % of closes) from 10:00 for 90 minutes, after 6 hours of normal traffic`,
      from: at(4),
      to: at(11, 30),
      seed: 1302,
      anomaly: {
        start: at(10),
        end: at(11, 30),
        mustFire: [SLO_ALERT.pageFast],
        mayFire: [SLO_ALERT.ticket],
        detectionLimit: 60,
      },
    },
    (minute) => (minute >= at(10) ? 18 : undefined),
  ),
  sloScenario(
    {
      name: 'slo-slow-burn-1.25x',
      description:
        `server-side 1006 at 1.25 times the error budget (${Math.round(1.25 * BUDGET * 10000) / 100} % of closes) for three days, ` +
        'after a normal day: a ticket, never a page',
      from: 0,
      to: 4 * MINUTES_PER_DAY,
      // Two-minute steps, as for the week; the 5m window still holds 2-3 samples.
      step: 2,
      seed: 1303,
      anomaly: { start: MINUTES_PER_DAY, end: 4 * MINUTES_PER_DAY, mustFire: [SLO_ALERT.ticket], mayFire: [], detectionLimit: 3 * MINUTES_PER_DAY },
    },
    (minute) => (minute >= MINUTES_PER_DAY ? 1.25 : undefined),
  ),
  {
    name: 'slo-low-traffic',
    description: 'a low-traffic service (a close every two hours) with a handful of server-side 1006 (about 5 within 5 minutes) at 06:00: nothing may page',
    from: 0,
    to: at(12),
    step: 1,
    seed: 1304,
    targets: [{ job: 'admin-socket', instance: '10.0.1.5:9464' }],
    traffic: (_target, minute) => ({
      up: true,
      closes: codes([[1000, 1 / 7200]]),
      serverAbnormal: inWindow(minute, at(6), at(6, 5)) ? 5 / 300 : 0,
      opened: 1 / 7200,
    }),
    packs: ['slo'],
  },
];

export const SCENARIOS: readonly Scenario[] = [
  gatewayScenario({
    name: 'baseline-week',
    description: 'seven days of diurnal traffic (0.3-1.6 × 5 closes/s, quieter weekend), Poisson noise, 1006 share wandering between 1 % and 3 %',
    from: 0,
    to: 7 * MINUTES_PER_DAY,
    // Two-minute steps: a week at one minute takes promtool ~20 s; the rate
    // windows still hold 2-3 samples, which makes the noise worse, not better.
    step: 2,
    seed: 101,
  }),
  gatewayScenario(
    {
      name: 'abnormal-share-jump',
      description: '1006 share jumps to 25 % at 10:00 for 30 minutes',
      from: at(8),
      to: at(12),
      seed: 202,
      anomaly: { start: at(10), end: at(10, 30), mustFire: [ALERT.abnormalHigh], mayFire: [ALERT.abnormalSpike] },
    },
    (minute) => (inWindow(minute, at(10), at(10, 30)) ? { abnormalShare: 0.25 } : undefined),
  ),
  gatewayScenario(
    {
      name: 'abnormal-spike-5x-day',
      description:
        '1006 rate five times its normal level at 15:00 (peak hours) for 10 minutes, on a 1.5 % baseline share: ' +
        'the share (7.5 %) stays under the share threshold, only the spike alert can see it',
      from: at(13),
      to: at(16, 30),
      seed: 303,
      anomaly: { start: at(15), end: at(15, 10), mustFire: [ALERT.abnormalSpike], mayFire: [] },
    },
    (minute) => ({ abnormalShare: inWindow(minute, at(15), at(15, 10)) ? 5 * 0.015 : 0.015 }),
  ),
  gatewayScenario(
    {
      name: 'abnormal-spike-5x-night',
      description:
        '1006 rate five times its normal level at 03:00 (lowest traffic) for 10 minutes; at a 2.3 % baseline share ' +
        'the spike also crosses the 10 % share threshold',
      from: at(1),
      to: at(4, 30),
      seed: 304,
      anomaly: { start: at(3), end: at(3, 10), mustFire: [ALERT.abnormalSpike], mayFire: [ALERT.abnormalHigh] },
    },
    (minute) => (inWindow(minute, at(3), at(3, 10)) ? { abnormalShare: 5 * normalAbnormalShare(minute) } : undefined),
  ),
  gatewayScenario(
    {
      name: 'abnormal-slow-ramp',
      description:
        `1006 share ramps from 2 % to 30 % between 08:00 and 12:00, holds 30 minutes, then recovers; ` +
        `the anomaly starts when it crosses the ${ALERT_CONFIG.abnormalShare.threshold * 100} % threshold`,
      from: at(6),
      to: at(14),
      seed: 404,
      anomaly: {
        start: RAMP_CROSSES,
        onset: RAMP_START,
        end: RAMP_START + RAMP_MINUTES + 30,
        mustFire: [ALERT.abnormalHigh],
        mayFire: [ALERT.abnormalSpike],
      },
    },
    (minute) => {
      if (inWindow(minute, RAMP_START, RAMP_START + RAMP_MINUTES)) return { abnormalShare: rampShare(minute) };
      if (inWindow(minute, RAMP_START + RAMP_MINUTES, RAMP_START + RAMP_MINUTES + 30)) return { abnormalShare: RAMP_TO };
      return undefined;
    },
  ),
  {
    name: 'quiet-service',
    description: 'a quiet service: about one close every 4 minutes for 12 hours, every one of them 1006',
    from: 0,
    to: at(12),
    step: 1,
    seed: 505,
    targets: [{ job: 'admin-socket', instance: '10.0.1.5:9464' }],
    // Every connection dies idle at 30 s and comes back: a fixed lifetime and reconnects, at a volume no guard lets through.
    traffic: () => ({
      up: true,
      closes: codes([[1006, 1 / 240]]),
      opened: 1 / 240,
      reconnects: new Map([['CLOSE_ABNORMAL', 0.8 / 240]]),
      lifetimes: new Map([
        [10, 0],
        [30, 0],
        [60, 1 / 240],
        [Infinity, 0],
      ]),
    }),
  },
  deployScenario(),
  gatewayScenario(
    {
      name: 'internal-error-burst',
      description: '1011 internal errors at 5 % of closes from 11:00 for 10 minutes (a crashing backend handler)',
      from: at(9),
      to: at(12, 30),
      seed: 707,
      anomaly: { start: at(11), end: at(11, 10), mustFire: [ALERT.internalErrors], mayFire: [] },
    },
    (minute) => (inWindow(minute, at(11), at(11, 10)) ? { extraShares: codes([[1011, 0.05]]) } : undefined),
  ),
  gatewayScenario(
    {
      name: 'protocol-error-burst',
      description: '1002 and 1007 at 2 % of closes each from 11:00 for 15 minutes (a bad client release)',
      from: at(9),
      to: at(12, 30),
      seed: 808,
      anomaly: { start: at(11), end: at(11, 15), mustFire: [ALERT.protocolErrors], mayFire: [] },
    },
    (minute) =>
      inWindow(minute, at(11), at(11, 15))
        ? {
            extraShares: codes([
              [1002, 0.02],
              [1007, 0.02],
            ]),
          }
        : undefined,
  ),
  gatewayScenario(
    {
      name: 'overload-burst',
      description: '1013 try-again-later at 10 % of closes from 11:00 for 15 minutes',
      from: at(9),
      to: at(12, 30),
      seed: 909,
      anomaly: { start: at(11), end: at(11, 15), mustFire: [ALERT.overload], mayFire: [] },
    },
    (minute) => (inWindow(minute, at(11), at(11, 15)) ? { extraShares: codes([[1013, 0.1]]) } : undefined),
  ),
  gatewayScenario(
    {
      name: 'upstream-down',
      description:
        'the upstream dies at 11:00 for 15 minutes: its 6000 connections drop (1006 from the server side) and every new upgrade fails with upstream_unreachable',
      from: at(9),
      to: at(12, 30),
      seed: 1010,
      anomaly: {
        start: at(11),
        end: at(11, 15),
        mustFire: [ALERT.upgradeFailures],
        mayFire: [ALERT.abnormalHigh, ALERT.abnormalSpike],
      },
    },
    (minute) => {
      if (!inWindow(minute, at(11), at(11, 15))) return undefined;
      const attempts = MEAN_CLOSES_PER_SECOND * diurnalFactor(minute);
      return {
        load: 0, // every connection is gone after the first minute
        opened: 0,
        extraCloses: minute === at(11) ? codes([[1006, 6000 / 60]]) : undefined,
        upgradeFailures: new Map<UpgradeFailureReason, number>([['upstream_unreachable', attempts]]),
        initiators: new Map([[1006, 'server' as const]]),
      };
    },
  ),
  gatewayScenario(
    {
      name: 'reconnect-storm',
      description:
        'the upstream crashes at 10:00: its 6000 connections drop within a minute (1006 from the server side) and the clients ' +
        'all reconnect within 3 minutes (previous codename CLOSE_ABNORMAL)',
      from: at(8),
      to: at(11, 30),
      seed: 1401,
      anomaly: {
        start: at(10),
        end: at(10, 5),
        mustFire: [ALERT.reconnectStorm],
        mayFire: [ALERT.abnormalHigh, ALERT.abnormalSpike],
      },
    },
    (minute) => {
      if (minute === at(10)) return { extraCloses: codes([[1006, 6000 / 60]]), initiators: new Map([[1006, 'server' as const]]) };
      if (inWindow(minute, at(10), at(10, 4))) return { extraReconnects: new Map([['CLOSE_ABNORMAL', 6000 / 180]]) };
      return undefined;
    },
  ),
  gatewayScenario(
    {
      name: 'upstream-restart',
      description:
        'a planned restart of the upstream at 11:00: its 6000 connections get 1012 (service restart) within a minute and every client ' +
        'reconnects within 3 minutes; no abnormal wave, so no storm',
      from: at(9),
      to: at(12, 30),
      seed: 1402,
    },
    (minute) => {
      if (minute === at(11)) return { extraCloses: codes([[1012, 6000 / 60]]) };
      if (inWindow(minute, at(11), at(11, 4))) return { extraReconnects: new Map([['SERVICE_RESTART', 6000 / 180]]) };
      return undefined;
    },
  ),
  gatewayScenario(
    {
      name: 'idle-timeout-30s',
      description:
        'at 10:00 a new load balancer with a 30 s idle timeout goes in front: the idle 40 % of connections die at 30.0 s ' +
        '(1006, the 30-60 s bucket of the duration histogram) for an hour',
      from: at(8),
      to: at(11, 30),
      seed: 1403,
      anomaly: {
        start: at(10),
        end: at(11),
        mustFire: [ALERT.fixedLifetime],
        mayFire: [ALERT.abnormalHigh, ALERT.abnormalSpike],
      },
    },
    (minute) => {
      if (!inWindow(minute, at(10), at(11))) return undefined;
      const killed = 0.4 * MEAN_CLOSES_PER_SECOND * diurnalFactor(minute);
      return { extraCloses: codes([[1006, killed]]), extraLifetimes: new Map([[60, killed]]), extraReconnects: new Map([['CLOSE_ABNORMAL', killed * 0.8]]) };
    },
  ),
  gatewayScenario(
    {
      name: 'close-frames-lost',
      description:
        'at 10:00 a proxy in between starts eating close frames for 20 % of the reported connections for 30 minutes ' +
        '(the server sent 1000 or 1001, the browser saw 1006), on a normal 0.3 %',
      from: at(8),
      to: at(11, 30),
      seed: 1404,
      anomaly: { start: at(10), end: at(10, 30), mustFire: [ALERT.closeFramesLost], mayFire: [] },
    },
    (minute) => (inWindow(minute, at(10), at(10, 30)) ? { lostFrameShare: 0.2 } : undefined),
  ),
  gatewayScenario(
    {
      name: 'target-down',
      description: 'scrapes of the gateway fail from 11:00 for 20 minutes (the process hangs or a network policy blocks Prometheus)',
      from: at(9),
      to: at(12, 30),
      seed: 1111,
      anomaly: { start: at(11), end: at(11, 20), mustFire: [ALERT.targetDown], mayFire: [] },
    },
    (minute) => (inWindow(minute, at(11), at(11, 20)) ? 'down' : undefined),
  ),
  gatewayScenario(
    {
      name: 'job-vanished',
      description: 'at 11:00 every target of the job disappears from service discovery (deleted deployment, broken ServiceMonitor)',
      from: at(9),
      to: at(12),
      seed: 1212,
      anomaly: { start: at(11), end: at(12), mustFire: [ALERT.metricsAbsent], mayFire: [] },
    },
    (minute) => (minute >= at(11) ? 'absent' : undefined),
  ),
  ...SLO_SCENARIOS,
];
