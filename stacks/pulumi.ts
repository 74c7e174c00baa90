import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { Stack } from '../lib';
import { StackComponent } from '../lib/pulumi';
import { assertNoLegacyConfig } from '../lib/pulumi/config';
import { environments } from './environments';
import { buildPlatform } from './platform';
import { buildSwarmPlatform, swarmEdge } from './swarm';

// `pulumi up -s <env>`: the Pulumi stack name selects the environment, one of these.
const PROGRAMS: ReadonlyMap<string, () => Stack> = new Map([
  ...environments.map((environment) => [environment.name, () => buildPlatform(new App(), environment)] as const),
  [swarmEdge.name, () => buildSwarmPlatform(new App(), swarmEdge).stack],
]);
const name = pulumi.getStack();
const program = PROGRAMS.get(name);
if (!program) throw new Error(`unknown environment "${name}"; known: ${[...PROGRAMS.keys()].join(', ')}`);
const stack = program();

// Checked before the provider is created, so a stack still set up with old keys registers nothing.
assertNoLegacyConfig();

// Kubernetes environments take the cluster from `shipshape:kubeconfig` / `shipshape:context`; the Swarm
// environment's Docker host is `shipshape:dockerHost` (read by the component). The provider is created here, not
// by the component, so its resource name (and every object's provider reference) stays what it was.
const config = new pulumi.Config('shipshape');
const provider = stack.environment.hasKubernetes ? new k8s.Provider('kubernetes', { kubeconfig: config.get('kubeconfig'), context: config.get('context') }) : undefined;

const platform = new StackComponent(stack.environment.name, { stack, provider });

/** Number of Kubernetes objects the environment deploys. */
export const objects = platform.resources.size;
/** Number of Swarm services the environment deploys. */
export const swarmServices = Object.keys(platform.docker.services).length;
