/**
 * The in-process recording cases' shared pieces (record-close, otel-record):
 * a fixed replay of close codes, initiators and connection ages, and CPU
 * time per call of a hot loop.
 */
import { readOwnCpuNs } from '../../harness/proc.mjs';

/** Replays cycle through this many connections (a power of two minus one, for `i & MASK`). */
export const MASK = 4095;
/** The named code of the replay (as `codes` option). */
export const NAMED = { 4001: 'AUTH_EXPIRED' };

/** A fixed pseudo-random mix: mostly 1000/1001, some abnormal 1006, a few others. */
export function buildWorkload() {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const mix = [
    [1000, 0.55],
    [1001, 0.2],
    [1006, 0.15],
    [1005, 0.04],
    [1011, 0.02],
    [4001, 0.02],
    [1008, 0.01],
    [4403, 0.01],
  ];
  const codes = new Int32Array(MASK + 1);
  const initiators = new Int32Array(MASK + 1);
  const agesMs = new Float64Array(MASK + 1);
  for (let i = 0; i <= MASK; i++) {
    let r = rand();
    let code = 1000;
    for (const [c, p] of mix) {
      if (r < p) {
        code = c;
        break;
      }
      r -= p;
    }
    codes[i] = code;
    initiators[i] = rand() < 0.6 ? 0 : 1;
    agesMs[i] = 10 ** (2 + rand() * 5); // 0.1 s .. 2.8 h, spread over the buckets
  }
  return { codes, initiators, agesMs };
}

/** Iterations of `fn(n)` that take about `ms`, measured after `fn` ran hot for a while (a cold first call would undercount). */
export function calibrate(fn, ms) {
  let n = 1000;
  const warmUntil = performance.now() + ms * 3;
  while (performance.now() < warmUntil) fn(n);
  for (let k = 0; k < 20; k++) {
    const t0 = performance.now();
    fn(n);
    const dt = performance.now() - t0;
    if (dt > ms / 4) return Math.max(1000, Math.round((n * ms) / dt));
    n *= 4;
  }
  return n;
}

/**
 * CPU ns per iteration (process CPU time, so that a busy neighbour's time
 * slices do not count). Each sample starts from a forced gc(); `settle`
 * iterations run untimed after it, for loops that keep a large live heap:
 * after a full collection V8 runs its young generation small for a while
 * and young collections come often, which a loop holding thousands of
 * entries pays for its first tens of thousands of calls (case 10 measured
 * ≈400 ns per call more for a 100,000-call sample without it).
 */
export function timePerCallNs(fn, n, settle = 0) {
  globalThis.gc?.();
  if (settle > 0) fn(settle);
  const t0 = readOwnCpuNs();
  fn(n);
  return (readOwnCpuNs() - t0) / n;
}
