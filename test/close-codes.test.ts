import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODE_TABLE, CodeNameError, classify, isAllowedOnWire, parseCodeNames, wireViolation } from '../src/codes/close-codes.js';

// The seed table is the authority: parse it and check every row against
// classify(), and the module's table against it. It is committed with the
// tests (test/fixtures), so every clone checks the same thing and nothing
// depends on a file beside the checkout.
const SEED = new URL('./fixtures/close-codes.seed.md', import.meta.url);
const TEST_DIR = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(TEST_DIR, '..');

interface SeedRow {
  from: number;
  to: number;
  codename: string;
  internal: boolean;
  customizable: boolean;
  description: string;
}

function seedRows(): SeedRow[] {
  return readFileSync(SEED, 'utf8')
    .split('\n')
    .filter((l) => /^\|\s*\d/.test(l))
    .map((l) => {
      const cells = l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
      const [range = '', codename = '', internal = '', customizable = '', description = ''] = cells;
      const [from, to = from] = range.split('-').map(Number) as [number, number?];
      return { from, to, codename, internal: internal === 'Yes', customizable: customizable === 'Yes', description };
    });
}

/** `CLOSE_NORMAL` -> CLOSE_NORMAL; *Unsupported Data* -> UNSUPPORTED_DATA; 1013's "Server Overload/Try Again Later" -> TRY_AGAIN_LATER. */
function expectedCodename(row: SeedRow): string | undefined {
  const ticked = /^`([A-Z_]+)`$/.exec(row.codename);
  if (ticked) return ticked[1];
  const italic = /^\*(.+)\*$/.exec(row.codename);
  if (italic) {
    const name = (italic[1] as string).split('/').pop() as string;
    return name
      .trim()
      .toUpperCase()
      .replace(/[^A-Z0-9]+/g, '_');
  }
  return undefined;
}

describe('classify against the seed table', () => {
  const rows = seedRows();

  it('the seed table and the module table list the same ranges, flags and descriptions, both ways', () => {
    const fromSeed = rows.map((r) => ({ from: r.from, to: r.to, internal: r.internal, customizable: r.customizable, description: r.description }));
    const fromModule = CLOSE_CODE_TABLE.filter((r) => r.to <= 4999).map((r) => ({
      from: r.from,
      to: r.to,
      internal: r.internal,
      customizable: r.customizable,
      description: r.description,
    }));
    expect(fromModule).toEqual(fromSeed);
    // What the seed does not list (5000 and up) is one invalid row.
    expect(CLOSE_CODE_TABLE.filter((r) => r.to > 4999).map((r) => [r.from, r.to, r.category])).toEqual([[5000, 65535, 'invalid']]);
  });

  it('the seed table has the 21 rows this module was written from', () => {
    expect(rows).toHaveLength(21);
  });

  for (const row of rows) {
    it(`row ${row.from}-${row.to}`, () => {
      for (const code of new Set([row.from, Math.floor((row.from + row.to) / 2), row.to])) {
        const c = classify(code);
        expect(c.internal).toBe(row.internal);
        expect(c.customizable).toBe(row.customizable);
        expect(c.description).toBe(row.description);
        const name = expectedCodename(row);
        if (name !== undefined) expect(c.codename).toBe(name);
      }
    });
  }

  it('names the italic codes as the seed table spells them', () => {
    expect([1007, 1008, 1010, 1011, 1012, 1013, 1015].map((c) => classify(c).codename)).toEqual([
      'UNSUPPORTED_DATA',
      'POLICY_VIOLATION',
      'MISSING_EXTENSION',
      'INTERNAL_ERROR',
      'SERVICE_RESTART',
      'TRY_AGAIN_LATER',
      'TLS_HANDSHAKE_FAIL',
    ]);
    expect(classify(1004).codename).toBe('UNUSED');
    expect(classify(1014).codename).toBe('UNUSED');
  });
});

describe('classify at the edges of every range', () => {
  const cases: [number, string, string][] = [
    [0, 'unused', 'UNUSED'],
    [999, 'unused', 'UNUSED'],
    [1000, 'standard', 'CLOSE_NORMAL'],
    [1015, 'standard', 'TLS_HANDSHAKE_FAIL'],
    [1016, 'reserved', 'RESERVED'],
    [1999, 'reserved', 'RESERVED'],
    [2000, 'extension', 'EXTENSION'],
    [2999, 'extension', 'EXTENSION'],
    [3000, 'framework', 'FRAMEWORK'],
    [3999, 'framework', 'FRAMEWORK'],
    [4000, 'application', 'APPLICATION'],
    [4999, 'application', 'APPLICATION'],
    [5000, 'invalid', 'INVALID'],
    [65535, 'invalid', 'INVALID'],
    [65536, 'invalid', 'INVALID'],
    [-1, 'invalid', 'INVALID'],
    [1.5, 'invalid', 'INVALID'],
    [Number.NaN, 'invalid', 'INVALID'],
    [Number.POSITIVE_INFINITY, 'invalid', 'INVALID'],
  ];
  for (const [code, category, codename] of cases) {
    it(`${code} is ${category} / ${codename}`, () => {
      const c = classify(code);
      expect(c.category).toBe(category);
      expect(c.codename).toBe(codename);
    });
  }

  it('covers 0-65535 with no gaps or overlaps', () => {
    let next = 0;
    for (const row of CLOSE_CODE_TABLE) {
      expect(row.from).toBe(next);
      expect(row.to).toBeGreaterThanOrEqual(row.from);
      next = row.to + 1;
    }
    expect(next).toBe(65536);
  });
});

