import { Duration } from 'cdk8s';
import { Stack } from '../lib';
import {
  ArgoCdApplication,
  AutoscalerCloud,
  ClusterAutoscaler,
  EtcdBackup,
  MetricsServer,
  PlatformPriorityClasses,
  TeamAccess,
} from '../lib/cluster';

// The GitOps repository the synthesized dist/ is committed to, and the branch Argo CD follows.
export const GITOPS_REPOSITORY = 'https://github.com/acme/platform-deploy.git';
export const GITOPS_BRANCH = 'main';

/** The cloud each environment's node groups live in. Stage is a Cluster API (kubeadm) cluster, prod runs on AWS Auto Scaling groups. */
const CLOUDS: Record<string, AutoscalerCloud> = {
  stage: { provider: 'clusterapi', clusterName: 'acme-stage', namespace: 'clusters' },
  prod: { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::111122223333:role/acme-prod-cluster-autoscaler' },
};

/** What {@link addClusterOperations} adds, for wiring into other constructs. */
export interface ClusterOperations {
  readonly autoscaler: ClusterAutoscaler;
  readonly metricsServer: MetricsServer;
  readonly priorityClasses: PlatformPriorityClasses;
  readonly etcdBackup: EtcdBackup;
  readonly teamAccess: TeamAccess;
}

/**
 * Cluster operations of a stage or prod stack: cluster-autoscaler over the environment's node groups,
 * metrics-server (for the HPAs), platform PriorityClasses, etcd snapshots and team1's access.
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
  const etcdBackup = new EtcdBackup(stack, 'etcd-backup', {
    priorityClassName: priorityClasses.names.critical,
    keep: prod ? 28 : 12,
    ...(prod ? { upload: { destination: 's3://acme-etcd-backups/prod', roleArn: 'arn:aws:iam::111122223333:role/acme-prod-etcd-backup' } } : {}),
  });
  // The notes' developer1 in team1: deploys in stage, reads in prod.
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

/** An Argo CD Application and AppProject for every stack, written to dist/argocd/<env>.yaml (automatic sync except prod). */
export function addArgoCdApplications(stacks: readonly Stack[], options: ArgoCdOptions = {}): ArgoCdApplication[] {
  return stacks.map((stack) => new ArgoCdApplication(stack, 'argocd-application', {
    repoURL: options.repoURL ?? GITOPS_REPOSITORY,
    targetRevision: options.targetRevision ?? GITOPS_BRANCH,
  }));
}
