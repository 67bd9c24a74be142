/**
 * Command-line flags and WS_CLOSE_AGENT_* environment variables -> one
 * validated AgentConfig. Flags win over the environment. Every error names
 * the flag or variable and what was expected.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseCodeNames, type CodeNames } from '../codes/close-codes.js';
import { DEFAULT_MAX_CUSTOM_CODES } from '../codes/vocabulary.js';
import { maxCustomCodesProblem } from '../recorder/options.js';
import { DEFAULT_PREFIX } from '../codes/vocabulary.js';
import { DEFAULT_RECONNECT_MAX_KEYS, DEFAULT_RECONNECT_WINDOW_MS } from '../codes/vocabulary.js';
import { reconnectMaxKeysProblem, reconnectWindowProblem } from '../hook/reconnect-options.js';
import { parseClientKey, type ClientKeySpec } from './client-key.js';
import { CLIENT_REPORT_FLAGS, clientReportConfig, type ClientReportConfig } from './client-report-config.js';
import { tlsFiles, type TlsFiles } from './tls.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface HostPort {
  host: string;
  port: number;
}

export interface AgentConfig {
  listen: HostPort;
  /** Upstream WebSocket URL; undefined = built-in echo endpoint. */
  upstream: URL | undefined;
  metricsListen: HostPort;
  metricsToken: string | undefined;
  codes: CodeNames;
  maxCustomCodes: number;
  metricPrefix: string;
  maxConnections: number;
  /** Milliseconds; 0 = off. */
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  connectTimeoutMs: number;
  drainTimeoutMs: number;
  halfCloseTimeoutMs: number;
  logLevel: LogLevel;
  /** Agent processes (cluster workers); 1 = no cluster. */
  workers: number;
  /** Reconnect tracking: where the client key comes from (undefined = off), the window (ms) and the table's bound. */
  clientKey: ClientKeySpec | undefined;
  reconnectWindowMs: number;
  reconnectMaxKeys: number;
  /** The client-report routes on the WebSocket port (client-report-config.ts); undefined = off. */
  clientReports: ClientReportConfig | undefined;
  /** --tls-cert/--tls-key: serve wss:// on --listen; undefined = plain ws://. */
  tls: TlsFiles | undefined;
  /** The live page's ring of recent closes (0 = off), whether it keeps the peer's address, and which closes get a log line. */
  recentCloses: number;
  recentClosesPeer: boolean;
  logCloses: LogCloses;
}

const LOG_CLOSES = ['off', 'abnormal', 'all'] as const;
export type LogCloses = (typeof LOG_CLOSES)[number];
/** The largest --recent-closes (the ring's own bound, src/live/recent-closes.ts). */
const MAX_RECENT_CLOSES = 100_000;

export type ParseResult = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: AgentConfig };

export class ConfigError extends Error {
  readonly code = 'WS_CLOSE_AGENT_INVALID_CONFIG';
}

type FlagType =
  'hostport' | 'url' | 'string' | 'file' | 'codes' | 'count' | 'prefix' | 'duration' | 'timeout' | 'loglevel' | 'workers' | 'switch' | 'boolean' | 'logcloses';

export interface Flag {
  readonly name: string;
  readonly type: FlagType;
  readonly arg: string;
  readonly default?: string;
  readonly help: string;
}

