import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { runsPublishedImages } from '../core/image-tests';
import { assertPinnedImage } from '../core/images';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertInteger } from '../core/names';
import { durationSeconds } from '../core/quantities';
import { resources } from '../core/resources';
import { hostnameAntiAffinity } from '../core/scheduling';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { Stack } from '../core/stack';
import { KUBE_SYSTEM } from './support';

/** Properties of a {@link MetricsServer}. */
export interface MetricsServerProps {
  /**
   * Image.
   * @default METRICS_SERVER_IMAGE
   */
  readonly image?: string;
  /**
   * Replicas; two or more run spread over nodes with a PodDisruptionBudget (upstream high-availability manifest).
   * @default 2 (every HPA stops deciding while metrics-server is down)
   */
  readonly replicas?: number;
  /**
   * Time between metric scrapes (`--metric-resolution`), whole seconds from 10 s to 5 min.
   * @default Duration.seconds(15) (upstream default)
   */
  readonly metricResolution?: Duration;
  /**
   * Accept kubelet serving certificates not signed by the cluster CA (`--kubelet-insecure-tls`), for clusters
   * whose kubelets use self-signed certificates. Prefer enabling kubelet serving certificate rotation.
   * @default false
   */
  readonly kubeletInsecureTls?: boolean;
}

// metrics-server release of the upstream components.yaml (https://github.com/kubernetes-sigs/metrics-server/releases).
export const METRICS_SERVER_IMAGE = 'registry.k8s.io/metrics-server/metrics-server:v0.7.2';
/** Name of the metrics-server objects, as upstream names them. */
export const METRICS_SERVER_NAME = 'metrics-server';
/** Name of the APIService that serves `metrics.k8s.io`; the policy looks for it wherever an HPA is. */
export const METRICS_API_SERVICE = 'v1beta1.metrics.k8s.io';
// Upstream: the container listens on 10250 (named https); the Service exposes 443.
const SECURE_PORT = 10250;
const DEFAULT_METRIC_RESOLUTION = Duration.seconds(15);
// Upstream requests 100m/200Mi; the policy also wants a memory limit, so double the request.
const RESOURCES = resources({ cpu: kplus.Cpu.millis(100), memory: Size.mebibytes(200), memoryLimit: Size.mebibytes(400) });
// Upstream runs as uid 1000.
const RUN_AS_USER = 1000;

/**
 * metrics-server in kube-system with the upstream RBAC, Service and APIService (`v1beta1.metrics.k8s.io`):
 * the resource metrics API every HorizontalPodAutoscaler and `kubectl top` read.
 */
export class MetricsServer extends Construct {
  public readonly deployment: kplus.k8s.KubeDeployment;
  public readonly service: kplus.k8s.KubeService;
  public readonly apiService: kplus.k8s.KubeApiService;
  public readonly serviceAccount: kplus.k8s.KubeServiceAccount;
  /** The PodDisruptionBudget. */
  public readonly disruptionBudget: kplus.k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: MetricsServerProps = {}) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const image = assertPinnedImage(this, 'image', props.image ?? METRICS_SERVER_IMAGE, METRICS_SERVER_IMAGE);
    const replicas = assertInteger(this, 'replicas', props.replicas ?? 2, 1, 10);
    const resolution = durationSeconds(this, 'metricResolution', props.metricResolution ?? DEFAULT_METRIC_RESOLUTION, 10, 300);

    const name = METRICS_SERVER_NAME;
    const labels = workloadLabels(name, env, 'metrics');
    const selector = selectorLabels(name, env);
    const metadata = { name, namespace: KUBE_SYSTEM, labels };
    const subject = { kind: 'ServiceAccount', name, namespace: KUBE_SYSTEM };
    const rbac = 'rbac.authorization.k8s.io';

    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', { metadata });
    // Upstream components.yaml, object for object.
    new kplus.k8s.KubeClusterRole(this, 'aggregated-reader', {
      metadata: {
        name: 'system:aggregated-metrics-reader',
        labels: { ...labels, 'rbac.authorization.k8s.io/aggregate-to-admin': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-view': 'true' },
      },
      rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
    });
    new kplus.k8s.KubeClusterRole(this, 'cluster-role', {
      metadata: { name: 'system:metrics-server', labels },
      rules: [
        { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    new kplus.k8s.KubeRoleBinding(this, 'auth-reader', {
      metadata: { name: 'metrics-server-auth-reader', namespace: KUBE_SYSTEM, labels },
      roleRef: { apiGroup: rbac, kind: 'Role', name: 'extension-apiserver-authentication-reader' },
      subjects: [subject],
    });
    new kplus.k8s.KubeClusterRoleBinding(this, 'auth-delegator', {
      metadata: { name: 'metrics-server:system:auth-delegator', labels },
      roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [subject],
    });
    new kplus.k8s.KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name: 'system:metrics-server', labels },
      roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: 'system:metrics-server' },
      subjects: [subject],
    });

    this.service = new kplus.k8s.KubeService(this, 'service', {
      metadata,
      spec: { selector, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: kplus.k8s.IntOrString.fromString('https') }] },
    });

    const probe = (path: string) => ({ httpGet: { path, port: kplus.k8s.IntOrString.fromString('https'), scheme: 'HTTPS' }, periodSeconds: 10, failureThreshold: 3 });
    this.deployment = new kplus.k8s.KubeDeployment(this, 'deployment', {
      metadata,
      spec: {
        replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(replicas > 1 ? 1 : 0) } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            priorityClassName: 'system-cluster-critical',
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            securityContext: restrictedPodSecurityContext(),
            ...(replicas > 1
              ? {
                  affinity: hostnameAntiAffinity(selector, 'required'),
                }
              : {}),
            containers: [
              {
                name,
                image,
                imagePullPolicy: 'IfNotPresent',
                args: [
                  '--cert-dir=/tmp',
                  `--secure-port=${SECURE_PORT}`,
                  '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
                  '--kubelet-use-node-status-port',
                  `--metric-resolution=${resolution}s`,
                  ...(props.kubeletInsecureTls ? ['--kubelet-insecure-tls'] : []),
                ],
                ports: [{ name: 'https', containerPort: SECURE_PORT, protocol: 'TCP' }],
                livenessProbe: probe('/livez'),
                readinessProbe: { ...probe('/readyz'), initialDelaySeconds: 20 },
                resources: RESOURCES,
                securityContext: restrictedContainerSecurityContext(RUN_AS_USER),
                volumeMounts: [{ name: 'tmp-dir', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp-dir', emptyDir: {} }],
          },
        },
      },
    });
    this.disruptionBudget = new kplus.k8s.KubePodDisruptionBudget(this, 'disruption-budget', {
      metadata,
      spec: {
        selector: { matchLabels: selector },
        ...(replicas > 1 ? { minAvailable: kplus.k8s.IntOrString.fromNumber(1) } : { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1) }),
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
    this.apiService = new kplus.k8s.KubeApiService(this, 'api-service', {
      metadata: { name: METRICS_API_SERVICE, labels },
      spec: {
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 100,
        versionPriority: 100,
        // Upstream: metrics-server serves a self-signed certificate from --cert-dir.
        insecureSkipTlsVerify: true,
        service: { name, namespace: KUBE_SYSTEM },
      },
    });
  }
}
