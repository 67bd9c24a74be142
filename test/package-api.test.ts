/**
 * The public API as built (dist/), against the README's API section: at most
 * 8 runtime names from the root, the same for import and require; every
 * exported name (runtime and type, root, /codes and /reports) and every error code
 * documented; nothing documented as exported that is not.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ROOT } from './helpers/agent-process.js';

const require = createRequire(import.meta.url);
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const api = readme.slice(readme.indexOf('### API'), readme.indexOf('### Recipes'));

/** The names a declaration file exports (`export { a, b } from`, `export type { ... } from`). */
function declaredExports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const names: string[] = [];
  for (const m of text.matchAll(/^export (?:type )?\{([^}]*)\}/gm)) names.push(...m[1]!.split(',').map((n) => n.trim()).filter(Boolean));
  for (const m of text.matchAll(/^export (?:declare )?(?:function|const|class|interface|type) ([A-Za-z_]\w*)/gm)) names.push(m[1]!);
  return names.sort();
}

const mentioned = (name: string): boolean => api.includes('`' + name + '`') || api.includes('`' + name + '(');

describe('public API', () => {
  it('the root: at most 8 runtime names, the same from import and require', async () => {
    const esm = Object.keys(await import('ws-close-agent')).sort();
    const cjs = Object.keys(require('ws-close-agent') as object).sort();
    expect(esm).toEqual(cjs);
    expect(esm.length).toBeLessThanOrEqual(8);
    expect(esm).not.toContain('CloseRecorder'); // a type only: a recorder made by hand would be registered nowhere
  });

  it('ws-close-agent/codes and ws-close-agent/reports: the same from import and require', async () => {
    expect(Object.keys(await import('ws-close-agent/codes')).sort()).toEqual(Object.keys(require('ws-close-agent/codes') as object).sort());
    expect(Object.keys(await import('ws-close-agent/reports')).sort()).toEqual(Object.keys(require('ws-close-agent/reports') as object).sort());
    expect(Object.keys(await import('ws-close-agent/reports'))).toEqual(['closeReportHandler']);
  });

  it('the README API section lists every exported name, and its table of runtime names is exactly the root', async () => {
    const runtime = Object.keys(await import('ws-close-agent')).sort();
    const table = [...api.slice(0, api.indexOf('Types exported from the root')).matchAll(/^\| `([A-Za-z]+)[(`]/gm)].map((m) => m[1]!).sort();
    expect(table).toEqual(runtime);
    const everything = [...declaredExports('dist/esm/index.d.ts'), ...declaredExports('dist/esm/codes/public.d.ts'), ...declaredExports('dist/esm/reports/public.d.ts')];
    expect(everything.filter((name) => !mentioned(name))).toEqual([]);
    // The declarations export what the runtime has, plus types only.
    expect(runtime.filter((name) => !declaredExports('dist/esm/index.d.ts').includes(name))).toEqual([]);
    expect(declaredExports('dist/cjs/index.d.ts')).toEqual(declaredExports('dist/esm/index.d.ts'));
  });

  it('every error code the library can raise is documented', () => {
    const codes = new Set<string>();
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) {
          if (entry !== 'agent') visit(path); // the command's own errors are documented with the command
        } else if (path.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/'(WS_CLOSE_AGENT_[A-Z_]+)'/g)) codes.add(m[1]!);
      }
    };
    visit(join(ROOT, 'src'));
    expect(codes.size).toBeGreaterThan(0);
    expect([...codes].filter((code) => !api.includes('`' + code + '`'))).toEqual([]);
  });

  it('one way to share a recorder: same registry, prefix and labels; a recorder option is refused', async () => {
    const { instrument, OptionError } = await import('ws-close-agent');
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const a = new WebSocketServer({ noServer: true });
    const b = new WebSocketServer({ noServer: true });
    const c = new WebSocketServer({ noServer: true });
    const ia = instrument(a, { registry });
    const ib = instrument(b, { registry });
    const ic = instrument(c, { registry, labels: { server: 'c' } });
    expect(ib.recorder).toBe(ia.recorder);
    expect(ic.recorder).not.toBe(ia.recorder);
    let thrown: unknown;
    try {
      instrument(c, { registry, recorder: ia.recorder } as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OptionError);
    expect((thrown as { code: string }).code).toBe('WS_CLOSE_AGENT_INVALID_OPTION');
    expect(() => instrument(c, { registry, codes: { 4001: 'OTHER_NAME' } })).toThrow(expect.objectContaining({ code: 'WS_CLOSE_AGENT_RECORDER_CONFLICT' }));
    for (const i of [ia, ib, ic]) i.uninstall();
  });
});
