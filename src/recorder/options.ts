/**
 * The recorder's options, validated once at the door: every bad option
 * throws an OptionError (a TypeError with a stable `code`) naming it.
 */
import type { Registry } from 'prom-client';
import { parseCodeNames, type CodeNames } from '../codes/close-codes.js';
import { DEFAULT_MAX_CUSTOM_CODES, DEFAULT_PREFIX, LABEL, MAX_CUSTOM_CODES_LIMIT } from '../codes/vocabulary.js';

export interface RecorderOptions {
  /** prom-client registry to register the metrics on (default: prom-client's global registry). */
  registry?: Registry;
  /** Metric name prefix (default `websocket_`). */
  prefix?: string;
  /** Names for customizable codes, e.g. `{ 4001: 'AUTH_EXPIRED' }`. */
  codes?: Record<number | string, string> | ReadonlyMap<number, string>;
  /** Distinct unnamed 3000-4999 codes that get their own `code` label value before falling back to the range text (default 100). */
  maxCustomCodes?: number;
  /**
   * Constant labels for every series of this recorder, e.g. `{ server: 'chat' }`,
   * to tell several WebSocket servers on one registry apart. Each distinct set
   * gets its own counters; the same set is the same recorder.
   */
  labels?: Record<string, string>;
}

/** Error for invalid options; `code` is stable for callers and tests. */
export class OptionError extends TypeError {
  readonly code: string;
  constructor(message: string, code = 'WS_CLOSE_AGENT_INVALID_OPTION') {
    super(message);
    this.code = code;
  }
}

export interface ValidOptions {
  readonly prefix: string;
  readonly names: CodeNames;
  readonly maxCustomCodes: number;
  /** Sorted by name. */
  readonly labels: Readonly<Record<string, string>>;
}

const PREFIX_PATTERN = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const OWN_LABELS = new Set<string>([...Object.values(LABEL), 'le']);
const MAX_CONST_LABEL_VALUE = 128;

/** The rule for maxCustomCodes, shared by the library option and the command's --max-custom-codes; undefined when valid. */
export function maxCustomCodesProblem(value: unknown): string | undefined {
  if (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_CUSTOM_CODES_LIMIT) return undefined;
  return `must be an integer from 0 to ${MAX_CUSTOM_CODES_LIMIT} (every code in 3000-4999), got ${JSON.stringify(value)}`;
}

export function validateOptions(options: RecorderOptions): ValidOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new OptionError(`prefix must be a valid Prometheus metric name prefix (${PREFIX_PATTERN.source}), got ${JSON.stringify(prefix)}`);
  }
  const maxCustomCodes = options.maxCustomCodes ?? DEFAULT_MAX_CUSTOM_CODES;
  const problem = maxCustomCodesProblem(maxCustomCodes);
  if (problem !== undefined) throw new OptionError(`maxCustomCodes ${problem}`);
  const registry = options.registry;
  if (registry !== undefined && (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function')) {
    throw new OptionError('registry must be a prom-client Registry');
  }
  return { prefix, names: parseCodeNames(options.codes), maxCustomCodes, labels: validateLabels(options.labels) };
}

function validateLabels(labels: unknown): Readonly<Record<string, string>> {
  if (labels === undefined) return {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) throw new OptionError('labels must be an object of label names to string values');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!LABEL_NAME_PATTERN.test(name) || name.startsWith('__')) throw new OptionError(`labels.${name}: not a valid Prometheus label name`);
    if (OWN_LABELS.has(name)) throw new OptionError(`labels.${name}: the label name is used by the metrics themselves`);
    if (typeof value !== 'string' || value.length > MAX_CONST_LABEL_VALUE) {
      throw new OptionError(`labels.${name}: the value must be a string of at most ${MAX_CONST_LABEL_VALUE} characters`);
    }
    out[name] = value;
  }
  return out;
}
