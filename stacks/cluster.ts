import { Duration } from 'cdk8s';
import { Stack } from '../lib';
import {
  ArgoCdApplication,
  AutoscalerCloud,
  ClusterAutoscaler,
  EtcdBackup,
  EtcdBackupProps,
  MetricsServer,
  PlatformPriorityClasses,
  TeamAccess,
  isManagedControlPlane,
} from '../lib/cluster';
import { ALERTS } from './logging';

// The GitOps repository the synthesized dist/ is committed to, and the branch Argo CD follows.
export const GITOPS_REPOSITORY = 'https://github.com/acme/platform-deploy.git';
export const GITOPS_BRANCH = 'main';

/**
 * The cloud each environment's node groups live in. Stage is a Cluster API (kubeadm) workload cluster whose
 * Cluster and MachineDeployments live in a separate management cluster, reached with the kubeconfig in the
 * kube-system Secret `capi-management-kubeconfig` (created by the operator, never in Git); prod runs on AWS Auto
 * Scaling groups.
 */
const CLOUDS: Record<string, AutoscalerCloud> = {
  stage: { provider: 'clusterapi', clusterName: 'acme-stage', namespace: 'clusters', managementCluster: { kubeconfigSecret: 'capi-management-kubeconfig' } },
  prod: { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::111122223333:role/acme-prod-cluster-autoscaler' },
};

/**
 * etcd backups of the self-managed control planes. Stage's three Cluster API control-plane nodes upload every
 * snapshot to S3 in the cluster's region (a snapshot kept only on the node that took it is lost with that node),
 * with keys from the kube-system Secret `etcd-backup-s3` (created by the operator, never in Git): CAPA's
 * control-plane instance profile grants no S3 access. Prod is EKS: AWS operates its etcd and gives no access to
 * it, so prod has no EtcdBackup; its objects are rebuilt from this repository.
 */
const ETCD_BACKUPS: Record<string, EtcdBackupProps> = {
  stage: { keep: 12, upload: { destination: 's3://acme-etcd-backups/stage', region: 'eu-west-1', credentialsSecret: 'etcd-backup-s3' } },
};

/** What {@link addClusterOperations} adds, for wiring into other constructs. */
export interface ClusterOperations {
  readonly autoscaler: ClusterAutoscaler;
  readonly metricsServer: MetricsServer;
  readonly priorityClasses: PlatformPriorityClasses;
  /** Only on a self-managed control plane. */
  readonly etcdBackup?: EtcdBackup;
  readonly teamAccess: TeamAccess;
}

/**
 * Cluster operations of a stage or prod stack: cluster-autoscaler over the environment's node groups,
 * metrics-server (for the HPAs), platform PriorityClasses, etcd snapshots (self-managed control planes only) and
 * team1's access.
 */
export function addClusterOperations(stack: Stack): ClusterOperations {
  const env = stack.environment;
  const cloud = CLOUDS[env.name];
  if (!cloud) throw new Error(`addClusterOperations: no cloud is configured for environment "${env.name}"; known: ${Object.keys(CLOUDS).join(', ')}`);
  const prod = env.name === 'prod';

  const priorityClasses = new PlatformPriorityClasses(stack, 'priority-classes');
  const metricsServer = new MetricsServer(stack, 'metrics-server');
  const autoscaler = new ClusterAutoscaler(stack, 'cluster-autoscaler', {
    cloud,
    // Prefer the general-purpose webapi nodes; batch nodes only when webapi cannot fit the pods.
    expander: ['priority', 'least-waste'],
    priorities: [
      { priority: 50, nodeGroups: ['webapi'] },
      { priority: 10, nodeGroups: ['batch'] },
    ],
    // Prod removes nodes more cautiously: a flapping scale-down costs more there than an idle node.
    scaleDown: prod ? { unneededTime: Duration.minutes(20), delayAfterAdd: Duration.minutes(15) } : {},
  });
  const controlPlane = env.controlPlane;
  if (!controlPlane) throw new Error(`addClusterOperations: environment "${env.name}" does not state its controlPlane`);
  const backup = ETCD_BACKUPS[env.name];
  if (!isManagedControlPlane(controlPlane.kind) && !backup) throw new Error(`addClusterOperations: the ${controlPlane.kind} control plane of "${env.name}" has no etcd backup configured`);
  const alerts = ALERTS[env.name];
  const etcdBackup = isManagedControlPlane(controlPlane.kind) ? undefined : new EtcdBackup(stack, 'etcd-backup', {
    ...backup,
    priorityClassName: priorityClasses.names.critical,
    alerts: { prometheusOperator: alerts?.prometheusOperator, prometheusLabels: alerts?.prometheusLabels },
  });
  // developer1 in team1: deploys in stage, reads in prod (docs/practice.md#team-access).
  const teamAccess = new TeamAccess(stack, 'team1-access', {
    namespace: 'team1',
    serviceAccounts: ['developer1'],
    preset: prod ? 'read-only' : 'deployer',
  });
  return { autoscaler, metricsServer, priorityClasses, etcdBackup, teamAccess };
}

/** Options of {@link addArgoCdApplications}. */
export interface ArgoCdOptions {
  /**
   * Repository Argo CD reads.
   * @default GITOPS_REPOSITORY
   */
  readonly repoURL?: string;
  /**
   * Branch Argo CD follows.
   * @default GITOPS_BRANCH
   */
  readonly targetRevision?: string;
}

/**
 * An Argo CD Application and AppProject for every stack, written to dist/argocd/<env>.yaml; each targets its
 * environment's cluster and syncs as its `delivery.sync` says.
 */
export function addArgoCdApplications(stacks: readonly Stack[], options: ArgoCdOptions = {}): ArgoCdApplication[] {
  return stacks.map((stack) => new ArgoCdApplication(stack, 'argocd-application', {
    repoURL: options.repoURL ?? GITOPS_REPOSITORY,
    targetRevision: options.targetRevision ?? GITOPS_BRANCH,
  }));
}
