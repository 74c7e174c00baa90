import { isDeferred } from '../deferred';
import { pinnedImageFix, pinnedImageProblem } from '../images';
import { isPositiveQuantity, resolveCountOrPercent } from '../quantities';
import { HOSTNAME_TOPOLOGY_KEY } from '../scheduling';
import { configMapKeyProblem } from '../validate';
import { AZURE_WORKLOAD_IDENTITY_LABEL, WORKLOAD_IDENTITY_ANNOTATIONS, identityClouds, identityProblem } from '../workload-identity';
import { CredentialFinding, EXEMPTION_KEY, isCredentialName, scanArgs, scanDocument, scanVariable } from './credentials';
import { ContainerRef, LONG_RUNNING_KINDS, Manifest, ManifestIndex, REPLICATED_KINDS, containersOf, podTemplateOf, selectorMatches } from '../manifest';

// NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR: line breaks to YAML 1.1 (go-yaml v2, which kubectl uses).
const LINE_SEPARATORS = /[\u0085\u2028\u2029]/;

/** One problem a rule found in one object. */
export interface RuleFinding {
  /** What is wrong. */
  readonly message: string;
  /** How to fix it. */
  readonly fix: string;
  /**
   * The variable, key or flag the finding is about, for rules that judge values one by one; an exemption
   * naming it (`exemptions.shipshape.io/<rule>.<subject>`) drops this finding only.
   */
  readonly subject?: string;
}

/** A check run over every synthesized object. */
export interface PolicyRule {
  /** Stable id, used in reports and in exemption annotations. */
  readonly id: string;
  /** `error` fails synth; `warning` is reported in the summary. */
  readonly severity: 'error' | 'warning';
  /** One line saying what the rule wants and why. */
  readonly description: string;
  check(m: Manifest, index: ManifestIndex): RuleFinding[];
}

function containerName(ref: ContainerRef): string {
  return `${ref.init ? 'init container' : 'container'} "${ref.container.name}"`;
}

/** Runs `check` on every container of a workload's pod template. */
function perContainer(check: (ref: ContainerRef, podSpec: any) => RuleFinding | undefined, kinds?: Set<string>) {
  return (m: Manifest): RuleFinding[] => {
    if (kinds && !kinds.has(m.kind)) return [];
    const template = podTemplateOf(m);
    if (!template) return [];
    return containersOf(template.spec).flatMap((ref) => check(ref, template.spec) ?? []);
  };
}

const MOVE_TO_SECRET =
  'reference the value from a Secret (valueFrom.secretKeyRef, envFrom a Secret, or a mounted Secret file), or exempt the variable with the reason it is not a credential: exempt(obj, rule, reason, { variables: [name] })';

/** One finding per variable: where, what was found in it, and the masked values. */
function perSubject(findings: readonly CredentialFinding[], where: (subject: string | undefined) => string, fix: string): RuleFinding[] {
  const groups = new Map<string | undefined, CredentialFinding[]>();
  for (const f of findings) groups.set(f.subject, [...(groups.get(f.subject) ?? []), f]);
  return [...groups].map(([subject, fs]) => ({
    message: `${where(subject)} holds ${[...new Set(fs.map((f) => f.kind))].join(' and ')} in plain text (${[...new Set(fs.map((f) => f.excerpt))].join(', ')})`,
    fix,
    ...(subject !== undefined ? { subject } : {}),
  }));
}

/**
 * Every credential in a container: environment variables by name and value, ConfigMap references of
 * credential-named variables, command and args (flags and `--password value` pairs), and every other
 * string of the container (probe and lifecycle commands). Findings name the variable or flag.
 */
