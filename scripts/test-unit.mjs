/**
 * `npm run test:unit`: the vitest "unit" project with nothing but Node on PATH, so that every
 * run of the fast loop proves it needs no Debian package (promtool, openssl, python3,
 * chromium…): a unit test that reaches for one fails here, not only on a bare machine.
 * Arguments go on to vitest: `npm run test:unit -- test/hook.test.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = mkdtempSync(join(tmpdir(), 'ws-close-agent-node-only-'));
symlinkSync(process.execPath, join(bin, 'node'));

const env = { ...process.env, PATH: bin };
// Explicit paths to the real peers would get round the bare PATH.
for (const name of ['PROMTOOL', 'PROMETHEUS', 'AMTOOL', 'ALERTMANAGER']) delete env[name];

const child = spawn(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--project', 'unit', ...process.argv.slice(2)], {
  cwd: root,
  env,
  stdio: 'inherit',
});
// npm's shell does not pass signals on; the script does, so Ctrl-C or a CI timeout stops vitest too.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  rmSync(bin, { recursive: true, force: true });
  process.exitCode = code ?? (signal === null ? 0 : 1);
});
