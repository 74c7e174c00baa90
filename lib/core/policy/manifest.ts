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
  return [
    ...(podSpec?.initContainers ?? []).map((container: any) => ({ container, init: true })),
    ...(podSpec?.containers ?? []).map((container: any) => ({ container, init: false })),
  ];
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

/** The objects of one synthesis, indexed for the cross-object rules. */
export class ManifestIndex {
  private readonly byKind = new Map<string, Manifest[]>();

  constructor(public readonly all: readonly Manifest[]) {
    for (const m of all) {
      const list = this.byKind.get(m.kind) ?? [];
      list.push(m);
      this.byKind.set(m.kind, list);
    }
  }

  public ofKind(kind: string, namespace?: string): Manifest[] {
    const list = this.byKind.get(kind) ?? [];
    return namespace === undefined ? list : list.filter((m) => m.metadata.namespace === namespace);
  }

  /** The autoscaler (autoscaling/v2 HPA) whose scale target is `m`. */
  public autoscalerFor(m: Manifest): Manifest | undefined {
    return this.ofKind('HorizontalPodAutoscaler', m.metadata.namespace).find(
      (h) => h.spec?.scaleTargetRef?.kind === m.kind && h.spec?.scaleTargetRef?.name === m.metadata.name,
    );
  }

  /** Replica bounds of a workload: from its autoscaler when it has one. */
  public replicaRange(m: Manifest): { min: number; max: number } {
    const hpa = this.autoscalerFor(m);
    if (hpa) return { min: hpa.spec.minReplicas ?? 1, max: hpa.spec.maxReplicas };
    const replicas = m.spec?.replicas ?? 1;
    return { min: replicas, max: replicas };
  }
}
