import * as fc from 'fast-check';

/**
 * `fc.sample` with a seed a failure can name: put `${seed}` in the assertion's message, and
 * `SHIPSHAPE_PROPERTY_SEED=<seed>` draws the same sample again.
 */
export function seededSample<T>(arbitrary: fc.Arbitrary<T>, numRuns: number): { values: T[]; seed: number } {
  const fixed = process.env.SHIPSHAPE_PROPERTY_SEED;
  const seed = fixed ? Number(fixed) : (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
  return { values: fc.sample(arbitrary, { numRuns, seed }), seed };
}
