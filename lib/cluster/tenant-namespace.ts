import { ApiObject, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { RESERVED_NAMESPACES } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel, assertInteger } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { cpuMillicores, sizeMebibytes } from '../core/quantities';
import { Stack } from '../core/stack';
import { INT32_MAX, assertLabels, portNameProblem } from '../core/validate';

/** A Pod Security Standard (k8s.io/pod-security-admission/api Level). */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

const POD_SECURITY_LEVELS: readonly PodSecurityLevel[] = ['privileged', 'baseline', 'restricted'];

/** The Pod Security admission modes of a tenant namespace; each is pinned to the environment's Kubernetes minor. */
export interface TenantPodSecurity {
  /**
   * Level the API server enforces: a pod that breaks it is refused.
   * @default 'restricted'
   */
  readonly enforce?: PodSecurityLevel;
  /**
   * Level whose violations are recorded in the audit log.
   * @default 'restricted'
   */
  readonly audit?: PodSecurityLevel;
  /**
   * Level whose violations are returned to the client as warnings.
   * @default 'restricted'
   */
  readonly warn?: PodSecurityLevel;
  /**
   * Why the namespace enforces less than `restricted`; required then, and listed in the synth summary as an
   * exemption from `pod-security`.
   * @default - none (enforce must be 'restricted')
   */
  readonly reason?: string;
}

/** Total CPU and memory of the pods of a tenant namespace, as the ResourceQuota counts them. */
export interface TenantQuotaAmounts {
  /** Sum of CPU requests or limits (`requests.cpu`, `limits.cpu`). */
  readonly cpu: kplus.Cpu;
  /** Sum of memory requests or limits (`requests.memory`, `limits.memory`); whole MiB. */
  readonly memory: Size;
}

/** What a tenant namespace may use in total: its ResourceQuota. */
export interface TenantQuota {
  /** Sums of requests of all non-terminal pods. */
  readonly requests: TenantQuotaAmounts;
  /**
   * Sums of limits. With `cpu` set every container needs a CPU limit (the quota refuses pods without one), so
   * `containerDefaults.cpu.limit` is then required.
   * @default - memory: twice `requests.memory`; cpu: not counted (CPU limits throttle, docs/practice.md#probes-resources-and-non-root)
   */
  readonly limits?: { readonly cpu?: kplus.Cpu; readonly memory?: Size };
  /** Pods (non-terminal). */
  readonly pods: number;
  /** Services of any type. */
  readonly services: number;
  /** PersistentVolumeClaims. */
  readonly persistentVolumeClaims: number;
  /**
   * Total storage requested by PersistentVolumeClaims (`requests.storage`); whole MiB.
   * @default - not counted
   */
  readonly storage?: Size;
  /**
   * Services of type LoadBalancer.
   * @default 0 (one cloud load balancer per Service is expensive; an Ingress fronts HTTP, docs/practice.md#services)
   */
  readonly loadBalancers?: number;
  /**
   * Services of type NodePort (LoadBalancer Services take node ports too).
   * @default 0 (node ports open every node's address, docs/practice.md#services)
   */
  readonly nodePorts?: number;
}

/** Default requests and limits the LimitRange gives each container that states none (init containers included). */
export interface TenantContainerDefaults {
  /**
   * CPU request and limit.
   * @default - request 100m, no limit (docs/practice.md#probes-resources-and-non-root)
   */
  readonly cpu?: { readonly request?: kplus.Cpu; readonly limit?: kplus.Cpu };
  /**
   * Memory request and limit; whole MiB.
   * @default - request 128Mi, limit 256Mi (docs/practice.md#probes-resources-and-non-root)
   */
  readonly memory?: { readonly request?: Size; readonly limit?: Size };
}

/**
 * The largest request or limit one container may state. Kubernetes makes a maximum the default limit when none is
 * given, so a `cpu` maximum without `containerDefaults.cpu.limit` also sets that limit (written out in the LimitRange).
 */
