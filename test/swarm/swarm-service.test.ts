import * as fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ShipshapeError } from '../../lib';
import { SwarmProject, SwarmService, SwarmServiceProps } from '../../lib/swarm';
import { fileOf, hostStack, swarmEnvironment, synthHost } from '../support/hosts';

function compose(build: (project: SwarmProject) => void, environment = swarmEnvironment()) {
  const result = synthHost((stack) => build(new SwarmProject(stack, 'swarm', { name: 'shop' })), environment);
  expect(result.problems).toEqual([]);
  return { result, doc: parse(fileOf(result, 'swarm/docker-stack.yml')) };
}

const WEB: SwarmServiceProps = { name: 'web', image: 'nginx:1.27.2' };

describe('SwarmService and SwarmProject', () => {
  it('renders a replicated service with every deploy setting into compose 3.8', () => {
    const { result, doc } = compose((project) => {
      new SwarmService(project, 'api', {
        name: 'api',
        image: 'ghcr.io/acme/api:2.0.1',
        mode: { type: 'replicated', replicas: 4 },
        command: ['serve', '--port', '8080'],
        environment: { LOG_FORMAT: 'json' },
        ports: [{ target: 8080, published: 80 }],
        networks: ['backend'],
        secrets: [{ name: 'db-password' }],
        configs: [{ name: 'settings', content: 'a: 1\n', target: '/etc/api/settings.yml' }],
        mounts: [{ type: 'volume', source: 'api-cache', target: '/cache' }],
        healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1:8080/healthz'] },
        update: { parallelism: 2, delay: '10s' },
        placement: { constraints: ['node.role == worker'], spread: ['node.labels.zone'], maxReplicasPerNode: 2 },
        resources: { cpuLimit: 1, memoryLimit: '512M', cpuReservation: 0.25, memoryReservation: '256M' },
        logging: { driver: 'fluentd', fluentd: '127.0.0.1:24224' },
      });
    });
    expect(doc.version).toBe('3.8');
    const api = doc.services.api;
    expect(api).toMatchObject({
      image: 'ghcr.io/acme/api:2.0.1',
      command: ['serve', '--port', '8080'],
      environment: { LOG_FORMAT: 'json' },
      ports: [{ target: 8080, published: 80, protocol: 'tcp', mode: 'ingress' }],
      networks: ['backend'],
      secrets: [{ source: 'db-password', target: 'db-password', mode: 0o400 }],
      configs: [{ source: 'api-settings', target: '/etc/api/settings.yml', mode: 0o444 }],
      volumes: [{ type: 'volume', source: 'api-cache', target: '/cache' }],
      healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1:8080/healthz'], interval: '10s', timeout: '5s', retries: 3, start_period: '10s' },
      logging: { driver: 'fluentd', options: { 'fluentd-address': '127.0.0.1:24224', 'fluentd-async': 'true', tag: 'docker.{{.Name}}' } },
      deploy: {
        mode: 'replicated',
        replicas: 4,
        update_config: { parallelism: 2, delay: '10s', failure_action: 'rollback', monitor: '30s', max_failure_ratio: 0, order: 'start-first' },
        rollback_config: { parallelism: 1, delay: '0s', failure_action: 'pause', monitor: '30s', max_failure_ratio: 0, order: 'start-first' },
        restart_policy: { condition: 'any', delay: '5s' },
        placement: { constraints: ['node.role == worker'], preferences: [{ spread: 'node.labels.zone' }], max_replicas_per_node: 2 },
        resources: { limits: { cpus: '1', memory: '512M' }, reservations: { cpus: '0.25', memory: '256M' } },
      },
    });
    expect(doc.networks).toEqual({ backend: { driver: 'overlay' } });
    expect(doc.volumes).toEqual({ 'api-cache': {} });
    // Secrets are created out of band and only named; their values never reach the file.
    expect(doc.secrets).toEqual({ 'db-password': { external: true } });
    expect(doc.configs['api-settings']).toEqual({ name: expect.stringMatching(/^shop-api-settings-[0-9a-f]{10}$/), file: './configs/api-settings' });
    expect(fileOf(result, 'swarm/configs/api-settings')).toBe('a: 1\n');
    expect(fileOf(result, 'swarm/docker-stack.yml')).toMatch(/^# Swarm stack "shop".*\n# Deploy from this directory: docker stack deploy --with-registry-auth --prune -c docker-stack.yml shop\n/);
  });

  it('renders a global agent without replicas, with host-mode ports updated stop-first', () => {
    const { doc } = compose((project) => {
      new SwarmService(project, 'cadvisor', { name: 'cadvisor', image: 'gcr.io/cadvisor/cadvisor:v0.49.1', mode: { type: 'global' }, ports: [{ target: 8080, mode: 'host' }] });
    });
    expect(doc.services.cadvisor.deploy.mode).toBe('global');
    expect(doc.services.cadvisor.deploy.replicas).toBeUndefined();
    expect(doc.services.cadvisor.deploy.update_config.order).toBe('stop-first');
    expect(doc.services.cadvisor.ports).toEqual([{ target: 8080, published: 8080, protocol: 'tcp', mode: 'host' }]);
  });

  it('marks attachable networks and leaves --with-registry-auth out when asked', () => {
    const result = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm', { name: 'ops', withRegistryAuth: false, attachableNetworks: ['tools'] });
      new SwarmService(project, 'web', { ...WEB, networks: ['tools', 'edge'] });
    });
    expect(result.problems).toEqual([]);
    const file = fileOf(result, 'swarm/docker-stack.yml');
    expect(parse(file).networks).toEqual({ edge: { driver: 'overlay' }, tools: { driver: 'overlay', attachable: true } });
    expect(file).toContain('# Deploy from this directory: docker stack deploy --prune -c docker-stack.yml ops');
  });

  it('names a config by its content, so a change rolls the services that use it', () => {
    const name = (content: string) => compose((project) => new SwarmService(project, 'web', { ...WEB, configs: [{ name: 'conf', content, target: '/etc/conf' }] })).doc.configs['web-conf'].name;
    expect(name('a')).toBe(name('a'));
    expect(name('a')).not.toBe(name('b'));
  });

  it('defaults replicas to the environment and logging to json-file rotation at 10m x 5', () => {
    const { doc } = compose((project) => new SwarmService(project, 'web', WEB), swarmEnvironment(3, 5));
    expect(doc.services.web.deploy.replicas).toBe(5);
    expect(doc.services.web.logging).toEqual({ driver: 'json-file', options: { 'max-file': '5', 'max-size': '10m' } });
  });

  it('reports services created outside a SwarmProject, duplicate names and ports published twice', () => {
    const lonely = synthHost((stack) => {
      new SwarmProject(stack, 'swarm');
      new SwarmService(stack, 'web', WEB);
    });
    expect(lonely.problems).toEqual([
      "edge/web: no SwarmProject deploys this service. Fix: create it in the environment's project: new SwarmService(project, 'web', {...}) with project = new SwarmProject(stack, 'swarm')",
    ]);
    const clash = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm');
      new SwarmService(project, 'a', { ...WEB, ports: [{ target: 80 }] });
      new SwarmService(project, 'b', { name: 'b', image: 'nginx:1.27.2', ports: [{ target: 8080, published: 80 }] });
      new SwarmService(project, 'c', WEB);
    });
    expect(clash.problems.join('\n')).toMatch(/two SwarmServices are named "web"/);
    expect(clash.problems.join('\n')).toMatch(/port 80\/tcp of service edge\/swarm\/a is also published by service "b"/);
    const two = synthHost((stack) => {
      new SwarmService(new SwarmProject(stack, 'one'), 'a', WEB);
      new SwarmService(new SwarmProject(stack, 'two', { path: 'swarm/two.yml' }), 'b', { ...WEB, name: 'b' });
    });
    expect(two.problems).toEqual(['edge/one: the environment has 2 SwarmProjects. Fix: keep one SwarmProject per environment and create every SwarmService in it']);
  });

  it('refuses max_replicas_per_node that deadlocks a start-first update', () => {
    const build = (replicas: number, maxReplicasPerNode: number, order: 'start-first' | 'stop-first') => () =>
      new SwarmService(hostStack(swarmEnvironment(3)), 'web', { ...WEB, mode: { type: 'replicated', replicas }, placement: { maxReplicasPerNode }, update: { order } });
    expect(build(6, 2, 'start-first')).toThrow(
      /edge\/web: update.order start-first needs room for 7 tasks \(6 running \+ 1 starting\) but maxReplicasPerNode 2 allows only 6 on 3 nodes, so the update would deadlock.*Fix: use update.order 'stop-first', raise maxReplicasPerNode to 3, or lower the replicas to 5/,
    );
    expect(build(6, 2, 'stop-first')).not.toThrow();
    expect(build(5, 2, 'start-first')).not.toThrow();
    expect(build(7, 2, 'stop-first')).toThrow(/7 replicas can never fit: maxReplicasPerNode 2 allows 6 tasks on the 3 nodes/);
  });

  it('treats a host-mode port as one task per node in the same check', () => {
    expect(
      () => new SwarmService(hostStack(swarmEnvironment(3)), 'web', { ...WEB, mode: { type: 'replicated', replicas: 3 }, ports: [{ target: 80, mode: 'host' }], update: { order: 'start-first' } }),
    ).toThrow(/a host-mode published port \(one task per node\)/);
    expect(() => new SwarmService(hostStack(), 'agent', { ...WEB, mode: { type: 'global' }, ports: [{ target: 80, mode: 'host' }], update: { order: 'start-first' } })).toThrow(
      /this global service publishes a port in host mode that only one task per node can bind/,
    );
  });

  it.each<[string, Partial<SwarmServiceProps>, RegExp]>([
    ['an unpinned image', { image: 'nginx' }, /image must be pinned to a version tag or a digest/],
    ['the latest tag', { image: 'nginx:latest' }, /image must be pinned/],
    ['replicas on a global service', { mode: { type: 'global', replicas: 2 } as never }, /a global service runs one task per node and takes no replicas/],
    ['a credential in the environment', { environment: { DB_PASSWORD: 'hunter2' } }, /DB_PASSWORD looks like a credential.*Fix: mount it from a Swarm secret/],
    ['dnsrr with an ingress port', { endpointMode: 'dnsrr', ports: [{ target: 80 }] }, /endpointMode dnsrr has no virtual IP/],
    ['a bad duration', { update: { delay: '10 seconds' } }, /update.delay must be a Go duration/],
    ['a failure ratio above 1', { update: { maxFailureRatio: 2 } }, /update.maxFailureRatio must be between 0 and 1/],
    ['a rollback that rolls back', { rollback: { failureAction: 'rollback' } }, /rollback.failureAction cannot be "rollback"/],
    ['a reservation above the limit', { resources: { memoryLimit: '128M', memoryReservation: '256M' } }, /memoryReservation is above resources.memoryLimit/],
    ['a malformed constraint', { placement: { constraints: ['role=worker'] } }, /a placement constraint must be/],
    ['an unknown node group', { nodeGroup: 'gpu' }, /node group "gpu" is not defined/],
    ['maxReplicasPerNode on a global service', { mode: { type: 'global' }, placement: { maxReplicasPerNode: 1 } }, /maxReplicasPerNode applies to replicated services/],
    ['a healthcheck without CMD', { healthcheck: { test: ['curl', 'localhost'] } }, /healthcheck.test must start with "CMD" or "CMD-SHELL"/],
    ['a Fluentd driver without an address', { logging: { driver: 'fluentd', fluentd: '' } }, /logging.fluentd must be the host:port/],
    ['a relative bind mount', { mounts: [{ type: 'bind', source: 'data', target: '/data' }] }, /mounts\[0\] needs an absolute target/],
  ])('refuses %s', (_, props, message) => {
    expect(() => new SwarmService(hostStack(), 'web', { ...WEB, ...props })).toThrow(message);
  });

  it('property: a start-first update always has room, or the service is refused with a ShipshapeError naming it', () => {
    let built = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 12 }),
        fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom('start-first' as const, 'stop-first' as const),
        fc.boolean(),
        (nodes, replicas, maxReplicasPerNode, parallelism, order, hostPort) => {
          const stack = hostStack(swarmEnvironment(nodes));
          const swarm = new SwarmProject(stack, 'swarm');
          let service: SwarmService;
          try {
            service = new SwarmService(swarm, 'web', {
              ...WEB,
              mode: { type: 'replicated', replicas },
              placement: { maxReplicasPerNode },
              update: { order, parallelism },
              ports: hostPort ? [{ target: 80, mode: 'host' }] : [],
            });
          } catch (e) {
            expect(e).toBeInstanceOf(ShipshapeError);
            expect((e as ShipshapeError).path).toBe('edge/swarm/web');
            refused++;
            return;
          }
          const cap = Math.min(maxReplicasPerNode ?? Infinity, hostPort ? 1 : Infinity) * nodes;
          expect(replicas).toBeLessThanOrEqual(cap);
          if (service.spec.update.order === 'start-first') expect(replicas + Math.max(1, parallelism || replicas)).toBeLessThanOrEqual(cap);
          const web = parse(swarm.render()).services.web;
          expect(web.deploy.replicas).toBe(replicas);
          expect(web.deploy.update_config.order).toBe(service.spec.update.order);
          built++;
        },
      ),
      { numRuns: 300 },
    );
    expect(built).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});
