import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertPinnedImage } from '../core/images';
import { assertDnsLabel, assertInteger } from '../core/names';
import { assertContainerResources, cpuMillicores, durationSeconds } from '../core/quantities';
import { RUNTIME_DEFAULT_SECCOMP, withRestrictedSecurityContext } from '../core/security';
import { INT32_MAX, isDns1123Label } from '../core/validate';

// What every pod of an AntiAffinityDeployment gets whatever its props: resources the scheduler can place by, the
// restricted security context on every container, the runtime's seccomp profile, no construct-path label, and a
// shutdown that outlasts endpoint propagation.

/** Main-container resources when none are given: small, with the memory limit the policy wants and no CPU limit (CPU limits throttle latency-sensitive services). */
export const DEFAULT_RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(100) },
  memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) },
};
// Enough ReplicaSets to roll back a few releases without cluttering `kubectl get rs` (Kubernetes keeps 10).
const DEFAULT_REVISION_HISTORY_LIMIT = 5;
// Kubernetes' default grace period.
const DEFAULT_GRACE_PERIOD_SECONDS = 30;
// A pod that must wait minutes for endpoints to converge has a routing problem a sleep will not fix.
const MAX_PRE_STOP_DELAY_SECONDS = 120;

/** Throws unless `resources` are positive amounts with each request at most its limit; returns them. */
export function checkResources(scope: ErrorScope, field: string, resources: kplus.ContainerResources): kplus.ContainerResources {
  assertContainerResources(scope, field, resources);
  const request = resources.memory?.request?.toMebibytes({ rounding: 1 });
  const limit = resources.memory?.limit?.toMebibytes({ rounding: 1 });
  if (request !== undefined && limit !== undefined && request > limit) {
    throw new ShipshapeError(scope, {
      problem: `${field}.memory.request (${request}Mi) is above the limit (${limit}Mi)`,
      value: { request, limit },
      fix: 'make the memory request ≤ the memory limit',
    });
  }
  const cpuRequest = resources.cpu?.request === undefined ? undefined : cpuMillicores(scope, `${field}.cpu.request`, resources.cpu.request, { allowZero: true });
  const cpuLimit = resources.cpu?.limit === undefined ? undefined : cpuMillicores(scope, `${field}.cpu.limit`, resources.cpu.limit, { allowZero: true });
  if (cpuRequest !== undefined && cpuLimit !== undefined && cpuRequest > cpuLimit) {
    throw new ShipshapeError(scope, {
      problem: `${field}.cpu.request (${cpuRequest}m) is above the limit (${cpuLimit}m)`,
      value: { request: cpuRequest, limit: cpuLimit },
      fix: 'make the CPU request ≤ the CPU limit',
    });
  }
  return resources;
}

/** The main container, hardened: the restricted security context and checked resources (DEFAULT_RESOURCES unless given). */
export function hardenMainContainer(scope: ErrorScope, container: kplus.ContainerProps): kplus.ContainerProps {
  return withRestrictedSecurityContext({ ...container, resources: checkResources(scope, 'resources', container.resources ?? DEFAULT_RESOURCES) });
}

/** An init or sidecar container, hardened like the main one after its image is checked. */
export function hardenExtraContainer(scope: ErrorScope, field: string, container: kplus.ContainerProps): kplus.ContainerProps {
  assertPinnedImage(scope, `${field}.image`, container.image);
  return withRestrictedSecurityContext({ ...container, resources: checkResources(scope, `${field}.resources`, container.resources ?? DEFAULT_RESOURCES) });
}

/**
 * The API server refuses container names that are not DNS labels and names repeated anywhere in the pod (init
 * containers included); cdk8s-plus names an unnamed container "main" and refuses probes on init containers
 * with a plain Error, so all of it is checked here first.
 */
