import { IConstruct } from 'constructs';

// Stacks whose Docker hosts run Swarm mode. Filled by the Swarm constructs (which import this module), read by
// DockerDaemonConfig, so that the docker module needs nothing from the swarm module.
const swarmHosts = new WeakSet<IConstruct>();

/** Declares that the Docker hosts of `stack` run in Swarm mode (a Swarm service will be deployed to them). */
export function declareSwarmHost(stack: IConstruct): void {
  swarmHosts.add(stack);
}

/** Whether something declared the Docker hosts of `stack` Swarm hosts. */
export function isSwarmHost(stack: IConstruct): boolean {
  return swarmHosts.has(stack);
}