export interface TenantContainerMaximum {
  /**
   * Largest CPU request or limit.
   * @default - no maximum
   */
  readonly cpu?: kplus.Cpu;
  /**
   * Largest memory request or limit; whole MiB.
   * @default - no maximum
   */
  readonly memory?: Size;
}

/** A port traffic is allowed to. */
export interface TenantPort {
  /** Port number (1-65535) or a container port name, on the receiving pods. */
  readonly port: number | string;
  /**
   * Protocol.
   * @default 'TCP'
   */
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** The other side of a {@link TenantTrafficRule}: pods of a namespace, all of them or those with labels. */
export interface TenantPeer {
  /**
   * The namespace: another {@link TenantNamespace} (in the same stack) or any namespace's name.
   * @default - this tenant namespace
   */
  readonly namespace?: TenantNamespace | string;
  /**
   * Only the pods with these labels.
   * @default - every pod of the namespace (then `namespace` is required)
   */
  readonly podLabels?: Record<string, string>;
}

/** One allowed flow through the default deny: a NetworkPolicy `<namespace>-allow-<name>`. */
export interface TenantTrafficRule {
  /** Names the rule (a DNS label); the NetworkPolicy is `<namespace>-allow-<name>`. */
  readonly name: string;
  /** `ingress`: the peer may connect to pods of this namespace; `egress`: pods of this namespace may connect to the peer. */
  readonly direction: 'ingress' | 'egress';
  /** The other side. */
  readonly peer: TenantPeer;
  /** Ports on the receiving side (at least one: an empty list would allow every port). */
  readonly ports: TenantPort[];
  /**
   * The pods of this namespace the rule covers.
   * @default - every pod of the namespace
   */
  readonly pods?: Record<string, string>;
}

/** Where the cluster DNS runs, which every pod must reach through the default deny. */
export interface TenantDns {
  /**
   * Namespace of the DNS pods.
   * @default 'kube-system'
   */
  readonly namespace?: string;
  /**
   * Labels of the DNS pods.
   * @default { 'k8s-app': 'kube-dns' } (CoreDNS keeps the kube-dns label in kubeadm, EKS, GKE and AKS)
   */
  readonly podLabels?: Record<string, string>;
}

/** Properties of a {@link TenantNamespace}. */
export interface TenantNamespaceProps {
  /** The namespace (created by this construct). */
  readonly name: string;
  /** What the namespace may use in total. */
  readonly quota: TenantQuota;
  /**
   * Requests and limits of containers that state none.
   * @default - see {@link TenantContainerDefaults}
   */
  readonly containerDefaults?: TenantContainerDefaults;
  /**
   * Largest request or limit of one container.
   * @default - no maximum
   */
  readonly containerMaximum?: TenantContainerMaximum;
  /**
   * Pod Security Standards of the namespace.
   * @default - restricted for enforce, audit and warn
   */
  readonly podSecurity?: TenantPodSecurity;
  /**
   * Flows allowed through the default deny, besides DNS.
   * @default [] (only DNS)
   */
  readonly allow?: TenantTrafficRule[];
  /**
   * The cluster DNS every pod may query (UDP and TCP 53).
   * @default - CoreDNS in kube-system
   */
  readonly dns?: TenantDns;
}

// docs/practice.md#probes-resources-and-non-root: 100m CPU and 128Mi requested, 256Mi limit, no CPU limit.
const DEFAULT_CPU_REQUEST_MILLIS = 100;
const DEFAULT_MEMORY_REQUEST_MIB = 128;
const DEFAULT_MEMORY_LIMIT_MIB = 256;
// Room for every pod's memory limit to be twice its request (as the 128Mi/256Mi defaults are).
const DEFAULT_LIMITS_TO_REQUESTS = 2;
// kube-dns/CoreDNS as kubeadm, EKS, GKE and AKS install it: the Service keeps the kube-dns name and label.
const DNS_NAMESPACE = 'kube-system';
const DNS_POD_LABELS: Readonly<Record<string, string>> = Object.freeze({ 'k8s-app': 'kube-dns' });
const DNS_PORT = 53;
// Set by the API server on every namespace (Kubernetes 1.22+); a namespace cannot forge another's.
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
const POD_SECURITY_MODES = ['enforce', 'audit', 'warn'] as const;

/** CPU in whole millicores and memory in whole MiB, as validated. */
interface Amounts {
  cpu?: number;
  memory?: number;
}

/**
 * A namespace a team shares a cluster through, with its guard rails: Pod Security labels (restricted by default,
 * pinned to the environment's minor), a ResourceQuota (CPU, memory, pods, Services, PVCs; no LoadBalancer or
 * NodePort Services unless granted), a LimitRange (so pods without resources still get requests and limits, and
 * count against the quota), and a default-deny NetworkPolicy for ingress and egress with allow rules for the
 * cluster DNS and named peers. A {@link TeamAccess} can target it for the team's ServiceAccounts and Role.
 */
export class TenantNamespace extends Construct {
  /** The namespace name. */
  public readonly name: string;
  /** The Namespace object, with the Pod Security labels. */
  public readonly namespace: kplus.k8s.KubeNamespace;
  /** `<name>-quota`: the namespace's totals. */
  public readonly resourceQuota: kplus.k8s.KubeResourceQuota;
  /** `<name>-limits`: container defaults and maximum. */
  public readonly limitRange: kplus.k8s.KubeLimitRange;
  /** Denies all ingress and egress of every pod; the other policies open what is allowed. */
  public readonly defaultDeny: kplus.k8s.KubeNetworkPolicy;
  /** The DNS policy first, then one per `allow` rule. */
  public readonly allowPolicies: readonly kplus.k8s.KubeNetworkPolicy[];
  /** The Pod Security levels as labelled. */
  public readonly podSecurity: Readonly<Record<(typeof POD_SECURITY_MODES)[number], PodSecurityLevel>>;

