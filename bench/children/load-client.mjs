/**
 * The load generator of the benchmarks: `ws` clients in their own process,
 * driven over IPC, on the shared load-client core (harness/load.mjs: zero
 * masking keys, so every proxy sees the same frames while the generator and
 * the upstream spend less CPU). CPU of the processes under test is read
 * here, right at the edges of each measurement window.
 */
import { sleep } from '../../harness/wait.mjs';
import { announceReady, serveRequests } from '../../harness/ipc-serve.mjs';
import { WebSocket, closedWithin, inPool, openClient } from '../../harness/load.mjs';
import { readCpuSeconds } from '../../harness/proc.mjs';
import { percentileOfSorted } from '../../harness/stats.mjs';

const OPEN_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

function ignore() {}

async function openSocket(url) {
  return (await openClient(url, OPEN_TIMEOUT_MS)).ws;
}

/** Client-initiated close (1000); resolves when the connection is closed (or terminated after a timeout). */
function closeSocket(ws) {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.close(1000);
  return closedWithin(ws, closed, CLOSE_TIMEOUT_MS);
}

/** CPU seconds of each group of pids, plus this process's own. */
function markCpu(cpuGroups) {
  const out = { client: process.cpuUsage() };
  for (const [name, pids] of Object.entries(cpuGroups ?? {})) out[name] = readCpuSeconds(pids);
  return out;
}

function cpuDelta(a, b) {
  const out = { client: (b.client.user + b.client.system - a.client.user - a.client.system) / 1e6 };
  for (const name of Object.keys(a)) if (name !== 'client') out[name] = b[name] - a[name];
  return out;
}

/** Open `count` connections, at most `concurrency` handshakes at a time. Returns [sockets, errors]. */
async function openMany(url, count, concurrency) {
  const sockets = [];
  let errors = 0;
  await inPool(count, concurrency, async () => {
    try {
      sockets.push(await openSocket(url));
    } catch {
      errors++;
    }
  });
  return [sockets, errors];
}

let held = [];

serveRequests({
  /** `conns` connections each keep `window` messages of `size` bytes in flight through an echo upstream. */
  async stream({ url, conns, size, window, warmupMs, durationMs, cpuGroups }) {
    const [sockets, openErrors] = await openMany(url, conns, conns);
    if (openErrors > 0) {
      await Promise.all(sockets.map(closeSocket));
      throw new Error(`${openErrors} of ${conns} connections failed to open`);
    }
    const payload = Buffer.alloc(size, 0x61);
    let received = 0;
    let running = true;
    for (const ws of sockets) {
      ws.on('message', () => {
        received++;
        if (running) ws.send(payload, { binary: true });
      });
      for (let w = 0; w < window; w++) ws.send(payload, { binary: true });
    }
    await sleep(warmupMs);
    const t0 = performance.now();
    const c0 = markCpu(cpuGroups);
    const r0 = received;
    await sleep(durationMs);
    const r1 = received;
    const c1 = markCpu(cpuGroups);
    const t1 = performance.now();
    running = false;
    await Promise.all(sockets.map(closeSocket));
    return { messages: r1 - r0, seconds: (t1 - t0) / 1000, cpu: cpuDelta(c0, c1) };
  },

  /**
   * `concurrency` loops per target of open + client close, all targets at
   * once, counted over the same `durationMs` window after `warmupMs`. CPU of
   * each target's `cpuPids` is read at the window's edges.
   */
  async churn({ targets, concurrency, warmupMs, durationMs }) {
    let running = true;
    const state = targets.map(() => ({ completed: 0, errors: 0 }));
    const loop = async (t) => {
      const st = state[t];
      while (running) {
        try {
          await closeSocket(await openSocket(targets[t].url));
          st.completed++;
        } catch {
          st.errors++;
          await sleep(5);
        }
      }
    };
    const loops = [];
    for (let k = 0; k < concurrency; k++) for (let t = 0; t < targets.length; t++) loops.push(loop(t));
    const groups = Object.fromEntries(targets.map((t, i) => [i, t.cpuPids]));
    await sleep(warmupMs);
    const t0 = performance.now();
    const c0 = markCpu(groups);
    const s0 = state.map((st) => ({ ...st }));
    await sleep(durationMs);
    const s1 = state.map((st) => ({ ...st }));
    const c1 = markCpu(groups);
    const t1 = performance.now();
    running = false;
    await Promise.all(loops);
    const cpu = cpuDelta(c0, c1);
    return {
      seconds: (t1 - t0) / 1000,
      clientCpu: cpu.client,
      targets: targets.map((_, i) => ({ connections: s1[i].completed - s0[i].completed, errors: s1[i].errors - s0[i].errors, cpu: cpu[i] })),
    };
  },

  /** Exactly `count` open + close cycles (or fewer if `maxMs` runs out). */
  async churnCount({ url, count, concurrency, maxMs }) {
    const deadline = performance.now() + maxMs;
    let completed = 0;
    let errors = 0;
    const t0 = performance.now();
    await inPool(
      count,
      concurrency,
      async () => {
        try {
          await closeSocket(await openSocket(url));
          completed++;
        } catch {
          errors++;
          await sleep(5);
        }
      },
      () => performance.now() < deadline,
    );
    return { completed, errors, seconds: (performance.now() - t0) / 1000 };
  },

  /**
   * Round trips of one `size`-byte message at a time, one connection per
   * url, taken in batches that alternate between the urls so that every url
   * sees the same neighbours. Percentiles per url, in microseconds.
   */
  async latency({ urls, samples, batch, warmup, size, maxMs }) {
    const sockets = [];
    try {
      for (const url of urls) sockets.push(await openSocket(url));
      const payload = Buffer.alloc(size, 0x61);
      const rtts = urls.map(() => new Float64Array(samples));
      const counts = urls.map(() => 0);
      const pingPong = (ws, n, record) =>
        new Promise((resolve) => {
          let left = n;
          let sentAt = 0;
          const onMessage = () => {
            record(performance.now() - sentAt);
            if (--left === 0) {
              ws.off('message', onMessage);
              return resolve();
            }
            sentAt = performance.now();
            ws.send(payload, { binary: true });
          };
          ws.on('message', onMessage);
          sentAt = performance.now();
          ws.send(payload, { binary: true });
        });
      for (const ws of sockets) await pingPong(ws, warmup, () => undefined);
      const deadline = performance.now() + maxMs;
      for (let b = 0; counts[0] < samples && performance.now() < deadline; b++) {
        for (let k = 0; k < urls.length; k++) {
          const i = (b + k) % urls.length; // rotate which url goes first
          const n = Math.min(batch, samples - counts[i]);
          if (n > 0) await pingPong(sockets[i], n, (ms) => (rtts[i][counts[i]++] = ms * 1000));
        }
      }
      return urls.map((_, i) => {
        const sorted = rtts[i].subarray(0, counts[i]).sort();
        return { samples: counts[i], p50: percentileOfSorted(sorted, 50), p99: percentileOfSorted(sorted, 99), max: sorted[counts[i] - 1] };
      });
    } finally {
      await Promise.all(sockets.map(closeSocket));
    }
  },

  /** Open and keep `count` idle connections. */
  async hold({ url, count, concurrency }) {
    const [sockets, errors] = await openMany(url, count, concurrency);
    for (const ws of sockets) ws.on('error', ignore);
    held.push(...sockets);
    return { open: sockets.length, errors };
  },

  /** Close every held connection. */
  async release() {
    const sockets = held;
    held = [];
    await Promise.all(sockets.map(closeSocket));
    return { closed: sockets.length };
  },
});
announceReady();
