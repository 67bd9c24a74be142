/**
 * Every threshold, window and selector of alerts/ws-close-agent.rules.yml, in
 * one place. Change a value here, then regenerate the rule file:
 *
 *   UPDATE_ASSETS=1 npx vitest run test/alerts.test.ts
 *
 * (test/alerts.test.ts fails while the committed file differs from what this
 * config generates.)
 */
import { DEFAULT_PREFIX } from '../../src/codes/vocabulary.js';

export type Severity = 'critical' | 'warning' | 'info';

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
} as const;

export type AlertConfig = typeof ALERT_CONFIG;
