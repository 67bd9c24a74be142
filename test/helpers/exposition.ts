/** Read Prometheus text exposition back into numbers, and check it with promtool. */
import { spawnSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/**
 * The closed-total series with a non-zero count as "code codename category initiator" -> count,
 * for exact comparisons (the recorder also exports a few common series at zero from the start).
 */
export function closesByLabels(samples: Sample[], prefix = 'websocket_'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== `${prefix}connections_closed_total` || s.value === 0) continue;
    const key = `${s.labels.code} ${s.labels.codename} ${s.labels.category} ${s.labels.initiator}`;
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** Run `promtool check metrics` on an exposition; returns its output, throws when it fails. */
export function promtoolCheckMetrics(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`promtool check metrics failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}
