import { Construct } from 'constructs';
import { isDns1123Subdomain } from '../../../core/validate';
import { isFlagSafe } from '../../support';
import { AutoscalerProvider, COMMON_EXPANDERS, ScaledNodeGroup, assertSomethingToScale, escapeRegExp, invalidCloudField, staticNodeGroupFlags } from '../provider';

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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Azure resource group names: 1-90 letters, digits, "-", "_", ".", "(" and ")".
const RESOURCE_GROUP = /^[-\w.()]{1,90}$/;
// The chart's Secret keys and the variables the Azure provider reads them from.
const CREDENTIAL_ENV: readonly (readonly [string, string])[] = [
  ['ARM_TENANT_ID', 'TenantID'],
  ['ARM_CLIENT_ID', 'ClientID'],
  ['ARM_CLIENT_SECRET', 'ClientSecret'],
];

/** Azure virtual machine scale sets, listed with their bounds or discovered by tags; Workload Identity or a credentials Secret. */
export const AZURE_AUTOSCALER_PROVIDER: AutoscalerProvider<AzureAutoscalerCloud> = Object.freeze({
  name: 'azure',
  displayName: 'Azure',
  expanders: COMMON_EXPANDERS,
  nodeVerbs: Object.freeze(['watch', 'list', 'get', 'update']),

  validate(scope: Construct, cloud: AzureAutoscalerCloud): void {
    if (!UUID.test(cloud.subscriptionId ?? '')) throw invalidCloudField(scope, 'subscriptionId', cloud.subscriptionId, 'use the subscription GUID');
    if (!RESOURCE_GROUP.test(cloud.resourceGroup ?? '')) throw invalidCloudField(scope, 'resourceGroup', cloud.resourceGroup, 'use the resource group name of the scale sets');
    const identity = cloud.identity ?? {};
    if ('workloadIdentityClientId' in identity) {
      if (!UUID.test(identity.workloadIdentityClientId)) throw invalidCloudField(scope, 'identity.workloadIdentityClientId', identity.workloadIdentityClientId, 'use the managed identity client GUID');
    } else if ('credentialsSecret' in identity) {
      if (!isDns1123Subdomain(identity.credentialsSecret))
        throw invalidCloudField(scope, 'identity.credentialsSecret', identity.credentialsSecret, 'name the Secret holding ClientID, ClientSecret and TenantID');
    } else {
      throw invalidCloudField(scope, 'identity', identity, 'set { workloadIdentityClientId } or { credentialsSecret }', 'cloud.identity must say how the autoscaler authenticates to Azure');
    }
    if (cloud.autoDiscovery && !isFlagSafe(cloud.autoDiscovery.clusterName)) throw invalidCloudField(scope, 'autoDiscovery.clusterName', cloud.autoDiscovery.clusterName, 'use the AKS cluster name');
  },

  clusterRoleRules: () => [],

  // Node group ids are the VMSS names.
  priorityPattern: (cloudGroupName: string) => `^${escapeRegExp(cloudGroupName)}$`,

  bind(scope: Construct, cloud: AzureAutoscalerCloud, nodeGroups: readonly ScaledNodeGroup[]) {
    const discovery = cloud.autoDiscovery;
    if (!discovery) assertSomethingToScale(scope, 'azure', nodeGroups, "add node groups to the environment's nodeGroups, or set cloud.autoDiscovery");
    const identity = cloud.identity;
    const clientId = 'workloadIdentityClientId' in identity ? identity.workloadIdentityClientId : undefined;
    return {
      nodeGroupFlags: discovery ? [`--node-group-auto-discovery=label:cluster-autoscaler-enabled=true,cluster-autoscaler-name=${discovery.clusterName}`] : staticNodeGroupFlags(nodeGroups),
      nodeGroups: discovery ? [] : nodeGroups,
      env: [
        { name: 'ARM_SUBSCRIPTION_ID', value: cloud.subscriptionId },
        { name: 'ARM_RESOURCE_GROUP', value: cloud.resourceGroup },
        { name: 'ARM_VM_TYPE', value: 'vmss' },
        ...('workloadIdentityClientId' in identity
          ? [{ name: 'ARM_USE_WORKLOAD_IDENTITY_EXTENSION', value: 'true' }]
          : CREDENTIAL_ENV.map(([name, key]) => ({ name, valueFrom: { secretKeyRef: { name: identity.credentialsSecret, key } } }))),
      ],
      serviceAccountAnnotations: clientId ? { 'azure.workload.identity/client-id': clientId } : undefined,
      // The Workload Identity webhook injects the token only into pods that opt in with this label.
      podLabels: clientId ? { 'azure.workload.identity/use': 'true' } : undefined,
    };
  },
});
