import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { budgetAllowsEviction } from '../core/policy/rules';
import { CountOrPercent, isCountOrPercent } from '../core/quantities';

/** The PodDisruptionBudget of the workload: set one of the two fields. */
export interface DisruptionBudgetProps {
  /**
   * Pods that may be evicted at once.
   * @default 1 (when minAvailable is not set)
   */
  readonly maxUnavailable?: CountOrPercent;
  /**
   * Pods that must stay available.
   * @default - not set
   */
  readonly minAvailable?: CountOrPercent;
}

// One eviction at any size, one pod included: with one pod per node, a node drain never waits on the workload.
const DEFAULT_BUDGET: DisruptionBudgetProps = { maxUnavailable: 1 };

/** A count as the API's IntOrString. */
export function intOrString(value: CountOrPercent): kplus.k8s.IntOrString {
  return typeof value === 'number' ? kplus.k8s.IntOrString.fromNumber(value) : kplus.k8s.IntOrString.fromString(value);
}

/**
 * The budget to write: exactly one of maxUnavailable and minAvailable, and one that allows an eviction at the
 * workload's smallest size, since a budget that allows none hangs every node drain and autoscaler scale-down
 * (the `disruption-budget` policy rule checks the same with {@link budgetAllowsEviction}).
 */
export function planDisruptionBudget(scope: Construct, props: DisruptionBudgetProps | undefined, minReplicas: number): DisruptionBudgetProps {
  if (props && (props.maxUnavailable !== undefined) === (props.minAvailable !== undefined)) {
    throw new ShipshapeError(scope, { problem: 'disruptionBudget needs exactly one of maxUnavailable and minAvailable', value: props, fix: 'set one of them, e.g. { maxUnavailable: 1 }' });
  }
  const spec = props ?? DEFAULT_BUDGET;
  for (const [field, value] of Object.entries(spec)) {
    if (!isCountOrPercent(value)) throw new ShipshapeError(scope, { problem: `disruptionBudget.${field} must be a non-negative integer or a percentage`, value, fix: 'use e.g. 1 or "25%"' });
  }
  if (!budgetAllowsEviction({ spec }, minReplicas)) {
    throw new ShipshapeError(scope, {
      problem: `the PodDisruptionBudget allows no eviction at ${minReplicas} replicas, so every node drain and cluster-autoscaler scale-down would hang`,
      value: spec,
      fix: `use maxUnavailable: 1, or a minAvailable below ${minReplicas}`,
    });
  }
  return spec;
}

/** The PodDisruptionBudget object of a planned budget. */
export function createDisruptionBudget(
  scope: Construct,
  metadata: { name: string; labels: Record<string, string> },
  selector: Readonly<Record<string, string>>,
  spec: DisruptionBudgetProps,
): kplus.k8s.KubePodDisruptionBudget {
  return new kplus.k8s.KubePodDisruptionBudget(scope, 'disruption-budget', {
    metadata,
    spec: {
      selector: { matchLabels: { ...selector } },
      ...(spec.maxUnavailable !== undefined ? { maxUnavailable: intOrString(spec.maxUnavailable) } : { minAvailable: intOrString(spec.minAvailable!) }),
      // Crash-looping pods must not block drains (Kubernetes 1.27+).
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  });
}
