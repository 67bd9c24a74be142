/**
 * Every threshold, window, objective and selector of the rule files in
 * alerts/, in one place. Change a value here, then regenerate the committed
 * files with `npm run generate` (test/alerts.test.ts fails while a committed
 * file differs from what this config generates).
 */
import { DEFAULT_PREFIX } from '../../src/codes/vocabulary.js';

export type Severity = 'critical' | 'warning' | 'info';

/** One multiwindow burn-rate alert of the SLO: both windows must burn faster than `burnRate`. */
export interface BurnRateWindow {
  readonly burnRate: number;
  readonly longWindow: string;
  readonly shortWindow: string;
  readonly for: string;
  readonly severity: Severity;
  /** `page` wakes someone up; `ticket` is for working hours. */
  readonly action: 'page' | 'ticket';
}

export interface BurstAlertConfig {
  /** Close codes (the `code` label values) the alert watches. */
  readonly codes: readonly number[];
  /** At least this many of those closes within `window`. */
  readonly minCount: number;
  /** ...and at least this share of all closes. */
  readonly minShare: number;
  readonly for: string;
  readonly severity: Severity;
}

export const ALERT_CONFIG = {
  /** Metric prefix; the agent's `prefix` option changes it. */
  prefix: DEFAULT_PREFIX,
  /**
   * Extra label matchers put into every selector, e.g. `namespace="chat"` or
   * `job=~"gateway|chat"`. Empty: every job that exports the metrics.
   */
  selector: '',
  /** Rate window of the recording rules and of every alert built on them. */
  rateWindow: '5m',
  /** URL of alerts/runbook.md; each alert links to `#<alertname lowercased>`. */
  runbookUrl: 'https://github.com/ws-close-agent/ws-close-agent/blob/main/alerts/runbook.md',

  /** WebSocketAbnormalClosuresHigh: share of 1006 among all closes. */
  abnormalShare: {
    threshold: 0.1,
    /** Volume guard: a quiet service with a handful of drops must not page. */
    minClosesInWindow: 30,
    for: '5m',
    severity: 'critical' as Severity,
  },

  /** WebSocketAbnormalClosureSpike: 1006 rate against its own recent baseline. */
  abnormalSpike: {
    /** Fire when the 1006 rate is this many times its baseline. */
    factor: 3,
    /** Baseline: the 1006 rate over this window... */
    baselineWindow: '1h',
    /** ...ending this long ago, so that the spike itself does not raise it. */
    baselineOffset: '10m',
    /** Floor of the baseline, in closes per hour, so that a zero baseline still gives a finite ratio. */
    baselineFloorPerHour: 1,
    /** Volume guard: at least this many 1006 closes within the rate window. */
    minAbnormalInWindow: 20,
    for: '5m',
    severity: 'warning' as Severity,
  },

  /** WebSocketInternalErrorClosures: the server closing with 1011. */
  internalErrors: { codes: [1011], minCount: 10, minShare: 0.01, for: '2m', severity: 'critical' } as BurstAlertConfig,
  /** WebSocketProtocolErrorClosures: 1002 protocol error, 1007 invalid payload data. */
  protocolErrors: { codes: [1002, 1007], minCount: 10, minShare: 0.01, for: '5m', severity: 'warning' } as BurstAlertConfig,
  /** WebSocketOverloadClosures: 1013 try again later. */
  overload: { codes: [1013], minCount: 10, minShare: 0.01, for: '5m', severity: 'warning' } as BurstAlertConfig,

  /** WebSocketUpgradeFailuresHigh: upgrades the proxy could not complete. */
  upgradeFailures: {
    /** Reasons that are the service's fault, not the client's. */
    reasons: ['upstream_unreachable', 'upstream_timeout', 'upstream_rejected', 'over_capacity'],
    /** Share of upgrade attempts (failures + opened connections). */
    threshold: 0.05,
    minCount: 10,
    for: '5m',
    severity: 'critical' as Severity,
  },

  /**
   * WebSocketReconnectStorm: reconnects far above their own baseline right
   * after a wave of abnormal closes (clients of a dropped upstream or a
   * crashed node all coming back at once).
   */
  reconnectStorm: {
    /** Fire when the reconnect rate is this many times its baseline... */
    factor: 5,
    /** Baseline: the reconnect rate over this window, ending `baselineOffset` ago. */
    baselineWindow: '1h',
    baselineOffset: '10m',
    /** Floor of the baseline, in reconnects per hour. */
    baselineFloorPerHour: 1,
    /** Volume guard: at least this many reconnects within the rate window. */
    minReconnectsInWindow: 50,
    /** ...and within this lookback the 1006 rate was at least `abnormalFactor` times its baseline. */
    abnormalLookback: '15m',
    abnormalFactor: 3,
    for: '2m',
    severity: 'warning' as Severity,
  },

  /**
   * WebSocketClosesAtFixedLifetime: closes pile into one bucket of the
   * connection-duration histogram, the signature of a load balancer or
   * proxy idle timeout (idle sockets dying at 30.0 s all land in 30-60 s).
   * Judged against the bucket's own share an hour earlier: it finds the
   * timeout that appeared, and resolves once the fixed lifetime has been
   * the normal for about `baselineWindow` (the panel keeps showing it).
   */
  fixedLifetime: {
    /** Only buckets whose lower bound is at least this (seconds): shorter lifetimes are not idle timeouts. */
    minLowerBoundSeconds: 10,
    /** The bucket holds at least this share of the closes... */
    minShare: 0.3,
    /** ...and at least this many times its share over the baseline window. */
    factor: 2,
    baselineWindow: '1h',
    baselineOffset: '10m',
    /** Volume guard: at least this many closes in the bucket within the rate window. */
    minClosesInWindow: 50,
    for: '5m',
    severity: 'warning' as Severity,
  },

  /**
   * WebSocketCloseFramesLost: of the closes browsers reported, the share
   * where the server sent a close code and the client saw 1006 (something
   * in between ate the close frame) jumped above its baseline.
   */
  closeFramesLost: {
    /** Share of client reports... */
    minShare: 0.05,
    /** ...and this many times the baseline share. */
    factor: 3,
    baselineWindow: '1h',
    baselineOffset: '10m',
    /** Floor of the baseline share, so that a zero baseline still gives a finite ratio. */
    baselineFloorShare: 0.001,
    /** Volume guard: at least this many lost close frames within the rate window. */
    minLostInWindow: 20,
    for: '5m',
    severity: 'warning' as Severity,
  },

  /**
   * WebSocketTargetDown: a target that exported these metrics fails its
   * scrapes. WebSocketMetricsAbsent: no target of a job that exported them
   * within `absentLookback` does any more (all gone from discovery). Scoping
   * by "had our metrics" needs no job name; the price is that the absent
   * alert resolves by itself once `absentLookback` has passed.
   */
  targets: {
    absentLookback: '6h',
    downFor: '5m',
    absentFor: '10m',
    severity: 'warning' as Severity,
  },

  /**
   * The abnormal-close SLO: the share of closes that are not *bad closes*, a
   * 1006 (no close frame) whose transport the server side (the hooked server,
   * the upstream, or the agent itself) ended first. A client's dropped
   * network is the client's business and not counted.
   */
  slo: {
    /** Name of the SLO: the `slo` label of its records and alerts, and the Sloth spec's name. */
    name: 'abnormal-closes',
    /** Share of closes that must be good over `period`. */
    objective: 0.995,
    /** The period the error budget (1 - objective) is spent over; the burn rates assume about 30 days. */
    period: '30d',
    /** A bad close: this code... */
    badCode: 1006,
    /** ...recorded with one of these initiators. */
    badInitiators: ['server', 'agent'] as readonly string[],
    /**
     * Volume guard: an alert needs at least this many bad closes in its long
     * window, so that a quiet service does not page on a handful of closes.
     */
    minBadClosesInLongWindow: 10,
    /** The SRE workbook's multiwindow, multi-burn-rate set for a 30-day budget. */
    windows: [
      { burnRate: 14.4, longWindow: '1h', shortWindow: '5m', for: '2m', severity: 'critical', action: 'page' },
      { burnRate: 6, longWindow: '6h', shortWindow: '30m', for: '15m', severity: 'critical', action: 'page' },
      { burnRate: 1, longWindow: '3d', shortWindow: '6h', for: '1h', severity: 'warning', action: 'ticket' },
    ] as readonly BurnRateWindow[],
  },
} as const;

/** Literal types widened, so that a test can derive a config with other windows. */
type Widen<T> = T extends Severity
  ? Severity
  : T extends BurnRateWindow['action']
    ? BurnRateWindow['action']
    : T extends string
      ? string
      : T extends number
        ? number
        : T extends readonly (infer U)[]
          ? readonly Widen<U>[]
          : { readonly [K in keyof T]: Widen<T[K]> };

export type AlertConfig = Widen<typeof ALERT_CONFIG>;
