import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { LABELS } from '../core/labels';
import { assertInteger } from '../core/names';
import { Stack } from '../core/stack';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps } from './anti-affinity-deployment';
import { NGINX_ANNOTATION_PREFIX, WorkloadIngress, backendPort, ingressLabels } from './workload-ingress';
import { DEFAULT_ACCESS_MODE, VolumeAccessMode, WorkloadVolume, attachesToOneNode, declaredAccessMode } from './workload-volume';

/** ingress-nginx's canary annotations (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#canary). */
export const CANARY_ANNOTATIONS = {
  canary: `${NGINX_ANNOTATION_PREFIX}canary`,
  weight: `${NGINX_ANNOTATION_PREFIX}canary-weight`,
  byHeader: `${NGINX_ANNOTATION_PREFIX}canary-by-header`,
  byHeaderValue: `${NGINX_ANNOTATION_PREFIX}canary-by-header-value`,
  byCookie: `${NGINX_ANNOTATION_PREFIX}canary-by-cookie`,
} as const;

/** Label telling a canary's pods and objects from the stable ones in dashboards and `kubectl get -l`. */
export const TRACK_LABEL = 'shipshape.io/track';

// ingress-nginx validates the header, header value and cookie annotations against letters, digits, "-" and "_"
// (its annotation validation, on by default since controller 1.9); anything else would be pasted into Lua and nginx.conf.
const ROUTING_TOKEN = /^[A-Za-z0-9_-]+$/;
const ROUTING_TOKEN_MAX = 128;

/** Routing of requests that carry a header to the canary. */
export interface CanaryHeader {
  /** Header name, e.g. `X-Canary`. */
  readonly name: string;
  /**
   * Header value that routes to the canary. Without one, `always` routes to the canary and `never` to the stable
   * release, and any other value falls through to the cookie and the weight.
   * @default - `always` / `never` semantics
   */
  readonly value?: string;
}

/** Properties of a {@link CanaryRelease}. */
export interface CanaryReleaseProps {
  /** The stable release's Ingress; the canary answers for the same host and paths. */
  readonly stable: WorkloadIngress;
  /**
   * The canary workload: usually the stable one's props with the new image. It gets its own Service, so the
   * stable Service never selects canary pods. Unless set here, it runs without an HPA and with
   * `ceil(stable minimum × weight / 100)` replicas, at least two when the stable release runs two or more; a
   * canary may run fewer pods than that share never, and more than the stable maximum never. Its pods run beside
   * the stable ones, so a claim both mount must be declared `accessMode: 'ReadWriteMany'` (or `'ReadOnlyMany'`)
   * by both. It runs as its own ServiceAccount, named like its objects (`<stable workload>-canary` by default):
   * the cloud identity its `serviceAccountAnnotations` name (an IAM role's trust policy, a GKE or Azure
   * federated binding) must trust that ServiceAccount as well as the stable one.
   */
  readonly canary: Omit<AntiAffinityDeploymentProps, 'name'> & {
    /**
     * Name of the canary's objects.
     * @default - `<stable workload>-canary`
     */
    readonly name?: string;
  };
  /**
   * Percentage of requests (without a routing header or cookie) sent to the canary, an integer from 0 to 100.
   * @default 0 (header and cookie routing only)
   */
  readonly weight?: number;
  /**
   * Requests with this header go to the canary (checked before the cookie and the weight).
   * @default - no header routing
   */
  readonly header?: CanaryHeader;
  /**
   * Requests with this cookie set to `always` go to the canary, `never` to the stable release.
   * @default - no cookie routing
   */
  readonly cookie?: string;
}

/** The fewest canary pods that carry `weight` percent of what `stableMin` stable pods carry; at least one. */
export function canaryShare(weight: number, stableMin: number): number {
  return Math.max(1, Math.ceil((stableMin * weight) / 100));
}

/**
 * The canary's default replicas: its share, and two pods when the stable release runs two or more, so that a node
 * drain or failure does not take the canary's share of the requests down with its only pod (the same reason the
 * stable release is spread and budgeted).
 */
export function canaryReplicasFor(weight: number, stableMin: number): number {
  return Math.max(canaryShare(weight, stableMin), Math.min(2, stableMin));
}

/**
 * A canary release with ingress-nginx: a canary workload next to a stable one, with its own Service and a canary
 * Ingress for the stable Ingress's host and paths that takes a weight, a header or a cookie. The canary is sized
 * for its share (at least its share of the stable minimum, two pods by default with a PodDisruptionBudget that
 * allows an eviction, a single pod only when asked and then without one), and one canary at most answers for a
 * host and path.
 */
