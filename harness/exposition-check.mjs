/**
 * A strict reading of a Prometheus exposition (text format 0.0.4 or OpenMetrics 1.0), so a
 * test can know a scrape is well formed without starting promtool. It rejects what
 * `promtool check metrics` (its text parser and its lint) rejects in expositions like the
 * ones this project renders, and adds the rules promtool leaves to the server: no duplicate
 * series, families kept together, histogram buckets ascending and cumulative with
 * +Inf == _count. test/exposition-promtool.e2e.test.ts runs both on the same scrapes.
 *
 * The last check reads the text again with the lenient parser the tests use
 * (parseExposition) and requires the same samples, so what the checker accepted is what
 * the tests then count.
 */
import { parseExposition } from './exposition.mjs';

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
// OpenMetrics spells +Inf, -Inf and NaN one way; promtool (Go's strconv.ParseFloat) takes any
// case and "Infinity" too, and prom-client writes "Nan" in the text format.
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;
const TEXT_FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?|nan)$/i;
const TEXT_TIMESTAMP = /^-?\d+$/;

/** The sample-name suffixes each family type has, per format. */
const SUFFIXES = {
  text: { counter: [''], gauge: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'], untyped: [''] },
  openmetrics: {
    counter: ['_total', '_created'],
    gauge: [''],
    unknown: [''],
    stateset: [''],
    info: ['_info'],
    histogram: ['_bucket', '_sum', '_count', '_created'],
    gaugehistogram: ['_bucket', '_gsum', '_gcount'],
    summary: ['', '_sum', '_count', '_created'],
  },
};

// promtool's lint (client_golang promlint): units, unit prefixes and abbreviations.
const UNITS = {
  amperes: 'amperes',
  bytes: 'bytes',
  celsius: 'celsius',
  grams: 'grams',
  joules: 'joules',
  kelvin: 'kelvin',
  meters: 'meters',
  metres: 'metres',
  seconds: 'seconds',
  volts: 'volts',
  minutes: 'seconds',
  hours: 'seconds',
  days: 'seconds',
  weeks: 'seconds',
  kelvins: 'kelvin',
  fahrenheit: 'celsius',
  rankine: 'celsius',
  inches: 'meters',
  yards: 'meters',
  miles: 'meters',
  bits: 'bytes',
  calories: 'joules',
  pounds: 'grams',
  ounces: 'grams',
};
// prettier-ignore
const UNIT_PREFIXES = ['', 'pico', 'nano', 'micro', 'milli', 'centi', 'deci', 'deca', 'hecto', 'kilo', 'kibi', 'mega', 'mibi', 'giga', 'gibi', 'tera', 'tebi', 'peta', 'pebi'];
const UNIT_ABBREVIATIONS = ['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd'];
const TYPE_WORDS = ['counter', 'gauge', 'summary', 'histogram', 'gauge_histogram'];

/**
 * One sample line, strictly: `name{label="value",...} value [timestamp]`, one space between
 * the parts. Returns { name, labels: [name, value][], value, timestamp? }; throws an Error
 * saying what is wrong and where.
 */
export function readSampleLine(line, { openMetrics = false } = {}) {
  let pos = 0;
  const fail = (what) => {
    throw new Error(`${what} at column ${pos + 1}`);
  };
  METRIC_NAME.lastIndex = 0;
  const name = METRIC_NAME.exec(line)?.[0];
  if (name === undefined) fail('a metric name was expected');
  pos = name.length;
  const labels = [];
  if (line[pos] === '{') {
    pos += 1;
    while (line[pos] !== '}') {
      LABEL_NAME.lastIndex = pos;
      const label = LABEL_NAME.exec(line)?.[0];
      if (label === undefined) fail(pos >= line.length ? 'the label set is not closed' : 'a label name was expected');
      pos += label.length;
      if (line[pos] !== '=') fail(`"=" was expected after label ${label}`);
      pos += 1;
      if (line[pos] !== '"') fail(`label ${label}: a quoted value was expected`);
      pos += 1;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) fail(`label ${label}: the value is not closed`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos + 1];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else fail(`label ${label}: invalid escape sequence "\\${e ?? ''}" (only \\\\, \\" and \\n)`);
          pos += 2;
          continue;
        }
        value += c;
        pos += 1;
      }
      pos += 1;
      labels.push([label, value]);
      if (line[pos] === ',') {
        pos += 1;
        if (line[pos] === '}' && openMetrics) fail('OpenMetrics allows no comma before "}"');
      } else if (line[pos] !== '}') {
        fail(`"," or "}" was expected after label ${label}`);
      }
    }
    pos += 1;
  }
  if (line[pos] !== ' ') fail('one space and a value were expected after the metric name and labels');
  const rest = line.slice(pos + 1).split(' ');
  if (rest.length > 2 || rest.includes('')) fail('the sample has extra spaces or fields (value and an optional timestamp only)');
  const [value, timestamp] = rest;
  if (!(openMetrics ? FLOAT : TEXT_FLOAT).test(value)) fail(`"${value}" is not a float value (digits, +Inf, -Inf or NaN)`);
  if (timestamp !== undefined && !(openMetrics ? FLOAT : TEXT_TIMESTAMP).test(timestamp)) fail(`"${timestamp}" is not a timestamp`);
  return { name, labels, value, timestamp };
}

