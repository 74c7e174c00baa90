import { expect } from 'vitest';
import { ShipshapeError, SynthesizedStack } from '../../lib';
import { validateManifest } from '../support/schema';

/** Every object validates against its schema and the policy finds nothing. */
export function expectValidAndClean(result: SynthesizedStack): void {
  for (const o of result.objects) validateManifest(o.manifest);
  expect(result.problems).toEqual([]);
}

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
