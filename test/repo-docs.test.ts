/**
 * The repo documents itself: the README's development tree lists every
 * source file, a line a file, and nothing that is gone; every doc a source
 * comment points to is in the repo.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/agent-process.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

function sourceFiles(dir = join(ROOT, 'src')): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (!entry.includes('.generated.')) out.push(relative(ROOT, path));
  }
  return out.sort();
}

/** The src/ part of the README's development tree: each line's path, from its indentation. */
function treeFiles(): { files: string[]; lines: string[] } {
  const start = readme.indexOf('## Development');
  const block = readme.slice(readme.indexOf('```\n', start) + 4, readme.indexOf('\n```', start + 20));
  const files: string[] = [];
  const lines: string[] = [];
  const stack: string[] = [];
  for (const line of block.split('\n')) {
    const m = /^( *)(\S+)/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 2;
    if (depth === 0 && m[2] !== 'src/') {
      if (stack.length > 0) break; // past src/
      continue;
    }
    stack.length = depth;
    const name = m[2]!;
    if (name.endsWith('/')) stack.push(name);
    else {
      files.push(stack.join('') + name);
      lines.push(line);
    }
  }
  return { files: files.sort(), lines };
}

describe('the repo documents itself', () => {
  it('the README development tree lists every file under src/, a line a file', () => {
    const { files, lines } = treeFiles();
    expect(files.length).toBeGreaterThan(10);
    expect(files).toEqual(sourceFiles());
    // Each line names one file and says what it is for.
    for (const line of lines) expect(line, line).toMatch(/^ *[\w.-]+\.(ts|css) {2,}\S/);
  });

  it('every doc a source comment names exists in the repo', () => {
    const missing: string[] = [];
    for (const file of sourceFiles()) {
      for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/\b(docs\/[\w./-]+\.md)\b/g)) {
        if (!existsSync(join(ROOT, m[1]!))) missing.push(`${file}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("the README's agent flag table", () => {
  it('has a row for every flag of the command, with its environment variable and its default', async () => {
    const { FLAGS } = await import('../src/agent/config.js');
    const rows = new Map<string, string>();
    for (const line of readme.split('\n')) {
      const m = /^\| `--([a-z-]+)[^`]*` +\| `(WS_CLOSE_AGENT_[A-Z_]+)` +\| ([^|]+) \|/.exec(line);
      if (m) rows.set(m[1]!, `${m[2]} ${m[3]!.trim()}`);
    }
    for (const flag of FLAGS) {
      const row = rows.get(flag.name);
      expect(row, `--${flag.name} has no row`).toBeDefined();
      expect(row!.split(' ')[0]).toBe(`WS_CLOSE_AGENT_${flag.name.toUpperCase().replaceAll('-', '_')}`);
      if (flag.default !== undefined && flag.default !== '0') expect(row, `--${flag.name}'s default`).toContain(`\`${flag.default}\``);
    }
    expect([...rows.keys()].filter((name) => !FLAGS.some((f) => f.name === name))).toEqual([]);
  });
});

describe('the source files', () => {
  it('are at most 450 lines each (generated bundles aside)', () => {
    const long = sourceFiles()
      .map((file) => ({ file, lines: readFileSync(join(ROOT, file), 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > 450);
    expect(long).toEqual([]);
  });
});
