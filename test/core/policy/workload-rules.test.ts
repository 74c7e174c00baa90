import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Manifest, ShipshapeError } from '../../../lib';
import { deferValue } from '../../../lib/core/deferred';
import { evaluatePolicy } from '../../../lib/core/policy/engine';
import { newStack } from '../../support/synth';
import { LABELS, claim, deployment, pdb, serviceAccount } from './cases';

function findings(ruleId: string, ...manifests: Manifest[]): string[] {
  const report = evaluatePolicy(manifests.map((manifest) => ({ manifest, constructPath: `test/${manifest.kind}` })));
  return [...report.violations, ...report.warnings].filter((f) => f.ruleId === ruleId).map((f) => `${f.object}: ${f.message}`);
}

const mounting = (spec: Parameters<typeof deployment>[0] & { strategy?: unknown }, claimName = 'web-data'): Manifest => {
  const d = deployment({ ...spec, podSpec: { ...spec.podSpec, volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }] } });
  return spec.strategy ? { ...d, spec: { ...d.spec, strategy: spec.strategy } } : d;
};

describe('volume-claim-access', () => {
  it('reports a single-node claim mounted by several pods, by a surge pod, or by a DaemonSet, naming the claim and its modes', () => {
    expect(findings('volume-claim-access', mounting({ replicas: 3 }), pdb({ maxUnavailable: 1 }), claim('web-data', ['ReadWriteOnce']))).toEqual([
      'Deployment test/web: mounts PersistentVolumeClaim web-data (ReadWriteOnce) in up to 3 pods, but only one node can attach it',
    ]);
    expect(findings('volume-claim-access', mounting({ replicas: 1 }), claim('web-data', ['ReadWriteOncePod']))).toEqual([
      'Deployment test/web: mounts PersistentVolumeClaim web-data (ReadWriteOncePod) in a surge pod during each rolling update, but only one node can attach it',
    ]);
    const daemonSet: Manifest = { ...mounting({}), kind: 'DaemonSet' };
    expect(findings('volume-claim-access', daemonSet, claim('web-data', ['ReadWriteOnce']))).toEqual([
      'DaemonSet test/web: mounts PersistentVolumeClaim web-data (ReadWriteOnce) in one pod per node, but only one node can attach it',
    ]);
  });

  it('passes one pod replaced by Recreate or without surge, claims several nodes can mount, and claims not in the output', () => {
    expect(findings('volume-claim-access', mounting({ replicas: 1, strategy: { type: 'Recreate' } }), claim('web-data', ['ReadWriteOnce']))).toEqual([]);
    expect(
      findings('volume-claim-access', mounting({ replicas: 1, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } }), claim('web-data', ['ReadWriteOnce'])),
    ).toEqual([]);
    expect(findings('volume-claim-access', mounting({ replicas: 3 }), pdb({ maxUnavailable: 1 }), claim('web-data', ['ReadWriteOnce', 'ReadWriteMany']))).toEqual([]);
    expect(findings('volume-claim-access', mounting({ replicas: 3 }), pdb({ maxUnavailable: 1 }))).toEqual([]);
  });
});

describe('workload-identity', () => {
  const gke = { 'iam.gke.io/gcp-service-account': 'web-api@acme-prod.iam.gserviceaccount.com' };
  const azure = { 'azure.workload.identity/client-id': '3f2504e0-4f89-11d3-9a0c-0305e82c3301' };
  const pods = (podSpec: Record<string, unknown>, labels: Record<string, string> = LABELS): Manifest => {
    const d = deployment({ replicas: 3, podSpec: { serviceAccountName: 'web', ...podSpec } });
    d.spec.template.metadata.labels = labels;
    return d;
  };

  it('reports GKE pods without the ServiceAccount token, inherited from the ServiceAccount or set on the pod', () => {
    expect(findings('workload-identity', pods({}), serviceAccount(gke))).toEqual([expect.stringContaining('names a GKE Workload Identity, without its token')]);
    expect(findings('workload-identity', pods({ automountServiceAccountToken: false }), serviceAccount(gke))).toHaveLength(1);
    expect(findings('workload-identity', pods({ automountServiceAccountToken: true }), serviceAccount(gke))).toEqual([]);
  });

  it('reports Azure pods without the webhook label', () => {
    expect(findings('workload-identity', pods({}), serviceAccount(azure))).toEqual([expect.stringContaining('lack the label azure.workload.identity/use: "true"')]);
    expect(findings('workload-identity', pods({}, { ...LABELS, 'azure.workload.identity/use': 'true' }), serviceAccount(azure))).toEqual([]);
  });

  it('reports malformed identity annotations on a ServiceAccount, and takes deploy-time values', () => {
    expect(findings('workload-identity', serviceAccount({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/web' }))).toEqual([
      'ServiceAccount test/web: annotation eks.amazonaws.com/role-arn is "arn:aws:iam::1:role/web", not an IAM role ARN',
    ]);
    expect(findings('workload-identity', serviceAccount({ 'eks.amazonaws.com/role-arn': deferValue('role arn') }))).toEqual([]);
    expect(findings('workload-identity', pods({}), serviceAccount({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/web' }))).toEqual([]);
  });

  it('agrees with the constructor on every identity value (property)', () => {
    const key = fc.constantFrom('eks.amazonaws.com/role-arn', 'iam.gke.io/gcp-service-account', 'azure.workload.identity/client-id');
    const value = fc.oneof(
      fc.constantFrom(
        'arn:aws:iam::123456789012:role/web',
        'arn:aws-us-gov:iam::123456789012:role/a/b/web',
        'arn:aws:iam::123456789012:user/web',
        'web-api@acme-prod.iam.gserviceaccount.com',
        'web@acme-prod.iam.gserviceaccount.com',
        '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
        '3f2504e04f8911d39a0c0305e82c3301',
      ),
      fc.stringMatching(/^arn:aws(-[a-z]{2,3})?:iam::[0-9]{10,13}:role\/[a-z/]{0,6}[a-z]$/),
      fc.uuid().map((u) => (u.length % 2 ? u.toUpperCase() : u)),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(key, value, (k, v) => {
        let refused: unknown;
        try {
          new AntiAffinityDeployment(newStack(), 'web', { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }], serviceAccountAnnotations: { [k]: v } });
        } catch (e) {
          refused = e;
        }
        if (refused !== undefined) expect(refused).toBeInstanceOf(ShipshapeError);
        expect(findings('workload-identity', serviceAccount({ [k]: v })).length === 1, `${k}: ${JSON.stringify(v)}`).toBe(refused !== undefined);
      }),
    );
  });
});