// prettier-ignore
export const FLAGS: readonly Flag[] = [
  { name: 'listen',             type: 'hostport', arg: 'HOST:PORT', default: '0.0.0.0:8080', help: 'where WebSocket clients connect' },
  { name: 'upstream',           type: 'url',      arg: 'URL',       help: 'ws:// or wss:// backend to forward to; without it, a built-in echo endpoint answers' },
  { name: 'metrics-listen',     type: 'hostport', arg: 'HOST:PORT', default: '0.0.0.0:9095', help: 'where /metrics, /healthz and /readyz are served' },
  { name: 'metrics-token',      type: 'string',   arg: 'TOKEN',     help: 'require "Authorization: Bearer TOKEN" on /metrics (off by default)' },
  { name: 'metrics-token-file', type: 'file',     arg: 'PATH',      help: 'read the /metrics bearer token from a file (e.g. a mounted Secret)' },
  { name: 'codes',              type: 'codes',    arg: 'LIST',      help: 'names for 3000-4999 codes: 4001=AUTH_EXPIRED,4002=RATE_LIMITED (or a JSON object)' },
  { name: 'max-custom-codes',   type: 'count',    arg: 'N',         default: String(DEFAULT_MAX_CUSTOM_CODES), help: 'distinct unnamed 3000-4999 codes labelled by value before falling back to the range' },
  { name: 'metric-prefix',      type: 'prefix',   arg: 'PREFIX',    default: DEFAULT_PREFIX, help: 'metric name prefix' },
  { name: 'max-connections',    type: 'count',    arg: 'N',         default: '10000', help: 'open connections before new upgrades get 503 (0 = no limit)' },
  { name: 'idle-timeout',       type: 'duration', arg: 'DURATION',  default: '0', help: 'close connections with 1001 after no bytes either way (0 = off)' },
  { name: 'handshake-timeout',  type: 'timeout',  arg: 'DURATION',  default: '10s', help: 'drop clients whose upgrade request is not complete in time' },
  { name: 'connect-timeout',    type: 'timeout',  arg: 'DURATION',  default: '5s', help: 'upstream connect + 101 answer timeout (504 after it)' },
  { name: 'drain-timeout',      type: 'duration', arg: 'DURATION',  default: '10s', help: 'on SIGTERM/SIGINT, wait this long for closes after sending 1001' },
  { name: 'half-close-timeout', type: 'duration', arg: 'DURATION',  default: '5s', help: 'end a connection this long after one side half-closed it' },
  { name: 'tls-cert',           type: 'string',   arg: 'FILE',      help: 'serve wss:// on --listen with this PEM certificate (chain); needs --tls-key; reloaded when the file changes' },
  { name: 'tls-key',            type: 'string',   arg: 'FILE',      help: 'the PEM private key of --tls-cert' },
  { name: 'tls-check-interval', type: 'duration', arg: 'DURATION',  default: '10s', help: 'how often --tls-cert and --tls-key are checked for a new pair (0 = never)' },
  { name: 'workers',            type: 'workers',  arg: 'N|auto',    default: '1', help: 'agent processes sharing the listen port; /metrics on the primary sums them (auto = one per core)' },
  { name: 'client-key',         type: 'string',   arg: 'SOURCE',    help: 'count reconnects by client key: ip, header:NAME, cookie:NAME or query:NAME (off by default; keys kept only as keyed hashes)' },
  { name: 'reconnect-window',   type: 'duration', arg: 'DURATION',  default: `${DEFAULT_RECONNECT_WINDOW_MS / 1000}s`, help: 'a connection from a client key this soon after its last one ended is a reconnect' },
  { name: 'reconnect-max-keys', type: 'count',    arg: 'N',         default: String(DEFAULT_RECONNECT_MAX_KEYS), help: 'client keys remembered at once for reconnect tracking (about 100 bytes each; past it the oldest is forgotten)' },
  { name: 'recent-closes',      type: 'count',    arg: 'N',         default: '1000', help: `closes kept for the live page (/) and /api/closes/recent (0 = off, at most ${MAX_RECENT_CLOSES})` },
  { name: 'recent-closes-peer', type: 'boolean',  arg: '[true|false]', default: 'false', help: "keep the peer's address in recent closes and the close log" },
  { name: 'log-closes',         type: 'logcloses', arg: 'off|abnormal|all', default: 'off', help: 'one JSON log line per close on stdout (abnormal: every code but 1000 and 1001)' },
  { name: 'log-level',          type: 'loglevel', arg: 'LEVEL',     default: 'info', help: `${LOG_LEVELS.join('|')}` },
  ...CLIENT_REPORT_FLAGS,
];

const ENV_PREFIX = 'WS_CLOSE_AGENT_';
const MAX_WORKERS = 256;
/**
 * Kubernetes injects these for a Service named ws-close-agent (service links):
 * WS_CLOSE_AGENT_SERVICE_HOST, _SERVICE_PORT[_NAME], _PORT, _PORT_8080_TCP[_PROTO|_PORT|_ADDR].
 * They are not ours; any other unknown WS_CLOSE_AGENT_ variable is a typo worth an error.
 */
const SERVICE_LINK = /^WS_CLOSE_AGENT_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)?)$/;

export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, '_');
}

/** Parse `5`, `0.5`, `500ms`, `30s`, `5m`, `1h` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] as number;
  const ms = Number(m[1]) * factor;
  return Number.isFinite(ms) && ms <= 2 ** 31 - 1 ? Math.round(ms) : undefined;
}

/** Parse `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT` (the last two listen on all interfaces). */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([A-Za-z0-9.-]*):(\d{1,5})$/.exec(text) ?? /^()(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 65535 ? undefined : { host: m[1] || '0.0.0.0', port };
}

function parseCodesText(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as unknown;
  const codes: Record<string, string> = {};
  for (const item of trimmed.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) throw new Error(`"${item.trim()}" is not CODE=NAME`);
    const code = item.slice(0, eq).trim();
    if (Object.hasOwn(codes, code)) throw new Error(`${code} is named twice`);
    codes[code] = item.slice(eq + 1).trim();
  }
  return codes;
}

interface RawValue {
  value: string;
  /** How the user spelled it: `--flag` or the variable name. */
  source: string;
}

