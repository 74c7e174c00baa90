/**
 * Apply order by kind: what others refer to goes first. Tier 0 defines names
 * and types, tier 1 identities, configuration and storage, tier 2 workloads and
 * everything else, tier 3 API registrations served by those workloads. Used for
 * kustomization.yaml and for Pulumi dependencies.
 */
const TIERS: Record<string, number> = {
  Namespace: 0,
  CustomResourceDefinition: 0,
  PriorityClass: 0,
  StorageClass: 0,
  ServiceAccount: 1,
  ClusterRole: 1,
  Role: 1,
  ClusterRoleBinding: 1,
  RoleBinding: 1,
  ConfigMap: 1,
  Secret: 1,
  PersistentVolumeClaim: 1,
  // Before any pod: a pod admitted before its namespace's LimitRange gets no defaults, and the quota then refuses it.
  LimitRange: 1,
  ResourceQuota: 1,
  // Tier 3: API registrations go after the workloads that serve them; an APIService or webhook whose
  // backend is not up yet makes discovery (or every matching request) fail until it is.
  APIService: 3,
  ValidatingWebhookConfiguration: 3,
  MutatingWebhookConfiguration: 3,
};

/**
 * Orders strings by UTF-16 code units. Unlike `localeCompare`, the result does not depend on the
 * machine's locale or ICU data, so output order (and bytes) are the same everywhere.
 */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Apply tier of a kind (0 to 3). */
export function applyTier(kind: string): number {
  return TIERS[kind] ?? 2;
}

/** Kinds that live outside namespaces; cdk8s would otherwise stamp the chart namespace on them. */
export const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'PriorityClass',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'APIService',
  'PersistentVolume',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'IngressClass',
]);
