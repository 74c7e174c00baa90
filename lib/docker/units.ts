import { ErrorScope, ShipshapeError } from '../core/errors';
import { GO_DURATION } from '../core/validate';

// Docker's log-opt sizes: a number with an optional k/m/g unit (json-file and local drivers, go-units RAMInBytes).
const LOG_SIZE = /^([1-9]\d*)([kmg])?$/;
// Memory sizes in compose files: bytes, or a number with b/k/m/g (and the KiB-style spellings compose accepts).
const BYTE_SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|m|mb|g|gb|kib|mib|gib)?$/i;
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/**
 * A duration as Docker, compose and the registry parse it (Go `time.ParseDuration`): a sequence of numbers
 * with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), such as `'10s'`, `'1m30s'`, `'500ms'` or `'168h'`.
 */
export type DockerDuration = string;

/** A Go duration string such as `10s`, `1m30s` or `168h` (same as {@link DockerDuration}). */
export type GoDuration = DockerDuration;

/**
 * A memory size as compose and `docker service create --limit-memory` take it: a number with an optional unit
 * `b`, `k`, `m` or `g` (any case; `kb`/`kib` spellings accepted), binary multiples: `'512M'` is 512 MiB.
 */
export type DockerByteSize = string;

/** A log-file size as the `json-file` and `local` log drivers take it: a whole number with `k`, `m` or `g` (`'10m'`). */
export type DockerLogSize = string;

/** CPUs as Docker counts them (`--cpus`, compose `cpus`): cores, fractions allowed (`0.5` is half a core). */
export type DockerCpus = number;

/** Throws unless `value` is a log-opt size (`10m`, `512k`, `1g`); returns it. */
export function assertLogSize(scope: ErrorScope, field: string, value: string): string {
  if (typeof value !== 'string' || !LOG_SIZE.test(value)) {
    throw new ShipshapeError(scope, {
      problem: `${field} must be a positive whole number with an optional k, m or g unit, as Docker's log drivers parse it`,
      value,
      fix: `set ${field} to e.g. "10m"`,
    });
  }
  return value;
}

/** Bytes of a log-opt size. */
export function logSizeBytes(value: string): number {
  const m = LOG_SIZE.exec(value)!;
  return Number(m[1]) * SIZE_UNIT[m[2] ?? ''];
}

/** Throws unless `value` is a memory size compose accepts (`256M`, `1g`, `512mb`); returns it. */
export function assertByteSize(scope: ErrorScope, field: string, value: string): string {
  if (typeof value !== 'string' || !BYTE_SIZE.test(value) || byteSize(value) <= 0) {
    throw new ShipshapeError(scope, { problem: `${field} must be a positive size such as "256M" or "1G"`, value, fix: `set ${field} to a number with a b, k, m or g unit` });
  }
  return value;
}

/** Bytes of a memory size. */
export function byteSize(value: string): number {
  const m = BYTE_SIZE.exec(value)!;
  return Math.round(Number(m[1]) * SIZE_UNIT[(m[2] ?? '').toLowerCase()]);
}

/** Throws unless `value` is a Go duration (`10s`, `1m30s`); returns it. */
export function assertDuration(scope: ErrorScope, field: string, value: string, allowZero = true): string {
  if (typeof value !== 'string' || !GO_DURATION.test(value) || (!allowZero && durationMs(value) === 0)) {
    throw new ShipshapeError(scope, {
      problem: `${field} must be a ${allowZero ? '' : 'non-zero '}Go duration such as "10s", "1m30s" or "500ms"`,
      value,
      fix: `set ${field} to a number followed by ns, us, ms, s, m or h`,
    });
  }
  return value;
}

/** Milliseconds of a Go duration. */
export function durationMs(value: string): number {
  let total = 0;
  for (const m of value.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_UNIT_MS[m[2]];
  return total;
}

/** Nanoseconds of a Go duration, as the Docker API wants them. */
export function durationNs(value: string): number {
  return Math.round(durationMs(value) * 1e6);
}

/** Throws unless `value` is an absolute http(s) URL without a path beyond `/`; returns it without a trailing slash. */
export function assertRegistryUrl(scope: ErrorScope, field: string, value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ShipshapeError(scope, {
      problem: `${field} must be an http:// or https:// URL naming only a host and port (no path, query or credentials)`,
      value,
      fix: `write e.g. "https://registry-1.docker.io" or "http://10.0.0.5:5000"; credentials come from a secret`,
    });
  }
  return `${url.protocol}//${url.host}`;
}
