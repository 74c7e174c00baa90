import * as kplus from 'cdk8s-plus-27';

// The restricted Pod Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted):
// one definition of what every container and pod shipshape writes gets, so a construct cannot drift from the
// others. The `pod-security` policy rule checks the parts that matter most on every object.

/** The runtime's default seccomp profile, which the restricted profile requires on the pod or every container. */
export const RUNTIME_DEFAULT_SECCOMP: kplus.k8s.SeccompProfile = Object.freeze({ type: 'RuntimeDefault' });

/**
 * The container hardening that holds even for a container that must run as root (a log collector reading
 * root-owned files, an etcd snapshot with the host's certificates): no privilege escalation, not privileged,
 * a read-only root filesystem and every capability dropped.
 */
export function hardenedContainerSecurityContext(): kplus.k8s.SecurityContext {
  return { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
}

/** Options of {@link restrictedContainerSecurityContext}. */
export interface RestrictedContainerOptions {
  /**
   * Read-only root filesystem; turn off only for images that write under their own tree and cannot be given
   * an emptyDir there.
   * @default true
   */
  readonly readOnlyRootFilesystem?: boolean;
  /**
   * Set the runtime's default seccomp profile on the container (needed when the pod does not set it).
   * @default true
   */
  readonly seccomp?: boolean;
}

/**
 * The restricted-profile container securityContext for a fixed non-root user (user and group `runAsUser`): the
 * {@link hardenedContainerSecurityContext} plus non-root and, by default, the runtime's seccomp profile.
 */
export function restrictedContainerSecurityContext(runAsUser: number, options: RestrictedContainerOptions = {}): kplus.k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup: runAsUser,
    ...hardenedContainerSecurityContext(),
    readOnlyRootFilesystem: options.readOnlyRootFilesystem ?? true,
    ...((options.seccomp ?? true) ? { seccompProfile: RUNTIME_DEFAULT_SECCOMP } : {}),
  };
}

/** Options of {@link restrictedPodSecurityContext}. */
export interface RestrictedPodOptions {
  /**
   * User every container runs as (also sets runAsNonRoot).
   * @default - the image's user; runAsNonRoot is then left to the containers
   */
  readonly runAsUser?: number;
  /**
   * Primary group of every container.
   * @default - the image's group
   */
  readonly runAsGroup?: number;
  /**
   * Group that owns mounted volumes, so a non-root user can write its data directory. Ownership is changed only
   * when the volume's root does not match (`OnRootMismatch`), which keeps the start of a pod with a large
   * volume fast.
   * @default - volumes keep their ownership
   */
  readonly fsGroup?: number;
}

/** The restricted-profile pod securityContext: the runtime's seccomp profile and, when given, a fixed non-root user. */
export function restrictedPodSecurityContext(options: RestrictedPodOptions = {}): kplus.k8s.PodSecurityContext {
  return {
    ...(options.runAsUser !== undefined ? { runAsNonRoot: true, runAsUser: options.runAsUser } : {}),
    ...(options.runAsGroup !== undefined ? { runAsGroup: options.runAsGroup } : {}),
    ...(options.fsGroup !== undefined ? { fsGroup: options.fsGroup, fsGroupChangePolicy: 'OnRootMismatch' } : {}),
    seccompProfile: RUNTIME_DEFAULT_SECCOMP,
  };
}

/**
 * A cdk8s-plus container with the restricted hardening on top of cdk8s-plus' non-root, read-only defaults; the
 * container's own securityContext fields win.
 */
export function withRestrictedSecurityContext(container: kplus.ContainerProps): kplus.ContainerProps {
  const hardened = hardenedContainerSecurityContext();
  return {
    ...container,
    securityContext: {
      ensureNonRoot: true,
      allowPrivilegeEscalation: hardened.allowPrivilegeEscalation,
      privileged: hardened.privileged,
      readOnlyRootFilesystem: hardened.readOnlyRootFilesystem,
      // cdk8s-plus-27's Capability enum has no ALL, which the container runtime accepts and the restricted profile asks for.
      capabilities: { drop: hardened.capabilities!.drop as kplus.Capability[] },
      ...container.securityContext,
    },
  };
}
