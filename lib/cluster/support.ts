/** Namespace of the cluster add-ons (autoscaler, metrics-server, etcd backup), as upstream installs them. */
export const KUBE_SYSTEM = 'kube-system';

/** Whether a string is a non-empty value safe to put into a comma/colon separated command-line flag. */
export function isFlagSafe(value: string): boolean {
  return typeof value === 'string' && /^[A-Za-z0-9._\-/]+$/.test(value);
}
