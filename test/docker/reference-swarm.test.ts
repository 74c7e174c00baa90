import { App } from 'cdk8s';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderFiles, synthesizeStack } from '../../lib';
import { buildSwarmPlatform, swarmEdge } from '../../stacks/swarm';
import { fileOf } from './helpers';

describe('reference Swarm environment swarm-edge', () => {
  const platform = buildSwarmPlatform(new App());
  const result = synthesizeStack(platform.stack);

  it('synthesizes without problems, and without Kubernetes objects', () => {
    expect(platform.stack.environment).toBe(swarmEdge);
    expect(result.problems).toEqual([]);
    expect(result.objects).toEqual([]);
    expect(result.files.map((f) => f.path)).toEqual(['hosts/daemon.json', 'hosts/registry/config.yml', 'swarm/docker-stack.yml']);
  });

  it('runs a replicated web service, a global cAdvisor and the registry mirror', () => {
    const doc = parse(fileOf(result, 'swarm/docker-stack.yml'));
    expect(Object.keys(doc.services)).toEqual(['cadvisor', 'registry-mirror', 'web']);
    expect(doc.services.web.deploy).toMatchObject({ mode: 'replicated', replicas: 3, update_config: { parallelism: 1, delay: '10s', order: 'start-first' } });
    expect(doc.services.cadvisor.deploy.mode).toBe('global');
    expect(doc.services.cadvisor.volumes.map((v: any) => v.source)).toEqual(['/', '/var/run', '/sys', '/var/lib/docker', '/dev/disk']);
    expect(doc.services['registry-mirror'].deploy.placement.constraints).toEqual(['node.role == manager']);
  });

  it('wires the hosts’ daemon.json to the mirror’s endpoint and keeps live-restore off on Swarm hosts', () => {
    const daemon = JSON.parse(fileOf(result, 'hosts/daemon.json'));
    expect(daemon['registry-mirrors']).toEqual([platform.mirror.endpoint]);
    expect(daemon['live-restore']).toBe(false);
    expect(daemon['log-opts']).toEqual({ 'max-file': '5', 'max-size': '10m' });
  });

  it('never writes the Docker Hub login, and is byte-identical across runs', () => {
    const files = renderFiles([result]);
    for (const content of files.values()) expect(content).not.toMatch(/dckr_pat|password:/i);
    const again = renderFiles([synthesizeStack(buildSwarmPlatform(new App()).stack)]);
    expect([...again.entries()]).toEqual([...files.entries()]);
  });
});
