import { App } from 'cdk8s';
import { beforeAll, describe, expect, it } from 'vitest';
import { Stack, synthesizeStack } from '../../lib';
import { EfkLogging } from '../../lib/logging';
import { StackComponent } from '../../lib/pulumi';
import { kubernetesTypeToken } from '../../lib/pulumi/kubernetes';
import { pulumiChildName } from '../../lib/pulumi/stack-component';
import { environments } from '../../stacks/environments';
import { addLogging } from '../../stacks/logging';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';

let registered: RegisteredResource[] = [];

beforeAll(async () => {
  registered = await recordResources('prod', { project: 'shipshape-logging' });
});

describe('EfkLogging through the Pulumi back end', () => {
  it('registers one typed resource per logging object, custom resources included, after the logging Namespace', async () => {
    registered.length = 0;
    const prod = environments.find((e) => e.name === 'prod')!;
    const build = () => {
      const stack = new Stack(new App(), prod.name, { environment: prod });
      const efk: EfkLogging = addLogging(stack);
      return { stack, efk };
    };
    const expected = synthesizeStack(build().stack).objects.map((o) => o.manifest);
    const component = new StackComponent('prod', { stack: build().stack });
    await settled([...component.resources.values()].map((r) => r.urn));
    const kubernetes = registered.filter((r) => r.type.startsWith('kubernetes:'));
    expect(kubernetes).toHaveLength(expected.length);
    for (const manifest of expected) {
      const match = kubernetes.find((r) => r.name === pulumiChildName('prod', manifest));
      expect(match, pulumiChildName('prod', manifest)).toBeDefined();
      expect(match!.type).toBe(kubernetesTypeToken(manifest));
      expect(match!.inputs).toEqual(manifest);
    }
    const types = kubernetes.map((r) => r.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'kubernetes:apps/v1:StatefulSet',
        'kubernetes:apps/v1:DaemonSet',
        'kubernetes:batch/v1:Job',
        'kubernetes:networking.k8s.io/v1:NetworkPolicy',
        'kubernetes:monitoring.coreos.com/v1:PrometheusRule',
        'kubernetes:monitoring.coreos.com/v1:ServiceMonitor',
      ]),
    );
    expect(component.tiers[0]).toEqual(expect.arrayContaining(['Namespace logging']));
    expect(component.tiers[1]).toEqual(expect.arrayContaining(['ConfigMap logging/fluentd-config', 'ClusterRole fluentd', 'ServiceAccount logging/fluentd']));
    expect(component.tiers[2]).toEqual(expect.arrayContaining(['DaemonSet logging/fluentd', 'StatefulSet logging/elasticsearch']));
  });
});
