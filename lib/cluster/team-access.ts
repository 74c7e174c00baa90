import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { Stack } from '../core/stack';
import { LABEL_VALUE_MAX } from '../core/validate';
import { TenantNamespace } from './tenant-namespace';

/** Verbs a Role may grant (no `*`: a wildcard also grants verbs added later). */
export type RbacVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** API group of every resource a team Role can name; the Role's `apiGroups` come from here, never from a string. */
export const RESOURCE_API_GROUPS = {
  pods: '',
  'pods/log': '',
  'pods/exec': '',
  'pods/portforward': '',
  services: '',
  endpoints: '',
  configmaps: '',
  secrets: '',
  persistentvolumeclaims: '',
  serviceaccounts: '',
  events: '',
  deployments: 'apps',
  'deployments/scale': 'apps',
  replicasets: 'apps',
  statefulsets: 'apps',
  'statefulsets/scale': 'apps',
  daemonsets: 'apps',
  jobs: 'batch',
  cronjobs: 'batch',
  horizontalpodautoscalers: 'autoscaling',
  poddisruptionbudgets: 'policy',
  ingresses: 'networking.k8s.io',
  networkpolicies: 'networking.k8s.io',
  'events.k8s.io/events': 'events.k8s.io',
} as const;

/** A resource a team Role can name. */
export type RbacResource = keyof typeof RESOURCE_API_GROUPS;

/** One permission: these verbs on these resources. */
export interface AccessRule {
  /** Resources (their API groups are derived). */
  readonly resources: RbacResource[];
  /** Verbs. */
  readonly verbs: RbacVerb[];
}

/** Ready-made permission sets. */
export type AccessPreset = 'read-only' | 'operator' | 'deployer';

const READ: RbacVerb[] = ['get', 'list', 'watch'];
const WORKLOADS: RbacResource[] = ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'horizontalpodautoscalers', 'poddisruptionbudgets'];
const NETWORK: RbacResource[] = ['services', 'endpoints', 'ingresses'];

/**
 * Resources whose create or update defines what a pod runs: whoever may write one can start a pod that mounts
 * any Secret of the namespace (or takes it as an environment variable) and print it, and can run that pod as
 * any ServiceAccount of the namespace. `pods/exec`, `pods/attach` and `pods/portforward` reach running pods
 * and the Secrets already mounted in them.
 */
