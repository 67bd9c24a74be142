/**
 * Rendering a prom-client registry as text exposition (0.0.4) or
 * OpenMetrics. The recorder's metrics offer their series sources, whose
 * sample lines are written here from label strings rendered once per series
 * (their labels are bounded); every other metric in the registry goes
 * through prom-client's own formatter, in the registry's order. The output is
 * byte for byte what prom-client would produce from the same registry: same
 * escaping, same default labels, same number formatting.
 */
import type { OpenMetricsContentType } from 'prom-client';
import { SERIES_SOURCES, type SeriesSample, type SeriesSource } from '../recorder/family.js';
import { OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, defaultLabelsOf, formatOneMetric, registryClassOf, type AnyRegistry } from './prom-internals.js';

/** The registry's default labels (`registry.setDefaultLabels`), as prom-client applies them. */
type DefaultLabels = Readonly<Record<string, unknown>>;

/** A registered metric that offers its series sources (the recorder's). */
interface SourcedMetric {
  name: string;
  readonly help: string;
  readonly type: string;
  [SERIES_SOURCES](): readonly SeriesSource[];
}

/**
 * Lines per chunk of rendered text. Thousands of lines joined into one
 * string cost more than writing them: a string over ~128 KiB lands in V8's
 * large-object space (fresh pages each scrape), and so does its UTF-8 copy.
 * Chunks of ~10 KiB stay in the young generation and go out in one writev.
 */
const LINES_PER_CHUNK = 128;

/** Collects text in chunks of at most LINES_PER_CHUNK lines. */
class ChunkSink {
  readonly chunks: string[] = [];
  private current: string;
  private lines = 0;

  constructor(first: string) {
    this.current = first;
  }

  line(text: string): void {
    this.current += text;
    if (++this.lines === LINES_PER_CHUNK) {
      this.chunks.push(this.current);
      this.current = '';
      this.lines = 0;
    }
  }

  end(): string[] {
    if (this.current !== '') this.chunks.push(this.current);
    return this.chunks;
  }
}

interface PromMetric {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  get(): unknown;
  getForPromString?(): unknown;
}

/** prom-client's escaping of metric names and help text. */
function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** prom-client's escaping of a label value (non-strings are written as they stringify). */
function escapeLabelValue(value: unknown): string {
  return typeof value === 'string' ? escapeText(value).replace(/"/g, '\\"') : String(value);
}

/** `name="value",...` for `labels`, in their order, without braces. */
function formatLabelPairs(labels: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const name of Object.keys(labels)) out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(labels[name])}"`;
  return out;
}

/**
 * The default labels a series with `own` label names gets, as `,name="value"...`
 * (prom-client adds the default labels a series does not set itself, after its own).
 */
function defaultLabelsSuffix(defaults: DefaultLabels | undefined, own: ReadonlySet<string>): string {
  if (defaults === undefined) return '';
  let out = '';
  for (const name of Object.keys(defaults)) if (!own.has(name)) out += `,${name}="${escapeLabelValue(defaults[name])}"`;
  return out;
}

/** `{pairs}` or '' when there are none (`pairs` may start with the comma of a defaults suffix). */
function braces(pairs: string): string {
  if (pairs === '') return '';
  return pairs.charCodeAt(0) === 44 /* , */ ? `{${pairs.slice(1)}}` : `{${pairs}}`;
}

/** prom-client's number formatting. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

function isSourced(metric: unknown): metric is SourcedMetric {
  return typeof (metric as Partial<SourcedMetric>)[SERIES_SOURCES] === 'function';
}

function stripTotal(name: string): string {
  return name.replace(/_total$/, '');
}

/**
 * The `\nname{labels} ` starts of one source's sample lines, rendered once
 * per series for one sample name and set of default labels (`key`); a new
 * key (a registry's default labels changed) starts over.
 */
class LinePrefixes {
  private key: string | undefined;
  private prefixes: (string | undefined)[] = [];

  for(key: string): (string | undefined)[] {
    if (key !== this.key) {
      this.key = key;
      this.prefixes = [];
    }
    return this.prefixes;
  }
}

// Per source and format: a source is rendered in text and OpenMetrics, with or without default labels.
const textPrefixes = new WeakMap<SeriesSource, LinePrefixes>();
const openMetricsPrefixes = new WeakMap<SeriesSource, LinePrefixes>();

function prefixLine(family: string, sampleName: string, sample: SeriesSample, defaults: DefaultLabels | undefined): string {
  const name = sample.suffix === '' ? sampleName : family + sample.suffix;
  const own = sample.labels;
  const suffix = defaults === undefined ? '' : defaultLabelsSuffix(defaults, new Set(Object.keys(own)));
  return `\n${name}${braces(formatLabelPairs(own) + suffix)} `;
}

