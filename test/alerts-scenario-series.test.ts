/**
 * The scenario generator's building blocks: the promtool series notation it
 * writes (promtool itself reads it in alerts-scenario-series.e2e.test.ts), the
 * counters it synthesises, and the reading of promtool's probe report.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildInputSeries, createRandom, encodeValues, samplePoisson } from '../scripts/alerts/scenario-series.js';
import { judgeScenario, parseProbeOutput, phasesOf } from '../scripts/alerts/scenario-tests.js';
import { SCENARIOS } from '../scripts/alerts/scenarios.js';
import { assertProperty } from './helpers/property.js';

type Sample = number | '_' | 'stale';

/** The expansion rules of promtool's series notation, as its documentation states them. */
function expand(notation: string): Sample[] {
  const out: Sample[] = [];
  for (const token of notation.split(' ').filter(Boolean)) {
    const run = /^(-?\d+)([+-])(\d+)x(\d+)$/.exec(token);
    const blanks = /^_x(\d+)$/.exec(token);
    if (run) {
      const [, a, sign, b, n] = run;
      for (let k = 0; k <= Number(n); k += 1) out.push(Number(a) + (sign === '-' ? -1 : 1) * Number(b) * k);
    } else if (blanks) {
      for (let k = 0; k < Number(blanks[1]); k += 1) out.push('_');
    } else if (token === '_' || token === 'stale') {
      out.push(token);
    } else {
      out.push(Number(token));
    }
  }
  return out;
}

describe('encodeValues', () => {
  it('writes runs in promtool notation', () => {
    expect(encodeValues([1, 2, 3, 4])).toBe('1+1x3');
    expect(encodeValues([5, 5, 5])).toBe('5+0x2');
    expect(encodeValues([1, 3])).toBe('1 3');
    expect(encodeValues(['_', '_', '_', 7, 'stale', '_'])).toBe('_x3 7 stale _');
  });

  it('expands back to the same samples', () => {
    const sample = fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant('_' as const), fc.constant('stale' as const));
    assertProperty(
      fc.property(fc.array(sample, { maxLength: 60 }), (values) => {
        expect(expand(encodeValues(values))).toEqual(values);
      }),
    );
  });
});

describe('buildInputSeries', () => {
  const target = { job: 'j', instance: 'i' };

  it('exports a labelled counter from its first event on, and an unlabelled one from the start', () => {
    const series = buildInputSeries(
      [target],
      { from: 0, to: 4, step: 1 },
      (_t, minute) => ({
        up: true,
        closes: new Map([[1011, minute >= 2 ? 1 : 0]]),
        opened: 1,
      }),
      createRandom(1),
    );
    const byName = new Map(series.map((s) => [s.series.split('{')[0], expand(s.values)]));
    expect(byName.get('up')).toEqual([1, 1, 1, 1]);
    expect(byName.get('websocket_connections_opened_total')?.every((v) => typeof v === 'number')).toBe(true);
    const closes = byName.get('websocket_connections_closed_total') as Sample[];
    expect(closes.slice(0, 2)).toEqual(['_', '_']);
    expect(typeof closes[2]).toBe('number');
    expect(series.find((s) => s.series.startsWith('websocket_connections_closed_total'))?.series).toBe(
      'websocket_connections_closed_total{job="j",instance="i",code="1011",codename="INTERNAL_ERROR",category="standard",initiator="server"}',
    );
  });

  it('marks series stale when scrapes fail, and restarts counters after the target was gone', () => {
    const traffic = (minute: number) =>
      minute === 2 ? ({ up: false, closes: new Map(), opened: 0 } as const) : minute === 4 ? undefined : { up: true, closes: new Map(), opened: 2 };
    const series = buildInputSeries(
      [target],
      { from: 0, to: 7, step: 1 },
      (_t, minute) => traffic(minute),
      () => 0.5,
    );
    const byName = new Map(series.map((s) => [s.series.split('{')[0], expand(s.values)]));
    expect(byName.get('up')).toEqual([1, 1, 0, 1, 'stale', 1, 1]);
    const opened = byName.get('websocket_connections_opened_total') as Sample[];
    expect(opened[2]).toBe('stale');
    expect(opened[4]).toBe('stale');
    expect(opened[5] as number).toBeLessThan(opened[3] as number);
  });

  it('samples Poisson counts with the right mean', () => {
    const random = createRandom(42);
    for (const mean of [0.5, 4, 300]) {
      let sum = 0;
      for (let i = 0; i < 4000; i += 1) sum += samplePoisson(mean, random);
      expect(sum / 4000).toBeCloseTo(mean, mean < 10 ? 0 : -1);
    }
  });
});

