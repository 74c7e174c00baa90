import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertMountPaths, configMapKeyProblem, isDns1123Subdomain } from '../core/validate';
import type { UpdateStrategy } from './anti-affinity-deployment';

// Volumes a workload mounts by name: claims, ConfigMaps and Secrets created elsewhere (a storage class, a secret
// manager, another stack). Each is mounted in the main container only, so a sidecar never reads a Secret it was
// not given.

/** How the nodes may attach a PersistentVolume, as its claim's `accessModes` says. */
export type VolumeAccessMode = 'ReadWriteOnce' | 'ReadWriteOncePod' | 'ReadOnlyMany' | 'ReadWriteMany';

/** Where a volume is mounted. */
interface MountTarget {
  /** Absolute directory in the main container; must not lie under or over another mount or a `writablePaths` entry. */
  readonly mountPath: string;
}

/** A PersistentVolumeClaim, by name, mounted in the main container. */
export interface PersistentVolumeClaimMount extends MountTarget {
  /** Name of the claim, in the workload's namespace. */
  readonly persistentVolumeClaim: string;
  /**
   * Mount the volume read-only.
   * @default false (true when accessMode is 'ReadOnlyMany')
   */
  readonly readOnly?: boolean;
  /**
   * The claim's access mode, as created. shipshape cannot read a claim it did not create, so it assumes the mode
   * of the clouds' default block storage; the workload spreads its pods over nodes, and a ReadWriteOnce volume
   * attaches to one node at a time, so more than one pod (or a rolling update that adds a surge pod) needs a
   * claim that several nodes can mount: declare 'ReadWriteMany' (EFS, Filestore, Azure Files, NFS) or
   * 'ReadOnlyMany' (read-only).
   * @default 'ReadWriteOnce' (the mode of the default storage classes of EKS, GKE and AKS)
   */
  readonly accessMode?: VolumeAccessMode;
}

/** Keys of a ConfigMap or Secret mounted as files. */
interface KeyFiles {
  /**
   * Keys to mount, each to a file path relative to the mount path (`{ 'app.properties': 'app.properties' }`).
   * @default - every key, as a file named after it
   */
  readonly items?: Record<string, string>;
  /**
   * Whether the pod starts when the object (or a listed key) is missing.
   * @default false
   */
  readonly optional?: boolean;
}

/** A ConfigMap mounted read-only in the main container, one file per key. */
export interface ConfigMapMount extends MountTarget, KeyFiles {
  /** The ConfigMap, by name or as a construct. */
  readonly configMap: string | kplus.IConfigMap;
}

/**
 * A Secret mounted read-only in the main container, one file per key, readable by its owner and group only (mode
 * 0400, which the kubelet widens to 0440 owned by the pod's `fsGroup`): the workload needs an `fsGroup` for a
 * non-root user to read it.
 */
export interface SecretMount extends MountTarget, KeyFiles {
  /** The Secret, by name or as a construct. */
  readonly secret: string | kplus.ISecret;
}

/** A volume of the main container: a PersistentVolumeClaim, a ConfigMap or a Secret. */
export type WorkloadVolume = PersistentVolumeClaimMount | ConfigMapMount | SecretMount;

// Owner read only: a Secret's files are credentials. The kubelet adds group read for the pod's fsGroup, so the
// container's user reads them through that group (kubelet SetVolumeOwnership).
const SECRET_FILE_MODE = 0o400;
// The modes whose volume a single node attaches (Kubernetes' access modes).
const SINGLE_NODE_MODES: ReadonlySet<VolumeAccessMode> = new Set(['ReadWriteOnce', 'ReadWriteOncePod']);
const ACCESS_MODES: readonly VolumeAccessMode[] = ['ReadWriteOnce', 'ReadWriteOncePod', 'ReadOnlyMany', 'ReadWriteMany'];
/** The access mode assumed for a claim shipshape did not create: that of the default storage classes of EKS, GKE and AKS. */
export const DEFAULT_ACCESS_MODE: VolumeAccessMode = 'ReadWriteOnce';