describe('user-registered names', () => {
  it('names customizable codes and leaves the rest of the range alone', () => {
    const names = parseCodeNames({ 4001: 'AUTH_EXPIRED', 3000: 'FRAMEWORK_X' });
    expect(classify(4001, names).codename).toBe('AUTH_EXPIRED');
    expect(classify(4001, names).category).toBe('application');
    expect(classify(3000, names).codename).toBe('FRAMEWORK_X');
    expect(classify(4002, names).codename).toBe('APPLICATION');
    expect(classify(1000, names).codename).toBe('CLOSE_NORMAL');
  });

  it('accepts a Map', () => {
    expect(parseCodeNames(new Map([[4999, 'LAST']])).get(4999)).toBe('LAST');
  });

  const bad: [string, unknown, RegExp][] = [
    ['a standard code', { 1000: 'MY_NORMAL' }, /codes\["1000"\].*only codes 3000-4999.*CLOSE_NORMAL/],
    ['an internal code', { 1006: 'GONE' }, /codes\["1006"\].*only codes 3000-4999/],
    ['a code of 5000', { 5000: 'BIG' }, /codes\["5000"\]/],
    ['a code out of uint16', { 70000: 'HUGE' }, /codes\["70000"\].*not a close code/],
    ['a non-numeric code', { abc: 'X' }, /codes\["abc"\].*not a close code/],
    ['a lower-case name', { 4001: 'auth' }, /codes\["4001"\] = "auth".*must match/],
    ['a name with a dash', { 4001: 'AUTH-X' }, /must match/],
    ['a 65-character name', { 4001: `A${'B'.repeat(64)}` }, /must match/],
    ['a non-string name', { 4001: 7 }, /must match/],
    ['a built-in codename', { 4001: 'CLOSE_ABNORMAL' }, /built-in codename/],
    ['an array', ['X'], /must be an object/],
  ];
  for (const [what, input, message] of bad) {
    it(`rejects ${what} with an error naming the entry`, () => {
      let error: unknown;
      try {
        parseCodeNames(input);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(CodeNameError);
      expect((error as CodeNameError).code).toBe('WS_CLOSE_AGENT_INVALID_CODE_NAME');
      expect((error as Error).message).toMatch(message);
    });
  }

  it('accepts a 64-character name', () => {
    expect(parseCodeNames({ 4001: `A${'B'.repeat(63)}` }).size).toBe(1);
  });
});

describe('wire validity', () => {
  it('allows exactly 1000-1003, 1007-1013 and 3000-4999', () => {
    const allowed: number[] = [];
    for (let code = 0; code <= 65535; code++) if (isAllowedOnWire(code)) allowed.push(code);
    expect(allowed).toHaveLength(4 + 7 + 2000);
    expect(allowed.slice(0, 11)).toEqual([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013]);
  });

  it('classifies the violation kind', () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999]) expect(wireViolation(code)).toBe('internal_code_on_wire');
    for (const code of [5000, 65535]) expect(wireViolation(code)).toBe('invalid_code');
    for (const code of [1000, 1013, 3000, 4999]) expect(wireViolation(code)).toBeUndefined();
  });
});

/** Relative paths in the test sources: `new URL('…', import.meta.url)` and quoted '../…' strings. */
function relativePathsIn(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/new URL\(\s*'([^']+)'\s*,\s*import\.meta\.url/g)) out.push(m[1] as string);
  for (const m of source.matchAll(/'((?:\.\.\/)+[^']*)'/g)) out.push(m[1] as string);
  return out;
}

function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : testSources(path);
    return /\.(ts|mts|mjs)$/.test(e.name) ? [path] : [];
  });
}

describe('the tests are self-contained', () => {
  it('no test source reads a path outside the repository', () => {
    const outside: string[] = [];
    for (const file of testSources(TEST_DIR)) {
      for (const rel of new Set(relativePathsIn(readFileSync(file, 'utf8')))) {
        const target = resolve(dirname(file), rel);
        if (target !== ROOT && !target.startsWith(ROOT + sep)) outside.push(`${relative(ROOT, file)}: ${rel}`);
      }
    }
    expect(outside).toEqual([]);
  });
});