/** The number a float token stands for. */
function floatOf(token) {
  if (/^[+]?inf(?:inity)?$/i.test(token)) return Infinity;
  if (/^-inf(?:inity)?$/i.test(token)) return -Infinity;
  if (/^nan$/i.test(token)) return NaN;
  return Number(token);
}

function unescapeHelp(text, openMetrics) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      out += text[i];
      continue;
    }
    const e = text[i + 1];
    if (e === 'n') out += '\n';
    else if (e === '\\' || (openMetrics && e === '"')) out += e;
    else throw new Error(`invalid escape sequence "\\${e ?? ''}" in the help text (only \\\\${openMetrics ? ', \\"' : ''} and \\n)`);
    i += 1;
  }
  return out;
}

const seriesKey = (name, labels) => `${name}{${[...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${JSON.stringify(v)}`)}}`;

/** promtool's lint on one family name (as text-format samples would carry it) and its label names. */
function lintNames(family, lintName, problems) {
  const { type } = family;
  const lower = lintName.toLowerCase();
  const hasSuffix = (s) => lintName.endsWith(s);
  const say = (text) => problems.push(`family ${family.name}: ${text}`);
  const untyped = type === 'untyped' || type === 'unknown';
  if (type === 'counter' && !hasSuffix('_total')) say('a counter must be named with the "_total" suffix');
  if (!untyped && type !== 'counter' && hasSuffix('_total')) say(`a ${type} must not be named with the "_total" suffix (it is for counters)`);
  if (!untyped && type !== 'histogram' && hasSuffix('_bucket')) say(`a ${type} must not be named with the "_bucket" suffix`);
  if (!untyped && type !== 'histogram' && type !== 'summary' && (hasSuffix('_count') || hasSuffix('_sum'))) {
    say(`a ${type} must not be named with the "_count" or "_sum" suffix`);
  }
  for (const word of TYPE_WORDS) {
    if (lower.includes(`_${word}_`) || lower.endsWith(`_${word}`)) say(`the name must not include the type "${word}"`);
  }
  if (lintName.includes(':')) say('the name must not contain ":" (reserved for recording rules)');
  if (/[a-z][A-Z]/.test(lintName)) say('the name must be snake_case, not camelCase');
  for (const a of UNIT_ABBREVIATIONS) {
    if (lower.includes(`_${a}_`) || lower.endsWith(`_${a}`)) say(`the name must not contain the abbreviated unit "${a}"`);
  }
  const words = lintName.split('_');
  for (const [unit, base] of Object.entries(UNITS)) {
    for (const prefix of UNIT_PREFIXES) {
      if (words.includes(prefix + unit) && prefix + unit !== base) say(`use the base unit "${base}" instead of "${prefix + unit}"`);
    }
  }
  const labelNames = new Set(family.samples.flatMap((s) => s.labels.map(([k]) => k)));
  for (const l of labelNames) {
    if (/[a-z][A-Z]/.test(l)) say(`label ${l}: label names must be snake_case, not camelCase`);
    if (l === 'le' && type !== 'histogram' && type !== 'gaugehistogram') say('only a histogram has the "le" label');
    if (l === 'quantile' && type !== 'summary') say('only a summary has the "quantile" label');
  }
}

/** Histogram buckets per label set: ascending le, cumulative, +Inf last and equal to _count, _sum present. */
function checkHistogram(family, problems) {
  const groups = new Map();
  const group = (labels) => {
    const key = seriesKey(
      '',
      labels.filter(([k]) => k !== 'le'),
    );
    if (!groups.has(key)) groups.set(key, { key, buckets: [], sum: undefined, count: undefined });
    return groups.get(key);
  };
  const countSuffix = family.type === 'gaugehistogram' ? '_gcount' : '_count';
  const sumSuffix = family.type === 'gaugehistogram' ? '_gsum' : '_sum';
  for (const s of family.samples) {
    const g = group(s.labels);
    const v = floatOf(s.value);
    if (s.suffix === '_bucket') {
      const le = s.labels.find(([k]) => k === 'le')?.[1];
      if (le === undefined) problems.push(`line ${s.line}: bucket ${s.name} has no "le" label`);
      else if (!TEXT_FLOAT.test(le) || Number.isNaN(floatOf(le))) problems.push(`line ${s.line}: bucket le="${le}" is not a float`);
      else g.buckets.push({ le: floatOf(le), raw: le, v, line: s.line });
    } else if (s.suffix === countSuffix) g.count = { v, line: s.line };
    else if (s.suffix === sumSuffix) g.sum = { v, line: s.line };
    if (s.suffix !== sumSuffix && s.suffix !== '_created' && !(v >= 0))
      problems.push(`line ${s.line}: ${s.name} is ${s.value}; bucket counts and _count are never negative or NaN`);
  }
  for (const g of groups.values()) {
    const where = `family ${family.name}${g.key === '{}' ? '' : g.key}`;
    if (g.buckets.length === 0) {
      problems.push(`${where}: no _bucket samples`);
      continue;
    }
    for (let i = 1; i < g.buckets.length; i++) {
      const [a, b] = [g.buckets[i - 1], g.buckets[i]];
      if (!(b.le > a.le)) problems.push(`line ${b.line}: bucket le="${b.raw}" follows le="${a.raw}"; buckets must be in ascending le order`);
      else if (b.v < a.v) problems.push(`line ${b.line}: bucket le="${b.raw}" holds ${b.v}, less than le="${a.raw}"'s ${a.v}; buckets are cumulative`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last.le !== Infinity) problems.push(`${where}: the last bucket is le="${last.raw}"; a histogram ends with le="+Inf"`);
    if (g.count === undefined) problems.push(`${where}: no ${countSuffix} sample`);
    else if (last.le === Infinity && g.count.v !== last.v)
      problems.push(`line ${g.count.line}: ${countSuffix} is ${g.count.v} but the +Inf bucket holds ${last.v}; they must be equal`);
    if (g.sum === undefined) problems.push(`${where}: no ${sumSuffix} sample`);
  }
}