function convert(flag: Flag, raw: RawValue): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(`${raw.source}: ${JSON.stringify(raw.value)} is not valid: expected ${expected}`);
  };
  const { value } = raw;
  switch (flag.type) {
    case 'hostport':
      return parseHostPort(value) ?? fail('HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:8080');
    case 'url': {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return fail('a ws:// or wss:// URL, e.g. ws://127.0.0.1:9000/socket');
      }
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:') fail('a ws:// or wss:// URL');
      if (url.username || url.password) fail('a URL without credentials');
      return url;
    }
    case 'string':
      return value === '' ? fail('a non-empty value') : value;
    case 'file': {
      try {
        const content = readFileSync(value, 'utf8').trim();
        return content === '' ? fail('a file holding a non-empty token') : content;
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        return fail(`a readable file (${(err as Error).message})`);
      }
    }
    case 'codes':
      try {
        return parseCodeNames(parseCodesText(value), raw.source);
      } catch (err) {
        throw new ConfigError(`${raw.source}: ${(err as Error).message}`);
      }
    case 'count':
      return /^\d+$/.test(value.trim()) && Number(value) <= 1e9 ? Number(value) : fail('a whole number');
    case 'prefix':
      return /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(value) ? value : fail('a Prometheus metric name prefix such as websocket_');
    case 'duration':
      return parseDuration(value) ?? fail('a duration: seconds (2, 0.5) or with a unit (500ms, 30s, 5m, 1h)');
    case 'timeout': {
      // 0 would drop every handshake (or answer every upgrade with 504) at once: it is not a way to turn a timeout off.
      const ms = parseDuration(value);
      return ms !== undefined && ms > 0 ? ms : fail('a duration above 0: seconds (2, 0.5) or with a unit (500ms, 30s, 5m, 1h)');
    }
    case 'workers': {
      if (value === 'auto') return availableParallelism();
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      return n >= 1 && n <= MAX_WORKERS ? n : fail(`a number of workers from 1 to ${MAX_WORKERS}, or auto`);
    }
    case 'loglevel':
      return (LOG_LEVELS as readonly string[]).includes(value) ? value : fail(`one of ${LOG_LEVELS.join(', ')}`);
    case 'switch':
      return value === 'on' || value === 'off' ? value === 'on' : fail('on or off');
    case 'boolean':
      return value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : fail('true or false');
    case 'logcloses':
      return (LOG_CLOSES as readonly string[]).includes(value) ? value : fail(`one of ${LOG_CLOSES.join(', ')}`);
  }
}

