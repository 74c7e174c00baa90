import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Environment } from '../core/environment';
import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertPinnedImage as assertPinnedReference, parseImageReference } from '../core/validate';

// Shared building blocks of the logging constructs (not exported from the library).

/** A memory quantity in MiB, e.g. `512Mi`. */
export function mebibytes(size: Size): kplus.k8s.Quantity {
  return kplus.k8s.Quantity.fromString(`${size.toMebibytes({ rounding: 1 })}Mi`);
}

/** Requests and limits: CPU request only (CPU limits throttle), memory request = limit (no overcommit of the JVM or Ruby heap). */
export function resources(cpuMillis: number, memory: Size, memoryRequest: Size = memory): kplus.k8s.ResourceRequirements {
  return {
    requests: { cpu: kplus.k8s.Quantity.fromString(`${cpuMillis}m`), memory: mebibytes(memoryRequest) },
    limits: { memory: mebibytes(memory) },
  };
}

/** The restricted-profile container security context for a non-root user. */
export function nonRootContainer(uid: number, readOnlyRootFilesystem: boolean): kplus.k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
  };
}

/** Throws unless the image has a pinned tag or digest. */
export function assertPinnedImage(scope: ErrorScope, field: string, image: string): string {
  return assertPinnedReference(scope, field, image, 'docker.elastic.co/elasticsearch/elasticsearch:8.15.3');
}

/** The tag of an image (`8.15.3`), or undefined for digest-only references. */
export function imageTag(image: string): string | undefined {
  return parseImageReference(image)?.tag;
}

/** Preferred hostname anti-affinity on the pod's own labels: replicas land on different nodes when they can. */
export function preferredAntiAffinity(selector: Record<string, string>): kplus.k8s.Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{
        weight: 100,
        podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { ...selector } } },
      }],
    },
  };
}

/** Required hostname anti-affinity on the pod's own labels: no two replicas on one node; a replica waits Pending instead. */
export function requiredAntiAffinity(selector: Record<string, string>): kplus.k8s.Affinity {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { ...selector } } }],
    },
  };
}

/** A soft zone spread when the environment has two or more zones. */
export function zoneSpread(environment: Environment, selector: Record<string, string>): kplus.k8s.TopologySpreadConstraint[] | undefined {
  if (environment.zones.length < 2) return undefined;
  return [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...selector } } }];
}

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
    throw new ShipshapeError(scope, { problem: 'credentialsRevision must be 1-63 letters, digits, ".", "_" or "-", starting and ending with a letter or digit', value, fix: 'use e.g. "2" or "2024-05-01", and bump it whenever a password in the credentials Secret changes' });
  }
  return value;
}
