import { ErrorScope, ShipshapeError } from './errors';
import { assertDnsLabel, assertInteger } from './names';
import { SHARED_OUTPUT_FOLDERS } from './output-file';
import { INT32_MAX, assertLabels, labelValueProblem, qualifiedNameProblem } from './validate';

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
  /** Group name; also the value of the `instancegroup` label (`webapi`, `batch`; docs/practice.md#node-groups). */
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

/**
 * The Kubernetes cluster an environment's objects are applied to: its API server URL, or the name the cluster
 * was registered under in Argo CD (`argocd cluster add <context> --name prod-eu`).
 */
export type ClusterDestination = { readonly server: string } | { readonly name: string };

/** How changes reach the environment's cluster. */
export interface DeliverySettings {
  /**
   * `automated`: every change merged to the GitOps branch is applied (Argo CD automated sync with prune and
   * self-heal). `manual`: changes wait until someone syncs them, the approval step prod needs.
   * @default 'manual' (Argo CD's own default: nothing changes a cluster unless asked)
   */
  readonly sync?: 'automated' | 'manual';
}

/**
 * Who runs the cluster's control plane. `kubeadm`, `cluster-api` (a KubeadmControlPlane) and `self-managed` (any
 * other installer, e.g. systemd units) run etcd on nodes of their own, where a backup can reach it; `eks`, `gke`
 * and `aks` run it for you and give no access to etcd, its certificates or its nodes.
 */
export type ControlPlaneKind = 'kubeadm' | 'cluster-api' | 'self-managed' | 'eks' | 'gke' | 'aks';

/** The control-plane kinds whose etcd is run by the cloud provider, out of the cluster's reach. */
export const MANAGED_CONTROL_PLANES: readonly ControlPlaneKind[] = ['eks', 'gke', 'aks'];
const CONTROL_PLANE_KINDS: readonly ControlPlaneKind[] = ['kubeadm', 'cluster-api', 'self-managed', ...MANAGED_CONTROL_PLANES];

/** The cluster's control plane. */
export interface ControlPlane {
  /** Who runs it; decides what can reach etcd (see {@link ControlPlaneKind}). */
  readonly kind: ControlPlaneKind;
  /**
   * Control-plane nodes, each with an etcd member (kubeadm's stacked etcd). Only for the self-managed kinds: a
   * managed control plane has no nodes of yours.
   * @default 1 for kubeadm, cluster-api and self-managed
   */
  readonly nodes?: number;
}

/** Whether the cluster runs the Prometheus Operator, and the labels its selectors match. */
export interface MonitoringSettings {
  /**
   * Whether the cluster runs the Prometheus Operator (its CRDs are installed): ServiceMonitors and PrometheusRules
   * are written only then, since applying one without its CRD fails the whole sync.
   * @default - true when prometheusLabels is given, else false
   */
  readonly prometheusOperator?: boolean;
  /**
   * Labels the operator's serviceMonitorSelector and ruleSelector match; every ServiceMonitor and PrometheusRule
   * of the environment carries them unless its construct is given others.
   * @default DEFAULT_PROMETHEUS_LABELS ({ release: 'kube-prometheus-stack' })
   */
  readonly prometheusLabels?: Record<string, string>;
}

