/**
 * The close recorder: counts closes into preallocated typed-array slots (code
 * slot x initiator) and hands them to prom-client only at scrape time, through
 * metric objects that implement prom-client's `get()` contract (used by
 * getMetricsAsJSON and the cluster aggregation). Recording a close is a few
 * array increments; no label objects are built per event. For /metrics the
 * same objects render their own sample lines (see exposition.ts) from label
 * strings built once per series, which is several times faster than
 * prom-client's formatter at a few thousand series.
 */
import { register as globalRegistry, type Registry } from 'prom-client';
import {
  CLOSE_CODE_TABLE,
  MAX_CODE,
  classify,
  parseCodeNames,
  rangeText,
  type CodeNames,
} from './close-codes.js';
import {
  DEFAULT_PREFIX,
  DURATION_BUCKETS_SECONDS,
  INITIATORS,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  LABEL,
  SIDES,
  UPGRADE_FAILURE_REASONS,
  VIOLATION_KINDS,
  metricNames,
  type UpgradeFailureReason,
  type ViolationKind,
} from './metric-names.js';
import { RENDER_SAMPLES, braces, defaultLabelsSuffix, formatLabelPairs, formatValue, type LineSink, type SampleFormat, type SelfRendering } from './exposition.js';

export interface RecorderOptions {
  /** prom-client registry to register the metrics on (default: prom-client's global registry). */
  registry?: Registry;
  /** Metric name prefix (default `websocket_`). */
  prefix?: string;
  /** Names for customizable codes, e.g. `{ 4001: 'AUTH_EXPIRED' }`. */
  codes?: Record<number | string, string> | ReadonlyMap<number, string>;
  /** Distinct unnamed 3000-4999 codes that get their own `code` label value before falling back to the range text (default 100). */
  maxCustomCodes?: number;
  /**
   * Constant labels for every series of this recorder, e.g. `{ server: 'chat' }`,
   * to tell several WebSocket servers on one registry apart. Each distinct set
   * gets its own counters; the same set is the same recorder.
   */
  labels?: Record<string, string>;
}

/** Error for invalid options; `code` is stable for callers and tests. */
export class OptionError extends TypeError {
  readonly code: string;
  constructor(message: string, code = 'WS_CLOSE_AGENT_INVALID_OPTION') {
    super(message);
    this.code = code;
  }
}

export const DEFAULT_MAX_CUSTOM_CODES = 100;
/** Codes whose client and server series are exported from the start, at zero. */
const PRE_EXPORTED_CODES = [1000, 1001, 1006];
const MAX_CUSTOM_CODES_LIMIT = 2000; // every code in 3000-4999
const PREFIX_PATTERN = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const N_INITIATORS = INITIATORS.length;
const N_BUCKETS = DURATION_BUCKETS_SECONDS.length;
const VIOLATION_INDEX = new Map<string, number>(VIOLATION_KINDS.map((k, i) => [k, i]));
const FAILURE_INDEX = new Map<string, number>(UPGRADE_FAILURE_REASONS.map((r, i) => [r, i]));
const OTHER_VIOLATION = VIOLATION_INDEX.get('other') as number;
const OTHER_FAILURE = FAILURE_INDEX.get('other') as number;

/** One value of a prom-client metric as `get()` returns it. */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

/**
 * A metric object prom-client's Registry (and AggregatorRegistry) accepts:
 * it needs `name`, `help`, `type`, `aggregator`, `get()` and `reset()`. It
 * also renders its own sample lines for renderRegistry(), which must equal
 * what prom-client makes of get().
 */
class CollectedMetric implements SelfRendering {
  readonly aggregator = 'sum';
  constructor(
    public name: string,
    readonly help: string,
    readonly type: MetricData['type'],
    private readonly collect: () => MetricValue[],
    private readonly render: (format: SampleFormat, sink: LineSink) => void,
    readonly reset: () => void,
  ) {}

  get(): MetricData {
    return { name: this.name, help: this.help, type: this.type, values: this.collect(), aggregator: 'sum' };
  }

  [RENDER_SAMPLES](format: SampleFormat, sink: LineSink): void {
    this.render(format, sink);
  }
}

