import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { ShipshapeStack } from '../lib/pulumi';
import { environmentNamed } from './environments';
import { buildPlatform } from './platform';

// `pulumi up -s <env>`: the Pulumi stack name selects the environment.
const environment = environmentNamed(pulumi.getStack());
const config = new pulumi.Config();
const provider = new k8s.Provider('kubernetes', {
  kubeconfig: config.get('kubeconfig'),
  context: config.get('context'),
});

const platform = new ShipshapeStack(environment.name, { stack: buildPlatform(new App(), environment), provider });

/** Number of Kubernetes objects the environment deploys. */
export const objects = platform.resources.size;
