import { Construct } from 'constructs';
import { Environment } from '../../../core/environment';
import { assertAwsRegion } from '../../../core/validate';
import { assertIrsaAllowed } from '../../control-plane';
import { isFlagSafe } from '../../support';
import { AutoscalerProvider, COMMON_EXPANDERS, ScaledNodeGroup, assertSomethingToScale, escapeRegExp, invalidCloudField, staticNodeGroupFlags } from '../provider';

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

const AWS_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/** The chart's autoDiscovery.tags for a cluster. */
function defaultDiscoveryTags(clusterName: string): string[] {
  return ['k8s.io/cluster-autoscaler/enabled', `k8s.io/cluster-autoscaler/${clusterName}`];
}

/** AWS Auto Scaling groups, listed with their bounds or discovered by tags; credentials through IRSA or the node role. */
export const AWS_AUTOSCALER_PROVIDER: AutoscalerProvider<AwsAutoscalerCloud> = Object.freeze({
  name: 'aws',
  displayName: 'AWS',
  expanders: COMMON_EXPANDERS,
  nodeVerbs: Object.freeze(['watch', 'list', 'get', 'update']),

  validate(scope: Construct, cloud: AwsAutoscalerCloud, environment: Environment): void {
    assertAwsRegion(scope, 'cloud.region', cloud.region);
    if (cloud.roleArn !== undefined && !AWS_ROLE_ARN.test(cloud.roleArn)) {
      throw invalidCloudField(scope, 'roleArn', cloud.roleArn, 'use an IAM role ARN such as "arn:aws:iam::123456789012:role/cluster-autoscaler"');
    }
    if (cloud.autoDiscovery) {
      if (!isFlagSafe(cloud.autoDiscovery.clusterName))
        throw invalidCloudField(scope, 'autoDiscovery.clusterName', cloud.autoDiscovery.clusterName, 'use the EKS cluster name (letters, digits, "-", "_", ".")');
      const tags = cloud.autoDiscovery.tags;
      if (tags !== undefined && (tags.length === 0 || tags.some((t) => !isFlagSafe(t)))) {
        throw invalidCloudField(scope, 'autoDiscovery.tags', tags, 'list one or more tag keys without commas or spaces, or omit tags for the chart defaults');
      }
    }
    // IRSA works only on EKS: elsewhere the pod would silently run without the role.
    if (cloud.roleArn !== undefined) assertIrsaAllowed(scope, 'cloud.roleArn', environment, cloud.roleArn);
  },

  clusterRoleRules: () => [],

  // Node group ids are the ASG names.
  priorityPattern: (cloudGroupName: string) => `^${escapeRegExp(cloudGroupName)}$`,

  bind(scope: Construct, cloud: AwsAutoscalerCloud, nodeGroups: readonly ScaledNodeGroup[]) {
    const discovery = cloud.autoDiscovery;
    if (!discovery) assertSomethingToScale(scope, 'aws', nodeGroups, "add node groups to the environment's nodeGroups, or set cloud.autoDiscovery");
    return {
      nodeGroupFlags: discovery ? [`--node-group-auto-discovery=asg:tag=${(discovery.tags ?? defaultDiscoveryTags(discovery.clusterName)).join(',')}`] : staticNodeGroupFlags(nodeGroups),
      nodeGroups: discovery ? [] : nodeGroups,
      env: [{ name: 'AWS_REGION', value: cloud.region }],
      serviceAccountAnnotations: cloud.roleArn ? { 'eks.amazonaws.com/role-arn': cloud.roleArn } : undefined,
    };
  },
});
