/**
 * The browser module as shipped (dist/browser/index.js): at most 2 KB
 * minified and gzipped, self-contained (no import of any kind, so no Node
 * module), and speaking the server's parameter name and report path.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/agent-process.js';

const FILE = `${ROOT}dist/browser/index.js`;
const SIZE_LIMIT_BYTES = 2048;

describe('ws-close-agent/browser', () => {
  it('is at most 2 KB minified and gzipped', async () => {
    const out = await build({ entryPoints: [FILE], bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const minified = out.outputFiles[0]!.contents;
    const gzipped = gzipSync(minified, { level: 9 }).length;
    console.log(`browser module: ${readFileSync(FILE).length} B built, ${minified.length} B minified, ${gzipped} B min+gzip (limit ${SIZE_LIMIT_BYTES})`);
    expect(gzipped).toBeLessThanOrEqual(SIZE_LIMIT_BYTES);
  });

  it('imports nothing: one file the agent can serve as it is, with no Node module in it', () => {
    const source = readFileSync(FILE, 'utf8');
    expect(source).not.toMatch(/^\s*import\s/m);
    expect(source).not.toMatch(/\bimport\s*\(/);
    expect(source).not.toMatch(/\brequire\s*\(/);
    expect(source).not.toMatch(/node:/);
  });

  it('is the package subpath ws-close-agent/browser, with types', async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    const entry = pkg.exports['./browser']!;
    expect(readFileSync(`${ROOT}${entry.types}`, 'utf8')).toMatch(/export declare function install\(/);
    const mod = (await import(`${ROOT}${entry.default}`)) as typeof import('../src/browser/index.js');
    expect(mod.CLOSE_ID_PARAM).toBe('ws_close_id');
    expect(mod.REPORT_PATH).toBe('/ws-close-agent/report');
    expect(typeof mod.watch).toBe('function');
    expect(typeof mod.wrap).toBe('function');
  });

  it('tags a URL with 128 random bits once, keeping the rest of the URL', async () => {
    const { tagUrl, CLOSE_ID_PARAM } = (await import(FILE)) as typeof import('../src/browser/index.js');
    const tagged = new URL(tagUrl('ws://example.test:8080/socket?room=a#x'));
    const id = tagged.searchParams.get(CLOSE_ID_PARAM)!;
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(tagged.pathname).toBe('/socket');
    expect(tagged.searchParams.get('room')).toBe('a');
    expect(tagUrl(tagged)).toBe(tagged.href);
    const ids = new Set(Array.from({ length: 1000 }, () => new URL(tagUrl('ws://h/')).searchParams.get(CLOSE_ID_PARAM)));
    expect(ids.size).toBe(1000);
  });
});
