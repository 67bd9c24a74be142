/**
 * The hook's reconnect-tracking options, validated at the door, and the one
 * place the user's clientKey(req) is called (its failures are reported, never
 * thrown into the server, and its text goes nowhere but the keyed hash).
 */
import type { IncomingMessage } from 'node:http';
import { DEFAULT_RECONNECT_MAX_KEYS, DEFAULT_RECONNECT_WINDOW_MS } from '../codes/vocabulary.js';
import { OptionError } from '../recorder/options.js';
import type { ReconnectTableOptions } from '../recorder/reconnect-table.js';
import type { ReconnectSink } from '../recorder/reconnects.js';

/** Most keys the library option accepts; each costs about 100 bytes (README, "Reconnects"). */
const MAX_RECONNECT_KEYS_LIMIT = 10_000_000;
/** Longest reconnect window: a day. */
const MAX_RECONNECT_WINDOW_MS = 86_400_000;

export interface ReconnectOptions {
  /**
   * The client key of a connection, from its upgrade request (an address,
   * a header, a cookie...), or undefined for none. Turns reconnect tracking
   * on. Keys are kept only as keyed hashes (a random key per process).
   */
  clientKey?: (req: IncomingMessage) => string | undefined;
  /** How long after a connection from a key ended a new one counts as a reconnect, ms (default 60,000). */
  reconnectWindowMs?: number;
  /** Most client keys remembered at once (default 100,000); past it the oldest is forgotten. */
  reconnectMaxKeys?: number;
  /** @internal Where endings and openings go instead of a table of this hook's own (the agent's --workers). */
  reconnectSink?: ReconnectSink;
}

/** The reconnect problems of `value` as --reconnect-window / reconnectWindowMs; undefined when valid. */
export function reconnectWindowProblem(ms: unknown): string | undefined {
  if (typeof ms === 'number' && Number.isFinite(ms) && ms > 0 && ms <= MAX_RECONNECT_WINDOW_MS) return undefined;
  return `must be a duration above 0 and at most a day, got ${JSON.stringify(ms)}`;
}

export function reconnectMaxKeysProblem(n: unknown): string | undefined {
  if (Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_RECONNECT_KEYS_LIMIT) return undefined;
  return `must be an integer from 1 to ${MAX_RECONNECT_KEYS_LIMIT}, got ${JSON.stringify(n)}`;
}

/** The table options, or undefined when tracking is off; throws OptionError naming a bad option. */
export function validateReconnectOptions(options: ReconnectOptions): Required<ReconnectTableOptions> | undefined {
  const { clientKey, reconnectWindowMs = DEFAULT_RECONNECT_WINDOW_MS, reconnectMaxKeys = DEFAULT_RECONNECT_MAX_KEYS } = options;
  if (clientKey !== undefined && typeof clientKey !== 'function') throw new OptionError('clientKey must be a function (req) => string | undefined');
  const windowProblem = reconnectWindowProblem(reconnectWindowMs);
  if (windowProblem !== undefined) throw new OptionError(`reconnectWindowMs ${windowProblem}`);
  const keysProblem = reconnectMaxKeysProblem(reconnectMaxKeys);
  if (keysProblem !== undefined) throw new OptionError(`reconnectMaxKeys ${keysProblem}`);
  const sink = options.reconnectSink;
  if (sink !== undefined && (typeof sink.opened !== 'function' || typeof sink.ended !== 'function'))
    throw new OptionError('reconnectSink must have opened() and ended()');
  if (clientKey === undefined) return undefined;
  return { windowMs: reconnectWindowMs, maxKeys: reconnectMaxKeys };
}

/** The client key of `req` through the user's function; a throw or a non-string is reported once and means no key. */
export function clientKeyOf(
  reporter: { report(err: unknown): void },
  clientKey: ((req: IncomingMessage) => string | undefined) | undefined,
  req: IncomingMessage,
): string | undefined {
  if (clientKey === undefined) return undefined;
  try {
    const key = clientKey(req);
    if (key === undefined || typeof key === 'string') return key;
    reporter.report(new TypeError(`clientKey(req) must return a string or undefined, got a ${typeof key}`));
  } catch (err) {
    reporter.report(err);
  }
  return undefined;
}
