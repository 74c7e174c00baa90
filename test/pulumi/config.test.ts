import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AntiAffinityDeployment, DockerHostRegistryMirror, Stack, SwarmProject, SwarmService } from '../../lib';
import { StackComponent } from '../../lib/pulumi';
import { closestKnownKey, replacementKey, secretConfigKey } from '../../lib/pulumi/config';
import { environments } from '../../stacks/environments';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';
import { testEnvironment } from '../support/synth';

const ROOT = path.resolve(__dirname, '../..');

// Pulumi's wire marker for secret values, as mocks receive them.
const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const reveal = (v: any): any => (v && typeof v === 'object' && SECRET_SIG in v ? v.value : v);

async function useMocks(stack: string, config: Record<string, string>, secrets: string[] = []): Promise<RegisteredResource[]> {
  pulumi.runtime.setAllConfig(config, secrets);
  return recordResources(stack);
}

function webStack(): Stack {
  const stack = new Stack(new App(), 'test', { environment: testEnvironment() });
  new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] });
  return stack;
}

function edgeStack(): Stack {
  const stack = new Stack(new App(), 'edge', { environment: testEnvironment({ name: 'edge', kubernetesVersion: undefined }) });
  const project = new SwarmProject(stack, 'swarm');
  new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2' });
  new DockerHostRegistryMirror(project, 'mirror', { credentials: { usernameSecret: 'dockerhub-username', passwordSecret: 'dockerhub-token' } });
  return stack;
}

afterEach(() => pulumi.runtime.setAllConfig({}));