function checkSummary(family, problems) {
  const groups = new Map();
  for (const s of family.samples) {
    const key = seriesKey(
      '',
      s.labels.filter(([k]) => k !== 'quantile'),
    );
    if (!groups.has(key)) groups.set(key, new Set());
    groups.get(key).add(s.suffix);
    if (s.suffix === '') {
      const q = s.labels.find(([k]) => k === 'quantile')?.[1];
      if (q === undefined) problems.push(`line ${s.line}: summary sample ${s.name} has no "quantile" label`);
      else if (!TEXT_FLOAT.test(q) || !(floatOf(q) >= 0 && floatOf(q) <= 1)) problems.push(`line ${s.line}: quantile="${q}" is not a number from 0 to 1`);
    }
    if (s.suffix === '_count' && !(floatOf(s.value) >= 0)) problems.push(`line ${s.line}: ${s.name} is ${s.value}; a count is never negative or NaN`);
  }
  for (const [key, suffixes] of groups) {
    for (const suffix of ['_sum', '_count']) if (!suffixes.has(suffix)) problems.push(`family ${family.name}${key === '{}' ? '' : key}: no ${suffix} sample`);
  }
}

/** The family a sample belongs to: the current one if it fits, else any declared one that fits. */
function familyOf(name, current, families, suffixes) {
  const fits = (f) => f !== undefined && f.type !== undefined && (suffixes[f.type] ?? []).some((s) => f.name + s === name);
  if (fits(current)) return current;
  for (const suffix of new Set(Object.values(suffixes).flat())) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, name.length - suffix.length));
    if (fits(f)) return f;
  }
  return undefined;
}

