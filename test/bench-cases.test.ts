/**
 * The benchmark's cases load against the current build: they import internal
 * modules of dist/, which a refactor can move, and `npm run bench` is not run
 * by CI. Each case must load and carry a distinct id, a title and run().
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/agent-process.js';

const dir = join(ROOT, 'bench', 'cases');
const files = readdirSync(dir).filter((f) => f.endsWith('.mjs'));

describe('bench cases', () => {
  it.each(files)('%s loads against dist/', async (file) => {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { id: unknown; title: unknown; run: unknown };
    expect(typeof mod.id).toBe('number');
    expect(typeof mod.title).toBe('string');
    expect(typeof mod.run).toBe('function');
  });

  it('every case is in the runner, with its own id and a time budget', async () => {
    const ids = await Promise.all(files.map(async (f) => ((await import(pathToFileURL(join(dir, f)).href)) as { id: number }).id));
    expect(new Set(ids).size).toBe(files.length);
    const runner = (await import('node:fs')).readFileSync(join(ROOT, 'bench', 'run.mjs'), 'utf8');
    for (const id of ids) expect(runner).toMatch(new RegExp(`^\\s+${id}: \\[\\d+, \\d+\\],$`, 'm'));
    const cases = runner.match(/^const CASES = \[([^\]]*)\]/m)?.[1] ?? '';
    expect(cases.split(',').filter((name) => name.trim() !== '').length).toBe(files.length);
  });
});
