import { CronParse, cronScheduleSurprise, parseCronSchedule } from './cron';
import { ErrorScope, ShipshapeError } from './errors';

// The rules the API server, the container runtime and the CronJob controller apply, so that a value refused
// there is refused here first, in the constructor, with the construct path and the fix.

// k8s.io/apimachinery/pkg/util/validation.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MAX = 253;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUALIFIED_NAME_MAX = 63;
/** The longest label value the API server accepts. */
export const LABEL_VALUE_MAX = 63;
// The API server refuses metadata.annotations larger than this, keys and values together.
const ANNOTATIONS_MAX_BYTES = 256 * 1024;
// IANA_SVC_NAME (RFC 6335), as IsValidPortName checks container and Service port names.
const PORT_NAME_MAX = 15;
const PORT_NAME_CHARSET = /^[-a-z0-9]+$/;

/**
 * The largest value of an int32 field (replicas, HPA bounds, IntOrString counts): the API server decodes a larger
 * JSON number into the field and wraps it (2^31 reads as -2147483648), or refuses it.
 */
export const INT32_MAX = 2 ** 31 - 1;

/** Whether `value` is an RFC 1123 DNS label: most object names, namespaces, label values derived from names. */
export function isDns1123Label(value: unknown): value is string {
  return typeof value === 'string' && value.length <= DNS1123_LABEL_MAX && DNS1123_LABEL.test(value);
}

/** Whether `value` is an RFC 1123 DNS subdomain: ConfigMap, Secret, RBAC and most other object names. */
export function isDns1123Subdomain(value: unknown): value is string {
  return typeof value === 'string' && value.length <= DNS1123_SUBDOMAIN_MAX && DNS1123_SUBDOMAIN.test(value);
}

/** Whether `value` is an RFC 1035 DNS label: Service names, which must start with a letter. */
export function isDns1035Label(value: unknown): value is string {
  return typeof value === 'string' && value.length <= DNS1123_LABEL_MAX && DNS1035_LABEL.test(value);
}

/** Why `key` is not a qualified name (a label or annotation key such as `app.kubernetes.io/name`), or undefined. */
export function qualifiedNameProblem(key: unknown): string | undefined {
  if (typeof key !== 'string' || key === '') return 'a key must be a non-empty string';
  const parts = key.split('/');
  if (parts.length > 2) return 'a key has at most one "/", between the prefix and the name';
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) return `the prefix "${prefix}" must be a lower-case DNS subdomain of at most ${DNS1123_SUBDOMAIN_MAX} characters (e.g. "example.com")`;
  if (name.length > QUALIFIED_NAME_MAX) return `the name part must be at most ${QUALIFIED_NAME_MAX} characters`;
  if (!QUALIFIED_NAME_PART.test(name)) return 'the name part must be letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  return undefined;
}

/**
 * Why `key` cannot be a label or annotation key of an object shipshape renders, or undefined: a qualified name,
 * and not `constructor`, which cdk8s fails to serialize as a map key ("can't render non-simple object").
 */
function metadataKeyProblem(key: unknown): string | undefined {
  return qualifiedNameProblem(key) ?? constructorKeyProblem(key);
}

function constructorKeyProblem(key: unknown): string | undefined {
  return key === 'constructor' ? 'cdk8s cannot serialize an object with the key "constructor"' : undefined;
}

/** As {@link metadataKeyProblem}, for annotation keys: the API server lower-cases those before checking them (label keys it does not). */
function annotationKeyProblem(key: unknown): string | undefined {
  return qualifiedNameProblem(typeof key === 'string' ? key.toLowerCase() : key) ?? constructorKeyProblem(key);
}

/** Why `value` is not a label value, or undefined. */
export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'a label value must be a string';
  if (value.length > LABEL_VALUE_MAX) return `a label value must be at most ${LABEL_VALUE_MAX} characters`;
  if (value !== '' && !QUALIFIED_NAME_PART.test(value)) return 'a label value must be empty or letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  return undefined;
}

/** Why `name` is not a port name (an IANA service name, as IsValidPortName checks it), or undefined. */
export function portNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'a port name must be a non-empty string';
  if (name.length > PORT_NAME_MAX) return `a port name must be at most ${PORT_NAME_MAX} characters`;
  if (!PORT_NAME_CHARSET.test(name)) return 'a port name must consist of lower-case letters, digits and "-"';
  if (!/[a-z]/.test(name)) return 'a port name must contain at least one letter, or it reads as a port number';
  if (name.includes('--')) return 'a port name must not contain consecutive hyphens ("--")';
  if (name.startsWith('-') || name.endsWith('-')) return 'a port name must not begin or end with "-"';
  return undefined;
}

