/**
 * The published package, installed as a user installs it: `npm pack` into a
 * temp folder, then `npm install <tarball>` into fresh app folders. The peers
 * (prom-client, ws) resolve to the app's own copies, so `instrument(wss)`
 * with no options records into the app's global registry; installed alone,
 * npm brings the peers and the command runs. publint and arethetypeswrong
 * check the tarball's entry points (ESM, CJS, types).
 *
 * The installs pull only versions that package-lock.json pins (the npm cache
 * holds them after `npm ci`), so they take seconds.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ROOT, cleanEnv } from './helpers/agent-process.js';
import { closesByLabels, parseExposition, sumOf } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const INSTALL_TIMEOUT_MS = 120_000;

/** The version package-lock.json installs for `name` (an alias such as `ws-7` gives the aliased package's version). */
function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const entry = lock.packages[`node_modules/${name}`];
  if (entry === undefined) throw new Error(`${name} is not in package-lock.json`);
  return entry.version;
}

function npm(args: string[], cwd: string): string {
  const r = spawnSync(NPM, args, { cwd, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS, env: cleanEnv({ npm_config_update_notifier: 'false' }) });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const INSTALL = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

let work: string;
let tarball: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ws-close-agent-pkg-'));
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], ROOT)) as { filename: string }[];
  tarball = join(work, packed[0]!.filename);
}, INSTALL_TIMEOUT_MS);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh app folder with `deps` installed from the registry and our tarball beside them. */
function app(name: string, deps: string[]): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  npm([...INSTALL, tarball, ...deps], dir);
  return dir;
}

// The app's own script: its own ws server and prom-client global registry, instrument(wss) without options, one 4001 close.
const APP_SCRIPT = `
const { instrument } = await IMPORT('ws-close-agent');
const { register } = await IMPORT('prom-client');
const wsModule = await IMPORT('ws');
// ws 8 has named exports; ws 7 is CommonJS only, its server hanging off the WebSocket class (the default export).
const WebSocket = wsModule.WebSocket ?? wsModule.default ?? wsModule;
const WebSocketServer = wsModule.WebSocketServer ?? WebSocket.Server;
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
await new Promise((r) => wss.once('listening', r));
instrument(wss);
wss.on('connection', (ws) => ws.close(4001));
const client = new WebSocket('ws://127.0.0.1:' + wss.address().port);
await new Promise((r) => client.once('close', r));
for (let i = 0; i < 500 && !(await register.metrics()).includes('code="4001"'); i++) await new Promise((r) => setTimeout(r, 10));
console.log(await register.metrics());
wss.close();
`;

function runApp(dir: string, kind: 'esm' | 'cjs'): string {
  const file = join(dir, kind === 'esm' ? 'app.mjs' : 'app.cjs');
  const body = kind === 'esm' ? APP_SCRIPT.replaceAll('IMPORT', 'import') : `(async () => {${APP_SCRIPT.replaceAll('await IMPORT', 'require')}})();`;
  writeFileSync(file, body);
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
}

/** Every package folder under node_modules, as name@version. */
function installedPackages(dir: string): string[] {
  const out: string[] = [];
  const visit = (nm: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(nm);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@')) {
        for (const scoped of readdirSync(join(nm, entry))) visitPackage(join(nm, entry, scoped));
      } else visitPackage(join(nm, entry));
    }
  };
  const visitPackage = (pkgDir: string): void => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { name: string; version: string };
    out.push(`${pkg.name}@${pkg.version}`);
    visit(join(pkgDir, 'node_modules'));
  };
  visit(join(dir, 'node_modules'));
  return out.sort();
}

describe.each([
  { label: 'prom-client 15 + ws 8', promClient: lockedVersion('prom-client'), ws: lockedVersion('ws') },
  { label: 'prom-client 14 + ws 7', promClient: lockedVersion('prom-client-14'), ws: lockedVersion('ws-7') },
])('packed tarball in an app with its own $label', ({ promClient, ws }) => {
  let dir: string;
  beforeAll(() => {
    dir = app(`app-${promClient}-${ws}`, [`prom-client@${promClient}`, `ws@${ws}`]);
  }, INSTALL_TIMEOUT_MS);

  it('uses the app’s copies of the peers (no second prom-client or ws)', () => {
    const packages = installedPackages(dir);
    expect(packages.filter((p) => p.startsWith('prom-client@'))).toEqual([`prom-client@${promClient}`]);
    expect(packages.filter((p) => p.startsWith('ws@'))).toEqual([`ws@${ws}`]);
  });

  it.each(['esm', 'cjs'] as const)('instrument(wss) with no options records into the app’s global registry (%s)', (kind) => {
    const samples = parseExposition(runApp(dir, kind));
    expect(closesByLabels(samples)).toEqual({ '4001 APPLICATION application server': 1 });
    expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(1);
    expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
  });
});

