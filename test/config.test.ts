import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FLAGS, envName, parseConfig, parseDuration, parseHostPort, type AgentConfig } from '../src/agent/config.js';
import { Registry } from 'prom-client';
import { createRecorder } from '../src/recorder/registry.js';
import { MAIN, ROOT, runAgentCommand } from './helpers/agent-process.js';
import { configError } from './helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-close-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 's3cret-from-file\n');
// A committed pair (see test/fixtures/tls/README.md): the unit tests run without openssl.
const tlsCert = fileURLToPath(new URL('./fixtures/tls/tls.crt', import.meta.url));
const tlsKey = fileURLToPath(new URL('./fixtures/tls/tls.key', import.meta.url));

function config(argv: string[], env: NodeJS.ProcessEnv = {}): AgentConfig {
  const r = parseConfig(argv, env);
  if (r.kind !== 'run') throw new Error(`expected a run config, got ${r.kind}`);
  return r.config;
}

// Every flag: a valid value, what it becomes, and an invalid value (`with`: flags it needs beside it).
// prettier-ignore
const CASES: { flag: string; value: string; pick: (c: AgentConfig) => unknown; expected: unknown; invalid: string; with?: string[] }[] = [
  { flag: 'listen',             value: '127.0.0.1:8081',     pick: (c) => c.listen,          expected: { host: '127.0.0.1', port: 8081 }, invalid: '127.0.0.1:70000' },
  { flag: 'upstream',           value: 'ws://backend:9000/s', pick: (c) => c.upstream?.href, expected: 'ws://backend:9000/s', invalid: 'http://backend:9000/' },
  { flag: 'metrics-listen',     value: '[::1]:9100',         pick: (c) => c.metricsListen,   expected: { host: '::1', port: 9100 }, invalid: 'localhost' },
  { flag: 'metrics-token',      value: 's3cret',             pick: (c) => c.metricsToken,    expected: 's3cret', invalid: '' },
  { flag: 'metrics-token-file', value: tokenFile,            pick: (c) => c.metricsToken,    expected: 's3cret-from-file', invalid: join(dir, 'missing') },
  { flag: 'codes',              value: '4001=AUTH_EXPIRED',  pick: (c) => [...c.codes],      expected: [[4001, 'AUTH_EXPIRED']], invalid: '1000=NORMAL' },
  { flag: 'max-custom-codes',   value: '7',                  pick: (c) => c.maxCustomCodes,  expected: 7, invalid: '-1' },
  { flag: 'metric-prefix',      value: 'edge_ws_',           pick: (c) => c.metricPrefix,    expected: 'edge_ws_', invalid: '1bad' },
  { flag: 'max-connections',    value: '2',                  pick: (c) => c.maxConnections,  expected: 2, invalid: '2.5' },
  { flag: 'idle-timeout',       value: '30s',                pick: (c) => c.idleTimeoutMs,   expected: 30_000, invalid: '5x' },
  { flag: 'handshake-timeout',  value: '500ms',              pick: (c) => c.handshakeTimeoutMs, expected: 500, invalid: '-1' },
  { flag: 'connect-timeout',    value: '0.5',                pick: (c) => c.connectTimeoutMs, expected: 500, invalid: 'soon' },
  { flag: 'drain-timeout',      value: '5m',                 pick: (c) => c.drainTimeoutMs,  expected: 300_000, invalid: '5 minutes' },
  { flag: 'half-close-timeout', value: '2',                  pick: (c) => c.halfCloseTimeoutMs, expected: 2000, invalid: '1d' },
  { flag: 'log-level',          value: 'debug',              pick: (c) => c.logLevel,        expected: 'debug', invalid: 'verbose' },
  { flag: 'workers',            value: '3',                  pick: (c) => c.workers,         expected: 3, invalid: '0' },
  { flag: 'client-key',         value: 'header:X-User-Id',   pick: (c) => c.clientKey,       expected: { source: 'header', name: 'x-user-id' }, invalid: 'user' },
  { flag: 'reconnect-window',   value: '30s',                pick: (c) => c.reconnectWindowMs, expected: 30_000, invalid: '0' },
  { flag: 'reconnect-max-keys', value: '5000',               pick: (c) => c.reconnectMaxKeys, expected: 5000, invalid: '0' },
  { flag: 'client-reports',     value: 'off',                pick: (c) => c.clientReports,   expected: undefined, invalid: 'maybe' },
  { flag: 'client-report-window', value: '30s',              pick: (c) => c.clientReports?.windowMs, expected: 30_000, invalid: '0' },
  { flag: 'client-report-max-entries', value: '5',           pick: (c) => c.clientReports?.maxEntries, expected: 5, invalid: '0' },
  { flag: 'client-report-origins', value: 'https://App.example.com, http://127.0.0.1:8080', pick: (c) => c.clientReports?.origins, expected: ['https://app.example.com', 'http://127.0.0.1:8080'], invalid: 'https://app.example.com/page' },
  { flag: 'client-report-rate-limit', value: '0',            pick: (c) => c.clientReports?.rateLimit, expected: 0, invalid: '-5' },
  { flag: 'client-report-max-body', value: '2048',           pick: (c) => c.clientReports?.maxBodyBytes, expected: 2048, invalid: '63' },
  { flag: 'tls-cert',           value: tlsCert,              pick: (c) => c.tls?.certFile,   expected: tlsCert, invalid: join(dir, 'missing.crt'), with: ['--tls-key', tlsKey] },
  { flag: 'tls-key',            value: tlsKey,               pick: (c) => c.tls?.keyFile,    expected: tlsKey, invalid: tokenFile, with: ['--tls-cert', tlsCert] },
  { flag: 'tls-check-interval', value: '2s',                 pick: (c) => c.tls?.checkIntervalMs, expected: 2000, invalid: 'soon', with: ['--tls-cert', tlsCert, '--tls-key', tlsKey] },
  { flag: 'recent-closes',      value: '50',                 pick: (c) => c.recentCloses,    expected: 50, invalid: '100001' },
  { flag: 'recent-closes-peer', value: 'true',               pick: (c) => c.recentClosesPeer, expected: true, invalid: 'yes' },
  { flag: 'log-closes',         value: 'abnormal',           pick: (c) => c.logCloses,       expected: 'abnormal', invalid: 'some' },
];

