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
