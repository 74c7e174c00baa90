import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { synthesizeStack } from '../../lib';
import { StackComponent } from '../../lib/pulumi';
import { kubernetesTypeToken } from '../../lib/pulumi/kubernetes';
import { environmentNamed } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';
import { recordResources, settled } from '../support/pulumi-mocks';

describe('cluster operations through the Pulumi back end', () => {
  for (const envName of ['stage', 'prod']) {
    it(`registers every cluster-operations object of ${envName} as a typed resource, API registrations last`, async () => {
      const registered = await recordResources(envName);
      const environment = environmentNamed(envName);
      const build = () => {
        const stack = buildPlatform(new App(), environment);
        return stack;
      };
      const expected = synthesizeStack(build()).objects.map((o) => o.manifest);
      const component = new StackComponent(envName, { stack: build() });
      await settled([...component.resources.values()].map((r) => r.urn));

      const kubernetes = registered.filter((r) => r.type.startsWith('kubernetes:'));
      expect(kubernetes).toHaveLength(expected.length);
      for (const m of expected) {
        const match = kubernetes.find((r) => r.type === kubernetesTypeToken(m) && r.inputs.metadata?.name === m.metadata.name && r.inputs.metadata?.namespace === m.metadata.namespace);
        expect(match, `${m.kind} ${m.metadata.name}`).toBeDefined();
      }
      const types = new Set(kubernetes.map((r) => r.type));
      // Only stage's self-managed control plane has the etcd backup CronJob; prod is EKS.
      for (const t of [
        'kubernetes:apiregistration.k8s.io/v1:APIService',
        'kubernetes:scheduling.k8s.io/v1:PriorityClass',
        ...(envName === 'stage' ? ['kubernetes:batch/v1:CronJob'] : []),
        'kubernetes:rbac.authorization.k8s.io/v1:ClusterRole',
        'kubernetes:policy/v1:PodDisruptionBudget',
      ]) {
        expect(types.has(t), t).toBe(true);
      }
      expect(component.tiers[0]).toEqual(expect.arrayContaining(['PriorityClass platform-critical', 'Namespace team1']));
      expect(component.tiers[component.tiers.length - 1]).toEqual(['APIService v1beta1.metrics.k8s.io']);
      expect(component.tiers[1]).toEqual(
        expect.arrayContaining(['ClusterRole cluster-autoscaler', 'ServiceAccount kube-system/cluster-autoscaler', 'Role team1/team1-' + (envName === 'prod' ? 'read-only' : 'deployer')]),
      );
    });
  }
});
