/**
 * Case 11: the recent-closes ring and the live page.
 * - Recording: case 1's hook path (two clock reads, recordOpen, recordClose)
 *   with the ring listening and details handed over as the hook hands them
 *   (one reused object: the clock reading, the path, a reason on the 4xxx
 *   closes), against case 1's own loop with no listener (a copy of
 *   lib/hook-loop.mjs, so that neither loop shares the other's feedback).
 * - Scraping: GET /metrics on a server that also serves closesPage(), with
 *   ten live viewers on its event stream against none, while closes are
 *   recorded in the background (so that the viewers' ticks carry closes).
 */
import { Agent, createServer, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { metricsHandler } from '../../dist/esm/index.js';
import { closesPage } from '../../dist/esm/live/closes-page.js';
import { createRecorder } from '../../dist/esm/recorder/registry.js';
import { MASK, NAMED, buildWorkload, calibrate, timePerCallNs } from '../lib/close-workload.mjs';
import { loopCopy } from '../lib/hook-loop.mjs';
import { compareRow } from '../lib/rows.mjs';
import { runInterleaved } from '../lib/rounds.mjs';
import { median } from '../../harness/stats.mjs';

export const id = 11;
export const title = 'recent closes ring and live viewers';

const PATHS = ['/ws', '/chat', '/feed/live', '/api/stream'];

function createRingLoop({ codes, initiators, agesMs }) {
  const recorder = createRecorder({ registry: new Registry(), codes: NAMED });
  const page = closesPage({ recorder, recentCloses: 1000 }); // attaches the ring (and a 10-s sampler)
  const details = { at: 0, reason: undefined, path: undefined, peer: undefined };
  const run = (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & MASK;
      const start = performance.now() - agesMs[k];
      recorder.recordOpen();
      const now = performance.now();
      const code = codes[k];
      if (recorder.wantsDetails) {
        details.at = now;
        details.reason = code >= 4000 ? 'token expired' : undefined;
        details.path = PATHS[k & 3];
        recorder.recordClose(code, initiators[k], (now - start) / 1000, details);
      } else {
        recorder.recordClose(code, initiators[k], (now - start) / 1000);
      }
    }
  };
  return { run, page };
}

async function recordRow(ctx, deadline) {
  const { rounds, sampleMs } = ctx.quick ? { rounds: 7, sampleMs: 60 } : { rounds: 21, sampleMs: 120 };
  const workload = buildWorkload();
  const bare = (await loopCopy('ring off'))(workload, createRecorder({ registry: new Registry(), codes: NAMED }));
  const { run: ring, page } = createRingLoop(workload);
  const nBare = calibrate(bare, sampleMs);
  const nRing = calibrate(ring, sampleMs);
  const { samples } = await runInterleaved(
    [
      { name: 'ring', run: async () => timePerCallNs(ring, nRing) },
      { name: 'bare', run: async () => timePerCallNs(bare, nBare) },
    ],
    { rounds, deadline },
  );
  page.close();
  return compareRow({
    caseId: id,
    name: 'record: ns per close, ring of 1,000 on vs off (hook path incl. timestamps)',
    unit: 'ns',
    oursLabel: 'ring on',
    baselineLabel: 'ring off',
    ours: samples.ring,
    baseline: samples.bare,
    target: 'ratio ≤ 1.10',
    check: ({ ratio }) => ratio <= 1.1,
  });
}

function get(agent, port, path) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ agent, host: '127.0.0.1', port, path }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** `count` event-stream viewers, resolved once each has its first tick; close() ends them. */
async function openViewers(port, count) {
  const reqs = [];
  let bytes = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: '/api/closes/events' }, (res) => {
            if (res.statusCode !== 200) reject(new Error(`viewer: HTTP ${res.statusCode}`));
            res.once('data', resolve);
            res.on('data', (d) => (bytes += d.length));
          });
          req.on('error', () => undefined);
          req.end();
          reqs.push(req);
        }),
    ),
  );
  return { close: () => reqs.forEach((r) => r.destroy()), bytes: () => bytes };
}

async function scrapeRow(ctx, deadline) {
  const s = ctx.quick ? { rounds: 5, scrapes: 20 } : { rounds: 11, scrapes: 40 };
  const registry = new Registry();
  const recorder = createRecorder({ registry, maxCustomCodes: 200 });
  // About 1,000 close series, as in case 3's middle size.
  for (let k = 0; k < 1000; k++) {
    recorder.recordOpen();
    recorder.recordClose(k < 64 ? 1000 + (k >> 2) : 3000 + (k >> 2), k & 3, 1);
  }
  const page = closesPage({ recorder });
  const scrape = metricsHandler(registry);
  const server = createServer((req, res) => (req.url === '/metrics' ? scrape(req, res) : page(req, res)));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  // Closes keep happening (200/s), so each viewer's tick carries some.
  const details = { at: 0, reason: 'token expired', path: '/ws', peer: undefined };
  const churn = setInterval(() => {
    for (let i = 0; i < 20; i++) {
      recorder.recordOpen();
      details.at = performance.now();
      recorder.recordClose(4001, 1, 0.5, details);
    }
  }, 100);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let viewerBytes = 0;
  // Each round's scrapes are spread over about 2 s, so that the 1-s ticks fall among them.
  const variant = (name, viewers) => ({
    name,
    run: async () => {
      const v = viewers > 0 ? await openViewers(port, viewers) : undefined;
      const times = [];
      try {
        for (let i = 0; i < s.scrapes; i++) {
          times.push(await get(agent, port, '/metrics'));
          await new Promise((r) => setTimeout(r, 2000 / s.scrapes));
        }
      } finally {
        if (v) {
          viewerBytes = Math.max(viewerBytes, v.bytes());
          v.close();
        }
      }
      return median(times);
    },
  });
  try {
    const variants = [variant('ten viewers', 10), variant('no viewer', 0)];
    for (const v of variants) await v.run();
    const { samples } = await runInterleaved(variants, { rounds: s.rounds, deadline });
    return compareRow({
      caseId: id,
      name: 'scrape /metrics (~1,000 series, text) with 10 live viewers vs none, 200 closes/s',
      unit: 'ms',
      oursLabel: '10 viewers',
      baselineLabel: 'none',
      ours: samples['ten viewers'],
      baseline: samples['no viewer'],
      target: 'ratio ≤ 1.10',
      check: ({ ratio }) => ratio <= 1.1,
      note: `median of ${s.scrapes} scrapes per round, spread over 2 s; each viewer got up to ${viewerBytes} B in a round`,
    });
  } finally {
    clearInterval(churn);
    agent.destroy();
    page.close();
    server.closeAllConnections();
    server.close();
  }
}

export async function run(ctx) {
  const half = performance.now() + (ctx.deadline - performance.now()) / 2;
  return [await recordRow(ctx, half), await scrapeRow(ctx, ctx.deadline)];
}