/** The label kube-prometheus-stack's rule and ServiceMonitor selectors match (its chart's default release name). */
export const DEFAULT_PROMETHEUS_LABELS: Readonly<Record<string, string>> = Object.freeze({ release: 'kube-prometheus-stack' });

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
  /**
   * The cluster the environment deploys to, `{ server: 'https://…' }` or `{ name: 'prod-eu' }` (an Argo CD
   * cluster name). Argo CD Applications and AppProjects point at it, and synth refuses two environments on the
   * same cluster that would both own one object. Required when more than one environment is delivered through
   * Argo CD: they would otherwise all land in the cluster Argo CD runs in and overwrite each other.
   * @default - not stated: Argo CD deploys to the cluster it runs in (https://kubernetes.default.svc), which is allowed for a single Argo CD environment only
   */
  readonly cluster?: ClusterDestination;
  /**
   * How changes reach the cluster (manual or automated sync).
   * @default { sync: 'manual' }
   */
  readonly delivery?: DeliverySettings;
  /**
   * Who runs the control plane, and on how many nodes. Constructs that reach into the control plane (EtcdBackup)
   * need it, and refuse what the kind makes impossible (an etcd snapshot on EKS, an IRSA role off EKS).
   * @default - not stated: constructs that depend on it refuse to guess
   */
  readonly controlPlane?: ControlPlane;
  /**
   * The cluster's Prometheus Operator, if any: where it runs, shipshape writes ServiceMonitors for workloads that
   * declare a metrics port and PrometheusRules beside the plain rules files, all with its selector labels.
   * @default - no Prometheus Operator: plain rules files and scrape annotations only
   */
  readonly monitoring?: MonitoringSettings;
}

