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
import { announceReady, sendEvent, serveRequests } from '../../harness/ipc-serve.mjs';
import { Problems, WebSocket, closedWithin, inPool, openClient, waitEvent } from '../../harness/load.mjs';
import { sleep } from '../../harness/wait.mjs';
import { scenarioOf } from '../lib/scenarios.mjs';

const OPEN_TIMEOUT_MS = 15_000;
const ECHO_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 15_000;
const PING = 'ping';

/**
 * Open connection number i and have one message echoed. Resolves
 * { ws, sc, closed } once open (closed resolves with the client's close
 * code); `opened` is called as soon as the handshake completed. Rejects with
 * err.beforeOpen = true when the handshake failed.
 */
async function openConnection(url, i, opened) {
  const sc = scenarioOf(i);
  const { ws, closed } = await openClient(`${url}/soak/${i}`, OPEN_TIMEOUT_MS);
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
  const code = await closedWithin(ws, c.closed, CLOSE_TIMEOUT_MS);
  if (code === 'timeout') return `#${i} (${sc.key}): no close within ${CLOSE_TIMEOUT_MS} ms`;
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
    let opened = 0;
    const t0 = performance.now();
    const attempted = await inPool(
      count,
      concurrency,
      async (k) => {
        const i = startIndex + k;
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
      },
      () => Date.now() < deadline,
    );
    return {
      requested: count,
      attempted,
      opened,
      held: held.length,
      openErrors,
      problems,
      tallies,
      seconds: (performance.now() - t0) / 1000,
      deadlineHit: attempted < count,
    };
  },

  /** One echoed message on every held connection. */
  async pingHeld({ concurrency = 500 }) {
    const problems = new Problems();
    let alive = 0;
    const t0 = performance.now();
    await inPool(held.length, concurrency, async (k) => {
      const c = held[k];
      if (c.ws.readyState !== WebSocket.OPEN) {
        problems.add(`held #${c.i} not open (state ${c.ws.readyState})`);
        return;
      }
      c.ws.send(PING);
      const echo = await waitEvent(c.ws, ['message', 'close'], ECHO_TIMEOUT_MS, `ping #${c.i}`).catch((err) => ({ event: 'timeout', err }));
      if (echo.event === 'message' && String(echo.args[0]) === PING) alive++;
      else problems.add(`held #${c.i}: no echo (${echo.event})`);
    });
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
      sendEvent('checkpoint', {
        at: checkpoints[cp],
        completed,
        tallies: { ...tallies },
        openErrors: openErrors.count,
        problems: problems.count,
        seconds: (performance.now() - t0 - pausedMs) / 1000,
      });
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
    let closed = 0;
    const t0 = performance.now();
    const next = await inPool(
      sockets.length,
      concurrency,
      async (k) => {
        const c = sockets[k];
        c.releasing = true;
        if (c.ws.readyState !== WebSocket.OPEN) {
          problems.add(`held #${c.i} was not open at release (state ${c.ws.readyState})`);
          return;
        }
        const problem = await closeConnection(c);
        if (problem) problems.add(problem);
        else closed++;
      },
      () => Date.now() < deadline,
    );
    // Whatever the deadline left open is ended now (and reported).
    for (let k = next; k < sockets.length; k++) {
      sockets[k].releasing = true;
      sockets[k].ws.terminate();
      problems.add(`held #${sockets[k].i} not released before the deadline`);
    }
    return {
      released: sockets.length,
      closed,
      problems,
      earlyCloses: heldEarlyCloses,
      seconds: (performance.now() - t0) / 1000,
      deadlineHit: next < sockets.length,
    };
  },
});
announceReady();
