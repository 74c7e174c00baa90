import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { Environment } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { assertPinnedImage, imageTag } from '../core/images';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertInteger } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { resources } from '../core/resources';
import { hostnameAntiAffinity } from '../core/scheduling';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { Stack } from '../core/stack';
import { INT32_MAX, assertAnnotations, qualifiedNameProblem } from '../core/validate';
import { toYaml } from '../core/yaml';
import { AUTOSCALER_PROVIDERS, AutoscalerCloud, autoscalerProviderFor } from './autoscaler/cloud';
import { AUTOSCALER_EXPANDERS, AutoscalerExpander, AutoscalerProvider, ScaledNodeGroup } from './autoscaler/provider';
import { PRIORITY_EXPANDER_CONFIGMAP, clusterAutoscalerClusterRoleRules, clusterAutoscalerRoleRules } from './autoscaler/rbac';
import { KUBE_SYSTEM, isFlagSafe } from './support';

export { AUTOSCALER_PROVIDERS, AutoscalerCloud } from './autoscaler/cloud';
export type { AutoscalerProviderName } from './autoscaler/cloud';
export type { AutoscalerCloudConfig, AutoscalerCloudSettings, AutoscalerExpander, AutoscalerProvider, ScaledNodeGroup } from './autoscaler/provider';
export { AWS_AUTOSCALER_PROVIDER } from './autoscaler/providers/aws';
export type { AwsAutoDiscovery, AwsAutoscalerCloud } from './autoscaler/providers/aws';
export { AZURE_AUTOSCALER_PROVIDER } from './autoscaler/providers/azure';
export type { AzureAutoscalerCloud } from './autoscaler/providers/azure';
export { CLUSTER_API_AUTOSCALER_PROVIDER, CLUSTER_API_MANAGEMENT_RULES, clusterApiNodeGroupAnnotations } from './autoscaler/providers/clusterapi';
export type { ClusterApiAutoscalerCloud, ClusterApiManagementCluster } from './autoscaler/providers/clusterapi';
export { GCE_AUTOSCALER_PROVIDER } from './autoscaler/providers/gce';
export type { GceAutoscalerCloud } from './autoscaler/providers/gce';
export { NODE_VERBS_BY_PROVIDER, PRIORITY_EXPANDER_CONFIGMAP, clusterAutoscalerClusterRoleRules } from './autoscaler/rbac';

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
  /** Cloud provider and its settings, e.g. `AutoscalerCloud.aws({ region: 'eu-west-1' })`. */
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
// The chart's container port for metrics and /health-check.
const METRICS_PORT = 8085;
// Upstream defaults (cluster-autoscaler FAQ, "What are the parameters to CA?").
const DEFAULT_SCALE_DOWN_DELAY_AFTER_ADD = Duration.minutes(10);
const DEFAULT_SCALE_DOWN_UNNEEDED_TIME = Duration.minutes(10);
const DEFAULT_SCALE_DOWN_UTILIZATION_THRESHOLD = 0.5;
const DEFAULT_MAX_NODE_PROVISION_TIME = Duration.minutes(15);
const DEFAULT_VERBOSITY = 4;
// The chart's example resources; the memory limit leaves room for large clusters' informer caches.
const RESOURCES = resources({ cpu: kplus.Cpu.millis(100), memory: Size.mebibytes(300), memoryLimit: Size.mebibytes(600) });
// The chart's suggested securityContext: nobody/nogroup.
const RUN_AS_USER = 65534;
const VERSION_TAG = /^v?1\.(\d+)\.\d+/;
// The longest duration Go's time.ParseDuration reads (2^63-1 nanoseconds), in whole seconds; longer flags stop the binary at start.
const GO_DURATION_MAX_SECONDS = 9_223_372_036;

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

/**
 * A Duration as the autoscaler's Go flag parser reads it (`10m`, `90s`); throws naming `field` unless it is a
 * whole number of seconds from one second to the longest Go duration.
 */