export class CanaryRelease extends Construct {
  /** The canary workload. */
  public readonly workload: AntiAffinityDeployment;
  /** The canary Ingress (annotated `nginx.ingress.kubernetes.io/canary: "true"`). */
  public readonly ingress: kplus.Ingress;
  /** The stable Ingress. */
  public readonly stable: WorkloadIngress;
  /** Percentage of requests routed to the canary by weight. */
  public readonly weight: number;

  constructor(scope: Construct, id: string, props: CanaryReleaseProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const stable = props.stable;
    if (!(stable instanceof WorkloadIngress)) {
      throw new ShipshapeError(this, {
        problem: 'stable must be the WorkloadIngress of the stable release',
        value: typeof stable,
        fix: 'create a WorkloadIngress for the stable workload and pass it as stable',
      });
    }
    if (Stack.of(stable) !== stack) {
      throw new ShipshapeError(this, {
        problem: 'the stable Ingress is in another stack, so the canary would answer for a host no Ingress of its namespace serves',
        value: stable.node.path,
        fix: 'create the CanaryRelease in the stack of the stable Ingress',
      });
    }
    this.stable = stable;
    this.weight = assertInteger(this, 'weight', props.weight ?? 0, 0, 100);
    const header =
      props.header === undefined
        ? undefined
        : { name: this.routingToken('header.name', props.header.name), value: props.header.value === undefined ? undefined : this.routingToken('header.value', props.header.value) };
    const cookie = props.cookie === undefined ? undefined : this.routingToken('cookie', props.cookie);
    if (this.weight === 0 && !header && !cookie) {
      throw new ShipshapeError(this, {
        problem: 'the canary gets no traffic: weight is 0 and there is no header or cookie routing',
        value: { weight: props.weight },
        fix: 'set a weight from 1 to 100, a header or a cookie',
      });
    }

    // One canary per host and path: ingress-nginx merges a second one unpredictably.
    for (const other of stack.node.findAll()) {
      if (!(other instanceof CanaryRelease) || other === this) continue;
      const shared = other.stable.host === stable.host ? stable.paths.find((p) => other.stable.paths.some((q) => q.path === p.path)) : undefined;
      if (shared) {
        throw new ShipshapeError(this, {
          problem: `${other.node.path} is already the canary of ${stable.host}${shared.path}; ingress-nginx takes one canary per host and path`,
          value: `${stable.host}${shared.path}`,
          fix: 'finish or remove the other canary release first',
        });
      }
    }

    const stableWorkload = stable.workload;
    const { name: canaryName, ...canaryProps } = props.canary ?? ({} as CanaryReleaseProps['canary']);
    const name = canaryName ?? `${stableWorkload.deployment.name}-canary`;
    if (name === stableWorkload.deployment.name) {
      throw new ShipshapeError(this, {
        problem: "the canary has the stable workload's name, so the stable Service would select its pods",
        value: name,
        fix: `name it differently, e.g. "${name}-canary"`,
      });
    }
    this.checkSharedClaims(stableWorkload, canaryProps.volumes ?? []);
    const share = canaryShare(this.weight, stableWorkload.replicaRange.min);
    const component = stableWorkload.deployment.metadata.getLabel(LABELS.component);
    this.workload = new AntiAffinityDeployment(this, 'workload', {
      // A canary serves a fixed share; an HPA of its own would fight the weight.
      autoscaling: false,
      replicas: canaryReplicasFor(this.weight, stableWorkload.replicaRange.min),
      ...(component !== undefined ? { component } : {}),
      // A field given as undefined keeps the canary's default, as a missing one does.
      ...(Object.fromEntries(Object.entries(canaryProps).filter(([, v]) => v !== undefined)) as typeof canaryProps),
      name,
    });
    this.checkSizing(stableWorkload, share);
    const service = this.workload.service;
    if (!service)
      throw new ShipshapeError(this, {
        problem: 'the canary workload has no Service for the canary Ingress',
        value: props.canary?.service,
        fix: "give the canary the stable workload's ports and a Service",
      });
    for (const m of [this.workload.deployment.metadata, this.workload.deployment.podMetadata, service.metadata]) m.addLabel(TRACK_LABEL, 'canary');
    // The same port number as the stable release when the canary has it, so a moved port is a visible choice.
    const port = backendPort(this, 'canary port', service, service.ports.some((p) => p.port === stable.servicePort) ? stable.servicePort : undefined);
    const annotations: Record<string, string> = { [CANARY_ANNOTATIONS.canary]: 'true', [CANARY_ANNOTATIONS.weight]: String(this.weight) };
    if (header) {
      annotations[CANARY_ANNOTATIONS.byHeader] = header.name;
      if (header.value !== undefined) annotations[CANARY_ANNOTATIONS.byHeaderValue] = header.value;
    }
    if (cookie) annotations[CANARY_ANNOTATIONS.byCookie] = cookie;
    this.ingress = new kplus.Ingress(this, 'ingress', {
      metadata: { name, labels: { ...ingressLabels(this.workload), [TRACK_LABEL]: 'canary' }, annotations },
      className: stable.ingressClassName,
    });
    const backend = kplus.IngressBackend.fromService(service, { port });
    for (const p of stable.paths) this.ingress.addHostRule(stable.host, p.path, backend, p.pathType === 'Exact' ? kplus.HttpIngressPathType.EXACT : kplus.HttpIngressPathType.PREFIX);
  }

