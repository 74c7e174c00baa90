import { ShipshapeError } from './errors';
import { assertDnsLabel, assertInteger } from './names';

/** Container runtime of the cluster's nodes; decides log formats and host paths. */
export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';

/** A taint carried by every node of a node group. */
export interface NodeTaint {
  /** Taint key. */
  readonly key: string;
  /**
   * Taint value.
   * @default - no value
   */
  readonly value?: string;
  /** Taint effect. */
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** A group of identical nodes (an autoscaling group, MIG or VMSS), defined once per environment. */
export interface NodeGroup {
  /** Group name; also the value of the `instancegroup` label the notes use (`webapi`, `batch`). */
  readonly name: string;
  /**
   * Labels every node of the group carries; workloads are steered to the group with them.
   * @default { instancegroup: name }
   */
  readonly labels?: Record<string, string>;
  /**
   * Taints every node of the group carries.
   * @default []
   */
  readonly taints?: readonly NodeTaint[];
  /** Fewest nodes the group runs. */
  readonly minSize: number;
  /** Most nodes the group can grow to. */
  readonly maxSize: number;
  /**
   * Cloud instance type of the nodes.
   * @default - not recorded
   */
  readonly instanceType?: string;
  /**
   * Name of the group in the cloud (AWS Auto Scaling group, GCE managed instance group name prefix,
   * Azure VMSS) when it differs from `name`; the cluster-autoscaler's group list uses it.
   * @default - the group's name
   */
  readonly cloudGroupName?: string;
}

/** A node group with its defaults filled in. */
export interface ResolvedNodeGroup extends NodeGroup {
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly NodeTaint[];
}

/** Replica bounds for workloads that autoscale in an environment. */
export interface AutoscalingSizing {
  /** HPA minReplicas. */
  readonly minReplicas: number;
  /** HPA maxReplicas. */
  readonly maxReplicas: number;
}

/** Everything that differs between dev, stage and prod. */
export interface EnvironmentProps {
  /** Environment name (`dev`, `stage`, `prod`); names the output folder and the environment label. */
  readonly name: string;
  /**
   * Namespace of the environment's application objects.
   * @default - the environment name
   */
  readonly namespace?: string;
  /**
   * Kubernetes version of the cluster, `1.<minor>` or `1.<minor>.<patch>`.
   * @default - none: a Docker/Swarm-only environment, in which Kubernetes constructs are refused
   */
  readonly kubernetesVersion?: string;
  /**
   * Availability zones the nodes are spread over; with two or more, workloads spread across them.
   * @default [] (single zone)
   */
  readonly zones?: string[];
  /**
   * Node groups of the cluster.
   * @default []
   */
  readonly nodeGroups?: NodeGroup[];
  /**
   * Container runtime of the nodes.
   * @default 'containerd' (the default runtime of every managed Kubernetes since 1.24)
   */
  readonly containerRuntime?: ContainerRuntime;
  /**
   * Replicas of a workload that does not say otherwise.
   * @default 2
   */
  readonly replicas?: number;
  /**
   * HPA bounds for workloads that do not say otherwise; `undefined` means no HPA by default.
   * @default - no autoscaling
   */
  readonly autoscaling?: AutoscalingSizing;
}

// cdk8s-plus-27 emits the Kubernetes 1.27 API surface; older clusters lack parts of it.
const MIN_KUBERNETES_MINOR = 27;
// One replica too few survives a node failure; two is the smallest set that does (notes: "replicas 값을 적절히").
const DEFAULT_REPLICAS = 2;
const KUBERNETES_VERSION = /^1\.(\d+)(\.\d+)?$/;

/** A validated, immutable description of one environment. */
export class Environment {
  public readonly name: string;
  public readonly namespace: string;
  /** The cluster's Kubernetes version; `undefined` for a Docker/Swarm-only environment. */
  public readonly kubernetesVersion?: string;
  private readonly minor?: number;
  public readonly zones: readonly string[];
  public readonly nodeGroups: readonly ResolvedNodeGroup[];
  public readonly containerRuntime: ContainerRuntime;
  public readonly replicas: number;
  public readonly autoscaling?: AutoscalingSizing;

