/**
 * fast-check with a replayable report, for every property test of the suite.
 *
 * A failing run throws fast-check's own report (seed, shrink path and
 * counterexample) followed by the line that replays exactly that run:
 *   FC_SEED=<seed> FC_PATH=<path> npx vitest run <file> -t '<test name>'
 * With FC_SEED set (FC_PATH optional), every property runs from that seed.
 * Counterexamples found once belong in `examples`, so that every later run
 * tries them first, whatever its seed.
 */
import fc from 'fast-check';

/** `params` with FC_SEED / FC_PATH from the environment, when set. */
export function replayParameters<Ts>(params: fc.Parameters<Ts> = {}, env: NodeJS.ProcessEnv = process.env): fc.Parameters<Ts> {
  const seed = env.FC_SEED;
  if (seed === undefined || seed === '') return params;
  const n = Number(seed);
  if (!Number.isInteger(n)) throw new Error(`FC_SEED must be an integer (got ${seed})`);
  const path = env.FC_PATH;
  return { ...params, seed: n, ...(path ? { path, endOnFailure: true } : {}) };
}

function failure(details: fc.RunDetails<unknown>, report: string): Error {
  const replay = `replay: FC_SEED=${details.seed}${details.counterexamplePath ? ` FC_PATH=${details.counterexamplePath}` : ''} npx vitest run <file> -t '<test name>'`;
  const err = new Error(`${report}\n${replay}`);
  if (details.errorInstance !== null) (err as Error & { cause?: unknown }).cause = details.errorInstance;
  return err;
}

/** fc.assert for a synchronous property, with the replay line in its report. */
export function assertProperty<Ts>(property: fc.IProperty<Ts>, params?: fc.Parameters<Ts>): void {
  const details = fc.check(property, replayParameters(params));
  if (details.failed) throw failure(details as fc.RunDetails<unknown>, fc.defaultReportMessage(details) ?? 'property failed');
}

/** fc.assert for an asynchronous property, with the replay line in its report. */
export async function assertAsyncProperty<Ts>(property: fc.IAsyncProperty<Ts>, params?: fc.Parameters<Ts>): Promise<void> {
  const details = await fc.check(property, replayParameters(params));
  if (details.failed) throw failure(details as fc.RunDetails<unknown>, (await fc.asyncDefaultReportMessage(details)) ?? 'property failed');
}
