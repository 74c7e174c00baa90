import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { Environment } from '../../core/environment';
import { ErrorScope, ShipshapeError } from '../../core/errors';

/** How the autoscaler picks a node group when several could fit the pending pods (cluster-autoscaler FAQ "What are Expanders?"). */
export type AutoscalerExpander = 'least-waste' | 'most-pods' | 'random' | 'priority' | 'price';

/** Every expander the autoscaler knows, in the order error messages list them. */
export const AUTOSCALER_EXPANDERS: readonly AutoscalerExpander[] = Object.freeze(['least-waste', 'most-pods', 'random', 'priority', 'price']);

/** The expanders every cloud provider implements; a provider adds its own (GCE: 'price'). */
export const COMMON_EXPANDERS: readonly AutoscalerExpander[] = Object.freeze(['least-waste', 'most-pods', 'random', 'priority']);

/** What every cloud's settings carry: the `--cloud-provider` value that selects the {@link AutoscalerProvider}. */
export interface AutoscalerCloudSettings {
  /** The cloud provider, as `--cloud-provider` names it. */
  readonly provider: string;
}

/** A node group the autoscaler scales, resolved against the environment. */
export interface ScaledNodeGroup {
  /** Name of the environment's node group. */
  readonly name: string;
  /** Name of the group in the cloud (ASG, MIG name prefix, VMSS, MachineDeployment). */
  readonly cloudGroupName: string;
  /** Fewest nodes. */
  readonly minSize: number;
  /** Most nodes. */
  readonly maxSize: number;
}

/** What a provider adds to the autoscaler's objects for one set of validated settings. */
export interface AutoscalerCloudConfig {
  /**
   * Flags right after `--cloud-provider` (e.g. `--cloud-config`).
   * @default []
   */
  readonly cloudFlags?: readonly string[];
  /** Flags that name the node groups (`--nodes`, `--node-group-auto-discovery`); never empty. */
  readonly nodeGroupFlags: readonly string[];
  /** Node groups scaled by explicit bounds; empty when the cloud discovers the groups itself. */
  readonly nodeGroups: readonly ScaledNodeGroup[];
  /**
   * Container environment after POD_NAMESPACE and SERVICE_ACCOUNT.
   * @default []
   */
  readonly env?: readonly kplus.k8s.EnvVar[];
  /**
   * ServiceAccount annotations of the cloud identity (IRSA, Workload Identity).
   * @default {}
   */
  readonly serviceAccountAnnotations?: Readonly<Record<string, string>>;
  /**
   * Pod labels beyond the add-on labels (e.g. Azure Workload Identity's opt-in).
   * @default {}
   */
  readonly podLabels?: Readonly<Record<string, string>>;
  /**
   * Pod volumes and the container's mounts of them.
   * @default - none
   */
  readonly volumes?: readonly kplus.k8s.Volume[];
  /** @default - none */
  readonly volumeMounts?: readonly kplus.k8s.VolumeMount[];
}

/**
 * One cloud provider of the cluster-autoscaler: everything that differs between clouds. Adding a cloud is adding
 * a file under `providers/` that implements this interface and one line in the provider table.
 */
export interface AutoscalerProvider<C extends AutoscalerCloudSettings = AutoscalerCloudSettings> {
  /** The `provider` of the settings this provider reads, and the `--cloud-provider` flag value. */
  readonly name: C['provider'];
  /** The cloud's name in messages ("AWS", "Cluster API"). */
  readonly displayName: string;
  /** Expanders the provider implements. */
  readonly expanders: readonly AutoscalerExpander[];
  /**
   * Verbs on `nodes` the autoscaler needs with this provider. The chart grants every provider read and update
   * (scale-down taints) since kubernetes/autoscaler#8647 (chart 9.52.1); only providers that create or delete
   * Node objects themselves (kwok, huaweicloud) need more.
   */
  readonly nodeVerbs: readonly string[];
  /** Throws a ShipshapeError naming `scope` for settings the cloud or the autoscaler would refuse. */
  validate(scope: Construct, cloud: C, environment: Environment): void;
  /** ClusterRole rules beyond the chart's common ones, in the cluster the autoscaler runs in. */
  clusterRoleRules(cloud: C): readonly kplus.k8s.PolicyRule[];
  /**
   * Regular expression the priority expander matches against the node group id of a cloud group: the form of the
   * id depends on the cloud.
   */
  priorityPattern(cloudGroupName: string): string;
  /** The flags, environment, identity and volumes for validated settings and the resolved node groups. */
  bind(scope: Construct, cloud: C, nodeGroups: readonly ScaledNodeGroup[]): AutoscalerCloudConfig;
}

/** The error for an invalid field of the cloud settings. */
export function invalidCloudField(scope: ErrorScope, field: string, value: unknown, fix: string, problem = `cloud.${field} is not valid`): ShipshapeError {
  return new ShipshapeError(scope, { problem, value, fix });
}

/** Throws when there is nothing to scale: the chart silently renders no Deployment then. */
export function assertSomethingToScale(scope: ErrorScope, provider: string, nodeGroups: readonly ScaledNodeGroup[], fix: string): void {
  if (nodeGroups.length > 0) return;
  throw new ShipshapeError(scope, {
    problem: `the ${provider} autoscaler has no node groups and no auto-discovery, so it would scale nothing (the chart silently renders no Deployment in this case)`,
    value: { nodeGroups: [] },
    fix,
  });
}

/** `--nodes=<min>:<max>:<group>` for each group, the static list of the ASG and VMSS providers. */
export function staticNodeGroupFlags(nodeGroups: readonly ScaledNodeGroup[]): string[] {
  return nodeGroups.map((g) => `--nodes=${g.minSize}:${g.maxSize}:${g.cloudGroupName}`);
}

/** `s` as a regular expression that matches exactly `s`. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
