import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../support/tools';

const root = path.resolve(__dirname, '../..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-docker-examples-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

function example(name: string, viaEnv = false): string {
  const dir = path.join(out, name);
  const args = ['tsx', `examples/${name}/main.ts`, ...(viaEnv ? [] : [dir])];
  return run('npx', args, { cwd: root, env: viaEnv ? { ...process.env, SHIPSHAPE_OUTDIR: dir } : process.env });
}


describe('Docker, registry and Swarm examples', () => {
  it('docker-daemon-config writes daemon.json (output directory from the environment)', () => {
    const log = example('docker-daemon-config', true);
    expect(log).toContain('docker-hosts: 0 objects, 0 warnings, 0 exemptions');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'docker-daemon-config', 'docker-hosts', 'hosts', 'daemon.json'), 'utf8'));
    expect(json).toMatchObject({ 'log-opts': { 'max-size': '10m', 'max-file': '5' }, 'live-restore': true, 'max-concurrent-downloads': 5, 'max-concurrent-uploads': 8, 'registry-mirrors': ['http://mirror.internal:5000'] });
  });

  it('registry-mirror writes the Kubernetes mirror and the host mirror wired into daemon.json', () => {
    const log = example('registry-mirror');
    expect(log).toContain('in-cluster mirror: http://registry-mirror.prod.svc:5000');
    expect(log).toContain('host mirror: http://127.0.0.1:5000 (proxies https://registry-1.docker.io)');
    const k8s = path.join(out, 'registry-mirror', 'prod', 'kubernetes');
    expect(fs.readdirSync(k8s).sort()).toEqual([
      'configmap-registry-mirror.yaml', 'deployment-registry-mirror.yaml', 'kustomization.yaml', 'namespace-prod.yaml',
      'persistentvolumeclaim-registry-mirror.yaml', 'service-registry-mirror.yaml', 'serviceaccount-registry-mirror.yaml',
    ]);
    const edge = path.join(out, 'registry-mirror', 'edge');
    expect(JSON.parse(fs.readFileSync(path.join(edge, 'hosts', 'daemon.json'), 'utf8'))['registry-mirrors']).toEqual(['http://127.0.0.1:5000']);
    expect(parse(fs.readFileSync(path.join(edge, 'hosts', 'registry', 'config.yml'), 'utf8')).proxy.remoteurl).toBe('https://registry-1.docker.io');
    expect(parse(fs.readFileSync(path.join(edge, 'swarm', 'docker-stack.yml'), 'utf8')).services).toHaveProperty('registry-mirror');
  });

  it('swarm-service writes the stack and its config files', () => {
    const log = example('swarm-service');
    expect(log).toContain('api: 4 tasks; deploy with: docker stack deploy --with-registry-auth --prune -c docker-stack.yml shop');
    const dir = path.join(out, 'swarm-service', 'swarm-prod', 'swarm');
    const resolved = parse(fs.readFileSync(path.join(dir, 'docker-stack.yml'), 'utf8'));
    expect(resolved.services.api.deploy.update_config).toMatchObject({ parallelism: 2, delay: '10s', failure_action: 'rollback', order: 'start-first' });
    expect(resolved.services['log-agent'].deploy.mode).toBe('global');
    expect(fs.readFileSync(path.join(dir, 'configs', 'api-settings'), 'utf8')).toBe('cache_ttl: 60\n');
  });
});
