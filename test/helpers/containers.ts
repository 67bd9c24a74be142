/**
 * podman for the image tests, with its own storage and configuration, and a
 * local stand-in for the Dockerfile's FROM image.
 *
 * No container registry is reachable from these machines, so the base image
 * (node:<version>-<suite>-slim) is made here: `mmdebstrap --variant=minbase
 * <suite>` from this machine's apt sources, plus the node of the FROM tag's
 * version (nodeForBase) and this machine's npm,
 * and a `node` user (uid 1000) as the official image has, imported with
 * `podman import` under the FROM name. The test then builds the real
 * Dockerfile on it with --pull=never. The stand-in also carries this
 * machine's CA bundle as NODE_EXTRA_CA_CERTS, so the Dockerfile's `npm ci`
 * gets through this network's TLS inspection; the Dockerfile itself knows
 * nothing of it.
 *
 * Storage lives under ~/.cache/ws-close-agent/podman (not the machine's
 * default store, so the stand-in can never be mistaken for the real node
 * image by another build), keyed so the stand-in is rebuilt only when its
 * recipe, node, npm or the CA bundle change. podman runs with runc and
 * cgroupfs (no systemd here) and explicit ulimits, from a containers.conf of
 * our own given through CONTAINERS_CONF.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const CACHE_DIR = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ws-close-agent', 'podman');
const STORAGE_ROOT = join(CACHE_DIR, 'storage');
const RUN_ROOT = join(tmpdir(), `ws-close-agent-podman-run-${process.getuid?.() ?? 0}`);
const CONTAINERS_CONF = join(CACHE_DIR, 'containers.conf');
const CONTAINERS_CONF_TEXT = `# Written by test/helpers/containers.ts.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;
const STAND_IN_LABEL = 'ws-close-agent.stand-in';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CA_IN_IMAGE = '/usr/local/share/ws-close-agent-stand-in/ca-certificates.crt';

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function setUp(): NodeJS.ProcessEnv {
  mkdirSync(STORAGE_ROOT, { recursive: true });
  mkdirSync(RUN_ROOT, { recursive: true });
  if (!existsSync(CONTAINERS_CONF) || readFileSync(CONTAINERS_CONF, 'utf8') !== CONTAINERS_CONF_TEXT) {
    writeFileSync(CONTAINERS_CONF, CONTAINERS_CONF_TEXT);
  }
  return { ...process.env, CONTAINERS_CONF };
}

const podmanGlobal = () => ['--root', STORAGE_ROOT, '--runroot', RUN_ROOT];

function failure(command: string, args: string[], r: Result): Error {
  const tail = (text: string) => text.trim().split('\n').slice(-40).join('\n');
  return new Error(`${command} ${args.join(' ')} exited ${r.status}\n${tail(r.stderr)}\n${tail(r.stdout)}`);
}

/** podman, synchronously, for the quick commands (inspect, port, exec, rm). */
export function podman(args: string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}): Result {
  const r = spawnSync('podman', [...podmanGlobal(), ...args], {
    env: setUp(),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  const result = { status: r.status, stdout: r.stdout, stderr: r.stderr };
  if (r.status !== 0 && !options.allowFailure) throw failure('podman', args, result);
  return result;
}

/** A command run without blocking the event loop (builds take minutes); rejects on a non-zero exit. */
function run(command: string, args: string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv; allowFailure?: boolean }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const result = { status, stdout, stderr: signal ? `${stderr}\nkilled by ${signal} after ${options.timeoutMs} ms` : stderr };
      if (status !== 0 && !options.allowFailure) reject(failure(command, args, result));
      else resolve(result);
    });
  });
}

export function podmanAsync(args: string[], options: { timeoutMs: number; allowFailure?: boolean }): Promise<Result> {
  return run('podman', [...podmanGlobal(), ...args], { ...options, env: setUp() });
}

