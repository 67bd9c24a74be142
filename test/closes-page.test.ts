/**
 * closesPage() on a real node:http server and under express, fed by real
 * `ws` connections through instrument(): the JSON API lists the closes
 * (server 4001 with a reason, client 1000, a dropped TCP connection) newest
 * first with their reasons and query-less paths; the token guards every
 * route; the event stream delivers new closes and is bounded in viewers;
 * reasons and paths never reach a metric label.
 */
import { createServer, request } from 'node:http';
import express from 'express';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { closesPage, type ClosesPageOptions } from '../src/live/closes-page.js';
import type { CloseEntry } from '../src/live/close-entry.js';
import { createRecorder } from '../src/recorder/registry.js';
import { get, listen as listenOn, startLivePage, type Cleanup } from './helpers/live-fixture.js';
import { waitFor } from './helpers/wait.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const start = (options: Omit<ClosesPageOptions, 'recorder'> = {}) => startLivePage(cleanups, options);
const listen = (server: Parameters<typeof listenOn>[0]) => listenOn(server, cleanups);

async function recent(port: number, query = '', headers: Record<string, string> = {}): Promise<{ recorded: number; closes: CloseEntry[] }> {
  const answer = await get(port, `/api/closes/recent${query}`, headers);
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  return JSON.parse(answer.body) as { recorded: number; closes: CloseEntry[] };
}

const HOSTILE = '</script><b onmouseover="x">\'q\'\n\u202e';

describe('closesPage(): the recent closes API', () => {
  it('lists real closes newest first: a server 4001 with its reason, a client 1000, a TCP drop', async () => {
    const { port, connect, closed, serverSockets, recorder, registry } = await start();
    const a = await connect('/chat?token=secret');
    serverSockets.at(-1)!.close(4001, 'token expired');
    await closed(a);
    const b = await connect('/ws');
    b.close(1000, HOSTILE);
    await closed(b);
    const c = await connect('/drop');
    c.terminate(); // the TCP connection ends without a close frame
    await waitFor(() => recorder.totals().closed === 3, 'three closes recorded');

    const { closes, recorded } = await recent(port);
    expect(recorded).toBe(3);
    expect(closes.map((e) => [e.code, e.codename, e.initiator, e.reason, e.path])).toEqual([
      [1006, 'CLOSE_ABNORMAL', 'client', '', '/drop'],
      [1000, 'CLOSE_NORMAL', 'client', '</script><b onmouseover="x">\'q\'\\u000a\\u202e', '/ws'],
      [4001, 'APPLICATION', 'server', 'token expired', '/chat'],
    ]);
    for (const e of closes) {
      expect(e.durationSeconds).toBeGreaterThanOrEqual(0);
      expect(Date.now() - Date.parse(e.time)).toBeLessThan(60_000);
      expect(e).not.toHaveProperty('peer');
    }
    // Peer text lives only in the ring: no label carries it.
    const exposition = await registry.metrics();
    for (const text of ['token expired', 'script', '/chat', 'secret', '/drop']) expect(exposition).not.toContain(text);
  });

  it('filters by code, codename and initiator, honours limit, and rejects bad queries with 400', async () => {
    const { port, connect, closed, recorder } = await start();
    for (const code of [1000, 4001, 1000]) {
      const ws = await connect('/');
      ws.close(code);
      await closed(ws);
    }
    await waitFor(() => recorder.totals().closed === 3, 'three closes');
    expect((await recent(port, '?limit=1')).closes).toHaveLength(1);
    expect((await recent(port, '?code=1000')).closes).toHaveLength(2);
    expect((await recent(port, '?codename=APPLICATION')).closes.map((e) => e.code)).toEqual([4001]);
    expect((await recent(port, '?initiator=server')).closes).toHaveLength(0);
    for (const query of ['?limit=-1', '?limit=abc', '?code=x', '?initiator=nobody']) expect((await get(port, `/api/closes/recent${query}`)).status).toBe(400);
    expect((await get(port, '/api/closes/recent', {}, 'POST')).status).toBe(405);
    expect((await get(port, '/nothing-here')).status).toBe(404);
  });

  it('keeps the peer address only with peer: true', async () => {
    const { port, connect, closed, recorder } = await start({ peer: true });
    const ws = await connect('/');
    ws.close(1000);
    await closed(ws);
    await waitFor(() => recorder.totals().closed === 1, 'the close');
    expect((await recent(port)).closes[0]!.peer).toBe('127.0.0.1');
  });

  it('recentCloses: 0 keeps nothing and the page still serves rates', async () => {
    const { port, connect, closed, recorder } = await start({ recentCloses: 0 });
    const ws = await connect('/');
    ws.close(1000);
    await closed(ws);
    await waitFor(() => recorder.totals().closed === 1, 'the close');
    expect(recorder.wantsDetails).toBe(false); // no listener, so the hook builds no details
    const body = await recent(port);
    expect(body).toMatchObject({ recentCloses: 0, recorded: 0, closes: [] });
    const summary = JSON.parse((await get(port, '/api/closes/summary')).body) as { now: unknown };
    expect(summary.now).toMatchObject({ closed: 1, opened: 1, active: 0, byCodename: { CLOSE_NORMAL: 1 }, byInitiator: { client: 1 } });
  });
});

