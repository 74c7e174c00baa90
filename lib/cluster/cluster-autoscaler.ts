import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { Environment, ResolvedNodeGroup } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { Stack } from '../core/stack';
import { assertAnnotations, assertPinnedImage, parseImageReference } from '../core/validate';
import { toYaml } from '../core/yaml';
import { assertIrsaAllowed } from './control-plane';
import { KUBE_SYSTEM, addonLabels, addonSelector, isFlagSafe, resources, restrictedContainerSecurityContext } from './support';

/** How the autoscaler picks a node group when several could fit the pending pods (cluster-autoscaler FAQ "What are Expanders?"). */
export type AutoscalerExpander = 'least-waste' | 'most-pods' | 'random' | 'priority' | 'price';

/** Auto Scaling groups found by their tags instead of listed one by one. */
export interface AwsAutoDiscovery {
  /** Cluster name, used in the default tag `k8s.io/cluster-autoscaler/<clusterName>`. */
  readonly clusterName: string;
  /**
   * Tag keys every discovered group carries.
   * @default ['k8s.io/cluster-autoscaler/enabled', 'k8s.io/cluster-autoscaler/<clusterName>'] (the chart's autoDiscovery.tags)
   */
  readonly tags?: string[];
}

/** AWS: Auto Scaling groups. */
export interface AwsAutoscalerCloud {
  readonly provider: 'aws';
  /** Region of the Auto Scaling groups, e.g. `eu-west-1`. */
  readonly region: string;
  /**
   * Find the groups by tags; without it the environment's node groups are listed (`--nodes=min:max:<asg>`).
   * @default - the environment's node groups
   */
  readonly autoDiscovery?: AwsAutoDiscovery;
  /**
   * IAM role assumed through IRSA (`eks.amazonaws.com/role-arn` on the ServiceAccount).
   * @default - none (EKS Pod Identity or the node role)
   */
  readonly roleArn?: string;
}

/** GCE: managed instance groups, each found by its name prefix with the node group's bounds. */
export interface GceAutoscalerCloud {
  readonly provider: 'gce';
  /**
   * Google service account for Workload Identity (`iam.gke.io/gcp-service-account` on the ServiceAccount).
   * @default - none (the node's service account)
   */
  readonly serviceAccount?: string;
}

/** Azure: virtual machine scale sets. */
export interface AzureAutoscalerCloud {
  readonly provider: 'azure';
  /** Subscription of the scale sets. */
  readonly subscriptionId: string;
  /** Resource group of the scale sets (for AKS, the node resource group `MC_...`). */
  readonly resourceGroup: string;
  /**
   * How the autoscaler authenticates: Azure Workload Identity (client id annotation) or a Secret,
   * referenced by name, with the keys `ClientID`, `ClientSecret` and `TenantID` (the chart's keys).
   */
  readonly identity: { readonly workloadIdentityClientId: string } | { readonly credentialsSecret: string };
  /**
   * Find the scale sets by the tags `cluster-autoscaler-enabled=true,cluster-autoscaler-name=<clusterName>`.
   * @default - the environment's node groups (`--nodes=min:max:<vmss>`)
   */
  readonly autoDiscovery?: { readonly clusterName: string };
}

/**
 * A Cluster API management cluster that is not the workload cluster, reached with a kubeconfig from a Secret
 * (the clusterapi provider README: "autoscaler running in workload cluster using service account credentials,
 * with separate management cluster", `--cloud-config=<kubeconfig>`).
 */
export interface ClusterApiManagementCluster {
  /**
   * Secret in kube-system of the workload cluster holding the management cluster's kubeconfig. The kubeconfig
   * must carry its credentials (a token or a client certificate): the autoscaler image is distroless, so exec
   * plugins such as `aws eks get-token` cannot run. Its identity needs {@link CLUSTER_API_MANAGEMENT_RULES} in the
   * management cluster.
   */
  readonly kubeconfigSecret: string;
  /**
   * Key of the kubeconfig in the Secret.
   * @default 'value' (the key of the `<cluster>-kubeconfig` Secrets Cluster API writes)
   */
  readonly key?: string;
}

/** Cluster API: MachineDeployments/MachinePools of the workload cluster the autoscaler runs in. */
export interface ClusterApiAutoscalerCloud {
  readonly provider: 'clusterapi';
  /** Name of the Cluster object whose machine sets are scaled. */
  readonly clusterName: string;
  /**
   * Namespace of the Cluster object (in the management cluster).
   * @default - any namespace
   */
  readonly namespace?: string;
  /**
   * Where the Cluster API objects live when that is another cluster. Without it the workload cluster is its own
   * management cluster (self-hosted, after `clusterctl move`) and the ClusterRole carries the chart's
   * `cluster.x-k8s.io` rules; with it the autoscaler reads them through the mounted kubeconfig
   * (`--cloud-config`), keeps its in-cluster credentials for the workload cluster, and the workload ClusterRole
   * grants nothing on `cluster.x-k8s.io` (the chart's `incluster-kubeconfig` mode).
   * @default - the Cluster API objects are in this cluster (the chart's `incluster-incluster` mode)
   */
  readonly managementCluster?: ClusterApiManagementCluster;
}

/** The cloud the autoscaler drives; each variant carries what that cloud needs. */
export type AutoscalerCloud = AwsAutoscalerCloud | GceAutoscalerCloud | AzureAutoscalerCloud | ClusterApiAutoscalerCloud;

