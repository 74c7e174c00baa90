import { Manifest } from '../../../lib';

// One failing and one passing set of objects per policy rule, built like the synth-side policy tests
// (test/core/policy/rules.test.ts): every back end that applies the rules (synth, the Pulumi policy pack) is checked on them.

export const LABELS = { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/instance': 'test' };

export function container(overrides: Record<string, unknown> = {}) {
  return {
    name: 'web',
    image: 'ghcr.io/acme/web:1.0.0',
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    livenessProbe: { tcpSocket: { port: 8080 } },
    readinessProbe: { tcpSocket: { port: 8080 } },
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false },
    ...overrides,
  };
}

export function deployment(spec: { replicas?: number; podSpec?: Record<string, unknown>; containers?: unknown[]; annotations?: Record<string, string> } = {}): Manifest {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'test', ...(spec.annotations ? { annotations: spec.annotations } : {}) },
    spec: {
      ...(spec.replicas === undefined ? {} : { replicas: spec.replicas }),
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          containers: spec.containers ?? [container()],
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: LABELS } } }],
            },
          },
          ...spec.podSpec,
        },
      },
    },
  };
}

export function pdb(spec: Record<string, unknown>, selector: Record<string, string> = LABELS): Manifest {
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'test' }, spec: { selector: { matchLabels: selector }, ...spec } };
}

export function hpa(min: number, max: number, target = 'web'): Manifest {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'test' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: min,
      maxReplicas: max,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 40 } } }],
    },
  };
}

/** metrics-server's API, which every HPA needs in the same output. */
export const metricsApi = (): Manifest => ({ apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1beta1.metrics.k8s.io' } });

export const healthy = (): Manifest[] => [deployment({ replicas: 3 }), pdb({ maxUnavailable: 1 })];

export const configMap = (data: Record<string, string>, annotations?: Record<string, string>): Manifest => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'test', ...(annotations ? { annotations } : {}) },
  data,
});

export const claim = (name: string, accessModes: string[]): Manifest => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace: 'test' },
  spec: { accessModes, resources: { requests: { storage: '1Gi' } } },
});

export const serviceAccount = (annotations: Record<string, string>, name = 'web'): Manifest => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace: 'test', annotations },
  automountServiceAccountToken: false,
});

export const service = (type: string, selector: Record<string, string> = LABELS): Manifest => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'test' },
  spec: { type, selector, ports: [{ port: 80 }] },
});

const secret = (data?: Record<string, string>): Manifest => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'test' }, ...(data ? { stringData: data } : {}) });

const clusterRole = (rule: Record<string, string[]>): Manifest => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r' }, rules: [rule] });

const binding = (role: string): Manifest => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: 'ops' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ kind: 'Group', name: 'ops', apiGroup: 'rbac.authorization.k8s.io' }],
});

