import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShipshapeError } from '../../lib';
import { DockerDaemonConfig, DockerDaemonConfigProps } from '../../lib/docker';
import { DockerHostRegistryMirror } from '../../lib/registry';
import { SwarmService, SwarmProject } from '../../lib/swarm';
import { fileOf, hostStack, synthHost } from '../support/hosts';

function daemonJson(props: DockerDaemonConfigProps = {}, swarm = false) {
  const result = synthHost((stack) => {
    if (swarm) {
      const project = new SwarmProject(stack, 'swarm');
      new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2' });
    }
    new DockerDaemonConfig(stack, 'daemon', props);
  });
  return { result, json: result.problems.length === 0 ? JSON.parse(fileOf(result, 'hosts/daemon.json')) : undefined };
}

describe('DockerDaemonConfig', () => {
  it('writes the practice defaults (docs/practice.md#docker-daemon) to hosts/daemon.json', () => {
    const { result, json } = daemonJson();
    expect(result.problems).toEqual([]);
    expect(json).toEqual({
      'log-driver': 'json-file',
      'log-opts': { 'max-file': '5', 'max-size': '10m' },
      'live-restore': true,
      'max-concurrent-downloads': 5,
      'max-concurrent-uploads': 8,
      'storage-driver': 'overlay2',
      'default-ulimits': { nofile: { Name: 'nofile', Soft: 65536, Hard: 65536 } },
    });
  });

  it('turns live-restore off by default on Swarm hosts', () => {
    expect(daemonJson({}, true).json['live-restore']).toBe(false);
  });

  it('refuses live-restore together with Swarm mode, explaining why', () => {
    const explicit = () => new DockerDaemonConfig(hostStack(), 'daemon', { liveRestore: true, swarmMode: true });
    expect(explicit).toThrow(ShipshapeError);
    expect(explicit).toThrow(/edge\/daemon: liveRestore is set on hosts that run in Swarm mode: Swarm tasks are owned by the swarm agent inside dockerd.*Fix: remove liveRestore/);
    // Swarm mode inferred from the services of the environment: reported at synth.
    const { result } = daemonJson({ liveRestore: true }, true);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/^edge\/daemon: liveRestore is set on hosts that run in Swarm mode/);
  });

  it('ships logs to Fluentd with the fluentd driver', () => {
    const { json } = daemonJson({ logging: { driver: 'fluentd', fluentd: { address: 'fluentd.logging.svc:24224' } } });
    expect(json['log-driver']).toBe('fluentd');
    expect(json['log-opts']).toEqual({ 'fluentd-address': 'fluentd.logging.svc:24224', 'fluentd-async': 'true', tag: 'docker.{{.Name}}' });
  });

  it('writes the local driver and the optional keys', () => {
    const { json } = daemonJson({
      logging: { driver: 'local', maxSize: '20m', maxFile: 3 },
      insecureRegistries: ['10.0.0.5:5000'],
      dataRoot: '/data/docker',
      dns: ['10.0.0.2'],
      logLevel: 'warn',
      shutdownTimeout: 30,
      metricsAddress: '127.0.0.1:9323',
      extra: { 'default-address-pools': [{ base: '10.200.0.0/16', size: 24 }] },
    });
    expect(json).toMatchObject({
      'log-driver': 'local',
      'log-opts': { 'max-size': '20m', 'max-file': '3' },
      'insecure-registries': ['10.0.0.5:5000'],
      'data-root': '/data/docker',
      dns: ['10.0.0.2'],
      'log-level': 'warn',
      'shutdown-timeout': 30,
      'metrics-addr': '127.0.0.1:9323',
      'default-address-pools': [{ base: '10.200.0.0/16', size: 24 }],
    });
  });

  it('takes a Docker-host mirror’s endpoint by typed wiring', () => {
    const result = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm');
      const mirror = new DockerHostRegistryMirror(project, 'mirror', { access: 'published', port: 5005, advertisedHost: '10.0.0.5' });
      new DockerDaemonConfig(stack, 'daemon', { registryMirrors: [mirror] });
    });
    expect(result.problems).toEqual([]);
    expect(JSON.parse(fileOf(result, 'hosts/daemon.json'))['registry-mirrors']).toEqual(['http://10.0.0.5:5005']);
  });

  it('refuses a mirror of another registry: Docker only mirrors Docker Hub', () => {
    const stack = hostStack();
    const quay = new DockerHostRegistryMirror(stack, 'quay-mirror', { remoteUrl: 'https://quay.io', swarm: false });
    expect(() => new DockerDaemonConfig(stack, 'daemon', { registryMirrors: [quay] })).toThrow(
      /edge\/daemon: registry mirror edge\/quay-mirror proxies https:\/\/quay.io, but the Docker daemon uses registry-mirrors only for Docker Hub images.*Fix: set the mirror's remoteUrl to Docker Hub/,
    );
    const late = new DockerDaemonConfig(stack, 'daemon-2');
    expect(() => late.addRegistryMirror(quay)).toThrow(ShipshapeError);
  });

  it.each<[string, DockerDaemonConfigProps, RegExp]>([
    ['a size without a known unit', { logging: { driver: 'json-file', maxSize: '10MB' } }, /logging.maxSize must be a positive whole number with an optional k, m or g unit.*"10MB"/],
    ['zero rotated files', { logging: { driver: 'json-file', maxFile: 0 } }, /logging.maxFile must be an integer from 1 to 1000/],
    ['compress on the local driver', { logging: { driver: 'local', compress: true } }, /local log driver always compresses/],
    ['a Fluentd address without a port', { logging: { driver: 'fluentd', fluentd: 'fluentd' } }, /logging.fluentd must be the host:port/],
    ['too many downloads', { maxConcurrentDownloads: 0 }, /maxConcurrentDownloads must be an integer from 1 to 64/],
    ['an unknown ulimit', { defaultUlimits: { files: { soft: 1, hard: 1 } } }, /unknown ulimit "files"/],
    ['soft above hard', { defaultUlimits: { nofile: { soft: 10, hard: 5 } } }, /soft ≤ hard/],
    ['a relative data root', { dataRoot: 'docker' }, /dataRoot must be an absolute path/],
    ['a mirror URL with a path', { registryMirrors: ['https://mirror.internal/v2'] }, /registryMirrors must be an http:\/\/ or https:\/\/ URL naming only a host and port/],
    ['an extra key repeating a typed one', { extra: { 'live-restore': false } }, /extra repeats "live-restore"/],
  ])('refuses %s', (_, props, message) => {
    expect(() => new DockerDaemonConfig(hostStack(), 'daemon', props)).toThrow(message);
  });

  it('property: any log size and file count gives valid daemon.json or a ShipshapeError naming the construct', () => {
    let ok = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.oneof(fc.stringMatching(/^[0-9]{1,4}[kmgKMG]?$/), fc.string({ maxLength: 6 })),
        fc.integer({ min: -2, max: 1200 }),
        fc.integer({ min: -1, max: 80 }),
        (maxSize, maxFile, downloads) => {
          try {
            const { result, json } = daemonJson({ logging: { driver: 'json-file', maxSize, maxFile }, maxConcurrentDownloads: downloads });
            expect(result.problems).toEqual([]);
            expect(json['log-opts']).toEqual({ 'max-size': maxSize, 'max-file': String(maxFile) });
            expect(maxSize).toMatch(/^[1-9][0-9]*[kmg]?$/);
            ok++;
          } catch (e) {
            expect(e).toBeInstanceOf(ShipshapeError);
            expect((e as ShipshapeError).path).toBe('edge/daemon');
            expect((e as Error).message).toMatch(/Fix: /);
            refused++;
          }
        },
      ),
      { numRuns: 200 },
    );
    expect(ok).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(5);
  });
});
