/** A synthesized Kubernetes object as plain JSON. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [key: string]: any;
}

/** `Kind namespace/name` (or `Kind name` when cluster-scoped): how reports refer to an object. */
export function describe(m: Manifest): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;
}

// Workload kinds whose pods run until stopped; probes and spreading apply to these.
export const LONG_RUNNING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);
// Kinds whose replica count can exceed one and so need spreading and a disruption budget.
export const REPLICATED_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

/** The pod template spec of a workload, or `undefined` for objects without pods. */
export function podTemplateOf(m: Manifest): { metadata?: { labels?: Record<string, string> }; spec: any } | undefined {
  switch (m.kind) {
    case 'Pod':
      return { metadata: m.metadata, spec: m.spec };
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return m.spec?.template;
    case 'CronJob':
      return m.spec?.jobTemplate?.spec?.template;
    default:
      return undefined;
  }
}

/** A container of a pod spec with where it sits. */
export interface ContainerRef {
  readonly container: any;
  readonly init: boolean;
}

export function containersOf(podSpec: any): ContainerRef[] {
  return [...(podSpec?.initContainers ?? []).map((container: any) => ({ container, init: true })), ...(podSpec?.containers ?? []).map((container: any) => ({ container, init: false }))];
}

/** Whether a label selector (`matchLabels` + `matchExpressions`) selects the given labels. */
export function selectorMatches(selector: any, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const have = labels ?? {};
  const matchLabels: Record<string, string> = selector.matchLabels ?? {};
  const expressions: any[] = selector.matchExpressions ?? [];
  if (Object.keys(matchLabels).length === 0 && expressions.length === 0) return false;
  for (const [k, v] of Object.entries(matchLabels)) if (have[k] !== v) return false;
  for (const e of expressions) {
    const value = have[e.key];
    switch (e.operator) {
      case 'In':
        if (value === undefined || !e.values?.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && e.values?.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

// Key of the lookups that span every namespace (a query without a namespace).
const ALL_NAMESPACES = Symbol('all namespaces');

/** Label selectors of one kind, each filed under one of its matchLabels pairs, so a look-up by pod labels touches only candidates. */
interface SelectorBuckets {
  readonly objects: readonly Manifest[];
  readonly byPair: Map<string, Map<unknown, number[]>>;
  /** Objects whose selector has no matchLabels: always candidates. */
  readonly unindexed: number[];
}

/**
 * The objects of one synthesis, indexed for the cross-object rules. Look-ups are
 * hash-based (built on first use), so a policy run stays linear in the number of
 * objects; every answer is the one a full scan in object order would give.
 * Returned arrays are shared: callers must not modify them.
 */
export class ManifestIndex {
  private readonly byKind = new Map<string, Manifest[]>();
  private readonly byKindNamespace = new Map<string, Map<string | undefined, Manifest[]>>();
  private autoscalers?: Map<string | undefined | typeof ALL_NAMESPACES, Map<unknown, Map<unknown, Manifest>>>;
  private podTemplates?: Map<unknown, Map<string, Map<unknown, Manifest[]>>>;
  private readonly selectors = new Map<string, Map<string | undefined | typeof ALL_NAMESPACES, SelectorBuckets>>();

  constructor(public readonly all: readonly Manifest[]) {
    for (const m of all) {
      const list = this.byKind.get(m.kind) ?? [];
      list.push(m);
      this.byKind.set(m.kind, list);
    }
  }

  /** Objects of a kind, in object order; only those of `namespace` when it is given. */
  public ofKind(kind: string, namespace?: string): Manifest[] {
    const list = this.byKind.get(kind) ?? [];
    if (namespace === undefined) return list;
    let byNamespace = this.byKindNamespace.get(kind);
    if (!byNamespace) {
      byNamespace = new Map();
      for (const m of list) {
        const group = byNamespace.get(m.metadata.namespace);
        if (group) group.push(m);
        else byNamespace.set(m.metadata.namespace, [m]);
      }
      this.byKindNamespace.set(kind, byNamespace);
    }
    return byNamespace.get(namespace) ?? [];
  }

  /** The autoscaler (autoscaling/v2 HPA) whose scale target is `m`. */
  public autoscalerFor(m: Manifest): Manifest | undefined {
    if (!this.autoscalers) {
      this.autoscalers = new Map();
      for (const h of this.ofKind('HorizontalPodAutoscaler')) {
        const ref = h.spec?.scaleTargetRef;
        const scopes: (string | undefined | typeof ALL_NAMESPACES)[] = [h.metadata.namespace, ALL_NAMESPACES];
        for (const scope of scopes) {
          let byKind = this.autoscalers.get(scope);
          if (!byKind) this.autoscalers.set(scope, (byKind = new Map()));
          let byName = byKind.get(ref?.kind);
          if (!byName) byKind.set(ref?.kind, (byName = new Map()));
          // The first HPA in object order wins, as with a scan.
          if (!byName.has(ref?.name)) byName.set(ref?.name, h);
        }
      }
    }
    const scope = m.metadata.namespace === undefined ? ALL_NAMESPACES : m.metadata.namespace;
    const hpa = this.autoscalers.get(scope)?.get(m.kind)?.get(m.metadata.name);
    return hpa && hpa.spec?.scaleTargetRef?.kind === m.kind && hpa.spec?.scaleTargetRef?.name === m.metadata.name ? hpa : undefined;
  }

  /** Replica bounds of a workload: from its autoscaler when it has one. */
  public replicaRange(m: Manifest): { min: number; max: number } {
    const hpa = this.autoscalerFor(m);
    if (hpa) return { min: hpa.spec.minReplicas ?? 1, max: hpa.spec.maxReplicas };
    const replicas = m.spec?.replicas ?? 1;
    return { min: replicas, max: replicas };
  }

  /** Whether `selector` selects the pod template of some workload (any kind with a pod template except Pod) in `namespace`. */
  public selectsPodTemplate(namespace: string | undefined, selector: any): boolean {
    if (!this.podTemplates) {
      this.podTemplates = new Map();
      for (const w of this.all) {
        const template = w.kind === 'Pod' ? undefined : podTemplateOf(w);
        if (!template) continue;
        let byKey = this.podTemplates.get(w.metadata.namespace);
        if (!byKey) this.podTemplates.set(w.metadata.namespace, (byKey = new Map()));
        const labels = template.metadata?.labels ?? {};
        for (const key of Object.keys(labels)) {
          let byValue = byKey.get(key);
          if (!byValue) byKey.set(key, (byValue = new Map()));
          const list = byValue.get(labels[key]);
          if (list) list.push(w);
          else byValue.set(labels[key], [w]);
        }
      }
    }
    const matchLabels = selector?.matchLabels;
    const pairs = matchLabels && typeof matchLabels === 'object' ? Object.entries(matchLabels) : [];
    if (pairs.length === 0) {
      return this.all.some((w) => w.metadata.namespace === namespace && w.kind !== 'Pod' && podTemplateOf(w) && selectorMatches(selector, podTemplateOf(w)!.metadata?.labels));
    }
    const byKey = this.podTemplates.get(namespace);
    // A workload that matches carries every pair, so it is in the bucket of each: scan the smallest.
    let smallest: Manifest[] | undefined;
    for (const [key, value] of pairs) {
      const bucket = byKey?.get(key)?.get(value);
      if (!bucket) return false;
      if (!smallest || bucket.length < smallest.length) smallest = bucket;
    }
    return smallest!.some((w) => selectorMatches(selector, podTemplateOf(w)!.metadata?.labels));
  }

  /**
   * Objects of `kind` (in `namespace`, or in any when it is undefined) whose `spec.selector`
   * selects `labels`, in object order: e.g. the PodDisruptionBudgets covering a pod template.
   */
  public selecting(kind: string, namespace: string | undefined, labels: Record<string, string> | undefined): Manifest[] {
    let byScope = this.selectors.get(kind);
    if (!byScope) this.selectors.set(kind, (byScope = new Map()));
    const scope = namespace === undefined ? ALL_NAMESPACES : namespace;
    let buckets = byScope.get(scope);
    if (!buckets) {
      const objects = this.ofKind(kind, namespace);
      buckets = { objects, byPair: new Map(), unindexed: [] };
      const pairsOf = (o: Manifest): [string, unknown][] => {
        const matchLabels = o.spec?.selector?.matchLabels;
        return matchLabels && typeof matchLabels === 'object' ? Object.entries(matchLabels) : [];
      };
      // Each selector is filed under its rarest pair (a label shared by every object, like the instance, would make a bucket of all).
      const frequency = new Map<string, Map<unknown, number>>();
      for (const o of objects) {
        for (const [key, value] of pairsOf(o)) {
          let byValue = frequency.get(key);
          if (!byValue) frequency.set(key, (byValue = new Map()));
          byValue.set(value, (byValue.get(value) ?? 0) + 1);
        }
      }
      objects.forEach((o, i) => {
        let rarest: [string, unknown] | undefined;
        for (const pair of pairsOf(o)) {
          if (!rarest || frequency.get(pair[0])!.get(pair[1])! < frequency.get(rarest[0])!.get(rarest[1])!) rarest = pair;
        }
        if (!rarest) {
          buckets!.unindexed.push(i);
          return;
        }
        let byValue = buckets!.byPair.get(rarest[0]);
        if (!byValue) buckets!.byPair.set(rarest[0], (byValue = new Map()));
        const list = byValue.get(rarest[1]);
        if (list) list.push(i);
        else byValue.set(rarest[1], [i]);
      });
      byScope.set(scope, buckets);
    }
    const have = labels ?? {};
    const candidates = [...buckets.unindexed];
    for (const key of Object.keys(have)) {
      const list = buckets.byPair.get(key)?.get(have[key]);
      if (list) for (const i of list) candidates.push(i);
    }
    candidates.sort((a, b) => a - b);
    return candidates.map((i) => buckets!.objects[i]).filter((o) => selectorMatches(o.spec?.selector, labels));
  }
}