/** A node group the autoscaler scales, with bounds narrower than the environment's when needed. */
export interface AutoscaledNodeGroup {
  /** Name of a node group of the environment. */
  readonly name: string;
  /**
   * Fewest nodes.
   * @default - the node group's minSize
   */
  readonly minSize?: number;
  /**
   * Most nodes.
   * @default - the node group's maxSize
   */
  readonly maxSize?: number;
}

/** One tier of the priority expander: higher priority wins; groups are matched by regular expression. */
export interface ExpanderPriority {
  /** Priority of the tier (higher is preferred). */
  readonly priority: number;
  /**
   * Node groups of the environment in this tier (matched by their cloud group name).
   * @default []
   */
  readonly nodeGroups?: string[];
  /**
   * Extra regular expressions over cloud group names (e.g. for auto-discovered groups).
   * @default []
   */
  readonly patterns?: string[];
}

/** When and how eagerly nodes are removed. */
export interface ScaleDownSettings {
  /**
   * Whether the autoscaler removes nodes at all.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Wait after a scale-up before scale-down is considered again.
   * @default 10 minutes (upstream default)
   */
  readonly delayAfterAdd?: Duration;
  /**
   * How long a node must be unneeded before it is removed.
   * @default 10 minutes (upstream default)
   */
  readonly unneededTime?: Duration;
  /**
   * Requested CPU/memory over allocatable below which a node is a scale-down candidate (0 < x ≤ 1).
   * @default 0.5 (upstream default)
   */
  readonly utilizationThreshold?: number;
}

/** Properties of a {@link ClusterAutoscaler}. */
export interface ClusterAutoscalerProps {
  /** Cloud provider and its settings. */
  readonly cloud: AutoscalerCloud;
  /**
   * Node groups to scale (names of the environment's groups, optionally with narrower bounds). Ignored for
   * Cluster API, which reads bounds from the MachineDeployment annotations ({@link clusterApiNodeGroupAnnotations}).
   * @default - every node group of the environment
   */
  readonly nodeGroups?: (string | AutoscaledNodeGroup)[];
  /**
   * Expander, or a chain of them (`['priority', 'least-waste']` falls back to least-waste between equal priorities).
   * @default 'least-waste' (wastes the least CPU/memory after scale-up; the FAQ's general recommendation)
   */
  readonly expander?: AutoscalerExpander | AutoscalerExpander[];
  /**
   * Tiers of the priority expander; required exactly when the expander includes 'priority'. Written to the
   * ConfigMap `cluster-autoscaler-priority-expander` under the key `priorities`, the only key the expander reads.
   * @default - none
   */
  readonly priorities?: ExpanderPriority[];
  /**
   * Treat node groups with the same instance type and labels as one, keeping them the same size (zone balance).
   * @default true (FAQ: needed for groups spread over zones, which this library assumes)
   */
  readonly balanceSimilarNodeGroups?: boolean;
  /**
   * Labels ignored when comparing groups for balancing (e.g. `eks.amazonaws.com/nodegroup`).
   * @default []
   */
  readonly balancingIgnoreLabels?: string[];
  /**
   * Scale-down settings.
   * @default - enabled, 10m after add, 10m unneeded, utilization threshold 0.5
   */
  readonly scaleDown?: ScaleDownSettings;
  /**
   * Keep nodes that run pods with local storage (emptyDir/hostPath).
   * @default false (upstream's true lets any emptyDir cache pin a node forever: a common "why no scale-down")
   */
  readonly skipNodesWithLocalStorage?: boolean;
  /**
   * Keep nodes that run kube-system pods (other than DaemonSets and mirror pods).
   * @default true (upstream default; give kube-system pods PDBs before turning it off)
   */
  readonly skipNodesWithSystemPods?: boolean;
  /**
   * Time a new node gets to register before its group is considered broken.
   * @default 15 minutes (upstream default)
   */
  readonly maxNodeProvisionTime?: Duration;
  /**
   * Replicas; one leads (leader election), others stand by.
   * @default 1 (the chart's replicaCount)
   */
  readonly replicas?: number;
  /**
   * Image; its version must match the cluster's Kubernetes minor (the autoscaler embeds the scheduler).
   * @default - the release pinned for the environment's minor in CLUSTER_AUTOSCALER_RELEASES
   */
  readonly image?: string;
  /**
   * Extra ServiceAccount annotations: the hook for cloud identities not covered by `cloud`.
   * @default {}
   */
  readonly serviceAccountAnnotations?: Record<string, string>;
  /**
   * Log verbosity (`--v`).
   * @default 4 (the chart's default)
   */
  readonly verbosity?: number;
}

/**
 * cluster-autoscaler releases pinned per Kubernetes minor (https://github.com/kubernetes/autoscaler/releases);
 * the autoscaler's minor must equal the cluster's (cluster-autoscaler README, "Releases").
 */