  constructor(scope: Construct, id: string, props: TenantNamespaceProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const env = stack.environment;
    const minor = env.kubernetesMinorFor(this);
    const name = assertDnsLabel(this, 'name', props.name);
    if (name === env.namespace || name.startsWith('kube-') || RESERVED_NAMESPACES.includes(name)) {
      throw new ShipshapeError(this, {
        problem: `namespace "${name}" is not a tenant namespace (it is the environment's or the cluster's own)`,
        value: name,
        fix: 'give the tenant a namespace of its own, e.g. "payments"',
      });
    }
    this.name = name;
    this.podSecurity = Object.freeze(this.resolvePodSecurity(props.podSecurity));
    const { hard, defaults, defaultRequest, max } = this.resolveResources(props);
    const allow = this.resolveRules(stack, props.allow ?? []);

    const labels = { [LABELS.name]: name, [LABELS.component]: 'tenant', [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name };
    const metadata = (suffix: string) => ({ name: `${name}-${suffix}`, namespace: name, labels: { ...labels } });
    const podSecurityLabels: Record<string, string> = {};
    for (const mode of POD_SECURITY_MODES) {
      podSecurityLabels[`pod-security.kubernetes.io/${mode}`] = this.podSecurity[mode];
      podSecurityLabels[`pod-security.kubernetes.io/${mode}-version`] = `v1.${minor}`;
    }
    this.namespace = new kplus.k8s.KubeNamespace(this, 'namespace', { metadata: { name, labels: { ...labels, ...podSecurityLabels } } });
    if (this.podSecurity.enforce !== 'restricted') exempt(ApiObject.of(this.namespace), 'pod-security', props.podSecurity!.reason!);

    this.resourceQuota = new kplus.k8s.KubeResourceQuota(this, 'quota', { metadata: metadata('quota'), spec: { hard } });
    this.limitRange = new kplus.k8s.KubeLimitRange(this, 'limits', {
      metadata: metadata('limits'),
      spec: { limits: [{ type: 'Container', defaultRequest, default: defaults, ...(max ? { max } : {}) }] },
    });
    this.defaultDeny = new kplus.k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: metadata('default-deny'),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });

