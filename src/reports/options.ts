/**
 * The report endpoint's defaults and its origin list check, apart from the
 * handler so that the agent's flag parser can use them without loading the
 * recorder and prom-client.
 */
import { OptionError } from '../recorder/options.js';

export const DEFAULT_REPORT_WINDOW_MS = 120_000;
export const DEFAULT_REPORT_MAX_ENTRIES = 10_000;
export const DEFAULT_REPORT_MAX_BODY_BYTES = 1024;
export const DEFAULT_REPORT_RATE_LIMIT = 60;

/** The `origins` option as a set of origins, '*', or undefined (the same host as the request); OptionError for anything else. */
export function originsOption(value: unknown): Set<string> | '*' | undefined {
  if (value === undefined) return undefined;
  if (value === '*') return '*';
  if (!Array.isArray(value)) throw new OptionError(`origins must be '*' or an array of origins like "https://app.example.com", got ${JSON.stringify(value)}`);
  const set = new Set<string>();
  for (const origin of value as unknown[]) {
    let parsed: URL | undefined;
    try {
      parsed = typeof origin === 'string' ? new URL(origin) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || parsed.origin === 'null' || parsed.origin !== String(origin).toLowerCase().replace(/\/$/, '')) {
      throw new OptionError(`origins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path)`);
    }
    set.add(parsed.origin);
  }
  return set;
}