/** Whether a volume of this access mode attaches to one node at a time. */
export function attachesToOneNode(mode: VolumeAccessMode): boolean {
  return SINGLE_NODE_MODES.has(mode);
}

// The access mode each workload declared for each claim it mounts (undefined: not declared), for a workload that
// mounts the same claim to compare with: the manifest names the claim only.
const DECLARED_MODES = new WeakMap<Construct, Map<string, VolumeAccessMode | undefined>>();

/** The access mode `workload` declared for `claim` (undefined when it did not declare one or does not mount it). */
export function declaredAccessMode(workload: Construct, claim: string): VolumeAccessMode | undefined {
  return DECLARED_MODES.get(workload)?.get(claim);
}

/** What the pods of the workload look like where it matters to its volumes. */
export interface VolumeContext {
  /** Most pods the workload runs at once, surge aside. */
  readonly maxReplicas: number;
  /** How pods are replaced: a rolling update may start a surge pod on another node. */
  readonly strategy: UpdateStrategy;
  /**
   * The pod's fsGroup, through which a non-root user reads Secret files.
   * @default - none: Secret mounts are refused
   */
  readonly fsGroup?: number;
  /** The emptyDir paths, which the volumes must not overlap. */
  readonly writablePaths: readonly string[];
}

type VolumeSource = 'persistentVolumeClaim' | 'configMap' | 'secret';
// Volume names are DNS labels: the kind, in lower case, and the position.
const VOLUME_NAME_PREFIX: Record<VolumeSource, string> = { persistentVolumeClaim: 'pvc', configMap: 'configmap', secret: 'secret' };

/** The one source a volume names, or undefined when it names none or several. */
function sourceOf(v: unknown): VolumeSource | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const kinds = (['persistentVolumeClaim', 'configMap', 'secret'] as const).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
  return kinds.length === 1 ? kinds[0] : undefined;
}

function objectName(scope: Construct, field: string, ref: unknown, example: string): string {
  if (!isDns1123Subdomain(ref)) {
    throw new ShipshapeError(scope, {
      problem: `${field} must name an object in the workload's namespace: a lower-case DNS subdomain of at most 253 characters`,
      value: ref,
      fix: `use the object's name, e.g. "${example}"`,
    });
  }
  return ref;
}

function checkItems(scope: Construct, field: string, items: Record<string, string> | undefined): Record<string, kplus.PathMapping> | undefined {
  if (items === undefined) return undefined;
  const entries = Object.entries(items);
  if (entries.length === 0) throw new ShipshapeError(scope, { problem: `${field} lists no key, so nothing would be mounted`, value: items, fix: `leave ${field} out to mount every key` });
  const seen = new Set<string>();
  for (const [key, path] of entries) {
    const keyProblem = configMapKeyProblem(key);
    if (keyProblem) throw new ShipshapeError(scope, { problem: `${field} has an invalid key: ${keyProblem}`, value: key, fix: 'name the key as it is in the object, e.g. "app.properties"' });
    const segments = typeof path === 'string' ? path.split('/') : [];
    if (typeof path !== 'string' || path === '' || path.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..') || path.startsWith('..')) {
      throw new ShipshapeError(scope, {
        problem: `${field}["${key}"] must be a file path relative to the mount path, without "." or ".." segments`,
        value: path,
        fix: `write e.g. "${key}" or "conf/${key}"`,
      });
    }
    if (seen.has(path)) throw new ShipshapeError(scope, { problem: `${field} maps two keys to "${path}"`, value: items, fix: 'give every key a file of its own' });
    seen.add(path);
  }
  return Object.fromEntries(entries.map(([key, path]) => [key, { path }]));
}

/** Throws unless no path lies under another (a mount hides what an earlier one put there). */
function checkNesting(scope: Construct, paths: readonly { path: string; field: string }[]): void {
  for (const a of paths) {
    const inner = paths.find((b) => b !== a && b.path.startsWith(`${a.path}/`));
    if (inner) {
      throw new ShipshapeError(scope, {
        problem: `${inner.field} mounts "${inner.path}" inside ${a.field} at "${a.path}"; nested mounts depend on mount order and hide files of the outer volume`,
        value: [a.path, inner.path],
        fix: 'mount each volume at a directory of its own, side by side (e.g. "/data" and "/cache")',
      });
    }
  }
}