export const CLUSTER_AUTOSCALER_RELEASES: Readonly<Record<number, string>> = Object.freeze({
  27: 'v1.27.3',
  28: 'v1.28.7',
  29: 'v1.29.5',
  30: 'v1.30.3',
  31: 'v1.31.1',
  32: 'v1.32.2',
});
const IMAGE_REPOSITORY = 'registry.k8s.io/autoscaling/cluster-autoscaler';
/** Object name of every cluster-autoscaler object; also the lease and status ConfigMap prefix the binary uses. */
export const CLUSTER_AUTOSCALER_NAME = 'cluster-autoscaler';
/** The only ConfigMap name the priority expander reads. */
export const PRIORITY_EXPANDER_CONFIGMAP = 'cluster-autoscaler-priority-expander';
// Where the management cluster's kubeconfig is mounted (read-only, from its Secret).
const MANAGEMENT_KUBECONFIG_DIR = '/etc/cluster-api-management';
const MANAGEMENT_KUBECONFIG_FILE = 'kubeconfig';
// The key Cluster API writes kubeconfigs under in its `<cluster>-kubeconfig` Secrets.
const DEFAULT_KUBECONFIG_KEY = 'value';
// The chart's container port for metrics and /health-check.
const METRICS_PORT = 8085;
// Upstream defaults (cluster-autoscaler FAQ, "What are the parameters to CA?").
const DEFAULT_SCALE_DOWN_DELAY_AFTER_ADD = Duration.minutes(10);
const DEFAULT_SCALE_DOWN_UNNEEDED_TIME = Duration.minutes(10);
const DEFAULT_SCALE_DOWN_UTILIZATION_THRESHOLD = 0.5;
const DEFAULT_MAX_NODE_PROVISION_TIME = Duration.minutes(15);
const DEFAULT_VERBOSITY = 4;
// The chart's example resources; the memory limit leaves room for large clusters' informer caches.
const RESOURCES = resources('100m', '300Mi', '600Mi');
// The chart's suggested securityContext: nobody/nogroup.
const RUN_AS_USER = 65534;
const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const AWS_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const VERSION_TAG = /^v?1\.(\d+)\.\d+/;

/** The image of the release pinned for a Kubernetes minor; throws naming `scope` for an unsupported minor. */
export function clusterAutoscalerImage(scope: Construct | string, minor: number): string {
  const tag = CLUSTER_AUTOSCALER_RELEASES[minor];
  if (!tag) {
    const supported = Object.keys(CLUSTER_AUTOSCALER_RELEASES).map((m) => `1.${m}`);
    throw new ShipshapeError(scope, {
      problem: `no cluster-autoscaler release is pinned for Kubernetes 1.${minor}; the autoscaler must match the cluster's minor version`,
      value: `1.${minor}`,
      fix: `use a cluster version in [${supported.join(', ')}], or set image to ${IMAGE_REPOSITORY}:v1.${minor}.<patch>`,
    });
  }
  return `${IMAGE_REPOSITORY}:${tag}`;
}

/** Annotations a Cluster API MachineDeployment needs for the autoscaler to scale it within the node group's bounds. */
export function clusterApiNodeGroupAnnotations(group: Pick<ResolvedNodeGroup, 'minSize' | 'maxSize'>): Record<string, string> {
  return {
    'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(group.minSize),
    'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(group.maxSize),
  };
}

