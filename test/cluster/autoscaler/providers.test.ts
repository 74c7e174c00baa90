import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUTOSCALER_EXPANDERS, COMMON_EXPANDERS, ScaledNodeGroup } from '../../../lib/cluster/autoscaler/provider';
import {
  AUTOSCALER_PROVIDERS,
  AutoscalerCloud,
  AutoscalerProvider,
  AutoscalerProviderName,
  ClusterAutoscaler,
  NODE_VERBS_BY_PROVIDER,
  clusterAutoscalerClusterRoleRules,
} from '../../../lib/cluster/cluster-autoscaler';
import { findObject, newStack, synthStack } from '../../support/synth';
import { expectValidAndClean, shipshapeError } from '../../support/cluster';

// One cloud of each provider, written with the typed constructors, and the same settings as plain objects.
const CLOUDS: Record<AutoscalerProviderName, AutoscalerCloud> = {
  aws: AutoscalerCloud.aws({ region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/ca' }),
  gce: AutoscalerCloud.gce({ serviceAccount: 'cluster-autoscaler@acme-prod.iam.gserviceaccount.com' }),
  azure: AutoscalerCloud.azure({ subscriptionId: '0b7e1c5a-1111-4222-8333-944455556666', resourceGroup: 'rg', identity: { workloadIdentityClientId: '7d5c8b9e-1111-4222-8333-944455556666' } }),
  clusterapi: AutoscalerCloud.clusterApi({ clusterName: 'acme', namespace: 'clusters', managementCluster: { kubeconfigSecret: 'mgmt-kubeconfig' } }),
};
const LITERALS: Record<AutoscalerProviderName, AutoscalerCloud> = {
  aws: { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/ca' },
  gce: { provider: 'gce', serviceAccount: 'cluster-autoscaler@acme-prod.iam.gserviceaccount.com' },
  azure: { provider: 'azure', subscriptionId: '0b7e1c5a-1111-4222-8333-944455556666', resourceGroup: 'rg', identity: { workloadIdentityClientId: '7d5c8b9e-1111-4222-8333-944455556666' } },
  clusterapi: { provider: 'clusterapi', clusterName: 'acme', namespace: 'clusters', managementCluster: { kubeconfigSecret: 'mgmt-kubeconfig' } },
};
const NAMES = Object.keys(AUTOSCALER_PROVIDERS) as AutoscalerProviderName[];
// The test environment's groups as the construct resolves them.
const GROUPS: readonly ScaledNodeGroup[] = [
  { name: 'webapi', cloudGroupName: 'webapi', minSize: 3, maxSize: 6 },
  { name: 'batch', cloudGroupName: 'batch', minSize: 0, maxSize: 2 },
];
const provider = (name: AutoscalerProviderName) => AUTOSCALER_PROVIDERS[name] as AutoscalerProvider<AutoscalerCloud>;

describe('autoscaler providers', () => {
  it("has one provider per cloud, registered under its own name, with the chart's node verbs and known expanders", () => {
    expect(NAMES).toEqual(['aws', 'gce', 'azure', 'clusterapi']);
    for (const name of NAMES) {
      const p = provider(name);
      expect(p.name).toBe(name);
      expect(NODE_VERBS_BY_PROVIDER[name]).toEqual(p.nodeVerbs);
      expect(p.nodeVerbs.filter((v) => ['create', 'delete', 'deletecollection', '*'].includes(v))).toEqual([]);
      expect(p.expanders).toEqual(expect.arrayContaining([...COMMON_EXPANDERS]));
      for (const e of p.expanders) expect(AUTOSCALER_EXPANDERS).toContain(e);
    }
    // Only GCE implements the price expander, and the error names the clouds that do.
    expect(NAMES.filter((n) => provider(n).expanders.includes('price'))).toEqual(['gce']);
    for (const name of NAMES.filter((n) => n !== 'gce')) {
      const e = shipshapeError(() => synthStack((stack) => new ClusterAutoscaler(stack, 'ca', { cloud: CLOUDS[name], expander: 'price' })));
      expect(e.message).toContain(`the price expander is implemented only for GCE, not ${name}`);
      expect(e.path).toBe('test/ca');
    }
  });

  it.each(NAMES)('%s: the typed constructor gives the plain settings, and both synthesize the same objects', (name) => {
    expect(CLOUDS[name]).toEqual(LITERALS[name]);
    const typed = synthStack((stack) => new ClusterAutoscaler(stack, 'ca', { cloud: CLOUDS[name] }));
    const plain = synthStack((stack) => new ClusterAutoscaler(stack, 'ca', { cloud: LITERALS[name] }));
    expectValidAndClean(typed);
    expect(typed.objects.map((o) => o.manifest)).toEqual(plain.objects.map((o) => o.manifest));
  });

  it.each(NAMES)('%s: the construct renders what the provider says, where the chart puts it', (name) => {
    const cloud = CLOUDS[name];
    const config = provider(name).bind(newStack(), cloud, GROUPS);
    const result = synthStack((stack) => new ClusterAutoscaler(stack, 'ca', { cloud }));
    const deployment = findObject(result, 'Deployment', 'cluster-autoscaler');
    const pod = deployment.spec.template.spec;
    const command: string[] = pod.containers[0].command;
    // --cloud-provider, the provider's cloud flags, --namespace, then the provider's node group flags.
    const cloudFlags = config.cloudFlags ?? [];
    expect(command.slice(1, 2 + cloudFlags.length)).toEqual([`--cloud-provider=${name}`, ...cloudFlags]);
    const namespaceAt = command.indexOf('--namespace=kube-system');
    expect(namespaceAt).toBe(2 + cloudFlags.length);
    expect(config.nodeGroupFlags.length).toBeGreaterThan(0);
    expect(command.slice(namespaceAt + 1, namespaceAt + 1 + config.nodeGroupFlags.length)).toEqual(config.nodeGroupFlags);
    expect(command[namespaceAt + 1 + config.nodeGroupFlags.length]).toMatch(/^--expander=/);
    expect(pod.containers[0].env.slice(2)).toEqual(config.env ?? []);
    expect(findObject(result, 'ServiceAccount', 'cluster-autoscaler').metadata.annotations).toEqual(config.serviceAccountAnnotations);
    for (const [key, value] of Object.entries(config.podLabels ?? {})) expect(deployment.spec.template.metadata.labels[key]).toBe(value);
    expect(pod.volumes).toEqual(config.volumes);
    expect(pod.containers[0].volumeMounts).toEqual(config.volumeMounts);
    // The ClusterRole ends with the provider's own rules, after the chart's 15.
    const rules = findObject(result, 'ClusterRole', 'cluster-autoscaler').rules;
    expect(rules.slice(15)).toEqual(provider(name).clusterRoleRules(cloud));
    expect(rules).toEqual(clusterAutoscalerClusterRoleRules(cloud));
  });

  it('refuses an unknown provider, naming the ones in the table', () => {
    const e = shipshapeError(() => synthStack((stack) => new ClusterAutoscaler(stack, 'ca', { cloud: { provider: 'kwok' } as unknown as AutoscalerCloud })));
    expect(e.message).toContain('cloud.provider is not a supported cloud (got "kwok")');
    expect(e.fix).toBe("use one of 'aws', 'gce', 'azure', 'clusterapi'");
    expect(e.path).toBe('test/ca');
    expect(() => clusterAutoscalerClusterRoleRules({ provider: 'kwok' } as unknown as AutoscalerCloud)).toThrow(/cloud.provider is not a supported cloud/);
  });

  // The priority expander matches its patterns against node group ids, whose form each provider knows.
  const ID_OF: Record<AutoscalerProviderName, (name: string) => string> = {
    aws: (n) => n,
    azure: (n) => n,
    gce: (n) => `https://www.googleapis.com/compute/v1/projects/acme/zones/europe-west1-b/instanceGroups/${n}`,
    clusterapi: (n) => `MachineSet/clusters/${n}`,
  };
  // Cloud group names as resolveGroups accepts them: letters, digits, ".", "_", "-", "/".
  const groupName = fc.stringMatching(/^[A-Za-z0-9._\-/]{1,20}$/);

  it.each(NAMES)("%s: a priority pattern matches its own group's id and no other group's", (name) => {
    const p = provider(name);
    fc.assert(
      fc.property(groupName, groupName, (own, other) => {
        const pattern = new RegExp(p.priorityPattern(own));
        expect(pattern.test(ID_OF[name](own))).toBe(true);
        // GCE ids name the instance group, whose name continues after the prefix (without another "/").
        const matchesOther = name === 'gce' ? other.startsWith(own) && !other.slice(own.length).includes('/') : other === own;
        expect(pattern.test(ID_OF[name](other))).toBe(matchesOther);
      }),
      { numRuns: 300 },
    );
    if (name === 'clusterapi') {
      const pattern = new RegExp(p.priorityPattern('md-0'));
      for (const kind of ['MachineDeployment', 'MachineSet', 'MachinePool']) expect(pattern.test(`${kind}/clusters/md-0`)).toBe(true);
      expect(pattern.test('Machine/clusters/md-0')).toBe(false);
    }
  });
});