export const POD_DEFINING_RESOURCES: readonly RbacResource[] = Object.freeze(['pods', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs'] as RbacResource[]);

/**
 * The presets.
 * - `read-only` sees workloads, their logs and events but not Secrets (reading a Secret is reading its value).
 * - `operator` also scales Deployments and StatefulSets, changes HPAs and restarts pods (by deleting them; the
 *   owner recreates them). It cannot read a Secret through the API: no Secret verbs, no create or update on
 *   anything that defines a pod ({@link POD_DEFINING_RESOURCES}), no exec, attach or port-forward, no
 *   ServiceAccount tokens. What it still sees: pod logs (an application that logs a secret leaks it there) and
 *   Secret names referenced in pod specs.
 * - `deployer` also creates and changes workloads, configuration and exposure, and writes Secrets. It cannot
 *   `get` a Secret, but that is no protection: a role that can create Deployments (or Jobs, or pods) can mount
 *   and read every Secret in the namespace, and run pods as any ServiceAccount there. Treat `deployer` as able
 *   to read the namespace's Secrets; use `operator` where that is not acceptable.
 */
export const ACCESS_PRESETS: Readonly<Record<AccessPreset, readonly AccessRule[]>> = Object.freeze({
  'read-only': [{ resources: ['pods', 'pods/log', 'configmaps', 'events', 'persistentvolumeclaims', 'serviceaccounts', ...WORKLOADS, ...NETWORK], verbs: READ }],
  operator: [
    { resources: ['pods', 'pods/log', 'configmaps', 'events', 'persistentvolumeclaims', 'serviceaccounts', ...WORKLOADS, ...NETWORK], verbs: READ },
    { resources: ['deployments/scale', 'statefulsets/scale'], verbs: ['get', 'update', 'patch'] },
    { resources: ['horizontalpodautoscalers'], verbs: ['update', 'patch'] },
    { resources: ['pods'], verbs: ['delete'] },
  ],
  deployer: [
    { resources: ['pods', 'pods/log', 'configmaps', 'events', 'persistentvolumeclaims', 'serviceaccounts', ...WORKLOADS, ...NETWORK], verbs: READ },
    {
      resources: ['deployments', 'statefulsets', 'jobs', 'cronjobs', 'horizontalpodautoscalers', 'poddisruptionbudgets', 'configmaps', 'services', 'ingresses'],
      verbs: ['create', 'update', 'patch', 'delete'],
    },
    { resources: ['deployments/scale', 'statefulsets/scale'], verbs: ['get', 'update', 'patch'] },
    { resources: ['pods'], verbs: ['delete'] },
    { resources: ['secrets'], verbs: ['create', 'update', 'patch', 'delete'] },
  ],
});

/** A person or group (from the cluster's authenticator) who gets the team's Role besides the ServiceAccounts. */
export interface AccessSubject {
  readonly kind: 'User' | 'Group';
  readonly name: string;
}

/** Cluster-wide administrator rights, granted only with a reason that is written to the synth summary. */
export interface ClusterAdminGrant {
  /** Why this team needs to be cluster-admin; shown in the synth summary as an exemption. */
  readonly reason: string;
}

/** Properties of a {@link TeamAccess}. */
export interface TeamAccessProps {
  /**
   * The team's namespace: a name (the Namespace is created by this construct, restricted Pod Security), or a
   * {@link TenantNamespace} of the same stack, whose Namespace, quota, defaults and network policies then apply.
   */
  readonly namespace: string | TenantNamespace;
  /** ServiceAccounts created in the namespace, one per member or pipeline (e.g. `developer1`, docs/practice.md#team-access). */
  readonly serviceAccounts: string[];
  /**
   * Users and groups bound to the same Role.
   * @default []
   */
  readonly subjects?: AccessSubject[];
  /**
   * A preset, extended by `rules`. Any grant to create or update a pod-defining resource
   * ({@link POD_DEFINING_RESOURCES}), `deployer` included, lets the holder read every Secret in the namespace
   * by mounting it; `operator` and `read-only` cannot.
   * @default - none (then `rules` must be given)
   */
  readonly preset?: AccessPreset;
  /**
   * Additional permissions.
   * @default []
   */
  readonly rules?: AccessRule[];
  /**
   * Name of the Role and RoleBinding.
   * @default '<namespace>-<preset or "custom">'
   */
  readonly roleName?: string;
  /**
   * Bind the subjects to `cluster-admin` across the cluster. Off unless given, and reported in the synth summary.
   * @default - no cluster-wide rights
   */
  readonly clusterAdmin?: ClusterAdminGrant;
}

const ALL_VERBS: readonly RbacVerb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

/**
 * A team's namespace with its ServiceAccounts, one namespaced Role built from typed resources and verbs, and
 * the RoleBinding; optionally cluster-admin, only through an explicit, reported opt-in.
 *
 * Kubernetes RBAC does not separate "deploy" from "read Secrets": whoever may create a Deployment (or any pod-
 * defining resource) can mount any Secret of the namespace into a pod and read it. {@link secretsReadable} says
 * whether this Role allows that, by either route.
 */
export class TeamAccess extends Construct {
  /** The team's Namespace: its own, or the targeted TenantNamespace's. */
  public readonly namespace: kplus.k8s.KubeNamespace;
  public readonly serviceAccounts: readonly kplus.k8s.KubeServiceAccount[];
  public readonly role: kplus.k8s.KubeRole;
  public readonly roleBinding: kplus.k8s.KubeRoleBinding;
  /** The cluster-admin binding, when opted in. */
  public readonly clusterAdminBinding?: kplus.k8s.KubeClusterRoleBinding;
  /** The Role's rules as rendered. */
  public readonly rules: readonly kplus.k8s.PolicyRule[];
  /**
   * Whether the Role lets its holders read the namespace's Secrets: directly (get/list/watch on secrets), or by
   * creating or changing a pod-defining resource, or through exec/attach/port-forward into running pods.
   */
  public readonly secretsReadable: boolean;

  constructor(scope: Construct, id: string, props: TeamAccessProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const tenant = props.namespace instanceof TenantNamespace ? props.namespace : undefined;
    if (tenant !== undefined && Stack.of(tenant) !== Stack.of(this)) {
      throw new ShipshapeError(this, {
        problem: 'namespace is a TenantNamespace of another stack (another environment)',
        value: tenant.node.path,
        fix: 'create the TeamAccess in the stack of its TenantNamespace',
      });
    }
    const namespace = tenant?.name ?? assertDnsLabel(this, 'namespace', props.namespace as string);
    if (namespace === env.namespace || namespace.startsWith('kube-')) {
      throw new ShipshapeError(this, {
        problem: `namespace "${namespace}" is not a team namespace (it is the environment's or a system namespace)`,
        value: namespace,
        fix: 'give the team its own namespace, e.g. "team1"',
      });
    }
    // The binding's name is also its app.kubernetes.io/name label value, which the API server caps.
    const clusterAdminSuffix = '-cluster-admin';
    if (props.clusterAdmin !== undefined && namespace.length + clusterAdminSuffix.length > LABEL_VALUE_MAX) {
      throw new ShipshapeError(this, {
        problem: `with clusterAdmin the ClusterRoleBinding "${namespace}${clusterAdminSuffix}" is also the value of its ${LABELS.name} label, which may be at most ${LABEL_VALUE_MAX} characters`,
        value: namespace,
        fix: `shorten the namespace to at most ${LABEL_VALUE_MAX - clusterAdminSuffix.length} characters`,
      });
    }
    const accounts = props.serviceAccounts ?? [];
    if (accounts.length === 0 && (props.subjects ?? []).length === 0) {
      throw new ShipshapeError(this, {
        problem: 'nobody gets the access: no serviceAccounts and no subjects',
        value: props.serviceAccounts,
        fix: 'list at least one ServiceAccount, e.g. ["developer1"]',
      });
    }
    if (new Set(accounts).size !== accounts.length) {
      throw new ShipshapeError(this, { problem: 'serviceAccounts lists a name twice', value: accounts, fix: 'list each ServiceAccount once' });
    }
    for (const a of accounts) assertDnsLabel(this, 'serviceAccounts[]', a);
    for (const s of props.subjects ?? []) {
      if ((s.kind !== 'User' && s.kind !== 'Group') || typeof s.name !== 'string' || !/^[A-Za-z0-9@._:=+-]+$/.test(s.name)) {
        throw new ShipshapeError(this, { problem: 'subjects must be Users or Groups with a plain name', value: s, fix: 'use e.g. { kind: "Group", name: "team1-developers" }' });
      }
    }
    const rules = this.resolveRules(props.preset, props.rules ?? []);
    const roleName = assertDnsLabel(this, 'roleName', props.roleName ?? `${namespace}-${props.preset ?? 'custom'}`);

    const labels = (name: string) => ({ [LABELS.name]: name, [LABELS.component]: 'access', [LABELS.partOf]: namespace, [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name });
    this.namespace =
      tenant?.namespace ??
      new kplus.k8s.KubeNamespace(this, 'namespace', {
        metadata: {
          name: namespace,
          labels: {
            ...labels(namespace),
            // Like the environment namespaces: a team can deploy, but not privileged or root pods.
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': `v1.${env.kubernetesMinorFor(this)}`,
            'pod-security.kubernetes.io/warn': 'restricted',
          },
        },
      });
    this.serviceAccounts = Object.freeze(
      accounts.map(
        (a) =>
          new kplus.k8s.KubeServiceAccount(this, `service-account-${a}`, {
            metadata: { name: a, namespace, labels: labels(a) },
            // People use short-lived tokens (`kubectl create token`); pods running as this account do not need one mounted.
            automountServiceAccountToken: false,
          }),
      ),
    );
    this.rules = Object.freeze(rules);
    this.secretsReadable = rulesReadSecrets(rules);
    this.role = new kplus.k8s.KubeRole(this, 'role', { metadata: { name: roleName, namespace, labels: labels(roleName) }, rules });
    const subjects: kplus.k8s.Subject[] = [
      ...accounts.map((a) => ({ kind: 'ServiceAccount', name: a, namespace })),
      ...(props.subjects ?? []).map((s) => ({ kind: s.kind, name: s.name, apiGroup: 'rbac.authorization.k8s.io' })),
    ];
    this.roleBinding = new kplus.k8s.KubeRoleBinding(this, 'role-binding', {
      metadata: { name: roleName, namespace, labels: labels(roleName) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
      subjects,
    });

    if (props.clusterAdmin !== undefined) {
      const bindingName = `${namespace}${clusterAdminSuffix}`;
      this.clusterAdminBinding = new kplus.k8s.KubeClusterRoleBinding(this, 'cluster-admin', {
        metadata: { name: bindingName, labels: labels(bindingName) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects,
      });
      exempt(ApiObject.of(this.clusterAdminBinding), 'rbac-cluster-admin', props.clusterAdmin.reason);
    }
  }

  private resolveRules(preset: AccessPreset | undefined, extra: AccessRule[]): kplus.k8s.PolicyRule[] {
    if (preset !== undefined && !(preset in ACCESS_PRESETS)) {
      throw new ShipshapeError(this, { problem: 'preset is not known', value: preset, fix: `use one of ${Object.keys(ACCESS_PRESETS).join(', ')}` });
    }
    const all = [...(preset ? ACCESS_PRESETS[preset] : []), ...extra];
    if (all.length === 0) {
      throw new ShipshapeError(this, { problem: 'the Role would grant nothing: no preset and no rules', fix: "set preset: 'read-only' or 'deployer', or list rules" });
    }
    // group → resource → verbs, so equal grants merge and the output is stable.
    const grants = new Map<string, Map<string, Set<RbacVerb>>>();
    for (const [i, rule] of all.entries()) {
      if (!rule.resources?.length || !rule.verbs?.length) {
        throw new ShipshapeError(this, { problem: `rules[${i}] needs at least one resource and one verb`, value: rule, fix: 'e.g. { resources: ["pods"], verbs: ["get", "list"] }' });
      }
      for (const verb of rule.verbs) {
        if (!ALL_VERBS.includes(verb)) {
          throw new ShipshapeError(this, { problem: `rules[${i}] has a verb that is not allowed (wildcards never are)`, value: verb, fix: `use ${ALL_VERBS.join(', ')}` });
        }
      }
      for (const resource of rule.resources) {
        if (!(resource in RESOURCE_API_GROUPS)) {
          throw new ShipshapeError(this, {
            problem: `rules[${i}] names an unknown resource (wildcards are never allowed)`,
            value: resource,
            fix: `use one of ${Object.keys(RESOURCE_API_GROUPS).join(', ')}`,
          });
        }
        const group = RESOURCE_API_GROUPS[resource];
        const name = resource.startsWith(`${group}/`) ? resource.slice(group.length + 1) : resource;
        const byResource = grants.get(group) ?? new Map<string, Set<RbacVerb>>();
        const verbs = byResource.get(name) ?? new Set<RbacVerb>();
        for (const v of rule.verbs) verbs.add(v);
        byResource.set(name, verbs);
        grants.set(group, byResource);
      }
    }
    // One rule per (group, verb set), resources sorted; verbs in the canonical order.
    const rules: kplus.k8s.PolicyRule[] = [];
    for (const group of [...grants.keys()].sort()) {
      const byVerbs = new Map<string, string[]>();
      for (const [resource, verbs] of grants.get(group)!) {
        const key = ALL_VERBS.filter((v) => verbs.has(v)).join(',');
        byVerbs.set(key, [...(byVerbs.get(key) ?? []), resource]);
      }
      for (const key of [...byVerbs.keys()].sort()) {
        rules.push({ apiGroups: [group], resources: byVerbs.get(key)!.sort(), verbs: key.split(',') });
      }
    }
    return rules;
  }
}

// Subresources that reach into running containers (and the Secrets mounted there).
const POD_ACCESS_SUBRESOURCES = new Set(['pods/exec', 'pods/attach', 'pods/portforward']);

/** Whether rendered rules give any route to a Secret's value (see {@link TeamAccess.secretsReadable}). */
export function rulesReadSecrets(rules: readonly kplus.k8s.PolicyRule[]): boolean {
  const podDefining = new Set(POD_DEFINING_RESOURCES.map((r) => r.split('/').pop()!));
  return rules.some((rule) => {
    const verbs = rule.verbs ?? [];
    return (rule.resources ?? []).some(
      (resource) =>
        (resource === 'secrets' && verbs.some((v) => ['get', 'list', 'watch'].includes(v))) ||
        (podDefining.has(resource) && verbs.some((v) => ['create', 'update', 'patch'].includes(v))) ||
        (POD_ACCESS_SUBRESOURCES.has(resource) && verbs.length > 0),
    );
  });
}
