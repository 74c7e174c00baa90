import { ControlPlaneKind, Environment, MANAGED_CONTROL_PLANES } from '../core/environment';
import { ErrorScope, ShipshapeError } from '../core/errors';

/**
 * The etcd image tag kubeadm installs for each Kubernetes minor (kubeadm's constants.SupportedEtcdVersion, as of
 * v1.27.16, v1.28.15, v1.29.10, v1.30.6, v1.31.2, v1.32.0, v1.33.0 and v1.34.0). Patch releases of Kubernetes
 * move the etcd patch, never its minor, and the minor is what decides the tools (etcdutl from 3.5).
 */
export const KUBEADM_ETCD_VERSIONS: Readonly<Record<number, string>> = Object.freeze({
  27: '3.5.12-0',
  28: '3.5.15-0',
  29: '3.5.15-0',
  30: '3.5.15-0',
  31: '3.5.15-0',
  32: '3.5.16-0',
  33: '3.5.21-0',
  34: '3.6.4-0',
});

/** Whether the provider runs etcd (EKS, GKE, AKS): nothing in the cluster can snapshot it. */
export function isManagedControlPlane(kind: ControlPlaneKind): boolean {
  return MANAGED_CONTROL_PLANES.includes(kind);
}

/**
 * The etcd image tag (`3.5.15-0`) kubeadm installs for a Kubernetes minor; for a minor outside the table the
 * nearest one, as kubeadm itself does.
 */
export function kubeadmEtcdTag(kubernetesMinor: number): string {
  const minors = Object.keys(KUBEADM_ETCD_VERSIONS).map(Number);
  const nearest = Math.min(Math.max(kubernetesMinor, Math.min(...minors)), Math.max(...minors));
  return KUBEADM_ETCD_VERSIONS[nearest];
}

/** An etcd version, `3.<minor>` or `3.<minor>.<patch>`, optionally with an image revision (`3.5.15-0`). */
export interface EtcdVersion {
  readonly text: string;
  readonly minor: number;
}

const ETCD_VERSION = /^v?3\.(\d+)(\.\d+)?(-\d+)?$/;

/** Parses an etcd version, or returns undefined. */
export function parseEtcdVersion(text: unknown): EtcdVersion | undefined {
  const m = typeof text === 'string' ? ETCD_VERSION.exec(text) : null;
  return m ? { text: (text as string).replace(/^v/, '').replace(/-\d+$/, ''), minor: Number(m[1]) } : undefined;
}

/**
 * Refuses an IRSA role (`eks.amazonaws.com/role-arn` on a ServiceAccount) where the environment's control plane
 * is stated and is not EKS: only EKS runs the webhook that turns the annotation into credentials, so elsewhere
 * the pod silently runs without the role.
 */
export function assertIrsaAllowed(scope: ErrorScope, field: string, environment: Environment, value: string): void {
  const kind = environment.controlPlane?.kind;
  if (kind === undefined || kind === 'eks') return;
  throw new ShipshapeError(scope, {
    problem: `${field} asks for an IRSA role (eks.amazonaws.com/role-arn), but environment "${environment.name}" runs a ${kind} control plane: only EKS turns that annotation into credentials, so the pod would run without the role`,
    value,
    fix: "drop the role and give credentials another way: a Secret by name, or the nodes' own identity (instance profile, workload identity of the cloud)",
  });
}
