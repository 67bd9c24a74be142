/**
 * The registry binding: one set of metrics per prom-client registry and
 * prefix, and in it one recorder per constant-label set, so that several
 * servers (or a hook and the agent) in one process share counters instead of
 * double-registering. Every recorder of a set contributes its series to the
 * set's metrics at scrape time.
 */
import { register as globalRegistry, type Registry } from 'prom-client';
import type { CodeNames } from '../codes/close-codes.js';
import { metricNames } from '../codes/vocabulary.js';
import { SourcedMetric, type MetricType, type SeriesSource } from './family.js';
import { OptionError, validateOptions, type RecorderOptions } from './options.js';
import { CloseRecorder } from './recorder.js';

type SourceKey = keyof CloseRecorder['sources'];

const FAMILIES: readonly { key: SourceKey; type: MetricType; help: string; resets: boolean }[] = [
  { key: 'closedTotal', type: 'counter', help: 'WebSocket connections closed, by close code, codename, category and initiator.', resets: true },
  { key: 'openedTotal', type: 'counter', help: 'WebSocket connections that completed the opening handshake.', resets: true },
  { key: 'active', type: 'gauge', help: 'WebSocket connections currently open.', resets: false },
  { key: 'durationSeconds', type: 'histogram', help: 'WebSocket connection lifetime from handshake to close, by codename.', resets: true },
  { key: 'upgradeFailuresTotal', type: 'counter', help: 'WebSocket upgrades that failed before the connection opened, by reason.', resets: true },
  { key: 'protocolViolationsTotal', type: 'counter', help: 'Protocol violations seen on the wire, by offending side and kind.', resets: true },
  {
    key: 'clientClosesTotal',
    type: 'counter',
    help: 'WebSocket closes as the client saw them (accepted client reports), by close code, codename, category and clean.',
    resets: true,
  },
  {
    key: 'closeMismatchesTotal',
    type: 'counter',
    help: 'Accepted client reports whose close code differs from the one the server recorded, by both codenames.',
    resets: true,
  },
  { key: 'clientReportsRejectedTotal', type: 'counter', help: 'Client close reports turned away, by reason.', resets: true },
  {
    key: 'abnormalClosuresTotal',
    type: 'counter',
    help: 'WebSocket connections closed without a close frame (1006), by the side whose transport ended first and cause.',
    resets: true,
  },
  {
    key: 'closeHandshakeDurationSeconds',
    type: 'histogram',
    help: 'WebSocket close handshakes, from the first close frame to the end of both transports, by initiator.',
    resets: true,
  },
  {
    key: 'closeHandshakesUnansweredTotal',
    type: 'counter',
    help: 'WebSocket close frames that got no close frame back before the transport ended, by initiator.',
    resets: true,
  },
  {
    key: 'reconnectsTotal',
    type: 'counter',
    help: 'WebSocket connections from a client key whose previous connection ended within the reconnect window, by how it ended.',
    resets: true,
  },
  {
    key: 'reconnectDelaySeconds',
    type: 'histogram',
    help: "Delay from the end of a client key's previous connection to its reconnect, by how the previous one ended.",
    resets: true,
  },
];

class MetricSet {
  readonly recorders: CloseRecorder[] = [];
  readonly metrics: SourcedMetric[];

  constructor(prefix: string) {
    const names = metricNames(prefix);
    const reset = (): void => {
      for (const r of this.recorders) r.resetCounters();
    };
    this.metrics = FAMILIES.map(({ key, type, help, resets }) => {
      const sources = (): SeriesSource[] => this.recorders.map((r) => r.sources[key]);
      return new SourcedMetric(names[key], help, type, sources, resets ? reset : () => undefined);
    });
  }
}

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
  const valid = validateOptions(options);
  const { prefix, names, maxCustomCodes, labels } = valid;
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
  const recorder = new CloseRecorder(valid);
  set.recorders.push(recorder);
  return recorder;
}
