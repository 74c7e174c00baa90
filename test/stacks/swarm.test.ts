import { App } from 'cdk8s';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { synthesizeStack } from '../../lib';
import { renderFiles } from '../../lib/core/writer';
import { buildSwarmPlatform, swarmEdge } from '../../stacks/swarm';
import { fileOf } from '../support/hosts';

describe('reference Swarm environment swarm-edge', () => {
  const platform = buildSwarmPlatform(new App());
  const result = synthesizeStack(platform.stack);

  it('synthesizes without problems, and without Kubernetes objects', () => {
    expect(platform.stack.environment).toBe(swarmEdge);
    expect(result.problems).toEqual([]);
    expect(result.objects).toEqual([]);
    const paths = result.files.map((f) => f.path);
    // Other constructs of the environment add their own host files; the Swarm side writes exactly these.
    expect(paths.filter((p) => p.startsWith('swarm/'))).toEqual(['swarm/docker-stack.yml']);
    expect(paths).toEqual(expect.arrayContaining(['hosts/daemon.json', 'hosts/registry/config.yml']));
  });

  it('runs a replicated web service, a global cAdvisor and the registry mirror', () => {
    const doc = parse(fileOf(result, 'swarm/docker-stack.yml'));
    expect(Object.keys(doc.services)).toEqual(['cadvisor', 'registry-mirror', 'web']);
    expect(doc.services.web.deploy).toMatchObject({ mode: 'replicated', replicas: 3, update_config: { parallelism: 1, delay: '10s', order: 'start-first' } });
    expect(doc.services.cadvisor.deploy.mode).toBe('global');
    expect(doc.services.cadvisor.volumes.map((v: any) => v.source)).toEqual(['/', '/var/run', '/sys', '/var/lib/docker', '/dev/disk']);
  });

  it('runs the Docker Hub mirror so that only each host’s own daemon can use its login: bound to 127.0.0.1 on the host network, nothing published', () => {
    const doc = parse(fileOf(result, 'swarm/docker-stack.yml'));
    const mirror = doc.services['registry-mirror'];
    expect(mirror.deploy.mode).toBe('global');
    expect(mirror.networks).toEqual(['host']);
    expect(doc.networks.host).toEqual({ external: true, name: 'host' });
    // No service publishes the mirror's port, in ingress or host mode.
    for (const svc of Object.values<any>(doc.services)) expect((svc.ports ?? []).map((p: any) => p.published)).not.toContain(platform.mirror.port);
    const config = parse(fileOf(result, 'hosts/registry/config.yml'));
    expect(config.http.addr).toBe('127.0.0.1:5000');
    expect(config.http.debug.addr).toBe('127.0.0.1:5001');
    // The login comes from Swarm secret files, read into an in-memory copy of config.yml at start.
    expect(mirror.secrets.map((s: any) => s.source)).toEqual(['dockerhub-username', 'dockerhub-token']);
    expect(mirror.environment).toBeUndefined();
    expect(mirror.entrypoint[2]).toContain('> /dev/shm/registry/config.yml');
    // distribution 2.8 ignores proxy.ttl: nothing is written that it would not read.
    expect(config.proxy).toEqual({ remoteurl: 'https://registry-1.docker.io' });
  });

  it('wires the hosts’ daemon.json to the mirror’s endpoint and keeps live-restore off on Swarm hosts', () => {
    const daemon = JSON.parse(fileOf(result, 'hosts/daemon.json'));
    expect(daemon['registry-mirrors']).toEqual([platform.mirror.endpoint]);
    expect(daemon['live-restore']).toBe(false);
    expect(daemon['log-opts']).toEqual({ 'max-file': '5', 'max-size': '10m' });
  });

  it('never writes the Docker Hub login, and is byte-identical across runs', () => {
    const files = renderFiles([result]);
    for (const [file, content] of files) expect(content).not.toMatch(file.endsWith('.yml') && !file.endsWith('config.yml') ? /dckr_pat|REGISTRY_PROXY/i : /dckr_pat|username|password/i);
    const again = renderFiles([synthesizeStack(buildSwarmPlatform(new App()).stack)]);
    expect([...again.entries()]).toEqual([...files.entries()]);
  });
});
