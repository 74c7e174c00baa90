import { Environment } from './environment';

/** Well-known label keys (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */
export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  environment: 'shipshape.io/environment',
} as const;

/** Value of `app.kubernetes.io/managed-by` on every object shipshape writes. */
export const MANAGED_BY = 'shipshape';

/**
 * Labels that select one workload's pods. Stable by construction: they are
 * derived from the object name and the environment, never from a construct path.
 */
export function selectorLabels(name: string, environment: Environment): Record<string, string> {
  return { [LABELS.name]: name, [LABELS.instance]: environment.name };
}

/**
 * Every label a workload's objects and pods carry: the selector labels, the component when given, managed-by and
 * the environment. Cluster add-ons (autoscaler, metrics-server, etcd backup) use it with their component.
 */
export function workloadLabels(name: string, environment: Environment, component?: string): Record<string, string> {
  return {
    ...selectorLabels(name, environment),
    ...(component ? { [LABELS.component]: component } : {}),
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.environment]: environment.name,
  };
}
