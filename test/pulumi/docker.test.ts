import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { beforeEach, describe, expect, it } from 'vitest';
import { synthesizeStack } from '../../lib';
import { fromInput } from '../../lib/pulumi';
import { registerDockerResources } from '../../lib/pulumi/docker';
import { DockerHostRegistryMirror, proxyLoginCommand } from '../../lib/registry';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';
import { hostStack } from '../support/hosts';

let registered: RegisteredResource[] = [];

async function useMocks(config: Record<string, string> = {}): Promise<void> {
  pulumi.runtime.setAllConfig(
    config,
    Object.keys(config).filter((k) => k !== 'shipshape:dockerHost'),
  );
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

const SECRETS = { 'shipshape:dockerhubUsername': 'acme', 'shipshape:dockerhubToken': 'dckr_pat_x', 'shipshape:mirrorUsers': 'ci:$2y$05$x', 'shipshape:dockerHost': 'ssh://ops@edge-1' };

describe('Pulumi mapping of Docker resources', () => {
  beforeEach(() => useMocks(SECRETS));

  it('registers a docker.Service per SwarmService, the host mirror’s included, through a provider from stack config', async () => {
    const platform = buildSwarmPlatform(new App());
    const resources = registerDockerResources(platform.stack, { parent: new Parent('swarm-edge') });
    await settled([...Object.values(resources.services).map((s) => s.urn), ...Object.values(resources.networks).map((n) => n.urn)]);
    expect(Object.keys(resources.services).sort()).toEqual(['cadvisor', 'registry-mirror', 'web']);
    expect(Object.keys(resources.mirrors)).toEqual([]);
    // Docker's host network exists on every node: only the overlays are created, cAdvisor's implicit default one
    // included (docker stack deploy creates `<project>_default` for services that name no network).
    expect(Object.keys(resources.networks).sort()).toEqual(['default', 'edge']);
    expect(
      registered
        .filter((r) => r.type === 'docker:index/network:Network')
        .map((r) => r.inputs.name)
        .sort(),
    ).toEqual(['edge_default', 'edge_edge']);
    const types = registered
      .map((r) => r.type)
      .filter((t) => t.includes('docker'))
      .sort();
    expect(types).toEqual([
      'docker:index/network:Network',
      'docker:index/network:Network',
      'docker:index/secret:Secret',
      'docker:index/secret:Secret',
      'docker:index/service:Service',
      'docker:index/service:Service',
      'docker:index/service:Service',
      'docker:index/serviceConfig:ServiceConfig',
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

  it('runs the swarm-edge mirror as a global service on the host network, the login from Swarm secrets made from Pulumi secrets', async () => {
    const platform = buildSwarmPlatform(new App());
    const resources = registerDockerResources(platform.stack, { parent: new Parent('swarm-edge') });
    await settled([resources.services['registry-mirror'].urn]);
    const service = registered.find((r) => r.type === 'docker:index/service:Service' && r.inputs.name === 'edge_registry-mirror')!;
    expect(service.inputs.mode).toEqual({ global: true });
    expect(service.inputs.endpointSpec.ports).toEqual([]);
    const task = service.inputs.taskSpec;
    expect(task.networksAdvanceds).toEqual([{ name: 'host' }]);
    expect(task.containerSpec.commands).toEqual(platform.mirror.command);
    expect(task.containerSpec.env).toBeUndefined();
    expect(task.containerSpec.secrets.map((x: any) => `${x.secretName}:${x.fileName}`)).toEqual(['dockerhub-username:/run/secrets/dockerhub-username', 'dockerhub-token:/run/secrets/dockerhub-token']);
    expect(task.containerSpec.configs[0]).toMatchObject({ fileName: '/etc/docker/registry/config.yml' });
    const secrets = registered.filter((r) => r.type === 'docker:index/secret:Secret');
    expect(secrets.every((x) => isSecret(x.inputs.data))).toBe(true);
    expect(secrets.map((x) => Buffer.from(unsecret(x.inputs.data), 'base64').toString()).sort()).toEqual(['acme', 'dckr_pat_x']);
    const config = registered.find((r) => r.type === 'docker:index/serviceConfig:ServiceConfig')!;
    expect(Buffer.from(config.inputs.data, 'base64').toString()).toBe(platform.mirror.config.render());
    // The token reaches the engine only inside the (secret) Swarm secret, never in a plain input.
    for (const r of registered.filter((x) => x.type !== 'docker:index/secret:Secret')) expect(JSON.stringify(r.inputs)).not.toContain('dckr_pat_x');
  });

  it('runs a standalone host-local mirror as a container on the host network with the login uploaded as secret files', async () => {
    const stack = hostStack();
    const mirror = new DockerHostRegistryMirror(stack, 'mirror', { swarm: false, credentials: { usernameSecret: 'dockerhub-username', passwordSecret: 'dockerhub-token' } });
    const resources = registerDockerResources(stack, { parent: new Parent('edge') });
    await settled([resources.mirrors['registry-mirror'].container.urn]);
    const container = registered.find((r) => r.type === 'docker:index/container:Container')!;
    expect(container.inputs.image).toBe('sha256:edge-image-registry-mirror');
    expect(container.inputs.networkMode).toBe('host');
    expect(container.inputs.ports).toBeUndefined();
    expect(container.inputs.entrypoints).toEqual(proxyLoginCommand('x', { username: '/run/secrets/dockerhub-username', password: '/run/secrets/dockerhub-token' }));
    expect(container.inputs.envs).toBeUndefined();
    // The uploads carry secrets: Pulumi keeps the whole list encrypted in state.
    expect(isSecret(container.inputs.uploads)).toBe(true);
    expect(unsecret(container.inputs.uploads)).toEqual([
      { file: '/etc/docker/registry/config.yml', content: mirror.config.render() },
      { file: '/run/secrets/dockerhub-username', content: 'acme' },
      { file: '/run/secrets/dockerhub-token', content: 'dckr_pat_x' },
    ]);
    expect(container.inputs.volumes).toEqual([{ volumeName: 'registry-mirror-cache', containerPath: '/var/lib/registry' }]);
    expect(container.inputs.restart).toBe('unless-stopped');
    expect(registered.find((r) => r.type === 'docker:index/remoteImage:RemoteImage')!.inputs).toMatchObject({ name: 'registry:2.8.3', keepLocally: true });
  });

  it('resolves a deploy-time value in a standalone mirror container’s settings, so no token reaches the host', async () => {
    const stack = hostStack();
    const site = pulumi.output(new Promise<string>((resolve) => setTimeout(() => resolve('eu-west-1'), 5)));
    new DockerHostRegistryMirror(stack, 'mirror', { swarm: false, logging: { driver: 'fluentd', fluentd: 'fluentd.internal:24224', tag: `mirror.${fromInput(site)}` } });
    const resources = registerDockerResources(stack, { parent: new Parent('edge') });
    await settled([resources.mirrors['registry-mirror'].container.urn, resources.mirrors['registry-mirror'].volume.urn]);
    const container = registered.find((r) => r.type === 'docker:index/container:Container')!;
    expect(container.inputs.logDriver).toBe('fluentd');
    expect(container.inputs.logOpts).toMatchObject({ 'fluentd-address': 'fluentd.internal:24224', tag: 'mirror.eu-west-1' });
    for (const r of registered) expect(JSON.stringify(r.inputs), r.name).not.toContain('shipshape:deferred');
  });

  it('publishes a standalone mirror with htpasswd on the container port', async () => {
    const stack = hostStack();
    new DockerHostRegistryMirror(stack, 'mirror', {
      swarm: false,
      access: 'published',
      port: 5050,
      htpasswdSecret: 'mirror-users',
      credentials: { usernameSecret: 'dockerhub-username', passwordSecret: 'dockerhub-token' },
    });
    const resources = registerDockerResources(stack, { parent: new Parent('edge') });
    await settled([resources.mirrors['registry-mirror'].container.urn]);
    const container = registered.find((r) => r.type === 'docker:index/container:Container')!;
    expect(container.inputs.networkMode).toBeUndefined();
    expect(container.inputs.ports).toEqual([{ internal: 5000, external: 5050 }]);
    expect(unsecret(container.inputs.uploads).map((u: any) => u.file)).toEqual([
      '/etc/docker/registry/config.yml',
      '/run/secrets/dockerhub-username',
      '/run/secrets/dockerhub-token',
      '/run/secrets/mirror-users',
    ]);
  });

  it('creates Swarm secrets and configs for services that use them, and nothing for a stack without Docker resources', async () => {
    const { SwarmService, SwarmProject } = await import('../../lib/swarm');
    const stack = hostStack();
    const project = new SwarmProject(stack, 'swarm', { name: 'shop' });
    new SwarmService(project, 'api', {
      name: 'api',
      image: 'ghcr.io/acme/api:1.0.0',
      secrets: [{ name: 'dockerhub-token' }],
      configs: [{ name: 'settings', content: 'a: 1\n', target: '/etc/settings.yml' }],
    });
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
    expect(api.inputs.taskSpec.containerSpec.secrets).toEqual([
      { secretId: 'edge-secret-dockerhub-token-id', secretName: 'dockerhub-token', fileName: '/run/secrets/dockerhub-token', fileMode: 0o400 },
    ]);
    expect(api.inputs.taskSpec.containerSpec.configs[0]).toMatchObject({ configId: 'edge-config-api-settings-id', fileName: '/etc/settings.yml', fileMode: 0o444 });

    registered.length = 0;
    const emptyParent = new Parent('empty');
    const empty = registerDockerResources(hostStack(), { parent: emptyParent });
    await settled([emptyParent.urn]);
    expect(empty.provider).toBeUndefined();
    expect(registered.filter((r) => r.type.startsWith('docker:') || r.type === 'pulumi:providers:docker')).toEqual([]);
  });
});

describe('registry login of private images (docker stack deploy --with-registry-auth)', () => {
  beforeEach(() => useMocks(SECRETS));
  const TOKEN = 'ghp_16C7e42F292c6912E7710c838347Ae178B4a';
  const build = async (projectProps: { withRegistryAuth?: boolean } = {}) => {
    const { SwarmService, SwarmProject } = await import('../../lib/swarm');
    const stack = hostStack();
    const project = new SwarmProject(stack, 'swarm', { name: 'shop', ...projectProps });
    new SwarmService(project, 'api', { name: 'api', image: 'ghcr.io/acme/api:1.0.0' });
    new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2' });
    return stack;
  };
  const serviceInputs = (name: string) => registered.find((r) => r.type === 'docker:index/service:Service' && r.inputs.name === name)!.inputs;

  it('passes the login from the secret stack config shipshape:registryAuth to the services of that registry, as a secret', async () => {
    await useMocks({ ...SECRETS, 'shipshape:registryAuth': JSON.stringify({ 'ghcr.io': { username: 'ci-bot', password: TOKEN } }) });
    const stack = await build();
    const resources = registerDockerResources(stack, { parent: new Parent('edge') });
    await settled(Object.values(resources.services).map((s) => s.urn));
    const api = serviceInputs('shop_api');
    expect(isSecret(api.auth)).toBe(true);
    expect(unsecret(api.auth)).toEqual({ serverAddress: 'ghcr.io', username: 'ci-bot', password: TOKEN });
    // nginx comes from Docker Hub, for which there is no login: the deploy sends none, like the CLI.
    expect(unsecret(serviceInputs('shop_web').auth) ?? undefined).toBeUndefined();
    // The token is in no plain input of any resource, and in no synthesized file.
    for (const r of registered) expect(JSON.stringify({ ...r.inputs, auth: undefined })).not.toContain(TOKEN);
    const files = synthesizeStack(stack).files;
    expect(files.map((f) => f.path)).toContain('swarm/docker-stack.yml');
    expect(files.find((f) => f.path === 'swarm/docker-stack.yml')!.content).toContain('docker stack deploy --with-registry-auth');
    for (const f of files) expect(f.content).not.toContain(TOKEN);
  });

  it('takes logins given to registerDockerResources, matching Docker Hub aliases, and keeps them secret', async () => {
    const stack = await build();
    const resources = registerDockerResources(stack, {
      parent: new Parent('edge'),
      registryAuth: [
        { address: 'https://ghcr.io', username: 'ci-bot', password: pulumi.secret(TOKEN) },
        { address: 'index.docker.io', username: 'hub-bot', password: pulumi.secret('dckr_pat_hub') },
      ],
    });
    await settled(Object.values(resources.services).map((s) => s.urn));
    expect(isSecret(serviceInputs('shop_api').auth)).toBe(true);
    expect(unsecret(serviceInputs('shop_api').auth)).toEqual({ serverAddress: 'https://ghcr.io', username: 'ci-bot', password: TOKEN });
    expect(unsecret(serviceInputs('shop_web').auth)).toEqual({ serverAddress: 'index.docker.io', username: 'hub-bot', password: 'dckr_pat_hub' });
  });

  it('passes no login when the project deploys without registry auth', async () => {
    const stack = await build({ withRegistryAuth: false });
    const resources = registerDockerResources(stack, { parent: new Parent('edge'), registryAuth: [{ address: 'ghcr.io', username: 'ci-bot', password: pulumi.secret(TOKEN) }] });
    await settled(Object.values(resources.services).map((s) => s.urn));
    expect(serviceInputs('shop_api').auth).toBeUndefined();
    expect(serviceInputs('shop_web').auth).toBeUndefined();
    expect(JSON.stringify(registered.map((r) => r.inputs))).not.toContain(TOKEN);
  });
});

describe('standalone mirror container from the mirror spec', () => {
  beforeEach(() => useMocks(SECRETS));

  it('takes the memory limit, logging and healthcheck the Swarm service would use', async () => {
    const stack = hostStack();
    const mirror = new DockerHostRegistryMirror(stack, 'mirror', { resources: { memoryLimit: '1G' }, logging: { driver: 'local', maxSize: '20m' } });
    const resources = registerDockerResources(stack, { parent: new Parent('edge') });
    await settled([resources.mirrors['registry-mirror'].container.urn]);
    const container = registered.find((r) => r.type === 'docker:index/container:Container')!.inputs;
    expect(container.memory).toBe(1024);
    expect(container.logDriver).toBe('local');
    expect(container.logOpts).toEqual(mirror.spec.logging.options);
    expect(container.healthcheck).toEqual({ tests: [...mirror.spec.healthcheck.test], interval: '10s', timeout: '5s', retries: 3, startPeriod: '10s' });
  });
});
