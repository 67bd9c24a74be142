/**
 * The Dockerfile, read without building it: linted by dockerfile-utils (the
 * validator behind the VS Code Docker extension), and our own rules on top
 * (pinned base, multi-stage, production dependencies only, non-root user,
 * exec-form entrypoint through an init, a healthcheck without curl, labels,
 * apt hygiene, COPY sources present and not excluded by .dockerignore).
 * test/image.e2e.test.ts builds the image and runs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { FLAGS } from '../src/agent/config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Instruction {
  keyword: string;
  /** Text after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (default escape character `\`). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#.*)?$/.test(first)) continue;
    const line = i + 1;
    let joined = first;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, '');
      i++;
      // Comment lines inside a continuation are dropped, as Docker does.
      if (!/^\s*#/.test(lines[i]!)) joined += ` ${lines[i]!.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(joined);
    if (!m) throw new Error(`Dockerfile line ${line}: cannot parse ${JSON.stringify(first)}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line });
  }
  return out;
}

function splitStages(instructions: Instruction[]): { globalArgs: Map<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`FROM on line ${ins.line}: cannot parse`);
      const from = m[1]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs.get(name) ?? '');
      stages.push({ from, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`${ins.keyword} before the first FROM`);
      const [name, value = ''] = ins.args.split('=');
      globalArgs.set(name!, value);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** Flags (--from=..., --chown=...) and the remaining words or JSON array. */
function copyParts(args: string): { flags: Map<string, string>; sources: string[]; dest: string } {
  const flags = new Map<string, string>();
  let rest = args;
  for (let m = /^--(\w+)=(\S+)\s+/.exec(rest); m; m = /^--(\w+)=(\S+)\s+/.exec(rest)) {
    flags.set(m[1]!, m[2]!);
    rest = rest.slice(m[0].length);
  }
  const words = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  return { flags, sources: words.slice(0, -1), dest: words.at(-1)! };
}

function execForm(args: string): string[] {
  expect(args.startsWith('['), `exec form (JSON array) expected: ${args}`).toBe(true);
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string')).toBe(true);
  return parsed as string[];
}

function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