  private routingToken(field: string, value: unknown): string {
    if (typeof value !== 'string' || value.length > ROUTING_TOKEN_MAX || !ROUTING_TOKEN.test(value)) {
      throw new ShipshapeError(this, {
        problem: `${field} must be 1-${ROUTING_TOKEN_MAX} letters, digits, "-" or "_" (what ingress-nginx accepts in canary annotations)`,
        value,
        fix: 'use e.g. "X-Canary" or "canary_v2"',
      });
    }
    return value;
  }

  /**
   * The canary's pods run beside the stable ones, on other nodes: a claim both mount must be one several nodes
   * can attach, and both must declare the same access mode (a claim has one; a canary declaring more than the
   * stable release does would pass on a mode the claim does not have).
   */
  private checkSharedClaims(stable: AntiAffinityDeployment, volumes: readonly WorkloadVolume[]): void {
    const stableClaims = new Set<string>(
      (ApiObject.of(stable.deployment).toJson().spec?.template?.spec?.volumes ?? []).flatMap((v: any) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [])),
    );
    for (const [i, v] of volumes.entries()) {
      if (!('persistentVolumeClaim' in v) || !stableClaims.has(v.persistentVolumeClaim)) continue;
      const accessMode = v.accessMode ?? DEFAULT_ACCESS_MODE;
      const stableDeclared = declaredAccessMode(stable, v.persistentVolumeClaim);
      const stableMode = stableDeclared ?? DEFAULT_ACCESS_MODE;
      if (stableMode !== accessMode) {
        const shown = (mode: VolumeAccessMode, declared: VolumeAccessMode | undefined) => (declared === undefined ? `${mode} (assumed, not declared)` : mode);
        throw new ShipshapeError(this, {
          problem: `canary.volumes[${i}] declares claim "${v.persistentVolumeClaim}" as ${shown(accessMode, v.accessMode)}, but the stable release declares it as ${shown(stableMode, stableDeclared)}; a claim has one access mode`,
          value: { persistentVolumeClaim: v.persistentVolumeClaim, canary: v.accessMode, stable: stableDeclared },
          fix: "declare the claim's real access mode on both the stable and the canary volume ('ReadWriteMany' or 'ReadOnlyMany' for a claim both mount), or give the canary a claim of its own",
        });
      }
      if (attachesToOneNode(accessMode)) {
        throw new ShipshapeError(this, {
          problem: `canary.volumes[${i}] mounts claim "${v.persistentVolumeClaim}", which the stable release mounts too, as ${accessMode}${v.accessMode === undefined ? ' (assumed: shipshape cannot see the access mode of a claim it did not create)' : ''}: it attaches to one node, so the canary's pods on other nodes never start`,
          value: { persistentVolumeClaim: v.persistentVolumeClaim, accessMode },
          fix: "declare accessMode: 'ReadWriteMany' (or 'ReadOnlyMany') for storage several nodes can mount, or give the canary a claim of its own",
        });
      }
    }
  }

  /** The canary carries its share and never outgrows the stable release; its PDB (if any) allows an eviction. */
  private checkSizing(stable: AntiAffinityDeployment, share: number): void {
    const range = this.workload.replicaRange;
    if (range.min < share) {
      throw new ShipshapeError(this, {
        problem: `the canary runs ${range.min} pod(s) at least but takes ${this.weight}% of what ${stable.replicaRange.min} stable pods carry, which needs ${share}`,
        value: range,
        fix: `run at least ${share} canary replicas, or lower the weight`,
      });
    }
    if (range.max > stable.replicaRange.max) {
      throw new ShipshapeError(this, {
        problem: `the canary can run ${range.max} pods, more than the stable release's ${stable.replicaRange.max}`,
        value: range,
        fix: `keep the canary at or below ${stable.replicaRange.max} replicas (its share of the traffic is ${this.weight}%)`,
      });
    }
  }
}
