/**
 * Interleaved rounds: every round runs each variant once, in an order that
 * rotates from round to round, so that a noisy neighbour or a slow drift hits
 * all variants alike. Paired per-round ratios come from the same round.
 */

/**
 * Run `variants` ({ name, run: async (round) => sample }) for `rounds` rounds, or
 * fewer if `deadline` (a performance.now() time) passes first (at least one
 * round always runs). `warmupRounds` rounds run first and are discarded: a
 * Node process needs thousands of connections before its JIT settles.
 * Returns { samples: { [name]: sample[] }, rounds }.
 */
export async function runInterleaved(variants, { rounds, deadline = Infinity, warmupRounds = 0 }) {
  for (let r = 0; r < warmupRounds; r++) for (const v of variants) await v.run(-1 - r);
  const samples = Object.fromEntries(variants.map((v) => [v.name, []]));
  let done = 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0 && performance.now() > deadline) break;
    const shift = r % variants.length;
    const order = [...variants.slice(shift), ...variants.slice(0, shift)];
    if (r % 2 === 1) order.reverse(); // ABBA-style: no variant always runs right after the same one
    for (const v of order) samples[v.name].push(await v.run(r));
    done++;
  }
  return { samples, rounds: done };
}

/** `{ [name]: samples }` to `{ [name]: values }`, `valueOf` applied to each round's sample. */
export function mapSamples(samples, valueOf) {
  return Object.fromEntries(Object.entries(samples).map(([name, results]) => [name, results.map(valueOf)]));
}

/** Per-round a/b (same round index), skipping rounds where either is missing. */
export function pairRatios(a, b) {
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) out.push(a[i] / b[i]);
  return out;
}

/** Per-round a-b. */
export function pairDifferences(a, b) {
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) out.push(a[i] - b[i]);
  return out;
}