/** Throws unless `name` is a valid port name (1-15 lower-case letters, digits and single "-", with a letter); returns it. */
export function assertPortName(scope: ErrorScope, field: string, name: unknown): string {
  const problem = portNameProblem(name);
  if (problem)
    throw new ShipshapeError(scope, {
      problem: `${field} is not a valid port name: ${problem}`,
      value: name,
      fix: 'use 1-15 lower-case letters, digits and single hyphens with at least one letter, e.g. "http" or "metrics-2"',
    });
  return name as string;
}

// k8s.io/apimachinery IsConfigMapKey: ConfigMap and Secret data keys become file names in a mounted volume.
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;

/** Why `key` is not a ConfigMap (or Secret) data key the API server accepts, or undefined. */
export function configMapKeyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string' || key === '') return 'a key must be a non-empty string';
  if (key.length > DNS1123_SUBDOMAIN_MAX) return `a key must be at most ${DNS1123_SUBDOMAIN_MAX} characters`;
  if (!CONFIG_MAP_KEY.test(key)) return 'a key must consist of letters, digits, "-", "_" or "."';
  // A mounted ConfigMap keeps its files under "..data" and friends; "." and ".." name directories.
  if (key === '.' || key === '..' || key.startsWith('..')) return 'a key must not be "." or ".." or start with "..", which name directories when the ConfigMap is mounted';
  return undefined;
}

function describeMap(value: unknown): [string, unknown][] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return Object.entries(value as Record<string, unknown>);
}

/** Throws unless `labels` is a map of valid label keys to valid label values; returns it. */
export function assertLabels(scope: ErrorScope, field: string, labels: unknown): Record<string, string> {
  const entries = describeMap(labels);
  if (!entries) throw new ShipshapeError(scope, { problem: `${field} must be a map of label keys to values`, value: labels, fix: `write ${field} as { "app.kubernetes.io/part-of": "shop" }` });
  for (const [key, value] of entries) {
    const keyProblem = metadataKeyProblem(key);
    if (keyProblem)
      throw new ShipshapeError(scope, {
        problem: `${field} has an invalid label key: ${keyProblem}`,
        value: key,
        fix: 'use a key such as "team" or "example.com/team" (at most 63 characters after the optional prefix)',
      });
    const valueProblem = labelValueProblem(value);
    if (valueProblem)
      throw new ShipshapeError(scope, {
        problem: `${field}["${key}"] is not a valid label value: ${valueProblem}`,
        value,
        fix: 'shorten the value to 63 characters of letters, digits, "-", "_" or ".", or move free text to an annotation',
      });
  }
  return labels as Record<string, string>;
}

/** Throws unless `value` is a valid label value (at most 63 letters, digits, "-", "_", "."); returns it. */
export function assertLabelValue(scope: ErrorScope, field: string, value: unknown): string {
  const problem = labelValueProblem(value);
  if (problem)
    throw new ShipshapeError(scope, {
      problem: `${field} becomes a label value: ${problem}`,
      value,
      fix: 'use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit (e.g. "frontend")',
    });
  return value as string;
}

/** Throws unless `annotations` is a map of qualified-name keys to string values within the API server's size limit. */
export function assertAnnotations(scope: ErrorScope, field: string, annotations: unknown): Record<string, string> {
  const entries = describeMap(annotations);
  if (!entries) throw new ShipshapeError(scope, { problem: `${field} must be a map of annotation keys to values`, value: annotations, fix: `write ${field} as { "example.com/owner": "team-a" }` });
  let bytes = 0;
  for (const [key, value] of entries) {
    const keyProblem = annotationKeyProblem(key);
    if (keyProblem) throw new ShipshapeError(scope, { problem: `${field} has an invalid annotation key: ${keyProblem}`, value: key, fix: 'use a key such as "eks.amazonaws.com/role-arn"' });
    if (typeof value !== 'string') throw new ShipshapeError(scope, { problem: `${field}["${key}"] must be a string`, value, fix: 'write the annotation value as a string' });
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > ANNOTATIONS_MAX_BYTES)
    throw new ShipshapeError(scope, {
      problem: `${field} total ${bytes} bytes, over the API server's limit of ${ANNOTATIONS_MAX_BYTES}`,
      value: Object.keys(annotations as object),
      fix: 'keep large data in a ConfigMap',
    });
  return annotations as Record<string, string>;
}