describe('Pulumi stack config', () => {
  it('reads the cluster from shipshape:kubeconfig and shipshape:context', async () => {
    const registered = await useMocks('dev', { 'shipshape:kubeconfig': '/etc/kube/dev.yaml', 'shipshape:context': 'dev-cluster' }, ['shipshape:kubeconfig']);
    const component = new StackComponent('dev', { stack: webStack() });
    await settled([...component.resources.values()].map((r) => r.urn));
    const provider = registered.find((r) => r.type === 'pulumi:providers:kubernetes')!;
    expect(provider.name).toBe('dev-kubernetes');
    expect(reveal(provider.inputs.kubeconfig)).toBe('/etc/kube/dev.yaml');
    expect(provider.inputs.context).toBe('dev-cluster');
    const deployment = registered.find((r) => r.type === 'kubernetes:apps/v1:Deployment')!;
    expect(deployment.provider).toMatch(/pulumi:providers:kubernetes::dev-kubernetes::/);
  });

  it('uses the ambient kubeconfig when neither key is set, and an explicit provider over the config', async () => {
    const registered = await useMocks('dev', {});
    const component = new StackComponent('dev', { stack: webStack() });
    await settled([...component.resources.values()].map((r) => r.urn));
    expect(registered.filter((r) => r.type === 'pulumi:providers:kubernetes')).toEqual([]);
  });

  it('reads the Docker host, the registry logins and each Swarm secret from shipshape:, the secret names in camelCase', async () => {
    const registered = await useMocks(
      'edge',
      {
        'shipshape:dockerHost': 'ssh://ops@edge-1',
        'shipshape:dockerhubUsername': 'acme',
        'shipshape:dockerhubToken': 'dckr_pat_x',
        'shipshape:registryAuth': JSON.stringify({ 'docker.io': { username: 'acme', password: 'dckr_pat_y' } }),
      },
      ['shipshape:dockerhubUsername', 'shipshape:dockerhubToken', 'shipshape:registryAuth'],
    );
    const component = new StackComponent('edge', { stack: edgeStack() });
    await settled([...Object.values(component.docker.services), ...Object.values(component.docker.secrets)].map((r) => r.urn));
    expect(registered.find((r) => r.type === 'pulumi:providers:docker')!.inputs.host).toBe('ssh://ops@edge-1');
    const secrets = Object.fromEntries(registered.filter((r) => r.type === 'docker:index/secret:Secret').map((r) => [r.inputs.name, Buffer.from(reveal(r.inputs.data), 'base64').toString()]));
    expect(secrets).toEqual({ 'dockerhub-username': 'acme', 'dockerhub-token': 'dckr_pat_x' });
    const web = registered.find((r) => r.type === 'docker:index/service:Service' && r.inputs.name === 'edge_web')!;
    expect(reveal(web.inputs.auth)).toMatchObject({ serverAddress: 'docker.io', username: 'acme', password: 'dckr_pat_y' });
  });

  it('names a Swarm secret’s key in camelCase and refuses two secrets, or a secret and a setting, on one key', async () => {
    expect(secretConfigKey('dockerhub-token')).toBe('dockerhubToken');
    expect(secretConfigKey('mirror_users')).toBe('mirrorUsers');
    expect(secretConfigKey('tls.key')).toBe('tlsKey');
    expect(secretConfigKey('API-Key')).toBe('aPIKey');
    await useMocks('edge', { 'shipshape:dockerHost': 'ssh://ops@edge-1' });
    const clash = (names: [string, string]) => {
      const stack = new Stack(new App(), 'edge', { environment: testEnvironment({ name: 'edge', kubernetesVersion: undefined }) });
      const project = new SwarmProject(stack, 'swarm');
      new DockerHostRegistryMirror(project, 'mirror', { credentials: { usernameSecret: names[0], passwordSecret: names[1] } });
      return () => new StackComponent('edge', { stack });
    };
    expect(clash(['hub-user', 'hub_user'])).toThrow(/the Swarm secret "hub_user" would read its value from the stack config shipshape:hubUser, which the secret "hub-user" reads too/);
    expect(clash(['docker-host', 'token'])).toThrow(/the Swarm secret "docker-host" would read its value from the stack config shipshape:dockerHost, which is a shipshape setting/);
  });

  it('refuses a stack whose config still sets an old key, naming it and the key that replaces it', async () => {
    await useMocks('swarm-edge', { 'swarm:dockerhub-token': 'dckr_pat_x', 'shipshape-platform:context': 'prod', 'shipshape:dockerHost': 'ssh://ops@edge-1', 'aws:region': 'eu-west-1' }, [
      'swarm:dockerhub-token',
    ]);
    let message = '';
    try {
      new StackComponent('edge', { stack: edgeStack() });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('swarm-edge: stack config uses old keys (2)');
    expect(message).toContain(
      'stack config shipshape-platform:context is no longer read; shipshape reads every key from the "shipshape:" namespace. Fix: pulumi config set shipshape:context <value> && pulumi config rm shipshape-platform:context',
    );
    expect(message).toContain(
      'stack config swarm:dockerhub-token is no longer read; shipshape reads every key from the "shipshape:" namespace. Fix: pulumi config set --secret shipshape:dockerhubToken <value>',
    );
    // Keys of other namespaces are not shipshape's.
    expect(message).not.toContain('aws:region');
    expect(replacementKey('shipshape-platform:kubeconfig')).toBe('shipshape:kubeconfig');
    expect(replacementKey('shipshape-platform:replicas')).toBeUndefined();
    expect(replacementKey('shipshape:context')).toBeUndefined();
  });

  it('refuses a misspelled shipshape: key, naming the key it most likely means, before anything is registered', async () => {
    const registered = await useMocks('swarm-edge', { 'shipshape:kubeConfig': '/etc/kube/dev.yaml', 'shipshape:dockerhubTokn': 'dckr_pat_x', 'shipshape:dockerhost': 'ssh://ops@edge-1' }, [
      'shipshape:dockerhubTokn',
    ]);
    let message = '';
    try {
      new StackComponent('edge', { stack: edgeStack() });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('swarm-edge: stack config has keys shipshape does not read (3)');
    expect(message).toContain(
      'stack config shipshape:kubeConfig is no key shipshape reads, so it would be ignored; the closest is shipshape:kubeconfig. Fix: pulumi config set shipshape:kubeconfig <value> && pulumi config rm shipshape:kubeConfig',
    );
    expect(message).toContain('stack config shipshape:dockerhubTokn is no key shipshape reads, so it would be ignored; the closest is shipshape:dockerhubToken.');
    expect(message).toContain('stack config shipshape:dockerhost is no key shipshape reads, so it would be ignored; the closest is shipshape:dockerHost.');
    expect(message).not.toContain('dckr_pat_x');
    expect(registered).toEqual([]);
  });

  it('leaves a key that is no near miss alone: the secret of an environment the program deploys later', async () => {
    await useMocks('all', { 'shipshape:dockerhubUsername': 'acme', 'shipshape:dockerhubToken': 'dckr_pat_x', 'shipshape:dockerHost': 'ssh://ops@edge-1' }, [
      'shipshape:dockerhubUsername',
      'shipshape:dockerhubToken',
    ]);
    expect(() => new StackComponent('web', { stack: webStack() })).not.toThrow();
    expect(() => new StackComponent('edge', { stack: edgeStack() })).not.toThrow();
  });

  it('takes a setting with one character more, less or changed for that setting', () => {
    const settings = ['kubeconfig', 'context', 'dockerHost', 'registryAuth'];
    fc.assert(
      fc.property(fc.constantFrom(...settings), fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.string({ minLength: 1, maxLength: 1 }), (setting, at, edit, c) => {
        const i = at % setting.length;
        const typo = edit === 'insert' ? setting.slice(0, i) + c + setting.slice(i) : edit === 'delete' ? setting.slice(0, i) + setting.slice(i + 1) : setting.slice(0, i) + c + setting.slice(i + 1);
        expect(closestKnownKey(typo, [])).toBe(setting);
      }),
    );
    expect(closestKnownKey('dockerhubToken', [])).toBeUndefined();
  });

  it('refuses an old key in the reference program too, before anything is registered', async () => {
    const registered = await useMocks('prod', { 'shipshape-platform:context': 'prod' });
    vi.resetModules();
    await expect(import('../../stacks/pulumi')).rejects.toThrow(/shipshape-platform:context is no longer read.*pulumi config set shipshape:context/);
    expect(registered).toEqual([]);
  });
});

describe('the stack files', () => {
  const stackFiles = fs.readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f));

  it('exist for every environment of the reference program', () => {
    expect(stackFiles.sort()).toEqual([...environments.map((e) => `Pulumi.${e.name}.yaml`), 'Pulumi.swarm-edge.yaml'].sort());
  });

  for (const file of stackFiles) {
    it(`${file} sets only shipshape: keys and documents every key its stack reads with its pulumi config set command`, () => {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      const stack = file.slice('Pulumi.'.length, -'.yaml'.length);
      const config = parse(text).config as Record<string, unknown>;
      expect(Object.keys(config).every((k) => k.startsWith('shipshape:'))).toBe(true);
      const keys = stack === 'swarm-edge' ? ['dockerHost', 'registryAuth', ...buildSwarmPlatform(new App()).swarm.spec.secrets.map(secretConfigKey)] : ['context', 'kubeconfig'];
      const comments = text.split('\n').filter((l) => l.trimStart().startsWith('#'));
      for (const key of keys) {
        expect(
          comments.some((l) => l.includes(`shipshape:${key} `) && !l.includes('config set')),
          `${file} describes shipshape:${key}`,
        ).toBe(true);
        expect(
          comments.some((l) => new RegExp(`pulumi config set (--secret )?(--path '?)?shipshape:${key}\\b.* -s ${stack}$`).test(l.trim())),
          `${file} shows pulumi config set for shipshape:${key}`,
        ).toBe(true);
      }
      // Old namespaces are gone from the file, comments included.
      expect(text).not.toMatch(/\b(swarm|shipshape-platform):[a-z]/);
    });
  }
});
