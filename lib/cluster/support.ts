import * as kplus from 'cdk8s-plus-27';
import { Environment } from '../core/environment';
import { LABELS, MANAGED_BY } from '../core/labels';

/** Namespace of the cluster add-ons (autoscaler, metrics-server, etcd backup), as upstream installs them. */
export const KUBE_SYSTEM = 'kube-system';

/** Labels of a cluster add-on's objects: selector labels plus component, managed-by and environment. */
export function addonLabels(name: string, environment: Environment, component: string): Record<string, string> {
  return {
    [LABELS.name]: name,
    [LABELS.instance]: environment.name,
    [LABELS.component]: component,
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.environment]: environment.name,
  };
}

/** Labels that select an add-on's pods (stable: name and environment only). */
export function addonSelector(name: string, environment: Environment): Record<string, string> {
  return { [LABELS.name]: name, [LABELS.instance]: environment.name };
}

/** The restricted-profile container securityContext every add-on container gets unless it must run as root. */
export function restrictedContainerSecurityContext(runAsUser: number): kplus.k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup: runAsUser,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container resources as L1 quantities. */
export function resources(cpuRequest: string, memoryRequest: string, memoryLimit: string): kplus.k8s.ResourceRequirements {
  return {
    requests: { cpu: kplus.k8s.Quantity.fromString(cpuRequest), memory: kplus.k8s.Quantity.fromString(memoryRequest) },
    limits: { memory: kplus.k8s.Quantity.fromString(memoryLimit) },
  };
}

/** Whether a string is a non-empty value safe to put into a comma/colon separated command-line flag. */
export function isFlagSafe(value: string): boolean {
  return typeof value === 'string' && /^[A-Za-z0-9._\-/]+$/.test(value);
}
