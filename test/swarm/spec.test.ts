import { describe, expect, it } from 'vitest';
import { DockerHostRegistryMirror } from '../../lib/registry';
import { SwarmProject, SwarmService, SwarmStack } from '../../lib/swarm';
import { hostStack, swarmEnvironment } from '../support/hosts';

function service(props: Partial<ConstructorParameters<typeof SwarmService>[2]> = {}): SwarmService {
  const project = new SwarmProject(hostStack(swarmEnvironment(3, 2)), 'swarm', { name: 'shop' });
  return new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2', ...props });
}

describe('SwarmService.spec: one resolved value for every renderer', () => {
  it('applies every default, so no renderer restates one', () => {
    const spec = service({ secrets: [{ name: 'db-password' }], configs: [{ name: 'conf', content: 'a: 1\n', target: '/etc/conf.yml' }], healthcheck: { test: ['CMD', 'true'] } }).spec;
    expect(spec).toMatchObject({
      mode: { type: 'replicated', replicas: 2 },
      endpointMode: 'vip',
      stopGracePeriod: '10s',
      update: { parallelism: 1, delay: '10s', failureAction: 'rollback', monitor: '30s', maxFailureRatio: 0, order: 'start-first' },
      rollback: { parallelism: 1, delay: '0s', failureAction: 'pause', monitor: '30s', maxFailureRatio: 0, order: 'start-first' },
      restart: { condition: 'any', delay: '5s' },
      resources: { memoryLimit: '256M', memoryReservation: '128M', cpuReservation: 0.1 },
      healthcheck: { test: ['CMD', 'true'], interval: '10s', timeout: '5s', retries: 3, startPeriod: '10s' },
      logging: { driver: 'json-file', options: { 'max-file': '5', 'max-size': '10m' } },
      networks: ['default'],
      defaultNetwork: true,
      secrets: [{ name: 'db-password', target: 'db-password', path: '/run/secrets/db-password', mode: 0o400 }],
      configs: [{ name: 'conf', key: 'web-conf', file: 'swarm/configs/web-conf', target: '/etc/conf.yml', mode: 0o444 }],
      placement: { constraints: [], spread: [] },
    });
    expect(spec.configs[0].content()).toBe('a: 1\n');
    expect(spec.resources.cpuLimit).toBeUndefined();
  });

  it('resolves the node group into placement constraints, next to the given ones', () => {
    const spec = service({ nodeGroup: 'edge', placement: { constraints: ['node.role == worker'] } }).spec;
    const group = swarmEnvironment(3, 2).nodeGroup('edge', 'test');
    expect(Object.keys(group.labels).length).toBeGreaterThan(0);
    expect(spec.placement.constraints).toEqual(['node.role == worker', ...Object.entries(group.labels).map(([k, v]) => `node.labels.${k} == ${v}`)]);
    expect(spec.placement.nodeGroup).toBe('edge');
  });

  it('still reads the deprecated placement.nodeGroup, and refuses both spellings at once', () => {
    expect(service({ placement: { nodeGroup: 'edge' } }).spec.placement).toEqual(service({ nodeGroup: 'edge' }).spec.placement);
    expect(() => service({ nodeGroup: 'edge', placement: { nodeGroup: 'edge' } })).toThrow(/nodeGroup is given twice/);
  });

  it('is frozen all the way down', () => {
    const spec = service({ environment: { B: '2', A: '1' }, labels: { team: 'shop' } }).spec;
    expect(Object.keys(spec.environment)).toEqual(['A', 'B']);
    expect(() => ((spec as any).image = 'nginx:1.27.3')).toThrow(TypeError);
    expect(() => (spec.placement.constraints as string[]).push('node.role == manager')).toThrow(TypeError);
    expect(() => ((spec.update as any).order = 'stop-first')).toThrow(TypeError);
    expect(() => ((spec.labels as any).team = 'other')).toThrow(TypeError);
  });

  it('joins the project it is created in; SwarmStack is the deprecated name of SwarmProject', () => {
    const stack = hostStack();
    const project = new SwarmStack(stack, 'swarm');
    expect(project).toBeInstanceOf(SwarmProject);
    const web = new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2' });
    const mirror = new DockerHostRegistryMirror(project, 'mirror');
    expect(web.project).toBe(project);
    expect(mirror.service!.project).toBe(project);
    expect(project.services.map((s) => s.name)).toEqual(['registry-mirror', 'web']);
    expect(project.spec.services.map((s) => s.name)).toEqual(['registry-mirror', 'web']);
    expect(Object.isFrozen(project.spec)).toBe(true);
  });
});

describe('DockerHostRegistryMirror.spec', () => {
  it('holds the container settings the Swarm service is built from', () => {
    const mirror = new DockerHostRegistryMirror(new SwarmProject(hostStack(), 'swarm'), 'mirror', { resources: { memoryLimit: '1G' }, logging: { driver: 'local', maxSize: '20m' } });
    const { spec } = mirror;
    expect(spec.resources).toEqual({ memoryLimit: '1G', memoryReservation: '128M', cpuReservation: 0.1 });
    expect(spec.logging).toEqual({ driver: 'local', options: { 'max-file': '5', 'max-size': '20m' } });
    expect(spec.healthcheck).toEqual({ test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1:5000/'], interval: '10s', timeout: '5s', retries: 3, startPeriod: '10s' });
    const service = mirror.service!.spec;
    expect(service.resources).toEqual(spec.resources);
    expect(service.logging).toEqual(spec.logging);
    expect(service.healthcheck).toEqual(spec.healthcheck);
    expect(service.configs[0]).toMatchObject({ file: spec.config.file, target: spec.config.target });
    expect(service.mounts).toEqual([{ type: 'volume', source: spec.volume.name, target: spec.volume.target, readOnly: false }]);
  });

  it('refuses swarm: true outside a SwarmProject, and is standalone in the Stack', () => {
    expect(() => new DockerHostRegistryMirror(hostStack(), 'mirror', { swarm: true })).toThrow(
      /edge\/mirror: swarm: true, but the mirror is not created in a SwarmProject.*Fix: create it in the project/,
    );
    expect(new DockerHostRegistryMirror(hostStack(), 'mirror').service).toBeUndefined();
  });
});
