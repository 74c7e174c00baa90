import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { synthesizeStack } from '../../lib';
import { StackComponent } from '../../lib/pulumi';
import { kubernetesTypeToken } from '../../lib/pulumi/kubernetes';
import { pulumiChildName, pulumiResourceName } from '../../lib/pulumi/stack-component';
import { environments } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';

let registered: RegisteredResource[] = [];

async function useMocks(stackName: string): Promise<void> {
  registered = await recordResources(stackName);
}

describe('Pulumi back end', () => {
  beforeAll(() => useMocks('test'));
  afterEach(() => vi.resetModules());

  it('maps objects to typed resource tokens', () => {
    expect(kubernetesTypeToken({ apiVersion: 'apps/v1', kind: 'Deployment' })).toBe('kubernetes:apps/v1:Deployment');
    expect(kubernetesTypeToken({ apiVersion: 'v1', kind: 'Service' })).toBe('kubernetes:core/v1:Service');
    expect(pulumiResourceName({ kind: 'Deployment', metadata: { name: 'web-api', namespace: 'prod' } })).toBe('deployment-prod-web-api');
    expect(pulumiResourceName({ kind: 'Namespace', metadata: { name: 'prod' } })).toBe('namespace-prod');
  });

  for (const environment of environments) {
    it(`registers exactly the synthesized objects of ${environment.name}, one typed resource each, with the same specs`, async () => {
      await useMocks(environment.name);
      const expected = synthesizeStack(buildPlatform(new App(), environment)).objects.map((o) => o.manifest);
      const component = new StackComponent(environment.name, { stack: buildPlatform(new App(), environment) });
      await settled([...component.resources.values()].map((r) => r.urn));

      const kubernetesResources = registered.filter((r) => r.type.startsWith('kubernetes:'));
      expect(kubernetesResources).toHaveLength(expected.length);
      expect(registered.filter((r) => r.type === 'shipshape:index:Stack')).toHaveLength(1);
      for (const manifest of expected) {
        const matches = kubernetesResources.filter((r) => r.name === pulumiChildName(environment.name, manifest));
        expect(matches, pulumiChildName(environment.name, manifest)).toHaveLength(1);
        expect(matches[0].type).toBe(kubernetesTypeToken(manifest));
        expect(matches[0].inputs).toEqual(manifest);
      }
      // Namespaces first, workloads after identities and configuration.
      const order = kubernetesResources.map((r) => r.type);
      expect(order[0]).toBe('kubernetes:core/v1:Namespace');
      expect(order.indexOf('kubernetes:core/v1:ServiceAccount')).toBeLessThan(order.indexOf('kubernetes:apps/v1:Deployment'));
      expect(order.indexOf('kubernetes:core/v1:ConfigMap')).toBeLessThan(order.indexOf('kubernetes:apps/v1:Deployment'));
    });
  }

  it('applies namespaces, then identities and configuration, then workloads', async () => {
    await useMocks('prod');
    const prod = environments.find((e) => e.name === 'prod')!;
    const component = new StackComponent('prod', { stack: buildPlatform(new App(), prod) });
    await settled([...component.resources.values()].map((r) => r.urn));
    expect(component.tiers[0]).toEqual(expect.arrayContaining(['Namespace prod', 'PriorityClass platform-high']));
    expect(component.tiers[0].every((key) => /^(Namespace|PriorityClass|CustomResourceDefinition|StorageClass) /.test(key))).toBe(true);
    expect(component.tiers[1]).toEqual(expect.arrayContaining(['ConfigMap prod/web-api-settings', 'ServiceAccount prod/web-api']));
    expect(component.tiers[2]).toEqual(expect.arrayContaining(['Deployment prod/web-api', 'HorizontalPodAutoscaler prod/web-api', 'Service prod/web-api']));
    expect(component.tiers.flat()).toHaveLength(component.resources.size);
  });

  it('refuses to deploy an environment that fails policy', async () => {
    await useMocks('test');
    const { AntiAffinityDeployment, Stack } = await import('../../lib');
    const stack = new Stack(new App(), 'bad', { environment: environments[0] });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }], replicas: 3, autoscaling: false, disruptionBudget: false });
    expect(() => new StackComponent('bad', { stack })).toThrow(/deployment refused.*\n.*\[disruption-budget\]/);
  });

  it('runs the stack program for the Pulumi stack named after the environment, with the configured context', async () => {
    await useMocks('prod');
    pulumi.runtime.setConfig('shipshape:context', 'prod-cluster');
    const program = await import('../../stacks/pulumi');
    const prod = environments.find((e) => e.name === 'prod')!;
    expect(program.objects).toBe(synthesizeStack(buildPlatform(new App(), prod)).objects.length);
    await vi.waitFor(() => expect(registered.filter((r) => r.type.startsWith('kubernetes:') && !r.type.startsWith('pulumi:'))).toHaveLength(program.objects));
    const provider = registered.find((r) => r.type === 'pulumi:providers:kubernetes');
    expect(provider?.inputs.context).toBe('prod-cluster');
    const deployment = registered.find((r) => r.name === 'prod-deployment-prod-web-api')!;
    expect(deployment.provider).toMatch(/^urn:pulumi:prod::shipshape-platform::pulumi:providers:kubernetes::kubernetes::/);
  });

  it('runs the Swarm environment as Docker resources only, without a Kubernetes provider', async () => {
    await useMocks('swarm-edge');
    pulumi.runtime.setConfig('shipshape:dockerHost', 'ssh://deploy@edge-manager-1');
    pulumi.runtime.setConfig('shipshape:dockerhubUsername', 'acme');
    pulumi.runtime.setConfig('shipshape:dockerhubToken', 'not-a-real-token');
    const program = await import('../../stacks/pulumi');
    expect(program.objects).toBe(0);
    await vi.waitFor(() => expect(registered.filter((r) => r.type === 'docker:index/service:Service')).toHaveLength(program.swarmServices));
    expect(registered.map((r) => r.type)).not.toContain('pulumi:providers:kubernetes');
    expect(registered.find((r) => r.type === 'pulumi:providers:docker')?.inputs.host).toBe('ssh://deploy@edge-manager-1');
    // swarm-edge's Docker-host registry mirror is a Swarm service (global, host-local), not a standalone container.
    expect(
      registered
        .filter((r) => r.type === 'docker:index/service:Service')
        .map((r) => r.inputs.name)
        .sort(),
    ).toEqual(['edge_cadvisor', 'edge_registry-mirror', 'edge_web']);
    expect(registered.filter((r) => r.type === 'docker:index/container:Container')).toHaveLength(0);
  });
});
