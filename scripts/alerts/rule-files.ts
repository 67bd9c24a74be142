/**
 * The committed rule files of alerts/ and what each holds: the threshold pack
 * (rules.ts) and the SLO pack (slo.ts), both generated from config.ts.
 */
import YAML from 'yaml';
import { ALERT_CONFIG, type AlertConfig } from './config.js';
import { buildRuleGroups, type RuleGroup } from './rules.js';
import { buildSloRuleGroups, slothSpec } from './slo.js';

export type RulePack = 'thresholds' | 'slo';

export const RULE_FILES: Readonly<Record<RulePack, string>> = {
  thresholds: 'alerts/ws-close-agent.rules.yml',
  slo: 'alerts/ws-close-agent-slo.rules.yml',
};

/** The Sloth spec of the SLO pack (Sloth users generate their own rules from it). */
export const SLOTH_SPEC_FILE = 'alerts/sloth/ws-close-agent-slo.sloth.yml';

const WHAT: Readonly<Record<RulePack, string>> = {
  thresholds: 'Prometheus rules for WebSocket close codes (ws-close-agent): recording rules and threshold alerts.',
  slo: 'Prometheus rules of the abnormal-close SLO (ws-close-agent): multiwindow, multi-burn-rate alerts.',
};

export function buildPack(pack: RulePack, config: AlertConfig = ALERT_CONFIG): RuleGroup[] {
  return pack === 'thresholds' ? buildRuleGroups(config) : buildSloRuleGroups(config);
}

/** A rule file's text, exactly as committed. */
export function renderRuleFile(pack: RulePack = 'thresholds', config: AlertConfig = ALERT_CONFIG): string {
  const header =
    `# ${WHAT[pack]}\n` +
    `# Generated from scripts/alerts/config.ts (thresholds, windows, objective, selectors)\n` +
    `# by scripts/alerts/; regenerate with \`npm run generate\`.\n` +
    `# Runbook: alerts/runbook.md. Unit tests: ${RULE_FILES[pack].replace(/\.yml$/, '.test.yml')}.\n`;
  return header + YAML.stringify({ groups: buildPack(pack, config) }, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function renderSlothSpec(config: AlertConfig = ALERT_CONFIG): string {
  return (
    `# The abnormal-close SLO of ws-close-agent as a Sloth spec (prometheus/v1), for\n` +
    `# those who generate their SLO rules with Sloth: \`sloth generate -i ${SLOTH_SPEC_FILE}\`.\n` +
    `# Generated from scripts/alerts/config.ts by scripts/alerts/slo.ts; regenerate with \`npm run generate\`.\n` +
    YAML.stringify(slothSpec(config), { lineWidth: 0 })
  );
}
