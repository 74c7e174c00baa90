import { describe, expect, it } from 'vitest';
import { Manifest } from '../../../lib';
import { PolicySubject, evaluatePolicy, formatFinding } from '../../../lib/core/policy/engine';
import { EXEMPTION_ANNOTATION_PREFIX } from '../../../lib/core/policy/exemptions';
import { RULES } from '../../../lib/core/policy/rules';
import { LABELS, container, deployment, healthy, hpa, metricsApi as sharedMetricsApi, pdb } from './cases';

// metrics-server's API, which every HPA needs in the same output.
const metricsApi = sharedMetricsApi();

function run(...manifests: Manifest[]) {
  const subjects: PolicySubject[] = manifests.map((manifest) => ({ manifest, constructPath: `test/${manifest.kind}` }));
  return evaluatePolicy(subjects);
}

function ruleIds(...manifests: Manifest[]): string[] {
  return run(...manifests).violations.map((v) => v.ruleId);
}

describe('policy engine', () => {
  it('passes a healthy replicated Deployment with its PDB', () => {
    const report = run(...healthy());
    expect(report.violations).toEqual([]);
    expect(report.warnings).toEqual([]);
  });

  it('lists every violation with rule id, object, construct path and fix', () => {
    const bad = deployment({ replicas: 2, containers: [container({ image: 'nginx', resources: undefined })] });
    const report = run(bad);
    const ids = report.violations.map((v) => v.ruleId).sort();
    expect(ids).toEqual(['container-resources', 'disruption-budget', 'image-tag-pinned']);
    const line = formatFinding(report.violations.find((v) => v.ruleId === 'image-tag-pinned')!);
    expect(line).toContain('[image-tag-pinned] Deployment test/web (construct test/Deployment)');
    expect(line).toContain('Fix: pin the image');
  });

  it('has a unique id, a severity and a description for every rule', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of RULES) expect(rule.description.length).toBeGreaterThan(20);
    // Only advisory rules warn; everything else blocks synth.
    const warnings = RULES.filter((r) => r.severity === 'warning')
      .map((r) => r.id)
      .sort();
    expect(warnings).toEqual(['host-path-volume', 'single-replica']);
    expect(RULES.filter((r) => r.severity !== 'warning').every((r) => r.severity === 'error')).toBe(true);
  });

  describe('yaml-line-separators', () => {
    it('refuses U+0085, U+2028 and U+2029 anywhere, since kubectl reads them as a space', () => {
      for (const ch of ['\u0085', '\u2028', '\u2029']) {
        const d = deployment({ replicas: 3, containers: [container({ args: [`a${ch}b`] })] });
        const v = run(d, pdb({ maxUnavailable: 1 })).violations;
        expect(v.map((x) => x.ruleId)).toEqual(['yaml-line-separators']);
        expect(v[0].message).toContain('spec.template.spec.containers[0].args[0]');
      }
      const clean = deployment({ replicas: 3, containers: [container({ args: ['a\nb', 'ü→✓'] })] });
      expect(run(clean, pdb({ maxUnavailable: 1 })).violations).toEqual([]);
    });
    it('finds them in keys, and beside a value JSON cannot write (a BigInt from an escape hatch)', () => {
      const keyed = deployment({ replicas: 3, annotations: { 'example.com/a\u2028b': 'x' } });
      expect(run(keyed, pdb({ maxUnavailable: 1 })).violations.map((x) => x.ruleId)).toEqual(['yaml-line-separators']);
      const big = deployment({ replicas: 3, containers: [container({ args: ['a\u2029b'] })] });
      (big.spec as Record<string, unknown>).progressDeadlineSeconds = 600n;
      expect(run(big, pdb({ maxUnavailable: 1 })).violations.map((x) => x.ruleId)).toEqual(['yaml-line-separators']);
      (big.spec.template.spec.containers[0] as Record<string, unknown>).args = ['ab'];
      expect(run(big, pdb({ maxUnavailable: 1 })).violations).toEqual([]);
    });
  });

  describe('container-resources', () => {
    it('fails a container without a memory limit, naming what is missing', () => {
      const d = deployment({ replicas: 3, containers: [container({ resources: { requests: { cpu: '1', memory: '1Gi' } } })] });
      const v = run(d, pdb({ maxUnavailable: 1 })).violations;
      expect(v.map((x) => x.ruleId)).toEqual(['container-resources']);
      expect(v[0].message).toContain('limits.memory');
    });
    it('checks init containers too', () => {
      const d = deployment({ replicas: 3, podSpec: { initContainers: [{ ...container(), name: 'migrate', resources: {} }] } });
      expect(ruleIds(d, pdb({ maxUnavailable: 1 }))).toEqual(['container-resources']);
    });
  });

  describe('container-probes', () => {
    it('fails a long-running container without readiness', () => {
      const d = deployment({ replicas: 3, containers: [container({ readinessProbe: undefined })] });
      const v = run(d, pdb({ maxUnavailable: 1 })).violations;
      expect(v.map((x) => x.ruleId)).toEqual(['container-probes']);
      expect(v[0].message).toContain('readinessProbe');
    });
    it('does not ask Jobs for probes', () => {
      const job: Manifest = {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'once', namespace: 'test' },
        spec: { template: { spec: { containers: [container({ livenessProbe: undefined, readinessProbe: undefined })] } } },
      };
      expect(ruleIds(job)).toEqual([]);
    });
  });

  describe('image-tag-pinned', () => {
    it.each(['nginx', 'nginx:latest', 'registry:5000/team/app', 'registry:5000/team/app:latest'])('fails %s', (image) => {
      expect(ruleIds(deployment({ replicas: 3, containers: [container({ image })] }), pdb({ maxUnavailable: 1 }))).toEqual(['image-tag-pinned']);
    });
    it.each(['nginx:1.27.2', 'registry:5000/team/app:2.0', 'app@sha256:' + 'a'.repeat(64)])('passes %s', (image) => {
      expect(ruleIds(deployment({ replicas: 3, containers: [container({ image })] }), pdb({ maxUnavailable: 1 }))).toEqual([]);
    });
  });

  describe('replicas-spread', () => {
    it('fails two replicas with no anti-affinity or spread', () => {
      expect(ruleIds(deployment({ replicas: 2, podSpec: { affinity: undefined } }), pdb({ maxUnavailable: 1 }))).toEqual(['replicas-spread']);
    });
    it('fails anti-affinity whose selector does not match the pods', () => {
      const podSpec = {
        affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'other' } } }] } },
      };
      expect(ruleIds(deployment({ replicas: 2, podSpec }), pdb({ maxUnavailable: 1 }))).toEqual(['replicas-spread']);
    });
    it('accepts a hostname topology spread constraint instead', () => {
      const podSpec = {
        affinity: undefined,
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: LABELS } }],
      };
      expect(ruleIds(deployment({ replicas: 2, podSpec }), pdb({ maxUnavailable: 1 }))).toEqual([]);
    });
    it('applies when only the HPA can reach two replicas', () => {
      expect(ruleIds(deployment({ podSpec: { affinity: undefined } }), hpa(1, 4), metricsApi, pdb({ maxUnavailable: 1 }))).toEqual(['replicas-spread']);
    });
  });

  describe('disruption-budget', () => {
    it('fails a replicated Deployment without a PDB', () => {
      expect(ruleIds(deployment({ replicas: 3 }))).toEqual(['disruption-budget']);
    });
    it('fails a PDB that selects other pods', () => {
      expect(ruleIds(deployment({ replicas: 3 }), pdb({ maxUnavailable: 1 }, { app: 'other' }))).toEqual(['disruption-budget']);
    });
    it.each([{ maxUnavailable: 0 }, { maxUnavailable: '0%' }, { minAvailable: 3 }, { minAvailable: '100%' }])('fails a PDB that blocks every eviction: %j', (spec) => {
      expect(ruleIds(deployment({ replicas: 3 }), pdb(spec))).toEqual(['disruption-budget']);
    });
    it('fails minAvailable equal to the HPA minimum, passes one below it', () => {
      expect(ruleIds(deployment(), hpa(3, 10), metricsApi, pdb({ minAvailable: 3 }))).toEqual(['disruption-budget']);
      expect(ruleIds(deployment(), hpa(3, 10), metricsApi, pdb({ minAvailable: 2 }))).toEqual([]);
    });
    it('fails two PDBs over the same pods', () => {
      const second = { ...pdb({ maxUnavailable: 1 }), metadata: { name: 'web-2', namespace: 'test' } };
      expect(ruleIds(deployment({ replicas: 3 }), pdb({ maxUnavailable: 1 }), second)).toEqual(['disruption-budget']);
    });
  });

  describe('pod-security', () => {
    it('fails a container that may run as root or escalate', () => {
      const v = run(deployment({ replicas: 3, containers: [container({ securityContext: { runAsUser: 0 } })] }), pdb({ maxUnavailable: 1 })).violations;
      expect(v.map((x) => x.ruleId)).toEqual(['pod-security']);
      expect(v[0].message).toContain('may run as root');
      expect(v[0].message).toContain('allows privilege escalation');
    });
    it('accepts runAsNonRoot from the pod security context', () => {
      const d = deployment({ replicas: 3, containers: [container({ securityContext: { allowPrivilegeEscalation: false } })], podSpec: { securityContext: { runAsNonRoot: true } } });
      expect(ruleIds(d, pdb({ maxUnavailable: 1 }))).toEqual([]);
    });
  });

  describe('secret-env-plaintext', () => {
    it.each(['DB_PASSWORD', 'API_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'STRIPE_API_KEY', 'PRIVATE_KEY', 'client_secret'])('fails %s in plain text', (name) => {
      const d = deployment({ replicas: 3, containers: [container({ env: [{ name, value: 'hunter2' }] })] });
      expect(ruleIds(d, pdb({ maxUnavailable: 1 }))).toEqual(['secret-env-plaintext']);
    });
    it('passes secret-looking names taken from a Secret, and ordinary names in plain text', () => {
      const env = [
        { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'LOG_LEVEL', value: 'info' },
        { name: 'KEYSPACE_NAME', value: 'x' },
      ];
      expect(ruleIds(deployment({ replicas: 3, containers: [container({ env })] }), pdb({ maxUnavailable: 1 }))).toEqual([]);
    });
  });

  describe('secret-env-plaintext through ConfigMaps and URLs', () => {
    it('fails a credential taken from a ConfigMap key or embedded in a URL', () => {
      const fromConfigMap = [{ name: 'PGPASSWORD', valueFrom: { configMapKeyRef: { name: 'settings', key: 'pg' } } }];
      expect(ruleIds(deployment({ replicas: 3, containers: [container({ env: fromConfigMap })] }), pdb({ maxUnavailable: 1 }))).toEqual(['secret-env-plaintext']);
      const inUrl = [{ name: 'DATABASE_URL', value: 'postgres://admin:hunter2@db:5432/app' }];
      expect(ruleIds(deployment({ replicas: 3, containers: [container({ env: inUrl })] }), pdb({ maxUnavailable: 1 }))).toEqual(['secret-env-plaintext']);
    });
    it('passes a URL without a password', () => {
      const env = [{ name: 'QUEUE_URL', value: 'amqp://queue.prod.svc:5672' }];
      expect(ruleIds(deployment({ replicas: 3, containers: [container({ env })] }), pdb({ maxUnavailable: 1 }))).toEqual([]);
    });
  });

  describe('configmap-credentials', () => {
    const configMap = (data: Record<string, string>): Manifest => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'test' }, data });
    it('fails credential-named keys and passwords in URLs', () => {
      expect(ruleIds(configMap({ DB_PASSWORD: 'hunter2' }))).toEqual(['configmap-credentials']);
      expect(ruleIds(configMap({ DATABASE_URL: 'postgres://admin:hunter2@db/app' }))).toEqual(['configmap-credentials']);
    });
    it('passes ordinary settings', () => {
      expect(ruleIds(configMap({ LOG_LEVEL: 'info', QUEUE_URL: 'amqp://queue:5672', 'fluent.conf': 'password "#{ENV[\'PASSWORD\']}"' }))).toEqual([]);
    });
  });

  describe('secret-data-inline', () => {
    it('fails a Secret with data, passes one without', () => {
      const secret = (data?: Record<string, string>): Manifest => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'test' }, ...(data ? { stringData: data } : {}) });
      expect(ruleIds(secret({ password: 'x' }))).toEqual(['secret-data-inline']);
      expect(ruleIds(secret())).toEqual([]);
    });
  });

  describe('service rules', () => {
    const service = (type: string, selector: Record<string, string> = LABELS, annotations?: Record<string, string>): Manifest => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'test', annotations },
      spec: { type, selector, ports: [{ port: 80 }] },
    });
    it('fails LoadBalancer unless the object declares it was asked for', () => {
      expect(ruleIds(...healthy(), service('LoadBalancer'))).toEqual(['service-load-balancer']);
      const asked = service('LoadBalancer', LABELS, { [`${EXEMPTION_ANNOTATION_PREFIX}service-load-balancer`]: 'public entry point of the shop' });
      const report = run(...healthy(), asked);
      expect(report.violations).toEqual([]);
      expect(report.exemptions).toEqual([{ ruleId: 'service-load-balancer', object: 'Service test/web', constructPath: 'test/Service', reason: 'public entry point of the shop' }]);
    });
    it('fails a selector that matches no pods', () => {
      expect(ruleIds(...healthy(), service('ClusterIP', { app: 'nothing' }))).toEqual(['service-selects-pods']);
      expect(ruleIds(...healthy(), service('ClusterIP'))).toEqual([]);
    });
  });

  describe('autoscaler-target', () => {
    it('fails an HPA whose target is missing, sets replicas, or lacks CPU requests', () => {
      expect(ruleIds(...healthy(), metricsApi, hpa(2, 5, 'ghost'))).toEqual(['autoscaler-target']);
      expect(ruleIds(deployment({ replicas: 3 }), pdb({ maxUnavailable: 1 }), metricsApi, hpa(2, 5))).toEqual(['autoscaler-target']);
      const noCpu = deployment({ containers: [container({ resources: { requests: { memory: '1Gi' }, limits: { memory: '1Gi' } } })] });
      const v = run(noCpu, pdb({ maxUnavailable: 1 }), metricsApi, hpa(2, 5)).violations;
      expect(v.map((x) => x.ruleId).sort()).toEqual(['autoscaler-target', 'container-resources']);
    });
  });

  describe('rbac-no-wildcards', () => {
    const role = (rule: Record<string, string[]>): Manifest => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r' }, rules: [rule] });
    it('fails wildcards in verbs, resources or groups', () => {
      expect(ruleIds(role({ apiGroups: [''], resources: ['pods'], verbs: ['*'] }))).toEqual(['rbac-no-wildcards']);
      expect(ruleIds(role({ apiGroups: ['*'], resources: ['pods'], verbs: ['get'] }))).toEqual(['rbac-no-wildcards']);
      expect(ruleIds(role({ apiGroups: [''], resources: ['pods/*'], verbs: ['get'] }))).toEqual(['rbac-no-wildcards']);
    });
    it('passes named rules', () => {
      expect(ruleIds(role({ apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] }))).toEqual([]);
    });
  });

  describe('single-replica (warning)', () => {
    it('warns about one replica without failing', () => {
      const report = run(deployment({ replicas: 1 }));
      expect(report.violations).toEqual([]);
      expect(report.warnings.map((w) => w.ruleId)).toEqual(['single-replica']);
    });
  });

  describe('exemptions', () => {
    it('drops the exempted finding and records the reason', () => {
      const d = deployment({ replicas: 3, containers: [container({ securityContext: {} })], annotations: { [`${EXEMPTION_ANNOTATION_PREFIX}pod-security`]: 'reads host logs as root' } });
      const report = run(d, pdb({ maxUnavailable: 1 }));
      expect(report.violations).toEqual([]);
      expect(report.exemptions.map((e) => [e.ruleId, e.reason])).toEqual([['pod-security', 'reads host logs as root']]);
    });
    it('rejects an exemption from a rule that does not exist', () => {
      const d = deployment({ replicas: 3, annotations: { [`${EXEMPTION_ANNOTATION_PREFIX}no-such-rule`]: 'typo in the rule id' } });
      expect(ruleIds(d, pdb({ maxUnavailable: 1 }))).toEqual(['unknown-exemption']);
    });
  });
});