describe('packed tarball installed alone', () => {
  let dir: string;
  beforeAll(() => {
    dir = app('alone', []);
  }, INSTALL_TIMEOUT_MS);

  it('brings its peers and nothing else: no express', () => {
    const names = installedPackages(dir)
      .map((p) => p.slice(0, p.lastIndexOf('@')))
      .sort();
    console.log(`runtime dependency tree: ${names.length} packages: ${names.join(', ')}`);
    expect(names).toEqual(['@opentelemetry/api', 'bintrees', 'prom-client', 'tdigest', 'ws', 'ws-close-agent']);
  });

  it('the command runs: echo endpoint, a 4001 close, /metrics', async () => {
    const child = spawn(join(dir, 'node_modules', '.bin', 'ws-close-agent'), ['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], {
      cwd: dir,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      let listening: { listen: string; metricsListen: string } | undefined;
      await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`the command exited (${child.exitCode}):\n${out}\n${err}`);
          const line = out.split('\n').find((l) => l.includes('"listening"'));
          if (line !== undefined) listening = JSON.parse(line) as typeof listening;
          return listening !== undefined;
        },
        'the listening log line',
        20_000,
      );
      const ws = new WebSocket(`ws://${listening!.listen}/`);
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      ws.close(4001);
      await new Promise((resolve) => ws.once('close', resolve));
      let text = '';
      await waitFor(async () => {
        text = await (await fetch(`http://${listening!.metricsListen}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        return sumOf(parseExposition(text), 'websocket_connections_closed_total') === 1;
      }, 'the close on /metrics');
      expect(closesByLabels(parseExposition(text))).toEqual({ '4001 APPLICATION application client': 1 });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('package entry points (publint, arethetypeswrong)', () => {
  it('npm ls --omit=dev of the package lists no express (nor any runtime dependency: the peers are the app’s)', () => {
    const tree = JSON.parse(npm(['ls', '--omit=dev', '--all', '--json'], ROOT)) as { dependencies?: Record<string, unknown> };
    expect(Object.keys(tree.dependencies ?? {})).toEqual([]);
  });

  it('publint finds nothing to fix in the tarball', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/publint/src/cli.js'), '--strict', tarball], { encoding: 'utf8', timeout: 60_000 });
    expect(`${r.stdout}${r.stderr}`, `${r.stdout}${r.stderr}`).not.toMatch(/error|warning|suggestion/i);
    expect(r.status).toBe(0);
  });

  const attw = (args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--format', 'json', ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('ESM, CJS and their types resolve for node10, node16 and bundler (the browser module aside)', () => {
    const r = attw(['--exclude-entrypoints', './browser']);
    const report = JSON.parse(r.stdout) as {
      problems: Record<string, unknown>;
      analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }> };
    };
    expect(report.problems).toEqual({});
    expect(r.status).toBe(0);
    // Every entry point resolves, in every mode, to a declaration file of the matching build.
    for (const [subpath, { resolutions }] of Object.entries(report.analysis.entrypoints)) {
      if (subpath === './package.json') continue;
      expect(Object.keys(resolutions).sort(), subpath).toEqual(['bundler', 'node10', 'node16-cjs', 'node16-esm']);
      for (const [mode, { resolution }] of Object.entries(resolutions)) {
        const build = mode === 'node16-esm' || mode === 'bundler' ? 'esm' : 'cjs'; // node10 reads `main` and `types`: the CommonJS build
        expect(resolution?.fileName, `${subpath} ${mode}`).toMatch(new RegExp(`/dist/${build}/.*\\.d\\.ts$`));
      }
    }
  });

  it('the browser module is ESM with its types, for node16 and bundler', () => {
    const r = attw(['--entrypoints', './browser', '--profile', 'esm-only']);
    const report = JSON.parse(r.stdout) as {
      problems: Record<string, { resolutionKind?: string }[]>;
      analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }> };
    };
    // ESM only: require() and node10 have nothing to resolve, which the esm-only profile accepts.
    const esmProblems = Object.values(report.problems)
      .flat()
      .filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
    expect(esmProblems).toEqual([]);
    expect(r.status).toBe(0);
    const { resolutions } = report.analysis.entrypoints['./browser']!;
    for (const mode of ['bundler', 'node16-esm']) expect(resolutions[mode]?.resolution?.fileName, mode).toMatch(/\/dist\/browser\/index\.d\.ts$/);
  });
});
