import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/anti-affinity-deployment', () => {
  it('runs and writes a spread, autoscaled, budgeted Deployment', () => {
    const log = runExample('anti-affinity-deployment', out);
    expect(log).toContain('prod: 16 objects, 0 warnings, 0 exemptions');
    expect(log).toContain('shop is reachable at http://shop.prod.svc:8080');
    const dir = path.join(out, 'prod', 'kubernetes');
    expect(fs.readdirSync(dir)).toEqual(
      expect.arrayContaining([
        'deployment-shop.yaml',
        'horizontalpodautoscaler-shop.yaml',
        'kustomization.yaml',
        'namespace-prod.yaml',
        'poddisruptionbudget-shop.yaml',
        'service-shop.yaml',
        'serviceaccount-shop.yaml',
        'apiservice-v1beta1.metrics.k8s.io.yaml',
      ]),
    );
    const deployment = readYaml(dir, 'deployment-shop.yaml');
    expect(deployment.spec.template.spec.topologySpreadConstraints[0].topologyKey).toBe('topology.kubernetes.io/zone');
    expect(readYaml(dir, 'poddisruptionbudget-shop.yaml').spec.maxUnavailable).toBe(1);
  });
});
