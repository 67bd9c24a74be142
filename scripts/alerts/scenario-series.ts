/**
 * Synthetic traffic for the alert scenarios: seeded randomness, a diurnal
 * load curve, and the conversion of rates into the cumulative series notation
 * of `promtool test rules`.
 */
import { classify } from '../../src/codes/close-codes.js';
import { DEFAULT_PREFIX, metricNames, type Initiator, type UpgradeFailureReason } from '../../src/codes/vocabulary.js';

export const MINUTES_PER_DAY = 1440;

/** Deterministic PRNG (mulberry32): the same seed gives the same scenario on every machine. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Poisson-distributed count with mean `mean` (Knuth below 30, normal approximation above). */
export function samplePoisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean < 30) {
    const limit = Math.exp(-mean);
    let count = 0;
    let product = random();
    while (product > limit) {
      count += 1;
      product *= random();
    }
    return count;
  }
  // Box-Muller.
  const u = Math.max(random(), 1e-12);
  const v = random();
  const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal));
}

/**
 * Relative load at `minute` after Monday 00:00 (mean 1 on weekdays): a daily
 * sine with its low at 04:00 and its peak at 16:00, and quieter weekends.
 */
export function diurnalFactor(minute: number, amplitude = 0.6): number {
  const day = Math.floor(minute / MINUTES_PER_DAY) % 7;
  const timeOfDay = minute % MINUTES_PER_DAY;
  const weekend = day === 5 || day === 6 ? 0.7 : 1;
  return weekend * (1 + amplitude * Math.sin((2 * Math.PI * (timeOfDay - 10 * 60)) / MINUTES_PER_DAY));
}

/** One target (scrape endpoint) of a scenario. */
export interface Target {
  readonly job: string;
  readonly instance: string;
}

/** What one target did during one sample interval (rates per second, taken at its last minute). */
export interface MinuteTraffic {
  /** false: the scrape failed (up 0, no other series); absent: the target is gone from discovery. */
  readonly up: boolean;
  /** Close rate per close code (initiator: see DEFAULT_INITIATOR and `initiators`). */
  readonly closes: ReadonlyMap<number, number>;
  /** Initiator per code where it differs from DEFAULT_INITIATOR. */
  readonly initiators?: ReadonlyMap<number, Initiator>;
  /** Rate of 1006 closes whose server side ended first, on top of `closes` (which carries the client-side ones). */
  readonly serverAbnormal?: number;
  readonly opened: number;
  readonly upgradeFailures?: ReadonlyMap<UpgradeFailureReason, number>;
  /** Reconnect rate per previous codename. */
  readonly reconnects?: ReadonlyMap<string, number>;
  /**
   * Close rate per connection-duration bucket, keyed by the bucket's upper
   * bound (Infinity: +Inf); the first key holds every close up to it.
   */
  readonly lifetimes?: ReadonlyMap<number, number>;
  /** Client reports: rate per reported code and `clean`, and the rate of lost close frames (server sent a code, client saw 1006). */
  readonly clientReports?: { readonly closes: ReadonlyMap<string, number>; readonly lost: number };
}

/** A client report key of MinuteTraffic.clientReports.closes. */
export const reportKey = (code: number, clean: boolean): string => `${code}/${clean}`;

/**
 * Who usually sends each code in the scenarios. A 1006 is recorded with the
 * side whose transport ended first, which is mostly the client (a dropped
 * mobile network); the agent never records `unknown`, so no scenario does.
 */
const DEFAULT_INITIATOR: Readonly<Record<number, Initiator>> = {
  1000: 'client',
  1001: 'client',
  1006: 'client',
};

type Sample = number | '_' | 'stale';

/** Series notation of promtool: `_` absent, `stale`, numbers, runs `a+bxN`. */
export function encodeValues(values: readonly Sample[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < values.length) {
    const first = values[i] as Sample;
    if (first === 'stale') {
      parts.push(first);
      i += 1;
      continue;
    }
    if (first === '_') {
      let j = i + 1;
      while (j < values.length && values[j] === '_') j += 1;
      // `_xN` is N missing samples (unlike `a+bxN`, which is N + 1 samples).
      parts.push(j - i === 1 ? '_' : `_x${j - i}`);
      i = j;
      continue;
    }
    // Longest run with a constant step.
    let j = i + 1;
    const next = values[j];
    if (typeof next === 'number') {
      const step = next - first;
      while (j + 1 < values.length && typeof values[j + 1] === 'number' && (values[j + 1] as number) - (values[j] as number) === step) j += 1;
      if (j - i >= 2) {
        parts.push(`${first}${step < 0 ? '-' : '+'}${Math.abs(step)}x${j - i}`);
        i = j + 1;
        continue;
      }
    }
    parts.push(String(first));
    i += 1;
  }
  return parts.join(' ');
}

export interface InputSeries {
  readonly series: string;
  readonly values: string;
}

function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${value}"`)
    .join(',');
}

interface CounterTrack {
  readonly values: Sample[];
  total: number;
  /** Exported: prom-client shows a labelled child from its first increment on. */
  exported: boolean;
}

