/**
 * Test helpers for the Prometheus-facing assets: a PromQL vocabulary check
 * (only SPEC metric names, label names and label values), and a real
 * `prometheus` process on loopback with temporary storage.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOSE_CODE_TABLE, rangeText } from '../../src/codes/close-codes.js';
import {
  ABNORMAL_CAUSES,
  ABNORMAL_SIDES,
  CLIENT_REPORT_REJECT_REASONS,
  DEFAULT_PREFIX,
  INITIATORS,
  metricNames,
  SIDES,
  UPGRADE_FAILURE_REASONS,
  VIOLATION_KINDS,
} from '../../src/codes/vocabulary.js';
import { startDaemon, type Daemon } from './daemon.js';

// ---------------------------------------------------------------------------
// PromQL vocabulary

const names = metricNames(DEFAULT_PREFIX);

/** Every series name SPEC section 3 defines (histograms as their exposed series). */
export const SPEC_SERIES: ReadonlySet<string> = new Set([
  names.closedTotal,
  names.openedTotal,
  names.active,
  `${names.durationSeconds}_bucket`,
  `${names.durationSeconds}_sum`,
  `${names.durationSeconds}_count`,
  names.upgradeFailuresTotal,
  names.protocolViolationsTotal,
  names.abnormalClosuresTotal,
  ...histogramSeries(names.closeHandshakeDurationSeconds),
  names.closeHandshakesUnansweredTotal,
  names.reconnectsTotal,
  ...histogramSeries(names.reconnectDelaySeconds),
  names.clientClosesTotal,
  names.closeMismatchesTotal,
  names.clientReportsRejectedTotal,
]);

function histogramSeries(name: string): string[] {
  return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
}

const CODE_RANGE_TEXTS = new Set(CLOSE_CODE_TABLE.filter((r) => r.from !== r.to).map(rangeText));

function isCodeLabelValue(value: string): boolean {
  if (CODE_RANGE_TEXTS.has(value)) return true;
  if (!/^\d+$/.test(value)) return false;
  const code = Number(value);
  return (code >= 1000 && code <= 1015) || (code >= 3000 && code <= 4999);
}

const oneOf =
  (values: Iterable<string>): ((value: string) => boolean) =>
  (value) =>
    new Set(values).has(value);
const anything = (): boolean => true;

/** Label names the assets may use, each with a check of its literal values. */
export const SPEC_LABELS: ReadonlyMap<string, (value: string) => boolean> = new Map([
  ['code', isCodeLabelValue],
  ['codename', oneOf(CLOSE_CODE_TABLE.map((r) => r.codename))],
  ['category', oneOf(CLOSE_CODE_TABLE.map((r) => r.category))],
  ['initiator', oneOf(INITIATORS)],
  ['reason', oneOf([...UPGRADE_FAILURE_REASONS, ...CLIENT_REPORT_REJECT_REASONS])],
  ['side', oneOf([...SIDES, ...ABNORMAL_SIDES])],
  ['cause', oneOf(ABNORMAL_CAUSES)],
  ['previous_codename', oneOf(CLOSE_CODE_TABLE.map((r) => r.codename))],
  ['server_codename', oneOf(CLOSE_CODE_TABLE.map((r) => r.codename))],
  ['client_codename', oneOf(CLOSE_CODE_TABLE.map((r) => r.codename))],
  ['clean', oneOf(['true', 'false'])],
  ['kind', oneOf(VIOLATION_KINDS)],
  ['le', anything],
  // Added by Prometheus; `cluster` by multi-cluster setups (external labels, relabelling).
  ['job', anything],
  ['instance', anything],
  ['cluster', anything],
]);