/** .dockerignore semantics: last matching pattern wins; a match on a parent directory counts. */
function isIgnored(patterns: string[], path: string): boolean {
  const toRegExp = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/^\/+|\/+$/g, '')
        .split('**')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('.*')}$`,
    );
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const re = toRegExp(negated ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) ignored = !negated;
  }
  return ignored;
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const { globalArgs, stages } = splitStages(parseDockerfile(dockerfile));
const finalStage = stages.at(-1)!;
const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  engines: { node: string };
  bin: Record<string, string>;
};
const only = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const runText = (stage: Stage) =>
  only(stage, 'RUN')
    .map((i) => i.args)
    .join('\n');
const stageNamed = (name: string) => stages.find((s) => s.name === name);

describe('Dockerfile', () => {
  it('builds in stages from a Node LTS image pinned to an exact version', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const stageNames = new Set<string>();
    for (const stage of stages) {
      if (stageNames.has(stage.from)) continue;
      const m = /^node:(\d+)\.(\d+)\.(\d+)-(bookworm|trixie)-slim(@sha256:[a-f0-9]{64})?$/.exec(stage.from);
      expect(m, `pinned node base, got ${stage.from}`).not.toBeNull();
      const major = Number(m![1]);
      expect(major % 2, 'an even (LTS) Node major').toBe(0);
      expect(major).toBeGreaterThanOrEqual(Number(/\d+/.exec(pkg.engines.node)![0]));
      if (stage.name) stageNames.add(stage.name);
    }
    expect(globalArgs.size).toBeGreaterThan(0);
  });

  it('compiles with dev dependencies but ships production dependencies only', () => {
    const copies = only(finalStage, 'COPY').map((c) => copyParts(c.args));
    const nodeModules = copies.find((c) => c.sources.some((s) => s.endsWith('/node_modules')));
    const dist = copies.find((c) => c.sources.some((s) => s.endsWith('/dist')));
    expect(nodeModules?.flags.get('from')).toBeDefined();
    expect(dist?.flags.get('from')).toBeDefined();
    const depsStage = stageNamed(nodeModules!.flags.get('from')!)!;
    const buildStage = stageNamed(dist!.flags.get('from')!)!;
    expect(runText(depsStage)).toMatch(/npm ci\b.*--omit=dev/);
    expect(runText(buildStage)).toMatch(/npm ci\b/);
    expect(runText(buildStage)).not.toMatch(/--omit=dev/);
    expect(runText(buildStage)).toMatch(/npm run build/);
    expect(runText(finalStage)).not.toMatch(/\bnpm\b/);
  });

  it('runs as the node user with NODE_ENV=production', () => {
    const users = only(finalStage, 'USER');
    expect(users.at(-1)?.args).toBe('node');
    const lastRun = only(finalStage, 'RUN').at(-1);
    expect(users.at(-1)!.line).toBeGreaterThan(lastRun?.line ?? 0);
    expect(envOf(finalStage).NODE_ENV).toBe('production');
  });

  it('starts node directly under an init as PID 1, in exec form', () => {
    expect(only(finalStage, 'ENTRYPOINT')).toHaveLength(1);
    const entrypoint = execForm(only(finalStage, 'ENTRYPOINT')[0]!.args);
    expect(entrypoint[0]).toMatch(/\/(tini|dumb-init)$/);
    const command = entrypoint.slice(entrypoint.indexOf('--') + 1);
    expect(command[0]).toBe('node');
    expect(command[1]).toMatch(new RegExp(`/${pkg.bin['ws-close-agent']!.replace(/\./g, '\\.')}$`));
    expect(entrypoint).not.toContain('npm');
    for (const cmd of only(finalStage, 'CMD')) execForm(cmd.args);
    // The init comes from a pinned package, installed without the apt cache.
    const init = basename(entrypoint[0]!);
    expect(runText(finalStage)).toMatch(new RegExp(`apt-get install -y --no-install-recommends [^\\n]*\\b${init}=\\S+`));
    expect(runText(finalStage)).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
  });

  it('checks /healthz with node (no curl in slim images) and exposes both agent ports', () => {
    const [healthcheck] = only(finalStage, 'HEALTHCHECK');
    const m = /^((?:--\w[\w-]*=\S+\s+)*)CMD\s+(.*)$/.exec(healthcheck!.args);
    expect(m).not.toBeNull();
    expect(m![1]).toMatch(/--interval=\d+s/);
    expect(m![1]).toMatch(/--timeout=\d+s/);
    const command = execForm(m![2]!);
    expect(command[0]).toBe('node');
    expect(command.join(' ')).toContain('/healthz');
    expect(command.join(' ')).not.toMatch(/\b(curl|wget)\b/);

    const exposed = only(finalStage, 'EXPOSE')
      .flatMap((e) => e.args.split(/\s+/))
      .map((p) => p.replace(/\/tcp$/, ''));
    const defaultPort = (flag: string) =>
      FLAGS.find((f) => f.name === flag)!
        .default!.split(':')
        .pop();
    expect(exposed).toEqual(expect.arrayContaining([defaultPort('listen'), defaultPort('metrics-listen')]));
    expect(exposed).toEqual(expect.arrayContaining(['8080', '9095']));
  });

  it('carries OCI labels matching package.json', () => {
    const labels = new Map<string, string>();
    for (const ins of only(finalStage, 'LABEL')) {
      for (const m of ins.args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) labels.set(m[1]!, m[2]!.replace(/^"|"$/g, ''));
    }
    for (const key of ['title', 'description', 'version', 'licenses']) {
      expect(labels.get(`org.opencontainers.image.${key}`), key).toBeTruthy();
    }
    expect(labels.get('org.opencontainers.image.licenses')).toBe(pkg.license);
    const versionArg = only(finalStage, 'ARG').find((a) => a.args.startsWith('VERSION='));
    expect(versionArg?.args).toBe(`VERSION=${pkg.version}`);
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    expect(only(finalStage, 'ADD')).toHaveLength(0);
    const sources = stages.flatMap((s) => only(s, 'COPY').map((c) => copyParts(c.args))).filter((c) => !c.flags.has('from'));
    expect(sources.length).toBeGreaterThan(0);
    for (const { sources: paths } of sources) {
      for (const path of paths) {
        expect(existsSync(join(ROOT, path)), `${path} exists`).toBe(true);
        expect(isIgnored(dockerignore, path), `${path} is not in .dockerignore`).toBe(false);
      }
    }
    for (const secretish of ['node_modules', 'dist', '.git', '.env', 'test/helm.test.ts', 'helm/ws-close-agent/values.yaml', 'coverage']) {
      expect(isIgnored(dockerignore, secretish), `${secretish} is kept out of the context`).toBe(true);
    }
  });
});

describe('dockerfile-utils', () => {
  // Every optional rule raised to an error; the rest (syntax, flags, durations,
  // ports, duplicate stages, ...) are always on. dockerfilelint was tried too and
  // dropped: it does not expand ARGs in FROM (so it reports a missing tag on
  // node:24.22.3-bookworm-slim) and does not know HEALTHCHECK --start-period.
  const strict: ValidatorSettings = {
    deprecatedMaintainer: ValidationSeverity.ERROR,
    directiveCasing: ValidationSeverity.ERROR,
    emptyContinuationLine: ValidationSeverity.ERROR,
    instructionCasing: ValidationSeverity.ERROR,
    instructionCmdMultiple: ValidationSeverity.ERROR,
    instructionEntrypointMultiple: ValidationSeverity.ERROR,
    instructionHealthcheckMultiple: ValidationSeverity.ERROR,
    instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
    instructionWorkdirRelative: ValidationSeverity.ERROR,
  };
  const describeDiagnostics = (text: string) =>
    validate(text, strict).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);

  it('finds nothing in the Dockerfile, with every optional rule as an error', () => {
    expect(describeDiagnostics(dockerfile)).toEqual([]);
  });

  it('flags the mistakes it is there for (the linter is live)', () => {
    const broken = [
      'FROM node:24.22.3-bookworm-slim',
      'maintainer someone',
      'WORKDIR app',
      "CMD ['node']",
      'HEALTHCHECK --interval=often CMD true',
      'ENV',
      '',
    ].join('\n');
    const found = describeDiagnostics(broken).join('\n');
    for (const expected of [
      'line 2: MAINTAINER has been deprecated',
      'line 2: Instructions should be written in uppercase',
      'line 3: WORKDIR paths should be absolute',
      'line 4: Instruction written as a JSON array but is using single quotes',
      'line 5: time: invalid duration often',
      'line 6: Instruction has no arguments',
    ]) {
      expect(found).toContain(expected);
    }
  });
});

describe('what the Dockerfile leaves to the build machine', () => {
  it('knows nothing of a CA bundle or registry: the test base supplies those, never the shipped image', () => {
    expect(dockerfile).not.toMatch(/NODE_EXTRA_CA_CERTS|ca-certificates|--mount=type=secret|registry/i);
    // Nothing fetched by hand either: packages come through npm ci and apt-get only.
    expect(stages.map(runText).join('\n')).not.toMatch(/\b(curl|wget|ADD)\b/);
  });

  it('installs from image/package.json and its lock, in both npm stages, at the versions the repository tests', () => {
    for (const stage of stages.filter((s) => /npm ci\b/.test(runText(s)))) {
      const copied = only(stage, 'COPY').flatMap((c) => copyParts(c.args).sources);
      expect(copied, stage.name).toEqual(expect.arrayContaining(['image/package.json', 'image/package-lock.json']));
      expect(copied, stage.name).not.toContain('package-lock.json');
    }
    // Every package the image installs is the one the repository's own lock (and so every test) uses.
    type Lock = { packages: Record<string, { version?: string }> };
    const root = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
    const image = JSON.parse(readFileSync(join(ROOT, 'image/package-lock.json'), 'utf8')) as Lock;
    const installed = Object.entries(image.packages).filter(([path]) => path !== '');
    expect(installed.map(([path]) => path)).toEqual(expect.arrayContaining(['node_modules/prom-client', 'node_modules/ws', 'node_modules/typescript']));
    for (const [path, { version }] of installed) expect(`${path}@${version}`).toBe(`${path}@${root.packages[path]?.version}`);
    // The compiler's options are the repository's: the same tsconfig files are copied.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'image/package.json'), 'utf8')) as { type: string; scripts: Record<string, string> };
    expect(pkg.type).toBe('module'); // tsc emits dist/esm as ES modules only under "type": "module"
    expect(pkg.scripts.build).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.build);
  });
});
