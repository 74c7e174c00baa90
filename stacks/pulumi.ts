import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { ShipshapeStack } from '../lib/pulumi';
import { environmentNamed } from './environments';
import { buildPlatform } from './platform';
import { buildSwarmPlatform, swarmEdge } from './swarm';

// `pulumi up -s <env>`: the Pulumi stack name selects the environment.
const name = pulumi.getStack();
const stack = name === swarmEdge.name ? buildSwarmPlatform(new App()).stack : buildPlatform(new App(), environmentNamed(name));

// Kubernetes environments take the cluster from stack config; the Swarm environment's Docker host is
// `shipshape:dockerHost` (read by the component).
const config = new pulumi.Config();
const provider = stack.environment.hasKubernetes
  ? new k8s.Provider('kubernetes', { kubeconfig: config.get('kubeconfig'), context: config.get('context') })
  : undefined;

const platform = new ShipshapeStack(stack.environment.name, { stack, provider });

/** Number of Kubernetes objects the environment deploys. */
export const objects = platform.resources.size;
/** Number of Swarm services the environment deploys. */
export const swarmServices = Object.keys(platform.docker.services).length;
