// Builds the published output: ESM in dist/esm, CommonJS in dist/cjs, each with
// type declarations. The CJS folder carries its own package.json so Node reads
// its .js files as CommonJS even though the package is "type": "module".
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.cjs.json'], { stdio: 'inherit' });
// The browser module (ws-close-agent/browser): DOM types, no Node ones, ESM only.
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.browser.json'], { stdio: 'inherit' });
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
chmodSync('dist/esm/agent/main.js', 0o755);
