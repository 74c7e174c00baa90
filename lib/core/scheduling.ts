import * as kplus from 'cdk8s-plus-27';
import { Environment } from './environment';

// How replicas are kept apart: hostname anti-affinity against node failure, a zone spread against zone failure.
// The `replicas-spread` policy rule checks that every replicated workload has one of them.

/** The node label that tells nodes apart, the topology of hostname anti-affinity. */
export const HOSTNAME_TOPOLOGY_KEY = 'kubernetes.io/hostname';
/** The node label that tells zones apart. */
export const ZONE_TOPOLOGY_KEY = 'topology.kubernetes.io/zone';
/** Weight of a preferred anti-affinity term when none is given: the strongest preference there is. */
export const DEFAULT_ANTI_AFFINITY_WEIGHT = 100;

/**
 * Hostname anti-affinity on the pod's own labels. `preferred` places replicas on different nodes when it can and
 * packs them when it must (a replica is never left Pending for want of a node); `required` never puts two on one
 * node, so one replica per node is the ceiling and a rollout needs a free node for each surge pod.
 */
export function hostnameAntiAffinity(selector: Readonly<Record<string, string>>, mode: 'preferred' | 'required', weight = DEFAULT_ANTI_AFFINITY_WEIGHT): kplus.k8s.Affinity {
  const term: kplus.k8s.PodAffinityTerm = { topologyKey: HOSTNAME_TOPOLOGY_KEY, labelSelector: { matchLabels: { ...selector } } };
  return {
    podAntiAffinity: mode === 'required' ? { requiredDuringSchedulingIgnoredDuringExecution: [term] } : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight, podAffinityTerm: term }] },
  };
}

/** Options of {@link zoneSpread}. */
export interface ZoneSpreadOptions {
  /**
   * Pod label keys whose values must also match for pods to count, e.g. `pod-template-hash` so a rollout spreads
   * its new pods on their own.
   * @default - every pod of the selector counts
   */
  readonly matchLabelKeys?: string[];
}

/**
 * A soft spread over zones (max skew 1, `ScheduleAnyway`, so losing a zone degrades placement instead of blocking
 * it), or undefined when the environment has fewer than two zones and there is nothing to spread over.
 */
export function zoneSpread(environment: Environment, selector: Readonly<Record<string, string>>, options: ZoneSpreadOptions = {}): kplus.k8s.TopologySpreadConstraint[] | undefined {
  if (environment.zones.length < 2) return undefined;
  return [zoneSpreadConstraint(selector, options)];
}

/** The zone spread constraint of {@link zoneSpread}, whatever the environment's zones. */
export function zoneSpreadConstraint(selector: Readonly<Record<string, string>>, options: ZoneSpreadOptions = {}): kplus.k8s.TopologySpreadConstraint {
  return {
    maxSkew: 1,
    topologyKey: ZONE_TOPOLOGY_KEY,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: { ...selector } },
    ...(options.matchLabelKeys ? { matchLabelKeys: [...options.matchLabelKeys] } : {}),
  };
}