/**
 * The `\nname{labels} ` starts of one family's sample lines, rendered once per
 * series for one sample name and set of default labels (`key`); a new key
 * (a registry's default labels changed) starts over.
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

function validateOptions(options: RecorderOptions): { prefix: string; names: CodeNames; maxCustomCodes: number; labels: Readonly<Record<string, string>> } {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new OptionError(`prefix must be a valid Prometheus metric name prefix (${PREFIX_PATTERN.source}), got ${JSON.stringify(prefix)}`);
  }
  const maxCustomCodes = options.maxCustomCodes ?? DEFAULT_MAX_CUSTOM_CODES;
  if (!Number.isInteger(maxCustomCodes) || maxCustomCodes < 0 || maxCustomCodes > MAX_CUSTOM_CODES_LIMIT) {
    throw new OptionError(`maxCustomCodes must be an integer from 0 to ${MAX_CUSTOM_CODES_LIMIT}, got ${JSON.stringify(maxCustomCodes)}`);
  }
  const registry = options.registry;
  if (registry !== undefined && (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function')) {
    throw new OptionError('registry must be a prom-client Registry');
  }
  return { prefix, names: parseCodeNames(options.codes), maxCustomCodes, labels: validateLabels(options.labels) };
}

const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const OWN_LABELS = new Set<string>([...Object.values(LABEL), 'le']);
const MAX_CONST_LABEL_VALUE = 128;

function validateLabels(labels: unknown): Readonly<Record<string, string>> {
  if (labels === undefined) return {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) throw new OptionError('labels must be an object of label names to string values');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!LABEL_NAME_PATTERN.test(name) || name.startsWith('__')) throw new OptionError(`labels.${name}: not a valid Prometheus label name`);
    if (OWN_LABELS.has(name)) throw new OptionError(`labels.${name}: the label name is used by the metrics themselves`);
    if (typeof value !== 'string' || value.length > MAX_CONST_LABEL_VALUE) {
      throw new OptionError(`labels.${name}: the value must be a string of at most ${MAX_CONST_LABEL_VALUE} characters`);
    }
    out[name] = value;
  }
  return out;
}

/**
 * Close counters for one label set of one registry and prefix. Create with
 * createRecorder(); every hook and proxy connection it is given feeds it.
 */
export class CloseRecorder {
  readonly prefix: string;
  readonly names: CodeNames;
  readonly maxCustomCodes: number;
  /** Constant labels added to every series (sorted by name). */
  readonly labels: Readonly<Record<string, string>>;

  // Slot layout: 0-15 = codes 1000-1015, then one slot per range row, then
  // named codes, then up to maxCustomCodes unnamed 3000-4999 codes in the
  // order they are first seen.
  private readonly codeSlot = new Int16Array(MAX_CODE + 1);
  private readonly slotCode: string[] = [];
  private readonly slotCodename: Uint16Array;
  private readonly slotCategory: string[] = [];
  private readonly invalidSlot: number;
  private customSlotsLeft: number;
  private readonly customRangeSlots: [number, number][] = []; // [first code, range slot] of 3000-3999 and 4000-4999
  private nextSlot = 0;

  private readonly closed: Float64Array;
  /** Series exported even at zero, so that rate() sees their first increment. */
  private readonly alwaysExported: Uint8Array;
  private readonly closedLabels: (Record<string, string> | undefined)[] = [];
  private opened = 0;
  private active = 0;

  private readonly codenames: string[] = [];
  private readonly buckets: Float64Array; // non-cumulative, (N_BUCKETS + 1) per codename
  private readonly durationSum: Float64Array;
  private readonly durationCount: Float64Array;
  private readonly bucketLabels: (Record<string, string | number>[] | undefined)[] = [];

  private readonly violations = new Float64Array(SIDES.length * VIOLATION_KINDS.length);
  private readonly failures = new Float64Array(UPGRADE_FAILURE_REASONS.length);
  private readonly violationLabels: (Record<string, string> | undefined)[] = [];
  private readonly failureLabels: (Record<string, string> | undefined)[] = [];