/** The next sample of a series that is not scraped this time. */
function missing(values: readonly Sample[]): Sample {
  return typeof values[values.length - 1] === 'number' ? 'stale' : '_';
}

/**
 * Turns per-minute traffic into promtool input series. Counters are sampled
 * (Poisson) and summed; a labelled counter only has a series from its first
 * event on, as prom-client exports it. While a target fails its scrapes, `up`
 * is 0 and its other series go stale; while it is absent from discovery
 * nothing is written, and when it comes back its counters start from zero.
 */
export function buildInputSeries(
  targets: readonly Target[],
  clock: { readonly from: number; readonly to: number; readonly step: number },
  trafficAt: (target: Target, minute: number) => MinuteTraffic | undefined,
  random: () => number,
  /** Draws for the reconnect, lifetime and client-report series: a stream of their own leaves the other series as they were. */
  extraRandom: () => number = random,
): InputSeries[] {
  const seconds = clock.step * 60;
  const names = metricNames(DEFAULT_PREFIX);
  const result: InputSeries[] = [];
  for (const target of targets) {
    const base = { job: target.job, instance: target.instance };
    const openedKey = `${names.openedTotal}{${labelText(base)}}`;
    const up: Sample[] = [];
    const counters = new Map<string, CounterTrack>();
    const alwaysExported = new Set<string>();
    for (let minute = clock.from, index = 0; minute < clock.to; minute += clock.step, index += 1) {
      const traffic = trafficAt(target, minute);
      if (traffic === undefined) {
        up.push(missing(up));
        for (const track of counters.values()) {
          track.values.push(missing(track.values));
          track.total = 0;
          track.exported = false;
        }
        continue;
      }
      up.push(traffic.up ? 1 : 0);
      if (!traffic.up) {
        for (const track of counters.values()) track.values.push(missing(track.values));
        continue;
      }
      const increments = new Map<string, number>([[openedKey, samplePoisson(traffic.opened * seconds, random)]]);
      const closes: [number, Initiator, number][] = [...traffic.closes].map(([code, rate]) => [
        code,
        traffic.initiators?.get(code) ?? DEFAULT_INITIATOR[code] ?? 'server',
        rate,
      ]);
      if (traffic.serverAbnormal !== undefined) closes.push([1006, 'server', traffic.serverAbnormal]);
      for (const [code, initiator, rate] of closes) {
        const c = classify(code);
        const labels = labelText({ ...base, code: String(code), codename: c.codename, category: c.category, initiator });
        const key = `${names.closedTotal}{${labels}}`;
        increments.set(key, (increments.get(key) ?? 0) + samplePoisson(rate * seconds, random));
      }
      for (const [reason, rate] of traffic.upgradeFailures ?? []) {
        increments.set(`${names.upgradeFailuresTotal}{${labelText({ ...base, reason })}}`, samplePoisson(rate * seconds, random));
      }
      for (const [previous, rate] of traffic.reconnects ?? []) {
        increments.set(`${names.reconnectsTotal}{${labelText({ ...base, previous_codename: previous })}}`, samplePoisson(rate * seconds, extraRandom));
      }
      // The histogram's buckets are cumulative. The rules sum the codenames
      // away, so the scenarios write one codename's buckets, and only from the
      // first bound the rules read.
      let cumulative = 0;
      for (const [upper, rate] of traffic.lifetimes ?? []) {
        cumulative += samplePoisson(rate * seconds, extraRandom);
        const key = `${names.durationSeconds}_bucket{${labelText({ ...base, codename: 'CLOSE_NORMAL', le: upper === Infinity ? '+Inf' : String(upper) })}}`;
        increments.set(key, cumulative);
        alwaysExported.add(key);
      }
      if (traffic.clientReports !== undefined) {
        // Taking reports exports these series at zero (see ClientReports.enable()).
        for (const [reported, rate] of traffic.clientReports.closes) {
          const [code, clean] = reported.split('/') as [string, string];
          const c = classify(Number(code));
          const key = `${names.clientClosesTotal}{${labelText({ ...base, code, codename: c.codename, category: c.category, clean })}}`;
          increments.set(key, samplePoisson(rate * seconds, extraRandom));
          alwaysExported.add(key);
        }
        const key = `${names.closeMismatchesTotal}{${labelText({ ...base, server_codename: 'CLOSE_NORMAL', client_codename: 'CLOSE_ABNORMAL' })}}`;
        increments.set(key, samplePoisson(traffic.clientReports.lost * seconds, extraRandom));
        alwaysExported.add(key);
      }
      for (const [key, increment] of increments) {
        let track = counters.get(key);
        if (track === undefined) {
          track = { values: new Array<Sample>(index).fill('_'), total: 0, exported: false };
          counters.set(key, track);
        }
        track.total += increment;
        if (increment > 0 || key === openedKey || alwaysExported.has(key)) track.exported = true;
      }
      for (const track of counters.values()) track.values.push(track.exported ? track.total : missing(track.values));
    }
    result.push({ series: `up{${labelText(base)}}`, values: encodeValues(up) });
    for (const [key, track] of counters) result.push({ series: key, values: encodeValues(track.values) });
  }
  return result;
}
