/** The property tests' runner (test/helpers/property.ts): a failure says how to replay it, and a replay finds the same counterexample. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertAsyncProperty, assertProperty, replayParameters } from './helpers/property.js';

const failing = (): fc.IProperty<[number]> =>
  fc.property(fc.integer({ min: 0, max: 1000 }), (n) => {
    expect(n).toBeLessThan(500);
  });

function failureOf(run: () => void): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('the property did not fail');
}

describe('property runner', () => {
  it('reports the seed, the shrink path, the counterexample and the replay line', () => {
    const err = failureOf(() => assertProperty(failing(), { seed: 42 }));
    expect(err.message).toMatch(/\{ seed: 42, path: "[\d:]+"/);
    expect(err.message).toContain('Counterexample: [500]');
    expect(err.message).toMatch(/replay: FC_SEED=42 FC_PATH=[\d:]+ npx vitest run/);
  });

  it('reports an async failure the same way', async () => {
    // eslint-disable-next-line @typescript-eslint/require-await -- the property under test is an async one
    const prop = fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), async (n) => {
      expect(n).toBeLessThan(500);
    });
    await expect(assertAsyncProperty(prop, { seed: 7 })).rejects.toThrow(/seed: 7, path: "[\d:]+"[\s\S]*replay: FC_SEED=7 FC_PATH=/);
  });

  it('replays a reported seed and path to the same counterexample', () => {
    const first = failureOf(() => assertProperty(failing()));
    const [, seed, path] = /replay: FC_SEED=(-?\d+) FC_PATH=([\d:]+)/.exec(first.message) ?? [];
    expect(seed).toBeDefined();
    const params = replayParameters({}, { FC_SEED: seed, FC_PATH: path });
    expect(params).toEqual({ seed: Number(seed), path, endOnFailure: true });
    const again = failureOf(() => assertProperty(failing(), params));
    expect(again.message).toContain('Counterexample: [500]');
  });

  it('tries the examples first', () => {
    const seen: number[] = [];
    assertProperty(
      fc.property(fc.integer(), (n) => void seen.push(n)),
      { examples: [[123456789]], numRuns: 3 },
    );
    expect(seen[0]).toBe(123456789);
  });

  it('leaves the parameters alone without FC_SEED, and refuses a seed that is not an integer', () => {
    expect(replayParameters({ numRuns: 5 }, {})).toEqual({ numRuns: 5 });
    expect(() => replayParameters({}, { FC_SEED: 'abc' })).toThrow(/FC_SEED must be an integer/);
  });
});
