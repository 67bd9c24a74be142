/**
 * Hostile configuration: every invalid flag, environment value and library
 * option gives one clear error that names it (a TypeError with a stable
 * `code` in the library, exit 2 with one line on stderr for the command).
 * test/config.test.ts covers one invalid value per flag through parseConfig;
 * this adds several per flag, the real command for every flag both ways, and
 * the library's options.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { FLAGS, envName } from '../../src/agent/config.js';
import { CodeNameError } from '../../src/codes/close-codes.js';
import { instrument } from '../../src/hook/instrument.js';
import { metricsHandler } from '../../src/export/http.js';
import { OptionError } from '../../src/recorder/options.js';
import { createRecorder } from '../../src/recorder/registry.js';
import { runAgentCommandAsync, type CommandResult } from '../helpers/agent-process.js';
import { configError } from '../helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-close-agent-hostile-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const emptyFile = join(dir, 'empty');
writeFileSync(emptyFile, '  \n');
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 's3cret\n');

// Several invalid values for every flag, including the sneaky ones.
// prettier-ignore
const INVALID: Record<string, string[]> = {
  'listen':             ['127.0.0.1:70000', 'localhost', '127.0.0.1:', ':-1', '[::1]', '[zz]:80', 'a b:80', 'http://x:80', '127.0.0.1:80\n'],
  'upstream':           ['http://backend:9000/', 'backend:9000', 'ws://', 'ws://user:pw@b:1/', 'ws://b:99999/', 'ftp://b/', 'not a url'],
  'metrics-listen':     ['localhost', '9095x', '127.0.0.1:65536', '0.0.0.0:8080:1'],
  'metrics-token':      [],  // any non-empty string is a token; '' means unset in the environment
  'metrics-token-file': [join(dir, 'missing'), emptyFile, dir],
  'codes':              ['4001', '4001=auth_expired', '1000=NORMAL', '5000=BIG', '4001=CLOSE_NORMAL', '{"4001": 5}', '{not json', '[1,2]', `4001=${'A'.repeat(65)}`, '4001="QUOTED"', '4001=A\nB', 'abc=NAME', '4001=A,4001=B'],
  'max-custom-codes':   ['-1', '2.5', 'ten', '1e3', '0x10', '99999999999'],
  'metric-prefix':      ['1bad', 'bad-prefix', 'with space_', 'ümlaut_', 'a"b'],
  'max-connections':    ['2.5', '-1', 'lots', '1e4', ' '],
  'idle-timeout':       ['5x', '-1', '1d', '5 minutes', '1e3', '1000h', 'ms', '.5'],
  'handshake-timeout':  ['-1', 'soon', '10 s', '1w', '0', '0ms'],
  'connect-timeout':    ['soon', '0', '0s', '0.0001', '-5s'],
  'drain-timeout':      ['5 minutes', 'forever', '-0.5'],
  'half-close-timeout': ['1d', 'x', '9999999999'],
  'workers':            ['0', '-1', 'many', '2.5', '100000'],
  'client-key':         ['mac', 'header:', 'cookie', 'query:', 'header:a b', 'IP'],
  'reconnect-window':   ['0', '-1s', 'soon', '1000d'],
  'reconnect-max-keys': ['0', '-1', '2.5', 'many', '99999999999'],
  'client-reports':     ['maybe', 'ON', 'yes', '1'],
  'client-report-window': ['0', '-1s', 'soon'],
  'client-report-max-entries': ['0', '-1', '2.5', 'many'],
  'client-report-origins': ['app.example.com', 'https://app.example.com/path'],
  'client-report-rate-limit': ['-5', '2.5', 'lots'],
  'client-report-max-body': ['63', '-1', 'big'],
  'tls-cert':           [join(dir, 'missing.crt'), emptyFile, dir],
  'tls-key':            [join(dir, 'missing.key'), emptyFile, dir],
  'tls-check-interval': ['soon', '-1s', '1000d'],
  'recent-closes':      ['-1', 'many', '2.5', '100001'],
  'recent-closes-peer': ['yes', '2', 'TRUE', 'on'],
  'log-closes':         ['some', 'ALL', 'errors', 'on'],
  'log-level':          ['verbose', 'INFO', 'trace', ' info'],
};

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('parseConfig: several invalid values for every flag', () => {
  it('the table has every flag', () => {
    expect(Object.keys(INVALID).sort()).toEqual(FLAGS.map((f) => f.name).sort());
  });

  for (const [flag, values] of Object.entries(INVALID)) {
    for (const value of values) {
      it(`--${flag} ${JSON.stringify(value)} is rejected naming --${flag} (and ${envName(flag)})`, () => {
        const err = configError([`--${flag}=${value}`]);
        expect(err.message).toMatch(new RegExp(`^--${escape(flag)}: `));
        // One error naming one flag: the message does not drift into another flag's name.
        for (const other of FLAGS) if (other.name !== flag && !flag.startsWith(other.name)) expect(err.message).not.toContain(`--${other.name}:`);
        expect(configError([], { [envName(flag)]: value }).message).toMatch(new RegExp(`^${envName(flag)}: `));
      });
    }
  }

  it('the first invalid value is the one reported when several are wrong', () => {
    expect(configError(['--listen', 'nope', '--log-level', 'loud']).message).toMatch(/^--listen: /);
  });

  it('an empty flag value is not a way around validation', () => {
    for (const flag of ['listen', 'upstream', 'metrics-token', 'max-connections', 'idle-timeout', 'log-level']) {
      expect(configError([`--${flag}=`]).message).toMatch(new RegExp(`^--${flag}: `));
    }
  });
});

type Run = CommandResult;

/** Run the command to completion (bounded); async so that two run at once. */
const run = runAgentCommandAsync;

