export * from './cluster-autoscaler';
export * from './metrics-server';
export * from './platform-priority-classes';
export * from './etcd-backup';
export * from './control-plane';
export * from './schedule-period';
export * from './team-access';
export * from './argo-cd-application';
export { KUBE_SYSTEM } from './support';