/** Throws unless `value` is a DNS-1035 label (a Service name); returns it. */
export function assertDns1035Label(scope: ErrorScope, field: string, value: unknown): string {
  if (!isDns1035Label(value)) {
    throw new ShipshapeError(scope, {
      problem: `${field} names a Service and must be an RFC 1035 label: it must start with a letter`,
      value,
      fix: `use 1-${DNS1123_LABEL_MAX} lower-case letters, digits or '-', starting with a letter and ending with a letter or digit (e.g. "web-api")`,
    });
  }
  return value;
}

// The region names of every AWS partition (aws, aws-cn, aws-us-gov, the ISO partitions, aws-eusc), as the SDKs'
// partition metadata matches them: `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`, `eusc-de-east-1`.
const AWS_REGION = /^[a-z]{2,4}(-[a-z]+)+-\d+$/;

/** Whether `value` is an AWS region name such as `eu-west-1` or `us-gov-west-1`. */
export function isAwsRegion(value: unknown): value is string {
  return typeof value === 'string' && AWS_REGION.test(value);
}

/** Throws unless `value` is an AWS region name (`eu-west-1`); returns it. */
export function assertAwsRegion(scope: ErrorScope, field: string, value: unknown): string {
  if (!isAwsRegion(value)) throw new ShipshapeError(scope, { problem: `${field} must be an AWS region name`, value, fix: 'use a region such as "eu-west-1" or "us-gov-west-1"' });
  return value;
}

/** Go time.Duration strings, as Docker, compose, the registry and Kubernetes components parse them ("10s", "1m30s"). */
export const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/** `schedule` read as the API server reads a new CronJob's: robfig/cron, and no "TZ" anywhere. */
function parseCronJobSchedule(schedule: unknown): CronParse {
  if (typeof schedule !== 'string') return { problem: 'a schedule must be a string' };
  // The API server refuses "TZ" anywhere in a new CronJob's schedule (robfig/cron would take a TZ= prefix).
  if (schedule.includes('TZ')) return { problem: 'a time zone in the schedule is refused by the API server; CronJobs take it in spec.timeZone' };
  return parseCronSchedule(schedule);
}

/** Why `schedule` is not a schedule a CronJob accepts, or undefined. */
export function cronScheduleProblem(schedule: unknown): string | undefined {
  return parseCronJobSchedule(schedule).problem;
}

/** Throws unless `schedule` is a cron schedule the CronJob controller accepts and runs as written; returns it. */
export function assertCronSchedule(scope: ErrorScope, field: string, schedule: unknown): string {
  const parsed = parseCronJobSchedule(schedule);
  if (!parsed.schedule)
    throw new ShipshapeError(scope, {
      problem: `${field} is not a valid cron schedule: ${parsed.problem}`,
      value: schedule,
      fix: 'use five fields such as "0 3 * * MON" or "*/15 * * * *", or a descriptor such as "@daily"',
    });
  const surprise = cronScheduleSurprise(parsed.schedule);
  if (surprise) throw new ShipshapeError(scope, { problem: `${field} would not run as written: ${surprise.problem}`, value: schedule, fix: surprise.fix });
  return schedule as string;
}

/**
 * Throws unless every path is absolute, free of `.`/`..` segments and repeated slashes, and listed once;
 * returns the paths. For volume mount paths, which the API server refuses to repeat in one container.
 */
export function assertMountPaths(scope: ErrorScope, field: string, paths: unknown): string[] {
  if (!Array.isArray(paths)) throw new ShipshapeError(scope, { problem: `${field} must be a list of absolute paths`, value: paths, fix: `write ${field} as e.g. ["/tmp"]` });
  const seen = new Set<string>();
  for (const p of paths) {
    const segments = typeof p === 'string' ? p.split('/').slice(1) : [];
    if (typeof p !== 'string' || !p.startsWith('/') || p === '/' || segments.some((s) => s === '' || s === '.' || s === '..') || /[\s:\\]/.test(p)) {
      throw new ShipshapeError(scope, {
        problem: `${field} entries must be absolute directory paths without ".", "..", empty segments, a trailing "/", spaces or ":"`,
        value: p,
        fix: 'write e.g. "/tmp" or "/var/cache/app"',
      });
    }
    if (seen.has(p)) throw new ShipshapeError(scope, { problem: `${field} lists "${p}" twice, and a container cannot mount two volumes at one path`, value: paths, fix: 'list each path once' });
    seen.add(p);
  }
  return paths as string[];
}
