import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/canary-release', () => {
  it('runs and writes a TLS Ingress from cert-manager and a 10 % canary with its own Service and budget', () => {
    const log = runExample('canary-release', out);
    expect(log).toContain('prod: 11 objects, 0 warnings, 0 exemptions');
    expect(log).toContain('https://api.acme.example/ sends 10% of its requests to api-canary');
    const dir = path.join(out, 'prod', 'kubernetes');
    const stable = readYaml(dir, 'ingress-api.yaml');
    expect(stable.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'letsencrypt-prod' });
    expect(stable.spec.tls).toEqual([{ hosts: ['api.acme.example'], secretName: 'api-tls' }]);
    const canary = readYaml(dir, 'ingress-api-canary.yaml');
    expect(canary.metadata.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
      'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary',
    });
    expect(canary.spec.rules).toEqual([{ host: 'api.acme.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api-canary', port: { number: 8080 } } } }] } }]);
    // 10 % of four stable pods is one; the canary runs two, spread and budgeted, so a node drain keeps it up.
    expect(readYaml(dir, 'deployment-api-canary.yaml').spec.replicas).toBe(2);
    expect(readYaml(dir, 'poddisruptionbudget-api-canary.yaml').spec.maxUnavailable).toBe(1);
    expect(readYaml(dir, 'service-api.yaml').spec.selector).toEqual({ 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/name': 'api' });
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('secret-'))).toEqual([]);
  });
});
