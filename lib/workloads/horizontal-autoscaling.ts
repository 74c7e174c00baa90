import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { validateAutoscaling } from '../core/environment';
import { assertInteger } from '../core/names';
import { durationSeconds } from '../core/quantities';

/** Horizontal pod autoscaling (autoscaling/v2). */
export interface AutoscalingProps {
  /**
   * Fewest replicas.
   * @default - the environment's autoscaling.minReplicas, else 2
   */
  readonly minReplicas?: number;
  /**
   * Most replicas.
   * @default - the environment's autoscaling.maxReplicas, else 10
   */
  readonly maxReplicas?: number;
  /**
   * Target average CPU utilization, in percent of the CPU request.
   * @default 40 (HPA CPU target, see docs/practice.md#autoscaling)
   */
  readonly cpuUtilization?: number;
  /**
   * How long the HPA waits on lower recommendations before it scales down, in whole seconds up to one hour.
   * @default Duration.minutes(5) (Kubernetes' own scale-down stabilization window)
   */
  readonly scaleDownStabilization?: Duration;
  /**
   * Most replicas removed per minute, in percent of the current count.
   * @default 50
   */
  readonly scaleDownPercentPerMinute?: number;
}

/** Autoscaling with every default applied. */
export interface ResolvedAutoscaling {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly cpuUtilization: number;
  readonly scaleDownStabilizationSeconds: number;
  readonly scaleDownPercentPerMinute: number;
}

// Scale out at 40% of the CPU request: headroom while new pods and nodes start (docs/practice.md#autoscaling).
const DEFAULT_CPU_UTILIZATION = 40;
// Kubernetes' own scale-down stabilization window.
const DEFAULT_SCALE_DOWN_STABILIZATION = Duration.minutes(5);
const MAX_SCALE_DOWN_STABILIZATION_SECONDS = 3600;
const DEFAULT_SCALE_DOWN_PERCENT_PER_MINUTE = 50;
// Used when a workload autoscales in an environment that sets no bounds: 2 survives a node failure, 10 is the
// node range's ceiling (docs/practice.md#autoscaling).
const FALLBACK_AUTOSCALING = { minReplicas: 2, maxReplicas: 10 };

/** The autoscaling to apply, or undefined for none (`false`, or nothing asked and nothing from the environment). */
export function resolveAutoscaling(
  scope: Construct,
  props: AutoscalingProps | false | undefined,
  fromEnvironment: { minReplicas: number; maxReplicas: number } | undefined,
): ResolvedAutoscaling | undefined {
  if (props === false || (props === undefined && !fromEnvironment)) return undefined;
  const base = fromEnvironment ?? FALLBACK_AUTOSCALING;
  const resolved = {
    minReplicas: props?.minReplicas ?? base.minReplicas,
    maxReplicas: props?.maxReplicas ?? base.maxReplicas,
    cpuUtilization: assertInteger(scope, 'autoscaling.cpuUtilization', props?.cpuUtilization ?? DEFAULT_CPU_UTILIZATION, 1, 100),
    scaleDownStabilizationSeconds: durationSeconds(
      scope,
      'autoscaling.scaleDownStabilization',
      props?.scaleDownStabilization ?? DEFAULT_SCALE_DOWN_STABILIZATION,
      0,
      MAX_SCALE_DOWN_STABILIZATION_SECONDS,
    ),
    scaleDownPercentPerMinute: assertInteger(scope, 'autoscaling.scaleDownPercentPerMinute', props?.scaleDownPercentPerMinute ?? DEFAULT_SCALE_DOWN_PERCENT_PER_MINUTE, 1, 100),
  };
  validateAutoscaling(scope.node.path, resolved.minReplicas, resolved.maxReplicas);
  return resolved;
}

/** The HPA on CPU utilization with a rate-limited scale-down. */
export function createAutoscaler(
  scope: Construct,
  metadata: { name: string; labels: Record<string, string> },
  target: kplus.Deployment,
  autoscaling: ResolvedAutoscaling,
): kplus.HorizontalPodAutoscaler {
  return new kplus.HorizontalPodAutoscaler(scope, 'autoscaler', {
    metadata,
    target,
    minReplicas: autoscaling.minReplicas,
    maxReplicas: autoscaling.maxReplicas,
    metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(autoscaling.cpuUtilization))],
    scaleDown: {
      stabilizationWindow: Duration.seconds(autoscaling.scaleDownStabilizationSeconds),
      policies: [{ replicas: kplus.Replicas.percent(autoscaling.scaleDownPercentPerMinute), duration: Duration.minutes(1) }],
    },
  });
}
