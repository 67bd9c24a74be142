/**
 * Top self-time functions of V8 .cpuprofile files, e.g. the agent's under
 * the streaming case:
 *   node --expose-gc bench/run.mjs --only 4 --agent-cpu-prof /tmp/prof
 *   node bench/profile-summary.mjs /tmp/prof/*.cpuprofile [--top 25] [--from-ms 1000]
 * (--from-ms skips the first milliseconds of each profile: start-up, module loading).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, 'from-ms': { type: 'string', default: '0' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile... [--top N] [--from-ms MS]\n');
  process.exit(2);
}

const selfUs = new Map();
let totalUs = 0;
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fromUs = Number(values['from-ms']) * 1000;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < fromUs) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${relative(process.cwd(), url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    totalUs += dt;
  }
}
const idle = selfUs.get('(idle)') ?? 0;
const busy = totalUs - idle;
process.stdout.write(`profile: ${(totalUs / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s not idle\n`);
process.stdout.write('self ms   % busy  function\n');
const top = [...selfUs]
  .filter(([k]) => k !== '(idle)')
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(values.top));
for (const [key, us] of top) {
  process.stdout.write(`${(us / 1000).toFixed(0).padStart(7)}  ${((us / busy) * 100).toFixed(1).padStart(6)}%  ${key}\n`);
}