/** HELP, TYPE and sample lines of a sourced metric, in chunks, without a final newline (as prom-client joins them). */
function renderSourced(metric: SourcedMetric, openMetrics: boolean, defaults: DefaultLabels | undefined, defaultsKey: string): string[] {
  const counter = metric.type === 'counter';
  const family = escapeText(openMetrics && counter ? stripTotal(metric.name) : metric.name);
  const sampleName = openMetrics && counter ? `${family}_total` : family;
  const sink = new ChunkSink(`# HELP ${family} ${escapeText(metric.help)}\n# TYPE ${family} ${metric.type}`);
  const caches = openMetrics ? openMetricsPrefixes : textPrefixes;
  for (const source of metric[SERIES_SOURCES]()) {
    let cache = caches.get(source);
    if (cache === undefined) {
      cache = new LinePrefixes();
      caches.set(source, cache);
    }
    const prefixes = cache.for(`${sampleName}\0${defaultsKey}`);
    source.visit((id, value) => {
      sink.line((prefixes[id] ??= prefixLine(family, sampleName, source.sample(id), defaults)) + formatValue(value));
    });
  }
  return sink.end();
}

/**
 * A read-only view of `metric` for an OpenMetrics registry. prom-client
 * renames counters in place (strips `_total`) when a registry renders
 * OpenMetrics, which would corrupt later text-format scrapes of the same
 * metrics; a view with the stripped name avoids that.
 */
function openMetricsView(metric: PromMetric): PromMetric & { reset(): void } {
  const strip = (name: string): string => (metric.type === 'counter' ? stripTotal(name) : name);
  return {
    name: strip(metric.name),
    help: metric.help,
    type: metric.type,
    aggregator: metric.aggregator,
    async get() {
      const data = (await (metric.getForPromString ? metric.getForPromString() : metric.get())) as { name: string };
      return { ...data, name: strip(data.name) };
    },
    reset() {},
  };
}

/**
 * `registry` as text exposition or OpenMetrics, without changing it (no
 * counter is renamed, whatever the registry's content type), as chunks of
 * text to be written in order (see LINES_PER_CHUNK).
 */
export async function renderRegistryChunks(registry: AnyRegistry, openMetrics: boolean): Promise<string[]> {
  const withDefaults = defaultLabelsOf(registry);
  const defaultsKey = withDefaults === undefined ? '' : JSON.stringify(withDefaults);
  // prom-client formats the other metrics: on a throwaway registry of the right content type where `registry` is not one.
  // The throwaway registry comes from the registry's own prom-client (the app's copy, of either major).
  let formatter: AnyRegistry = registry;
  if (openMetrics || registry.contentType !== TEXT_CONTENT_TYPE) {
    const OwnRegistry = registryClassOf(registry);
    if (openMetrics) {
      const om = new OwnRegistry<OpenMetricsContentType>();
      om.setContentType(OPENMETRICS_CONTENT_TYPE);
      formatter = om;
    } else {
      formatter = new OwnRegistry();
    }
    if (withDefaults !== undefined) formatter.setDefaultLabels(withDefaults);
  }
  const formatOther = (metric: PromMetric): Promise<string> => formatOneMetric(formatter, openMetrics ? openMetricsView(metric) : metric);
  // Every metric's collection starts in registry order, as in registry.metrics().
  const parts = (registry.getMetricsAsArray() as unknown[]).map((metric): string[] | Promise<string> =>
    isSourced(metric) ? renderSourced(metric, openMetrics, withDefaults, defaultsKey) : formatOther(metric as PromMetric),
  );
  // Every collection has started: awaiting them in turn takes no longer than all at once.
  const rendered: (string | string[])[] = [];
  for (const part of parts) rendered.push(Array.isArray(part) ? part : await part);
  const separator = openMetrics ? '\n' : '\n\n';
  const chunks: string[] = [];
  let carry = ''; // separators and other metrics' text, written with the next chunk
  for (let i = 0; i < rendered.length; i++) {
    if (i > 0) carry += separator;
    const part = rendered[i] as string | string[];
    if (typeof part === 'string') {
      carry += part;
      continue;
    }
    for (const chunk of part) {
      chunks.push(carry + chunk);
      carry = '';
    }
  }
  chunks.push(carry + (openMetrics ? '\n# EOF\n' : '\n'));
  return chunks;
}

/** `registry` as one string of text exposition or OpenMetrics (see renderRegistryChunks). */
export async function renderRegistry(registry: AnyRegistry, openMetrics: boolean): Promise<string> {
  return (await renderRegistryChunks(registry, openMetrics)).join('');
}
