import * as kplus from 'cdk8s-plus-27';
import { AutoscalerCloud, AutoscalerProviderName, AUTOSCALER_PROVIDERS, autoscalerProviderFor } from './cloud';

type Rule = kplus.k8s.PolicyRule;

/** The only ConfigMap name the priority expander reads. */
export const PRIORITY_EXPANDER_CONFIGMAP = 'cluster-autoscaler-priority-expander';
// The ConfigMap the autoscaler writes its status to.
const STATUS_CONFIGMAP = 'cluster-autoscaler-status';

/**
 * Verbs on `nodes` per provider, as the chart grants them since kubernetes/autoscaler#8647 (chart 9.52.1): every
 * provider reads nodes and updates them (the scale-down taints); only kwok creates Node objects and only kwok and
 * huaweicloud delete them. The providers here remove the cloud instance (or Machine) and leave the Node object to
 * the cloud controller manager (or Cluster API), so none gets create or delete.
 */
export const NODE_VERBS_BY_PROVIDER: Readonly<Record<AutoscalerProviderName, readonly string[]>> = Object.freeze(
  Object.fromEntries(Object.values(AUTOSCALER_PROVIDERS).map((p) => [p.name, p.nodeVerbs])) as Record<AutoscalerProviderName, readonly string[]>,
);

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
 * The ClusterRole rules the autoscaler gets in the cluster it runs in, for a cloud: the chart's rules with the
 * provider's node verbs, plus the provider's own rules (the `cluster.x-k8s.io` rules when Cluster API objects are
 * read in-cluster).
 */
export function clusterAutoscalerClusterRoleRules(cloud: AutoscalerCloud): Rule[] {
  const provider = autoscalerProviderFor('clusterAutoscalerClusterRoleRules', cloud);
  const rules = UPSTREAM_CLUSTER_ROLE_RULES.map((r) => ({ ...r }));
  rules.splice(NODES_RULE_INDEX, 0, { apiGroups: [''], resources: ['nodes'], verbs: [...provider.nodeVerbs] });
  rules.push(...provider.clusterRoleRules(cloud).map((r) => ({ ...r })));
  return rules;
}

/** The chart's Role (templates/role.yaml) in the release namespace, with the priority-expander additions when it is used. */
export function clusterAutoscalerRoleRules(priorityExpander: boolean): Rule[] {
  return [
    { apiGroups: [''], resources: ['configmaps'], verbs: priorityExpander ? ['create', 'list', 'watch'] : ['create'] },
    {
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: priorityExpander ? [STATUS_CONFIGMAP, PRIORITY_EXPANDER_CONFIGMAP] : [STATUS_CONFIGMAP],
      verbs: priorityExpander ? ['delete', 'get', 'update', 'watch'] : ['delete', 'get', 'update'],
    },
  ];
}