  // Label names each family's series carry themselves (default labels of these names are not added).
  private readonly plainLabelNames: ReadonlySet<string>;
  private readonly closedLabelNames: ReadonlySet<string>;
  private readonly bucketLabelNames: ReadonlySet<string>;
  private readonly durationLabelNames: ReadonlySet<string>;
  private readonly violationLabelNames: ReadonlySet<string>;
  private readonly failureLabelNames: ReadonlySet<string>;
  private readonly openedPrefix = new LinePrefixes();
  private readonly activePrefix = new LinePrefixes();
  private readonly closedPrefixes = new LinePrefixes();
  private readonly durationPrefixes = new LinePrefixes(); // (N_BUCKETS + 3) per codename: buckets, +Inf, _sum, _count
  private readonly violationPrefixes = new LinePrefixes();
  private readonly failurePrefixes = new LinePrefixes();

  constructor(options: RecorderOptions = {}) {
    const { prefix, names, maxCustomCodes, labels } = validateOptions(options);
    this.labels = labels;
    const constNames = Object.keys(labels);
    this.plainLabelNames = new Set(constNames);
    this.closedLabelNames = new Set([LABEL.code, LABEL.codename, LABEL.category, LABEL.initiator, ...constNames]);
    this.bucketLabelNames = new Set(['le', LABEL.codename, ...constNames]);
    this.durationLabelNames = new Set([LABEL.codename, ...constNames]);
    this.violationLabelNames = new Set([LABEL.side, LABEL.kind, ...constNames]);
    this.failureLabelNames = new Set([LABEL.reason, ...constNames]);
    this.prefix = prefix;
    this.names = names;
    this.maxCustomCodes = maxCustomCodes;
    this.customSlotsLeft = maxCustomCodes;

    const codenameIndex = new Map<string, number>();
    const indexOfCodename = (name: string): number => {
      let i = codenameIndex.get(name);
      if (i === undefined) {
        i = this.codenames.push(name) - 1;
        codenameIndex.set(name, i);
      }
      return i;
    };
    const slotCodename: number[] = [];
    const addSlot = (codeLabel: string, codename: string, category: string): number => {
      this.slotCode.push(codeLabel);
      this.slotCategory.push(category);
      slotCodename.push(indexOfCodename(codename));
      return this.nextSlot++;
    };
    const addCodeSlot = (code: number): number => {
      const c = classify(code, names);
      return addSlot(String(code), c.codename, c.category);
    };

    for (let code = 1000; code <= 1015; code++) this.codeSlot[code] = addCodeSlot(code);
    for (const r of CLOSE_CODE_TABLE) {
      if (r.from === r.to) continue;
      const slot = addSlot(rangeText(r), r.codename, r.category);
      if (r.customizable) this.customRangeSlots.push([r.from, slot]);
      for (let code = r.from; code <= r.to; code++) {
        // Unnamed 3000-4999 codes start unassigned (-1) while custom slots remain.
        this.codeSlot[code] = r.customizable && maxCustomCodes > 0 ? -1 : slot;
      }
    }
    this.invalidSlot = this.codeSlot[MAX_CODE] as number;
    for (const code of names.keys()) this.codeSlot[code] = addCodeSlot(code);
    // Reserve the custom slots' codename indexes now so arrays never grow.
    indexOfCodename('FRAMEWORK');
    indexOfCodename('APPLICATION');

    const nSlots = this.nextSlot + maxCustomCodes;
    this.slotCodename = new Uint16Array(nSlots);
    this.slotCodename.set(slotCodename);
    this.closed = new Float64Array(nSlots * N_INITIATORS);
    this.alwaysExported = new Uint8Array(nSlots * N_INITIATORS);
    // A counter series that first appears at 1 loses that increment to rate()
    // and increase(); the closes alerts and dashboards divide by are there from the start.
    for (const code of PRE_EXPORTED_CODES) {
      for (const initiator of [INITIATOR_CLIENT, INITIATOR_SERVER]) this.alwaysExported[(this.codeSlot[code] as number) * N_INITIATORS + initiator] = 1;
    }
    this.buckets = new Float64Array(this.codenames.length * (N_BUCKETS + 1));
    this.durationSum = new Float64Array(this.codenames.length);
    this.durationCount = new Float64Array(this.codenames.length);

  }

  /** A connection completed its opening handshake. */
  recordOpen(): void {
    this.opened++;
    this.active++;
  }

