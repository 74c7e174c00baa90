import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/registry-mirror', () => {
  it('writes the Kubernetes mirror and the host mirror wired into daemon.json', () => {
    const log = runExample('registry-mirror', out);
    expect(log).toContain('in-cluster mirror: http://registry-mirror.prod.svc:5000');
    expect(log).toContain('host mirror: http://127.0.0.1:5000 (proxies https://registry-1.docker.io)');
    expect(fs.readdirSync(path.join(out, 'prod', 'kubernetes')).sort()).toEqual([
      'configmap-registry-mirror.yaml',
      'deployment-registry-mirror.yaml',
      'kustomization.yaml',
      'namespace-prod.yaml',
      'persistentvolumeclaim-registry-mirror.yaml',
      'service-registry-mirror.yaml',
      'serviceaccount-registry-mirror.yaml',
    ]);
    const edge = path.join(out, 'edge');
    expect(JSON.parse(fs.readFileSync(path.join(edge, 'hosts', 'daemon.json'), 'utf8'))['registry-mirrors']).toEqual(['http://127.0.0.1:5000']);
    expect(readYaml(edge, 'hosts', 'registry', 'config.yml').proxy.remoteurl).toBe('https://registry-1.docker.io');
    expect(readYaml(edge, 'swarm', 'docker-stack.yml').services).toHaveProperty('registry-mirror');
  });
});