function goDurationFlag(scope: Construct, field: string, d: Duration): string {
  // Converted without cdk8s' integral check, which throws a plain Error for NaN and fractions.
  const isDuration = typeof d === 'object' && d !== null && typeof (d as Duration).toMilliseconds === 'function';
  if (!isDuration) throw new ShipshapeError(scope, { problem: `${field} must be a Duration`, value: d, fix: 'use e.g. Duration.minutes(10)' });
  const ms = d.toMilliseconds({ integral: false });
  if (!Number.isFinite(ms) || !Number.isInteger(ms / 1000) || ms < 1000) {
    throw new ShipshapeError(scope, { problem: `${field} must be a finite, whole number of seconds, at least one`, value: Number.isFinite(ms) ? `${ms}ms` : ms, fix: 'use e.g. Duration.minutes(10)' });
  }
  const seconds = ms / 1000;
  if (seconds > GO_DURATION_MAX_SECONDS) {
    throw new ShipshapeError(scope, {
      problem: `${field} is longer than ${GO_DURATION_MAX_SECONDS} seconds (about 292 years), the longest duration the autoscaler's flag parser holds; it would refuse to start`,
      value: `${seconds}s`,
      fix: 'use a real delay, e.g. Duration.hours(1) or Duration.days(1)',
    });
  }
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/**
 * The Kubernetes cluster-autoscaler in kube-system: a Deployment with the flags an operator writes by hand for
 * the cloud, the upstream chart's RBAC, a ServiceAccount with the cloud identity, a PodDisruptionBudget, a
 * metrics Service and, for the priority expander, its ConfigMap. The image follows the cluster's minor version.
 * Everything that differs between clouds comes from the cloud's {@link AutoscalerProvider}.
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
  /** Node groups scaled by explicit bounds (empty when the cloud discovers the groups itself). */
  public readonly nodeGroups: readonly ScaledNodeGroup[];
  /** In-cluster URL of the metrics endpoint. */
  public readonly metricsUrl: string;

  constructor(scope: Construct, id: string, props: ClusterAutoscalerProps) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const cloud = props.cloud;
    const provider = autoscalerProviderFor(this, cloud);
    provider.validate(this, cloud, env);
    const expanders = this.resolveExpanders(props.expander, provider);
    const groups = this.resolveGroups(props.nodeGroups, env);
    const config = provider.bind(this, cloud, groups);
    this.nodeGroups = Object.freeze([...config.nodeGroups]);
    this.image = this.resolveImage(props.image, env);
    const usesPriority = expanders.includes('priority');
    const priorities = this.resolvePriorities(usesPriority, props.priorities, groups, env, provider);

    const scaleDown = props.scaleDown ?? {};
    const threshold = scaleDown.utilizationThreshold ?? DEFAULT_SCALE_DOWN_UTILIZATION_THRESHOLD;
    if (!(typeof threshold === 'number' && threshold > 0 && threshold <= 1)) {
      throw new ShipshapeError(this, { problem: 'scaleDown.utilizationThreshold must be a number above 0 and at most 1', value: threshold, fix: 'use e.g. 0.5' });
    }
    const delayAfterAdd = goDurationFlag(this, 'scaleDown.delayAfterAdd', scaleDown.delayAfterAdd ?? DEFAULT_SCALE_DOWN_DELAY_AFTER_ADD);
    const unneededTime = goDurationFlag(this, 'scaleDown.unneededTime', scaleDown.unneededTime ?? DEFAULT_SCALE_DOWN_UNNEEDED_TIME);
    const maxNodeProvisionTime = goDurationFlag(this, 'maxNodeProvisionTime', props.maxNodeProvisionTime ?? DEFAULT_MAX_NODE_PROVISION_TIME);
    const ignoreLabels = props.balancingIgnoreLabels ?? [];
    for (const label of ignoreLabels) {
      const problem = qualifiedNameProblem(label);
      if (problem) throw new ShipshapeError(this, { problem: `balancingIgnoreLabels must be label keys: ${problem}`, value: label, fix: 'use e.g. "eks.amazonaws.com/nodegroup"' });
    }
    const replicas = assertInteger(this, 'replicas', props.replicas ?? 1, 1, 5);
    const verbosity = assertInteger(this, 'verbosity', props.verbosity ?? DEFAULT_VERBOSITY, 0, 10);

    const args = [
      `--cloud-provider=${provider.name}`,
      ...(config.cloudFlags ?? []),
      `--namespace=${KUBE_SYSTEM}`,
      ...config.nodeGroupFlags,
      `--expander=${expanders.join(',')}`,
      `--balance-similar-node-groups=${props.balanceSimilarNodeGroups ?? true}`,
      ...ignoreLabels.map((l) => `--balancing-ignore-label=${l}`),
      `--scale-down-enabled=${scaleDown.enabled ?? true}`,
      `--scale-down-delay-after-add=${delayAfterAdd}`,
      `--scale-down-unneeded-time=${unneededTime}`,
      `--scale-down-utilization-threshold=${threshold}`,
      `--skip-nodes-with-local-storage=${props.skipNodesWithLocalStorage ?? false}`,
      `--skip-nodes-with-system-pods=${props.skipNodesWithSystemPods ?? true}`,
      // DaemonSet pods (the log collector) are evicted, so they get their SIGTERM and flush what they buffer on the
      // node before it is deleted; upstream evicts them from occupied nodes only (empty nodes default to false).
      '--daemonset-eviction-for-empty-nodes=true',
      '--daemonset-eviction-for-occupied-nodes=true',
      `--max-node-provision-time=${maxNodeProvisionTime}`,
      '--logtostderr=true',
      '--stderrthreshold=info',
      `--v=${verbosity}`,
    ];
    this.args = Object.freeze(args);

    const name = CLUSTER_AUTOSCALER_NAME;
    const labels = workloadLabels(name, env, 'autoscaler');
    const selector = selectorLabels(name, env);
    const metadata = { name, namespace: KUBE_SYSTEM, labels };

    const annotations = { ...assertAnnotations(this, 'serviceAccountAnnotations', props.serviceAccountAnnotations ?? {}), ...config.serviceAccountAnnotations };
    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', {
      metadata: { ...metadata, annotations: Object.keys(annotations).length > 0 ? annotations : undefined },
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
    this.role = new kplus.k8s.KubeRole(this, 'role', { metadata, rules: clusterAutoscalerRoleRules(usesPriority) });
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
    this.deployment = new kplus.k8s.KubeDeployment(this, 'deployment', {
      metadata,
      spec: {
        replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...labels, ...config.podLabels } },
          spec: {
            serviceAccountName: name,
            // The autoscaler must keep running when the cluster is full: that is when it is needed.
            priorityClassName: 'system-cluster-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            // fsGroup lets the non-root user read Secret volumes mounted with mode 0440.
            securityContext: { ...restrictedPodSecurityContext({ runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER }), fsGroup: RUN_AS_USER },
            ...(replicas > 1 ? { affinity: hostnameAntiAffinity(selector, 'preferred') } : {}),
            containers: [
              {
                name,
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['./cluster-autoscaler', ...args],
                env: [
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
                  ...(config.env ?? []),
                ],
                ports: [{ name: 'http', containerPort: METRICS_PORT, protocol: 'TCP' }],
                livenessProbe: probe,
                readinessProbe: probe,
                resources: RESOURCES,
                securityContext: restrictedContainerSecurityContext(RUN_AS_USER),
                ...(config.volumeMounts ? { volumeMounts: [...config.volumeMounts] } : {}),
              },
            ],
            ...(config.volumes ? { volumes: [...config.volumes] } : {}),
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

  /** @deprecated since 0.2, use {@link ClusterAutoscaler.nodeGroups} */
  public get scaledGroups(): readonly ScaledNodeGroup[] {
    return this.nodeGroups;
  }

  private resolveExpanders(expander: ClusterAutoscalerProps['expander'], provider: AutoscalerProvider<AutoscalerCloud>): AutoscalerExpander[] {
    const list = expander === undefined ? ['least-waste' as const] : Array.isArray(expander) ? expander : [expander];
    if (list.length === 0 || list.some((e) => !AUTOSCALER_EXPANDERS.includes(e)) || new Set(list).size !== list.length) {
      throw new ShipshapeError(this, { problem: 'expander must be one or more distinct known expanders', value: expander, fix: `use one or more of ${AUTOSCALER_EXPANDERS.join(', ')}` });
    }
    const unsupported = list.find((e) => !provider.expanders.includes(e));
    if (unsupported) {
      const clouds = Object.values(AUTOSCALER_PROVIDERS)
        .filter((p) => p.expanders.includes(unsupported))
        .map((p) => p.displayName);
      throw new ShipshapeError(this, {
        problem: `the ${unsupported} expander is implemented only for ${clouds.join(', ')}, not ${provider.name}`,
        value: list,
        fix: "use 'least-waste' or 'priority'",
      });
    }
    return [...list];
  }

  private resolveGroups(selected: ClusterAutoscalerProps['nodeGroups'], env: Environment): ScaledNodeGroup[] {
    const entries = selected ?? env.nodeGroups.map((g) => g.name);
    const seen = new Set<string>();
    return entries.map((entry) => {
      const spec = typeof entry === 'string' ? { name: entry } : entry;
      const group = env.nodeGroup(spec?.name, this.node.path);
      if (seen.has(group.name)) throw new ShipshapeError(this, { problem: 'a node group is listed twice', value: group.name, fix: 'list each node group once' });
      seen.add(group.name);
      const field = `nodeGroups.${group.name}`;
      // The cloud APIs and Cluster API's annotations hold group sizes as 32-bit integers.
      const minSize = assertInteger(this, `${field}.minSize`, spec.minSize ?? group.minSize, 0, INT32_MAX);
      const maxSize = assertInteger(this, `${field}.maxSize`, spec.maxSize ?? group.maxSize, 1, INT32_MAX);
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

  private resolveImage(image: string | undefined, env: Environment): string {
    const minor = env.kubernetesMinorFor(this);
    if (image === undefined) return clusterAutoscalerImage(this, minor);
    assertPinnedImage(this, 'image', image, `${IMAGE_REPOSITORY}:v1.${minor}.0`);
    const tag = imageTag(image);
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

  private resolvePriorities(
    usesPriority: boolean,
    priorities: ExpanderPriority[] | undefined,
    groups: readonly ScaledNodeGroup[],
    env: Environment,
    provider: AutoscalerProvider<AutoscalerCloud>,
  ): string | undefined {
    if (!usesPriority) {
      if (priorities !== undefined) {
        throw new ShipshapeError(this, {
          problem: "priorities are set but the expander does not include 'priority', so they would be ignored",
          value: priorities,
          fix: "add 'priority' to expander, or remove priorities",
        });
      }
      return undefined;
    }
    if (!priorities || priorities.length === 0) {
      throw new ShipshapeError(this, {
        problem: 'the priority expander needs priorities; without its ConfigMap it falls back to random',
        value: priorities,
        fix: 'set priorities, e.g. [{ priority: 50, nodeGroups: ["webapi"] }]',
      });
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
          return provider.priorityPattern(g.cloudGroupName ?? g.name);
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
}
