/**
 * The client-report join in hook mode with real peers: a `ws` server
 * instrumented by the hook, closeReportHandler() on the same node:http
 * server, real `ws` clients tagged with a ws_close_id, and reports posted
 * over HTTP. Also the pieces on their own: the id's shape, the table's
 * bounds on a clock of the test's own, the rate limit.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { CLIENT_REPORT_REJECT_REASONS } from '../src/codes/vocabulary.js';
import { closeIdOf, closeIdText, isCloseId, toCloseId, type CloseId } from '../src/hook/close-id.js';
import { instrument } from '../src/hook/instrument.js';
import { createRecorder } from '../src/recorder/registry.js';
import type { CloseDetails } from '../src/recorder/recorder.js';
import { CloseTable } from '../src/reports/close-table.js';
import { closeReportHandler, type CloseReportOptions } from '../src/reports/handler.js';
import { IdRing } from '../src/reports/id-ring.js';
import { RateLimit } from '../src/reports/rate-limit.js';
import { parseExposition, checkExposition, sumOf, type Sample } from './helpers/exposition.js';
import { waitFor } from './helpers/wait.js';
import { closeWsServer } from './helpers/ws-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const newId = (): string => randomBytes(16).toString('hex');

interface Fixture {
  registry: Registry;
  port: number;
  origin: string;
  server: Server;
  /** Server-side sockets by their close id. */
  sockets: Map<string, WebSocket>;
  samples(): Promise<Sample[]>;
}