  /**
   * A connection that was opened has closed. `initiator` is an index into
   * INITIATORS (see the INITIATOR_* constants); `durationSeconds` its lifetime.
   */
  recordClose(code: number, initiator: number, durationSeconds: number): number {
    let slot = code >= 0 && code <= MAX_CODE && (code | 0) === code ? (this.codeSlot[code] as number) : this.invalidSlot;
    if (slot < 0) slot = this.assignCustomSlot(code);
    this.closed[slot * N_INITIATORS + (initiator & 3)]! += 1;
    this.active--;

    const cn = this.slotCodename[slot] as number;
    let b = 0;
    while (b < N_BUCKETS && durationSeconds > (DURATION_BUCKETS_SECONDS[b] as number)) b++;
    this.buckets[cn * (N_BUCKETS + 1) + b]! += 1;
    this.durationSum[cn]! += durationSeconds;
    this.durationCount[cn]! += 1;
    return slot;
  }

  /** The labels of a slot returned by recordClose(). */
  slotLabels(slot: number): { code: string; codename: string; category: string } {
    return {
      code: this.slotCode[slot] as string,
      codename: this.codenames[this.slotCodename[slot] as number] as string,
      category: this.slotCategory[slot] as string,
    };
  }

  /** A protocol violation by `side` (index into SIDES). Unknown kinds count as `other`. */
  recordViolation(side: number, kind: ViolationKind): void {
    const k = VIOLATION_INDEX.get(kind) ?? OTHER_VIOLATION;
    this.violations[(side & 1) * VIOLATION_KINDS.length + k]! += 1;
  }

  /** An upgrade that failed before the connection opened. Unknown reasons count as `other`. */
  recordUpgradeFailure(reason: UpgradeFailureReason): void {
    this.failures[FAILURE_INDEX.get(reason) ?? OTHER_FAILURE]! += 1;
  }

  /** Current totals, for health checks and tests. */
  totals(): { opened: number; closed: number; active: number } {
    let closed = 0;
    for (let i = 0; i < this.closed.length; i++) closed += this.closed[i] as number;
    return { opened: this.opened, closed, active: this.active };
  }

  /** `visit(slot, initiator, count)` for every close series with a count (slot as recordClose() returns it). */
  forEachClose(visit: (slot: number, initiator: number, count: number) => void): void {
    for (let i = 0; i < this.nextSlot * N_INITIATORS; i++) {
      const count = this.closed[i] as number;
      if (count !== 0) visit((i / N_INITIATORS) | 0, i % N_INITIATORS, count);
    }
  }

  /** The `code` label value a close code is recorded under right now. */
  codeLabel(code: number): string {
    const slot = (code | 0) === code && code >= 0 && code <= MAX_CODE ? (this.codeSlot[code] as number) : this.invalidSlot;
    return slot < 0 ? String(code) : (this.slotCode[slot] as string);
  }

  private assignCustomSlot(code: number): number {
    const slot = this.nextSlot++;
    const c = classify(code, this.names);
    this.slotCode[slot] = String(code);
    this.slotCategory[slot] = c.category;
    this.slotCodename[slot] = this.codenames.indexOf(c.codename);
    this.codeSlot[code] = slot;
    if (--this.customSlotsLeft === 0) {
      // Cap reached: every code not seen yet falls back to its range text.
      for (const [from, rangeSlot] of this.customRangeSlots) {
        for (let c2 = from; c2 < from + 1000; c2++) if (this.codeSlot[c2] === -1) this.codeSlot[c2] = rangeSlot;
      }
    }
    return slot;
  }

  /** Zero the counters (prom-client's registry.resetMetrics()); the active gauge stays true. */
  resetCounters(): void {
    this.closed.fill(0);
    this.opened = this.active; // keeps opened = closed + active after a reset
    this.buckets.fill(0);
    this.durationSum.fill(0);
    this.durationCount.fill(0);
    this.violations.fill(0);
    this.failures.fill(0);
  }

  // The collect* methods append this recorder's series to `values` at scrape
  // time (get(), for getMetricsAsJSON and aggregation); the render* methods
  // write the same series as exposition lines. Both take their label objects
  // from the same caches, built once per series, so that they agree.

