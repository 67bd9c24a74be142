/**
 * The core of the load clients (bench/children/load-client.mjs,
 * soak/children/load-client.mjs): `ws` clients that mask with an all-zero
 * key (legal; ws then skips the XOR on both ends, so the load spends less of
 * the machine's cores), opened and closed with a timeout on every wait, and
 * a bounded pool of loops. Every wait on the network has a timeout; every
 * pool is bounded by a count and, when given, a deadline.
 */
import WebSocket from 'ws';
import { zeroMask } from './frames.mjs';

export { WebSocket };

/** Resolves on the first of `events` of `ws` ({ event, args }), or rejects after `ms`. */
export function waitEvent(ws, events, ms, what) {
  return new Promise((resolve, reject) => {
    const handlers = {};
    const done = () => {
      clearTimeout(timer);
      for (const [e, h] of Object.entries(handlers)) ws.removeListener(e, h);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: nothing within ${ms} ms`));
    }, ms);
    for (const e of events) {
      handlers[e] = (...args) => {
        done();
        resolve({ event: e, args });
      };
      ws.on(e, handlers[e]);
    }
  });
}

/**
 * Open a client to `url`. Resolves { ws, closed } once open (`closed`
 * resolves with the close code the client sees); rejects with
 * err.beforeOpen = true when the handshake fails or takes over `timeoutMs`.
 */
export async function openClient(url, timeoutMs) {
  const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: zeroMask });
  let lastError;
  ws.on('error', (err) => (lastError = err));
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  let first;
  try {
    first = await waitEvent(ws, ['open', 'close'], timeoutMs, `open ${url}`);
  } catch (err) {
    ws.terminate();
    throw Object.assign(err, { beforeOpen: true });
  }
  if (first.event !== 'open') throw Object.assign(new Error(`open ${url} failed: ${lastError?.message ?? `closed ${first.args[0]}`}`), { beforeOpen: true });
  return { ws, closed };
}

/** Resolves with the close code from `closed`, or 'timeout' (and terminates `ws`) after `timeoutMs`. */
export async function closedWithin(ws, closed, timeoutMs) {
  let timer;
  const code = await Promise.race([closed, new Promise((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
  clearTimeout(timer);
  if (code === 'timeout') ws.terminate();
  return code;
}

/**
 * Run `task(k)` for k = 0, 1, ... count - 1 with at most `concurrency` in
 * flight, starting no task once `until()` returns false. Resolves with how
 * many were started.
 */
export async function inPool(count, concurrency, task, until = () => true) {
  let next = 0;
  const loop = async () => {
    while (next < count && until()) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(concurrency, count)) }, loop));
  return next;
}

/** Problems seen by the clients: a count and the first messages. */
export class Problems {
  count = 0;
  samples = [];
  add(msg) {
    this.count++;
    if (this.samples.length < 20) this.samples.push(msg);
  }
  toJSON() {
    return { count: this.count, samples: this.samples };
  }
}
