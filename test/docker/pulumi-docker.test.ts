import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { beforeEach, describe, expect, it } from 'vitest';
import { registerDockerResources } from '../../lib/pulumi/docker';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';
import { hostStack } from './helpers';

let registered: RegisteredResource[] = [];

async function useMocks(config: Record<string, string> = {}): Promise<void> {
  pulumi.runtime.setAllConfig(config, Object.keys(config).filter((k) => k.startsWith('swarm:')));
  registered = await recordResources('swarm-edge', {
    state: (args) => (args.type === 'docker:index/remoteImage:RemoteImage' ? { imageId: `sha256:${args.name}` } : {}),
  });
}

class Parent extends pulumi.ComponentResource {
  constructor(name: string) {
    super('shipshape:index:Stack', name, {});
  }
}

// Pulumi's wire marker for secret values, as mocks receive them.
const SECRET_SIG = '4dabf18193072939515e22adb298388d';
function unsecret(v: any): any {
  return v && typeof v === 'object' && SECRET_SIG in v ? v.value : v;
}
function isSecret(v: any): boolean {
  return Boolean(v && typeof v === 'object' && SECRET_SIG in v);
}

const SECRETS = { 'swarm:dockerhub-username': 'acme', 'swarm:dockerhub-token': 'dckr_pat_x', 'shipshape:dockerHost': 'ssh://ops@edge-1' };