/** Parse argv (without node and the script) and an environment into a config. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ParseResult {
  const byName = new Map(FLAGS.map((f) => [f.name, f]));
  const raw = new Map<string, RawValue>();

  for (const flag of FLAGS) {
    const name = envName(flag.name);
    const value = env[name];
    if (value !== undefined && value !== '') raw.set(flag.name, { value, source: name });
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith(ENV_PREFIX) && !FLAGS.some((f) => envName(f.name) === key) && !SERVICE_LINK.test(key)) {
      throw new ConfigError(`${key}: unknown environment variable (run with --help for the list)`);
    }
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (flags look like --listen 0.0.0.0:8080)`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const flag = byName.get(name);
    if (!flag) throw new ConfigError(`--${name}: unknown flag (run with --help for the list)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (flag.type === 'boolean') {
      // A switch: `--recent-closes-peer` alone means true; a value after it (true, false) is read as its value.
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) value = 'true';
      else {
        value = next;
        i++;
      }
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`--${name}: missing value (${flag.arg})`);
      value = next;
      i++;
    }
    raw.set(flag.name, { value, source: `--${name}` });
  }

  const get = (name: string): unknown => {
    const flag = byName.get(name) as Flag;
    const given = raw.get(name);
    if (given) return convert(flag, given);
    return flag.default === undefined ? undefined : convert(flag, { value: flag.default, source: `--${name} (default)` });
  };

  // Flags beat the environment here too: a token given one way on the command
  // line replaces one given the other way in the environment.
  const isFlag = (name: string): boolean => raw.get(name)?.source.startsWith('--') === true;
  if (raw.has('metrics-token') && raw.has('metrics-token-file') && isFlag('metrics-token') !== isFlag('metrics-token-file')) {
    raw.delete(isFlag('metrics-token') ? 'metrics-token-file' : 'metrics-token');
  }
  const tokenFromFlag = get('metrics-token') as string | undefined;
  const tokenFromFile = get('metrics-token-file') as string | undefined;
  if (tokenFromFlag !== undefined && tokenFromFile !== undefined) {
    throw new ConfigError('--metrics-token and --metrics-token-file: give one or the other, not both');
  }
  const maxCustomCodes = get('max-custom-codes') as number;
  const maxCustomCodesError = maxCustomCodesProblem(maxCustomCodes);
  if (maxCustomCodesError !== undefined) throw new ConfigError(`${raw.get('max-custom-codes')?.source ?? '--max-custom-codes'}: ${maxCustomCodesError}`);
  // Reconnect tracking (--client-key, --reconnect-window, --reconnect-max-keys).
  const clientKeyText = get('client-key') as string | undefined;
  const clientKey = clientKeyText === undefined ? undefined : parseClientKey(clientKeyText);
  if (typeof clientKey === 'string')
    throw new ConfigError(`${raw.get('client-key')?.source ?? '--client-key'}: ${JSON.stringify(clientKeyText)} is not valid: ${clientKey}`);
  const reconnectWindowMs = get('reconnect-window') as number;
  const windowProblem = reconnectWindowProblem(reconnectWindowMs);
  if (windowProblem !== undefined)
    throw new ConfigError(`${raw.get('reconnect-window')?.source ?? '--reconnect-window'}: ${windowProblem.replace(/, got .*/, '')}`);
  const reconnectMaxKeys = get('reconnect-max-keys') as number;
  const keysProblem = reconnectMaxKeysProblem(reconnectMaxKeys);
  if (keysProblem !== undefined) throw new ConfigError(`${raw.get('reconnect-max-keys')?.source ?? '--reconnect-max-keys'}: ${keysProblem}`);
  const listen = get('listen') as HostPort;
  const metricsListen = get('metrics-listen') as HostPort;
  if (
    listen.port !== 0 &&
    listen.port === metricsListen.port &&
    (listen.host === metricsListen.host || listen.host === '0.0.0.0' || metricsListen.host === '0.0.0.0')
  ) {
    throw new ConfigError(`--listen and --metrics-listen: both use port ${listen.port}; give them different ports`);
  }

  const workers = get('workers') as number;
  const clientReports = clientReportConfig(
    (name) => ({ value: get(name), source: raw.get(name)?.source ?? `--${name}`, given: raw.has(name) }),
    workers,
    (message) => {
      throw new ConfigError(message);
    },
  );
  let tls: TlsFiles | undefined;
  try {
    tls = tlsFiles(raw.get('tls-cert'), raw.get('tls-key'), get('tls-check-interval') as number);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  return {
    kind: 'run',
    config: {
      listen,
      upstream: get('upstream') as URL | undefined,
      metricsListen,
      metricsToken: tokenFromFlag ?? tokenFromFile,
      codes: (get('codes') as CodeNames | undefined) ?? new Map(),
      maxCustomCodes,
      metricPrefix: get('metric-prefix') as string,
      maxConnections: get('max-connections') as number,
      idleTimeoutMs: get('idle-timeout') as number,
      handshakeTimeoutMs: get('handshake-timeout') as number,
      connectTimeoutMs: get('connect-timeout') as number,
      drainTimeoutMs: get('drain-timeout') as number,
      halfCloseTimeoutMs: get('half-close-timeout') as number,
      logLevel: get('log-level') as LogLevel,
      clientKey,
      reconnectWindowMs,
      reconnectMaxKeys,
      workers,
      clientReports,
      tls,
      ...liveConfig(get, raw),
    },
  };
}

/** The live page's flags (--recent-closes bounded like the ring itself). */
function liveConfig(get: (name: string) => unknown, raw: Map<string, RawValue>): Pick<AgentConfig, 'recentCloses' | 'recentClosesPeer' | 'logCloses'> {
  const recentCloses = get('recent-closes') as number;
  if (recentCloses > MAX_RECENT_CLOSES) {
    const source = raw.get('recent-closes')?.source ?? '--recent-closes';
    throw new ConfigError(`${source}: ${recentCloses} is too many: expected 0 (off) to ${MAX_RECENT_CLOSES}; for more, use --log-closes and a log pipeline`);
  }
  return { recentCloses, recentClosesPeer: get('recent-closes-peer') as boolean, logCloses: get('log-closes') as LogCloses };
}

/** The --help text, generated from FLAGS. */
export function helpText(): string {
  const lines = [
    'Usage: ws-close-agent [flags]',
    '',
    'Records WebSocket close codes as Prometheus metrics. With --upstream it is a',
    'transparent proxy in front of a WebSocket server written in any language;',
    'without it, it serves an instrumented echo endpoint.',
    '',
    'Flags (each also read from the environment variable shown):',
  ];
  for (const f of FLAGS) {
    const def = f.default === undefined ? '' : ` (default ${f.default === '' ? '""' : f.default})`;
    lines.push(`  --${f.name} ${f.arg}`.padEnd(38) + ` ${envName(f.name)}`, `      ${f.help}${def}`);
  }
  lines.push('  --help', '      show this text', '  --version', '      print the version', '');
  lines.push('Durations are seconds (2, 0.5) or carry a unit (500ms, 30s, 5m, 1h).', '');
  return lines.join('\n');
}