  private closedLabelsOf(i: number): Record<string, string> {
    let labels = this.closedLabels[i];
    if (labels === undefined) {
      const slot = (i / N_INITIATORS) | 0;
      labels = {
        [LABEL.code]: this.slotCode[slot] as string,
        [LABEL.codename]: this.codenames[this.slotCodename[slot] as number] as string,
        [LABEL.category]: this.slotCategory[slot] as string,
        [LABEL.initiator]: INITIATORS[i % N_INITIATORS] as string,
        ...this.labels,
      };
      this.closedLabels[i] = labels;
    }
    return labels;
  }

  /** Label objects of one codename's duration series: one per bucket, +Inf, then the plain one of _sum and _count. */
  private durationLabelsOf(cn: number): Record<string, string | number>[] {
    let labels = this.bucketLabels[cn];
    if (labels === undefined) {
      const plain = { [LABEL.codename]: this.codenames[cn] as string, ...this.labels };
      labels = DURATION_BUCKETS_SECONDS.map((le) => ({ le, ...plain }));
      labels.push({ le: '+Inf', ...plain }, plain);
      this.bucketLabels[cn] = labels;
    }
    return labels;
  }

  private violationLabelsOf(i: number): Record<string, string> {
    let labels = this.violationLabels[i];
    if (labels === undefined) {
      const side = SIDES[(i / VIOLATION_KINDS.length) | 0] as string;
      labels = { [LABEL.side]: side, [LABEL.kind]: VIOLATION_KINDS[i % VIOLATION_KINDS.length] as string, ...this.labels };
      this.violationLabels[i] = labels;
    }
    return labels;
  }

  private failureLabelsOf(i: number): Record<string, string> {
    let labels = this.failureLabels[i];
    if (labels === undefined) {
      labels = { [LABEL.reason]: UPGRADE_FAILURE_REASONS[i] as string, ...this.labels };
      this.failureLabels[i] = labels;
    }
    return labels;
  }

  collectOpened(values: MetricValue[]): void {
    values.push({ value: this.opened, labels: this.labels });
  }

  collectActive(values: MetricValue[]): void {
    values.push({ value: this.active, labels: this.labels });
  }

  collectClosed(values: MetricValue[]): void {
    for (let i = 0; i < this.nextSlot * N_INITIATORS; i++) {
      const value = this.closed[i] as number;
      if (value === 0 && this.alwaysExported[i] === 0) continue;
      values.push({ value, labels: this.closedLabelsOf(i) });
    }
  }

  collectDuration(name: string, values: MetricValue[]): void {
    const bucketName = `${name}_bucket`;
    for (let cn = 0; cn < this.codenames.length; cn++) {
      const count = this.durationCount[cn] as number;
      if (count === 0) continue;
      const labels = this.durationLabelsOf(cn);
      let acc = 0;
      const base = cn * (N_BUCKETS + 1);
      for (let b = 0; b < N_BUCKETS; b++) {
        acc += this.buckets[base + b] as number;
        values.push({ value: acc, labels: labels[b] as Record<string, string | number>, metricName: bucketName });
      }
      values.push({ value: count, labels: labels[N_BUCKETS] as Record<string, string>, metricName: bucketName });
      const plain = labels[N_BUCKETS + 1] as Record<string, string>;
      values.push({ value: this.durationSum[cn] as number, labels: plain, metricName: `${name}_sum` });
      values.push({ value: count, labels: plain, metricName: `${name}_count` });
    }
  }

  collectViolations(values: MetricValue[]): void {
    for (let i = 0; i < this.violations.length; i++) {
      const value = this.violations[i] as number;
      if (value !== 0) values.push({ value, labels: this.violationLabelsOf(i) });
    }
  }

  collectFailures(values: MetricValue[]): void {
    for (let i = 0; i < this.failures.length; i++) {
      const value = this.failures[i] as number;
      if (value !== 0) values.push({ value, labels: this.failureLabelsOf(i) });
    }
  }

  renderOpened({ sampleName, defaults }: SampleFormat, sink: LineSink): void {
    sink.line(this.plainPrefix(this.openedPrefix, sampleName, defaults) + formatValue(this.opened));
  }

  renderActive({ sampleName, defaults }: SampleFormat, sink: LineSink): void {
    sink.line(this.plainPrefix(this.activePrefix, sampleName, defaults) + formatValue(this.active));
  }

