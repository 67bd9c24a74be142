/**
 * The one series abstraction behind every metric of the recorder. A
 * SeriesSource lists its series as (id, value) pairs at scrape time and
 * describes each id once (labels and sample-name suffix); both prom-client's
 * `get()` contract (getMetricsAsJSON, cluster aggregation) and our own
 * exposition (export/exposition.ts) are derived from that one listing, so the
 * two serialisations cannot disagree.
 */

export type Labels = Readonly<Record<string, string | number>>;

/** What a series id stands for; built once per id and kept. */
export interface SeriesSample {
  readonly labels: Labels;
  /** Appended to the family name for this sample: '' (the family's own sample), '_bucket', '_sum' or '_count'. */
  readonly suffix: '' | '_bucket' | '_sum' | '_count';
}

export interface SeriesSource {
  /** Calls `emit(id, value)` for every series to export now, in exposition order. */
  visit(emit: (id: number, value: number) => void): void;
  /** The labels and suffix of a series id that visit() emitted; the same object every time. */
  sample(id: number): SeriesSample;
}

/**
 * The property under which a registered metric offers its series sources to
 * the exposition. Registered with Symbol.for so that the ESM and CommonJS
 * builds of this package recognise each other's metrics; versioned, so that a
 * copy with another contract is formatted by prom-client instead.
 */
export const SERIES_SOURCES = Symbol.for('ws-close-agent.seriesSources.v2');

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One value of a prom-client metric as `get()` returns it. */
interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

/**
 * A metric object prom-client's Registry (and AggregatorRegistry) accepts:
 * `name`, `help`, `type`, `aggregator`, `get()` and `reset()`. Its series come
 * from the sources `sources()` returns at the time of the call (one per
 * recorder of the registry and prefix).
 */
export class SourcedMetric {
  readonly aggregator = 'sum';
  constructor(
    public name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly sources: () => readonly SeriesSource[],
    readonly reset: () => void,
  ) {}

  [SERIES_SOURCES](): readonly SeriesSource[] {
    return this.sources();
  }

  get(): { name: string; help: string; type: MetricType; values: MetricValue[]; aggregator: 'sum' } {
    const values: MetricValue[] = [];
    for (const source of this.sources()) {
      source.visit((id, value) => {
        const { labels, suffix } = source.sample(id);
        values.push(suffix === '' ? { value, labels } : { value, labels, metricName: this.name + suffix });
      });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}

/** A single series with constant labels (a plain counter or gauge) read through `read()`. */
export class SingleSeries implements SeriesSource {
  private readonly only: SeriesSample;
  constructor(
    labels: Labels,
    private readonly read: () => number,
  ) {
    this.only = { labels, suffix: '' };
  }

  visit(emit: (id: number, value: number) => void): void {
    emit(0, this.read());
  }

  sample(): SeriesSample {
    return this.only;
  }
}

/** A counter whose series ids are known up front and whose labels are built on first export. */
export class LazyCounter implements SeriesSource {
  readonly counts: Float64Array;
  private atZero: Uint8Array;
  private readonly samples: (SeriesSample | undefined)[] = [];

  constructor(
    size: number,
    private readonly visible: () => number,
    private readonly labelsOf: (id: number) => Labels,
  ) {
    this.counts = new Float64Array(size);
    this.atZero = new Uint8Array(size);
  }

  exportAtZero(id: number): void {
    this.atZero[id] = 1;
  }

  visit(emit: (id: number, value: number) => void): void {
    const { counts, atZero } = this;
    const n = this.visible();
    for (let i = 0; i < n; i++) {
      const value = counts[i] as number;
      if (value !== 0 || atZero[i] === 1) emit(i, value);
    }
  }

  sample(id: number): SeriesSample {
    let sample = this.samples[id];
    if (sample === undefined) {
      sample = { labels: this.labelsOf(id), suffix: '' };
      this.samples[id] = sample;
    }
    return sample;
  }
}

/**
 * A counter over a fixed list of label sets known up front (a bounded
 * vocabulary such as side x kind). Series at zero are not exported unless
 * marked with exportAtZero().
 */
export class FixedCounter implements SeriesSource {
  readonly values: Float64Array;
  private readonly samples: SeriesSample[];
  private atZero: Uint8Array | undefined;

  /** `labelSets[i]` are the labels of series i; `constLabels` are added after them. */
  constructor(labelSets: readonly Labels[], constLabels: Labels) {
    this.values = new Float64Array(labelSets.length);
    this.samples = labelSets.map((labels) => ({ labels: { ...labels, ...constLabels }, suffix: '' }));
  }

  /** Export series `i` even while it is zero, so that rate() sees its first increment. */
  exportAtZero(i: number): void {
    this.atZero ??= new Uint8Array(this.values.length);
    this.atZero[i] = 1;
  }

  inc(i: number, by = 1): void {
    this.values[i]! += by;
  }

  visit(emit: (id: number, value: number) => void): void {
    const { values, atZero } = this;
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as number;
      if (value !== 0 || (atZero !== undefined && atZero[i] === 1)) emit(i, value);
    }
  }

  sample(id: number): SeriesSample {
    return this.samples[id] as SeriesSample;
  }

  reset(): void {
    this.values.fill(0);
  }
}

/**
 * A histogram over a fixed list of label sets (one histogram series per set),
 * counting into non-cumulative buckets; only series with observations are
 * exported. Series id layout: (N buckets + 3) per set — the buckets, +Inf,
 * _sum, _count.
 */
export class FixedHistogram implements SeriesSource {
  private readonly n: number;
  private readonly counts: Float64Array; // (n + 1) per set, non-cumulative; the last is above the top bucket
  private readonly sums: Float64Array;
  private readonly totals: Float64Array;
  private readonly samples: SeriesSample[] = [];

  constructor(
    private readonly buckets: readonly number[],
    labelSets: readonly Labels[],
    constLabels: Labels,
  ) {
    this.n = buckets.length;
    this.counts = new Float64Array(labelSets.length * (this.n + 1));
    this.sums = new Float64Array(labelSets.length);
    this.totals = new Float64Array(labelSets.length);
    for (const set of labelSets) {
      const plain = { ...set, ...constLabels };
      for (const le of buckets) this.samples.push({ labels: { le, ...plain }, suffix: '_bucket' });
      this.samples.push({ labels: { le: '+Inf', ...plain }, suffix: '_bucket' });
      this.samples.push({ labels: plain, suffix: '_sum' }, { labels: plain, suffix: '_count' });
    }
  }

  observe(set: number, value: number): void {
    const { buckets, n } = this;
    let b = 0;
    while (b < n && value > (buckets[b] as number)) b++;
    this.counts[set * (n + 1) + b]! += 1;
    this.sums[set]! += value;
    this.totals[set]! += 1;
  }

  visit(emit: (id: number, value: number) => void): void {
    const n = this.n;
    for (let set = 0; set < this.totals.length; set++) {
      const count = this.totals[set] as number;
      if (count === 0) continue;
      const id = set * (n + 3);
      const base = set * (n + 1);
      let acc = 0;
      for (let b = 0; b < n; b++) {
        acc += this.counts[base + b] as number;
        emit(id + b, acc);
      }
      emit(id + n, count);
      emit(id + n + 1, this.sums[set] as number);
      emit(id + n + 2, count);
    }
  }

  sample(id: number): SeriesSample {
    return this.samples[id] as SeriesSample;
  }

  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
    this.totals.fill(0);
  }
}
