import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Manifest } from '../core/manifest';

/** The Pulumi type token of a Kubernetes object, e.g. `kubernetes:apps/v1:Deployment`, `kubernetes:core/v1:Service`. */
export function kubernetesTypeToken(m: Pick<Manifest, 'apiVersion' | 'kind'>): string {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['core', m.apiVersion];
  return `kubernetes:${group}/${version}:${m.kind}`;
}

type ResourceClass = new (name: string, args: any, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/**
 * The typed @pulumi/kubernetes class of an object (`k8s.apps.v1.Deployment` for apps/v1 Deployment);
 * `undefined` for kinds the SDK has no class for (custom resources).
 */
export function kubernetesResourceClass(m: Pick<Manifest, 'apiVersion' | 'kind'>): ResourceClass | undefined {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['core', m.apiVersion];
  // The SDK names modules after the first label of the API group: rbac.authorization.k8s.io → rbac.
  const module = (k8s as any)[group.split('.')[0]];
  if (!module || (group.includes('.') && !group.endsWith('.k8s.io'))) return undefined;
  return module[version]?.[m.kind];
}

/** Registers one typed Pulumi resource for a synthesized Kubernetes object. */
export function registerKubernetesObject(m: Manifest, name: string, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  const Class = kubernetesResourceClass(m);
  if (Class) return new Class(name, m, opts);
  return new k8s.apiextensions.CustomResource(name, m as k8s.apiextensions.CustomResourceArgs, opts);
}
