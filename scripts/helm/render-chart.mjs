// A `helm template` stand-in for machines without helm: builds the Go
// renderer in scripts/helm/render (text/template + sprig, the engine helm
// uses), validates the coalesced values against the chart's
// values.schema.json as helm does, and parses the output as Kubernetes reads
// it (YAML 1.1, so 0444 is octal).
//
//   node scripts/helm/render-chart.mjs [-f values.yaml]... [--set-json '{"a":1}']...
//        [--api-versions monitoring.coreos.com/v1]... [--name R] [--namespace N] helm/ws-close-agent
//
// prints multi-document YAML like `helm template`. Needs the Debian packages
// golang-1.19-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v2-dev.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';

const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'render');
const DEBIAN_GO = '/usr/lib/go-1.19/bin/go';
const DEBIAN_GOPATH = '/usr/share/gocode';

/**
 * Builds the renderer into a fresh temporary directory and returns the
 * binary's path. GOPATH mode resolves sprig's "/v3" import path only for a
 * package inside a GOPATH with a go.mod, so the source is copied into one.
 * @returns {string}
 */
export function buildRenderer() {
  const go = process.env.GO ?? (existsSync(DEBIAN_GO) ? DEBIAN_GO : 'go');
  const gopath = mkdtempSync(join(tmpdir(), 'ws-close-agent-render-'));
  const pkgDir = join(gopath, 'src', 'ws-close-agent-render');
  mkdirSync(pkgDir, { recursive: true });
  for (const file of ['main.go', 'go.mod']) copyFileSync(join(SOURCE_DIR, file), join(pkgDir, file));
  const binary = join(gopath, 'render');
  execFileSync(go, ['build', '-o', binary, '.'], {
    cwd: pkgDir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${gopath}:${process.env.WS_CLOSE_AGENT_GOPATH ?? DEBIAN_GOPATH}`,
      GOFLAGS: '',
      // Shared across runs: the go build cache is content-addressed and safe to reuse.
      GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'ws-close-agent-gocache'),
    },
  });
  return binary;
}

/**
 * Validates values against a chart's values.schema.json (draft-07), as helm
 * does before rendering. Returns ajv's errors, or [] when the values conform.
 * @param {string} chartDir
 * @param {unknown} values
 */
export function validateValues(chartDir, values) {
  const schemaPath = join(chartDir, 'values.schema.json');
  if (!existsSync(schemaPath)) return [];
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
  return validate(values) ? [] : (validate.errors ?? []);
}

/**
 * @typedef {object} RenderOptions
 * @property {string[]} [valueFiles]  -f files, later wins
 * @property {object[]} [set]         objects merged over the values, like --set
 * @property {string[]} [apiVersions] extra .Capabilities.APIVersions
 * @property {string} [releaseName]
 * @property {string} [namespace]
 * @property {string} [kubeVersion]
 * @property {boolean} [skipSchemaValidation]
 */

/**
 * Renders a chart. Throws, with helm's message, where helm would fail.
 * @param {string} binary from buildRenderer()
 * @param {string} chartDir
 * @param {RenderOptions} [options]
 */
export function renderChart(binary, chartDir, options = {}) {
  const args = ['-chart', chartDir];
  args.push('-name', options.releaseName ?? 'release-name');
  args.push('-namespace', options.namespace ?? 'default');
  if (options.kubeVersion) args.push('-kube-version', options.kubeVersion);
  for (const f of options.valueFiles ?? []) args.push('-f', f);
  for (const s of options.set ?? []) args.push('-set-json', JSON.stringify(s));
  for (const v of options.apiVersions ?? []) args.push('-api-versions', v);

  let stdout;
  try {
    stdout = execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (err) {
    throw new Error(String(err.stderr || err.message).trim());
  }
  /** @type {{ manifests: { source: string, content: string }[], notes: string, values: Record<string, unknown> }} */
  const out = JSON.parse(stdout);

  if (!options.skipSchemaValidation) {
    const errors = validateValues(chartDir, out.values);
    if (errors.length > 0) {
      const detail = errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
      throw new Error(`values don't meet the specifications of the schema(s): ${detail}`);
    }
  }

  const objects = [];
  for (const manifest of out.manifests) {
    for (const doc of parseAllDocuments(manifest.content, { version: '1.1' })) {
      if (doc.errors.length > 0) {
        throw new Error(`${manifest.source}: YAML parse error: ${doc.errors[0].message}\n${manifest.content}`);
      }
      const obj = doc.toJS({ maxAliasCount: -1 });
      if (obj != null) objects.push({ source: manifest.source, object: obj });
    }
  }
  return { ...out, objects };
}

/** The rendered output as `helm template` prints it. */
export function toHelmTemplateOutput(rendered) {
  return rendered.manifests.map((m) => `---\n# Source: ${m.source}\n${m.content.replace(/^(\s*\n|\s*---\s*\n)+/, '')}`).join('\n');
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      values: { type: 'string', short: 'f', multiple: true },
      'set-json': { type: 'string', multiple: true },
      'api-versions': { type: 'string', multiple: true },
      name: { type: 'string' },
      namespace: { type: 'string' },
      'kube-version': { type: 'string' },
      notes: { type: 'boolean' },
    },
  });
  const chartDir = resolve(positionals[0] ?? 'helm/ws-close-agent');
  const rendered = renderChart(buildRenderer(), chartDir, {
    valueFiles: values.values,
    set: (values['set-json'] ?? []).map((s) => JSON.parse(s)),
    apiVersions: values['api-versions'],
    releaseName: values.name,
    namespace: values.namespace,
    kubeVersion: values['kube-version'],
  });
  process.stdout.write(toHelmTemplateOutput(rendered));
  if (values.notes) process.stdout.write(`\nNOTES:\n${rendered.notes}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
