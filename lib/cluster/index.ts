// Internal barrel of lib/cluster, for the library's modules and tests; the public names are listed in lib/index.ts.
export * from './cluster-autoscaler';
export * from './metrics-server';
export * from './kube-state-metrics';
export * from './workload-alerts';
export * from './platform-priority-classes';
export * from './etcd-backup';
export * from './control-plane';
export * from './schedule-period';
export * from './team-access';
export * from './tenant-namespace';
export * from './argo-cd-application';
export { KUBE_SYSTEM } from './support';
