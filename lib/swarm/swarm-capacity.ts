import { Construct } from 'constructs';
import { Environment } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import type { ResolvedSwarmPort, ResolvedUpdatePolicy, SwarmServiceSpec } from './swarm-service-spec';

// Capacity analysis of Swarm services: whether the tasks and a rolling update fit on the nodes the environment
// guarantees. Kept apart from the spec so that the rule reads in one place.

/** Nodes a service can count on: its node group's minimum size, else all groups' minimums; undefined without node groups. */
export function guaranteedNodes(env: Environment, nodeGroup: string | undefined, path: string): number | undefined {
  if (nodeGroup !== undefined) return env.nodeGroup(nodeGroup, path).minSize;
  return env.nodeGroups.length > 0 ? env.nodeGroups.reduce((sum, g) => sum + g.minSize, 0) : undefined;
}

/** Tasks a service runs on `nodes` eligible nodes. */
export function taskCount(spec: Pick<SwarmServiceSpec, 'mode'>, nodes: number): number {
  return spec.mode.type === 'global' ? nodes : spec.mode.replicas;
}

/**
 * With a per-node cap (maxReplicasPerNode, or 1 for a host-mode port) the service fits on `cap × nodes` tasks.
 * A start-first update needs room for `parallelism` extra tasks next to the running ones; without it the
 * scheduler can never place the new tasks and the update hangs.
 */
export function validateCapacity(
  scope: Construct,
  service: { readonly mode: SwarmServiceSpec['mode']; readonly ports: readonly ResolvedSwarmPort[]; readonly update: ResolvedUpdatePolicy },
  maxPerNode: number | undefined,
  nodes: number | undefined,
): void {
  if (service.mode.type !== 'replicated') return;
  const { update } = service;
  const hostPorts = service.ports.some((p) => p.mode === 'host');
  const cap = Math.min(maxPerNode ?? Infinity, hostPorts ? 1 : Infinity);
  if (cap === Infinity) return;
  const replicas = service.mode.replicas;
  const why = maxPerNode !== undefined && (!hostPorts || maxPerNode <= 1) ? `maxReplicasPerNode ${maxPerNode}` : 'a host-mode published port (one task per node)';
  if (nodes === undefined) {
    if (update.order === 'start-first' && replicas >= 1 && cap === 1) {
      throw new ShipshapeError(scope, {
        problem: `update.order start-first with ${why} can deadlock: when every node holds its one task, the new task of the update has nowhere to start, and the environment declares no node groups to prove there is a spare node`,
        value: { replicas, maxReplicasPerNode: maxPerNode, order: update.order },
        fix: "use update.order 'stop-first', or declare the environment's node groups so spare capacity can be checked",
      });
    }
    return;
  }
  if (replicas > cap * nodes) {
    throw new ShipshapeError(scope, {
      problem: `${replicas} replicas can never fit: ${why} allows ${cap * nodes} tasks on the ${nodes} nodes the environment guarantees`,
      value: { replicas, maxReplicasPerNode: maxPerNode, nodes },
      fix: 'lower the replicas, raise maxReplicasPerNode or add nodes',
    });
  }
  const extra = Math.max(1, update.parallelism === 0 ? replicas : update.parallelism);
  if (update.order === 'start-first' && replicas + extra > cap * nodes) {
    throw new ShipshapeError(scope, {
      problem: `update.order start-first needs room for ${replicas + extra} tasks (${replicas} running + ${extra} starting) but ${why} allows only ${cap * nodes} on ${nodes} nodes, so the update would deadlock waiting for a slot`,
      value: { replicas, parallelism: update.parallelism, maxReplicasPerNode: maxPerNode, nodes },
      fix: `use update.order 'stop-first', raise maxReplicasPerNode to ${Math.ceil((replicas + extra) / nodes)}, or lower the replicas to ${cap * nodes - extra}`,
    });
  }
}
