import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ResolvedNodeGroup } from '../../../core/environment';
import { configMapKeyProblem, isDns1123Label, isDns1123Subdomain } from '../../../core/validate';
import { isFlagSafe } from '../../support';
import { AutoscalerProvider, COMMON_EXPANDERS, escapeRegExp, invalidCloudField } from '../provider';

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

/**
 * What the autoscaler needs on `cluster.x-k8s.io`: in the ClusterRole when the workload cluster is its own
 * management cluster; otherwise what the management kubeconfig's identity needs in the management cluster (a Role
 * in the Cluster's namespace is enough when `namespace` is set). The chart's rules plus `machinesets/scale`: a
 * MachineSet without a MachineDeployment is a node group too, and the provider reads and patches its size through
 * the scale subresource as for the other kinds (clusterapi_unstructured.go, `Replicas` and `SetSize`).
 */
export const CLUSTER_API_MANAGEMENT_RULES: readonly kplus.k8s.PolicyRule[] = Object.freeze([
  { apiGroups: ['cluster.x-k8s.io'], resources: ['machinedeployments', 'machinepools', 'machines', 'machinesets'], verbs: ['get', 'list', 'update', 'watch'] },
  { apiGroups: ['cluster.x-k8s.io'], resources: ['machinedeployments/scale', 'machinepools/scale', 'machinesets/scale'], verbs: ['get', 'patch', 'update'] },
]);

/** Annotations a Cluster API MachineDeployment needs for the autoscaler to scale it within the node group's bounds. */
export function clusterApiNodeGroupAnnotations(group: Pick<ResolvedNodeGroup, 'minSize' | 'maxSize'>): Record<string, string> {
  return {
    'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(group.minSize),
    'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(group.maxSize),
  };
}

// Where the management cluster's kubeconfig is mounted (read-only, from its Secret).
const MANAGEMENT_KUBECONFIG_DIR = '/etc/cluster-api-management';
const MANAGEMENT_KUBECONFIG_FILE = 'kubeconfig';
const MANAGEMENT_KUBECONFIG_VOLUME = 'management-kubeconfig';
// The key Cluster API writes kubeconfigs under in its `<cluster>-kubeconfig` Secrets.
const DEFAULT_KUBECONFIG_KEY = 'value';

/**
 * Cluster API MachineDeployments, MachineSets and MachinePools, discovered by cluster name; bounds come from their
 * annotations ({@link clusterApiNodeGroupAnnotations}), so the environment's node groups are not listed.
 */
export const CLUSTER_API_AUTOSCALER_PROVIDER: AutoscalerProvider<ClusterApiAutoscalerCloud> = Object.freeze({
  name: 'clusterapi',
  displayName: 'Cluster API',
  expanders: COMMON_EXPANDERS,
  nodeVerbs: Object.freeze(['watch', 'list', 'get', 'update']),

  validate(scope: Construct, cloud: ClusterApiAutoscalerCloud): void {
    if (!isFlagSafe(cloud.clusterName ?? '')) throw invalidCloudField(scope, 'clusterName', cloud.clusterName, 'use the name of the Cluster API Cluster object');
    if (cloud.namespace !== undefined && !isDns1123Label(cloud.namespace)) throw invalidCloudField(scope, 'namespace', cloud.namespace, 'use the namespace of the Cluster object');
    if (cloud.managementCluster !== undefined) {
      const { kubeconfigSecret, key } = cloud.managementCluster ?? {};
      if (!isDns1123Subdomain(kubeconfigSecret)) {
        throw invalidCloudField(
          scope,
          'managementCluster.kubeconfigSecret',
          kubeconfigSecret,
          'name the Secret in kube-system that holds the management cluster\'s kubeconfig, e.g. "capi-management-kubeconfig"',
        );
      }
      if (key !== undefined && configMapKeyProblem(key) !== undefined) {
        throw invalidCloudField(scope, 'managementCluster.key', key, 'use the Secret key holding the kubeconfig (letters, digits, "-", "_", "."), or omit it for "value"');
      }
    }
  },

  // Self-hosted: the Cluster API objects are read and scaled in this cluster.
  clusterRoleRules: (cloud: ClusterApiAutoscalerCloud) => (cloud.managementCluster === undefined ? CLUSTER_API_MANAGEMENT_RULES.map((r) => ({ ...r })) : []),

  // Node group ids are <Kind>/<namespace>/<name>.
  priorityPattern: (cloudGroupName: string) => `^(MachineDeployment|MachinePool|MachineSet)/[^/]+/${escapeRegExp(cloudGroupName)}$`,

  bind(_scope: Construct, cloud: ClusterApiAutoscalerCloud) {
    const management = cloud.managementCluster;
    return {
      // In-cluster credentials stay for the workload cluster; the management kubeconfig is the cloud config.
      cloudFlags: management ? [`--cloud-config=${MANAGEMENT_KUBECONFIG_DIR}/${MANAGEMENT_KUBECONFIG_FILE}`] : [],
      nodeGroupFlags: [`--node-group-auto-discovery=clusterapi:clusterName=${cloud.clusterName}${cloud.namespace ? `,namespace=${cloud.namespace}` : ''}`],
      nodeGroups: [],
      ...(management
        ? {
            volumeMounts: [{ name: MANAGEMENT_KUBECONFIG_VOLUME, mountPath: MANAGEMENT_KUBECONFIG_DIR, readOnly: true }],
            volumes: [
              {
                name: MANAGEMENT_KUBECONFIG_VOLUME,
                // Only the kubeconfig key, readable by the pod's group (fsGroup) and nobody else.
                secret: { secretName: management.kubeconfigSecret, items: [{ key: management.key ?? DEFAULT_KUBECONFIG_KEY, path: MANAGEMENT_KUBECONFIG_FILE }], defaultMode: 0o440 },
              },
            ],
          }
        : {}),
    };
  },
});
