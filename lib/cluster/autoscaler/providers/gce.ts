import { Construct } from 'constructs';
import { AutoscalerProvider, COMMON_EXPANDERS, ScaledNodeGroup, assertSomethingToScale, escapeRegExp, invalidCloudField } from '../provider';

/** GCE: managed instance groups, each found by its name prefix with the node group's bounds. */
export interface GceAutoscalerCloud {
  readonly provider: 'gce';
  /**
   * Google service account for Workload Identity (`iam.gke.io/gcp-service-account` on the ServiceAccount).
   * @default - none (the node's service account)
   */
  readonly serviceAccount?: string;
}

// A user-managed service account e-mail: 6-30 characters of account id, then the project's IAM domain.
const GCP_SERVICE_ACCOUNT = /^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$/;

/** GCE managed instance groups, discovered by name prefix with each node group's bounds; the only cloud with the price expander. */
export const GCE_AUTOSCALER_PROVIDER: AutoscalerProvider<GceAutoscalerCloud> = Object.freeze({
  name: 'gce',
  displayName: 'GCE',
  expanders: Object.freeze([...COMMON_EXPANDERS, 'price' as const]),
  nodeVerbs: Object.freeze(['watch', 'list', 'get', 'update']),

  validate(scope: Construct, cloud: GceAutoscalerCloud): void {
    if (cloud.serviceAccount !== undefined && !GCP_SERVICE_ACCOUNT.test(cloud.serviceAccount)) {
      throw invalidCloudField(scope, 'serviceAccount', cloud.serviceAccount, 'use a Google service account e-mail such as "cluster-autoscaler@my-project.iam.gserviceaccount.com"');
    }
  },

  clusterRoleRules: () => [],

  // Node group ids are MIG URLs (…/instanceGroups/<name>), and the name continues after the prefix.
  priorityPattern: (cloudGroupName: string) => `^.*/instanceGroups/${escapeRegExp(cloudGroupName)}[^/]*$`,

  bind(scope: Construct, cloud: GceAutoscalerCloud, nodeGroups: readonly ScaledNodeGroup[]) {
    assertSomethingToScale(scope, 'gce', nodeGroups, "add node groups to the environment's nodeGroups");
    return {
      nodeGroupFlags: nodeGroups.map((g) => `--node-group-auto-discovery=mig:namePrefix=${g.cloudGroupName},min=${g.minSize},max=${g.maxSize}`),
      nodeGroups,
      serviceAccountAnnotations: cloud.serviceAccount ? { 'iam.gke.io/gcp-service-account': cloud.serviceAccount } : undefined,
    };
  },
});