function containerCredentials(ref: ContainerRef): RuleFinding[] {
  const c = ref.container;
  const who = containerName(ref);
  const findings: RuleFinding[] = [];
  const inEnv: CredentialFinding[] = [];
  for (const e of (c.env ?? []) as any[]) {
    if (typeof e.value === 'string') {
      inEnv.push(...scanVariable(e.name, e.value).map((f) => ({ ...f, subject: e.name })));
    } else if (e.valueFrom?.configMapKeyRef && isCredentialName(e.name)) {
      findings.push({ message: `${who} takes ${e.name} from a ConfigMap, which is stored and shown in plain text`, fix: MOVE_TO_SECRET, subject: e.name });
    }
  }
  findings.push(...perSubject(inEnv, (s) => `${who} variable ${s}`, MOVE_TO_SECRET));
  const commandLine = scanArgs([...(c.command ?? []), ...(c.args ?? [])]);
  findings.push(...perSubject(commandLine, (s) => `${who} command line${s ? ` (${s})` : ''}`, 'read the credential from a mounted Secret file or an environment variable taken from a Secret'));
  const rest = scanDocument(c, (path) => /^(env|command|args)(\[|$)/.test(path));
  const at = new Map(rest.map((f) => [f.subject ?? f.path, f.path]));
  findings.push(
    ...perSubject(
      rest.map((f) => ({ ...f, subject: f.subject ?? f.path })),
      (s) => `${who} field ${at.get(s!)}${at.get(s!) === s ? '' : ` (${s})`}`,
      MOVE_TO_SECRET,
    ),
  );
  return findings;
}

// Fields other rules judge: container specs (secret-env-plaintext), ConfigMap data, Secret data (secret-data-inline).
function judgedElsewhere(m: Manifest, path: string): boolean {
  // The substring test first: this runs for every field of every object.
  if (path.includes('ontainers') && /(^|\.)(containers|initContainers|ephemeralContainers)(\[|$)/.test(path)) return true;
  if (m.kind === 'ConfigMap' && /^(data|binaryData)(\.|$)/.test(path)) return true;
  if (m.kind === 'Secret' && /^(data|stringData)(\.|$)/.test(path)) return true;
  return false;
}

/** Whether any key or string under `value` holds U+0085, U+2028 or U+2029; checked before paths are built for a message. */
function holdsLineSeparator(value: unknown): boolean {
  if (typeof value === 'string') return LINE_SEPARATORS.test(value);
  if (value === null || typeof value !== 'object') return false;
  // Index loops: every object is walked on every synth, and Object.entries allocates a pair per field.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (holdsLineSeparator(value[i])) return true;
    return false;
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) if (LINE_SEPARATORS.test(keys[i]) || holdsLineSeparator((value as Record<string, unknown>)[keys[i]])) return true;
  return false;
}

/** Whether a PodDisruptionBudget lets at least one pod be evicted when the workload runs `replicas` pods. */
export function budgetAllowsEviction(pdb: any, replicas: number): boolean {
  const spec = pdb.spec ?? {};
  // The disruption controller rounds both fields up.
  if (spec.maxUnavailable !== undefined) return resolveCountOrPercent(spec.maxUnavailable, replicas, true) >= 1;
  if (spec.minAvailable !== undefined) return resolveCountOrPercent(spec.minAvailable, replicas, true) < replicas;
  return true;
}

// Access modes whose volume one node attaches at a time.
const SINGLE_NODE_ACCESS = new Set(['ReadWriteOnce', 'ReadWriteOncePod']);
// The Deployment controller's default surge.
const DEFAULT_MAX_SURGE = '25%';

/** Whether a Deployment's rolling update starts a new pod before an old one stops. */
function surges(m: Manifest): boolean {
  if (m.kind !== 'Deployment' || m.spec?.strategy?.type === 'Recreate') return false;
  const maxSurge = m.spec?.strategy?.rollingUpdate?.maxSurge ?? DEFAULT_MAX_SURGE;
  return (typeof maxSurge === 'number' || typeof maxSurge === 'string') && resolveCountOrPercent(maxSurge, Math.max(1, m.spec?.replicas ?? 1), true) > 0;
}

// ingress-nginx's canary annotations (a canary Ingress takes a share of the stable Ingress of the same host and path).
const CANARY = 'nginx.ingress.kubernetes.io/canary';
const CANARY_WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';

function isCanaryIngress(m: Manifest): boolean {
  return m.kind === 'Ingress' && m.metadata.annotations?.[CANARY] === 'true';
}

/** Every host and path an Ingress routes (an empty host for rules without one). */
function ingressRoutes(m: Manifest): { host: string; path: string }[] {
  const rules: any[] = Array.isArray(m.spec?.rules) ? m.spec.rules : [];
  return rules.flatMap((r) => (Array.isArray(r?.http?.paths) ? r.http.paths : []).map((p: any) => ({ host: String(r.host ?? ''), path: String(p?.path ?? '/') })));
}

/** The other Ingresses of the same namespace and class that route the host and path. */
function routeOwners(index: ManifestIndex, m: Manifest, route: { host: string; path: string }): Manifest[] {
  return index
    .ofKind('Ingress', m.metadata.namespace)
    .filter((o) => o !== m && o.spec?.ingressClassName === m.spec?.ingressClassName && ingressRoutes(o).some((r) => r.host === route.host && r.path === route.path));
}

export const RULES: readonly PolicyRule[] = [
  {
    id: 'container-resources',
    severity: 'error',
    description: 'every container requests CPU and memory and has a memory limit, so the scheduler can place it and a leak cannot take the node down',
    check: perContainer((ref) => {
      const r = ref.container.resources ?? {};
      const missing = [
        // A zero (or unreadable) amount is as good as none: the scheduler places nothing by it, a 0 limit kills the container.
        !isPositiveQuantity(r.requests?.cpu) && 'requests.cpu',
        !isPositiveQuantity(r.requests?.memory) && 'requests.memory',
        !isPositiveQuantity(r.limits?.memory) && 'limits.memory',
      ].filter(Boolean);
      if (missing.length === 0) return undefined;
      return { message: `${containerName(ref)} has no ${missing.join(', ')} above zero`, fix: 'set resources (cpu request, memory request and memory limit, each above zero) on the container' };
    }),
  },
  {
    id: 'container-probes',
    severity: 'error',
    description: 'every long-running container has a liveness and a readiness probe, so hung pods restart and unready pods get no traffic',
    check: perContainer((ref) => {
      if (ref.init) return undefined;
      const missing = [!ref.container.livenessProbe && 'livenessProbe', !ref.container.readinessProbe && 'readinessProbe'].filter(Boolean);
      if (missing.length === 0) return undefined;
      return { message: `${containerName(ref)} has no ${missing.join(' and no ')}`, fix: 'add liveness and readiness probes (HTTP, TCP or exec)' };
    }, LONG_RUNNING_KINDS),
  },
  {
    id: 'image-tag-pinned',
    severity: 'error',
    description: 'every image names a fixed tag or digest, never `latest` or nothing, so a rollout is reproducible and rollback means something',
    check: perContainer((ref) => {
      const image: unknown = ref.container.image ?? '';
      // Known only at deploy time: the constructor's pinned check runs on the resolved value instead.
      if (isDeferred(image)) return undefined;
      const problem = pinnedImageProblem(image);
      if (!problem) return undefined;
      const how = problem.kind === 'invalid' ? `, which is not a valid image reference: ${problem.reason}` : ` ${problem.reason}`;
      return { message: `${containerName(ref)} uses image ${JSON.stringify(image)}${how}`, fix: pinnedImageFix('nginx:1.27.2') };
    }),
  },
  {
    id: 'replicas-spread',
    severity: 'error',
    description: 'a workload that can run two or more pods spreads them over nodes (hostname anti-affinity or topology spread), so one node failure cannot take all of them',
    check: (m, index) => {
      if (!REPLICATED_KINDS.has(m.kind) || index.replicaRange(m).max < 2) return [];
      const template = podTemplateOf(m)!;
      const labels = template.metadata?.labels;
      const affinity = template.spec?.affinity?.podAntiAffinity;
      const terms = [...(affinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []), ...(affinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t: any) => t.podAffinityTerm)];
      const antiAffinity = terms.some((t: any) => t?.topologyKey === HOSTNAME_TOPOLOGY_KEY && selectorMatches(t.labelSelector, labels));
      const spread = (template.spec?.topologySpreadConstraints ?? []).some((c: any) => c.topologyKey === HOSTNAME_TOPOLOGY_KEY && selectorMatches(c.labelSelector, labels));
      if (antiAffinity || spread) return [];
      return [
        {
          message: `pods can run ${index.replicaRange(m).max} replicas but nothing keeps them on different nodes`,
          fix: `add podAntiAffinity (preferred or required) or a topologySpreadConstraint on "${HOSTNAME_TOPOLOGY_KEY}" selecting the pod's own labels`,
        },
      ];
    },
  },
  {
    id: 'disruption-budget',
    severity: 'error',
    description: 'a workload that can run two or more pods has a PodDisruptionBudget that selects them and still allows an eviction at its minimum size, so drains neither take it down nor hang',
    check: (m, index) => {
      if (!REPLICATED_KINDS.has(m.kind)) return [];
      const range = index.replicaRange(m);
      if (range.max < 2) return [];
      const labels = podTemplateOf(m)!.metadata?.labels;
      const budgets = index.selecting('PodDisruptionBudget', m.metadata.namespace, labels);
      if (budgets.length === 0) {
        return [{ message: 'no PodDisruptionBudget selects its pods', fix: 'add a PodDisruptionBudget (maxUnavailable: 1) selecting the pod labels' }];
      }
      if (budgets.length > 1) {
        return [{ message: `${budgets.length} PodDisruptionBudgets select its pods; the eviction API refuses to evict pods with more than one`, fix: 'keep one PodDisruptionBudget per workload' }];
      }
      const budget = budgets[0];
      if (!budgetAllowsEviction(budget, range.min)) {
        const hpa = index.autoscalerFor(m) ? ` (the HPA's minReplicas)` : '';
        return [
          {
            message: `PodDisruptionBudget ${budget.metadata.name} allows no eviction at ${range.min} replicas${hpa}: ${JSON.stringify({ minAvailable: budget.spec.minAvailable, maxUnavailable: budget.spec.maxUnavailable })}`,
            fix: `use maxUnavailable: 1, or a minAvailable below ${range.min}`,
          },
        ];
      }
      return [];
    },
  },
  {
    id: 'pod-security',
    severity: 'error',
    description: 'containers run as non-root, unprivileged and without privilege escalation',
    check: perContainer((ref, podSpec) => {
      const sc = ref.container.securityContext ?? {};
      const nonRoot = sc.runAsNonRoot ?? podSpec.securityContext?.runAsNonRoot;
      const rootUser = (sc.runAsUser ?? podSpec.securityContext?.runAsUser) === 0;
      const problems = [(nonRoot !== true || rootUser) && 'may run as root', sc.allowPrivilegeEscalation !== false && 'allows privilege escalation', sc.privileged === true && 'is privileged'].filter(
        Boolean,
      );
      if (problems.length === 0) return undefined;
      return { message: `${containerName(ref)} ${problems.join(', ')}`, fix: 'set securityContext runAsNonRoot: true, allowPrivilegeEscalation: false and privileged: false' };
    }),
  },
  {
    id: 'secret-env-plaintext',
    severity: 'error',
    description:
      'nothing that reaches a container process holds a credential in plain text: no credential-named environment variable with a literal value or a ConfigMap source, no password in a URL, no token-shaped value, no `--password=…` or `PASSWORD=…` in the command line, args or probe commands',
    check: (m) => {
      const template = podTemplateOf(m);
      return template ? containersOf(template.spec).flatMap(containerCredentials) : [];
    },
  },
  {
    id: 'configmap-credentials',
    severity: 'error',
    description:
      'ConfigMaps hold no credentials: no credential-named key with a literal value, and no password, token or `password=`/`"password":`/`password:` assignment inside the files they carry (properties, ini, env, JSON, YAML); ConfigMaps are written to Git and readable by anyone who can read the namespace',
    check: (m) => {
      if (m.kind !== 'ConfigMap') return [];
      const data: Record<string, string> = m.data ?? {};
      return Object.entries(data).flatMap(([key, value]) =>
        perSubject(
          scanVariable(key, String(value), { lines: true }).map((f) => ({ ...f, subject: key })),
          () => `key ${key}`,
          'move the credential to a Secret created outside Git and reference it by name (the file can read it from an environment variable or a mounted Secret)',
        ),
      );
    },
  },
  {
    id: 'configmap-keys',
    severity: 'error',
    description:
      'ConfigMap keys are keys the API server accepts (letters, digits, "-", "_" or ".", at most 253 characters, not "." or ".." or starting with ".."), each in data or binaryData but not both; cdk8s-plus writes any key, and the API server refuses the whole object at apply',
    check: (m) => {
      if (m.kind !== 'ConfigMap') return [];
      const data = Object.keys(m.data ?? {});
      const binary = Object.keys(m.binaryData ?? {});
      const findings: RuleFinding[] = [...data.map((k) => ['data', k]), ...binary.map((k) => ['binaryData', k])].flatMap(([field, key]) => {
        const problem = configMapKeyProblem(key);
        return problem ? [{ message: `${field} key ${JSON.stringify(key)} is refused by the API server: ${problem}`, fix: 'rename the key, e.g. "app.properties" or "LOG_LEVEL"', subject: key }] : [];
      });
      for (const key of binary.filter((k) => data.includes(k))) {
        findings.push({ message: `key ${JSON.stringify(key)} is in both data and binaryData, which the API server refuses`, fix: 'keep each key in one of them', subject: key });
      }
      return findings;
    },
  },
  {
    id: 'credential-in-manifest',
    severity: 'error',
    description:
      'no other field of any object (annotations, labels, URLs in specs) holds a credential: a credential-named annotation with a literal value, a password in a URL, a token or private key',
    check: (m) => {
      const found = scanDocument(m, (path) => judgedElsewhere(m, path) || EXEMPTION_KEY.test(path.includes('annotations.') ? path.replace(/^.*annotations\./, '') : path));
      const at = new Map(found.map((f) => [f.subject ?? f.path, f.path]));
      return perSubject(
        found.map((f) => ({ ...f, subject: f.subject ?? f.path })),
        (s) => `field ${at.get(s!)}${at.get(s!) === s ? '' : ` (${s})`}`,
        'keep credentials out of the object: reference a Secret by name',
      );
    },
  },
  {
    id: 'yaml-line-separators',
    severity: 'error',
    description: 'no key or value holds U+0085, U+2028 or U+2029: kubectl and other YAML 1.1 readers fold them into a space, even escaped, so the object would not mean what it says',
    check: (m) => {
      if (!holdsLineSeparator(m)) return [];
      const found: string[] = [];
      const walk = (value: unknown, path: string): void => {
        if (typeof value === 'string') {
          if (LINE_SEPARATORS.test(value)) found.push(path);
        } else if (Array.isArray(value)) {
          value.forEach((v, i) => walk(v, `${path}[${i}]`));
        } else if (value !== null && typeof value === 'object') {
          for (const [k, v] of Object.entries(value)) {
            const at = path ? `${path}.${k}` : k;
            if (LINE_SEPARATORS.test(k)) found.push(JSON.stringify(at));
            walk(v, at);
          }
        }
      };
      walk(m, '');
      return found.map((path) => ({
        message: `field ${path} holds U+0085, U+2028 or U+2029, which kubectl's YAML reader turns into a space`,
        fix: 'remove the character (write \\n for a line break)',
      }));
    },
  },
  {
    id: 'secret-data-inline',
    severity: 'error',
    description: 'no Secret is written with its data: synthesized files go to Git, secrets are created by a secret manager and referenced by name',
    check: (m) => {
      if (m.kind !== 'Secret' || (Object.keys(m.data ?? {}).length === 0 && Object.keys(m.stringData ?? {}).length === 0)) return [];
      return [{ message: 'the Secret carries its values in the manifest', fix: 'create the Secret outside Git (External Secrets, Sealed Secrets, the cloud secret store) and reference it by name' }];
    },
  },
  {
    id: 'service-load-balancer',
    severity: 'error',
    description: 'a Service is of type LoadBalancer only when asked for: each one is a paid cloud load balancer and a public entry point',
    check: (m) => {
      if (m.kind !== 'Service' || m.spec?.type !== 'LoadBalancer') return [];
      return [{ message: 'the Service is of type LoadBalancer', fix: 'use ClusterIP behind an Ingress, or ask for a load balancer explicitly (it is then exempted with the reason)' }];
    },
  },
  {
    id: 'service-selects-pods',
    severity: 'error',
    description: 'a Service selector matches the pods of a workload in the same output, so it never silently routes nowhere',
    check: (m, index) => {
      if (m.kind !== 'Service' || !m.spec?.selector || Object.keys(m.spec.selector).length === 0) return [];
      const selector = { matchLabels: m.spec.selector };
      const matched = index.selectsPodTemplate(m.metadata.namespace, selector);
      if (matched) return [];
      return [{ message: `selector ${JSON.stringify(m.spec.selector)} matches no pod template in namespace ${m.metadata.namespace}`, fix: "make the selector equal to the workload's pod labels" }];
    },
  },
  {
    id: 'autoscaler-target',
    severity: 'error',
    description: 'an HPA scales a workload that exists in the same output and whose containers request the resources it scales on',
    check: (m, index) => {
      if (m.kind !== 'HorizontalPodAutoscaler') return [];
      const ref = m.spec?.scaleTargetRef ?? {};
      const target = index.ofKind(ref.kind, m.metadata.namespace).find((t) => t.metadata.name === ref.name);
      if (!target) return [{ message: `scale target ${ref.kind}/${ref.name} is not in namespace ${m.metadata.namespace}`, fix: 'point scaleTargetRef at a workload of the same stack' }];
      const resources: string[] = (m.spec.metrics ?? []).filter((x: any) => x.type === 'Resource').map((x: any) => x.resource.name);
      const findings: RuleFinding[] = [];
      for (const ref2 of containersOf(podTemplateOf(target)?.spec).filter((c) => !c.init)) {
        for (const r of resources) {
          // Utilization is usage divided by the request: a zero request gives the HPA nothing to divide by.
          if (!isPositiveQuantity(ref2.container.resources?.requests?.[r])) {
            findings.push({
              message: `scales on ${r} utilization but ${containerName(ref2)} of ${ref.kind}/${ref.name} requests no ${r} above zero`,
              fix: `set a ${r} request above zero on every container of the target`,
            });
          }
        }
      }
      if (target.spec?.replicas !== undefined) {
        findings.push({ message: `${ref.kind}/${ref.name} also sets spec.replicas, so every apply resets the HPA's decision`, fix: 'leave replicas out of an autoscaled workload' });
      }
      return findings;
    },
  },
  {
    id: 'rbac-no-wildcards',
    severity: 'error',
    description: "RBAC rules name their API groups, resources and verbs: '*' grants everything, including what is added later",
    check: (m) => {
      if (m.kind !== 'Role' && m.kind !== 'ClusterRole') return [];
      return (m.rules ?? []).flatMap((rule: any, i: number) => {
        const fields = ['apiGroups', 'resources', 'verbs', 'nonResourceURLs'].filter((f) => (rule[f] ?? []).some((v: string) => v === '*' || v.endsWith('/*')));
        return fields.length === 0 ? [] : [{ message: `rule ${i} uses a wildcard in ${fields.join(', ')}`, fix: 'list the API groups, resources and verbs the subject needs' }];
      });
    },
  },
  {
    id: 'autoscaler-metrics',
    severity: 'error',
    description: "an HPA has the resource metrics API (metrics-server's APIService v1beta1.metrics.k8s.io) in the same output; without it the HPA never scales",
    check: (m, index) => {
      if (m.kind !== 'HorizontalPodAutoscaler') return [];
      const usesResourceMetrics = (m.spec?.metrics ?? [{ type: 'Resource' }]).some((x: any) => x.type === 'Resource' || x.type === 'ContainerResource');
      if (!usesResourceMetrics || index.ofKind('APIService').some((a) => a.metadata.name === 'v1beta1.metrics.k8s.io')) return [];
      return [
        {
          message: 'scales on CPU/memory but no metrics-server (APIService v1beta1.metrics.k8s.io) is part of the output',
          fix: 'add a MetricsServer to the stack, or exempt the HPA with the reason (e.g. the managed cluster ships metrics-server)',
        },
      ];
    },
  },
  {
    id: 'rbac-cluster-admin',
    severity: 'error',
    description: 'nothing is bound to the cluster-admin ClusterRole unless it is asked for with a reason, which the synth summary then lists',
    check: (m) => {
      if ((m.kind !== 'ClusterRoleBinding' && m.kind !== 'RoleBinding') || m.roleRef?.kind !== 'ClusterRole' || m.roleRef?.name !== 'cluster-admin') return [];
      return [
        {
          message: `binds ${(m.subjects ?? []).map((s: any) => `${s.kind} ${s.name}`).join(', ') || 'its subjects'} to cluster-admin`,
          fix: 'bind a namespaced Role with the verbs and resources needed (TeamAccess presets), or opt in explicitly with a reason',
        },
      ];
    },
  },
  {
    id: 'canary-unique',
    severity: 'error',
    description:
      'at most one ingress-nginx canary Ingress (nginx.ingress.kubernetes.io/canary: "true") answers for a host and path of an IngressClass: the controller applies only one of them, and which one is not defined',
    check: (m, index) => {
      if (!isCanaryIngress(m)) return [];
      // Reported on every canary after the first (in object order), so each clash is one finding.
      const ingresses = index.ofKind('Ingress', m.metadata.namespace);
      const at = ingresses.indexOf(m);
      return ingressRoutes(m).flatMap((route) => {
        const earlier = routeOwners(index, m, route).filter((o) => isCanaryIngress(o) && ingresses.indexOf(o) < at);
        return earlier.length === 0
          ? []
          : [
              {
                message: `${route.host || '<any host>'}${route.path} already has the canary Ingress ${earlier.map((o) => o.metadata.name).join(', ')}`,
                fix: 'keep one canary per host and path (finish or remove the other canary release first)',
                subject: `${route.host}${route.path}`,
              },
            ];
      });
    },
  },
  {
    id: 'canary-ingress',
    severity: 'error',
    description:
      'an ingress-nginx canary Ingress has a stable (non-canary) Ingress of the same class for each of its hosts and paths, which it takes a share of, and a canary-weight that is an integer from 0 to 100: ingress-nginx ignores a canary without a stable Ingress',
    check: (m, index) => {
      if (!isCanaryIngress(m)) return [];
      const findings: RuleFinding[] = ingressRoutes(m).flatMap((route) =>
        routeOwners(index, m, route).some((o) => !isCanaryIngress(o))
          ? []
          : [
              {
                message: `no stable Ingress of class ${m.spec?.ingressClassName ?? '<default>'} answers for ${route.host || '<any host>'}${route.path}, so the canary receives nothing`,
                fix: 'add the stable Ingress for the same host and path (WorkloadIngress), or use a CanaryRelease with it',
                subject: `${route.host}${route.path}`,
              },
            ],
      );
      const annotations = m.metadata.annotations ?? {};
      const weight = annotations[CANARY_WEIGHT];
      if (weight !== undefined && annotations[`${CANARY_WEIGHT}-total`] === undefined && !/^(100|[1-9]?[0-9])$/.test(weight)) {
        findings.push({ message: `${CANARY_WEIGHT} is ${JSON.stringify(weight)}, not an integer from 0 to 100`, fix: 'write the percentage of requests for the canary, e.g. "10"' });
      }
      return findings;
    },
  },
  {
    id: 'ingress-tls',
    severity: 'error',
    description:
      'an Ingress takes its TLS certificate from a Secret referenced by name (created outside Git, or issued by cert-manager), never from key material in the output: every tls entry names a secretName, no Secret of that name is written with data, and a cert-manager issuer annotation comes with a tls entry to issue into',
    check: (m, index) => {
      if (m.kind !== 'Ingress') return [];
      const tls: any[] = Array.isArray(m.spec?.tls) ? m.spec.tls : [];
      const findings: RuleFinding[] = [];
      tls.forEach((entry, i) => {
        if (typeof entry?.secretName !== 'string' || entry.secretName === '') {
          findings.push({
            message: `tls[${i}] names no secretName, so the controller serves its default self-signed certificate`,
            fix: 'name the TLS Secret (created outside Git, or by cert-manager)',
          });
          return;
        }
        const secret = index.ofKind('Secret', m.metadata.namespace).find((s) => s.metadata.name === entry.secretName);
        if (secret && (Object.keys(secret.data ?? {}).length > 0 || Object.keys(secret.stringData ?? {}).length > 0)) {
          findings.push({
            message: `tls[${i}] uses Secret ${entry.secretName}, which carries its certificate and key in the output`,
            fix: 'create the TLS Secret outside Git, or let cert-manager issue it (tls.clusterIssuer of WorkloadIngress)',
          });
        }
      });
      const annotations = m.metadata.annotations ?? {};
      const issuer = annotations['cert-manager.io/cluster-issuer'] ?? annotations['cert-manager.io/issuer'];
      if (issuer !== undefined && !tls.some((t) => typeof t?.secretName === 'string' && t.secretName !== '')) {
        findings.push({
          message: `asks cert-manager issuer ${JSON.stringify(issuer)} for a certificate but has no tls entry with a secretName to issue it into`,
          fix: 'add spec.tls with the hosts and a secretName',
        });
      }
      return findings;
    },
  },
  {
    id: 'volume-claim-access',
    severity: 'error',
    description:
      'a workload whose pods can run on two nodes at once (two or more replicas, a DaemonSet, or a rolling update that starts a surge pod) mounts no PersistentVolumeClaim of the same output that only one node can attach (ReadWriteOnce, ReadWriteOncePod): the pods on other nodes hang in ContainerCreating with a Multi-Attach error',
    check: (m, index) => {
      const template = podTemplateOf(m);
      if (!template || !LONG_RUNNING_KINDS.has(m.kind)) return [];
      const pods = m.kind === 'DaemonSet' ? 'one pod per node' : REPLICATED_KINDS.has(m.kind) && index.replicaRange(m).max >= 2 ? `up to ${index.replicaRange(m).max} pods` : undefined;
      const why = pods ?? (surges(m) ? 'a surge pod during each rolling update' : undefined);
      if (why === undefined) return [];
      const claims = index.ofKind('PersistentVolumeClaim', m.metadata.namespace);
      return (Array.isArray(template.spec?.volumes) ? template.spec.volumes : []).flatMap((v: any) => {
        const name = v?.persistentVolumeClaim?.claimName;
        const modes: unknown[] = claims.find((c) => c.metadata.name === name)?.spec?.accessModes ?? [];
        if (modes.length === 0 || !modes.every((a) => SINGLE_NODE_ACCESS.has(String(a)))) return [];
        return [
          {
            message: `mounts PersistentVolumeClaim ${name} (${modes.join(', ')}) in ${why}, but only one node can attach it`,
            fix: 'use a ReadWriteMany (or ReadOnlyMany) claim, a StatefulSet with volumeClaimTemplates for a volume per pod, or one replica with strategy Recreate',
            subject: name,
          },
        ];
      });
    },
  },
  {
    id: 'workload-identity',
    severity: 'error',
    description:
      'a ServiceAccount\'s cloud identity annotation has the cloud\'s form (an IAM role ARN, a Google service account e-mail, a client id UUID), and the pods of such a ServiceAccount in the same output get what the cloud needs: GKE Workload Identity the ServiceAccount token (automountServiceAccountToken not false), Azure Workload Identity the pod label azure.workload.identity/use: "true"',
    check: (m, index) => {
      if (m.kind === 'ServiceAccount') {
        const annotations = m.metadata.annotations ?? {};
        return identityClouds(annotations).flatMap((cloud) => {
          const key = WORKLOAD_IDENTITY_ANNOTATIONS[cloud];
          // Known only at deploy time: the constructor's check runs on the resolved value instead.
          const problem = isDeferred(annotations[key]) ? undefined : identityProblem(cloud, annotations[key]);
          return problem ? [{ message: `annotation ${key} is ${JSON.stringify(annotations[key])}, not ${problem.form}`, fix: `write it as "${problem.example}"`, subject: key }] : [];
        });
      }
      const template = podTemplateOf(m);
      if (!template) return [];
      const accountName = template.spec?.serviceAccountName ?? 'default';
      const account = index.ofKind('ServiceAccount', m.metadata.namespace).find((a) => a.metadata.name === accountName);
      const clouds = identityClouds(account?.metadata.annotations);
      const findings: RuleFinding[] = [];
      if (clouds.includes('gcp') && (template.spec?.automountServiceAccountToken ?? account!.automountServiceAccountToken ?? true) === false) {
        findings.push({
          message: `runs as ServiceAccount ${accountName}, which names a GKE Workload Identity, without its token: the GKE metadata server gives such pods no Google credentials`,
          fix: 'set automountServiceAccountToken: true on the pod spec',
        });
      }
      if (clouds.includes('azure') && template.metadata?.labels?.[AZURE_WORKLOAD_IDENTITY_LABEL] !== 'true') {
        findings.push({
          message: `runs as ServiceAccount ${accountName}, which names an Azure Workload Identity, but its pods lack the label ${AZURE_WORKLOAD_IDENTITY_LABEL}: "true", so the webhook injects no token`,
          fix: `label the pod template ${AZURE_WORKLOAD_IDENTITY_LABEL}: "true"`,
        });
      }
      return findings;
    },
  },
  {
    id: 'host-path-volume',
    severity: 'warning',
    description: "pods mount no hostPath volumes: a hostPath ties the pod to the node and exposes the node's files, so the few agents that need one (log collectors) declare it",
    check: (m) => {
      const template = podTemplateOf(m);
      const paths = (template?.spec?.volumes ?? []).filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path);
      if (paths.length === 0) return [];
      return [{ message: `mounts host paths ${paths.join(', ')}`, fix: "use a PersistentVolumeClaim or emptyDir, or declare the exemption with the reason the pod needs the node's files" }];
    },
  },
  {
    id: 'single-replica',
    severity: 'warning',
    description: 'a workload with one replica and no autoscaler is down while its node fails or drains',
    check: (m, index) => {
      if (!REPLICATED_KINDS.has(m.kind) || index.replicaRange(m).max !== 1) return [];
      return [{ message: 'runs a single replica: a node failure or drain means downtime', fix: 'run two or more replicas where availability matters' }];
    },
  },
];
