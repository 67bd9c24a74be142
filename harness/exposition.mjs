/**
 * Prometheus text exposition read back into numbers, for the tests, the
 * soak and anything else that checks the agent from outside: samples, sums,
 * and the recorder's families keyed by their labels.
 */

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of the text: { name, labels, value }. Throws on a line that is not a sample, a comment or empty. */
export function parseExposition(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(samples, name, match = {}) {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** The samples of `name` summed by the values of `labelNames` joined with spaces; `skipZero` leaves out zero samples. */
function byLabels(samples, name, labelNames, { skipZero = false } = {}) {
  const out = {};
  for (const s of samples) {
    if (s.name !== name || (skipZero && s.value === 0)) continue;
    const key = labelNames.map((l) => s.labels[l]).join(' ');
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/**
 * The closed-total series with a non-zero count as "code codename category initiator" -> count,
 * for exact comparisons (the recorder also exports a few common series at zero from the start).
 */
export function closesByLabels(samples, prefix = 'websocket_') {
  return byLabels(samples, `${prefix}connections_closed_total`, ['code', 'codename', 'category', 'initiator'], { skipZero: true });
}

/** Protocol violations as "side kind" -> count. */
export function violationsByLabels(samples, options, prefix = 'websocket_') {
  return byLabels(samples, `${prefix}protocol_violations_total`, ['side', 'kind'], options);
}

/** Upgrade failures as reason -> count. */
export function failuresByLabels(samples, options, prefix = 'websocket_') {
  return byLabels(samples, `${prefix}upgrade_failures_total`, ['reason'], options);
}

/** What one scrape of the agent says: the connection counters, the heap, and closes, violations and failures (non-zero). */
export function metricsFigures(samples, prefix = 'websocket_') {
  return {
    opened: sumOf(samples, `${prefix}connections_opened_total`),
    closed: sumOf(samples, `${prefix}connections_closed_total`),
    active: sumOf(samples, `${prefix}connections_active`),
    heapUsed: sumOf(samples, 'nodejs_heap_size_used_bytes'),
    closes: closesByLabels(samples, prefix),
    violations: violationsByLabels(samples, { skipZero: true }, prefix),
    failures: failuresByLabels(samples, { skipZero: true }, prefix),
  };
}

/** `after - before` per key, without zero entries. */
export function countsDelta(before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}
