/**
 * The load generator of the soak: `ws` clients in their own process, driven
 * over IPC by run.mjs. Connection number i plays scenarioOf(i)
 * (lib/scenarios.mjs): open, one echoed message, then the close of its
 * scenario, and the client checks the close code it sees. Every connection
 * that opened is tallied under the series the agent must record for it.
 *
 * Clients mask with an all-zero key (legal; ws then skips the XOR on both
 * ends) so that the load spends less of the 2 cores. Every loop is bounded by
 * a count and a deadline; every wait on the network by a timeout.
 */
import WebSocket from 'ws';
import { scenarioOf } from '../lib/scenarios.mjs';
import { announceReady, sendEvent, serveRequests } from '../../scripts/lib/child-ipc-serve.mjs';

const OPEN_TIMEOUT_MS = 15_000;
const ECHO_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 15_000;
const PING = 'ping';

function zeroMask(mask) {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Problems seen by the clients: a count and the first messages. */
class Problems {
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

/** Resolves on the first of `events` of `ws` (with the event name and args), or rejects after `ms`. */
function waitEvent(ws, events, ms, what) {
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
 * Open connection number i and have one message echoed. Resolves
 * { ws, sc, closed } once open (closed resolves with the client's close
 * code); `opened` is called as soon as the handshake completed. Rejects with
 * err.beforeOpen = true when the handshake failed.
 */
async function openConnection(url, i, opened) {
  const sc = scenarioOf(i);
  const ws = new WebSocket(`${url}/soak/${i}`, { perMessageDeflate: false, generateMask: zeroMask });
  let lastError;
  ws.on('error', (err) => (lastError = err));
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  let first;
  try {
    first = await waitEvent(ws, ['open', 'close'], OPEN_TIMEOUT_MS, `open #${i}`);
  } catch (err) {
    ws.terminate();
    throw Object.assign(err, { beforeOpen: true });
  }
  if (first.event !== 'open') {
    throw Object.assign(new Error(`open #${i} failed: ${lastError?.message ?? `closed ${first.args[0]}`}`), { beforeOpen: true });
  }
  opened(sc);
  ws.send(PING);
  const echo = await waitEvent(ws, ['message', 'close'], ECHO_TIMEOUT_MS, `echo #${i}`).catch((err) => ({ event: 'timeout', err }));
  if (echo.event !== 'message' || String(echo.args[0]) !== PING) {
    ws.terminate();
    throw new Error(`#${i} (${sc.key}): no echo (${echo.event}${echo.err ? `: ${echo.err.message}` : ''})`);
  }
  return { ws, sc, i, closed };
}

/** Close connection c the way its scenario says; resolves with a problem message or undefined. */
async function closeConnection(c) {
  const { ws, sc, i } = c;
  if (sc.by === 'server') ws.send(sc.command);
  else if (sc.code === 'terminate') ws.terminate();
  else if (sc.code === undefined) ws.close();
  else ws.close(sc.code);
  let timer;
  const code = await Promise.race([c.closed, new Promise((r) => (timer = setTimeout(() => r('timeout'), CLOSE_TIMEOUT_MS)))]);
  clearTimeout(timer);
  if (code === 'timeout') {
    ws.terminate();
    return `#${i} (${sc.key}): no close within ${CLOSE_TIMEOUT_MS} ms`;
  }
  if (code !== sc.clientSees) return `#${i} (${sc.key}): the client saw close code ${code}, expected ${sc.clientSees}`;
  return undefined;
}

/** Held connections (open until `release`). */
let held = [];
const heldEarlyCloses = new Problems();

/** The churn in progress: its checkpoint gate, and how to open it. */
let gate;
let resumeChurn;

serveRequests({
  /** Open `count` connections numbered from `startIndex`, at most `concurrency` handshakes at a time, and keep them. */
  async hold({ url, count, concurrency, startIndex, deadlineMs }) {
    const deadline = Date.now() + deadlineMs;
    const tallies = {};
    const openErrors = new Problems();
    const problems = new Problems();
    let next = 0;
    let opened = 0;
    const t0 = performance.now();
    const loop = async () => {
      while (next < count && Date.now() < deadline) {
        const i = startIndex + next++;
        try {
          const c = await openConnection(url, i, (sc) => {
            opened++;
            tallies[sc.key] = (tallies[sc.key] ?? 0) + 1;
          });
          c.early = c.closed.then((code) => {
            if (!c.releasing) heldEarlyCloses.add(`held #${i} closed early with ${code}`);
          });
          held.push(c);
        } catch (err) {
          (err.beforeOpen ? openErrors : problems).add(err.message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop));
    return { requested: count, attempted: next, opened, held: held.length, openErrors, problems, tallies, seconds: (performance.now() - t0) / 1000, deadlineHit: next < count };
  },

  /** One echoed message on every held connection. */
  async pingHeld({ concurrency = 500 }) {
    const problems = new Problems();
    let alive = 0;
    let next = 0;
    const t0 = performance.now();
    const loop = async () => {
      while (next < held.length) {
        const c = held[next++];
        if (c.ws.readyState !== WebSocket.OPEN) {
          problems.add(`held #${c.i} not open (state ${c.ws.readyState})`);
          continue;
        }
        c.ws.send(PING);
        const echo = await waitEvent(c.ws, ['message', 'close'], ECHO_TIMEOUT_MS, `ping #${c.i}`).catch((err) => ({ event: 'timeout', err }));
        if (echo.event === 'message' && String(echo.args[0]) === PING) alive++;
        else problems.add(`held #${c.i}: no echo (${echo.event})`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, held.length) }, loop));
    return { held: held.length, alive, problems, earlyCloses: heldEarlyCloses, seconds: (performance.now() - t0) / 1000 };
  },

  /**
   * Exactly `count` connections numbered from `startIndex`, `concurrency` at
   * a time, each opened, echoed and closed by its scenario. At each number of
   * `checkpoints` started, new connections wait until the ones in flight are
   * done, a 'checkpoint' event goes to the runner, and the churn goes on at
   * its `resume`. Stops at `deadlineMs` (deadlineHit).
   */
  async churn({ url, count, concurrency, startIndex, checkpoints, deadlineMs, progressMs = 1000 }) {
    const deadline = Date.now() + deadlineMs;
    const tallies = {};
    const openErrors = new Problems();
    const problems = new Problems();
    let started = 0;
    let completed = 0;
    let inFlight = 0;
    let cp = 0;
    let pausedMs = 0;
    let deadlineHit = false;
    const t0 = performance.now();
    const progress = setInterval(() => sendEvent('progress', { started, completed, inFlight, seconds: (performance.now() - t0) / 1000 }), progressMs);
    const announce = () => {
      gate.announced = true;
      sendEvent('checkpoint', { at: checkpoints[cp], completed, tallies: { ...tallies }, openErrors: openErrors.count, problems: problems.count, seconds: (performance.now() - t0 - pausedMs) / 1000 });
    };
    const loop = async () => {
      for (;;) {
        if (Date.now() > deadline) {
          deadlineHit = true;
          return;
        }
        if (started >= count) return;
        if (cp < checkpoints.length && started >= checkpoints[cp]) {
          if (!gate) {
            let release;
            gate = { promise: new Promise((r) => (release = r)), release, announced: false, since: performance.now() };
          }
          if (inFlight === 0 && !gate.announced) announce();
          await gate.promise;
          continue;
        }
        const i = startIndex + started++;
        inFlight++;
        try {
          const c = await openConnection(url, i, (sc) => (tallies[sc.key] = (tallies[sc.key] ?? 0) + 1));
          const problem = await closeConnection(c);
          if (problem) problems.add(problem);
        } catch (err) {
          if (err.beforeOpen) {
            openErrors.add(err.message);
            await sleep(5);
          } else problems.add(err.message);
        } finally {
          inFlight--;
          completed++;
          if (gate && inFlight === 0 && !gate.announced) announce();
        }
      }
    };
    resumeChurn = () => {
      if (!gate) return false;
      pausedMs += performance.now() - gate.since;
      cp++;
      const g = gate;
      gate = undefined;
      g.release();
      return true;
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop));
    } finally {
      clearInterval(progress);
      resumeChurn = undefined;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { requested: count, started, completed, openErrors, problems, tallies, seconds, pausedSeconds: pausedMs / 1000, deadlineHit };
  },

  /** Go on after a checkpoint. */
  resume() {
    return { resumed: resumeChurn?.() ?? false };
  },

  /** Close every held connection by its scenario, at most `concurrency` at a time. */
  async release({ concurrency, deadlineMs }) {
    const deadline = Date.now() + deadlineMs;
    const sockets = held;
    held = [];
    const problems = new Problems();
    let next = 0;
    let closed = 0;
    const t0 = performance.now();
    const loop = async () => {
      while (next < sockets.length && Date.now() < deadline) {
        const c = sockets[next++];
        c.releasing = true;
        if (c.ws.readyState !== WebSocket.OPEN) {
          problems.add(`held #${c.i} was not open at release (state ${c.ws.readyState})`);
          continue;
        }
        const problem = await closeConnection(c);
        if (problem) problems.add(problem);
        else closed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, sockets.length) }, loop));
    // Whatever the deadline left open is ended now (and reported).
    for (let k = next; k < sockets.length; k++) {
      sockets[k].releasing = true;
      sockets[k].ws.terminate();
      problems.add(`held #${sockets[k].i} not released before the deadline`);
    }
    return { released: sockets.length, closed, problems, earlyCloses: heldEarlyCloses, seconds: (performance.now() - t0) / 1000, deadlineHit: next < sockets.length };
  },
});
announceReady();