function renderDuration(d: Duration): string {
  const seconds = d.toMilliseconds() / 1000;
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

type Rule = kplus.k8s.PolicyRule;

/**
 * Verbs on `nodes` per provider, as the chart grants them since kubernetes/autoscaler#8647 (chart 9.52.1): every
 * provider reads nodes and updates them (the scale-down taints); only kwok creates Node objects and only kwok and
 * huaweicloud delete them. The providers here remove the cloud instance (or Machine) and leave the Node object to
 * the cloud controller manager (or Cluster API), so none gets create or delete.
 */
export const NODE_VERBS_BY_PROVIDER: Readonly<Record<AutoscalerCloud['provider'], readonly string[]>> = Object.freeze({
  aws: ['watch', 'list', 'get', 'update'],
  gce: ['watch', 'list', 'get', 'update'],
  azure: ['watch', 'list', 'get', 'update'],
  clusterapi: ['watch', 'list', 'get', 'update'],
});

// ClusterRole of the kubernetes/autoscaler chart (charts/cluster-autoscaler/templates/clusterrole.yaml), rule for
// rule, except the nodes rule, which depends on the provider (NODE_VERBS_BY_PROVIDER) and sits where the chart has it.
const UPSTREAM_CLUSTER_ROLE_RULES: readonly Rule[] = [
  { apiGroups: [''], resources: ['events', 'endpoints'], verbs: ['create', 'patch'] },
  { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  { apiGroups: [''], resources: ['pods/status'], verbs: ['update'] },
  { apiGroups: [''], resources: ['endpoints'], resourceNames: ['cluster-autoscaler'], verbs: ['get', 'update'] },
  { apiGroups: [''], resources: ['namespaces', 'pods', 'services', 'replicationcontrollers', 'persistentvolumeclaims', 'persistentvolumes'], verbs: ['watch', 'list', 'get'] },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['watch', 'list', 'get'] },
  { apiGroups: ['batch', 'extensions'], resources: ['jobs'], verbs: ['get', 'list', 'patch', 'watch'] },
  { apiGroups: ['extensions'], resources: ['replicasets', 'daemonsets'], verbs: ['watch', 'list', 'get'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['watch', 'list'] },
  { apiGroups: ['apps'], resources: ['daemonsets', 'replicasets', 'statefulsets'], verbs: ['watch', 'list', 'get'] },
  { apiGroups: ['storage.k8s.io'], resources: ['storageclasses', 'csinodes', 'csidrivers', 'csistoragecapacities', 'volumeattachments'], verbs: ['watch', 'list', 'get'] },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch', 'get'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  { apiGroups: ['coordination.k8s.io'], resourceNames: ['cluster-autoscaler'], resources: ['leases'], verbs: ['get', 'update'] },
];
// Position of the chart's nodes rule, so the rendered ClusterRole reads in the chart's order.
const NODES_RULE_INDEX = 4;

/**
 * The chart's `cluster.x-k8s.io` rules for cloudProvider=clusterapi: in the ClusterRole when the workload cluster
 * is its own management cluster; otherwise what the management kubeconfig's identity needs in the management
 * cluster (a Role in the Cluster's namespace is enough when `namespace` is set).
 */
export const CLUSTER_API_MANAGEMENT_RULES: readonly Rule[] = [
  { apiGroups: ['cluster.x-k8s.io'], resources: ['machinedeployments', 'machinepools', 'machines', 'machinesets'], verbs: ['get', 'list', 'update', 'watch'] },
  { apiGroups: ['cluster.x-k8s.io'], resources: ['machinedeployments/scale', 'machinepools/scale'], verbs: ['get', 'patch', 'update'] },
];

/**
 * The ClusterRole rules the autoscaler gets in the cluster it runs in, for a cloud: the chart's rules with the
 * provider's node verbs, plus the `cluster.x-k8s.io` rules when Cluster API objects are read in-cluster.
 */
export function clusterAutoscalerClusterRoleRules(cloud: AutoscalerCloud): Rule[] {
  const rules = UPSTREAM_CLUSTER_ROLE_RULES.map((r) => ({ ...r }));
  rules.splice(NODES_RULE_INDEX, 0, { apiGroups: [''], resources: ['nodes'], verbs: [...NODE_VERBS_BY_PROVIDER[cloud.provider]] });
  if (cloud.provider === 'clusterapi' && cloud.managementCluster === undefined) rules.push(...CLUSTER_API_MANAGEMENT_RULES.map((r) => ({ ...r })));
  return rules;
}

/** The chart's Role (templates/role.yaml) in the release namespace, with the priority-expander additions when it is used. */
function upstreamRoleRules(priorityExpander: boolean): Rule[] {
  return [
    { apiGroups: [''], resources: ['configmaps'], verbs: priorityExpander ? ['create', 'list', 'watch'] : ['create'] },
    {
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: priorityExpander ? ['cluster-autoscaler-status', PRIORITY_EXPANDER_CONFIGMAP] : ['cluster-autoscaler-status'],
      verbs: priorityExpander ? ['delete', 'get', 'update', 'watch'] : ['delete', 'get', 'update'],
    },
  ];
}

/**
 * The Kubernetes cluster-autoscaler in kube-system: a Deployment with the flags an operator writes by hand for
 * the cloud, the upstream chart's RBAC, a ServiceAccount with the cloud identity, a PodDisruptionBudget, a
 * metrics Service and, for the priority expander, its ConfigMap. The image follows the cluster's minor version.
 */
export class ClusterAutoscaler extends Construct {
  public readonly deployment: kplus.k8s.KubeDeployment;
  public readonly serviceAccount: kplus.k8s.KubeServiceAccount;
  public readonly clusterRole: kplus.k8s.KubeClusterRole;
  public readonly role: kplus.k8s.KubeRole;
  public readonly service: kplus.k8s.KubeService;
  public readonly disruptionBudget: kplus.k8s.KubePodDisruptionBudget;
  /** The priority expander's ConfigMap, when the expander includes 'priority'. */
  public readonly priorityExpander?: kplus.k8s.KubeConfigMap;
  /** The image in use. */
  public readonly image: string;
  /** The container's command line after the binary, in order. */
  public readonly args: readonly string[];
  /** Node groups scaled by explicit bounds (empty when groups are auto-discovered). */
  public readonly scaledGroups: readonly { readonly name: string; readonly cloudGroupName: string; readonly minSize: number; readonly maxSize: number }[];
  /** In-cluster URL of the metrics endpoint. */
  public readonly metricsUrl: string;

  constructor(scope: Construct, id: string, props: ClusterAutoscalerProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const cloud = props.cloud;
    this.validateCloud(cloud);
    if (cloud.provider === 'aws' && cloud.roleArn !== undefined) assertIrsaAllowed(this, 'cloud.roleArn', env, cloud.roleArn);
    const expanders = this.resolveExpanders(props.expander, cloud);
    const groups = this.resolveGroups(props.nodeGroups, env);
    const autoDiscovery = this.discoveryFlags(cloud);
    this.scaledGroups = Object.freeze(autoDiscovery.length > 0 && cloud.provider !== 'gce' ? [] : groups);
    if (autoDiscovery.length === 0 && groups.length === 0) {
      throw new ShipshapeError(this, {
        problem: `the ${cloud.provider} autoscaler has no node groups and no auto-discovery, so it would scale nothing (the chart silently renders no Deployment in this case)`,
        value: { nodeGroups: props.nodeGroups ?? env.nodeGroups.map((g) => g.name) },
        fix: cloud.provider === 'gce' ? "add node groups to the environment's nodeGroups" : "add node groups to the environment's nodeGroups, or set cloud.autoDiscovery",
      });
    }
    this.image = this.resolveImage(props.image, env);
    const usesPriority = expanders.includes('priority');
    const priorities = this.resolvePriorities(usesPriority, props.priorities, groups, env, cloud);

    const scaleDown = props.scaleDown ?? {};
    const threshold = scaleDown.utilizationThreshold ?? DEFAULT_SCALE_DOWN_UTILIZATION_THRESHOLD;
    if (!(typeof threshold === 'number' && threshold > 0 && threshold <= 1)) {
      throw new ShipshapeError(this, { problem: 'scaleDown.utilizationThreshold must be a number above 0 and at most 1', value: threshold, fix: 'use e.g. 0.5' });
    }
    const durations = {
      'scaleDown.delayAfterAdd': scaleDown.delayAfterAdd ?? DEFAULT_SCALE_DOWN_DELAY_AFTER_ADD,
      'scaleDown.unneededTime': scaleDown.unneededTime ?? DEFAULT_SCALE_DOWN_UNNEEDED_TIME,
      maxNodeProvisionTime: props.maxNodeProvisionTime ?? DEFAULT_MAX_NODE_PROVISION_TIME,
    };
    for (const [field, d] of Object.entries(durations)) {
      // Converted without cdk8s' integral check, which throws a plain Error for NaN and fractions.
      const isDuration = typeof d === 'object' && d !== null && typeof (d as Duration).toMilliseconds === 'function';
      const ms = isDuration ? d.toMilliseconds({ integral: false }) : Number.NaN;
      if (!isDuration) {
        throw new ShipshapeError(this, { problem: `${field} must be a Duration`, value: d, fix: 'use e.g. Duration.minutes(10)' });
      }
      if (!Number.isFinite(ms) || !Number.isInteger(ms / 1000) || ms < 1000) {
        throw new ShipshapeError(this, { problem: `${field} must be a finite, whole number of seconds, at least one`, value: Number.isFinite(ms) ? `${ms}ms` : ms, fix: 'use e.g. Duration.minutes(10)' });
      }
    }
    const ignoreLabels = props.balancingIgnoreLabels ?? [];
    for (const label of ignoreLabels) {
      if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(label)) {
        throw new ShipshapeError(this, { problem: 'balancingIgnoreLabels must be label keys', value: label, fix: 'use e.g. "eks.amazonaws.com/nodegroup"' });
      }
    }
    const managementKubeconfig = cloud.provider === 'clusterapi' ? cloud.managementCluster : undefined;
    const replicas = assertInteger(this, 'replicas', props.replicas ?? 1, 1, 5);
    const verbosity = assertInteger(this, 'verbosity', props.verbosity ?? DEFAULT_VERBOSITY, 0, 10);

    const args = [
      `--cloud-provider=${cloud.provider}`,
      ...(managementKubeconfig ? [`--cloud-config=${MANAGEMENT_KUBECONFIG_DIR}/${MANAGEMENT_KUBECONFIG_FILE}`] : []),
      `--namespace=${KUBE_SYSTEM}`,
      ...(cloud.provider === 'gce' || cloud.provider === 'clusterapi' || autoDiscovery.length > 0 ? [] : groups.map((g) => `--nodes=${g.minSize}:${g.maxSize}:${g.cloudGroupName}`)),
      ...autoDiscovery,
      ...(cloud.provider === 'gce' ? groups.map((g) => `--node-group-auto-discovery=mig:namePrefix=${g.cloudGroupName},min=${g.minSize},max=${g.maxSize}`) : []),
      `--expander=${expanders.join(',')}`,
      `--balance-similar-node-groups=${props.balanceSimilarNodeGroups ?? true}`,
      ...ignoreLabels.map((l) => `--balancing-ignore-label=${l}`),
      `--scale-down-enabled=${scaleDown.enabled ?? true}`,
      `--scale-down-delay-after-add=${renderDuration(durations['scaleDown.delayAfterAdd'])}`,
      `--scale-down-unneeded-time=${renderDuration(durations['scaleDown.unneededTime'])}`,
      `--scale-down-utilization-threshold=${threshold}`,
      `--skip-nodes-with-local-storage=${props.skipNodesWithLocalStorage ?? false}`,
      `--skip-nodes-with-system-pods=${props.skipNodesWithSystemPods ?? true}`,
      // DaemonSet pods (the log collector) are evicted, so they get their SIGTERM and flush what they buffer on the
      // node before it is deleted; upstream evicts them from occupied nodes only (empty nodes default to false).
      '--daemonset-eviction-for-empty-nodes=true',
      '--daemonset-eviction-for-occupied-nodes=true',
      `--max-node-provision-time=${renderDuration(durations.maxNodeProvisionTime)}`,
      '--logtostderr=true',
      '--stderrthreshold=info',
      `--v=${verbosity}`,
    ];
    this.args = Object.freeze(args);

    const name = CLUSTER_AUTOSCALER_NAME;
    const labels = addonLabels(name, env, 'autoscaler');
    const selector = addonSelector(name, env);
    const metadata = { name, namespace: KUBE_SYSTEM, labels };

    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', {
      metadata: { ...metadata, annotations: this.serviceAccountAnnotations(cloud, props.serviceAccountAnnotations ?? {}) },
    });
    const subject = { kind: 'ServiceAccount', name, namespace: KUBE_SYSTEM };
    this.clusterRole = new kplus.k8s.KubeClusterRole(this, 'cluster-role', {
      metadata: { name, labels },
      rules: clusterAutoscalerClusterRoleRules(cloud),
    });
    new kplus.k8s.KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [subject],
    });
    this.role = new kplus.k8s.KubeRole(this, 'role', { metadata, rules: upstreamRoleRules(usesPriority) });
    new kplus.k8s.KubeRoleBinding(this, 'role-binding', {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [subject],
    });

    if (priorities) {
      this.priorityExpander = new kplus.k8s.KubeConfigMap(this, 'priority-expander', {
        metadata: { name: PRIORITY_EXPANDER_CONFIGMAP, namespace: KUBE_SYSTEM, labels },
        data: { priorities },
      });
    }

    const probe = { httpGet: { path: '/health-check', port: kplus.k8s.IntOrString.fromNumber(METRICS_PORT) }, periodSeconds: 10, failureThreshold: 3 };
    const podLabels = { ...labels, ...(cloud.provider === 'azure' && 'workloadIdentityClientId' in cloud.identity ? { 'azure.workload.identity/use': 'true' } : {}) };
    this.deployment = new kplus.k8s.KubeDeployment(this, 'deployment', {
      metadata,
      spec: {
        replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: podLabels },
          spec: {
            serviceAccountName: name,
            // The autoscaler must keep running when the cluster is full: that is when it is needed.
            priorityClassName: 'system-cluster-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } },
            ...(replicas > 1 ? { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } } }] } } } : {}),
            containers: [{
              name,
              image: this.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['./cluster-autoscaler', ...args],
              env: this.containerEnv(cloud),
              ports: [{ name: 'http', containerPort: METRICS_PORT, protocol: 'TCP' }],
              livenessProbe: probe,
              readinessProbe: probe,
              resources: RESOURCES,
              securityContext: restrictedContainerSecurityContext(RUN_AS_USER),
              ...(managementKubeconfig ? { volumeMounts: [{ name: 'management-kubeconfig', mountPath: MANAGEMENT_KUBECONFIG_DIR, readOnly: true }] } : {}),
            }],
            ...(managementKubeconfig
              ? {
                  volumes: [{
                    name: 'management-kubeconfig',
                    // Only the kubeconfig key, readable by the pod's group (fsGroup) and nobody else.
                    secret: { secretName: managementKubeconfig.kubeconfigSecret, items: [{ key: managementKubeconfig.key ?? DEFAULT_KUBECONFIG_KEY, path: MANAGEMENT_KUBECONFIG_FILE }], defaultMode: 0o440 },
                  }],
                }
              : {}),
          },
        },
      },
    });
    if (replicas === 1) {
      exempt(this.deployment, 'single-replica', 'cluster-autoscaler is leader-elected: one replica acts at a time, and Kubernetes restarts it elsewhere if its node fails');
    }

    this.disruptionBudget = new kplus.k8s.KubePodDisruptionBudget(this, 'disruption-budget', {
      metadata,
      spec: { selector: { matchLabels: selector }, maxUnavailable: kplus.k8s.IntOrString.fromNumber(1), unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });
    this.service = new kplus.k8s.KubeService(this, 'service', {
      metadata: { ...metadata, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(METRICS_PORT) } },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'http', port: METRICS_PORT, targetPort: kplus.k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });
    this.metricsUrl = `http://${name}.${KUBE_SYSTEM}.svc:${METRICS_PORT}/metrics`;
  }

  private validateCloud(cloud: AutoscalerCloud): void {
    const bad = (field: string, value: unknown, fix: string, problem = `cloud.${field} is not valid`) => new ShipshapeError(this, { problem, value, fix });
    switch (cloud?.provider) {
      case 'aws':
        if (!AWS_REGION.test(cloud.region ?? '')) throw bad('region', cloud.region, 'use an AWS region such as "eu-west-1"');
        if (cloud.roleArn !== undefined && !AWS_ROLE_ARN.test(cloud.roleArn)) throw bad('roleArn', cloud.roleArn, 'use an IAM role ARN such as "arn:aws:iam::123456789012:role/cluster-autoscaler"');
        if (cloud.autoDiscovery) {
          if (!isFlagSafe(cloud.autoDiscovery.clusterName)) throw bad('autoDiscovery.clusterName', cloud.autoDiscovery.clusterName, 'use the EKS cluster name (letters, digits, "-", "_", ".")');
          const tags = cloud.autoDiscovery.tags;
          if (tags !== undefined && (tags.length === 0 || tags.some((t) => !isFlagSafe(t)))) {
            throw bad('autoDiscovery.tags', tags, 'list one or more tag keys without commas or spaces, or omit tags for the chart defaults');
          }
        }
        return;
      case 'gce':
        if (cloud.serviceAccount !== undefined && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$/.test(cloud.serviceAccount)) {
          throw bad('serviceAccount', cloud.serviceAccount, 'use a Google service account e-mail such as "cluster-autoscaler@my-project.iam.gserviceaccount.com"');
        }
        return;
      case 'azure': {
        const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
        if (!uuid.test(cloud.subscriptionId ?? '')) throw bad('subscriptionId', cloud.subscriptionId, 'use the subscription GUID');
        if (!/^[-\w.()]{1,90}$/.test(cloud.resourceGroup ?? '')) throw bad('resourceGroup', cloud.resourceGroup, 'use the resource group name of the scale sets');
        const identity = cloud.identity ?? {};
        if ('workloadIdentityClientId' in identity) {
          if (!uuid.test(identity.workloadIdentityClientId)) throw bad('identity.workloadIdentityClientId', identity.workloadIdentityClientId, 'use the managed identity client GUID');
        } else if ('credentialsSecret' in identity) {
          if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(identity.credentialsSecret)) throw bad('identity.credentialsSecret', identity.credentialsSecret, 'name the Secret holding ClientID, ClientSecret and TenantID');
        } else {
          throw bad('identity', identity, 'set { workloadIdentityClientId } or { credentialsSecret }', 'cloud.identity must say how the autoscaler authenticates to Azure');
        }
        if (cloud.autoDiscovery && !isFlagSafe(cloud.autoDiscovery.clusterName)) throw bad('autoDiscovery.clusterName', cloud.autoDiscovery.clusterName, 'use the AKS cluster name');
        return;
      }
      case 'clusterapi':
        if (!isFlagSafe(cloud.clusterName ?? '')) throw bad('clusterName', cloud.clusterName, 'use the name of the Cluster API Cluster object');
        if (cloud.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(cloud.namespace)) throw bad('namespace', cloud.namespace, 'use the namespace of the Cluster object');
        if (cloud.managementCluster !== undefined) {
          const { kubeconfigSecret, key } = cloud.managementCluster ?? {};
          if (typeof kubeconfigSecret !== 'string' || kubeconfigSecret.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(kubeconfigSecret)) {
            throw bad('managementCluster.kubeconfigSecret', kubeconfigSecret, 'name the Secret in kube-system that holds the management cluster\'s kubeconfig, e.g. "capi-management-kubeconfig"');
          }
          if (key !== undefined && (typeof key !== 'string' || key.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(key) || key === '.' || key === '..')) {
            throw bad('managementCluster.key', key, 'use the Secret key holding the kubeconfig (letters, digits, "-", "_", "."), or omit it for "value"');
          }
        }
        return;
      default:
        throw bad('provider', (cloud as { provider?: unknown })?.provider, "use one of 'aws', 'gce', 'azure', 'clusterapi'", 'cloud.provider is not a supported cloud');
    }
  }

  private resolveExpanders(expander: ClusterAutoscalerProps['expander'], cloud: AutoscalerCloud): AutoscalerExpander[] {
    const list = expander === undefined ? ['least-waste' as const] : Array.isArray(expander) ? expander : [expander];
    const known: AutoscalerExpander[] = ['least-waste', 'most-pods', 'random', 'priority', 'price'];
    if (list.length === 0 || list.some((e) => !known.includes(e)) || new Set(list).size !== list.length) {
      throw new ShipshapeError(this, { problem: 'expander must be one or more distinct known expanders', value: expander, fix: `use one or more of ${known.join(', ')}` });
    }
    if (list.includes('price') && cloud.provider !== 'gce') {
      throw new ShipshapeError(this, { problem: `the price expander is implemented only for GCE, not ${cloud.provider}`, value: list, fix: "use 'least-waste' or 'priority'" });
    }
    return [...list];
  }

  private resolveGroups(selected: ClusterAutoscalerProps['nodeGroups'], env: Environment): ClusterAutoscaler['scaledGroups'][number][] {
    const entries = selected ?? env.nodeGroups.map((g) => g.name);
    const seen = new Set<string>();
    return entries.map((entry) => {
      const spec = typeof entry === 'string' ? { name: entry } : entry;
      const group = env.nodeGroup(spec?.name, this.node.path);
      if (seen.has(group.name)) throw new ShipshapeError(this, { problem: 'a node group is listed twice', value: group.name, fix: 'list each node group once' });
      seen.add(group.name);
      const field = `nodeGroups.${group.name}`;
      const minSize = assertInteger(this, `${field}.minSize`, spec.minSize ?? group.minSize, 0);
      const maxSize = assertInteger(this, `${field}.maxSize`, spec.maxSize ?? group.maxSize, 1);
      if (minSize > maxSize) {
        throw new ShipshapeError(this, { problem: `${field}: minSize ${minSize} is greater than maxSize ${maxSize}`, value: { minSize, maxSize }, fix: 'make minSize ≤ maxSize' });
      }
      const cloudGroupName = group.cloudGroupName ?? group.name;
      if (!isFlagSafe(cloudGroupName)) {
        throw new ShipshapeError(this, { problem: `${field}: cloudGroupName cannot be used in a --nodes flag`, value: cloudGroupName, fix: 'use the group name without spaces, commas or colons' });
      }
      return { name: group.name, cloudGroupName, minSize, maxSize };
    });
  }

  private discoveryFlags(cloud: AutoscalerCloud): string[] {
    switch (cloud.provider) {
      case 'aws': {
        if (!cloud.autoDiscovery) return [];
        const tags = cloud.autoDiscovery.tags ?? ['k8s.io/cluster-autoscaler/enabled', `k8s.io/cluster-autoscaler/${cloud.autoDiscovery.clusterName}`];
        return [`--node-group-auto-discovery=asg:tag=${tags.join(',')}`];
      }
      case 'azure':
        return cloud.autoDiscovery ? [`--node-group-auto-discovery=label:cluster-autoscaler-enabled=true,cluster-autoscaler-name=${cloud.autoDiscovery.clusterName}`] : [];
      case 'clusterapi':
        return [`--node-group-auto-discovery=clusterapi:clusterName=${cloud.clusterName}${cloud.namespace ? `,namespace=${cloud.namespace}` : ''}`];
      case 'gce':
        return [];
    }
  }

  private resolveImage(image: string | undefined, env: Environment): string {
    const minor = env.kubernetesMinorFor(this);
    if (image === undefined) return clusterAutoscalerImage(this, minor);
    assertPinnedImage(this, 'image', image, `${IMAGE_REPOSITORY}:v1.${minor}.0`);
    const { tag } = parseImageReference(image)!;
    const version = tag ? VERSION_TAG.exec(tag) : null;
    if (version && Number(version[1]) !== minor) {
      throw new ShipshapeError(this, {
        problem: `image ${image} is cluster-autoscaler 1.${version[1]} but the cluster runs Kubernetes 1.${minor}; the autoscaler simulates the scheduler of its own version`,
        value: image,
        fix: `use a v1.${minor}.x image, or omit image for the pinned ${CLUSTER_AUTOSCALER_RELEASES[minor] ?? 'release'}`,
      });
    }
    return image;
  }

  private resolvePriorities(usesPriority: boolean, priorities: ExpanderPriority[] | undefined, groups: ClusterAutoscaler['scaledGroups'], env: Environment, cloud: AutoscalerCloud): string | undefined {
    if (!usesPriority) {
      if (priorities !== undefined) {
        throw new ShipshapeError(this, { problem: "priorities are set but the expander does not include 'priority', so they would be ignored", value: priorities, fix: "add 'priority' to expander, or remove priorities" });
      }
      return undefined;
    }
    if (!priorities || priorities.length === 0) {
      throw new ShipshapeError(this, { problem: "the priority expander needs priorities; without its ConfigMap it falls back to random", value: priorities, fix: 'set priorities, e.g. [{ priority: 50, nodeGroups: ["webapi"] }]' });
    }
    const tiers = new Map<number, string[]>();
    for (const tier of priorities) {
      assertInteger(this, 'priorities[].priority', tier.priority, 0, 1_000_000);
      if (tiers.has(tier.priority)) {
        throw new ShipshapeError(this, { problem: `priority ${tier.priority} is listed twice`, value: tier.priority, fix: 'merge the tiers with the same priority' });
      }
      const patterns = [
        ...(tier.nodeGroups ?? []).map((n) => {
          const g = groups.find((x) => x.name === n) ?? env.nodeGroup(n, this.node.path);
          return priorityPattern(cloud, g.cloudGroupName ?? g.name);
        }),
        ...(tier.patterns ?? []),
      ];
      if (patterns.length === 0) {
        throw new ShipshapeError(this, { problem: `priority ${tier.priority} names no node groups or patterns`, value: tier, fix: 'set nodeGroups or patterns' });
      }
      for (const p of patterns) {
        try {
          new RegExp(p);
        } catch {
          throw new ShipshapeError(this, { problem: `priority ${tier.priority} has an invalid regular expression`, value: p, fix: 'use a valid regular expression, e.g. ".*spot.*"' });
        }
      }
      tiers.set(tier.priority, patterns);
    }
    const ordered = new Map([...tiers].sort(([a], [b]) => b - a));
    // The expander parses `priorities` as YAML: a map from integer priority to a list of regular expressions.
    return toYaml(ordered, { lineWidth: 0 });
  }

  private serviceAccountAnnotations(cloud: AutoscalerCloud, extra: Record<string, string>): Record<string, string> | undefined {
    const annotations: Record<string, string> = { ...assertAnnotations(this, 'serviceAccountAnnotations', extra) };
    if (cloud.provider === 'aws' && cloud.roleArn) annotations['eks.amazonaws.com/role-arn'] = cloud.roleArn;
    if (cloud.provider === 'gce' && cloud.serviceAccount) annotations['iam.gke.io/gcp-service-account'] = cloud.serviceAccount;
    if (cloud.provider === 'azure' && 'workloadIdentityClientId' in cloud.identity) annotations['azure.workload.identity/client-id'] = cloud.identity.workloadIdentityClientId;
    return Object.keys(annotations).length > 0 ? annotations : undefined;
  }

  private containerEnv(cloud: AutoscalerCloud): kplus.k8s.EnvVar[] {
    const env: kplus.k8s.EnvVar[] = [
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
    ];
    if (cloud.provider === 'aws') env.push({ name: 'AWS_REGION', value: cloud.region });
    if (cloud.provider === 'azure') {
      env.push(
        { name: 'ARM_SUBSCRIPTION_ID', value: cloud.subscriptionId },
        { name: 'ARM_RESOURCE_GROUP', value: cloud.resourceGroup },
        { name: 'ARM_VM_TYPE', value: 'vmss' },
      );
      if ('workloadIdentityClientId' in cloud.identity) {
        env.push({ name: 'ARM_USE_WORKLOAD_IDENTITY_EXTENSION', value: 'true' });
      } else {
        const secret = cloud.identity.credentialsSecret;
        for (const [name, key] of [['ARM_TENANT_ID', 'TenantID'], ['ARM_CLIENT_ID', 'ClientID'], ['ARM_CLIENT_SECRET', 'ClientSecret']]) {
          env.push({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
        }
      }
    }
    return env;
  }
}

/**
 * The expander matches its regular expressions against node group ids, whose form depends on the cloud:
 * the ASG or VMSS name, the MIG URL (…/instanceGroups/<name>), or <Kind>/<namespace>/<name> for Cluster API.
 */
function priorityPattern(cloud: AutoscalerCloud, cloudGroupName: string): string {
  const name = escapeRegExp(cloudGroupName);
  switch (cloud.provider) {
    case 'gce':
      return `^.*/instanceGroups/${name}[^/]*$`;
    case 'clusterapi':
      return `^(MachineDeployment|MachinePool|MachineSet)/[^/]+/${name}$`;
    default:
      return `^${name}$`;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