/** Namespaces the cluster owns; an environment's Namespace object must never claim (and relabel) one. */
export const RESERVED_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const TAINT_EFFECTS: readonly string[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

// cdk8s-plus-27 emits the Kubernetes 1.27 API surface; older clusters lack parts of it.
const MIN_KUBERNETES_MINOR = 27;
// One replica is down during a node failure; two is the smallest set that survives one (docs/practice.md#anti-affinity-and-zone-spread).
const DEFAULT_REPLICAS = 2;
const KUBERNETES_VERSION = /^1\.(\d+)(\.\d+)?$/;
/** The API server URL Argo CD uses for the cluster it runs in; its cluster name there is `in-cluster`. */
export const IN_CLUSTER_SERVER = 'https://kubernetes.default.svc';
const CLUSTER_SERVER = /^https:\/\/([A-Za-z0-9.-]+)(:\d{1,5})?(\/[^\s]*)?$/;
// Argo CD takes any cluster name; these are the ones that survive a label, a file name and a URL.
const CLUSTER_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

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
  /** The cluster the environment deploys to, when stated. */
  public readonly cluster?: ClusterDestination;
  /** How changes reach the cluster. */
  public readonly delivery: Required<DeliverySettings>;
  /** The control plane, when stated; `nodes` is filled in for the self-managed kinds. */
  public readonly controlPlane?: ControlPlane;
  /** Whether the cluster runs the Prometheus Operator; its selector labels when it does. */
  public readonly monitoring: Readonly<{ prometheusOperator: boolean; prometheusLabels?: Readonly<Record<string, string>> }>;

  constructor(props: EnvironmentProps) {
    const path = `environment:${props.name}`;
    this.name = assertDnsLabel(path, 'name', props.name);
    if ((SHARED_OUTPUT_FOLDERS as readonly string[]).includes(this.name)) {
      throw new ShipshapeError(path, {
        problem: `"${this.name}" is a folder synth writes for every environment (dist/${this.name}/), so this environment's files would mix into it`,
        value: this.name,
        fix: 'give the environment another name; set namespace if the namespace must keep this name',
      });
    }
    this.namespace = assertDnsLabel(path, 'namespace', props.namespace ?? props.name);
    if (RESERVED_NAMESPACES.includes(this.namespace)) {
      throw new ShipshapeError(path, {
        problem: `namespace "${this.namespace}" belongs to the cluster itself: the environment's Namespace object would relabel it (pod-security enforce) and its workloads would mix with the control plane's`,
        value: this.namespace,
        fix: `choose a namespace of the environment's own (e.g. "${this.name === this.namespace ? 'apps' : this.name}"); cluster add-ons that belong in kube-system put themselves there`,
      });
    }
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
    this.replicas = assertInteger(path, 'replicas', props.replicas ?? DEFAULT_REPLICAS, 1, INT32_MAX);
    if (props.autoscaling) {
      validateAutoscaling(path, props.autoscaling.minReplicas, props.autoscaling.maxReplicas);
      this.autoscaling = Object.freeze({ ...props.autoscaling });
    }
    this.cluster = validateCluster(path, props.cluster, props.kubernetesVersion);
    const sync = props.delivery?.sync ?? 'manual';
    if (sync !== 'automated' && sync !== 'manual') {
      throw new ShipshapeError(path, { problem: "delivery.sync must be 'automated' or 'manual'", value: sync, fix: "set delivery: { sync: 'automated' } or { sync: 'manual' }" });
    }
    this.delivery = Object.freeze({ sync });
    this.controlPlane = validateControlPlane(path, props.controlPlane, this.cluster, props.kubernetesVersion);
    this.monitoring = validateMonitoring(path, props.monitoring, props.kubernetesVersion);
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
        const labels = assertLabels(groupPath, 'labels', group.labels ?? { instancegroup: group.name });
        if (Object.keys(labels).length === 0) {
          throw new ShipshapeError(groupPath, { problem: 'a node group needs at least one label to be selected by', value: labels, fix: `omit labels to get { instancegroup: "${group.name}" }` });
        }
        for (const [i, taint] of (group.taints ?? []).entries()) validateTaint(`${groupPath}/taints[${i}]`, taint);
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
    return this.kubernetesMinorFor(`environment:${this.name}`);
  }

  /**
   * The Kubernetes minor version for a construct that needs one; throws a ShipshapeError naming `scope` (the
   * construct's path) for a Docker/Swarm-only environment.
   */
  public kubernetesMinorFor(scope: ErrorScope): number {
    if (this.minor === undefined) {
      throw new ShipshapeError(scope, {
        problem: `a Kubernetes construct was added, but environment "${this.name}" has no Kubernetes cluster`,
        value: this.kubernetesVersion,
        fix: 'set kubernetesVersion on the environment, or keep Kubernetes constructs out of this Docker/Swarm-only stack',
      });
    }
    return this.minor;
  }

  /**
   * A key equal for two environments exactly when their stated clusters are the same (`in-cluster` and
   * https://kubernetes.default.svc are one; host names compare case-insensitively, port 443 is implied);
   * `undefined` when no cluster is stated.
   */
  public get clusterKey(): string | undefined {
    return this.cluster === undefined ? undefined : clusterKey(this.cluster);
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

/** Comparable form of a cluster destination: `server:<normalized URL>` or `name:<name>`. */
export function clusterKey(cluster: ClusterDestination): string {
  if ('name' in cluster) return cluster.name === 'in-cluster' ? `server:${IN_CLUSTER_SERVER}` : `name:${cluster.name}`;
  const m = CLUSTER_SERVER.exec(cluster.server)!;
  const port = m[2] === ':443' ? '' : (m[2] ?? '');
  return `server:https://${m[1].toLowerCase()}${port}${(m[3] ?? '').replace(/\/+$/, '')}`;
}

/** Human form of a destination, as written in Argo CD: the server URL or the cluster name. */
export function describeCluster(cluster: ClusterDestination): string {
  return 'server' in cluster ? cluster.server : `Argo CD cluster "${cluster.name}"`;
}

function validateCluster(path: string, cluster: ClusterDestination | undefined, kubernetesVersion: string | undefined): ClusterDestination | undefined {
  if (cluster === undefined) return undefined;
  const fix = "set cluster: { server: 'https://<API server>' } or { name: '<Argo CD cluster name>' }";
  if (kubernetesVersion === undefined) {
    throw new ShipshapeError(path, {
      problem: 'cluster is set on an environment without a Kubernetes cluster (no kubernetesVersion)',
      value: cluster,
      fix: 'set kubernetesVersion, or remove cluster from this Docker/Swarm-only environment',
    });
  }
  const server = (cluster as { server?: unknown }).server;
  const name = (cluster as { name?: unknown }).name;
  if ((server === undefined) === (name === undefined)) {
    throw new ShipshapeError(path, { problem: 'cluster needs exactly one of server and name', value: cluster, fix });
  }
  if (server !== undefined && (typeof server !== 'string' || !CLUSTER_SERVER.test(server) || /@/.test(server) || !parsesAsServerUrl(server))) {
    throw new ShipshapeError(path, {
      problem: 'cluster.server must be the https URL of a Kubernetes API server, without credentials',
      value: server,
      fix: "use e.g. 'https://prod.k8s.example.com:6443' (Argo CD's own cluster is 'https://kubernetes.default.svc')",
    });
  }
  if (name !== undefined && (typeof name !== 'string' || !CLUSTER_NAME.test(name))) {
    throw new ShipshapeError(path, {
      problem: 'cluster.name must be the name of a cluster registered in Argo CD (letters, digits, ".", "_", "-")',
      value: name,
      fix: "use e.g. 'prod-eu', as given to argocd cluster add --name",
    });
  }
  return Object.freeze(server !== undefined ? { server: server as string } : { name: name as string });
}

// The pattern admits ports 0 and 65536–99999, and names the WHATWG URL parser refuses; Argo CD and later checks parse the URL.
function parsesAsServerUrl(server: string): boolean {
  const port = CLUSTER_SERVER.exec(server)?.[2];
  if (port !== undefined && (Number(port.slice(1)) < 1 || Number(port.slice(1)) > 65535)) return false;
  try {
    return new URL(server).protocol === 'https:';
  } catch {
    return false;
  }
}

// API server host names of the managed services that have one (GKE's endpoint is a bare IP address).
const MANAGED_API_HOSTS: ReadonlyArray<[RegExp, ControlPlaneKind]> = [
  [/\.eks\.amazonaws\.com(\.cn)?$/, 'eks'],
  [/\.azmk8s\.io$/, 'aks'],
];

function validateControlPlane(path: string, controlPlane: ControlPlane | undefined, cluster: ClusterDestination | undefined, kubernetesVersion: string | undefined): ControlPlane | undefined {
  if (controlPlane === undefined) return undefined;
  const kind = controlPlane?.kind;
  if (kubernetesVersion === undefined) {
    throw new ShipshapeError(path, {
      problem: 'controlPlane is set on an environment without a Kubernetes cluster (no kubernetesVersion)',
      value: controlPlane,
      fix: 'set kubernetesVersion, or remove controlPlane from this Docker/Swarm-only environment',
    });
  }
  if (!CONTROL_PLANE_KINDS.includes(kind)) {
    throw new ShipshapeError(path, {
      problem: `controlPlane.kind must be one of ${CONTROL_PLANE_KINDS.join(', ')}`,
      value: kind,
      fix: "set controlPlane: { kind: 'kubeadm', nodes: 3 } for a kubeadm cluster, or { kind: 'eks' } for EKS",
    });
  }
  const managed = MANAGED_CONTROL_PLANES.includes(kind);
  if (managed && controlPlane.nodes !== undefined) {
    throw new ShipshapeError(path, {
      problem: `controlPlane.nodes is set, but a ${kind} control plane runs on the provider's machines, not on nodes of the cluster`,
      value: controlPlane.nodes,
      fix: `remove nodes from controlPlane: { kind: '${kind}' }`,
    });
  }
  const server = cluster && 'server' in cluster ? new URL(cluster.server).hostname.toLowerCase() : undefined;
  const hosted = server === undefined ? undefined : MANAGED_API_HOSTS.find(([host]) => host.test(server))?.[1];
  if (hosted !== undefined && hosted !== kind) {
    throw new ShipshapeError(path, {
      problem: `cluster.server ${server} is an ${hosted.toUpperCase()} API endpoint, but controlPlane.kind is '${kind}'`,
      value: controlPlane,
      fix: `set controlPlane: { kind: '${hosted}' }, or point cluster at the ${kind} cluster's API server`,
    });
  }
  if (managed) return Object.freeze({ kind });
  return Object.freeze({ kind, nodes: assertInteger(path, 'controlPlane.nodes', controlPlane.nodes ?? 1, 1) });
}

function validateMonitoring(path: string, monitoring: MonitoringSettings | undefined, kubernetesVersion: string | undefined): Environment['monitoring'] {
  const operator = monitoring?.prometheusOperator ?? monitoring?.prometheusLabels !== undefined;
  if (typeof operator !== 'boolean') {
    throw new ShipshapeError(path, {
      problem: 'monitoring.prometheusOperator must be true or false',
      value: operator,
      fix: 'set monitoring: { prometheusOperator: true } where the cluster runs the Prometheus Operator',
    });
  }
  if (!operator && monitoring?.prometheusLabels !== undefined) {
    throw new ShipshapeError(path, {
      problem: 'monitoring.prometheusLabels are set but monitoring.prometheusOperator is false, so no object would carry them',
      value: monitoring.prometheusLabels,
      fix: 'set prometheusOperator: true, or drop prometheusLabels',
    });
  }
  if (!operator) return Object.freeze({ prometheusOperator: false });
  if (kubernetesVersion === undefined) {
    throw new ShipshapeError(path, {
      problem: 'monitoring.prometheusOperator is set on an environment without a Kubernetes cluster (no kubernetesVersion)',
      value: monitoring,
      fix: 'set kubernetesVersion, or remove monitoring from this Docker/Swarm-only environment',
    });
  }
  const labels = assertLabels(path, 'monitoring.prometheusLabels', monitoring?.prometheusLabels ?? DEFAULT_PROMETHEUS_LABELS);
  return Object.freeze({ prometheusOperator: true, prometheusLabels: Object.freeze({ ...labels }) });
}

/**
 * A taint's key must be a qualified name and its effect one of the three: a toleration built from an empty
 * key tolerates every taint, and one without an effect matches every effect.
 */
function validateTaint(path: string, taint: NodeTaint): void {
  const keyProblem = qualifiedNameProblem(taint?.key);
  if (keyProblem)
    throw new ShipshapeError(path, {
      problem: `a taint key must be a label key: ${keyProblem}`,
      value: taint?.key,
      fix: 'use the key the nodes are tainted with, e.g. "instancegroup" or "example.com/dedicated"',
    });
  if (taint.value !== undefined) {
    const valueProblem = labelValueProblem(taint.value);
    if (valueProblem)
      throw new ShipshapeError(path, { problem: `a taint value must be a label value: ${valueProblem}`, value: taint.value, fix: 'use the value the nodes are tainted with, or omit value' });
  }
  if (!TAINT_EFFECTS.includes(taint.effect)) {
    throw new ShipshapeError(path, { problem: `a taint effect must be one of ${TAINT_EFFECTS.join(', ')}`, value: taint.effect, fix: "set effect to 'NoSchedule', 'PreferNoSchedule' or 'NoExecute'" });
  }
}

/** Shared min/max check for HPA bounds, used by environments and workloads. */
export function validateAutoscaling(path: string, minReplicas: number, maxReplicas: number): void {
  assertInteger(path, 'autoscaling.minReplicas', minReplicas, 1, INT32_MAX);
  assertInteger(path, 'autoscaling.maxReplicas', maxReplicas, 1, INT32_MAX);
  if (minReplicas > maxReplicas) {
    throw new ShipshapeError(path, {
      problem: `autoscaling.minReplicas ${minReplicas} is greater than autoscaling.maxReplicas ${maxReplicas}`,
      value: { minReplicas, maxReplicas },
      fix: 'make minReplicas ≤ maxReplicas',
    });
  }
}
