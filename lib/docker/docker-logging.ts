import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { DockerLogSize, assertLogSize } from './units';

/** Where a Fluentd forward input listens (a FluentdDaemonSet, an aggregator, or a host agent). */
export interface FluentdEndpoint {
  /** `host:port` or `tcp://host:port` of the forward input. */
  readonly address: string;
}

/** Log rotation of the file-based drivers. */
export interface FileLogging {
  /** `json-file` (what `docker logs` and log shippers read) or `local` (compressed, Docker-internal format). */
  readonly driver: 'json-file' | 'local';
  /**
   * Size at which a log file is rotated (`k`, `m` or `g` unit).
   * @default '10m' (see docs/practice.md#log-rotation)
   */
  readonly maxSize?: DockerLogSize;
  /**
   * Rotated files kept per container; the oldest is deleted beyond it.
   * @default 5 (see docs/practice.md#log-rotation)
   */
  readonly maxFile?: number;
  /**
   * Compress rotated files (json-file only; `local` always compresses).
   * @default - the driver's default (json-file: false)
   */
  readonly compress?: boolean;
}

/** Logs shipped to Fluentd by the `fluentd` driver. */
export interface FluentdLogging {
  readonly driver: 'fluentd';
  /** The Fluentd forward input, as a `host:port` string or a typed endpoint. */
  readonly fluentd: string | FluentdEndpoint;
  /**
   * Tag of every record; Docker expands `{{.Name}}`, `{{.ImageName}}` and friends.
   * @default 'docker.{{.Name}}'
   */
  readonly tag?: string;
  /**
   * Buffer in the daemon instead of blocking containers when Fluentd is unreachable.
   * @default true (a logging outage must not stop the applications)
   */
  readonly async?: boolean;
}

/** The daemon's default logging. */
export type DaemonLogging = FileLogging | FluentdLogging;

// Rotate at 10 MB, keep 5 files: at most 50 MB of logs per container (docs/practice.md#log-rotation).
export const DEFAULT_LOG_MAX_SIZE: DockerLogSize = '10m';
export const DEFAULT_LOG_MAX_FILE = 5;
export const DEFAULT_FLUENTD_TAG = 'docker.{{.Name}}';
/** `host:port` or `tcp://host:port` of a Fluentd forward input. */
export const FLUENTD_ADDRESS = /^(tcp:\/\/)?[A-Za-z0-9.-]+:\d{1,5}$/;

/** The `log-opts` of a logging choice, every default applied. */
export function logOptions(logging: DaemonLogging): Record<string, string> {
  if (logging.driver === 'fluentd') {
    const address = typeof logging.fluentd === 'string' ? logging.fluentd : logging.fluentd.address;
    return {
      'fluentd-address': address,
      'fluentd-async': String(logging.async ?? true),
      tag: logging.tag ?? DEFAULT_FLUENTD_TAG,
    };
  }
  const opts: Record<string, string> = {
    'max-file': String(logging.maxFile ?? DEFAULT_LOG_MAX_FILE),
    'max-size': logging.maxSize ?? DEFAULT_LOG_MAX_SIZE,
  };
  if (logging.compress !== undefined) opts.compress = String(logging.compress);
  return opts;
}

/** The `logging` section a container or Swarm service uses for a daemon logging choice. */
export function loggingOptions(logging: DaemonLogging): { driver: string; options: Record<string, string> } {
  return { driver: logging.driver, options: logOptions(logging) };
}

/** Validates a logging choice for a scope other than the daemon (Swarm services, containers). */
export function validateLogging(scope: ErrorScope, field: string, logging: DaemonLogging): void {
  if (logging.driver === 'json-file' || logging.driver === 'local') {
    assertLogSize(scope, `${field}.maxSize`, logging.maxSize ?? DEFAULT_LOG_MAX_SIZE);
    assertInteger(scope, `${field}.maxFile`, logging.maxFile ?? DEFAULT_LOG_MAX_FILE, 1, 1000);
  } else {
    const fluentd = (logging as FluentdLogging).fluentd;
    const address = typeof fluentd === 'string' ? fluentd : fluentd?.address;
    if (logging.driver !== 'fluentd' || !address || !FLUENTD_ADDRESS.test(address)) {
      throw new ShipshapeError(scope, { problem: `${field}.fluentd must be the host:port of a Fluentd forward input`, value: address, fix: 'pass e.g. "fluentd:24224" or a typed Fluentd endpoint' });
    }
  }
}
