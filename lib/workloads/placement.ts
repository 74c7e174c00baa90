import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ResolvedNodeGroup } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { CountOrPercent, isCountOrPercent, resolveCountOrPercent } from '../core/quantities';
import { DEFAULT_ANTI_AFFINITY_WEIGHT, zoneSpreadConstraint } from '../core/scheduling';
import type { UpdateStrategy } from './anti-affinity-deployment';

// Where the pods go and how they are replaced: hostname anti-affinity, the node group, the zone spread, and a
// rolling update that can make progress under them.

const DEFAULT_MAX_SURGE: CountOrPercent = '25%';
const DEFAULT_MAX_UNAVAILABLE: CountOrPercent = 0;

function percentOrAbsolute(value: CountOrPercent): kplus.PercentOrAbsolute {
  return typeof value === 'number' ? kplus.PercentOrAbsolute.absolute(value) : kplus.PercentOrAbsolute.percent(Number(value.slice(0, -1)));
}

/** The cdk8s-plus strategy of an {@link UpdateStrategy} that {@link checkStrategy} accepted. */
export function deploymentStrategy(strategy: UpdateStrategy): kplus.DeploymentStrategy {
  return strategy.type === 'Recreate'
    ? kplus.DeploymentStrategy.recreate()
    : kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: percentOrAbsolute(strategy.maxSurge ?? DEFAULT_MAX_SURGE),
        maxUnavailable: percentOrAbsolute(strategy.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE),
      });
}

/** Throws unless the rolling update's counts are valid and can replace a pod. */
export function checkStrategy(scope: Construct, strategy: UpdateStrategy): void {
  if (strategy.type !== 'RollingUpdate') return;
  for (const field of ['maxSurge', 'maxUnavailable'] as const) {
    const value = strategy[field];
    if (value === undefined) continue;
    if (!isCountOrPercent(value))
      throw new ShipshapeError(scope, { problem: `strategy.${field} must be a non-negative integer or a percentage from "0%" to "100%"`, value, fix: `set strategy.${field} to e.g. 1 or "25%"` });
  }
  // The API server refuses maxSurge and maxUnavailable both 0; when percentages merely round to 0 the
  // controller itself allows one unavailable pod, so only literal zeros are an error.
  const isZero = (v: CountOrPercent | undefined, fallback: CountOrPercent) => (v ?? fallback) === 0 || (v ?? fallback) === '0%';
  if (isZero(strategy.maxSurge, DEFAULT_MAX_SURGE) && isZero(strategy.maxUnavailable, DEFAULT_MAX_UNAVAILABLE)) {
    throw new ShipshapeError(scope, {
      problem: 'a rolling update with maxSurge and maxUnavailable both 0 can never replace a pod, and the API server refuses it',
      value: { maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable },
      fix: 'allow a surge (maxSurge: 1) or an unavailable pod (maxUnavailable: 1)',
    });
  }
}

/** Required hostname anti-affinity puts at most one pod on a node: the node group must be able to hold them all, surge included. */
export function checkPlacement(
  scope: Construct,
  maxReplicas: number,
  antiAffinity: 'preferred' | 'required',
  strategy: UpdateStrategy,
  group: ResolvedNodeGroup | undefined,
  groups: readonly ResolvedNodeGroup[],
): void {
  if (antiAffinity !== 'required') return;
  const capacity = group ? group.maxSize : groups.reduce((sum, g) => sum + g.maxSize, 0);
  if (!group && groups.length === 0) return;
  const where = group ? `node group "${group.name}"` : 'the environment';
  if (maxReplicas > capacity) {
    throw new ShipshapeError(scope, {
      problem: `required hostname anti-affinity puts one pod per node, but ${maxReplicas} replicas can never fit ${where}, which has at most ${capacity} nodes`,
      value: { replicas: maxReplicas, maxNodes: capacity },
      fix: `use antiAffinity: 'preferred', lower the replicas to ${capacity} or raise the node group's maxSize`,
    });
  }
  if (strategy.type === 'RollingUpdate') {
    const surge = resolveCountOrPercent(strategy.maxSurge ?? DEFAULT_MAX_SURGE, maxReplicas, true);
    const unavailable = resolveCountOrPercent(strategy.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, maxReplicas, false);
    if (unavailable === 0 && maxReplicas + surge > capacity) {
      throw new ShipshapeError(scope, {
        problem: `with required anti-affinity and maxUnavailable 0, a rollout at ${maxReplicas} replicas needs ${maxReplicas + surge} nodes but ${where} has at most ${capacity}, so it would hang`,
        value: { replicas: maxReplicas, maxSurge: strategy.maxSurge ?? DEFAULT_MAX_SURGE, maxNodes: capacity },
        fix: "allow maxUnavailable: 1, use antiAffinity: 'preferred', or raise the node group's maxSize",
      });
    }
  }
}

/** Hostname anti-affinity against the pods' own stable labels, and node affinity plus tolerations for the node group. */
export function placePods(
  scope: Construct,
  deployment: kplus.Deployment,
  selector: Readonly<Record<string, string>>,
  antiAffinity: 'preferred' | 'required',
  weight: number | undefined,
  group: ResolvedNodeGroup | undefined,
): void {
  // Peers are selected by the stable labels, not by cdk8s-plus' construct-path label.
  const peers = kplus.Pods.select(scope, 'peers', { labels: { ...selector } });
  deployment.scheduling.separate(peers, {
    topology: kplus.Topology.HOSTNAME,
    weight: antiAffinity === 'required' ? undefined : assertInteger(scope, 'antiAffinityWeight', weight ?? DEFAULT_ANTI_AFFINITY_WEIGHT, 1, 100),
  });
  if (!group) return;
  for (const [key, value] of Object.entries(group.labels)) deployment.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is(key, value)));
  for (const taint of group.taints) {
    const effect = { NoSchedule: kplus.TaintEffect.NO_SCHEDULE, PreferNoSchedule: kplus.TaintEffect.PREFER_NO_SCHEDULE, NoExecute: kplus.TaintEffect.NO_EXECUTE }[taint.effect];
    const query = taint.value === undefined ? kplus.NodeTaintQuery.exists(taint.key, { effect }) : kplus.NodeTaintQuery.is(taint.key, taint.value, { effect });
    deployment.scheduling.tolerate(kplus.Node.tainted(query));
  }
}

/** The soft zone spread, counting only pods of the same revision so a rollout spreads its new pods too. */
export function spreadOverZones(deployment: kplus.Deployment, selector: Readonly<Record<string, string>>): void {
  ApiObject.of(deployment).addJsonPatch(JsonPatch.add('/spec/template/spec/topologySpreadConstraints', [zoneSpreadConstraint(selector, { matchLabelKeys: ['pod-template-hash'] })]));
}