  private plainPrefix(cache: LinePrefixes, sampleName: string, defaults: SampleFormat['defaults']): string {
    const suffix = defaultLabelsSuffix(defaults, this.plainLabelNames);
    const prefixes = cache.for(`${sampleName}\0${suffix}`);
    return (prefixes[0] ??= `\n${sampleName}${braces(formatLabelPairs(this.labels) + suffix)} `);
  }

  renderClosed({ sampleName, defaults }: SampleFormat, sink: LineSink): void {
    const suffix = defaultLabelsSuffix(defaults, this.closedLabelNames);
    const prefixes = this.closedPrefixes.for(`${sampleName}\0${suffix}`);
    for (let i = 0; i < this.nextSlot * N_INITIATORS; i++) {
      const value = this.closed[i] as number;
      if (value === 0 && this.alwaysExported[i] === 0) continue;
      const prefix = (prefixes[i] ??= `\n${sampleName}{${formatLabelPairs(this.closedLabelsOf(i))}${suffix}} `);
      sink.line(prefix + formatValue(value));
    }
  }

  renderDuration(name: string, { defaults }: SampleFormat, sink: LineSink): void {
    const bucketSuffix = defaultLabelsSuffix(defaults, this.bucketLabelNames);
    const suffix = defaultLabelsSuffix(defaults, this.durationLabelNames);
    const prefixes = this.durationPrefixes.for(`${name}\0${bucketSuffix}\0${suffix}`);
    const perCodename = N_BUCKETS + 3;
    for (let cn = 0; cn < this.codenames.length; cn++) {
      const count = this.durationCount[cn] as number;
      if (count === 0) continue;
      const at = cn * perCodename;
      if (prefixes[at] === undefined) {
        const labels = this.durationLabelsOf(cn);
        for (let b = 0; b <= N_BUCKETS; b++) prefixes[at + b] = `\n${name}_bucket{${formatLabelPairs(labels[b] as Record<string, string | number>)}${bucketSuffix}} `;
        const plain = `{${formatLabelPairs(labels[N_BUCKETS + 1] as Record<string, string>)}${suffix}} `;
        prefixes[at + N_BUCKETS + 1] = `\n${name}_sum${plain}`;
        prefixes[at + N_BUCKETS + 2] = `\n${name}_count${plain}`;
      }
      let acc = 0;
      const base = cn * (N_BUCKETS + 1);
      for (let b = 0; b < N_BUCKETS; b++) {
        acc += this.buckets[base + b] as number;
        sink.line((prefixes[at + b] as string) + formatValue(acc));
      }
      const countText = formatValue(count);
      sink.line((prefixes[at + N_BUCKETS] as string) + countText);
      sink.line((prefixes[at + N_BUCKETS + 1] as string) + formatValue(this.durationSum[cn] as number));
      sink.line((prefixes[at + N_BUCKETS + 2] as string) + countText);
    }
  }

  renderViolations({ sampleName, defaults }: SampleFormat, sink: LineSink): void {
    const suffix = defaultLabelsSuffix(defaults, this.violationLabelNames);
    const prefixes = this.violationPrefixes.for(`${sampleName}\0${suffix}`);
    for (let i = 0; i < this.violations.length; i++) {
      const value = this.violations[i] as number;
      if (value !== 0) sink.line((prefixes[i] ??= `\n${sampleName}{${formatLabelPairs(this.violationLabelsOf(i))}${suffix}} `) + formatValue(value));
    }
  }

  renderFailures({ sampleName, defaults }: SampleFormat, sink: LineSink): void {
    const suffix = defaultLabelsSuffix(defaults, this.failureLabelNames);
    const prefixes = this.failurePrefixes.for(`${sampleName}\0${suffix}`);
    for (let i = 0; i < this.failures.length; i++) {
      const value = this.failures[i] as number;
      if (value !== 0) sink.line((prefixes[i] ??= `\n${sampleName}{${formatLabelPairs(this.failureLabelsOf(i))}${suffix}} `) + formatValue(value));
    }
  }
}

/**
 * The six metrics of one registry and prefix. Every recorder (label set) of
 * that registry and prefix contributes its series to them at scrape time.
 */
class MetricSet {
  readonly recorders: CloseRecorder[] = [];
  readonly metrics: CollectedMetric[];

