/**
 * The public API as built (dist/), against the README's API section: at most
 * 8 runtime names from the root, the same for import and require; every
 * exported name (runtime and type, root, /codes, /reports and /live) and every error code
 * documented; nothing documented as exported that is not.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ROOT } from './helpers/agent-process.js';
import { waitFor } from './helpers/wait.js';

const require = createRequire(import.meta.url);
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const api = readme.slice(readme.indexOf('### API'), readme.indexOf('### Recipes'));

/** The names a declaration file exports (`export { a, b } from`, `export type { ... } from`). */
function declaredExports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const names: string[] = [];
  for (const m of text.matchAll(/^export (?:type )?\{([^}]*)\}/gm))
    names.push(
      ...m[1]!
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    );
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

  it('ws-close-agent/codes, /reports and /live: the same from import and require', async () => {
    expect(Object.keys(await import('ws-close-agent/codes')).sort()).toEqual(Object.keys(require('ws-close-agent/codes') as object).sort());
    expect(Object.keys(await import('ws-close-agent/reports')).sort()).toEqual(Object.keys(require('ws-close-agent/reports') as object).sort());
    expect(Object.keys(await import('ws-close-agent/reports'))).toEqual(['closeReportHandler']);
    expect(Object.keys(await import('ws-close-agent/live')).sort()).toEqual(Object.keys(require('ws-close-agent/live') as object).sort());
    expect(Object.keys(await import('ws-close-agent/live'))).toEqual(['closesPage']);
  });

  it('the README API section lists every exported name, and its table of runtime names is exactly the root', async () => {
    const runtime = Object.keys(await import('ws-close-agent')).sort();
    const table = [...api.slice(0, api.indexOf('Types exported from the root')).matchAll(/^\| `([A-Za-z]+)[(`]/gm)].map((m) => m[1]!).sort();
    expect(table).toEqual(runtime);
    const everything = [
      ...declaredExports('dist/esm/index.d.ts'),
      ...declaredExports('dist/esm/codes/public.d.ts'),
      ...declaredExports('dist/esm/reports/public.d.ts'),
      ...declaredExports('dist/esm/live/public.d.ts'),
    ];
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
    const { closeReportHandler } = await import('ws-close-agent/reports');
    const { closesPage } = await import('ws-close-agent/live');
    expect(() => closeReportHandler({ registry, recorder: ia.recorder } as never)).toThrow(OptionError);
    expect(() => closesPage({ registry, recorder: ia.recorder } as never)).toThrow(OptionError);
    for (const i of [ia, ib, ic]) i.uninstall();
  });

  it("closesPage() with an instrumentation's registry and labels shows that recorder's closes, and only those", async () => {
    const { instrument } = await import('ws-close-agent');
    const { closesPage } = await import('ws-close-agent/live');
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const chat = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const feed = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await Promise.all([chat, feed].map((s) => new Promise((r) => s.once('listening', r))));
    const hooks = [instrument(chat, { registry, labels: { server: 'chat' } }), instrument(feed, { registry, labels: { server: 'feed' } })];
    const page = closesPage({ registry, labels: { server: 'chat' }, recentCloses: 10 });
    try {
      const closeOnce = async (server: WebSocketServer, code: number): Promise<void> => {
        const { WebSocket } = await import('ws');
        const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}/room`);
        await new Promise((r) => ws.once('open', r));
        const closed = new Promise((r) => ws.once('close', r));
        ws.close(code, 'bye');
        await closed;
      };
      await closeOnce(feed, 4002);
      await closeOnce(chat, 4001);
      await waitFor(() => hooks[0]!.recorder.totals().closed === 1 && hooks[1]!.recorder.totals().closed === 1, 'both closes recorded');
      expect(page.recent?.capacity).toBe(10);
      expect(page.recent?.list(10).map((e) => [e.code, e.initiator, e.reason, e.path])).toEqual([[4001, 'client', 'bye', '/room']]);
    } finally {
      page.close();
      for (const h of hooks) h.uninstall();
      for (const s of [chat, feed]) s.close();
    }
  });
});