function surgeAllowed(strategy: UpdateStrategy): boolean {
  return strategy.type === 'RollingUpdate' && strategy.maxSurge !== 0 && strategy.maxSurge !== '0%';
}

function checkClaim(scope: Construct, field: string, v: PersistentVolumeClaimMount, context: VolumeContext): { readOnly: boolean } {
  const accessMode = v.accessMode ?? DEFAULT_ACCESS_MODE;
  if (!ACCESS_MODES.includes(accessMode)) {
    throw new ShipshapeError(scope, { problem: `${field}.accessMode must be one of ${ACCESS_MODES.join(', ')}`, value: v.accessMode, fix: "write the claim's access mode, e.g. 'ReadWriteMany'" });
  }
  if (accessMode === 'ReadOnlyMany' && v.readOnly === false) {
    throw new ShipshapeError(scope, {
      problem: `${field} is a ReadOnlyMany claim mounted writable`,
      value: { accessMode, readOnly: v.readOnly },
      fix: "leave readOnly out (a ReadOnlyMany claim is mounted read-only), or declare accessMode: 'ReadWriteMany'",
    });
  }
  if (attachesToOneNode(accessMode)) {
    const assumed = v.accessMode === undefined ? ' (assumed: shipshape cannot see the access mode of a claim it did not create)' : '';
    const alternatives =
      "use storage several nodes can mount and declare it (accessMode: 'ReadWriteMany', or 'ReadOnlyMany' for read-only data), give each pod its own volume (a StatefulSet with volumeClaimTemplates)";
    if (context.maxReplicas > 1) {
      throw new ShipshapeError(scope, {
        problem: `${field} mounts claim "${v.persistentVolumeClaim}" as ${accessMode}${assumed} in up to ${context.maxReplicas} pods spread over nodes, but a ${accessMode} volume attaches to one node${accessMode === 'ReadWriteOncePod' ? ' and one pod' : ''} at a time: the other pods hang in ContainerCreating (Multi-Attach error), read-only or not`,
        value: { persistentVolumeClaim: v.persistentVolumeClaim, accessMode, replicas: context.maxReplicas },
        fix: `${alternatives}, or run one replica with strategy { type: 'Recreate' }`,
      });
    }
    if (surgeAllowed(context.strategy)) {
      throw new ShipshapeError(scope, {
        problem: `${field} mounts claim "${v.persistentVolumeClaim}" as ${accessMode}${assumed}, and the rolling update starts the new pod before the old one stops: on another node it cannot attach the volume and the rollout hangs`,
        value: { persistentVolumeClaim: v.persistentVolumeClaim, accessMode, strategy: context.strategy },
        fix: `set strategy: { type: 'Recreate' } (or a rolling update with maxSurge: 0 and maxUnavailable: 1), or ${alternatives}`,
      });
    }
  }
  return { readOnly: accessMode === 'ReadOnlyMany' || v.readOnly === true };
}

/**
 * Mounts the volumes in `container` after checking them: object names, mount paths (absolute, distinct, not
 * nested in each other or in the writable paths), keys, the claims' access modes against the replicas and the
 * update strategy, and an fsGroup for Secret files. Volume names are the kind and position (`pvc-0`,
 * `configmap-1`, `secret-2`): valid, stable, and apart from the `writable-<n>` emptyDirs.
 */
