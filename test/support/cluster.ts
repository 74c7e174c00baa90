import { expect } from 'vitest';
import { SynthesizedStack } from '../../lib';
import { validateManifest } from './schema';

/** Every object validates against its schema and the policy finds nothing. */
export function expectValidAndClean(result: SynthesizedStack): void {
  for (const o of result.objects) validateManifest(o.manifest);
  expect(result.problems).toEqual([]);
}

export { shipshapeError } from './errors';