  constructor(props: EnvironmentProps) {
    const path = `environment:${props.name}`;
    this.name = assertDnsLabel(path, 'name', props.name);
    this.namespace = assertDnsLabel(path, 'namespace', props.namespace ?? props.name);
    const version = KUBERNETES_VERSION.exec(props.kubernetesVersion ?? '');
    if (props.kubernetesVersion !== undefined && (!version || Number(version[1]) < MIN_KUBERNETES_MINOR)) {
      throw new ShipshapeError(path, {
        problem: `kubernetesVersion must be 1.${MIN_KUBERNETES_MINOR} or newer, written as "1.<minor>"`,
        value: props.kubernetesVersion,
        fix: `set kubernetesVersion to the cluster's version, e.g. "1.29"`,
      });
    }
    this.kubernetesVersion = props.kubernetesVersion;
    this.minor = version ? Number(version[1]) : undefined;
    const zones = props.zones ?? [];
    if (new Set(zones).size !== zones.length || zones.some((z) => !z)) {
      throw new ShipshapeError(path, { problem: 'zones must be distinct, non-empty names', value: zones, fix: 'list each zone once' });
    }
    this.zones = Object.freeze([...zones]);
    this.containerRuntime = props.containerRuntime ?? 'containerd';
    this.replicas = assertInteger(path, 'replicas', props.replicas ?? DEFAULT_REPLICAS, 1);
    if (props.autoscaling) {
      validateAutoscaling(path, props.autoscaling.minReplicas, props.autoscaling.maxReplicas);
      this.autoscaling = Object.freeze({ ...props.autoscaling });
    }
    const seen = new Set<string>();
    this.nodeGroups = Object.freeze(
      (props.nodeGroups ?? []).map((group) => {
        const groupPath = `${path}/nodeGroups/${group.name}`;
        assertDnsLabel(groupPath, 'name', group.name);
        if (seen.has(group.name)) {
          throw new ShipshapeError(groupPath, { problem: 'node group names must be unique', value: group.name, fix: 'rename one of the groups' });
        }
        seen.add(group.name);
        assertInteger(groupPath, 'minSize', group.minSize, 0);
        assertInteger(groupPath, 'maxSize', group.maxSize, 1);
        if (group.minSize > group.maxSize) {
          throw new ShipshapeError(groupPath, {
            problem: `minSize ${group.minSize} is greater than maxSize ${group.maxSize}`,
            value: { minSize: group.minSize, maxSize: group.maxSize },
            fix: 'make minSize ≤ maxSize',
          });
        }
        const labels = group.labels ?? { instancegroup: group.name };
        if (Object.keys(labels).length === 0) {
          throw new ShipshapeError(groupPath, { problem: 'a node group needs at least one label to be selected by', value: labels, fix: `omit labels to get { instancegroup: "${group.name}" }` });
        }
        return Object.freeze({ ...group, labels: Object.freeze({ ...labels }), taints: Object.freeze([...(group.taints ?? [])]) });
      }),
    );
    Object.freeze(this);
  }

  /** Whether the environment has a Kubernetes cluster (a `kubernetesVersion`). */
  public get hasKubernetes(): boolean {
    return this.minor !== undefined;
  }

  /** The Kubernetes minor version, e.g. 29 for `1.29.3`; throws for a Docker/Swarm-only environment. */
  public get kubernetesMinor(): number {
    if (this.minor === undefined) {
      throw new ShipshapeError(`environment:${this.name}`, {
        problem: 'a Kubernetes construct was added, but this environment has no Kubernetes cluster',
        value: this.kubernetesVersion,
        fix: 'set kubernetesVersion on the environment, or keep Kubernetes constructs out of this Docker/Swarm-only stack',
      });
    }
    return this.minor;
  }

  /** The node group called `name`; throws a ShipshapeError naming `scopePath` when there is none. */
  public nodeGroup(name: string, scopePath: string): ResolvedNodeGroup {
    const group = this.nodeGroups.find((g) => g.name === name);
    if (!group) {
      throw new ShipshapeError(scopePath, {
        problem: `node group "${name}" is not defined in environment "${this.name}"`,
        value: name,
        fix: `use one of [${this.nodeGroups.map((g) => g.name).join(', ')}] or add the group to the environment's nodeGroups`,
      });
    }
    return group;
  }
}

/** Shared min/max check for HPA bounds, used by environments and workloads. */
export function validateAutoscaling(path: string, minReplicas: number, maxReplicas: number): void {
  assertInteger(path, 'autoscaling.minReplicas', minReplicas, 1);
  assertInteger(path, 'autoscaling.maxReplicas', maxReplicas, 1);
  if (minReplicas > maxReplicas) {
    throw new ShipshapeError(path, {
      problem: `autoscaling.minReplicas ${minReplicas} is greater than autoscaling.maxReplicas ${maxReplicas}`,
      value: { minReplicas, maxReplicas },
      fix: 'make minReplicas ≤ maxReplicas',
    });
  }
}
