import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { assertPinnedImage } from '../core/images';
import { selectorLabels, workloadLabels } from '../core/labels';
import { exempt } from '../core/policy/exemptions';
import { resources } from '../core/resources';
import { RUNTIME_DEFAULT_SECCOMP, restrictedContainerSecurityContext } from '../core/security';
import { Stack } from '../core/stack';
import { ServiceMonitor, environmentPrometheusLabels } from '../workloads/service-monitor';
import { checkImagePullSecrets, imagePullSecretRefs } from '../workloads/workload-metadata';
import { KUBE_SYSTEM } from './support';

/** Properties of a {@link KubeStateMetrics}. */
export interface KubeStateMetricsProps {
  /**
   * Image.
   * @default - the release of KUBE_STATE_METRICS_RELEASES for the environment's Kubernetes minor
   */
  readonly image?: string;
  /**
   * PriorityClass of the pod.
   * @default - the cluster default
   */
  readonly priorityClassName?: string;
  /**
   * Time between scrapes of the ServiceMonitor (when the environment runs the Prometheus Operator).
   * @default Duration.seconds(30)
   */
  readonly scrapeInterval?: Duration;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` in kube-system that the image is pulled with, e.g.
   * for a private mirror of registry.k8s.io. Never the credential itself: create the Secret outside Git.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
}

/**
 * kube-state-metrics release per Kubernetes minor: the release built against that minor's client-go, as the
 * compatibility matrix of https://github.com/kubernetes/kube-state-metrics#compatibility-matrix lists them.
 */
export const KUBE_STATE_METRICS_RELEASES: Readonly<Record<number, string>> = Object.freeze({
  27: 'v2.10.1',
  28: 'v2.11.0',
  29: 'v2.12.0',
  30: 'v2.13.0',
  31: 'v2.14.0',
  32: 'v2.15.0',
});
const KUBE_STATE_METRICS_REPOSITORY = 'registry.k8s.io/kube-state-metrics/kube-state-metrics';
/** Name of the objects, and of the scrape job the alert rules select (`job="kube-state-metrics"`). */
export const KUBE_STATE_METRICS_NAME = 'kube-state-metrics';
// Upstream ports: the object metrics and kube-state-metrics' own telemetry.
const METRICS_PORT = 8080;
const TELEMETRY_PORT = 8081;
// Upstream examples/standard runs as nobody.
const RUN_AS_USER = 65534;
// Memory grows with the number of objects; this covers clusters of a few thousand pods (upstream sets no resources).
const RESOURCES = resources({ cpu: kplus.Cpu.millis(100), memory: Size.mebibytes(190), memoryLimit: Size.mebibytes(380) });

/**
 * The ClusterRole of upstream examples/standard/cluster-role.yaml (kube-state-metrics v2.12): list and watch of
 * every object kind it reports, and create on token and subject access reviews (it authenticates scrapes with
 * `--auth-filter`), less `secrets`: listing Secrets returns their data, which no shipshape workload may read
 * through the API, so the `secrets` collector is off (KUBE_STATE_METRICS_RESOURCES).
 */
export const KUBE_STATE_METRICS_RULES: readonly kplus.k8s.PolicyRule[] = Object.freeze(
  [
    {
      apiGroups: [''],
      resources: [
        'configmaps',
        'nodes',
        'pods',
        'services',
        'serviceaccounts',
        'resourcequotas',
        'replicationcontrollers',
        'limitranges',
        'persistentvolumeclaims',
        'persistentvolumes',
        'namespaces',
        'endpoints',
      ],
      verbs: ['list', 'watch'],
    },
    { apiGroups: ['apps'], resources: ['statefulsets', 'daemonsets', 'deployments', 'replicasets'], verbs: ['list', 'watch'] },
    { apiGroups: ['batch'], resources: ['cronjobs', 'jobs'], verbs: ['list', 'watch'] },
    { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['list', 'watch'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list', 'watch'] },
    { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    { apiGroups: ['storage.k8s.io'], resources: ['storageclasses', 'volumeattachments'], verbs: ['list', 'watch'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: ['list', 'watch'] },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingressclasses', 'ingresses'], verbs: ['list', 'watch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['list', 'watch'] },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterrolebindings', 'clusterroles', 'rolebindings', 'roles'], verbs: ['list', 'watch'] },
  ].map((rule) => Object.freeze(rule)),
);

/**
 * The collectors kube-state-metrics runs (`--resources`): its default set in every 2.x release, less `secrets`
 * (see KUBE_STATE_METRICS_RULES). The CronJob, Deployment, HPA and PodDisruptionBudget ones feed the alerts.
 */
export const KUBE_STATE_METRICS_RESOURCES: readonly string[] = Object.freeze([
  'certificatesigningrequests',
  'configmaps',
  'cronjobs',
  'daemonsets',
  'deployments',
  'endpoints',
  'horizontalpodautoscalers',
  'ingresses',
  'jobs',
  'leases',
  'limitranges',
  'mutatingwebhookconfigurations',
  'namespaces',
  'networkpolicies',
  'nodes',
  'persistentvolumeclaims',
  'persistentvolumes',
  'poddisruptionbudgets',
  'pods',
  'replicasets',
  'replicationcontrollers',
  'resourcequotas',
  'services',
  'statefulsets',
  'storageclasses',
  'validatingwebhookconfigurations',
  'volumeattachments',
]);

/** The image of the kube-state-metrics release for a Kubernetes minor, or undefined when none is listed. */
export function kubeStateMetricsImage(minor: number): string | undefined {
  const release = KUBE_STATE_METRICS_RELEASES[minor];
  return release === undefined ? undefined : `${KUBE_STATE_METRICS_REPOSITORY}:${release}`;
}

/**
 * kube-state-metrics in kube-system, as upstream's examples/standard installs it: ServiceAccount, the read-only
 * ClusterRole (without Secrets) and its binding, one replica (two would report every series twice) and a headless Service with the
 * `http-metrics` and `telemetry` ports; a ServiceMonitor (honouring the series' own `namespace` labels) when the
 * environment runs the Prometheus Operator. The workload, CronJob and Elasticsearch alerts read its metrics.
 * Clusters running kube-prometheus-stack already have one (same job name) and do not need this.
 */
export class KubeStateMetrics extends Construct {
  public readonly serviceAccount: kplus.k8s.KubeServiceAccount;
  public readonly clusterRole: kplus.k8s.KubeClusterRole;
  public readonly deployment: kplus.k8s.KubeDeployment;
  public readonly service: kplus.k8s.KubeService;
  /** The ServiceMonitor, when the environment runs the Prometheus Operator. */
  public readonly serviceMonitor?: ServiceMonitor;
  /** The scrape job name the alert rules select on. */
  public readonly job = KUBE_STATE_METRICS_NAME;
  /** The image. */
  public readonly image: string;

  constructor(scope: Construct, id: string, props: KubeStateMetricsProps = {}) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const minor = env.kubernetesMinorFor(this);
    const defaultImage = kubeStateMetricsImage(minor);
    if (props.image === undefined && defaultImage === undefined) {
      const known = Object.keys(KUBE_STATE_METRICS_RELEASES)
        .map((m) => `1.${m}`)
        .join(', ');
      throw new ShipshapeError(this, {
        problem: `no kube-state-metrics release is listed for Kubernetes 1.${minor} (known: ${known})`,
        value: env.kubernetesVersion,
        fix: `set image to the release the compatibility matrix names for 1.${minor}, e.g. "${KUBE_STATE_METRICS_REPOSITORY}:v2.15.0"`,
      });
    }
    this.image = assertPinnedImage(this, 'image', props.image ?? defaultImage, `${KUBE_STATE_METRICS_REPOSITORY}:${KUBE_STATE_METRICS_RELEASES[29]}`);

    const pullSecrets = imagePullSecretRefs(checkImagePullSecrets(this, props.imagePullSecrets ?? []));
    const name = KUBE_STATE_METRICS_NAME;
    const labels = workloadLabels(name, env, 'exporter');
    const selector = selectorLabels(name, env);
    const metadata = { name, namespace: KUBE_SYSTEM, labels };
    const rbac = 'rbac.authorization.k8s.io';

    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', { metadata });
    this.clusterRole = new kplus.k8s.KubeClusterRole(this, 'cluster-role', { metadata: { name, labels }, rules: KUBE_STATE_METRICS_RULES.map((r) => ({ ...r })) });
    new kplus.k8s.KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name, labels },
      roleRef: { apiGroup: rbac, kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: KUBE_SYSTEM }],
    });

    const port = (p: string) => kplus.k8s.IntOrString.fromString(p);
    this.service = new kplus.k8s.KubeService(this, 'service', {
      metadata,
      spec: {
        // Upstream: headless, so each scrape reaches the pod itself.
        clusterIp: 'None',
        selector,
        ports: [
          { name: 'http-metrics', port: METRICS_PORT, protocol: 'TCP', targetPort: port('http-metrics') },
          { name: 'telemetry', port: TELEMETRY_PORT, protocol: 'TCP', targetPort: port('telemetry') },
        ],
      },
    });

    this.deployment = new kplus.k8s.KubeDeployment(this, 'deployment', {
      metadata,
      spec: {
        replicas: 1,
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: true,
            imagePullSecrets: pullSecrets,
            ...(props.priorityClassName ? { priorityClassName: props.priorityClassName } : {}),
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            securityContext: { fsGroup: RUN_AS_USER, seccompProfile: RUNTIME_DEFAULT_SECCOMP },
            containers: [
              {
                name,
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                args: [`--port=${METRICS_PORT}`, `--telemetry-port=${TELEMETRY_PORT}`, `--resources=${KUBE_STATE_METRICS_RESOURCES.join(',')}`],
                ports: [
                  { name: 'http-metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
                  { name: 'telemetry', containerPort: TELEMETRY_PORT, protocol: 'TCP' },
                ],
                // Upstream's probes: /healthz on the metrics port, / on the telemetry port (both served by every 2.x).
                livenessProbe: { httpGet: { path: '/healthz', port: port('http-metrics') }, initialDelaySeconds: 5, timeoutSeconds: 5 },
                readinessProbe: { httpGet: { path: '/', port: port('telemetry') }, initialDelaySeconds: 5, timeoutSeconds: 5 },
                resources: RESOURCES,
                securityContext: restrictedContainerSecurityContext(RUN_AS_USER),
              },
            ],
          },
        },
      },
    });
    exempt(this.deployment, 'single-replica', 'kube-state-metrics reports cluster state, not traffic: a second replica would report every series twice, and a restart only delays alerts by a scrape');

    if (environmentPrometheusLabels(this) !== undefined) {
      this.serviceMonitor = new ServiceMonitor(this, 'service-monitor', {
        name,
        namespace: KUBE_SYSTEM,
        selector,
        port: 'http-metrics',
        interval: props.scrapeInterval,
        honorLabels: true,
        labels,
      });
    }
  }
}