/** Run every job with at most two at a time (two cores). */
async function runAll<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await (jobs[i] as () => Promise<T>)();
      }
    }),
  );
  return results;
}

/** Exit 2, nothing on stdout, one error line naming `name` once, then the --help hint. */
function expectOneError(r: Run, name: string): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^ws-close-agent: ${escape(name)}: `));
  expect(lines.slice(1)).toEqual(['Run ws-close-agent --help for the flags.']);
  expect(r.stderr.split(name).length - 1, `${name} named once`).toBe(1);
}

describe('the ws-close-agent command on bad configuration', () => {
  // The first invalid value of each flag, given as the flag or (every other
  // one) as its variable: parseConfig treats both alike (tested above), and
  // each run of the command costs a Node start-up.
  const cases = Object.entries(INVALID)
    .filter(([, values]) => values.length > 0)
    .map(([flag, values], i) => {
      const value = values.find((v) => !v.includes('\n')) as string;
      return i % 2 === 0 ? { name: `--${flag}`, args: [`--${flag}`, value], env: {} } : { name: envName(flag), args: [], env: { [envName(flag)]: value } };
    });
  const misc = [
    { name: '--listn', args: ['--listn', '127.0.0.1:1'], env: {} },
    { name: 'WS_CLOSE_AGENT_LISTN', args: [], env: { WS_CLOSE_AGENT_LISTN: '127.0.0.1:1' } },
    { name: '--upstream', args: ['--upstream'], env: {} },
    { name: '--metrics-token and --metrics-token-file', args: ['--metrics-token', 'a', '--metrics-token-file', tokenFile], env: {} },
    { name: '--listen and --metrics-listen', args: ['--listen', '127.0.0.1:9000', '--metrics-listen', '127.0.0.1:9000'], env: {} },
  ];
  let results: Run[];

  beforeAll(async () => {
    results = await runAll([...cases, ...misc].map((c) => () => run(c.args, c.env)));
  }, 60_000);

  cases.forEach((c, i) => {
    it(`${c.name}=${JSON.stringify(c.args[1] ?? Object.values(c.env)[0])}: exit 2 with one line naming ${c.name}`, () => {
      expectOneError(results[i] as Run, c.name);
    });
  });
  misc.forEach((c, i) => {
    it(`${c.name}: exit 2 with one line naming it`, () => {
      const r = results[cases.length + i] as Run;
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(2);
      expect(r.stderr).toMatch(new RegExp(`^ws-close-agent: ${escape(c.name)}`));
    });
  });

  it('a port already in use: a non-zero exit with one message naming the flag and address, no crash trace', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const [ws, metrics] = await runAll([
        () => run(['--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0']),
        () => run(['--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${port}`]),
      ]);
      for (const [r, flag] of [
        [ws, '--listen'],
        [metrics, '--metrics-listen'],
      ] as [Run, string][]) {
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(`ws-close-agent: cannot start: ${flag} 127.0.0.1:${port}: address already in use (EADDRINUSE)\n`);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      }
    } finally {
      blocker.close();
    }
  });
});

