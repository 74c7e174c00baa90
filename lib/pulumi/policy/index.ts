// The entry `shipshape/pulumi/policy`: a ready policy pack. Constructing a PolicyPack starts the analyzer the Pulumi
// engine talks to, so this module is imported only by a policy pack project, never by `shipshape/pulumi`.
import { PolicyPack } from '@pulumi/policy';
import { SHIPSHAPE_POLICY_PACK_NAME, shipshapePolicies } from '../policy-pack';

/** The shipshape policy pack: every shipshape policy rule, checked on the Kubernetes resources of a Pulumi program. */
export const shipshapePolicyPack = new PolicyPack(SHIPSHAPE_POLICY_PACK_NAME, {
  description: 'shipshape policy rules (resources, probes, pinned images, spreading, disruption budgets, non-root, no plaintext credentials, least-privilege RBAC) for Kubernetes resources',
  policies: shipshapePolicies(),
});