export interface Vocabulary {
  readonly series: ReadonlySet<string>;
  readonly labels: ReadonlyMap<string, (value: string) => boolean>;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

const MATCHER = /([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;

/** Values a matcher can select: the alternatives of a plain `a|b|c` regex, or the literal. */
function literalValues(op: string, value: string): string[] | undefined {
  if (value.includes('$')) return undefined; // a Grafana variable
  if (op === '=~' || op === '!~') return /^[\w-]+(\|[\w-]+)*$/.test(value) ? value.split('|') : undefined;
  return [value];
}

/**
 * Problems with the names an expression uses: series outside the vocabulary,
 * unknown label names (in matchers and in by/without/on/ignoring lists) and
 * literal label values outside the fixed sets. Empty when the expression is clean.
 */
export function lintPromql(expr: string, vocabulary: Vocabulary): string[] {
  const problems: string[] = [];
  const checkLabel = (label: string): void => {
    if (label !== '__name__' && !vocabulary.labels.has(label)) problems.push(`unknown label "${label}"`);
  };
  for (const selector of expr.matchAll(/\{([^{}]*)\}/g)) {
    for (const [, label, op, value] of (selector[1] as string).matchAll(MATCHER)) {
      checkLabel(label as string);
      const check = vocabulary.labels.get(label as string);
      for (const v of literalValues(op as string, value as string) ?? []) {
        if (check && !check(v)) problems.push(`label ${label} has no value "${v}"`);
      }
    }
  }
  for (const clause of expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)/g)) {
    for (const label of (clause[1] as string)
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean))
      checkLabel(label);
  }
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^{}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, '');
  for (const match of bare.matchAll(/(?<![\w.$])([A-Za-z_:][\w:]*)(?!\w)(\s*\()?/g)) {
    const [, name, call] = match;
    if (call || KEYWORDS.has((name as string).toLowerCase())) continue;
    if (!vocabulary.series.has(name as string)) problems.push(`unknown series "${name}"`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// A real Prometheus

export type PrometheusProcess = Daemon;

export interface PrometheusOptions {
  /** host:port targets scraped under `job`. */
  readonly targets: readonly string[];
  readonly job: string;
  readonly ruleFiles: readonly string[];
  readonly intervalSeconds: number;
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
  /** Agent mode (`--enable-feature=agent`): scrape and remote-write only, no rules, no queries. */
  readonly agent?: boolean;
  /** Labels the targets get (static_configs labels). */
  readonly labels?: Readonly<Record<string, string>>;
  /** More top-level configuration (e.g. `alerting`). */
  readonly extraConfig?: Record<string, unknown>;
  /** More command-line flags. */
  readonly extraArgs?: readonly string[];
}

/** Starts `prometheus` on 127.0.0.1 with temporary storage and waits until it is ready. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-close-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  const interval = `${options.intervalSeconds}s`;
  writeFileSync(
    config,
    JSON.stringify({
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      ...(options.agent ? {} : { rule_files: options.ruleFiles }),
      scrape_configs: [{ job_name: options.job, static_configs: [{ targets: options.targets, ...(options.labels ? { labels: options.labels } : {}) }] }],
      ...options.extraConfig,
    }),
  );
  return startDaemon({
    binary: options.binary ?? process.env.PROMETHEUS ?? 'prometheus',
    args: (address, attempt) => [
      `--config.file=${config}`,
      ...(options.agent
        ? ['--enable-feature=agent', `--storage.agent.path=${join(dir, `data-${attempt}`)}`]
        : [`--storage.tsdb.path=${join(dir, `data-${attempt}`)}`]),
      `--web.listen-address=${address}`,
      '--log.level=warn',
      ...(options.extraArgs ?? []),
    ],
    readyPath: '/-/ready',
    readyTimeoutMs: options.readyTimeoutMs,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

export interface QueryResult {
  readonly status: string;
  readonly error?: string;
  readonly data?: { resultType: string; result: { metric: Record<string, string>; value?: [number, string] }[] };
}

/** An instant query through /api/v1/query. */
export async function queryPrometheus(url: string, expr: string): Promise<QueryResult> {
  const response = await fetch(`${url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
  });
  return (await response.json()) as QueryResult;
}