    const dnsNamespace = assertDnsLabel(this, 'dns.namespace', props.dns?.namespace ?? DNS_NAMESPACE);
    const dnsLabels = this.nonEmptyLabels('dns.podLabels', props.dns?.podLabels ?? DNS_POD_LABELS);
    const dns = new kplus.k8s.KubeNetworkPolicy(this, 'allow-dns', {
      metadata: metadata('allow-dns'),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: dnsNamespace } }, podSelector: { matchLabels: { ...dnsLabels } } }],
            ports: [
              { protocol: 'UDP', port: kplus.k8s.IntOrString.fromNumber(DNS_PORT) },
              { protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(DNS_PORT) },
            ],
          },
        ],
      },
    });
    const rules = allow.map((rule) => {
      const peer: kplus.k8s.NetworkPolicyPeer = {
        ...(rule.namespace !== undefined ? { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: rule.namespace } } } : {}),
        ...(rule.podLabels !== undefined ? { podSelector: { matchLabels: { ...rule.podLabels } } } : {}),
      };
      const ports = rule.ports.map((p) => ({ protocol: p.protocol ?? 'TCP', port: typeof p.port === 'number' ? kplus.k8s.IntOrString.fromNumber(p.port) : kplus.k8s.IntOrString.fromString(p.port) }));
      const podSelector = rule.pods ? { matchLabels: { ...rule.pods } } : {};
      const spec: kplus.k8s.NetworkPolicySpec =
        rule.direction === 'ingress' ? { podSelector, policyTypes: ['Ingress'], ingress: [{ from: [peer], ports }] } : { podSelector, policyTypes: ['Egress'], egress: [{ to: [peer], ports }] };
      return new kplus.k8s.KubeNetworkPolicy(this, `allow-${rule.name}`, { metadata: metadata(`allow-${rule.name}`), spec });
    });
    this.allowPolicies = Object.freeze([dns, ...rules]);
  }

  private resolvePodSecurity(podSecurity: TenantPodSecurity | undefined): Record<(typeof POD_SECURITY_MODES)[number], PodSecurityLevel> {
    const levels = { enforce: podSecurity?.enforce ?? 'restricted', audit: podSecurity?.audit ?? 'restricted', warn: podSecurity?.warn ?? 'restricted' };
    for (const mode of POD_SECURITY_MODES) {
      // The API server refuses any other value of the label, and the whole Namespace with it.
      if (!POD_SECURITY_LEVELS.includes(levels[mode])) {
        throw new ShipshapeError(this, {
          problem: `podSecurity.${mode} must be a Pod Security Standard (${POD_SECURITY_LEVELS.join(', ')})`,
          value: levels[mode],
          fix: `set podSecurity.${mode} to 'restricted', or omit it`,
        });
      }
    }
    if (levels.enforce !== 'restricted' && (podSecurity?.reason === undefined || podSecurity.reason.trim() === '')) {
      throw new ShipshapeError(this, {
        problem: `podSecurity.enforce '${levels.enforce}' lets the tenant run pods the restricted standard refuses (root, host access, added capabilities), which needs a stated reason`,
        value: levels.enforce,
        fix: "set podSecurity.reason to why the team's pods need it, or keep enforce 'restricted'",
      });
    }
    return levels;
  }

  private resolveResources(props: TenantNamespaceProps): {
    hard: Record<string, kplus.k8s.Quantity>;
    defaults: Record<string, kplus.k8s.Quantity>;
    defaultRequest: Record<string, kplus.k8s.Quantity>;
    max?: Record<string, kplus.k8s.Quantity>;
  } {
    const q = props.quota;
    if (q === undefined || q === null || typeof q !== 'object' || q.requests === undefined) {
      throw new ShipshapeError(this, {
        problem: 'quota with requests is required: a shared namespace without one can take the whole cluster',
        value: q,
        fix: 'set quota: { requests: { cpu: Cpu.units(4), memory: Size.gibibytes(8) }, pods: 50, services: 10, persistentVolumeClaims: 10 }',
      });
    }
    const cpu = (field: string, value: unknown): number => {
      const millis = cpuMillicores(this, field, value);
      if (!Number.isInteger(millis))
        throw new ShipshapeError(this, { problem: `${field} must be a whole number of millicores`, value: `${millis}m`, fix: `set ${field} to e.g. Cpu.millis(${Math.max(1, Math.round(millis))})` });
      return millis;
    };
    const memory = (field: string, value: unknown): number => {
      const mib = sizeMebibytes(this, field, value);
      if (!Number.isInteger(mib))
        throw new ShipshapeError(this, { problem: `${field} must be a whole number of mebibytes`, value: `${mib}Mi`, fix: `set ${field} to e.g. Size.mebibytes(${Math.max(1, Math.round(mib))})` });
      return mib;
    };
    const count = (field: string, value: number) => assertInteger(this, field, value, 0, INT32_MAX);

    const requests: Required<Amounts> = { cpu: cpu('quota.requests.cpu', q.requests.cpu), memory: memory('quota.requests.memory', q.requests.memory) };
    const limits: Amounts = {
      cpu: q.limits?.cpu === undefined ? undefined : cpu('quota.limits.cpu', q.limits.cpu),
      memory: q.limits?.memory === undefined ? requests.memory * DEFAULT_LIMITS_TO_REQUESTS : memory('quota.limits.memory', q.limits.memory),
    };
    for (const kind of ['cpu', 'memory'] as const) {
      const limit = limits[kind];
      if (limit !== undefined && limit < requests[kind]) {
        throw new ShipshapeError(this, {
          problem: `quota.limits.${kind} is below quota.requests.${kind}: every container's limit is at least its request, so the requests could never be used up`,
          value: { requests: render(kind, requests[kind]), limits: render(kind, limit) },
          fix: `raise quota.limits.${kind} to at least ${render(kind, requests[kind])}`,
        });
      }
    }

    const d = props.containerDefaults ?? {};
    const maximum = props.containerMaximum ?? {};
    const max: Amounts = {
      cpu: maximum.cpu === undefined ? undefined : cpu('containerMaximum.cpu', maximum.cpu),
      memory: maximum.memory === undefined ? undefined : memory('containerMaximum.memory', maximum.memory),
    };
    const defaultRequest: Required<Amounts> = {
      cpu: d.cpu?.request === undefined ? DEFAULT_CPU_REQUEST_MILLIS : cpu('containerDefaults.cpu.request', d.cpu.request),
      memory: d.memory?.request === undefined ? DEFAULT_MEMORY_REQUEST_MIB : memory('containerDefaults.memory.request', d.memory.request),
    };
    // Kubernetes makes the maximum the default limit when none is given; written out so the file says so.
    const defaultLimit: Amounts = {
      cpu: d.cpu?.limit === undefined ? max.cpu : cpu('containerDefaults.cpu.limit', d.cpu.limit),
      memory:
        d.memory?.limit === undefined
          ? max.memory !== undefined
            ? Math.min(DEFAULT_MEMORY_LIMIT_MIB, max.memory)
            : DEFAULT_MEMORY_LIMIT_MIB
          : memory('containerDefaults.memory.limit', d.memory.limit),
    };
    if (limits.cpu !== undefined && defaultLimit.cpu === undefined) {
      throw new ShipshapeError(this, {
        problem: 'quota.limits.cpu is set, so the quota refuses every container without a CPU limit, but containerDefaults.cpu.limit gives none',
        value: render('cpu', limits.cpu),
        fix: 'set containerDefaults.cpu.limit (e.g. Cpu.millis(500)), or leave quota.limits.cpu out (CPU limits throttle)',
      });
    }
    for (const kind of ['cpu', 'memory'] as const) {
      const request = defaultRequest[kind];
      const limit = defaultLimit[kind];
      const ceiling = max[kind];
      // The checks the API server makes on a LimitRange, so they fail here with the field to change.
      if (limit !== undefined && request > limit) {
        throw new ShipshapeError(this, {
          problem: `the default ${kind} request is above the default ${kind} limit`,
          value: { request: render(kind, request), limit: render(kind, limit) },
          fix: `make containerDefaults.${kind}.request at most containerDefaults.${kind}.limit`,
        });
      }
      if (ceiling !== undefined && (request > ceiling || (limit ?? 0) > ceiling)) {
        throw new ShipshapeError(this, {
          problem: `a default ${kind} request or limit is above containerMaximum.${kind}`,
          value: { request: render(kind, request), limit: limit === undefined ? undefined : render(kind, limit), max: render(kind, ceiling) },
          fix: `lower containerDefaults.${kind} or raise containerMaximum.${kind}`,
        });
      }
      // A pod of one defaulted container must fit, or no pod without resources could ever start.
      if (request > requests[kind] || (limit !== undefined && limits[kind] !== undefined && limit > limits[kind]!)) {
        throw new ShipshapeError(this, {
          problem: `a container with the default ${kind} request and limit does not fit in the quota`,
          value: {
            request: render(kind, request),
            limit: limit === undefined ? undefined : render(kind, limit),
            quota: { requests: render(kind, requests[kind]), limits: limits[kind] === undefined ? undefined : render(kind, limits[kind]!) },
          },
          fix: `raise quota.requests.${kind} / quota.limits.${kind}, or lower containerDefaults.${kind}`,
        });
      }
    }

    const quantities = (amounts: Amounts, prefix = ''): Record<string, kplus.k8s.Quantity> => {
      const out: Record<string, kplus.k8s.Quantity> = {};
      for (const kind of ['cpu', 'memory'] as const) {
        const value = amounts[kind];
        if (value !== undefined) out[`${prefix}${kind}`] = kplus.k8s.Quantity.fromString(render(kind, value));
      }
      return out;
    };
    const hard: Record<string, kplus.k8s.Quantity> = {
      ...quantities(requests, 'requests.'),
      ...quantities(limits, 'limits.'),
      pods: kplus.k8s.Quantity.fromNumber(count('quota.pods', q.pods)),
      services: kplus.k8s.Quantity.fromNumber(count('quota.services', q.services)),
      'services.loadbalancers': kplus.k8s.Quantity.fromNumber(count('quota.loadBalancers', q.loadBalancers ?? 0)),
      'services.nodeports': kplus.k8s.Quantity.fromNumber(count('quota.nodePorts', q.nodePorts ?? 0)),
      persistentvolumeclaims: kplus.k8s.Quantity.fromNumber(count('quota.persistentVolumeClaims', q.persistentVolumeClaims)),
      ...(q.storage === undefined ? {} : { 'requests.storage': kplus.k8s.Quantity.fromString(render('memory', memory('quota.storage', q.storage))) }),
    };
    const hasMax = max.cpu !== undefined || max.memory !== undefined;
    return { hard, defaults: quantities(defaultLimit), defaultRequest: quantities(defaultRequest), max: hasMax ? quantities(max) : undefined };
  }

  private resolveRules(stack: Stack, rules: TenantTrafficRule[]): Array<TenantTrafficRule & { namespace?: string; podLabels?: Record<string, string> }> {
    const seen = new Set<string>(['dns']);
    return rules.map((rule, i) => {
      const field = `allow[${i}]`;
      const name = assertDnsLabel(this, `${field}.name`, rule?.name);
      if (seen.has(name)) {
        throw new ShipshapeError(this, {
          problem: `${field}.name is taken${name === 'dns' ? ' (the DNS rule is always there)' : ' by another rule'}; it names the NetworkPolicy`,
          value: name,
          fix: 'give each rule its own name',
        });
      }
      seen.add(name);
      if (rule.direction !== 'ingress' && rule.direction !== 'egress') {
        throw new ShipshapeError(this, {
          problem: `${field}.direction must be 'ingress' or 'egress'`,
          value: rule.direction,
          fix: "use 'ingress' (the peer connects here) or 'egress' (pods here connect to the peer)",
        });
      }
      const peerNamespace = rule.peer?.namespace;
      let namespace: string | undefined;
      if (peerNamespace instanceof TenantNamespace) {
        if (Stack.of(peerNamespace) !== stack) {
          throw new ShipshapeError(this, {
            problem: `${field}.peer.namespace is a TenantNamespace of another stack (another environment's cluster)`,
            value: peerNamespace.node.path,
            fix: 'name a namespace of this environment',
          });
        }
        namespace = peerNamespace.name;
      } else if (peerNamespace !== undefined) {
        namespace = assertDnsLabel(this, `${field}.peer.namespace`, peerNamespace);
      }
      const podLabels = rule.peer?.podLabels === undefined ? undefined : this.nonEmptyLabels(`${field}.peer.podLabels`, rule.peer.podLabels);
      if (namespace === undefined && podLabels === undefined) {
        throw new ShipshapeError(this, {
          problem: `${field}.peer names neither a namespace nor pod labels, which would allow every pod of this namespace; say which`,
          value: rule.peer,
          fix: `set ${field}.peer.namespace (e.g. "ingress-nginx") and/or ${field}.peer.podLabels`,
        });
      }
      if (!Array.isArray(rule.ports) || rule.ports.length === 0) {
        throw new ShipshapeError(this, { problem: `${field}.ports is empty, which a NetworkPolicy reads as every port`, value: rule.ports, fix: `list the ports, e.g. [{ port: 8080 }]` });
      }
      for (const [j, p] of rule.ports.entries()) {
        const portField = `${field}.ports[${j}]`;
        if (typeof p?.port === 'number') assertInteger(this, `${portField}.port`, p.port, 1, 65535);
        else if (portNameProblem(p?.port) !== undefined)
          throw new ShipshapeError(this, { problem: `${portField}.port must be a port number or a container port name: ${portNameProblem(p?.port)}`, value: p?.port, fix: 'use e.g. 8080 or "http"' });
        if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) {
          throw new ShipshapeError(this, { problem: `${portField}.protocol must be TCP, UDP or SCTP`, value: p.protocol, fix: "use 'TCP' or omit it" });
        }
      }
      const pods = rule.pods === undefined ? undefined : this.nonEmptyLabels(`${field}.pods`, rule.pods);
      return { ...rule, name, namespace, podLabels, pods };
    });
  }

  // An empty selector selects every pod, which is never what a named label set means here.
  private nonEmptyLabels(field: string, labels: Readonly<Record<string, string>>): Record<string, string> {
    const checked = assertLabels(this, field, labels);
    if (Object.keys(checked).length === 0) {
      throw new ShipshapeError(this, {
        problem: `${field} is empty, which selects every pod`,
        value: labels,
        fix: `give the labels that select the pods, e.g. { "app.kubernetes.io/name": "web-api" }, or leave ${field} out`,
      });
    }
    return { ...checked };
  }
}

/** A validated amount as a quantity: millicores (`250m`, whole cores as `2`) or mebibytes (`512Mi`). */
function render(kind: 'cpu' | 'memory', amount: number): string {
  if (kind === 'memory') return `${amount}Mi`;
  return amount % 1000 === 0 ? String(amount / 1000) : `${amount}m`;
}
