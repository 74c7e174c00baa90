import { Duration, Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-27';
import { AccessPreset, AutoscalerCloud, EfkLoggingProps, Environment, EnvironmentProps, EtcdBackupProps, FluentdAlertsProps, ScaleDownSettings, TenantQuota } from '../lib';

// Node groups follow the `instancegroup=webapi|batch` split (docs/practice.md#node-groups): web/API pods and CPU-heavy
// batch pods never share nodes.
const batchTaint = { key: 'instancegroup', value: 'batch', effect: 'NoSchedule' as const };

// The collector image with both the Elasticsearch and the S3 plugins; built from the Dockerfile synth writes to
// dist/prod/images/fluentd/Dockerfile (no upstream fluentd-kubernetes-daemonset variant has both).
const FLUENTD_ARCHIVE_IMAGE = 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0';

// Where kube-prometheus-stack runs: its Helm release is called kube-prometheus-stack, which its rule and
// ServiceMonitor selectors match; every ServiceMonitor and PrometheusRule of the environment carries the label.
const KUBE_PROMETHEUS_STACK = { prometheusOperator: true, prometheusLabels: { release: 'kube-prometheus-stack' } };

/**
 * Names of the reference platform's Kubernetes environments. A new environment is a new name here plus its entry in
 * {@link PLATFORM_SETTINGS}; the compiler refuses either without the other.
 */
export type PlatformEnvironmentName = 'dev' | 'stage' | 'prod';

/** Cluster operations of a shared cluster, added by `addClusterOperations` (stacks/cluster.ts). */
export interface ClusterOperationsSettings {
  /** The cloud the environment's node groups live in, for cluster-autoscaler. */
  readonly cloud: AutoscalerCloud;
  /** When cluster-autoscaler removes nodes; `{}` takes its defaults. */
  readonly scaleDown: ScaleDownSettings;
  /**
   * etcd snapshots of a self-managed control plane; `undefined` for a managed one (EKS, GKE, AKS), whose etcd is out
   * of the cluster's reach. `addClusterOperations` refuses a self-managed control plane without one.
   */
  readonly etcdBackup: EtcdBackupProps | undefined;
  /** What developer1 of team1 may do in the team1 namespace (docs/practice.md#team-access). */
  readonly teamAccess: AccessPreset;
  /** What the payments team's namespace may use on the shared cluster (docs/practice.md#tenant-namespaces). */
  readonly paymentsQuota: TenantQuota;
}

/** Everything the reference platform decides per environment. */
export interface PlatformSettings {
  /** The environment itself; its name is the key of its entry. */
  readonly environment: Omit<EnvironmentProps, 'name'>;
  /**
   * Autoscaler, metrics-server, priority classes, etcd backups and team access; `undefined` for an environment with
   * a cluster of its own that needs none of them (dev).
   */
  readonly clusterOperations: ClusterOperationsSettings | undefined;
  /** Thresholds of the collector alerts; whether they also go out as PrometheusRules follows the environment's `monitoring`. */
  readonly alerts: Omit<FluentdAlertsProps, 'collector'>;
  /** Sizing, retention and archiving of the logging stack (Elasticsearch, Kibana, Fluentd). */
  readonly logging: Omit<EfkLoggingProps, 'alerts' | 'priorityClassName'>;
  /** Settings of the platform's own applications. */
  readonly applications: {
    /** LOG_LEVEL of web-api and report-worker. */
    readonly logLevel: 'debug' | 'info';
    /** Replicas of report-worker, which does not autoscale. */
    readonly workerReplicas: number;
    /**
     * web-api's public host behind ingress-nginx, with a cert-manager certificate and, while a release is being
     * tried, the canary's share of the requests; `undefined` keeps web-api in-cluster.
     */
    readonly webApiIngress?: { readonly host: string; readonly clusterIssuer: string; readonly canaryWeight?: number };
  };
}

/**
 * The reference platform's environments, each on its own cluster (registered in Argo CD under these API server
 * URLs): dev and stage apply every merged change, prod waits for someone to sync it.
 */
export const PLATFORM_SETTINGS = {
  dev: {
    environment: {
      kubernetesVersion: '1.29',
      cluster: { server: 'https://api.dev.k8s.acme.internal:6443' },
      delivery: { sync: 'automated' },
      replicas: 1,
      nodeGroups: [
        { name: 'webapi', minSize: 1, maxSize: 3, instanceType: 't3.large' },
        { name: 'batch', minSize: 0, maxSize: 2, instanceType: 'c6i.large', taints: [batchTaint] },
      ],
    },
    // A cluster of its own, scaled by hand: no shared-cluster operations.
    clusterOperations: undefined,
    // No Prometheus Operator in dev: the plain rules files only.
    alerts: {},
    // One node at Elasticsearch 8's floor (Elastic's 1g heap in 2 GiB), three days searchable.
    logging: { retentionDays: 3, elasticsearch: { replicas: 1, storage: { size: Size.gibibytes(10) } } },
    applications: { logLevel: 'debug', workerReplicas: 1 },
  },
  stage: {
    environment: {
      kubernetesVersion: '1.29',
      // A Cluster API workload cluster whose KubeadmControlPlane runs three control-plane nodes (stacked etcd).
      cluster: { server: 'https://api.stage.k8s.acme.internal:6443' },
      controlPlane: { kind: 'cluster-api', nodes: 3 },
      delivery: { sync: 'automated' },
      monitoring: KUBE_PROMETHEUS_STACK,
      zones: ['eu-west-1a', 'eu-west-1b'],
      replicas: 2,
      nodeGroups: [
        { name: 'webapi', minSize: 2, maxSize: 6, instanceType: 'm6i.large' },
        { name: 'batch', minSize: 0, maxSize: 4, instanceType: 'c6i.xlarge', taints: [batchTaint] },
      ],
    },
    clusterOperations: {
      // The Cluster and MachineDeployments live in a separate management cluster, reached with the kubeconfig in the
      // kube-system Secret `capi-management-kubeconfig` (created by the operator, never in Git).
      cloud: { provider: 'clusterapi', clusterName: 'acme-stage', namespace: 'clusters', managementCluster: { kubeconfigSecret: 'capi-management-kubeconfig' } },
      scaleDown: {},
      // The three control-plane nodes upload every snapshot to S3 in the cluster's region (a snapshot kept only on the
      // node that took it is lost with that node), with keys from the kube-system Secret `etcd-backup-s3` (created by
      // the operator, never in Git): CAPA's control-plane instance profile grants no S3 access.
      etcdBackup: { keep: 12, upload: { destination: 's3://acme-etcd-backups/stage', region: 'eu-west-1', credentialsSecret: 'etcd-backup-s3' } },
      // developer1 deploys in stage.
      teamAccess: 'deployer',
      // Room for one copy of each payments service and its tests.
      paymentsQuota: { requests: { cpu: Cpu.units(2), memory: Size.gibibytes(4) }, pods: 20, services: 5, persistentVolumeClaims: 2 },
    },
    alerts: {},
    // One node at Elastic's default size (1g heap, 2 GiB), a week searchable.
    logging: { retentionDays: 7, elasticsearch: { replicas: 1, storage: { size: Size.gibibytes(30) } } },
    applications: { logLevel: 'debug', workerReplicas: 2 },
  },
  prod: {
    environment: {
      kubernetesVersion: '1.29',
      // EKS; the approval step is a manual sync.
      cluster: { server: 'https://4F1C2A7E9B3D5A6C8E0F1A2B3C4D5E6F.gr7.eu-west-1.eks.amazonaws.com' },
      controlPlane: { kind: 'eks' },
      delivery: { sync: 'manual' },
      monitoring: KUBE_PROMETHEUS_STACK,
      zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
      replicas: 3,
      // The cluster-autoscaler range is 3-10 nodes; pods scale inside it (docs/practice.md#autoscaling).
      autoscaling: { minReplicas: 3, maxReplicas: 10 },
      nodeGroups: [
        // Auto Scaling group names, as the cluster-autoscaler's --nodes flags need them.
        { name: 'webapi', minSize: 3, maxSize: 10, instanceType: 'm6i.xlarge', cloudGroupName: 'acme-prod-webapi' },
        { name: 'batch', minSize: 1, maxSize: 6, instanceType: 'c6i.2xlarge', taints: [batchTaint], cloudGroupName: 'acme-prod-batch' },
      ],
    },
    clusterOperations: {
      cloud: { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::111122223333:role/acme-prod-cluster-autoscaler' },
      // Nodes leave more cautiously: a flapping scale-down costs more here than an idle node.
      scaleDown: { unneededTime: Duration.minutes(20), delayAfterAdd: Duration.minutes(15) },
      // EKS: AWS operates etcd and gives no access to it; the objects are rebuilt from the GitOps repository.
      etcdBackup: undefined,
      // developer1 reads in prod.
      teamAccess: 'read-only',
      // Three replicas of each payments service, with headroom for a rolling update.
      paymentsQuota: { requests: { cpu: Cpu.units(8), memory: Size.gibibytes(16) }, pods: 60, services: 10, persistentVolumeClaims: 5 },
    },
    alerts: {},
    // A 3-node cluster with a two-week hot window, and every log line archived to S3 for a year.
    logging: {
      retentionDays: 14,
      elasticsearch: { replicas: 3, heap: '2g', memory: Size.gibibytes(4), cpu: Cpu.millis(1000), storage: { size: Size.gibibytes(200) } },
      kibana: { replicas: 2 },
      fluentd: { image: FLUENTD_ARCHIVE_IMAGE, memory: Size.mebibytes(512) },
      archive: { bucket: 'acme-platform-logs-prod', region: 'eu-west-1', retentionDays: 365 },
    },
    // web-api is public in prod; the next release takes 10 % of its requests as a canary.
    applications: { logLevel: 'info', workerReplicas: 2, webApiIngress: { host: 'api.acme.example', clusterIssuer: 'letsencrypt-prod', canaryWeight: 10 } },
  },
} satisfies Readonly<Record<PlatformEnvironmentName, PlatformSettings>>;

/** The environment names in table order (dev, stage, prod). */
const NAMES = Object.keys(PLATFORM_SETTINGS) as PlatformEnvironmentName[];

/** The reference platform's environments, in {@link PLATFORM_SETTINGS} order. */
export const environments: readonly Environment[] = NAMES.map((name) => new Environment({ name, ...PLATFORM_SETTINGS[name].environment }));

function isPlatformEnvironmentName(name: string): name is PlatformEnvironmentName {
  return Object.prototype.hasOwnProperty.call(PLATFORM_SETTINGS, name);
}

/** The environment called `name`; throws listing the known ones. */
export function environmentNamed(name: string): Environment {
  const found = environments.find((e) => e.name === name);
  if (!found) throw new Error(`unknown environment "${name}"; known: ${NAMES.join(', ')}`);
  return found;
}

/**
 * The platform settings of an environment built from {@link PLATFORM_SETTINGS} (or a copy of one under the same
 * name); throws for any other, instead of giving it another environment's sizing.
 */
export function platformSettings(environment: Environment): PlatformSettings {
  if (!isPlatformEnvironmentName(environment.name)) {
    throw new Error(`environment "${environment.name}" has no entry in PLATFORM_SETTINGS (stacks/environments.ts); known: ${NAMES.join(', ')}`);
  }
  return PLATFORM_SETTINGS[environment.name];
}