export function checkExtraContainers(scope: ErrorScope, mainName: string, initContainers: kplus.ContainerProps[], sidecars: kplus.ContainerProps[]): void {
  const seen = new Map<string, string>([[mainName, 'name']]);
  const fields = [...initContainers.map((c, i) => [c, `initContainers[${i}]`] as const), ...sidecars.map((c, i) => [c, `sidecars[${i}]`] as const)];
  for (const [container, field] of fields) {
    if (container.name !== undefined && !isDns1123Label(container.name)) {
      throw new ShipshapeError(scope, {
        problem: `${field}.name is not a valid container name: it must be an RFC 1123 label`,
        value: container.name,
        fix: 'use 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit (e.g. "log-shipper")',
      });
    }
    const effective = container.name ?? 'main';
    const other = seen.get(effective);
    if (other !== undefined) {
      throw new ShipshapeError(scope, {
        problem: `${field} is named "${effective}" like ${other}, and the API server refuses two containers of one pod with the same name`,
        value: container.name,
        fix: `give ${field} a name of its own${container.name === undefined ? ' (an unnamed container is called "main")' : ''}`,
      });
    }
    seen.set(effective, field);
  }
  for (const [i, init] of initContainers.entries()) {
    const probes = (['liveness', 'readiness', 'startup'] as const).filter((p) => init[p] !== undefined);
    if (probes.length > 0) {
      throw new ShipshapeError(scope, {
        problem: `initContainers[${i}] has a ${probes.join(' and a ')} probe, but init containers run to completion and take no probes`,
        value: probes,
        fix: `remove ${probes.map((p) => `initContainers[${i}].${p}`).join(' and ')}, or make it a sidecar`,
      });
    }
  }
}

/** How a pod stops: the grace period and the optional delay before SIGTERM, in whole seconds. */
export interface Shutdown {
  readonly terminationGracePeriod: Duration;
  /** The `preStop` hook that keeps the container serving for the delay, when there is one. */
  readonly lifecycle?: kplus.ContainerLifecycle;
}

/** The grace period covers the preStop delay and the application's shutdown, so it must outlast the delay. */
export function resolveShutdown(scope: ErrorScope, gracePeriod: Duration | undefined, preStopDelay: Duration | undefined): Shutdown {
  const grace = (fallback: number) => durationSeconds(scope, 'terminationGracePeriod', gracePeriod ?? Duration.seconds(fallback), 0);
  if (preStopDelay === undefined) return { terminationGracePeriod: Duration.seconds(grace(DEFAULT_GRACE_PERIOD_SECONDS)) };
  const delay = durationSeconds(scope, 'preStopDelay', preStopDelay, 1, MAX_PRE_STOP_DELAY_SECONDS);
  const total = grace(delay + DEFAULT_GRACE_PERIOD_SECONDS);
  if (total <= delay) {
    throw new ShipshapeError(scope, {
      problem: `terminationGracePeriod ${total} s does not outlast preStopDelay ${delay} s: the grace period starts before the delay, so the container would be killed before or right after it gets SIGTERM`,
      value: { terminationGracePeriod: `${total} s`, preStopDelay: `${delay} s` },
      fix: `set terminationGracePeriod to at least Duration.seconds(${delay}) plus the application's shutdown time (e.g. Duration.seconds(${delay + DEFAULT_GRACE_PERIOD_SECONDS})), or omit it for that default`,
    });
  }
  return { terminationGracePeriod: Duration.seconds(total), lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(delay)]) } };
}

/** Pod-template settings cdk8s-plus has no prop for, written as patches on the Deployment. */
export interface PodTemplatePatches {
  /** @default 5 */
  readonly revisionHistoryLimit?: number;
  /** @default - the cluster default */
  readonly priorityClassName?: string;
  /** @default [] */
  readonly imagePullSecrets?: readonly string[];
}

/**
 * Drops cdk8s-plus' construct-path pod label, sets the revision history, priority class and image pull Secrets,
 * and adds the runtime's seccomp profile the restricted Pod Security Standard wants.
 */
export function patchPodTemplate(scope: ErrorScope, deployment: kplus.Deployment, patches: PodTemplatePatches): void {
  const podSpec = ApiObject.of(deployment);
  // cdk8s-plus labels pods with a value derived from the construct path; nothing here selects by it, and
  // keeping it would roll every pod whenever a construct is renamed.
  podSpec.addJsonPatch(JsonPatch.remove(`/spec/template/metadata/labels/${kplus.Pod.ADDRESS_LABEL.replace('/', '~1')}`));
  podSpec.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', assertInteger(scope, 'revisionHistoryLimit', patches.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT, 0, INT32_MAX)));
  podSpec.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { ...RUNTIME_DEFAULT_SECCOMP }));
  if (patches.priorityClassName !== undefined) {
    podSpec.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', assertDnsLabel(scope, 'priorityClassName', patches.priorityClassName)));
  }
  if (patches.imagePullSecrets !== undefined && patches.imagePullSecrets.length > 0) {
    podSpec.addJsonPatch(
      JsonPatch.add(
        '/spec/template/spec/imagePullSecrets',
        patches.imagePullSecrets.map((name) => ({ name })),
      ),
    );
  }
}
