import * as fc from 'fast-check';
import { expect } from 'vitest';
import { ShipshapeError } from '../../lib';

/** Runs `fn` and returns the ShipshapeError it throws (fails when it throws nothing or something else). */
export function shipshapeError(fn: () => unknown): ShipshapeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeError);
    return e as ShipshapeError;
  }
  throw new Error('expected a ShipshapeError, nothing was thrown');
}

/**
 * A property over `arbitrary`: `check` either returns (its own assertions hold) or throws a ShipshapeError, never
 * another error. Each verdict must occur more than `atLeast` times, so that the property cannot pass vacuously.
 */
export function acceptsOrRefuses<T>(arbitrary: fc.Arbitrary<T>, check: (value: T) => void, options: { numRuns: number; atLeast: { accepted: number; refused: number } }): void {
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(arbitrary, (value) => {
      try {
        check(value);
        accepted++;
      } catch (e) {
        if (!(e instanceof ShipshapeError)) throw e;
        refused++;
      }
    }),
    { numRuns: options.numRuns },
  );
  expect(accepted).toBeGreaterThan(options.atLeast.accepted);
  expect(refused).toBeGreaterThan(options.atLeast.refused);
}
