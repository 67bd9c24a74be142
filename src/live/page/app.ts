/**
 * The live page's script (bundled with uPlot by scripts/build.mjs). It reads
 * the summary and the recent closes, then follows the event stream (or polls
 * when the server has no stream left for it). Everything from the server is
 * set as text (textContent, never HTML), so a reason or a path cannot become
 * markup whatever it holds.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import type { CloseEntry, CloseSample, PageConfig as Config, RecentAnswer as Recent, SummaryAnswer as Summary, Tick } from '../api-types.js';

const WINDOW_MS = 15 * 60 * 1000;
const MAX_ROWS = 1000;
const MAX_SHOWN = 300;
const TOP_CODENAMES = 8;
const POLL_MS = 5000;
const INITIATORS = ['client', 'server', 'agent', 'unknown'];
const PALETTE = ['#2f6fdf', '#e0622b', '#2ca05a', '#b4399e', '#c9a227', '#1f9eb5', '#8c5a3c', '#6a5acd', '#888888'];

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

let config: Config = { recentCloses: 0, peer: false, sampleIntervalMs: 10_000 };
/** Samples at least one interval apart, oldest first, then the latest one. */
const samples: CloseSample[] = [];
let latest: CloseSample | undefined;
let rows: CloseEntry[] = [];
let recorded = 0;
let skipped = 0;
const codenamesSeen = new Set<string>();

function setText(id: string, text: string): void {
  byId(id).textContent = text;
}

function status(text: string, kind: 'ok' | 'warn' | 'bad'): void {
  const el = byId('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

function addSample(sample: CloseSample): void {
  const last = samples[samples.length - 1];
  if (last === undefined || sample.t - last.t >= config.sampleIntervalMs) samples.push(sample);
  latest = sample;
  const cutoff = sample.t - WINDOW_MS - config.sampleIntervalMs;
  while (samples.length > 2 && samples[0]!.t < cutoff) samples.shift();
}

function addCloses(newRecorded: number, closes: CloseEntry[]): void {
  const fresh = Math.max(0, newRecorded - recorded);
  const take = closes.slice(0, fresh);
  skipped += fresh - take.length;
  recorded = Math.max(recorded, newRecorded);
  if (take.length === 0) return;
  rows = take.concat(rows).slice(0, MAX_ROWS);
  for (const c of take) codenamesSeen.add(c.codename);
}

/** The points of the chart: rates between consecutive samples, at the later one's time. */
function points(): CloseSample[] {
  const all = samples.slice();
  if (latest !== undefined && latest !== all[all.length - 1] && latest.t > (all[all.length - 1]?.t ?? 0) + 1000) all.push(latest);
  return all;
}

function rateSeries(all: CloseSample[], read: (s: CloseSample) => number): (number | null)[] {
  const out: (number | null)[] = [];
  for (let i = 1; i < all.length; i++) {
    const dt = (all[i]!.t - all[i - 1]!.t) / 1000;
    const d = read(all[i]!) - read(all[i - 1]!);
    out.push(dt > 0 ? Math.max(0, d) / dt : null); // a counter reset shows as 0, not a negative rate
  }
  return out;
}

function increase(all: CloseSample[], read: (s: CloseSample) => number): number {
  if (all.length < 2) return 0;
  return Math.max(0, read(all[all.length - 1]!) - read(all[0]!));
}

const charts = new Map<string, { plot: uPlot; key: string }>();

function draw(
  id: string,
  names: string[],
  data: uPlot.AlignedData,
  scales?: Record<string, uPlot.Scale>,
  axes?: uPlot.Axis[],
  seriesScale?: (name: string) => string,
): void {
  const el = byId(id);
  const key = names.join('\u0000');
  const existing = charts.get(id);
  if (existing !== undefined && existing.key === key) {
    existing.plot.setData(data);
    return;
  }
  existing?.plot.destroy();
  const width = Math.max(280, el.clientWidth);
  const opts: uPlot.Options = {
    width,
    height: 220,
    scales: scales ?? { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: axes ?? [{}, { label: 'per second', size: 60 }],
    legend: { live: true },
    series: [
      {},
      ...names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2, scale: seriesScale?.(name) ?? 'y', points: { show: false } })),
    ],
  };
  charts.set(id, { plot: new uPlot(opts, data, el), key });
}

