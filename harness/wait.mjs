/** Waiting without fixed sleeps: on a condition, with a bound, or for an answer with a timeout. */

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms)} ms`)), Math.max(0, ms));
    }),
  ]);
}

/** Poll `check` (sync or async) until it returns true, at most `timeoutMs`; resolves with whether it did. */
export async function pollUntil(check, timeoutMs, intervalMs = 50) {
  const end = Date.now() + Math.max(0, timeoutMs);
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await sleep(intervalMs);
  }
}

/** Poll until `check` returns true; fails after `timeoutMs` with `what` in the message. */
export async function waitFor(check, what, timeoutMs = 5000, intervalMs = 10) {
  if (!(await pollUntil(check, timeoutMs, intervalMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
