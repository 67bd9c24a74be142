/**
 * The hook's per-connection recording as the in-process cases replay it:
 * performance.now() at open and close, recordOpen, recordClose. Import it
 * through loopCopy(): V8 keeps one set of type feedback (and one optimised
 * body) for all closures made from one function literal, so two variants
 * built from the same literal in one process would share their call sites
 * (a second recorder class makes them polymorphic) and measure each other's
 * feedback. Each copy of this module (its own URL) has its own.
 */
// The hook reads the clock through perf_hooks' object (the `performance` global is a getter, run on every access).
import { performance } from 'node:perf_hooks';
import { MASK } from './close-workload.mjs';

/** `n` connections through `recorder` (anything with recordOpen and recordClose), replaying `workload`. */
export function recordLoop({ codes, initiators, agesMs }, recorder) {
  return (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & MASK;
      const start = performance.now() - agesMs[k]; // the connection "opened" agesMs ago
      recorder.recordOpen();
      recorder.recordClose(codes[k], initiators[k], (performance.now() - start) / 1000);
    }
  };
}

/** recordLoop from a copy of this module of its own (`name` tells the copies apart). */
export async function loopCopy(name) {
  const copy = await import(new URL(`./hook-loop.mjs?copy=${encodeURIComponent(name)}`, import.meta.url).href);
  return copy.recordLoop;
}