function render(): void {
  const all = points();
  const xs = all.slice(1).map((s) => s.t / 1000);
  // By codename: the busiest TOP_CODENAMES of the window, the rest as "other".
  const volume = new Map<string, number>();
  for (const name of Object.keys(latest?.byCodename ?? {}))
    volume.set(
      name,
      increase(all, (s) => s.byCodename[name] ?? 0),
    );
  const ranked = [...volume.entries()].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const top = ranked.slice(0, TOP_CODENAMES).map(([name]) => name);
  const rest = ranked.slice(TOP_CODENAMES).map(([name]) => name);
  const codenameNames = top.length === 0 ? ['no closes'] : rest.length > 0 ? [...top, 'other'] : top;
  const codenameData: uPlot.AlignedData = [
    xs,
    ...codenameNames.map((name) =>
      name === 'no closes'
        ? xs.map(() => 0)
        : name === 'other'
          ? rateSeries(all, (s) => rest.reduce((n, r) => n + (s.byCodename[r] ?? 0), 0))
          : rateSeries(all, (s) => s.byCodename[name] ?? 0),
    ),
  ];
  draw('chart-codename', codenameNames, codenameData);
  draw('chart-initiator', INITIATORS, [xs, ...INITIATORS.map((i) => rateSeries(all, (s) => s.byInitiator[i] ?? 0))]);
  const failures = (s: CloseSample): number => Object.values(s.upgradeFailures).reduce((a, b) => a + b, 0);
  draw(
    'chart-active',
    ['active connections', 'upgrade failures / s'],
    [xs, all.slice(1).map((s) => s.active), rateSeries(all, failures)],
    { x: { time: true }, n: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] }, f: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    [{}, { scale: 'n', label: 'connections', size: 60 }, { scale: 'f', side: 1, label: 'failures / s', size: 60, grid: { show: false } }],
    (name) => (name === 'active connections' ? 'n' : 'f'),
  );

  if (latest !== undefined) {
    setText('active', String(latest.active));
    const minuteAgo = [...all].reverse().find((s) => s.t <= latest!.t - 55_000) ?? all[0];
    const dt = minuteAgo === undefined ? 0 : (latest.t - minuteAgo.t) / 1000;
    setText('close-rate', dt > 0 ? ((latest.closed - minuteAgo!.closed) / dt).toFixed(2) : '–');
    setText('closes-15m', String(increase(all, (s) => s.closed)));
    setText('failures-15m', String(increase(all, failures)));
    const byReason = Object.keys(latest.upgradeFailures)
      .map((r) => [r, increase(all, (s) => s.upgradeFailures[r] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .map(([r, n]) => `${r} ${n}`);
    setText('failures-detail', byReason.join(' · '));
  }
  renderTable();
}

function renderFilterOptions(): void {
  const select = byId<HTMLSelectElement>('filter-codename');
  const have = new Set([...select.options].map((o) => o.value));
  for (const name of [...codenamesSeen].sort()) {
    if (have.has(name)) continue;
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name;
    select.append(option);
  }
}

function cell(row: HTMLTableRowElement, text: string, className?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

function renderTable(): void {
  renderFilterOptions();
  const code = byId<HTMLInputElement>('filter-code').value.trim();
  const codename = byId<HTMLSelectElement>('filter-codename').value;
  const initiator = byId<HTMLSelectElement>('filter-initiator').value;
  const matching = rows.filter(
    (r) => (code === '' || String(r.code) === code) && (codename === '' || r.codename === codename) && (initiator === '' || r.initiator === initiator),
  );
  const body = document.createElement('tbody');
  for (const r of matching.slice(0, MAX_SHOWN)) {
    const tr = body.insertRow();
    tr.className = `category-${r.category.replace(/[^a-z_]/g, '')}`;
    const t = new Date(r.time);
    cell(tr, `${t.toLocaleTimeString(undefined, { hour12: false })}.${String(t.getMilliseconds()).padStart(3, '0')}`).title = r.time;
    cell(tr, String(r.code), 'num');
    cell(tr, r.codename);
    cell(tr, r.category);
    cell(tr, r.initiator);
    cell(tr, r.durationSeconds < 10 ? `${r.durationSeconds.toFixed(3)} s` : `${r.durationSeconds.toFixed(0)} s`, 'num');
    cell(tr, r.reason, 'reason');
    cell(tr, r.path, 'path');
    if (config.peer) cell(tr, r.peer ?? '', 'peer');
  }
  const table = byId<HTMLTableElement>('closes');
  table.replaceChild(body, table.tBodies[0]!);
  const filtered = code !== '' || codename !== '' || initiator !== '';
  setText(
    'shown',
    `${Math.min(matching.length, MAX_SHOWN)} shown${filtered ? ` of ${rows.length}` : ''}${skipped > 0 ? ` · ${skipped} not shown (more than the stream carries per second)` : ''}`,
  );
}

function applyConfig(c: Config): void {
  config = { recentCloses: c.recentCloses, peer: c.peer, sampleIntervalMs: c.sampleIntervalMs };
  document.body.classList.toggle('with-peer', config.peer);
  setText('recent-note', config.recentCloses === 0 ? '(off: the server keeps no recent closes)' : `(the server keeps the last ${config.recentCloses})`);
}

let pollTimer: number | undefined;

async function poll(): Promise<void> {
  try {
    const [summary, recent] = await Promise.all([getJson<Summary>('api/closes/summary'), getJson<Recent>(`api/closes/recent?limit=${MAX_ROWS}`)]);
    addSample(summary.now);
    addCloses(recent.recorded, recent.closes);
    render();
    status(`polling every ${POLL_MS / 1000} s`, 'warn');
  } catch (err) {
    status(`server unreachable (${(err as Error).message})`, 'bad');
  }
}

function follow(): void {
  const events = new EventSource(`api/closes/events?after=${recorded}`);
  events.addEventListener('open', () => status('live', 'ok'));
  events.addEventListener('tick', (e) => {
    const tick = JSON.parse((e as MessageEvent<string>).data) as Tick;
    addSample(tick.sample);
    addCloses(tick.recorded, tick.closes);
    render();
  });
  events.addEventListener('error', () => {
    if (events.readyState !== EventSource.CLOSED) {
      status('reconnecting…', 'warn');
      return;
    }
    // Refused (too many viewers) or gone: poll instead, at a bounded rate.
    if (pollTimer === undefined) pollTimer = window.setInterval(() => void poll(), POLL_MS);
    void poll();
  });
}

async function start(): Promise<void> {
  for (const id of ['filter-code', 'filter-codename', 'filter-initiator']) byId(id).addEventListener('input', renderTable);
  byId('filters').addEventListener('submit', (e) => e.preventDefault());
  try {
    const [summary, recent] = await Promise.all([getJson<Summary>('api/closes/summary'), getJson<Recent>(`api/closes/recent?limit=${MAX_ROWS}`)]);
    applyConfig(summary);
    for (const s of summary.samples) addSample(s);
    addSample(summary.now);
    addCloses(recent.recorded, recent.closes);
    render();
  } catch (err) {
    status(`cannot load (${(err as Error).message})`, 'bad');
    return;
  }
  follow();
  let resizeTimer: number | undefined;
  window.addEventListener('resize', () => {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      for (const [id, { plot }] of charts) plot.setSize({ width: Math.max(280, byId(id).clientWidth), height: 220 });
    }, 200);
  });
}

void start();