describe('scenario traffic', () => {
  // The agent records the side whose transport ended first; it never emits
  // initiator="unknown", so no scenario may rest on it.
  it('uses only initiators the agent emits', () => {
    for (const scenario of SCENARIOS) {
      const series = buildInputSeries(scenario.targets, scenario, scenario.traffic, createRandom(scenario.seed));
      const initiators = new Set(series.flatMap((s) => [...s.series.matchAll(/initiator="([^"]*)"/g)].map((m) => m[1])));
      expect(
        [...initiators].filter((i) => !['client', 'server', 'agent'].includes(i as string)),
        scenario.name,
      ).toEqual([]);
    }
  });
});

describe('probe report', () => {
  const report = `Unit Testing:  x.probe.yml
  FAILED:
    expr: "label_replace(min_over_time(timestamp(ALERTS{alertstate=\\"firing\\"})[49m:1m] @ 38940), \\"phase\\", \\"during\\", \\"\\", \\"\\")", time: 3h59m,
        exp: nil
        got: {alertname="WebSocketAbnormalClosureSpike", alertstate="firing", job="chat-gateway", phase="during", severity="warning"} 3.6E+02, {alertname="WebSocketAbnormalClosuresHigh", alertstate="firing", job="chat-gateway", phase="during", severity="critical"} 3.66E+02

    expr: "label_replace(count_over_time((ALERTS{alertstate=\\"firing\\"} unless ALERTS{alertstate=\\"firing\\"} offset 1m)[49m:1m] @ 38940), \\"phase\\", \\"during\\", \\"\\", \\"\\")", time: 3h59m,
        exp: nil
        got: {alertname="WebSocketAbnormalClosuresHigh", alertstate="firing", job="chat-gateway", phase="during", severity="critical"} 1E+00

    expr: "label_replace(max_over_time((x)[11h:1m] @ 3000), \\"signal\\", \\"1\\", \\"\\", \\"\\")", time: 3h59m,
        exp: nil
        got: {job="chat-gateway", signal="1"} 2.5E+00
`;

  it('reads first firings, firing counts and headroom maxima', () => {
    const { activity, headroom } = parseProbeOutput(report);
    expect(activity).toEqual([
      { alert: 'WebSocketAbnormalClosureSpike', phase: 'during', firstFiring: 6, firings: 0, firingEvaluations: 0 },
      { alert: 'WebSocketAbnormalClosuresHigh', phase: 'during', firstFiring: 6.1, firings: 1, firingEvaluations: 0 },
    ]);
    expect(headroom.get(1)).toBe(2.5);
  });

  it('judges against the table: required alerts, allowed ones, false ones', () => {
    const jump = SCENARIOS.find((s) => s.name === 'abnormal-share-jump');
    expect(jump).toBeDefined();
    const verdict = judgeScenario(jump as (typeof SCENARIOS)[number], [
      { alert: 'WebSocketAbnormalClosuresHigh', phase: 'during', firstFiring: 126, firings: 1, firingEvaluations: 30 },
      { alert: 'WebSocketAbnormalClosureSpike', phase: 'during', firstFiring: 125, firings: 1, firingEvaluations: 20 },
      { alert: 'WebSocketTargetDown', phase: 'after', firstFiring: 200, firings: 1, firingEvaluations: 5 },
    ]);
    expect(verdict.detection.get('WebSocketAbnormalClosuresHigh')).toBe(6);
    expect(verdict.alsoFired.map((a) => a.alert)).toEqual(['WebSocketAbnormalClosureSpike']);
    expect(verdict.falseAlerts.map((a) => a.alert)).toEqual(['WebSocketTargetDown']);
    expect(verdict.ok).toBe(false);
  });

  it('splits every scenario into phases that cover its whole run', () => {
    for (const scenario of SCENARIOS) {
      const phases = phasesOf(scenario);
      expect(phases[0]?.from).toBe(scenario.from);
      expect(phases[phases.length - 1]?.to).toBe(scenario.to);
      for (let i = 1; i < phases.length; i += 1) expect(phases[i]?.from).toBe(phases[i - 1]?.to);
    }
  });
});
