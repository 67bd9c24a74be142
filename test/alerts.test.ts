/**
 * alerts/: the rule file is what scripts/alerts generates, promtool accepts
 * it, the hand-written promtool unit tests pass, every alert carries what an
 * on-call engineer needs and links to its runbook section.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ALERT_NAMES, buildRuleGroups, RECORD, renderRuleFile, type AlertingRule } from '../scripts/alerts/rules.js';
import { runPromtool } from '../scripts/alerts/promtool.js';
import { lintPromql, SPEC_LABELS, SPEC_SERIES } from './helpers/prometheus.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const RULE_FILE = root('alerts/ws-close-agent.rules.yml');
const UNIT_TESTS = root('alerts/ws-close-agent.rules.test.yml');
const RUNBOOK = root('alerts/runbook.md');
const RUNBOOK_URL = 'https://github.com/ws-close-agent/ws-close-agent/blob/main/alerts/runbook.md';
const UPDATE = process.env.UPDATE_ASSETS === '1';

interface RuleFile {
  groups: { name: string; rules: (Partial<AlertingRule> & { record?: string; expr: string })[] }[];
}

const ruleFile = (): RuleFile => YAML.parse(readFileSync(RULE_FILE, 'utf8')) as RuleFile;
const alertingRules = (): AlertingRule[] =>
  ruleFile().groups.flatMap((g) => g.rules.filter((r): r is AlertingRule => typeof r.alert === 'string'));

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
    const generated = renderRuleFile();
    if (UPDATE) writeFileSync(RULE_FILE, generated);
    expect(readFileSync(RULE_FILE, 'utf8'), 'stale rule file: run UPDATE_ASSETS=1 npx vitest run test/alerts.test.ts').toBe(generated);
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
    expect(records).toEqual(
      expect.arrayContaining([RECORD.codeRate, RECORD.categoryRate, RECORD.abnormalRatio, RECORD.errorRatio]),
    );
  });

  it('gives every alert severity, summary, a description with $value, and a runbook_url of its runbook section', () => {
    const runbook = readFileSync(RUNBOOK, 'utf8');
    const anchors = new Set([...runbook.matchAll(/^## (.+)$/gm)].map((m) => githubAnchor(m[1] as string)));
    for (const rule of alertingRules()) {
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toMatch(/\S/);
      expect(rule.annotations.description, rule.alert).toMatch(/\S/);
      expect(rule.annotations.runbook_url).toBe(`${RUNBOOK_URL}#${rule.alert.toLowerCase()}`);
      expect(anchors, `runbook section for ${rule.alert}`).toContain(rule.alert.toLowerCase());
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
    }
    // Every alert but the target ones states its measured value.
    for (const rule of alertingRules().filter((r) => r.alert !== 'WebSocketTargetDown')) {
      expect(rule.annotations.description, rule.alert).toContain('$value');
    }
  });

  it('runbook sections describe meaning, causes and where to look', () => {
    const runbook = readFileSync(RUNBOOK, 'utf8');
    const sections = runbook.split(/^## /m).slice(1);
    expect(sections.map((s) => s.split('\n')[0]?.trim())).toEqual(ALERT_NAMES);
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
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert}: a case where it is not (yet) firing`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert}: a case where it fires`).toBe(true);
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