async function start(options: Omit<CloseReportOptions, 'registry'> = {}): Promise<Fixture> {
  const registry = new Registry();
  const server = createServer((req, res) => {
    if (req.url === '/ws-close-agent/report') return reports(req, res);
    res.statusCode = 404;
    res.end();
  });
  const wss = new WebSocketServer({ server });
  const hook = instrument(wss, { registry, maxCustomCodes: options.maxCustomCodes });
  // Before any connection opens: the hook reads ids only while a report handler listens.
  const reports = closeReportHandler({ ...options, recorder: hook.recorder });
  const sockets = new Map<string, WebSocket>();
  wss.on('connection', (ws, req) => {
    ws.on('error', () => undefined);
    const id = closeIdOf(req.url);
    if (id !== undefined) sockets.set(closeIdText(id), ws);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(
    () => closeWsServer(server, wss),
    () => hook.uninstall(),
    () => reports.close(),
  );
  return { registry, port, origin: `http://127.0.0.1:${port}`, server, sockets, samples: async () => parseExposition(await registry.metrics()) };
}

/** Open a connection tagged with `id` and wait until the server has it. */
async function connect(f: Fixture, id: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${f.port}/chat?room=1&ws_close_id=${id}`);
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await waitFor(() => f.sockets.has(id), 'the server to see the connection');
  return ws;
}

/** Close from the server side with `code` and wait until the hook recorded it. */
async function serverClose(f: Fixture, id: string, client: WebSocket, code: number | 'terminate'): Promise<void> {
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  const ws = f.sockets.get(id)!;
  if (code === 'terminate') ws.terminate();
  else ws.close(code);
  await closed;
  await waitFor(() => ws.readyState === WebSocket.CLOSED, 'the server socket to close');
}

interface Posted {
  status: number;
}

function post(
  f: Fixture,
  body: string | Buffer,
  headers: Record<string, string | number> = {},
  options: { chunked?: boolean; method?: string } = {},
): Promise<Posted> {
  return new Promise((resolve, reject) => {
    const allHeaders: Record<string, string | number> = { Origin: f.origin, 'Content-Type': 'text/plain;charset=UTF-8', ...headers };
    if (!options.chunked) allHeaders['Content-Length'] = Buffer.byteLength(body);
    const req = request(
      { host: '127.0.0.1', port: f.port, path: '/ws-close-agent/report', method: options.method ?? 'POST', headers: allHeaders, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    if (options.chunked) {
      const buf = Buffer.from(body);
      for (let i = 0; i < buf.length; i += 256) req.write(buf.subarray(i, i + 256));
      req.end();
    } else req.end(body);
  });
}

const report = (id: string, code: number, clean: boolean, extra: Record<string, unknown> = {}): string => JSON.stringify({ id, code, clean, ms: 12, ...extra });

const rejected = (samples: Sample[], reason: string): number => sumOf(samples, 'websocket_client_reports_rejected_total', { reason });
const mismatches = (samples: Sample[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of samples)
    if (s.name === 'websocket_close_mismatches_total' && s.value !== 0) out[`${s.labels.server_codename} ${s.labels.client_codename}`] = s.value;
  return out;
};
const clientCloses = (samples: Sample[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of samples)
    if (s.name === 'websocket_client_closes_total' && s.value !== 0)
      out[`${s.labels.code} ${s.labels.codename} ${s.labels.category} ${s.labels.clean}`] = s.value;
  return out;
};

describe('close ids', () => {
  it('accepts exactly 32 lowercase hex digits in ws_close_id', () => {
    const id = newId();
    const expected = toCloseId(id);
    expect(closeIdText(expected!)).toBe(id);
    // Every character counts, non-ASCII ones too (a masked code unit must not pass for a digit).
    for (let at = 0; at < 32; at++) expect(toCloseId(id.slice(0, at) + (id[at] === '0' ? '1' : '0') + id.slice(at + 1))?.hash).not.toBe(expected?.hash);
    expect(toCloseId(id.slice(0, 31) + String.fromCharCode(0x80 + 0x30))).toBeUndefined();
    // Digits are read two at a time: each position of a pair, with anything that is no lowercase digit or masks to one.
    for (let at = 0; at < 32; at++) {
      for (const ch of ['g', 'A', '/', ':', '`', String.fromCharCode(0x100 + id.charCodeAt(at)), String.fromCharCode(0x80 + 0x61)]) {
        expect(toCloseId(id.slice(0, at) + ch + id.slice(at + 1)), `${ch} at ${at}`).toBeUndefined();
      }
    }
    // All bits set reads as four words of -1: still an id, and its text comes back.
    expect(closeIdText(toCloseId('f'.repeat(32))!)).toBe('f'.repeat(32));
    expect(closeIdText(toCloseId('0'.repeat(32))!)).toBe('0'.repeat(32));
    expect(closeIdOf(`/ws?ws_close_id=${id}`)).toEqual(expected);
    expect(closeIdOf(`/ws?a=1&ws_close_id=${id}&b=2`)).toEqual(expected);
    expect(closeIdOf(`/ws?ws_close_id=${id}#frag`)).toEqual(expected);
    expect(closeIdOf(`/ws?xws_close_id=${id}&ws_close_id=${id}`)).toEqual(expected);
    expect(toCloseId(newId())?.hash).not.toBe(expected?.hash);
    for (const bad of [
      '/ws',
      `/ws#ws_close_id=${id}`,
      `/ws?ws_close_id=${id}0`,
      `/ws?ws_close_id=${id.slice(1)}`,
      `/ws?ws_close_id=${id.toUpperCase()}`,
      `/ws?ws_close_id=${id.slice(0, 31)}g`,
      `/ws?xws_close_id=${id}`,
      '/ws?ws_close_id=',
      `/ws?ws_close_id=%20${id.slice(3)}`,
    ]) {
      expect(closeIdOf(bad), bad).toBeUndefined();
    }
    expect(closeIdOf(undefined)).toBeUndefined();
    expect(isCloseId(id)).toBe(true);
    expect(isCloseId(42)).toBe(false);
  });
});