const ingress = (name: string, annotations: Record<string, string> = {}, tls?: Record<string, unknown>[]): Manifest => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'test', ...(Object.keys(annotations).length ? { annotations } : {}) },
  spec: {
    ingressClassName: 'nginx',
    rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
    ...(tls ? { tls } : {}),
  },
});
const canary = (weight = '10') => ({ 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-weight': weight });

/** A rule's cases: `failing[offender]` breaks the rule (and only that object does); `passing` breaks no rule. */
export interface PolicyCase {
  readonly failing: Manifest[];
  readonly offender: number;
  readonly passing: Manifest[];
}

/** Cases for every rule id of RULES; a rule without cases fails the tests that iterate over RULES. */
export const POLICY_CASES: Record<string, () => PolicyCase> = {
  'container-resources': () => ({
    failing: [deployment({ replicas: 3, containers: [container({ resources: { requests: { cpu: '1', memory: '1Gi' } } })] }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: healthy(),
  }),
  'container-probes': () => ({
    failing: [deployment({ replicas: 3, containers: [container({ readinessProbe: undefined })] }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: healthy(),
  }),
  'image-tag-pinned': () => ({
    failing: [deployment({ replicas: 3, containers: [container({ image: 'nginx' })] }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: [deployment({ replicas: 3, containers: [container({ image: 'nginx:1.27.2' })] }), pdb({ maxUnavailable: 1 })],
  }),
  'replicas-spread': () => ({
    // Spreading depends on the HPA: one replica declared, four reachable.
    failing: [deployment({ podSpec: { affinity: undefined } }), hpa(1, 4), metricsApi(), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: [deployment({ podSpec: { affinity: undefined } }), metricsApi(), pdb({ maxUnavailable: 1 })],
  }),
  'disruption-budget': () => ({
    // minAvailable equal to the HPA's minimum blocks every eviction.
    failing: [deployment(), hpa(3, 10), metricsApi(), pdb({ minAvailable: 3 })],
    offender: 0,
    passing: [deployment(), hpa(3, 10), metricsApi(), pdb({ minAvailable: 2 })],
  }),
  'pod-security': () => ({
    failing: [deployment({ replicas: 3, containers: [container({ securityContext: { runAsUser: 0 } })] }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: [
      deployment({ replicas: 3, containers: [container({ securityContext: { allowPrivilegeEscalation: false } })], podSpec: { securityContext: { runAsNonRoot: true } } }),
      pdb({ maxUnavailable: 1 }),
    ],
  }),
  'secret-env-plaintext': () => ({
    failing: [deployment({ replicas: 3, containers: [container({ env: [{ name: 'DB_PASSWORD', value: 'hunter2' }] })] }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: [
      deployment({
        replicas: 3,
        containers: [
          container({
            env: [
              { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
              { name: 'LOG_LEVEL', value: 'info' },
            ],
          }),
        ],
      }),
      pdb({ maxUnavailable: 1 }),
    ],
  }),
  'configmap-credentials': () => ({
    failing: [configMap({ DATABASE_URL: 'postgres://admin:hunter2@db/app' })],
    offender: 0,
    passing: [configMap({ LOG_LEVEL: 'info', QUEUE_URL: 'amqp://queue:5672' })],
  }),
  'configmap-keys': () => ({
    failing: [configMap({ 'a/b': 'x' })],
    offender: 0,
    passing: [configMap({ 'app.properties': 'x' })],
  }),
  'credential-in-manifest': () => ({
    failing: [configMap({}, { 'example.com/source': 'https://ci:hunter2@git.example.com/acme/app.git' })],
    offender: 0,
    passing: [configMap({}, { 'example.com/token-ttl': '1h' })],
  }),
  'yaml-line-separators': () => ({
    failing: [deployment({ replicas: 3, containers: [container({ args: ['a\u2028b'] })] }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: [deployment({ replicas: 3, containers: [container({ args: ['a\nb'] })] }), pdb({ maxUnavailable: 1 })],
  }),
  'secret-data-inline': () => ({ failing: [secret({ password: 'x' })], offender: 0, passing: [secret()] }),
  'service-load-balancer': () => ({ failing: [...healthy(), service('LoadBalancer')], offender: 2, passing: [...healthy(), service('ClusterIP')] }),
  'service-selects-pods': () => ({ failing: [...healthy(), service('ClusterIP', { app: 'nothing' })], offender: 2, passing: [...healthy(), service('ClusterIP')] }),
  'autoscaler-target': () => ({
    failing: [...healthy(), metricsApi(), hpa(2, 5, 'ghost')],
    offender: 3,
    passing: [deployment(), pdb({ maxUnavailable: 1 }), metricsApi(), hpa(2, 5)],
  }),
  'rbac-no-wildcards': () => ({
    failing: [clusterRole({ apiGroups: [''], resources: ['pods'], verbs: ['*'] })],
    offender: 0,
    passing: [clusterRole({ apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] })],
  }),
  'autoscaler-metrics': () => ({
    failing: [deployment(), pdb({ maxUnavailable: 1 }), hpa(2, 5)],
    offender: 2,
    passing: [deployment(), pdb({ maxUnavailable: 1 }), hpa(2, 5), metricsApi()],
  }),
  'rbac-cluster-admin': () => ({ failing: [binding('cluster-admin')], offender: 0, passing: [binding('view')] }),
  'host-path-volume': () => ({
    failing: [deployment({ replicas: 3, podSpec: { volumes: [{ name: 'logs', hostPath: { path: '/var/log' } }] } }), pdb({ maxUnavailable: 1 })],
    offender: 0,
    passing: [deployment({ replicas: 3, podSpec: { volumes: [{ name: 'scratch', emptyDir: {} }] } }), pdb({ maxUnavailable: 1 })],
  }),
  'volume-claim-access': () => ({
    failing: [
      deployment({ replicas: 3, podSpec: { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'web-data' } }] } }),
      pdb({ maxUnavailable: 1 }),
      claim('web-data', ['ReadWriteOnce']),
    ],
    offender: 0,
    passing: [
      deployment({ replicas: 3, podSpec: { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'web-data' } }] } }),
      pdb({ maxUnavailable: 1 }),
      claim('web-data', ['ReadWriteMany']),
    ],
  }),
  'workload-identity': () => ({
    failing: [
      deployment({ replicas: 3, podSpec: { serviceAccountName: 'web', automountServiceAccountToken: false } }),
      pdb({ maxUnavailable: 1 }),
      serviceAccount({ 'iam.gke.io/gcp-service-account': 'web-api@acme-prod.iam.gserviceaccount.com' }),
    ],
    offender: 0,
    passing: [
      deployment({ replicas: 3, podSpec: { serviceAccountName: 'web', automountServiceAccountToken: true } }),
      pdb({ maxUnavailable: 1 }),
      serviceAccount({ 'iam.gke.io/gcp-service-account': 'web-api@acme-prod.iam.gserviceaccount.com' }),
    ],
  }),
  'single-replica': () => ({ failing: [deployment({ replicas: 1 })], offender: 0, passing: [deployment({ replicas: 2 }), pdb({ maxUnavailable: 1 })] }),
  'canary-unique': () => ({ failing: [ingress('web'), ingress('web-canary', canary()), ingress('web-canary-2', canary())], offender: 2, passing: [ingress('web'), ingress('web-canary', canary())] }),
  'canary-ingress': () => ({ failing: [ingress('web-canary', canary())], offender: 0, passing: [ingress('web'), ingress('web-canary', canary())] }),
  'ingress-tls': () => ({
    failing: [ingress('web', {}, [{ hosts: ['a.example.com'] }])],
    offender: 0,
    passing: [ingress('web', { 'cert-manager.io/cluster-issuer': 'letsencrypt' }, [{ hosts: ['a.example.com'], secretName: 'web-tls' }])],
  }),
};
