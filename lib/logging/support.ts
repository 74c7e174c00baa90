import * as kplus from 'cdk8s-plus-27';
import { ErrorScope, ShipshapeError } from '../core/errors';

// Shared building blocks of the logging constructs (not exported from the library).

/** An environment variable taken from a Secret key. */
export function secretEnv(name: string, secretName: string, key: string): kplus.k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key } } };
}

/** A plain environment variable. */
export function plainEnv(name: string, value: string): kplus.k8s.EnvVar {
  return { name, value };
}

// A short token users bump (`2`, `2024-05-01`): it goes into a Job name hash and a pod annotation.
const CREDENTIALS_REVISION = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** Throws unless `value` is a credentials revision (1-63 letters, digits, . _ -, starting and ending alphanumeric). */
export function assertCredentialsRevision(scope: ErrorScope, value: string): string {
  if (typeof value !== 'string' || !CREDENTIALS_REVISION.test(value)) {
    throw new ShipshapeError(scope, {
      problem: 'credentialsRevision must be 1-63 letters, digits, ".", "_" or "-", starting and ending with a letter or digit',
      value,
      fix: 'use e.g. "2" or "2024-05-01", and bump it whenever a password in the credentials Secret changes',
    });
  }
  return value;
}
