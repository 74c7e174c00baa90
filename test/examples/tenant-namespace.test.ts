import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/tenant-namespace', () => {
  it('runs and writes two tenant namespaces with quota, defaults, default deny and their allow rules, and the team access', () => {
    const log = runExample('tenant-namespace', out);
    expect(log).toMatch(/stage: 17 objects, 0 warnings, 0 exemptions/);
    expect(log).toContain('payments: quota 4 CPU / 8192Mi requested, 40 pods; network policies payments-default-deny, payments-allow-dns, payments-allow-from-ingress, payments-allow-to-ledger');
    const k = path.join(out, 'stage', 'kubernetes');
    const ns = readYaml(k, 'namespace-payments.yaml');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn-version': 'v1.29',
    });
    expect(readYaml(k, 'resourcequota-payments-quota.yaml').spec.hard).toMatchObject({ 'requests.cpu': '4', pods: 40, 'services.loadbalancers': 0, 'requests.storage': '51200Mi' });
    expect(readYaml(k, 'limitrange-payments-limits.yaml').spec.limits).toEqual([
      { type: 'Container', default: { memory: '256Mi' }, defaultRequest: { cpu: '100m', memory: '128Mi' }, max: { memory: '4096Mi' } },
    ]);
    expect(readYaml(k, 'networkpolicy-payments-default-deny.yaml').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // payments may call ledger-api, and ledger admits payments: both ends of the flow are opened.
    expect(readYaml(k, 'networkpolicy-payments-allow-to-ledger.yaml').spec.egress[0].to[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'ledger' });
    expect(readYaml(k, 'networkpolicy-ledger-allow-from-payments.yaml').spec.ingress[0].from[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'payments' });
    expect(readYaml(k, 'rolebinding-payments-deployer.yaml').metadata.namespace).toBe('payments');
    // The TeamAccess targets the tenant: one Namespace object, the tenant's.
    expect(
      fs
        .readdirSync(k)
        .filter((f) => f.startsWith('namespace-'))
        .sort(),
    ).toEqual(['namespace-ledger.yaml', 'namespace-payments.yaml', 'namespace-stage.yaml']);
  });
});