describe('closesPage(): the page and its assets', () => {
  it('serves a static page with a strict CSP, its script and its stylesheet from its own origin', async () => {
    const { port } = await start();
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'self'/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toContain('<script src="live/app.js" defer></script>');
    expect(page.body).not.toMatch(/https?:\/\//);
    const js = await get(port, '/live/app.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body.length).toBeGreaterThan(20_000); // uPlot is in it
    expect(js.body).toContain('EventSource');
    const css = await get(port, '/live/app.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toContain('.uplot');
    expect((await get(port, '/', {}, 'HEAD')).body).toBe('');
  });

  it('mounts under express (redirecting the mount point to its slash) and passes unknown paths on', async () => {
    const recorder = createRecorder({ registry: new Registry() });
    const page = closesPage({ recorder });
    cleanups.push(() => page.close());
    const app = express();
    app.use('/closes', page);
    app.use((_req, res) => void res.status(404).send('express 404'));
    const port = await listen(createServer(app));
    const bare = await get(port, '/closes');
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('closes/');
    expect((await get(port, '/closes/')).body).toContain('<title>WebSocket closes');
    expect((await get(port, '/closes/api/closes/recent')).status).toBe(200);
    expect((await get(port, '/closes/elsewhere')).body).toBe('express 404');
  });

  it('mounts under a basePath on node:http', async () => {
    const recorder = createRecorder({ registry: new Registry() });
    const page = closesPage({ recorder, basePath: '/ops/closes' });
    cleanups.push(() => page.close());
    const port = await listen(createServer((req, res) => page(req, res)));
    expect((await get(port, '/ops/closes')).headers.location).toBe('closes/');
    expect((await get(port, '/ops/closes/live/app.css')).status).toBe(200);
    expect((await get(port, '/live/app.css')).status).toBe(404);
  });

  it('rejects bad options with an OptionError naming the option', () => {
    for (const [options, name] of [
      [{ recentCloses: -1 }, 'recentCloses'],
      [{ token: '' }, 'token'],
      [{ maxViewers: 1.5 }, 'maxViewers'],
      [{ basePath: 'closes/' }, 'basePath'],
      [{ sampleIntervalMs: 5 }, 'sampleIntervalMs'],
    ] as const) {
      expect(() => closesPage({ recorder: createRecorder({ registry: new Registry() }), ...options })).toThrow(
        expect.objectContaining({ code: 'WS_CLOSE_AGENT_INVALID_OPTION', message: expect.stringContaining(name) as unknown }),
      );
    }
  });
});

describe('closesPage(): the token', () => {
  it('answers 401 on every route without it, and serves with Bearer or Basic (token as password)', async () => {
    const { port } = await start({ token: 's3cret' });
    for (const path of ['/', '/live/app.js', '/api/closes/recent', '/api/closes/summary', '/api/closes/events']) {
      const answer = await get(port, path);
      expect(answer.status, path).toBe(401);
      expect(answer.body).not.toContain('closes');
      expect(String(answer.headers['www-authenticate'])).toContain('Basic realm="ws-close-agent"');
      expect((await get(port, path, { Authorization: 'Bearer wrong' })).status).toBe(401);
    }
    expect((await get(port, '/api/closes/recent', { Authorization: 'Bearer s3cret' })).status).toBe(200);
    expect((await get(port, '/api/closes/recent', { Authorization: 'bearer s3cret' })).status).toBe(200);
    const basic = `Basic ${Buffer.from('anyone:s3cret').toString('base64')}`;
    expect((await get(port, '/', { Authorization: basic })).status).toBe(200);
    expect((await get(port, '/', { Authorization: `Basic ${Buffer.from('s3cret').toString('base64')}` })).status).toBe(401);
  });
});

describe('closesPage(): the event stream', () => {
  /** Open /api/closes/events and collect its tick messages. */
  function stream(port: number, after = -1) {
    const ticks: { recorded: number; closes: CloseEntry[]; sample: { closed: number } }[] = [];
    let status = 0;
    let buffered = '';
    const req = request({ host: '127.0.0.1', port, path: `/api/closes/events?after=${after}` }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        buffered += s;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const message = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = /^data: (.*)$/m.exec(message)?.[1];
          if (/^event: tick$/m.test(message) && data !== undefined) ticks.push(JSON.parse(data) as (typeof ticks)[number]);
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
    cleanups.push(() => void req.destroy());
    return { ticks, status: () => status, close: () => req.destroy() };
  }

  it('delivers closes as they happen, each once per viewer', async () => {
    const { port, connect, closed, page } = await start();
    const viewer = stream(port, 0);
    await waitFor(() => viewer.ticks.length > 0, 'the first tick');
    expect(viewer.status()).toBe(200);
    const ws = await connect('/live?x=1');
    ws.close(4002, 'slow consumer');
    await closed(ws);
    await waitFor(() => viewer.ticks.some((t) => t.closes.length > 0), 'a tick with the close', 10_000);
    const delivered = viewer.ticks.flatMap((t) => t.closes);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ code: 4002, reason: 'slow consumer', path: '/live', initiator: 'client' });
    expect(viewer.ticks.at(-1)!.sample.closed).toBe(1);
    expect(page.viewers).toBe(1);
    viewer.close();
    await waitFor(() => page.viewers === 0, 'the viewer to be gone');
  });

  it(`refuses viewers beyond maxViewers with 503`, async () => {
    const { port, page } = await start({ maxViewers: 2 });
    const first = stream(port);
    const second = stream(port);
    await waitFor(() => page.viewers === 2, 'two viewers');
    const third = await get(port, '/api/closes/events');
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('30');
    first.close();
    await waitFor(() => page.viewers === 1, 'one viewer left');
    const again = stream(port);
    await waitFor(() => again.status() === 200, 'a stream again');
    second.close();
    again.close();
  });
});