export function mountVolumes(scope: Construct, container: kplus.Container, volumes: readonly WorkloadVolume[], context: VolumeContext): void {
  if (!Array.isArray(volumes)) throw new ShipshapeError(scope, { problem: 'volumes must be a list', value: volumes, fix: "write volumes as [{ mountPath: '/data', persistentVolumeClaim: 'data' }]" });
  const kinds = volumes.map((v, i) => {
    const kind = sourceOf(v);
    if (kind === undefined) {
      throw new ShipshapeError(scope, {
        problem: `volumes[${i}] must name exactly one of persistentVolumeClaim, configMap or secret`,
        value: v,
        fix: "write e.g. { mountPath: '/etc/app', configMap: 'app-config' }",
      });
    }
    return kind;
  });
  const paths = [...context.writablePaths.map((path, i) => ({ path, field: `writablePaths[${i}]` })), ...volumes.map((v, i) => ({ path: v.mountPath, field: `volumes[${i}]` }))];
  assertMountPaths(
    scope,
    'volumes[].mountPath and writablePaths',
    paths.map((p) => p.path),
  );
  checkNesting(scope, paths);
  if (context.fsGroup === undefined) {
    const i = kinds.indexOf('secret');
    if (i >= 0) {
      throw new ShipshapeError(scope, {
        problem: `volumes[${i}] mounts a Secret, whose files are owned by root and readable by their owner and group only (mode 0400), so a non-root container can read them only through the pod's fsGroup, which is not set`,
        value: volumes[i].mountPath,
        fix: 'set fsGroup (any group id, e.g. the runAsGroup, or 2000): the kubelet then gives the files that group with read access',
      });
    }
  }
  volumes.forEach((v, i) => {
    const field = `volumes[${i}]`;
    const name = `${VOLUME_NAME_PREFIX[kinds[i]]}-${i}`;
    if ('persistentVolumeClaim' in v && v.persistentVolumeClaim !== undefined) {
      const { readOnly } = checkClaim(scope, field, v, context);
      const declared = DECLARED_MODES.get(scope) ?? new Map<string, VolumeAccessMode | undefined>();
      if (declared.has(v.persistentVolumeClaim)) {
        const first = declared.get(v.persistentVolumeClaim) ?? DEFAULT_ACCESS_MODE;
        if (first !== (v.accessMode ?? DEFAULT_ACCESS_MODE)) {
          throw new ShipshapeError(scope, {
            problem: `${field} declares claim "${v.persistentVolumeClaim}" as ${v.accessMode ?? `${DEFAULT_ACCESS_MODE} (assumed)`}, but an earlier volume declares it as ${first}; a claim has one access mode`,
            value: { persistentVolumeClaim: v.persistentVolumeClaim, accessMode: v.accessMode },
            fix: `declare the claim's real access mode on every volume that mounts it`,
          });
        }
      } else declared.set(v.persistentVolumeClaim, v.accessMode);
      DECLARED_MODES.set(scope, declared);
      const claim = kplus.PersistentVolumeClaim.fromClaimName(scope, `${field}-claim`, objectName(scope, `${field}.persistentVolumeClaim`, v.persistentVolumeClaim, 'shop-data'));
      container.mount(v.mountPath, kplus.Volume.fromPersistentVolumeClaim(scope, field, claim, { name, readOnly }), readOnly ? { readOnly } : {});
    } else if ('configMap' in v && v.configMap !== undefined) {
      const ref = typeof v.configMap === 'string' ? kplus.ConfigMap.fromConfigMapName(scope, `${field}-configmap`, objectName(scope, `${field}.configMap`, v.configMap, 'shop-config')) : v.configMap;
      container.mount(v.mountPath, kplus.Volume.fromConfigMap(scope, field, ref, { name, items: checkItems(scope, `${field}.items`, v.items), optional: v.optional }), { readOnly: true });
    } else {
      const s = v as SecretMount;
      const ref = typeof s.secret === 'string' ? kplus.Secret.fromSecretName(scope, `${field}-secret`, objectName(scope, `${field}.secret`, s.secret, 'shop-db')) : s.secret;
      const options = { name, items: checkItems(scope, `${field}.items`, s.items), optional: s.optional, defaultMode: SECRET_FILE_MODE };
      container.mount(s.mountPath, kplus.Volume.fromSecret(scope, field, ref, options), { readOnly: true });
    }
  });
}