/** The name podman stores a short image name under: node:24 -> docker.io/library/node:24. */
export function fullImageName(name: string): string {
  const [first, ...rest] = name.split('/');
  const hasRegistry = rest.length > 0 && (first!.includes('.') || first!.includes(':') || first === 'localhost');
  if (hasRegistry) return name;
  return rest.length === 0 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

/** The Dockerfile's base image: the default of the ARG its FROM lines use, or the FROM itself. */
export function dockerfileBase(dockerfile: string): string {
  const args = new Map<string, string>();
  for (const line of dockerfile.split('\n')) {
    const arg = /^\s*ARG\s+(\w+)=(\S+)\s*$/i.exec(line);
    if (arg) args.set(arg[1]!, arg[2]!);
    const from = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(line);
    if (from) return from[1]!.replace(/\$\{?(\w+)\}?/g, (_, n: string) => args.get(n) ?? '');
  }
  throw new Error('the Dockerfile has no FROM');
}

/**
 * This machine's apt sources with the suite names switched to `suite`, as
 * files mmdebstrap reads as mirrors (so the stand-in is fetched from the
 * same mirrors this machine uses, and carries them for the image's apt-get).
 */
function aptSourcesFor(suite: string, dir: string): string[] {
  const hostSuite = /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
  if (!hostSuite) throw new Error('/etc/os-release has no VERSION_CODENAME');
  const swap = (text: string) => text.replace(new RegExp(`\\b${hostSuite}(?=$|[-\\s])`, 'gm'), suite);
  const files: string[] = [];
  const candidates = [
    '/etc/apt/sources.list',
    ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f)) : []),
  ];
  for (const path of candidates) {
    if (!existsSync(path) || !/(\.list|\.sources)$/.test(path)) continue;
    const text = readFileSync(path, 'utf8');
    if (!/^\s*(deb\s|Types:)/m.test(text)) continue;
    const out = join(dir, `${files.length}-${path.split('/').pop()}`);
    writeFileSync(out, swap(text));
    files.push(out);
  }
  if (files.length === 0) throw new Error('no apt sources on this machine to build the stand-in base from');
  return files;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The node binary the stand-in carries: the one whose version is the FROM
 * tag's (node:24.22.3-bookworm-slim -> v24.22.3), so the image test runs the
 * agent on the Node the image ships. Candidates: this process's node and the
 * binaries of bench/node-versions (`npm ci --prefix bench/node-versions`,
 * which .ci/run does). A tag without an exact version takes this node.
 */
export function nodeForBase(fromName: string): string {
  const wanted = /:(\d+\.\d+\.\d+)(?:-|$)/.exec(fromName)?.[1];
  const own = realpathSync(process.execPath);
  if (wanted === undefined) return own;
  const versionsDir = join(ROOT, 'bench', 'node-versions', 'node_modules');
  const candidates = [
    own,
    ...(existsSync(versionsDir) ? readdirSync(versionsDir).map((d) => join(versionsDir, d, 'bin', 'node')) : []).filter((f) => existsSync(f)),
  ];
  const found: string[] = [];
  for (const candidate of candidates) {
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout.trim();
    if (version === `v${wanted}`) return realpathSync(candidate);
    found.push(`${candidate} (${version || 'does not run'})`);
  }
  throw new Error(
    `the Dockerfile's base ${fromName} ships node v${wanted}, and no such node is here: ${found.join(', ')}. ` +
      `Pin that version in bench/node-versions/package.json and run npm ci --prefix bench/node-versions.`,
  );
}

function nodeAndNpm(fromName: string): { node: string; npmDir: string; npmVersion: string } {
  const node = nodeForBase(fromName);
  const own = realpathSync(process.execPath);
  // npm is plain JavaScript: this machine's npm runs on the stand-in's node.
  const npmDir = [join(dirname(own), '..', 'lib', 'node_modules', 'npm'), '/usr/lib/node_modules/npm', '/usr/local/lib/node_modules/npm'].find((d) =>
    existsSync(join(d, 'bin', 'npm-cli.js')),
  );
  if (!npmDir) throw new Error(`no npm found beside ${own}`);
  return { node, npmDir, npmVersion: (JSON.parse(readFileSync(join(npmDir, 'package.json'), 'utf8')) as { version: string }).version };
}

export interface StandIn {
  image: string;
  /** False when a stand-in with the same key was already in the test storage. */
  built: boolean;
  seconds: number;
  /** When built: the time mmdebstrap and podman import took. */
  mmdebstrapSeconds?: number;
  importSeconds?: number;
}

/**
 * Makes sure `fromName` (the Dockerfile's base) exists in the test storage as
 * the stand-in described above; builds it when missing or out of date.
 */