/**
 * Everything wrong with an exposition, as messages naming the line or the family.
 * `format`: 'text' or 'openmetrics'; by default OpenMetrics when the text has an "# EOF" line.
 */
export function inspectExposition(text, { format } = {}) {
  const fmt = format ?? (/(?:^|\n)# EOF(?:\n|$)/.test(text) ? 'openmetrics' : 'text');
  if (fmt !== 'text' && fmt !== 'openmetrics') throw new Error(`unknown exposition format ${fmt}`);
  const om = fmt === 'openmetrics';
  const suffixes = SUFFIXES[fmt];
  const problems = [];
  const families = new Map();
  const samples = [];
  let current;
  let eofLine;

  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else if (text !== '') problems.push(`line ${lines.length}: the exposition does not end with a newline`);

  const enter = (f, line) => {
    if (f === current) return;
    if (current !== undefined) current.left = line;
    if (f.left !== undefined)
      problems.push(`line ${line}: family ${f.name} continues here after other families began at line ${f.left}; a family's lines must be together`);
    current = f;
  };
  const declared = (name, line) => {
    if (!families.has(name)) families.set(name, { name, type: undefined, help: undefined, samples: [], firstLine: line, left: undefined });
    const f = families.get(name);
    enter(f, line);
    return f;
  };

  lines.forEach((line, index) => {
    const n = index + 1;
    if (eofLine !== undefined) {
      if (n === eofLine + 1) problems.push(`line ${n}: text after "# EOF" (line ${eofLine})`);
      return;
    }
    if (line === '') {
      if (om) problems.push(`line ${n}: OpenMetrics has no blank lines`);
      return;
    }
    if (line.startsWith('#')) {
      if (om && line === '# EOF') {
        eofLine = n;
        return;
      }
      const m = /^# (HELP|TYPE|UNIT) ([^ ]+)(?: (.*))?$/.exec(line);
      if (m === null || (m[1] === 'UNIT' && !om)) {
        // The text format lets any other comment through; a mangled HELP or TYPE is still an error.
        if (om) problems.push(`line ${n}: OpenMetrics allows only "# HELP", "# TYPE", "# UNIT" and "# EOF" lines`);
        else if (/^#[ \t]*(HELP|TYPE)\b/.test(line))
          problems.push(`line ${n}: a malformed ${/HELP|TYPE/.exec(line)[0]} line (want "# ${/HELP|TYPE/.exec(line)[0]} <name> <text>")`);
        return;
      }
      const [, keyword, name, rest = ''] = m;
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) {
        problems.push(`line ${n}: "${name}" is not a valid metric name`);
        return;
      }
      const f = declared(name, n);
      if (f.samples.length > 0) problems.push(`line ${n}: ${keyword} for ${name} comes after its samples (line ${f.samples[0].line}); it must come first`);
      if (keyword === 'HELP') {
        if (f.help !== undefined) problems.push(`line ${n}: a second HELP for ${name} (the first is at line ${f.help.line})`);
        try {
          const help = unescapeHelp(rest, om);
          if (help.trim() === '') problems.push(`line ${n}: HELP for ${name} has no text`);
          f.help ??= { line: n, text: help };
        } catch (e) {
          problems.push(`line ${n}: ${e.message}`);
        }
      } else if (keyword === 'TYPE') {
        if (f.type !== undefined) problems.push(`line ${n}: a second TYPE for ${name} (the first is at line ${f.typeLine})`);
        else if (!(rest in suffixes)) problems.push(`line ${n}: unknown type "${rest}" for ${name} (one of ${Object.keys(suffixes).join(', ')})`);
        else {
          f.type = rest;
          f.typeLine = n;
        }
      } else if (!name.endsWith(`_${rest}`) || rest === '') {
        problems.push(`line ${n}: UNIT "${rest}" for ${name}: the family name must end with "_${rest}"`);
      }
      return;
    }
    let sample;
    try {
      sample = readSampleLine(line, { openMetrics: om });
    } catch (e) {
      problems.push(`line ${n}: ${e.message}: ${line}`);
      return;
    }
    const seen = new Set();
    for (const [label] of sample.labels) {
      if (seen.has(label)) problems.push(`line ${n}: label ${label} appears twice`);
      seen.add(label);
      if (label.startsWith('__')) problems.push(`line ${n}: label names starting with "__" are reserved (${label})`);
    }
    let f = familyOf(sample.name, current, families, suffixes);
    if (f === undefined) {
      const named = families.get(sample.name);
      const hint = named?.type === undefined ? '' : ` (a ${named.type} family has only ${suffixes[named.type].map((s) => sample.name + s).join(', ')})`;
      problems.push(`line ${n}: sample ${sample.name} has no HELP and TYPE before it${hint}`);
      // Go on with a family of its own, so the problems below are still found.
      f = named?.type === undefined && named !== undefined ? named : { name: sample.name, type: 'untyped', help: { line: n }, samples: [], left: undefined };
      if (!families.has(sample.name)) families.set(sample.name, f);
    }
    enter(f, n);
    const suffix = sample.name.slice(f.name.length);
    const s = { ...sample, line: n, suffix, family: f };
    f.samples.push(s);
    samples.push(s);
  });
  if (om && eofLine === undefined) problems.push('the OpenMetrics exposition does not end with "# EOF"');

  const series = new Map();
  for (const s of samples) {
    const key = seriesKey(s.name, s.labels);
    if (series.has(key)) problems.push(`line ${s.line}: duplicate series ${key} (also at line ${series.get(key)})`);
    else series.set(key, s.line);
  }
  for (const f of families.values()) {
    if (f.help === undefined) problems.push(`family ${f.name}: no HELP line`);
    if (f.type === undefined) {
      problems.push(`family ${f.name}: no TYPE line`);
      continue;
    }
    lintNames(f, om && f.type === 'counter' ? `${f.name}_total` : f.name, problems);
    if (f.type === 'counter') {
      for (const s of f.samples) {
        if (s.suffix !== '_created' && !(floatOf(s.value) >= 0))
          problems.push(`line ${s.line}: counter ${s.name} is ${s.value}; a counter is never negative or NaN`);
      }
    }
    if (f.type === 'histogram' || f.type === 'gaugehistogram') checkHistogram(f, problems);
    if (f.type === 'summary') checkSummary(f, problems);
  }

  if (problems.length === 0) {
    // The tests read expositions with the lenient parser: it must see exactly these samples.
    try {
      const loose = parseExposition(text);
      if (loose.length !== samples.length) problems.push(`parseExposition reads ${loose.length} samples where there are ${samples.length}`);
      else {
        loose.forEach((l, i) => {
          const s = samples[i];
          const same =
            l.name === s.name &&
            Object.is(l.value, floatOf(s.value)) &&
            JSON.stringify(Object.entries(l.labels)) === JSON.stringify(s.labels.map(([k, v]) => [k, v]));
          if (!same) problems.push(`line ${s.line}: parseExposition reads this sample differently (${JSON.stringify(l)})`);
        });
      }
    } catch (e) {
      problems.push(`parseExposition cannot read it: ${e.message}`);
    }
  }
  return { format: fmt, problems, families: families.size, samples: samples.length };
}

/** Throws an Error listing every problem of the exposition; returns its format and sizes when there is none. */
export function checkExposition(text, options) {
  const { problems, ...result } = inspectExposition(text, options);
  if (problems.length > 0) {
    const shown = problems.slice(0, 30);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
    throw new Error(
      `exposition check failed (${result.format}, ${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${shown.join('\n  ')}${more}`,
    );
  }
  return result;
}
