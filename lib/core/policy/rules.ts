import { resolveCountOrPercent } from '../quantities';
import { ContainerRef, LONG_RUNNING_KINDS, Manifest, ManifestIndex, REPLICATED_KINDS, containersOf, podTemplateOf, selectorMatches } from './manifest';

/** One problem a rule found in one object. */
export interface RuleFinding {
  /** What is wrong. */
  readonly message: string;
  /** How to fix it. */
  readonly fix: string;
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

const HOSTNAME = 'kubernetes.io/hostname';

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

/** Splits an image reference into its tag and digest (either may be absent). */
export function imageReference(image: string): { tag?: string; digest?: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const named = at >= 0 ? image.slice(0, at) : image;
  const lastSlash = named.lastIndexOf('/');
  const colon = named.indexOf(':', lastSlash + 1);
  return { tag: colon >= 0 ? named.slice(colon + 1) : undefined, digest };
}

// Names that usually carry credentials (PASSWORD, DB_PASS, API_TOKEN, AWS_SECRET_ACCESS_KEY, PRIVATE_KEY...).
const SECRET_NAME = /(pass(word|wd)?|secret|token|credential|(^|[_-])(api|access|private|secret|signing|encryption)?[_-]?key($|[_-]))/i;

// scheme://user:password@host — a credential in a connection string.
const URL_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i;

/** Whether a PodDisruptionBudget lets at least one pod be evicted when the workload runs `replicas` pods. */
export function budgetAllowsEviction(pdb: any, replicas: number): boolean {
  const spec = pdb.spec ?? {};
  // The disruption controller rounds both fields up.
  if (spec.maxUnavailable !== undefined) return resolveCountOrPercent(spec.maxUnavailable, replicas, true) >= 1;
  if (spec.minAvailable !== undefined) return resolveCountOrPercent(spec.minAvailable, replicas, true) < replicas;
  return true;
}

export const RULES: readonly PolicyRule[] = [
  {
    id: 'container-resources',
    severity: 'error',
    description: 'every container requests CPU and memory and has a memory limit, so the scheduler can place it and a leak cannot take the node down',
    check: perContainer((ref) => {
      const r = ref.container.resources ?? {};
      const missing = [
        r.requests?.cpu === undefined && 'requests.cpu',
        r.requests?.memory === undefined && 'requests.memory',
        r.limits?.memory === undefined && 'limits.memory',
      ].filter(Boolean);
      if (missing.length === 0) return undefined;
      return { message: `${containerName(ref)} has no ${missing.join(', ')}`, fix: 'set resources (cpu request, memory request and memory limit) on the container' };
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
      const image: string = ref.container.image ?? '';
      const { tag, digest } = imageReference(image);
      if (digest) return undefined;
      if (tag && tag !== 'latest') return undefined;
      return { message: `${containerName(ref)} uses image "${image}" ${tag ? 'tagged latest' : 'without a tag'}`, fix: 'pin the image to a version tag or a sha256 digest, e.g. "nginx:1.27.2"' };
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
      const terms = [
        ...(affinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        ...(affinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t: any) => t.podAffinityTerm),
      ];
      const antiAffinity = terms.some((t: any) => t?.topologyKey === HOSTNAME && selectorMatches(t.labelSelector, labels));
      const spread = (template.spec?.topologySpreadConstraints ?? []).some(
        (c: any) => c.topologyKey === HOSTNAME && selectorMatches(c.labelSelector, labels),
      );
      if (antiAffinity || spread) return [];
      return [{
        message: `pods can run ${index.replicaRange(m).max} replicas but nothing keeps them on different nodes`,
        fix: `add podAntiAffinity (preferred or required) or a topologySpreadConstraint on "${HOSTNAME}" selecting the pod's own labels`,
      }];
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
        return [{
          message: `PodDisruptionBudget ${budget.metadata.name} allows no eviction at ${range.min} replicas${hpa}: ${JSON.stringify({ minAvailable: budget.spec.minAvailable, maxUnavailable: budget.spec.maxUnavailable })}`,
          fix: `use maxUnavailable: 1, or a minAvailable below ${range.min}`,
        }];
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
      const problems = [
        (nonRoot !== true || rootUser) && 'may run as root',
        sc.allowPrivilegeEscalation !== false && 'allows privilege escalation',
        sc.privileged === true && 'is privileged',
      ].filter(Boolean);
      if (problems.length === 0) return undefined;
      return { message: `${containerName(ref)} ${problems.join(', ')}`, fix: 'set securityContext runAsNonRoot: true, allowPrivilegeEscalation: false and privileged: false' };
    }),
  },
  {
    id: 'secret-env-plaintext',
    severity: 'error',
    description: 'environment variables whose name looks like a credential take their value from a Secret, never from plain text or a ConfigMap, and no value embeds user:password in a URL',
    check: perContainer((ref) => {
      const env: any[] = ref.container.env ?? [];
      const plain = env.filter((e) => SECRET_NAME.test(e.name) && typeof e.value === 'string' && e.value !== '');
      const fromConfigMap = env.filter((e) => SECRET_NAME.test(e.name) && e.valueFrom?.configMapKeyRef);
      const inUrl = env.filter((e) => typeof e.value === 'string' && URL_CREDENTIALS.test(e.value));
      const problems = [
        plain.length > 0 && `sets ${plain.map((e) => e.name).join(', ')} in plain text`,
        fromConfigMap.length > 0 && `takes ${fromConfigMap.map((e) => e.name).join(', ')} from a ConfigMap, which is stored and shown in plain text`,
        inUrl.length > 0 && `embeds a password in the URL of ${inUrl.map((e) => e.name).join(', ')}`,
      ].filter(Boolean);
      if (problems.length === 0) return undefined;
      return { message: `${containerName(ref)} ${problems.join('; ')}`, fix: 'reference the value from a Secret (valueFrom.secretKeyRef or envFrom a Secret)' };
    }),
  },
  {
    id: 'configmap-credentials',
    severity: 'error',
    description: 'ConfigMaps hold no credentials: no key named like one, no user:password in a URL; ConfigMaps are written to Git and readable by anyone who can read the namespace',
    check: (m) => {
      if (m.kind !== 'ConfigMap') return [];
      const data: Record<string, string> = m.data ?? {};
      const keys = Object.keys(data).filter((k) => SECRET_NAME.test(k));
      const urls = Object.keys(data).filter((k) => URL_CREDENTIALS.test(data[k]));
      if (keys.length === 0 && urls.length === 0) return [];
      return [{
        message: [keys.length > 0 && `keys ${keys.join(', ')} look like credentials`, urls.length > 0 && `${urls.join(', ')} embed a password in a URL`].filter(Boolean).join('; '),
        fix: 'move the credentials to a Secret created outside Git and reference it by name',
      }];
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
          if (ref2.container.resources?.requests?.[r] === undefined) {
            findings.push({ message: `scales on ${r} utilization but ${containerName(ref2)} of ${ref.kind}/${ref.name} requests no ${r}`, fix: `set a ${r} request on every container of the target` });
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
    description: 'an HPA has the resource metrics API (metrics-server\'s APIService v1beta1.metrics.k8s.io) in the same output; without it the HPA never scales',
    check: (m, index) => {
      if (m.kind !== 'HorizontalPodAutoscaler') return [];
      const usesResourceMetrics = (m.spec?.metrics ?? [{ type: 'Resource' }]).some((x: any) => x.type === 'Resource' || x.type === 'ContainerResource');
      if (!usesResourceMetrics || index.ofKind('APIService').some((a) => a.metadata.name === 'v1beta1.metrics.k8s.io')) return [];
      return [{ message: 'scales on CPU/memory but no metrics-server (APIService v1beta1.metrics.k8s.io) is part of the output', fix: 'add a MetricsServer to the stack, or exempt the HPA with the reason (e.g. the managed cluster ships metrics-server)' }];
    },
  },
  {
    id: 'rbac-cluster-admin',
    severity: 'error',
    description: 'nothing is bound to the cluster-admin ClusterRole unless it is asked for with a reason, which the synth summary then lists',
    check: (m) => {
      if ((m.kind !== 'ClusterRoleBinding' && m.kind !== 'RoleBinding') || m.roleRef?.kind !== 'ClusterRole' || m.roleRef?.name !== 'cluster-admin') return [];
      return [{ message: `binds ${(m.subjects ?? []).map((s: any) => `${s.kind} ${s.name}`).join(', ') || 'its subjects'} to cluster-admin`, fix: 'bind a namespaced Role with the verbs and resources needed (TeamAccess presets), or opt in explicitly with a reason' }];
    },
  },
  {
    id: 'host-path-volume',
    severity: 'warning',
    description: 'pods mount no hostPath volumes: a hostPath ties the pod to the node and exposes the node\'s files, so the few agents that need one (log collectors) declare it',
    check: (m) => {
      const template = podTemplateOf(m);
      const paths = (template?.spec?.volumes ?? []).filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path);
      if (paths.length === 0) return [];
      return [{ message: `mounts host paths ${paths.join(', ')}`, fix: 'use a PersistentVolumeClaim or emptyDir, or declare the exemption with the reason the pod needs the node\'s files' }];
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
