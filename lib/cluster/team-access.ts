import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { Stack } from '../core/stack';

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
export type AccessPreset = 'read-only' | 'deployer';

const READ: RbacVerb[] = ['get', 'list', 'watch'];
const WORKLOADS: RbacResource[] = ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'horizontalpodautoscalers', 'poddisruptionbudgets'];
const NETWORK: RbacResource[] = ['services', 'endpoints', 'ingresses'];

/**
 * The presets. read-only sees workloads, their logs and events but not Secrets (reading a Secret is reading
 * its value); deployer also changes workloads, configuration and exposure, restarts pods, and may create
 * Secrets it then cannot read back.
 */
export const ACCESS_PRESETS: Readonly<Record<AccessPreset, readonly AccessRule[]>> = Object.freeze({
  'read-only': [
    { resources: ['pods', 'pods/log', 'configmaps', 'events', 'persistentvolumeclaims', 'serviceaccounts', ...WORKLOADS, ...NETWORK], verbs: READ },
  ],
  deployer: [
    { resources: ['pods', 'pods/log', 'configmaps', 'events', 'persistentvolumeclaims', 'serviceaccounts', ...WORKLOADS, ...NETWORK], verbs: READ },
    { resources: ['deployments', 'statefulsets', 'jobs', 'cronjobs', 'horizontalpodautoscalers', 'poddisruptionbudgets', 'configmaps', 'services', 'ingresses'], verbs: ['create', 'update', 'patch', 'delete'] },
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
  /** The team's namespace (created by this construct). */
  readonly namespace: string;
  /** ServiceAccounts created in the namespace, one per member or pipeline (the notes' `developer1`). */
  readonly serviceAccounts: string[];
  /**
   * Users and groups bound to the same Role.
   * @default []
   */
  readonly subjects?: AccessSubject[];
  /**
   * A preset, extended by `rules`.
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
 */
export class TeamAccess extends Construct {
  public readonly namespace: kplus.k8s.KubeNamespace;
  public readonly serviceAccounts: readonly kplus.k8s.KubeServiceAccount[];
  public readonly role: kplus.k8s.KubeRole;
  public readonly roleBinding: kplus.k8s.KubeRoleBinding;
  /** The cluster-admin binding, when opted in. */
  public readonly clusterAdminBinding?: kplus.k8s.KubeClusterRoleBinding;
  /** The Role's rules as rendered. */
  public readonly rules: readonly kplus.k8s.PolicyRule[];

  constructor(scope: Construct, id: string, props: TeamAccessProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const namespace = assertDnsLabel(this, 'namespace', props.namespace);
    if (namespace === env.namespace || namespace.startsWith('kube-')) {
      throw new ShipshapeError(this, { problem: `namespace "${namespace}" is not a team namespace (it is the environment's or a system namespace)`, value: namespace, fix: 'give the team its own namespace, e.g. "team1"' });
    }
    const accounts = props.serviceAccounts ?? [];
    if (accounts.length === 0 && (props.subjects ?? []).length === 0) {
      throw new ShipshapeError(this, { problem: 'nobody gets the access: no serviceAccounts and no subjects', value: props.serviceAccounts, fix: 'list at least one ServiceAccount, e.g. ["developer1"]' });
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
    this.namespace = new kplus.k8s.KubeNamespace(this, 'namespace', {
      metadata: {
        name: namespace,
        labels: {
          ...labels(namespace),
          // Like the environment namespaces: a team can deploy, but not privileged or root pods.
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': `v1.${env.kubernetesMinor}`,
          'pod-security.kubernetes.io/warn': 'restricted',
        },
      },
    });
    this.serviceAccounts = Object.freeze(accounts.map((a) => new kplus.k8s.KubeServiceAccount(this, `service-account-${a}`, {
      metadata: { name: a, namespace, labels: labels(a) },
      // People use short-lived tokens (`kubectl create token`); pods running as this account do not need one mounted.
      automountServiceAccountToken: false,
    })));
    this.rules = Object.freeze(rules);
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
      const bindingName = `${namespace}-cluster-admin`;
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
          throw new ShipshapeError(this, { problem: `rules[${i}] names an unknown resource (wildcards are never allowed)`, value: resource, fix: `use one of ${Object.keys(RESOURCE_API_GROUPS).join(', ')}` });
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