describe('Pulumi mapping of Docker resources', () => {
  beforeEach(() => useMocks(SECRETS));

  it('registers a docker.Service per SwarmService and RemoteImage + Container for the host mirror, through a provider from stack config', async () => {
    const platform = buildSwarmPlatform(new App());
    const resources = registerDockerResources(platform.stack, { parent: new Parent('swarm-edge') });
    await settled([
      ...Object.values(resources.services).map((s) => s.urn),
      ...Object.values(resources.mirrors).map((m) => m.container.urn),
      ...Object.values(resources.networks).map((n) => n.urn),
    ]);
    expect(Object.keys(resources.services).sort()).toEqual(['cadvisor', 'web']);
    expect(Object.keys(resources.mirrors)).toEqual(['registry-mirror']);
    const types = registered.map((r) => r.type).filter((t) => t.includes('docker')).sort();
    expect(types).toEqual([
      'docker:index/container:Container',
      'docker:index/network:Network',
      'docker:index/remoteImage:RemoteImage',
      'docker:index/service:Service',
      'docker:index/service:Service',
      'docker:index/volume:Volume',
      'pulumi:providers:docker',
    ]);
    const provider = registered.find((r) => r.type === 'pulumi:providers:docker')!;
    expect(provider.inputs.host).toBe('ssh://ops@edge-1');
    for (const r of registered.filter((x) => x.type.startsWith('docker:index'))) expect(r.provider).toMatch(/pulumi:providers:docker::swarm-edge-docker::/);
  });

  it('maps the web service’s deploy section onto docker.Service inputs', async () => {
    const platform = buildSwarmPlatform(new App());
    const resources = registerDockerResources(platform.stack, { parent: new Parent('swarm-edge') });
    await settled(Object.values(resources.services).map((s) => s.urn));
    const web = registered.find((r) => r.type === 'docker:index/service:Service' && r.inputs.name === 'edge_web')!;
    expect(web.inputs.mode).toEqual({ replicated: { replicas: 3 } });
    expect(web.inputs.updateConfig).toEqual({ parallelism: 1, delay: '10000ms', failureAction: 'rollback', monitor: '30000ms', maxFailureRatio: '0', order: 'start-first' });
    expect(web.inputs.endpointSpec).toEqual({ mode: 'vip', ports: [{ targetPort: 80, publishedPort: 80, protocol: 'tcp', publishMode: 'ingress' }] });
    const task = web.inputs.taskSpec;
    expect(task.containerSpec.image).toBe('nginx:1.27.2-alpine');
    expect(task.containerSpec.healthcheck.tests).toEqual(['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1/']);
    expect(task.placement).toEqual({ constraints: ['node.labels.instancegroup == edge'], prefs: ['spread=node.labels.zone'], maxReplicas: 2 });
    expect(task.resources).toEqual({ limits: { memoryBytes: 128 * 1024 * 1024 }, reservation: { memoryBytes: 64 * 1024 * 1024, nanoCpus: 250_000_000 } });
    expect(task.logDriver).toEqual({ name: 'json-file', options: { 'max-file': '5', 'max-size': '10m' } });
    expect(task.networksAdvanceds).toEqual([{ name: 'swarm-edge-network-edge-id' }]);
    const cadvisor = registered.find((r) => r.inputs.name === 'edge_cadvisor')!;
    expect(cadvisor.inputs.mode).toEqual({ global: true });
    expect(cadvisor.inputs.taskSpec.containerSpec.mounts).toContainEqual({ type: 'bind', source: '/var/lib/docker', target: '/var/lib/docker', readOnly: true });
  });

  it('runs the host mirror as a container with the synthesized config.yml and the login from Pulumi secrets', async () => {
    const platform = buildSwarmPlatform(new App());
    const resources = registerDockerResources(platform.stack, { parent: new Parent('swarm-edge') });
    await settled([resources.mirrors['registry-mirror'].container.urn]);
    const container = registered.find((r) => r.type === 'docker:index/container:Container')!;
    expect(container.inputs.image).toBe('sha256:swarm-edge-image-registry-mirror');
    expect(container.inputs.ports).toEqual([{ internal: 5000, external: 5000 }]);
    expect(container.inputs.uploads).toEqual([{ file: '/etc/docker/registry/config.yml', content: platform.mirror.config.render() }]);
    expect(container.inputs.volumes).toEqual([{ volumeName: 'registry-mirror-cache', containerPath: '/var/lib/registry' }]);
    // The login is a Pulumi secret: encrypted in state, and never part of the synthesized files.
    expect(isSecret(container.inputs.envs)).toBe(true);
    expect(unsecret(container.inputs.envs)).toEqual(['REGISTRY_PROXY_USERNAME=acme', 'REGISTRY_PROXY_PASSWORD=dckr_pat_x']);
    expect(container.inputs.restart).toBe('unless-stopped');
    expect(registered.find((r) => r.type === 'docker:index/remoteImage:RemoteImage')!.inputs).toMatchObject({ name: 'registry:2.8.3', keepLocally: true });
  });

  it('creates Swarm secrets and configs for services that use them, and nothing for a stack without Docker resources', async () => {
    const { SwarmService, SwarmStack } = await import('../../lib/swarm');
    const stack = hostStack();
    new SwarmStack(stack, 'swarm', { name: 'shop' });
    new SwarmService(stack, 'api', { name: 'api', image: 'ghcr.io/acme/api:1.0.0', secrets: [{ name: 'dockerhub-token' }], configs: [{ name: 'settings', content: 'a: 1\n', target: '/etc/settings.yml' }] });
    const resources = registerDockerResources(stack, { parent: new Parent('edge') });
    await settled([resources.services.api.urn]);
    const secret = registered.find((r) => r.type === 'docker:index/secret:Secret')!;
    expect(secret.inputs.name).toBe('dockerhub-token');
    expect(isSecret(secret.inputs.data)).toBe(true);
    expect(Buffer.from(unsecret(secret.inputs.data), 'base64').toString()).toBe('dckr_pat_x');
    const config = registered.find((r) => r.type === 'docker:index/serviceConfig:ServiceConfig')!;
    expect(config.inputs.name).toMatch(/^shop-api-settings-[0-9a-f]{10}$/);
    expect(Buffer.from(config.inputs.data, 'base64').toString()).toBe('a: 1\n');
    const api = registered.find((r) => r.type === 'docker:index/service:Service')!;
    expect(api.inputs.taskSpec.containerSpec.secrets).toEqual([{ secretId: 'edge-secret-dockerhub-token-id', secretName: 'dockerhub-token', fileName: '/run/secrets/dockerhub-token', fileMode: 0o400 }]);
    expect(api.inputs.taskSpec.containerSpec.configs[0]).toMatchObject({ configId: 'edge-config-api-settings-id', fileName: '/etc/settings.yml', fileMode: 0o444 });

    registered.length = 0;
    const empty = registerDockerResources(hostStack(), { parent: new Parent('empty') });
    expect(empty.provider).toBeUndefined();
    expect(registered.filter((r) => r.type.startsWith('docker:') || r.type === 'pulumi:providers:docker')).toEqual([]);
  });
});