/** The error `fn` throws: a TypeError with `code`, and a message matching `names`. */
function expectOptionError(fn: () => unknown, code: string, names: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'an error is thrown').toBeInstanceOf(TypeError);
  expect((thrown as { code?: unknown }).code).toBe(code);
  expect((thrown as Error).message).toMatch(names);
}

const INVALID_OPTION = 'WS_CLOSE_AGENT_INVALID_OPTION';
const INVALID_CODE_NAME = 'WS_CLOSE_AGENT_INVALID_CODE_NAME';

// Options shared by createRecorder() and instrument(), with the option each must name.
// prettier-ignore
const BAD_RECORDER_OPTIONS: [string, Record<string, unknown>, string, RegExp][] = [
  ['prefix "bad-prefix"',    { prefix: 'bad-prefix' },          INVALID_OPTION,    /^prefix /],
  ['prefix "1abc"',          { prefix: '1abc' },                INVALID_OPTION,    /^prefix /],
  ['prefix 42',              { prefix: 42 },                    INVALID_OPTION,    /^prefix /],
  ['prefix with a quote',    { prefix: 'a"b_' },                INVALID_OPTION,    /^prefix /],
  ['maxCustomCodes -1',      { maxCustomCodes: -1 },            INVALID_OPTION,    /^maxCustomCodes /],
  ['maxCustomCodes 1.5',     { maxCustomCodes: 1.5 },           INVALID_OPTION,    /^maxCustomCodes /],
  ['maxCustomCodes "10"',    { maxCustomCodes: '10' },          INVALID_OPTION,    /^maxCustomCodes /],
  ['maxCustomCodes NaN',     { maxCustomCodes: NaN },           INVALID_OPTION,    /^maxCustomCodes /],
  ['maxCustomCodes Infinity', { maxCustomCodes: Infinity },     INVALID_OPTION,    /^maxCustomCodes /],
  ['maxCustomCodes 2001',    { maxCustomCodes: 2001 },          INVALID_OPTION,    /^maxCustomCodes /],
  ['registry {}',            { registry: {} },                  INVALID_OPTION,    /^registry /],
  ['registry "default"',     { registry: 'default' },           INVALID_OPTION,    /^registry /],
  ['registry 42',            { registry: 42 },                  INVALID_OPTION,    /^registry /],
  ['codes as an array',      { codes: [[4001, 'A']] },          INVALID_CODE_NAME, /^codes /],
  ['codes as a string',      { codes: '4001=A' },               INVALID_CODE_NAME, /^codes /],
  ['codes {1000: X}',        { codes: { 1000: 'X' } },          INVALID_CODE_NAME, /^codes\["1000"\]/],
  ['codes {5000: X}',        { codes: { 5000: 'X' } },          INVALID_CODE_NAME, /^codes\["5000"\]/],
  ['codes {2999: X}',        { codes: { 2999: 'X' } },          INVALID_CODE_NAME, /^codes\["2999"\]/],
  ['codes {4001: lower}',    { codes: { 4001: 'lower' } },      INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {4001: ""}',       { codes: { 4001: '' } },           INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {4001: 65 chars}', { codes: { 4001: 'A'.repeat(65) } }, INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {4001: quote}',    { codes: { 4001: 'A"B' } },        INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {4001: newline}',  { codes: { 4001: 'A\nB' } },       INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {4001: 7}',        { codes: { 4001: 7 } },            INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {4001: built-in}', { codes: { 4001: 'CLOSE_NORMAL' } }, INVALID_CODE_NAME, /^codes\["4001"\]/],
  ['codes {abc: X}',         { codes: { abc: 'X' } },           INVALID_CODE_NAME, /^codes\["abc"\]/],
  ['codes {4001.5: X}',      { codes: { '4001.5': 'X' } },      INVALID_CODE_NAME, /^codes\["4001.5"\]/],
  ['codes Map {-1: X}',      { codes: new Map([[-1, 'X']]) },   INVALID_CODE_NAME, /^codes\["-1"\]/],
];

describe('library options: one TypeError naming the option, at the door', () => {
  for (const [what, options, code, names] of BAD_RECORDER_OPTIONS) {
    it(`createRecorder({ ${what} })`, () => {
      expectOptionError(() => createRecorder({ registry: new Registry(), ...options }), code, names);
    });

    it(`instrument(wss, { ${what} }) leaves no listener behind`, () => {
      const wss = new WebSocketServer({ noServer: true });
      expectOptionError(() => instrument(wss, { registry: new Registry(), ...options }), code, names);
      expect(wss.listenerCount('connection')).toBe(0);
    });
  }

  for (const options of ['x', 42, true]) {
    it(`createRecorder(${JSON.stringify(options)}) and instrument(wss, ${JSON.stringify(options)})`, () => {
      expectOptionError(() => createRecorder(options as never), INVALID_OPTION, /^options /);
      expectOptionError(() => instrument(new WebSocketServer({ noServer: true }), options as never), INVALID_OPTION, /^options /);
    });
  }

  it('createRecorder(null)', () => {
    expectOptionError(() => createRecorder(null as never), INVALID_OPTION, /^options /);
  });

  for (const wss of [null, undefined, {}, 'wss', 42]) {
    it(`instrument(${JSON.stringify(wss)})`, () => {
      expectOptionError(() => instrument(wss as never), INVALID_OPTION, /wss must be a ws WebSocketServer/);
    });
  }

  for (const onError of ['log', 42, {}]) {
    it(`instrument(wss, { onError: ${JSON.stringify(onError)} })`, () => {
      const wss = new WebSocketServer({ noServer: true });
      expectOptionError(() => instrument(wss, { registry: new Registry(), onError: onError as never }), INVALID_OPTION, /^onError /);
      expect(wss.listenerCount('connection')).toBe(0);
    });
  }

  for (const registry of [{}, 'default', 42, null]) {
    it(`metricsHandler(${JSON.stringify(registry)})`, () => {
      expectOptionError(() => metricsHandler(registry as never), INVALID_OPTION, /registry must be a prom-client Registry/);
    });
  }

  it('the code-name error is also a CodeNameError, and the option error an OptionError', () => {
    expect(() => createRecorder({ registry: new Registry(), codes: { 1000: 'X' } })).toThrow(CodeNameError);
    expect(() => createRecorder({ registry: new Registry(), prefix: '-' })).toThrow(OptionError);
  });

  it('valid edge values are accepted: an empty prefix, maxCustomCodes 0 and 2000, names of 64 characters', () => {
    expect(createRecorder({ registry: new Registry(), prefix: '' }).prefix).toBe('');
    expect(createRecorder({ registry: new Registry(), maxCustomCodes: 0 }).maxCustomCodes).toBe(0);
    expect(createRecorder({ registry: new Registry(), maxCustomCodes: 2000 }).maxCustomCodes).toBe(2000);
    expect([...createRecorder({ registry: new Registry(), codes: { 3000: `A${'_'.repeat(63)}` } }).names.values()]).toEqual([`A${'_'.repeat(63)}`]);
  });
});

describe('library options that once threw a bare TypeError (or nothing)', () => {
  it('instrument(wss, null) throws an OptionError naming options', () => {
    expectOptionError(() => instrument(new WebSocketServer({ noServer: true }), null as never), INVALID_OPTION, /^options /);
  });

  it('createRecorder({ registry: null }) throws an OptionError naming registry', () => {
    expectOptionError(() => createRecorder({ registry: null as never }), INVALID_OPTION, /^registry /);
  });

  it('instrument(wss, { recorder: {} }) throws an OptionError naming recorder', () => {
    expectOptionError(() => instrument(new WebSocketServer({ noServer: true }), { recorder: {} as never }), INVALID_OPTION, /^recorder /);
  });
});
