/**
 * alerts/: the rule file is what scripts/alerts generates, promtool accepts
 * it, the hand-written promtool unit tests pass, every alert carries what an
 * on-call engineer needs and links to its runbook section.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ALERT_CONFIG } from '../scripts/alerts/config.js';
import { renderRuleFile, renderSlothSpec, RULE_FILES, SLOTH_SPEC_FILE } from '../scripts/alerts/rule-files.js';
import { buildSloRuleGroups, SLO_ALERT, SLO_ALERT_NAMES, SLO_RECORD } from '../scripts/alerts/slo.js';
import { ALERT_NAMES, buildRuleGroups, RECORD, type AlertingRule } from '../scripts/alerts/rules.js';
import { runPromtool } from '../scripts/alerts/promtool.js';
import { lintPromql, SPEC_LABELS, SPEC_SERIES } from './helpers/prometheus.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const RULE_FILE = root('alerts/ws-close-agent.rules.yml');
const UNIT_TESTS = root('alerts/ws-close-agent.rules.test.yml');
const RUNBOOK = root('alerts/runbook.md');
const SLO_RULE_FILE = root(RULE_FILES.slo);
const SLO_UNIT_TESTS = root('alerts/ws-close-agent-slo.rules.test.yml');
const SLOTH_SPEC = root(SLOTH_SPEC_FILE);
const RUNBOOK_URL = 'https://github.com/ws-close-agent/ws-close-agent/blob/main/alerts/runbook.md';

interface RuleFile {
  groups: { name: string; rules: (Partial<AlertingRule> & { record?: string; expr: string })[] }[];
}

const ruleFile = (path = RULE_FILE): RuleFile => YAML.parse(readFileSync(path, 'utf8')) as RuleFile;
const alertingRules = (path = RULE_FILE): AlertingRule[] =>
  ruleFile(path).groups.flatMap((g) => g.rules.filter((r): r is AlertingRule => typeof r.alert === 'string'));
const allAlertingRules = (): AlertingRule[] => [...alertingRules(), ...alertingRules(SLO_RULE_FILE)];

/** GitHub's anchor for a markdown heading. */
function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

