/**
 * The agent's client-report flags (the routes themselves are
 * client-reports.ts): whether the WebSocket port answers
 * /ws-close-agent/report and /ws-close-agent/client.js, and the report
 * table's bounds. Kept apart from config.ts, which only lists the flags and
 * calls clientReportConfig() once.
 */
import type { Flag } from './config.js';
import { DEFAULT_REPORT_MAX_BODY_BYTES, DEFAULT_REPORT_MAX_ENTRIES, DEFAULT_REPORT_RATE_LIMIT, originsOption } from '../reports/options.js';

export interface ClientReportConfig {
  /** How long a closed connection's id is remembered, in ms. */
  windowMs: number;
  /** Most closed connections remembered (and reports held, and addresses rate-limited). */
  maxEntries: number;
  /** Allowed page origins, '*', or undefined for the page on the same host as the request. */
  origins: readonly string[] | '*' | undefined;
  /** Reports per client address per minute; 0 = no limit. */
  rateLimit: number;
  /** Largest report body, in bytes. */
  maxBodyBytes: number;
}

const MIN_BODY_BYTES = 64;

// prettier-ignore
export const CLIENT_REPORT_FLAGS: readonly Flag[] = [
  { name: 'client-reports',              type: 'switch',  arg: 'on|off',    default: 'on', help: 'serve POST /ws-close-agent/report and GET /ws-close-agent/client.js on the listen port (off when --workers is above 1: a report may reach another worker than its connection)' },
  { name: 'client-report-window',        type: 'timeout', arg: 'DURATION',  default: '2m', help: 'how long a closed connection waits for its page\'s report' },
  { name: 'client-report-max-entries',   type: 'count',   arg: 'N',         default: String(DEFAULT_REPORT_MAX_ENTRIES), help: 'most closed connections remembered for reports (also the most reports held and addresses rate-limited)' },
  { name: 'client-report-origins',       type: 'string',  arg: 'LIST|*',    help: 'page origins allowed to report, comma-separated (https://app.example.com), or *; default: the page on the same host' },
  { name: 'client-report-rate-limit',    type: 'count',   arg: 'N',         default: String(DEFAULT_REPORT_RATE_LIMIT), help: 'reports per client address per minute (0 = no limit)' },
  { name: 'client-report-max-body',      type: 'count',   arg: 'BYTES',     default: String(DEFAULT_REPORT_MAX_BODY_BYTES), help: `largest report body accepted (at least ${MIN_BODY_BYTES})` },
];

export interface FlagValue {
  value: unknown;
  /** How the user spelled it: `--flag` or the variable name. */
  source: string;
  /** Given on the command line or in the environment (not the default). */
  given: boolean;
}

/** The client-report settings, or undefined when reporting is off; `fail` throws the caller's ConfigError. */
export function clientReportConfig(read: (name: string) => FlagValue, workers: number, fail: (message: string) => never): ClientReportConfig | undefined {
  const enabled = read('client-reports');
  if (workers > 1) {
    // Each worker remembers only its own connections, and the cluster hands a
    // report's HTTP connection to any of them: most reports would be unknown ids.
    if (enabled.given && enabled.value === true) {
      fail(
        `${enabled.source}: client reports need a single process (a report may reach another worker than its connection); drop --workers or turn reports off`,
      );
    }
    return undefined;
  }
  if (enabled.value !== true) return undefined;
  const maxEntries = read('client-report-max-entries');
  if ((maxEntries.value as number) < 1) fail(`${maxEntries.source}: ${JSON.stringify(String(maxEntries.value))} is not valid: expected at least 1`);
  const maxBody = read('client-report-max-body');
  if ((maxBody.value as number) < MIN_BODY_BYTES) {
    fail(`${maxBody.source}: ${JSON.stringify(String(maxBody.value))} is not valid: expected at least ${MIN_BODY_BYTES} bytes`);
  }
  const origins = read('client-report-origins');
  return {
    windowMs: read('client-report-window').value as number,
    maxEntries: maxEntries.value as number,
    origins: origins.value === undefined ? undefined : parseOrigins(origins.value as string, origins.source, fail),
    rateLimit: read('client-report-rate-limit').value as number,
    maxBodyBytes: maxBody.value as number,
  };
}

/** `*`, or a comma-separated list of origins, each checked as closeReportHandler() checks them. */
function parseOrigins(text: string, source: string, fail: (message: string) => never): readonly string[] | '*' {
  if (text.trim() === '*') return '*';
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) fail(`${source}: ${JSON.stringify(text)} is not valid: expected * or origins like https://app.example.com`);
  try {
    originsOption(list);
  } catch (err) {
    fail(`${source}: ${(err as Error).message.replace(/^origins: /, '')}`);
  }
  return list.map((o) => new URL(o).origin);
}