describe('parseConfig: every flag', () => {
  it('the table covers every flag', () => {
    expect(CASES.map((c) => c.flag).sort()).toEqual(FLAGS.map((f) => f.name).sort());
  });

  for (const { flag, value, pick, expected, invalid, with: also = [] } of CASES) {
    describe(`--${flag}`, () => {
      it(`parses "--${flag} value", "--${flag}=value" and ${envName(flag)}`, () => {
        expect(pick(config([`--${flag}`, value, ...also]))).toEqual(expected);
        expect(pick(config([`--${flag}=${value}`, ...also]))).toEqual(expected);
        expect(pick(config(also, { [envName(flag)]: value }))).toEqual(expected);
      });

      it(`rejects ${JSON.stringify(invalid)} naming --${flag} or ${envName(flag)}`, () => {
        expect(configError([`--${flag}`, invalid, ...also]).message).toMatch(new RegExp(`^--${flag}: `));
        expect(configError([`--${flag}=${invalid}`, ...also]).message).toMatch(new RegExp(`^--${flag}: `));
        if (invalid !== '') {
          // An empty variable counts as unset (as Kubernetes leaves optional values).
          expect(configError(also, { [envName(flag)]: invalid }).message).toMatch(new RegExp(`^${envName(flag)}: `));
        }
      });
    });
  }

  it('a flag beats its environment variable', () => {
    const c = config(['--listen', '127.0.0.1:1', '--log-level=warn', '--codes', '4001=FROM_FLAG'], {
      WS_CLOSE_AGENT_LISTEN: '127.0.0.1:2',
      WS_CLOSE_AGENT_LOG_LEVEL: 'error',
      WS_CLOSE_AGENT_CODES: '4001=FROM_ENV',
      WS_CLOSE_AGENT_DRAIN_TIMEOUT: '3s',
    });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 1 });
    expect(c.logLevel).toBe('warn');
    expect([...c.codes]).toEqual([[4001, 'FROM_FLAG']]);
    expect(c.drainTimeoutMs).toBe(3000);
  });

  it('an invalid environment value is not checked when the flag overrides it', () => {
    expect(config(['--idle-timeout', '1s'], { WS_CLOSE_AGENT_IDLE_TIMEOUT: '5x' }).idleTimeoutMs).toBe(1000);
  });

  it('--metrics-token-file given as a flag beats WS_CLOSE_AGENT_METRICS_TOKEN', () => {
    expect(config(['--metrics-token-file', tokenFile], { WS_CLOSE_AGENT_METRICS_TOKEN: 'from-env' }).metricsToken).toBe('s3cret-from-file');
    expect(config(['--metrics-token', 'from-flag'], { WS_CLOSE_AGENT_METRICS_TOKEN_FILE: tokenFile }).metricsToken).toBe('from-flag');
  });

  it('defaults', () => {
    const c = config([]);
    expect(c).toEqual({
      listen: { host: '0.0.0.0', port: 8080 },
      upstream: undefined,
      metricsListen: { host: '0.0.0.0', port: 9095 },
      metricsToken: undefined,
      codes: new Map(),
      maxCustomCodes: 100,
      metricPrefix: 'websocket_',
      maxConnections: 10000,
      idleTimeoutMs: 0,
      handshakeTimeoutMs: 10_000,
      connectTimeoutMs: 5000,
      drainTimeoutMs: 10_000,
      halfCloseTimeoutMs: 5000,
      logLevel: 'info',
      workers: 1,
      clientKey: undefined,
      reconnectWindowMs: 60_000,
      reconnectMaxKeys: 100_000,
      clientReports: { windowMs: 120_000, maxEntries: 10_000, origins: undefined, rateLimit: 60, maxBodyBytes: 1024 },
      tls: undefined,
      recentCloses: 1000,
      recentClosesPeer: false,
      logCloses: 'off',
    } satisfies AgentConfig);
  });

  it('--client-key: each source, and a clear error for anything else', () => {
    expect(config(['--client-key', 'ip']).clientKey).toEqual({ source: 'ip' });
    expect(config(['--client-key', 'cookie:session']).clientKey).toEqual({ source: 'cookie', name: 'session' });
    expect(config(['--client-key', 'query:client_id']).clientKey).toEqual({ source: 'query', name: 'client_id' });
    expect(config([]).clientKey).toBeUndefined();
    for (const bad of ['ip:x', 'header:', 'cookie:a b', 'query:a&b', 'path:x', 'header:' + 'x'.repeat(300)]) {
      expect(configError(['--client-key', bad]).message).toMatch(/^--client-key: .*expected ip, header:NAME, cookie:NAME or query:NAME/);
    }
    expect(configError(['--reconnect-window', '2d']).message).toMatch(/^--reconnect-window: /);
    expect(configError(['--reconnect-window', '25h']).message).toMatch(/^--reconnect-window: must be a duration above 0 and at most a day/);
    expect(configError(['--reconnect-max-keys', '20000000']).message).toMatch(/^--reconnect-max-keys: must be an integer from 1 to 10000000/);
  });

  it('--workers auto is one per core', () => {
    expect(config(['--workers', 'auto']).workers).toBe(availableParallelism());
    expect(configError(['--workers', '257']).message).toMatch(/^--workers: .*from 1 to 256, or auto/);
  });

  it('client reports: off with --workers above 1 (a report may reach another worker), an error when asked for; --client-report-origins *', () => {
    expect(config(['--workers', '2']).clientReports).toBeUndefined();
    expect(configError(['--workers', '2', '--client-reports', 'on']).message).toMatch(/^--client-reports: client reports need a single process/);
    expect(configError(['--workers', '2'], { WS_CLOSE_AGENT_CLIENT_REPORTS: 'on' }).message).toMatch(/^WS_CLOSE_AGENT_CLIENT_REPORTS: /);
    expect(config(['--client-report-origins', '*']).clientReports?.origins).toBe('*');
    expect(configError(['--client-report-origins', ' , ']).message).toMatch(/^--client-report-origins: /);
  });

  it('--help and --version', () => {
    expect(parseConfig(['--help'])).toEqual({ kind: 'help' });
    expect(parseConfig(['-h'])).toEqual({ kind: 'help' });
    expect(parseConfig(['--version'])).toEqual({ kind: 'version' });
  });

  it('the command answers --help and a configuration error without loading prom-client or ws', () => {
    // A resolve hook that fails the process if either package is imported.
    const hook = `export async function resolve(s, c, next) { if (s === 'prom-client' || s === 'ws') throw new Error('loaded ' + s); return next(s, c); }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
    const run = (arg: string) =>
      spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, MAIN, arg], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 10_000,
      });
    const help = run('--help');
    expect(help.stderr).not.toMatch(/loaded/);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--upstream/);
    const bad = run('--no-such-flag');
    expect(bad.stderr).toMatch(/--no-such-flag: unknown flag/);
    expect(bad.stderr).not.toMatch(/loaded/);
    // The hook itself works: importing the library through it fails.
    const lib = spawnSync(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '-e', "import('prom-client').then(() => process.exit(0), () => process.exit(3))"],
      { cwd: ROOT, timeout: 10_000 },
    );
    expect(lib.status).toBe(3);
  });
});

describe('parseConfig: values', () => {
  it.each([
    ['2', 2000],
    ['0.5', 500],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['0', 0],
  ])('duration %s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(config(['--drain-timeout', text]).drainTimeoutMs).toBe(ms);
  });

  it.each(['5x', '-1', '', ' ', 'ms', '1.', '1e3', '5 s', '1000h'])('duration %j is rejected', (text) => {
    expect(parseDuration(text)).toBeUndefined();
    expect(configError([`--drain-timeout=${text}`]).message).toMatch(/^--drain-timeout: .*expected a duration/);
  });

  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['example.com:65535', { host: 'example.com', port: 65535 }],
    ['[::1]:9095', { host: '::1', port: 9095 }],
    ['[::]:80', { host: '::', port: 80 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['8080', { host: '0.0.0.0', port: 8080 }],
  ])('host:port %s', (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });

  it.each(['', 'localhost', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:-1', '::1:80', 'a b:80', 'http://x:80', '127.0.0.1:80x'])(
    'host:port %j is rejected',
    (text) => {
      expect(parseHostPort(text)).toBeUndefined();
    },
  );

  it('--listen and --metrics-listen on the same port are rejected', () => {
    expect(configError(['--listen', '127.0.0.1:9000', '--metrics-listen', '0.0.0.0:9000']).message).toMatch(/--listen and --metrics-listen/);
  });

  it('--codes as a list and as JSON, in flags and env', () => {
    const expected = new Map([
      [4001, 'AUTH_EXPIRED'],
      [3001, 'RATE_LIMITED'],
    ]);
    expect(config(['--codes', '4001=AUTH_EXPIRED, 3001=RATE_LIMITED']).codes).toEqual(expected);
    expect(config(['--codes', '{"4001":"AUTH_EXPIRED","3001":"RATE_LIMITED"}']).codes).toEqual(expected);
    expect([...config([], { WS_CLOSE_AGENT_CODES: ' {"4001": "AUTH_EXPIRED"} ' }).codes]).toEqual([[4001, 'AUTH_EXPIRED']]);
  });

  it.each([
    ['4001', /"4001" is not CODE=NAME/],
    ['4001=auth_expired', /4001.*must match/],
    ['4001=', /4001.*must match/],
    ['=AUTH', /not a close code/],
    ['1000=NORMAL', /only codes 3000-4999 can be named; 1000/],
    ['5000=BIG', /only codes 3000-4999 can be named; 5000/],
    ['2999=EXT', /only codes 3000-4999 can be named; 2999/],
    ['4001=CLOSE_NORMAL', /built-in codename/],
    ['abc=NAME', /not a close code/],
    ['{"4001": 5}', /must match/],
    ['{not json', /^--codes: /],
    ['["4001"]', /is not CODE=NAME/],
  ])('--codes %j is rejected', (text, message) => {
    const err = configError(['--codes', text]);
    expect(err.message).toMatch(/^--codes: /);
    expect(err.message).toMatch(message);
    expect(configError([], { WS_CLOSE_AGENT_CODES: text }).message).toMatch(/^WS_CLOSE_AGENT_CODES: /);
  });

  it('--metrics-token-file: an empty file is rejected; --metrics-token with it too', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(configError(['--metrics-token-file', empty]).message).toMatch(/^--metrics-token-file: .*non-empty/);
    expect(configError(['--metrics-token-file', join(dir, 'missing')]).message).toMatch(/^--metrics-token-file: .*readable file/);
    expect(configError(['--metrics-token', 'a', '--metrics-token-file', tokenFile]).message).toMatch(/--metrics-token and --metrics-token-file/);
  });

  it("--max-custom-codes above 2000 is rejected with the library's own rule and message", () => {
    expect(config(['--max-custom-codes', '2000']).maxCustomCodes).toBe(2000);
    const message = configError(['--max-custom-codes', '5000']).message;
    expect(message).toBe('--max-custom-codes: must be an integer from 0 to 2000 (every code in 3000-4999), got 5000');
    let libraryMessage = '';
    try {
      createRecorder({ registry: new Registry(), maxCustomCodes: 5000 });
    } catch (err) {
      libraryMessage = (err as Error).message;
    }
    expect(libraryMessage).toBe('maxCustomCodes must be an integer from 0 to 2000 (every code in 3000-4999), got 5000');
  });

  it('--upstream rejects credentials and non-ws schemes', () => {
    expect(config(['--upstream', 'wss://b.example/x']).upstream?.protocol).toBe('wss:');
    expect(configError(['--upstream', 'ws://user:pw@b:1/']).message).toMatch(/^--upstream: .*without credentials/);
    expect(configError(['--upstream', 'not a url']).message).toMatch(/^--upstream: /);
  });
});

describe('parseConfig: unknown and malformed arguments', () => {
  it('an unknown flag', () => {
    expect(configError(['--listn', '127.0.0.1:1']).message).toMatch(/^--listn: unknown flag/);
    expect(configError(['--listn=127.0.0.1:1']).message).toMatch(/^--listn: unknown flag/);
  });

  it('an unknown WS_CLOSE_AGENT_ variable', () => {
    expect(configError([], { WS_CLOSE_AGENT_LISTN: '127.0.0.1:1' }).message).toMatch(/^WS_CLOSE_AGENT_LISTN: unknown environment variable/);
  });

  it('Kubernetes service-link variables for a Service named ws-close-agent are ignored', () => {
    const links = {
      WS_CLOSE_AGENT_SERVICE_HOST: '10.0.0.7',
      WS_CLOSE_AGENT_SERVICE_PORT: '8080',
      WS_CLOSE_AGENT_SERVICE_PORT_METRICS: '9095',
      WS_CLOSE_AGENT_PORT: 'tcp://10.0.0.7:8080',
      WS_CLOSE_AGENT_PORT_8080_TCP: 'tcp://10.0.0.7:8080',
      WS_CLOSE_AGENT_PORT_8080_TCP_PROTO: 'tcp',
      WS_CLOSE_AGENT_PORT_8080_TCP_PORT: '8080',
      WS_CLOSE_AGENT_PORT_8080_TCP_ADDR: '10.0.0.7',
    };
    expect(config([], links).listen.port).toBe(8080);
    expect(configError([], { ...links, WS_CLOSE_AGENT_PORTS: '1' }).message).toMatch(/^WS_CLOSE_AGENT_PORTS: unknown environment variable/);
  });

  it('other variables are ignored', () => {
    expect(config([], { PATH: '/bin', WS_CLOSE: 'x', LISTEN: 'y' }).listen.port).toBe(8080);
  });

  it('a flag without its value', () => {
    expect(configError(['--listen']).message).toMatch(/^--listen: missing value/);
    expect(configError(['--listen', '--log-level', 'info']).message).toMatch(/^--listen: missing value/);
  });

  it('a positional argument', () => {
    expect(configError(['serve']).message).toMatch(/unexpected argument "serve"/);
    expect(configError(['-l', '1']).message).toMatch(/unexpected argument "-l"/);
  });
});

describe('the ws-close-agent command', () => {
  it('exits 2 with one message naming the flag on a bad value', () => {
    const r = runAgentCommand(['--idle-timeout', '5x']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^ws-close-agent: --idle-timeout: "5x" is not valid/);
    expect(r.stderr.match(/--idle-timeout/g)).toHaveLength(1);
    expect(lines.length).toBeLessThanOrEqual(2);
  });

  it('exits 2 naming the variable on a bad environment value', () => {
    const r = runAgentCommand([], { WS_CLOSE_AGENT_MAX_CONNECTIONS: 'lots' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ws-close-agent: WS_CLOSE_AGENT_MAX_CONNECTIONS: "lots" is not valid/);
  });

  it('--help exits 0 and lists every flag with its variable', () => {
    const r = runAgentCommand(['--help']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    for (const f of FLAGS) {
      const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${f.name} `));
      expect(line, `--${f.name} in --help`).toBeDefined();
      expect(line).toContain(envName(f.name));
    }
    expect(r.stdout).toMatch(/500ms, 30s, 5m/);
  });

  it('--version prints package.json version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = runAgentCommand(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });
});