describe('closeReportHandler() with the hook', () => {
  it('joins a report that agrees with the server (4001): a client close, no mismatch', async () => {
    const f = await start();
    const id = newId();
    const ws = await connect(f, id);
    await serverClose(f, id, ws, 4001);
    expect((await post(f, report(id, 4001, true))).status).toBe(204);
    const s = await f.samples();
    expect(clientCloses(s)).toEqual({ '4001 APPLICATION application true': 1 });
    expect(mismatches(s)).toEqual({});
    for (const reason of CLIENT_REPORT_REJECT_REASONS) expect(rejected(s, reason)).toBe(0);
    checkExposition(await f.registry.metrics());
  });

  it('counts a mismatch when the views differ: server 1000, client 1006', async () => {
    const f = await start();
    const id = newId();
    const ws = await connect(f, id);
    await serverClose(f, id, ws, 1000);
    expect((await post(f, report(id, 1006, false))).status).toBe(204);
    const s = await f.samples();
    expect(clientCloses(s)).toEqual({ '1006 CLOSE_ABNORMAL standard false': 1 });
    expect(mismatches(s)).toEqual({ 'CLOSE_NORMAL CLOSE_ABNORMAL': 1 });
    // The lost-frame pairs are exported from the start, so rate() sees the first one.
    expect(s.some((x) => x.name === 'websocket_close_mismatches_total' && x.labels.server_codename === 'CLOSE_GOING_AWAY' && x.value === 0)).toBe(true);
  });

  it('holds a report that comes before the close and joins it when the close is recorded', async () => {
    const f = await start();
    const id = newId();
    const ws = await connect(f, id);
    expect((await post(f, report(id, 1001, false, { gone: true }))).status).toBe(202);
    expect(clientCloses(await f.samples())).toEqual({});
    ws.close(1001);
    await waitFor(async () => Object.keys(clientCloses(await f.samples())).length > 0, 'the held report to be joined');
    const s = await f.samples();
    expect(clientCloses(s)).toEqual({ '1001 CLOSE_GOING_AWAY standard false': 1 });
    expect(mismatches(s)).toEqual({});
  });

  it('turns away forged, duplicate, oversized, malformed, other-origin and too-frequent reports, each counted, and keeps serving', async () => {
    const f = await start({ holdMs: 200, rateLimit: 20, maxBodyBytes: 256, origins: ['http://app.example'] });
    const id = newId();
    const ws = await connect(f, id);
    await serverClose(f, id, ws, 1000);
    const headers = { Origin: 'http://app.example' };
    // forged: an id the server never saw is held, then counted as unknown once its time is up
    expect((await post(f, report(newId(), 1006, false), headers)).status).toBe(202);
    await waitFor(async () => rejected(await f.samples(), 'unknown_id') === 1, 'the forged report to be counted');
    // duplicate
    expect((await post(f, report(id, 1000, true), headers)).status).toBe(204);
    expect((await post(f, report(id, 1006, false), headers)).status).toBe(409);
    // oversized, declared and chunked
    const big = report(id, 1000, true, { pad: 'x'.repeat(300) });
    expect((await post(f, big, headers)).status).toBe(413);
    expect((await post(f, big, headers, { chunked: true })).status).toBe(413);
    // malformed
    for (const body of [
      'not json',
      '[]',
      report('A'.repeat(32), 1000, true),
      report(id, 5000, true),
      report(id, 999, true),
      report(id, 1000.5, true),
      JSON.stringify({ id, code: 1000 }),
      report(id, 1000, true, { ms: -1 }),
    ]) {
      expect((await post(f, body, headers)).status, body).toBe(400);
    }
    expect((await post(f, '', headers, { method: 'GET' })).status).toBe(405);
    // other origin, and none
    expect((await post(f, report(id, 1000, true), { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(f, report(id, 1000, true), { Origin: f.origin })).status).toBe(403);
    const s = await f.samples();
    expect(rejected(s, 'unknown_id')).toBe(1);
    expect(rejected(s, 'duplicate')).toBe(1);
    expect(rejected(s, 'too_large')).toBe(2);
    expect(rejected(s, 'bad_request')).toBe(9);
    expect(rejected(s, 'origin')).toBe(2);
    expect(rejected(s, 'rate_limited')).toBe(0);
    // 15 requests so far counted against this address (the GET was turned away before); the limit is 20 a minute
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await post(f, 'x', headers)).status);
    expect(statuses).toEqual([400, 400, 400, 400, 400, 429, 429]);
    expect(rejected(await f.samples(), 'rate_limited')).toBe(2);
    // the one accepted report stands; the server still serves connections and the counts add up
    expect(clientCloses(await f.samples())).toEqual({ '1000 CLOSE_NORMAL standard true': 1 });
    const other = await connect(f, newId());
    other.close(1000);
    await waitFor(async () => sumOf(await f.samples(), 'websocket_connections_closed_total') === 2, 'the next close');
    const after = await f.samples();
    expect(sumOf(after, 'websocket_connections_opened_total')).toBe(
      sumOf(after, 'websocket_connections_closed_total') + sumOf(after, 'websocket_connections_active'),
    );
  });

  it("a client's code never takes a custom-code slot: an unseen 4xxx counts under its range", async () => {
    const f = await start({ maxCustomCodes: 1 });
    const id = newId();
    const ws = await connect(f, id);
    await serverClose(f, id, ws, 1000);
    expect((await post(f, report(id, 4999, true))).status).toBe(204);
    expect(clientCloses(await f.samples())).toEqual({ '4000-4999 APPLICATION application true': 1 });
    // the server's own 4001 still gets the one custom slot
    const id2 = newId();
    const ws2 = await connect(f, id2);
    await serverClose(f, id2, ws2, 4001);
    expect((await post(f, report(id2, 4001, true))).status).toBe(204);
    const s = await f.samples();
    expect(sumOf(s, 'websocket_connections_closed_total', { code: '4001' })).toBe(1);
    expect(clientCloses(s)['4001 APPLICATION application true']).toBe(1);
    expect(mismatches(s)).toEqual({ 'CLOSE_NORMAL APPLICATION': 1 });
  });

  it('reads no id while nothing listens for close details', async () => {
    const registry = new Registry();
    const recorder = createRecorder({ registry });
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const hook = instrument(wss, { recorder });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(
      () => new Promise<void>((r) => server.close(() => r())),
      () => hook.uninstall(),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/?ws_close_id=${newId()}`);
    await new Promise((r) => ws.once('open', r));
    expect(recorder.wantsDetails).toBe(false);
    const seen: (CloseDetails | undefined)[] = [];
    recorder.addCloseListener((_series, _s, details) => seen.push(details === undefined ? undefined : { ...details }));
    ws.close(1000);
    await waitFor(() => seen.length === 1, 'the close');
    // Opened before anyone listened: its request was never read (no id, no path), only the close itself is described.
    expect(seen[0]?.closeId).toBeUndefined();
    expect(seen[0]?.path).toBeUndefined();
    wss.close();
  });
});

describe('the bounded tables', () => {
  it('forgets closes after the window and the oldest beyond maxEntries; held reports expire as unknown ids', () => {
    const registry = new Registry();
    const recorder = createRecorder({ registry });
    let now = 0;
    const table = new CloseTable(recorder.clientReports, { windowMs: 1000, maxEntries: 3, holdMs: 100, now: () => now });
    const series = recorder.recordClose(1000, 1, 1);
    const ids = [newId(), newId(), newId(), newId()].map((id) => toCloseId(id) as CloseId);
    for (const closeId of ids) table.onClose(series, 1, { closeId });
    expect(table.size).toEqual({ closed: 3, held: 0 });
    expect(table.report(ids[0]!, 1000, true)).toBe('held'); // evicted: the oldest of four in three places
    expect(table.report(ids[1]!, 1000, true)).toBe('joined');
    now = 1000;
    expect(table.report(ids[2]!, 1000, true)).toBe('held'); // past the window
    expect(table.size).toEqual({ closed: 0, held: 1 }); // the first held report's 100 ms were up
    now = 1100;
    table.expire();
    expect(table.size.held).toBe(0);
    expect(recorder.clientReports.rejected.values[CLIENT_REPORT_REJECT_REASONS.indexOf('unknown_id')]).toBe(2);
    for (let i = 0; i < 5; i++) table.report(toCloseId(newId())!, 1000, true);
    expect(table.size.held).toBe(3);
    expect(table.report(toCloseId(newId())!, 1000, true)).toBe('unknown_id');
    table.close();
  });

  it('the id ring agrees with a plain insertion-ordered model under random operations and colliding hashes', () => {
    const seed = Number(process.env.PROPERTY_SEED ?? Date.now() % 2 ** 31);
    console.log(`id ring property seed: ${seed} (PROPERTY_SEED=${seed} to replay)`);
    let state = seed;
    const rand = (n: number): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % n;
    for (let round = 0; round < 50; round++) {
      const capacity = 1 + rand(12);
      const ring = new IdRing<number>(capacity);
      // The model: records in insertion order, each live or dead; the ring keeps `capacity` records.
      const records: { id: number; at: number; v: number; live: boolean; marked: boolean }[] = [];
      // Few hashes: long probe runs; ids that differ in one word only.
      const key = (k: number): CloseId => ({ hash: k % 3, a: 7, b: k & 1, c: k >> 1, d: 7 });
      const live = (): Map<number, number> => new Map(records.filter((r) => r.live).map((r) => [r.id, r.v]));
      let now = 0;
      for (let step = 0; step < 200; step++) {
        const id = rand(2 * capacity + 2);
        const op = rand(10);
        if (op < 5) {
          now += rand(3);
          expect(ring.set(key(id), step, now), `seed ${seed}`).toBeLessThan(capacity);
          for (const r of records) if (r.id === id) r.live = false;
          if (records.length === capacity) records.shift();
          records.push({ id, at: now, v: step, live: true, marked: false });
        } else if (op < 7) {
          ring.delete(key(id));
          for (const r of records) if (r.id === id) r.live = false;
        } else if (op < 8) {
          const pos = ring.find(key(id));
          if (pos >= 0) ring.mark(pos);
          for (const r of records) if (r.id === id && r.live) r.marked = true;
        } else if (op < 9) {
          const cutoff = now - rand(4);
          const expired: number[] = [];
          ring.expire(cutoff, (v) => expired.push(v));
          const want: number[] = [];
          while (records.length > 0 && (!records[0]!.live || records[0]!.at <= cutoff)) {
            const r = records.shift()!;
            if (r.live) want.push(r.v);
          }
          expect(expired, `seed ${seed}`).toEqual(want);
        }
        const model = live();
        expect(ring.size, `seed ${seed}`).toBe(model.size);
        for (let k = 0; k < 2 * capacity + 2; k++) {
          expect(ring.get(key(k)), `seed ${seed}`).toEqual(model.get(k));
          const pos = ring.find(key(k));
          expect(pos >= 0 ? ring.marked(pos) : undefined, `seed ${seed}`).toBe(records.find((r) => r.id === k && r.live)?.marked);
        }
        expect(ring.firstAt(), `seed ${seed}`).toBe(records.find((r) => r.live)?.at);
      }
    }
  });

  it('limits each address per minute and keeps at most maxAddresses', () => {
    let now = 0;
    const rate = new RateLimit(2, 3, () => now);
    expect([rate.take('a'), rate.take('a'), rate.take('a')]).toEqual([true, true, false]);
    for (const address of ['b', 'c', 'd']) rate.take(address);
    expect(rate.size).toBe(3);
    expect(rate.take('a')).toBe(true); // 'a' was the oldest and went to make room
    now = 60_000;
    expect(rate.take('b')).toBe(true);
    expect(rate.size).toBe(1);
    expect(new RateLimit(0, 1).take('x')).toBe(true);
  });

  it('validates its options at the door', () => {
    expect(() => closeReportHandler({ registry: new Registry(), windowMs: 0 })).toThrow(/windowMs must be an integer of at least 1/);
    expect(() => closeReportHandler({ registry: new Registry(), origins: ['https://a.example/path'] })).toThrow(/is not an origin/);
    expect(() => closeReportHandler({ registry: new Registry(), origins: 'https://a.example' as never })).toThrow(/origins must be/);
    expect(() => closeReportHandler({ registry: new Registry(), rateLimit: -1 })).toThrow(/rateLimit/);
  });
});
