/**
 * JSON-line logger on stdout: one object per line with time, level and msg.
 * Nothing is logged per connection at the default level.
 */
import { LOG_LEVELS, type LogLevel } from './config.js';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** `base` fields go on every line (e.g. the worker's pid). */
export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line), base: LogFields = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const log = (at: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(at) < threshold) return;
    const record: LogFields = { time: new Date().toISOString(), level: at, msg, ...base, ...fields };
    if (record.err instanceof Error) record.err = { message: record.err.message, code: (record.err as { code?: unknown }).code };
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}
