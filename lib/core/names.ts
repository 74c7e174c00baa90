import { ErrorScope, ShipshapeError } from './errors';
import { isDns1123Label } from './validate';

/** Throws unless `value` is a valid RFC 1123 DNS label (what Kubernetes accepts as a name). */
export function assertDnsLabel(scope: ErrorScope, field: string, value: string): string {
  if (!isDns1123Label(value)) {
    throw new ShipshapeError(scope, {
      problem: `${field} is not a valid Kubernetes name`,
      value,
      fix: `use 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit (e.g. "web-api")`,
    });
  }
  return value;
}

/** Throws unless `value` is an integer within [min, max]. */
export function assertInteger(scope: ErrorScope, field: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    throw new ShipshapeError(scope, { problem: `${field} must be ${range}`, value, fix: `set ${field} to ${range}` });
  }
  return value;
}
