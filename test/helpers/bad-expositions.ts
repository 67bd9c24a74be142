/**
 * Expositions the strict checker must reject, each with the message it gives. `promtool`
 * (text-format cases): whether `promtool check metrics` rejects it too, a claim
 * test/exposition-promtool.e2e.test.ts checks against the real promtool; where it does not,
 * the rule is one promtool leaves to the server. OpenMetrics cases have no claim: promtool
 * reads only the text format.
 */
export interface BadExposition {
  name: string;
  text: string;
  message: RegExp;
  promtool?: boolean;
}

const H = '# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\n';
const HIST = '# HELP app_wait_seconds Wait.\n# TYPE app_wait_seconds histogram\n';
const hist = (lines: string[]): string => HIST + lines.map((l) => `app_wait_seconds${l}\n`).join('');

// prettier-ignore
export const BAD_EXPOSITIONS: BadExposition[] = [
  // Lines that do not parse.
  { name: 'an unclosed label set', text: `${H}app_requests_total{code="200" 1\n`, message: /line 3: "," or "}" was expected after label code/, promtool: true },
  { name: 'a metric name starting with a digit', text: `${H}1app_requests_total 1\n`, message: /line 3: a metric name was expected at column 1/, promtool: true },
  { name: 'a label name starting with a digit', text: `${H}app_requests_total{1code="200"} 1\n`, message: /line 3: a label name was expected/, promtool: true },
  { name: 'an unquoted label value', text: `${H}app_requests_total{code=200} 1\n`, message: /line 3: label code: a quoted value was expected/, promtool: true },
  { name: 'an unknown escape in a label value', text: `${H}app_requests_total{path="a\\tb"} 1\n`, message: /line 3: label path: invalid escape sequence "\\t"/, promtool: true },
  { name: 'a value that is not a number', text: `${H}app_requests_total 1,5\n`, message: /line 3: "1,5" is not a float value/, promtool: true },
  { name: 'a missing value', text: `${H}app_requests_total{code="200"}\n`, message: /line 3: one space and a value were expected/, promtool: true },
  { name: 'a timestamp that is not an integer', text: `${H}app_requests_total 1 12.5\n`, message: /line 3: "12.5" is not a timestamp/, promtool: true },
  { name: 'a label given twice', text: `${H}app_requests_total{code="200",code="500"} 1\n`, message: /line 3: label code appears twice/, promtool: true },
  { name: 'the reserved __name__ label', text: `${H}app_requests_total{__name__="x"} 1\n`, message: /line 3: label names starting with "__" are reserved \(__name__\)/, promtool: true },
  // HELP and TYPE.
  { name: 'a sample with no HELP or TYPE', text: 'app_requests_total 1\n', message: /line 1: sample app_requests_total has no HELP and TYPE before it/, promtool: true },
  { name: 'an unknown type', text: '# HELP app_requests_total Requests.\n# TYPE app_requests_total countr\napp_requests_total 1\n', message: /line 2: unknown type "countr" for app_requests_total \(one of counter, gauge, histogram, summary, untyped\)/, promtool: true },
  { name: 'TYPE after the samples', text: '# HELP app_requests_total Requests.\napp_requests_total 1\n# TYPE app_requests_total counter\n', message: /line 3: TYPE for app_requests_total comes after its samples \(line 2\)/, promtool: true },
  { name: 'HELP after the samples', text: '# TYPE app_requests_total counter\napp_requests_total 1\n# HELP app_requests_total Requests.\n', message: /line 3: HELP for app_requests_total comes after its samples \(line 2\)/, promtool: false },
  { name: 'a second HELP', text: `${H}# HELP app_requests_total Again.\napp_requests_total 1\n`, message: /line 3: a second HELP for app_requests_total \(the first is at line 1\)/, promtool: true },
  { name: 'a second TYPE', text: `${H}# TYPE app_requests_total counter\napp_requests_total 1\n`, message: /line 3: a second TYPE for app_requests_total \(the first is at line 2\)/, promtool: true },
  { name: 'a family with TYPE and no HELP', text: '# TYPE app_requests_total counter\napp_requests_total 1\n', message: /family app_requests_total: no HELP line/, promtool: true },
  { name: 'an unknown escape in the help text', text: '# HELP app_requests_total Requests \\t.\n# TYPE app_requests_total counter\napp_requests_total 1\n', message: /line 1: invalid escape sequence "\\t" in the help text/, promtool: true },
  { name: 'a malformed TYPE line', text: '# HELP app_requests_total Requests.\n# TYPE\napp_requests_total 1\n', message: /line 2: a malformed TYPE line/, promtool: false },
  // Names and labels promtool's lint refuses.
  { name: 'a counter without _total', text: '# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests 1\n', message: /family app_requests: a counter must be named with the "_total" suffix/, promtool: true },
  { name: 'a gauge named _total', text: '# HELP app_open_total Open.\n# TYPE app_open_total gauge\napp_open_total 1\n', message: /family app_open_total: a gauge must not be named with the "_total" suffix/, promtool: true },
  { name: 'a gauge named _count', text: '# HELP app_open_count Open.\n# TYPE app_open_count gauge\napp_open_count 1\n', message: /family app_open_count: a gauge must not be named with the "_count" or "_sum" suffix/, promtool: true },
  { name: 'an le label on a counter', text: `${H}app_requests_total{le="1"} 1\n`, message: /family app_requests_total: only a histogram has the "le" label/, promtool: true },
  { name: 'a quantile label on a counter', text: `${H}app_requests_total{quantile="0.5"} 1\n`, message: /family app_requests_total: only a summary has the "quantile" label/, promtool: true },
  { name: 'a camelCase label', text: `${H}app_requests_total{statusCode="200"} 1\n`, message: /label statusCode: label names must be snake_case/, promtool: true },
  { name: 'a camelCase name', text: '# HELP app_openSockets Open.\n# TYPE app_openSockets gauge\napp_openSockets 1\n', message: /family app_openSockets: the name must be snake_case/, promtool: true },
  { name: 'an abbreviated unit', text: '# HELP app_wait_ms Wait.\n# TYPE app_wait_ms gauge\napp_wait_ms 1\n', message: /family app_wait_ms: the name must not contain the abbreviated unit "ms"/, promtool: true },
  { name: 'a unit that is not the base unit', text: '# HELP app_wait_milliseconds Wait.\n# TYPE app_wait_milliseconds gauge\napp_wait_milliseconds 1\n', message: /family app_wait_milliseconds: use the base unit "seconds" instead of "milliseconds"/, promtool: true },
  { name: 'the type in the name', text: '# HELP app_open_gauge Open.\n# TYPE app_open_gauge gauge\napp_open_gauge 1\n', message: /family app_open_gauge: the name must not include the type "gauge"/, promtool: true },
  { name: 'a colon in the name', text: '# HELP app:open Open.\n# TYPE app:open gauge\napp:open 1\n', message: /family app:open: the name must not contain ":"/, promtool: true },
  // Rules promtool leaves to the server.
  { name: 'a duplicate series (labels in another order)', text: `${H}app_requests_total{a="1",b="2"} 1\napp_requests_total{b="2",a="1"} 2\n`, message: /line 4: duplicate series app_requests_total\{a="1",b="2"\} \(also at line 3\)/, promtool: false },
  { name: 'a family split in two', text: `${H}app_requests_total{a="1"} 1\n# HELP app_open Open.\n# TYPE app_open gauge\napp_open 1\napp_requests_total{a="2"} 1\n`, message: /line 7: family app_requests_total continues here after other families began at line 4/, promtool: false },
  { name: 'a negative counter', text: `${H}app_requests_total -1\n`, message: /line 3: counter app_requests_total is -1; a counter is never negative or NaN/, promtool: false },
  { name: 'no newline at the end', text: `${H}app_requests_total 1`, message: /line 3: the exposition does not end with a newline/, promtool: true },
  { name: 'buckets out of le order', text: hist(['_bucket{le="1"} 1', '_bucket{le="0.5"} 1', '_bucket{le="+Inf"} 1', '_sum 0.3', '_count 1']), message: /line 4: bucket le="0.5" follows le="1"; buckets must be in ascending le order/, promtool: false },
  { name: 'buckets that are not cumulative', text: hist(['_bucket{le="0.5"} 2', '_bucket{le="1"} 1', '_bucket{le="+Inf"} 2', '_sum 0.3', '_count 2']), message: /line 4: bucket le="1" holds 1, less than le="0.5"'s 2; buckets are cumulative/, promtool: false },
  { name: 'no +Inf bucket', text: hist(['_bucket{le="0.5"} 1', '_bucket{le="1"} 1', '_sum 0.3', '_count 1']), message: /family app_wait_seconds: the last bucket is le="1"; a histogram ends with le="\+Inf"/, promtool: false },
  { name: '_count unequal to the +Inf bucket', text: hist(['_bucket{le="1",l="x"} 1', '_bucket{le="+Inf",l="x"} 2', '_sum{l="x"} 0.3', '_count{l="x"} 3']), message: /line 6: _count is 3 but the \+Inf bucket holds 2; they must be equal/, promtool: false },
  { name: 'a histogram without _count and _sum', text: hist(['_bucket{le="+Inf"} 1']), message: /family app_wait_seconds: no _count sample[^]*family app_wait_seconds: no _sum sample/, promtool: false },
  { name: 'a bucket without le', text: hist(['_bucket 1', '_bucket{le="+Inf"} 1', '_sum 1', '_count 1']), message: /line 3: bucket app_wait_seconds_bucket has no "le" label/, promtool: false },
  { name: 'a bucket le that is not a number', text: hist(['_bucket{le="one"} 1', '_bucket{le="+Inf"} 1', '_sum 1', '_count 1']), message: /line 3: bucket le="one" is not a float/, promtool: true },
  { name: 'a histogram sample with a bare name', text: hist(['_bucket{le="+Inf"} 1', '_sum 1', '_count 1', ' 1']), message: /line 6: sample app_wait_seconds has no HELP and TYPE before it \(a histogram family has only app_wait_seconds_bucket/, promtool: false },
  { name: 'a quantile above 1', text: '# HELP app_wait_seconds Wait.\n# TYPE app_wait_seconds summary\napp_wait_seconds{quantile="1.5"} 1\napp_wait_seconds_sum 1\napp_wait_seconds_count 1\n', message: /line 3: quantile="1.5" is not a number from 0 to 1/, promtool: false },
  // OpenMetrics.
  { name: 'OpenMetrics: a counter sample without _total', text: '# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests 1\n# EOF\n', message: /line 3: sample app_requests has no HELP and TYPE before it \(a counter family has only app_requests_total, app_requests_created\)/ },
  { name: 'OpenMetrics: a blank line', text: '# HELP app_requests Requests.\n# TYPE app_requests counter\n\napp_requests_total 1\n# EOF\n', message: /line 3: OpenMetrics has no blank lines/ },
  { name: 'OpenMetrics: text after # EOF', text: '# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests_total 1\n# EOF\napp_requests_total 2\n', message: /line 5: text after "# EOF" \(line 4\)/ },
  { name: 'OpenMetrics: no # EOF', text: '# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests_total 1\n', message: /the OpenMetrics exposition does not end with "# EOF"/ },
  { name: 'OpenMetrics: a plain comment', text: '# a comment\n# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests_total 1\n# EOF\n', message: /line 1: OpenMetrics allows only "# HELP", "# TYPE", "# UNIT" and "# EOF" lines/ },
  { name: 'OpenMetrics: NaN spelt "Nan"', text: '# HELP app_open Open.\n# TYPE app_open gauge\napp_open Nan\n# EOF\n', message: /line 3: "Nan" is not a float value/ },
  { name: 'OpenMetrics: a comma before }', text: '# HELP app_open Open.\n# TYPE app_open gauge\napp_open{a="1",} 1\n# EOF\n', message: /line 3: OpenMetrics allows no comma before "}"/ },
  { name: 'OpenMetrics: a unit the name does not end with', text: '# HELP app_wait_seconds Wait.\n# TYPE app_wait_seconds gauge\n# UNIT app_wait_seconds bytes\napp_wait_seconds 1\n# EOF\n', message: /line 3: UNIT "bytes" for app_wait_seconds: the family name must end with "_bytes"/ },
];

/** What the OpenMetrics cases are checked as (the text format for the rest). */
export const formatOf = (b: BadExposition): 'text' | 'openmetrics' => (b.name.startsWith('OpenMetrics:') ? 'openmetrics' : 'text');