describe('alerts/ws-close-agent.rules.yml', () => {
  it('is what scripts/alerts/rules.ts generates from config.ts', () => {
    expect(readFileSync(RULE_FILE, 'utf8'), 'stale rule file: run `npm run generate`').toBe(renderRuleFile('thresholds'));
  });

  it('passes promtool check rules', async () => {
    const result = await runPromtool(['check', 'rules', RULE_FILE]);
    expect(result.output).toContain('SUCCESS');
    expect(result.exitCode, result.output).toBe(0);
  });

  it('passes the hand-written promtool unit tests', async () => {
    const result = await runPromtool(['test', 'rules', UNIT_TESTS]);
    expect(result.exitCode, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('has the alerts the issue asks for, with recording rules for rates by code and category and the abnormal share', () => {
    expect(alertingRules().map((r) => r.alert)).toEqual(ALERT_NAMES);
    expect(ALERT_NAMES).toEqual(expect.arrayContaining(['WebSocketAbnormalClosuresHigh', 'WebSocketAbnormalClosureSpike']));
    const records = ruleFile().groups.flatMap((g) => g.rules.map((r) => r.record).filter(Boolean));
    expect(records).toEqual(Object.values(RECORD));
    expect(records).toEqual(expect.arrayContaining([RECORD.codeRate, RECORD.categoryRate, RECORD.abnormalRatio, RECORD.errorRatio]));
  });

  it('gives every alert severity, summary, a description with $value, and a runbook_url of its runbook section', () => {
    const runbook = readFileSync(RUNBOOK, 'utf8');
    const anchors = new Set([...runbook.matchAll(/^## (.+)$/gm)].map((m) => githubAnchor(m[1] as string)));
    for (const rule of allAlertingRules()) {
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toMatch(/\S/);
      expect(rule.annotations.description, rule.alert).toMatch(/\S/);
      expect(rule.annotations.runbook_url).toBe(`${RUNBOOK_URL}#${rule.alert.toLowerCase()}`);
      expect(anchors, `runbook section for ${rule.alert}`).toContain(rule.alert.toLowerCase());
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
    }
    // Every alert but the target ones states its measured value.
    for (const rule of allAlertingRules().filter((r) => r.alert !== 'WebSocketTargetDown')) {
      expect(rule.annotations.description, rule.alert).toContain('$value');
    }
  });

  it('runbook sections describe meaning, causes and where to look', () => {
    const runbook = readFileSync(RUNBOOK, 'utf8');
    const sections = runbook.split(/^## /m).slice(1);
    expect(sections.map((s) => s.split('\n')[0]?.trim())).toEqual([...ALERT_NAMES, ...SLO_ALERT_NAMES]);
    for (const section of sections) {
      expect(section).toMatch(/Meaning/);
      expect(section).toMatch(/Causes/);
      expect(section).toMatch(/Dashboards?/);
    }
  });

  it('covers every alert before and after its for: window in the unit tests', () => {
    interface AlertTest {
      eval_time: string;
      alertname: string;
      exp_alerts?: unknown[];
    }
    const doc = YAML.parse(readFileSync(UNIT_TESTS, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] };
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of ALERT_NAMES) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert}: a case where it is not (yet) firing`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert}: a case where it fires`,
      ).toBe(true);
    }
  });

  it('uses only SPEC metric names, labels and label values (plus up and its own records)', () => {
    const vocabulary = {
      series: new Set([...SPEC_SERIES, 'up', ...Object.values(RECORD)]),
      labels: SPEC_LABELS,
    };
    for (const group of buildRuleGroups()) {
      for (const rule of group.rules) {
        expect(lintPromql(rule.expr, vocabulary), 'record' in rule ? rule.record : rule.alert).toEqual([]);
      }
    }
  });
});

describe('alerts/ws-close-agent-slo.rules.yml (the abnormal-close SLO)', () => {
  const slo = ALERT_CONFIG.slo;

  it('is what scripts/alerts/slo.ts generates from config.ts', () => {
    expect(readFileSync(SLO_RULE_FILE, 'utf8'), 'stale rule file: run `npm run generate`').toBe(renderRuleFile('slo'));
  });

  it('passes promtool check rules and its hand-written promtool unit tests', async () => {
    const check = await runPromtool(['check', 'rules', SLO_RULE_FILE]);
    expect(check.exitCode, check.output).toBe(0);
    const tests = await runPromtool(['test', 'rules', SLO_UNIT_TESTS]);
    expect(tests.exitCode, tests.output).toBe(0);
    expect(tests.output).toContain('SUCCESS');
  });

  it('states the objective in the rules: a record of it, an objective label, thresholds computed from it', () => {
    const rules = ruleFile(SLO_RULE_FILE).groups.flatMap((g) => g.rules);
    const objective = rules.find((r) => r.record === SLO_RECORD.objective);
    expect(objective?.record).toMatch(/objective/);
    expect(objective?.expr).toBe(`vector(${slo.objective})`);
    for (const rule of alertingRules(SLO_RULE_FILE)) {
      expect(rule.labels.objective, rule.alert).toBe(String(slo.objective));
      // Every threshold reads the objective; none is a precomputed number only.
      expect(rule.expr, rule.alert).toContain(`(1 - scalar(${SLO_RECORD.objective}))`);
    }
  });

  it('pages at 14.4x over 1h and 5m, pages at 6x over 6h and 30m, opens a ticket at 1x over 3d and 6h', () => {
    const byName = new Map(alertingRules(SLO_RULE_FILE).map((r) => [r.alert, r]));
    const expected = [
      [SLO_ALERT.pageFast, 14.4, '1h', '5m', 'page'],
      [SLO_ALERT.pageSlow, 6, '6h', '30m', 'page'],
      [SLO_ALERT.ticket, 1, '3d', '6h', 'ticket'],
    ] as const;
    expect([...byName.keys()]).toEqual(expected.map((e) => e[0]));
    for (const [alert, burn, long, short, action] of expected) {
      const rule = byName.get(alert) as AlertingRule;
      expect(rule.expr).toContain(`${SLO_RECORD.badRatio(long)} > ${burn} * (1 - scalar(${SLO_RECORD.objective}))`);
      expect(rule.expr).toContain(`${SLO_RECORD.badRatio(short)} > ${burn} * (1 - scalar(${SLO_RECORD.objective}))`);
      expect(rule.expr).toContain(`[${long}])) >= ${slo.minBadClosesInLongWindow}`);
      expect(rule.labels.action).toBe(action);
      expect(rule.labels.severity).toBe(action === 'page' ? 'critical' : 'warning');
    }
  });

  it('counts a 1006 ended by the server side as bad, and aggregates by cluster and job', () => {
    const text = readFileSync(SLO_RULE_FILE, 'utf8');
    expect(text).toContain('code="1006", initiator=~"server|agent"');
    for (const group of buildSloRuleGroups()) {
      for (const rule of group.rules) {
        for (const by of rule.expr.matchAll(/\b(?:by|on) \(([^)]*)\)/g)) expect(by[1], rule.expr).toBe('cluster, job');
      }
    }
  });

  it('generates from another objective: the thresholds follow it', () => {
    const text = renderRuleFile('slo', { ...ALERT_CONFIG, slo: { ...slo, objective: 0.999 } });
    expect(text).toContain('expr: vector(0.999)');
    expect(text).toContain('objective: "0.999"');
    expect(text).toContain('99.9 % objective (0.1 % over 30d)');
  });

  it('uses only SPEC metric names, labels and label values (plus its own records)', () => {
    const vocabulary = {
      series: new Set([...SPEC_SERIES, ...buildSloRuleGroups().flatMap((g) => g.rules.flatMap((r) => ('record' in r ? [r.record] : [])))]),
      labels: SPEC_LABELS,
    };
    for (const group of buildSloRuleGroups()) {
      for (const rule of group.rules) {
        expect(lintPromql(rule.expr, vocabulary), 'record' in rule ? rule.record : rule.alert).toEqual([]);
      }
    }
  });
});

describe(`${SLOTH_SPEC_FILE} (the same SLO for Sloth)`, () => {
  interface SlothSpec {
    version: string;
    service: string;
    slos: {
      name: string;
      objective: number;
      sli: { events?: { error_query: string; total_query: string } };
      alerting: { name: string; page_alert: object; ticket_alert: object };
    }[];
  }

  it('is what scripts/alerts/slo.ts generates', () => {
    expect(readFileSync(SLOTH_SPEC, 'utf8'), 'stale Sloth spec: run `npm run generate`').toBe(renderSlothSpec());
  });

  it('is a prometheus/v1 spec with the same objective, SLI and alerts', () => {
    const spec = YAML.parse(readFileSync(SLOTH_SPEC, 'utf8')) as SlothSpec;
    expect(spec.version).toBe('prometheus/v1');
    expect(spec.service).toMatch(/^[a-z0-9-]+$/);
    expect(spec.slos).toHaveLength(1);
    const [entry] = spec.slos as [SlothSpec['slos'][number]];
    // Sloth wants the objective in percent, 0 < objective <= 100.
    expect(entry.objective).toBeCloseTo(ALERT_CONFIG.slo.objective * 100, 6);
    expect(entry.name).toMatch(/^[a-z0-9-]+$/);
    expect(Object.keys(entry.sli)).toEqual(['events']);
    const events = entry.sli.events as { error_query: string; total_query: string };
    for (const query of [events.error_query, events.total_query]) {
      // Sloth substitutes {{.window}} for each of its windows.
      expect(query).toContain('[{{.window}}]');
      expect(lintPromql(query.replace('{{.window}}', '5m'), { series: SPEC_SERIES, labels: SPEC_LABELS })).toEqual([]);
    }
    expect(events.error_query).toContain('code="1006", initiator=~"server|agent"');
    expect(entry.alerting.name).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
    expect(entry.alerting).toHaveProperty('page_alert');
    expect(entry.alerting).toHaveProperty('ticket_alert');
  });
});
