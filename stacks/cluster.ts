import { ArgoCdApplication, ClusterAutoscaler, EtcdBackup, MetricsServer, PlatformPriorityClasses, Stack, TeamAccess, TenantNamespace, isManagedControlPlane } from '../lib';
import { platformSettings } from './environments';

// The GitOps repository the synthesized dist/ is committed to, and the branch Argo CD follows.
export const GITOPS_REPOSITORY = 'https://github.com/acme/platform-deploy.git';
export const GITOPS_BRANCH = 'main';

/** What {@link addClusterOperations} adds, for wiring into other constructs. */
export interface ClusterOperations {
  readonly autoscaler: ClusterAutoscaler;
  readonly metricsServer: MetricsServer;
  readonly priorityClasses: PlatformPriorityClasses;
  /** Only on a self-managed control plane. */
  readonly etcdBackup?: EtcdBackup;
  readonly teamAccess: TeamAccess;
  /** The payments team's namespace with its guard rails. */
  readonly payments: TenantNamespace;
}

/**
 * Cluster operations of a shared cluster (an environment with `clusterOperations`): cluster-autoscaler over its node
 * groups, metrics-server (for the HPAs), platform PriorityClasses, etcd snapshots (self-managed control planes only)
 * team1's access and the payments team's namespace.
 */
export function addClusterOperations(stack: Stack): ClusterOperations {
  const env = stack.environment;
  const settings = platformSettings(env);
  const operations = settings.clusterOperations;
  if (!operations) throw new Error(`addClusterOperations: environment "${env.name}" has no clusterOperations in PLATFORM_SETTINGS`);

  const priorityClasses = new PlatformPriorityClasses(stack, 'priority-classes');
  const metricsServer = new MetricsServer(stack, 'metrics-server');
  const autoscaler = new ClusterAutoscaler(stack, 'cluster-autoscaler', {
    cloud: operations.cloud,
    // Prefer the general-purpose webapi nodes; batch nodes only when webapi cannot fit the pods.
    expander: ['priority', 'least-waste'],
    priorities: [
      { priority: 50, nodeGroups: ['webapi'] },
      { priority: 10, nodeGroups: ['batch'] },
    ],
    scaleDown: operations.scaleDown,
  });
  const controlPlane = env.controlPlane;
  if (!controlPlane) throw new Error(`addClusterOperations: environment "${env.name}" does not state its controlPlane`);
  const backup = operations.etcdBackup;
  if (!isManagedControlPlane(controlPlane.kind) && !backup) throw new Error(`addClusterOperations: the ${controlPlane.kind} control plane of "${env.name}" has no etcd backup configured`);
  // The alerts go out as a PrometheusRule where the environment's monitoring says the operator runs.
  const etcdBackup = isManagedControlPlane(controlPlane.kind)
    ? undefined
    : new EtcdBackup(stack, 'etcd-backup', {
        ...backup,
        priorityClassName: priorityClasses.names.critical,
      });
  // developer1 in team1 (docs/practice.md#team-access).
  const teamAccess = new TeamAccess(stack, 'team1-access', {
    namespace: 'team1',
    serviceAccounts: ['developer1'],
    preset: operations.teamAccess,
  });
  // The payments team shares the cluster: quota, container defaults, default deny (docs/practice.md#tenant-namespaces).
  const payments = new TenantNamespace(stack, 'payments', {
    name: 'payments',
    quota: operations.paymentsQuota,
    // Its web services are reached through the ingress controller only.
    allow: [{ name: 'from-ingress', direction: 'ingress', peer: { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } }, ports: [{ port: 8080 }] }],
  });
  return { autoscaler, metricsServer, priorityClasses, etcdBackup, teamAccess, payments };
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
  return stacks.map(
    (stack) =>
      new ArgoCdApplication(stack, 'argocd-application', {
        repoURL: options.repoURL ?? GITOPS_REPOSITORY,
        targetRevision: options.targetRevision ?? GITOPS_BRANCH,
      }),
  );
}