  constructor(prefix: string) {
    const n = metricNames(prefix);
    const each =
      (collect: (r: CloseRecorder, values: MetricValue[]) => void) =>
      (): MetricValue[] => {
        const values: MetricValue[] = [];
        for (const r of this.recorders) collect(r, values);
        return values;
      };
    const all =
      (render: (r: CloseRecorder, format: SampleFormat, sink: LineSink) => void) =>
      (format: SampleFormat, sink: LineSink): void => {
        for (const r of this.recorders) render(r, format, sink);
      };
    const reset = (): void => {
      for (const r of this.recorders) r.resetCounters();
    };
    this.metrics = [
      new CollectedMetric(n.closedTotal, 'WebSocket connections closed, by close code, codename, category and initiator.', 'counter', each((r, v) => r.collectClosed(v)), all((r, f, s) => r.renderClosed(f, s)), reset),
      new CollectedMetric(n.openedTotal, 'WebSocket connections that completed the opening handshake.', 'counter', each((r, v) => r.collectOpened(v)), all((r, f, s) => r.renderOpened(f, s)), reset),
      new CollectedMetric(n.active, 'WebSocket connections currently open.', 'gauge', each((r, v) => r.collectActive(v)), all((r, f, s) => r.renderActive(f, s)), () => undefined),
      new CollectedMetric(n.durationSeconds, 'WebSocket connection lifetime from handshake to close, by codename.', 'histogram', each((r, v) => r.collectDuration(n.durationSeconds, v)), all((r, f, s) => r.renderDuration(n.durationSeconds, f, s)), reset),
      new CollectedMetric(n.upgradeFailuresTotal, 'WebSocket upgrades that failed before the connection opened, by reason.', 'counter', each((r, v) => r.collectFailures(v)), all((r, f, s) => r.renderFailures(f, s)), reset),
      new CollectedMetric(n.protocolViolationsTotal, 'Protocol violations seen on the wire, by offending side and kind.', 'counter', each((r, v) => r.collectViolations(v)), all((r, f, s) => r.renderViolations(f, s)), reset),
    ];
  }
}

// One metric set per registry and prefix, and in it one recorder per label
// set, so that several servers (or a hook and the agent) in one process share
// counters instead of double-registering.
const metricSets = new WeakMap<Registry, Map<string, MetricSet>>();

function sameNames(a: CodeNames, b: CodeNames): boolean {
  if (a.size !== b.size) return false;
  for (const [code, name] of a) if (b.get(code) !== name) return false;
  return true;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  return JSON.stringify(a) === JSON.stringify(b); // both sorted by name
}

/**
 * The recorder for `options.registry` (default: prom-client's global registry),
 * prefix and label set, created (and the metrics registered) on first use.
 * Later calls with the same registry, prefix and labels return the same
 * recorder; different `codes` or `maxCustomCodes` for it are an error.
 */
export function createRecorder(options: RecorderOptions = {}): CloseRecorder {
  const { prefix, names, maxCustomCodes, labels } = validateOptions(options);
  const registry = options.registry ?? globalRegistry;
  let byPrefix = metricSets.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    metricSets.set(registry, byPrefix);
  }
  let set = byPrefix.get(prefix);
  if (set === undefined) {
    const created = new MetricSet(prefix);
    for (const metric of created.metrics) {
      if (registry.getSingleMetric(metric.name) !== undefined) {
        throw new OptionError(`a metric named ${metric.name} is already registered on this registry; use another prefix`, 'WS_CLOSE_AGENT_METRIC_CONFLICT');
      }
    }
    for (const metric of created.metrics) registry.registerMetric(metric as never);
    byPrefix.set(prefix, created);
    set = created;
  }
  const existing = set.recorders.find((r) => sameLabels(r.labels, labels));
  if (existing !== undefined) {
    if (existing.maxCustomCodes !== maxCustomCodes || !sameNames(existing.names, names)) {
      throw new OptionError(
        `this registry already records with prefix ${JSON.stringify(prefix)} and labels ${JSON.stringify(labels)} under different codes/maxCustomCodes; pass the same options (or the same recorder) to every instrument() call`,
        'WS_CLOSE_AGENT_RECORDER_CONFLICT',
      );
    }
    return existing;
  }
  const recorder = new CloseRecorder({ prefix, codes: names, maxCustomCodes, labels });
  set.recorders.push(recorder);
  return recorder;
}
