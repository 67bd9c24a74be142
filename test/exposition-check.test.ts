/**
 * The strict exposition checker the unit tests use in place of promtool: it accepts what
 * prom-client and our renderer write, in both formats, and rejects each bad exposition with
 * a message naming the line or the family. test/exposition-promtool.e2e.test.ts holds it
 * against the real promtool.
 */
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { readSampleLine } from '../harness/exposition-check.mjs';
import { BAD_EXPOSITIONS, formatOf } from './helpers/bad-expositions.js';
import { checkExposition, inspectExposition, parseExposition } from './helpers/exposition.js';
import { assertAsyncProperty } from './helpers/property.js';

const GOOD_TEXT = `# HELP app_requests_total Requests, with a \\\\ and a\\nnewline.
# TYPE app_requests_total counter
app_requests_total{route="/a\\"b\\\\c\\nd",code="200"} 3
app_requests_total{route="/",code="500"} 1

# a comment
# HELP app_open Open sockets.
# TYPE app_open gauge
app_open -2.5e-3
# HELP app_wait_seconds Wait.
# TYPE app_wait_seconds histogram
app_wait_seconds_bucket{le="0.5",l="x"} 1
app_wait_seconds_bucket{le="1",l="x"} 1
app_wait_seconds_bucket{le="+Inf",l="x"} 2
app_wait_seconds_sum{l="x"} 90.5
app_wait_seconds_count{l="x"} 2
app_wait_seconds_bucket{le="0.5",l="y"} 0
app_wait_seconds_bucket{le="+Inf",l="y"} 0
app_wait_seconds_sum{l="y"} 0
app_wait_seconds_count{l="y"} 0
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds summary
app_latency_seconds{quantile="0.5"} Nan
app_latency_seconds{quantile="0.99"} NaN
app_latency_seconds_sum 0
app_latency_seconds_count 0
# HELP app_empty_total Declared, never incremented.
# TYPE app_empty_total counter
`;

const GOOD_OPENMETRICS = `# HELP app_requests Requests, with a \\" in the help.
# TYPE app_requests counter
app_requests_total{route="/a"} 3
app_requests_created{route="/a"} 1700000000.5
# HELP app_wait_seconds Wait.
# TYPE app_wait_seconds histogram
# UNIT app_wait_seconds seconds
app_wait_seconds_bucket{le="1.0"} 1
app_wait_seconds_bucket{le="+Inf"} 1
app_wait_seconds_sum 0.5
app_wait_seconds_count 1
# HELP app_build Build.
# TYPE app_build info
app_build_info{version="1.2.3"} 1
# EOF
`;

describe('checkExposition accepts', () => {
  it('every kind of family in the text format, and says what it read', () => {
    expect(checkExposition(GOOD_TEXT)).toEqual({ format: 'text', families: 5, samples: 16 });
  });

  it('OpenMetrics, told by its # EOF line', () => {
    expect(checkExposition(GOOD_OPENMETRICS)).toEqual({ format: 'openmetrics', families: 3, samples: 7 });
  });

  it('an empty exposition', () => {
    expect(checkExposition('')).toEqual({ format: 'text', families: 0, samples: 0 });
  });

  it('what prom-client renders, in both formats, for any label values and observations (property)', async () => {
    const labelValue = fc.string({
      unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '}', ',', '=', ' ', '#'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
      maxLength: 12,
    });
    await assertAsyncProperty(
      fc.asyncProperty(
        fc.array(fc.tuple(labelValue, fc.nat(1000), fc.double({ min: 0, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (rows, openMetrics) => {
          const registry = new Registry();
          const requests = new Counter({ name: 'app_requests_total', help: 'Requests "x" \\ y\nz.', labelNames: ['route'], registers: [registry] });
          const open = new Gauge({ name: 'app_open', help: 'Open.', labelNames: ['route'], registers: [registry] });
          const wait = new Histogram({ name: 'app_wait_seconds', help: 'Wait.', labelNames: ['route'], buckets: [0.1, 1, 10], registers: [registry] });
          const latency = new Summary({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], registers: [registry] });
          for (const [route, n, seconds] of rows) {
            requests.inc({ route }, n);
            open.set({ route }, -n);
            wait.observe({ route }, seconds);
            latency.observe({ route }, seconds);
          }
          if (openMetrics) registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
          const text = await registry.metrics();
          expect(checkExposition(text).format).toBe(openMetrics ? 'openmetrics' : 'text');
          const routes = new Set(parseExposition(text).map((s) => s.labels.route));
          expect(routes).toEqual(new Set(rows.map(([route]) => route)));
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('checkExposition rejects', () => {
  it.each(BAD_EXPOSITIONS.map((b) => [b.name, b] as const))('%s', (_, bad) => {
    expect(() => checkExposition(bad.text, { format: formatOf(bad) })).toThrow(bad.message);
    expect(() => checkExposition(bad.text, { format: formatOf(bad) })).toThrow(/^exposition check failed \((text|openmetrics), \d+ problems?\):\n {2}/);
  });

  it('lists every problem, not only the first', () => {
    const { problems } = inspectExposition('foo 1\n# HELP bar_total B.\n# TYPE bar_total counter\nbar_total -1\nbar_total -1\n');
    expect(problems).toEqual([
      'line 1: sample foo has no HELP and TYPE before it',
      'line 5: duplicate series bar_total{} (also at line 4)',
      'line 4: counter bar_total is -1; a counter is never negative or NaN',
      'line 5: counter bar_total is -1; a counter is never negative or NaN',
    ]);
  });

  it('what promtool accepts but the lenient parser the tests use cannot read, or reads differently', () => {
    expect(() => checkExposition('# HELP app_open Open.\n# TYPE app_open gauge\napp_open 1 1700000000000\n')).toThrow(
      /parseExposition cannot read it: unparseable exposition line: app_open 1 1700000000000/,
    );
    // "+Inf" as a value is valid, but parseExposition reads it as NaN: the tests would count wrong.
    expect(() => checkExposition('# HELP app_open Open.\n# TYPE app_open gauge\napp_open +Inf\n')).toThrow(
      /line 3: parseExposition reads this sample differently/,
    );
  });
});

describe('readSampleLine', () => {
  it('reads names, labels with escapes, the value and a timestamp', () => {
    expect(readSampleLine('a_b:c{x="1",y="q\\"\\\\\\n"} -Inf 123')).toEqual({
      name: 'a_b:c',
      labels: [
        ['x', '1'],
        ['y', 'q"\\\n'],
      ],
      value: '-Inf',
      timestamp: '123',
    });
    expect(readSampleLine('x{} 1').labels).toEqual([]);
    // The text format allows a comma before "}" (OpenMetrics does not).
    expect(readSampleLine('x{a="1",} 1').labels).toEqual([['a', '1']]);
    expect(() => readSampleLine('x{a="1",} 1', { openMetrics: true })).toThrow(/OpenMetrics allows no comma before "}"/);
  });

  it.each([
    ['x  1', /extra spaces or fields/],
    ['x 1 ', /extra spaces or fields/],
    ['x{a="1"}1', /one space and a value were expected after the metric name and labels at column 9/],
    ['x{a="1} 1', /label a: the value is not closed/],
    ['x{a="1"', /"," or "}" was expected after label a/],
    ['x{a', /"=" was expected after label a/],
    ['x 0x1F', /"0x1F" is not a float value/],
    ['x 1 2 3', /extra spaces or fields/],
  ])('rejects %j', (line, message) => {
    expect(() => readSampleLine(line)).toThrow(message);
  });
});