export async function ensureStandInBase(fromName: string): Promise<StandIn> {
  const started = Date.now();
  const image = fullImageName(fromName);
  const suite = /-(bookworm|trixie|bullseye|forky)(?:-|$)/.exec(fromName)?.[1];
  if (!suite) throw new Error(`cannot tell the Debian suite of ${fromName}`);
  const { node, npmDir, npmVersion } = nodeAndNpm(fromName);
  const hasCa = existsSync(CA_BUNDLE);

  const work = mkdtempSync(join(tmpdir(), 'ws-close-agent-stand-in-'));
  try {
    const sources = aptSourcesFor(suite, work);
    // The apt and dpkg settings of Debian's docker images: no package caches
    // or docs in layers, compressed lists, no translations, no fsync per file.
    const aptOptions = [
      'Dir::Cache::pkgcache ""',
      'Dir::Cache::srcpkgcache ""',
      'Acquire::GzipIndexes "true"',
      'Acquire::Languages "none"',
      'Apt::AutoRemove::SuggestsImportant "false"',
    ];
    const dpkgOptions = [
      'force-unsafe-io',
      'path-exclude=/usr/share/doc/*',
      'path-include=/usr/share/doc/*/copyright',
      'path-exclude=/usr/share/man/*',
      'path-exclude=/usr/share/info/*',
      'path-exclude=/usr/share/locale/*',
      'path-include=/usr/share/locale/locale.alias',
      'path-exclude=/usr/share/lintian/*',
    ];
    const hooks = [
      `copy-in ${node} /usr/local/bin`,
      `mkdir -p "$1/usr/local/lib/node_modules" && cp -a ${npmDir} "$1/usr/local/lib/node_modules/npm"`,
      'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
      'chroot "$1" groupadd --gid 1000 node',
      'chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
      ...(hasCa ? [`mkdir -p "$1${dirname(CA_IN_IMAGE)}" && cp ${CA_BUNDLE} "$1${CA_IN_IMAGE}"`] : []),
    ];
    const changes = [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...(hasCa ? [`ENV NODE_EXTRA_CA_CERTS=${CA_IN_IMAGE}`] : []),
      'CMD ["node"]',
    ];
    const recipe = { version: 1, suite, aptOptions, dpkgOptions, hooks, changes, sources: sources.map((f) => readFileSync(f, 'utf8')) };
    const key = createHash('sha256')
      .update(JSON.stringify(recipe))
      .update(sha256File(node))
      .update(npmVersion)
      .update(hasCa ? sha256File(CA_BUNDLE) : '')
      .digest('hex')
      .slice(0, 16);

    const existing = podman(['image', 'inspect', '--format', `{{index .Config.Labels "${STAND_IN_LABEL}"}}`, image], { allowFailure: true });
    if (existing.status === 0 && existing.stdout.trim() === key) return { image, built: false, seconds: (Date.now() - started) / 1000 };

    const tarball = join(work, 'rootfs.tar');
    const t0 = Date.now();
    await run(
      'mmdebstrap',
      [
        '--variant=minbase',
        '--quiet',
        ...aptOptions.map((o) => `--aptopt=${o}`),
        ...dpkgOptions.map((o) => `--dpkgopt=${o}`),
        ...hooks.map((h) => `--customize-hook=${h}`),
        suite,
        tarball,
        ...sources,
      ],
      { timeoutMs: 8 * 60_000 },
    );
    const t1 = Date.now();
    await podmanAsync(['import', ...changes.flatMap((c) => ['--change', c]), '--change', `LABEL ${STAND_IN_LABEL}=${key}`, tarball, image], {
      timeoutMs: 5 * 60_000,
    });
    const t2 = Date.now();
    return { image, built: true, seconds: (t2 - started) / 1000, mmdebstrapSeconds: (t1 - t0) / 1000, importSeconds: (t2 - t1) / 1000 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface Built {
  tag: string;
  seconds: number;
  output: string;
}

/**
 * `podman build` of the repository's Dockerfile, in the docker image format
 * (the OCI format has no HEALTHCHECK) and never pulling: the base must be
 * the stand-in. Layers are cached in the test storage between runs.
 */
export async function buildImage(tag: string): Promise<Built> {
  const started = Date.now();
  const r = await podmanAsync(
    ['build', '--pull=never', '--format', 'docker', '--layers', '--jobs', '2', '--tag', tag, '--file', join(ROOT, 'Dockerfile'), ROOT],
    {
      timeoutMs: 10 * 60_000,
    },
  );
  // Cache images from builds more than a day old are no longer wanted.
  podman(['image', 'prune', '--force', '--filter', 'until=24h'], { allowFailure: true });
  return { tag, seconds: (Date.now() - started) / 1000, output: r.stdout + r.stderr };
}

/**
 * Drops the tag but keeps the image: `podman rmi` would also delete the
 * untagged build-stage images, the layer cache of the next build.
 */
export function untag(image: string): void {
  podman(['untag', image], { allowFailure: true });
}

export function imageSize(image: string): number {
  return Number(podman(['image', 'inspect', '--format', '{{.Size}}', image]).stdout.trim());
}

export interface ImageConfig {
  User: string;
  Env: string[];
  Entrypoint: string[];
  ExposedPorts: Record<string, unknown>;
  Labels: Record<string, string>;
  /** Durations in nanoseconds; absent from OCI-format images. */
  Healthcheck?: { Test: string[]; Interval: number; Timeout: number; StartPeriod: number; Retries: number };
}

/** The image's config (podman shows the healthcheck beside it, not in it). */
export function imageConfig(image: string): ImageConfig {
  const [config, healthcheck] = podman(['image', 'inspect', '--format', '{{json .Config}}\n{{json .HealthCheck}}', image]).stdout.trim().split('\n');
  const parsed = JSON.parse(config!) as Omit<ImageConfig, 'Healthcheck'>;
  const check = JSON.parse(healthcheck ?? 'null') as ImageConfig['Healthcheck'] | null;
  return { ...parsed, Healthcheck: check ?? undefined };
}

/** Host address (127.0.0.1:port) a container port is published on. */
export function publishedAddress(container: string, port: number): { host: string; port: number } {
  const out = podman(['port', container, `${port}/tcp`])
    .stdout.trim()
    .split('\n')[0]!;
  const m = /^(.*):(\d+)$/.exec(out);
  if (!m) throw new Error(`podman port ${container} ${port}: ${out}`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function containerState(container: string): { Status: string; ExitCode: number; Pid: number; Running: boolean; OOMKilled: boolean } {
  return JSON.parse(podman(['inspect', '--format', '{{json .State}}', container]).stdout) as ReturnType<typeof containerState>;
}
