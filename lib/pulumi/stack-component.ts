import * as docker from '@pulumi/docker';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { ShipshapeAggregateError } from '../core/errors';
import { applyTier } from '../core/ordering';
import { describe } from '../core/manifest';
import { Stack } from '../core/stack';
import { synthesizeStack } from '../core/synth';
import { DockerResources, registerDockerResources } from './docker';
import { registerKubernetesObject } from './kubernetes';

/** Arguments of a {@link StackComponent}. */
export interface StackComponentArgs {
  /** The shipshape stack (one environment) to deploy. */
  readonly stack: Stack;
  /**
   * Kubernetes provider every object is created with.
   * @default - Pulumi's default provider (the ambient kubeconfig)
   */
  readonly provider?: k8s.Provider;
  /**
   * Docker provider (a Swarm manager) for the stack's Swarm services and Docker-host registry mirrors.
   * @default - one whose host is the stack config `shipshape:dockerHost`, created only when the stack has Docker resources
   */
  readonly dockerProvider?: docker.Provider;
}

/** Pulumi resource name of a Kubernetes object: kind, namespace and name, e.g. `deployment-prod-web-api`. */
export function pulumiResourceName(m: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return [m.kind.toLowerCase(), m.metadata.namespace, m.metadata.name].filter(Boolean).join('-');
}

/**
 * Pulumi name of a Kubernetes object registered for an environment: the environment name, then
 * {@link pulumiResourceName} (`prod-deployment-prod-web-api`), matching the Docker children (`prod-service-web`),
 * so two StackComponents in one program never register two resources of one type under one name.
 */
export function pulumiChildName(environment: string, m: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${environment}-${pulumiResourceName(m)}`;
}

// Unprefixed names that earlier versions registered, per Pulumi project and stack, that a StackComponent has
// already claimed as aliases: Pulumi refuses two resources aliased to one name, so only the first stack of a
// program gets each (keyed per stack, so an Automation API process deploying several stacks aliases each).
const claimedLegacyNames = new Map<string, Set<string>>();

function legacyClaims(): Set<string> {
  const key = `${pulumi.getProject()}::${pulumi.getStack()}`;
  if (!claimedLegacyNames.has(key)) claimedLegacyNames.set(key, new Set());
  return claimedLegacyNames.get(key)!;
}

/**
 * Deploys one environment: the same objects `synth` writes, each as its own typed
 * Pulumi resource under this component, plus the Docker resources of its Swarm
 * services and Docker-host registry mirrors. Namespaces and CRDs come first, then
 * identities, RBAC, configuration and storage, then workloads; each tier depends
 * on the one before, so `pulumi up` applies in that order.
 */
export class StackComponent extends pulumi.ComponentResource {
  /** Every registered Kubernetes resource, keyed by `Kind namespace/name`. */
  public readonly resources: ReadonlyMap<string, pulumi.CustomResource>;
  /** Keys of `resources` grouped by apply tier; every resource depends on all resources of earlier tiers. */
  public readonly tiers: readonly (readonly string[])[];
  /** The Docker side: Swarm services (with networks, secrets, configs) and Docker-host registry mirrors. */
  public readonly docker: DockerResources;

  constructor(name: string, args: StackComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before the component registers, so a refused environment leaves nothing half-registered.
    const result = synthesizeStack(args.stack);
    if (result.problems.length > 0) {
      throw new ShipshapeAggregateError(`${args.stack.environment.name}: deployment refused`, result.problems);
    }
    // Kind, namespace and name joined by '-' can coincide (ConfigMap kube/system-x vs kube-system/x).
    const names = new Map<string, string>();
    for (const { manifest } of result.objects) {
      const other = names.get(pulumiResourceName(manifest));
      if (other) {
        throw new ShipshapeAggregateError(`${args.stack.environment.name}: deployment refused`, [
          `${describe(manifest)} and ${other} both map to the Pulumi resource name "${pulumiResourceName(manifest)}". Fix: rename one of them`,
        ]);
      }
      names.set(pulumiResourceName(manifest), describe(manifest));
    }
    // The type token predates the rename; changing it would make Pulumi replace every deployed component.
    super('shipshape:index:Stack', name, {}, opts);
    const resources = new Map<string, pulumi.CustomResource>();
    const tiers: string[][] = [];
    let earlier: pulumi.CustomResource[] = [];
    let current: pulumi.CustomResource[] = [];
    let tier = -1;
    const claimed = legacyClaims();
    for (const { manifest } of result.objects) {
      if (applyTier(manifest.kind) !== tier) {
        earlier = [...earlier, ...current];
        current = [];
        tier = applyTier(manifest.kind);
        tiers.push([]);
      }
      // Earlier versions registered the unprefixed name; the alias moves such a resource instead of replacing it.
      const legacy = pulumiResourceName(manifest);
      const aliases = claimed.has(legacy) ? [] : [{ name: legacy }];
      claimed.add(legacy);
      const resource = registerKubernetesObject(manifest, pulumiChildName(args.stack.environment.name, manifest), {
        parent: this,
        provider: args.provider,
        dependsOn: earlier,
        aliases,
      });
      current.push(resource);
      resources.set(describe(manifest), resource);
      tiers[tiers.length - 1].push(describe(manifest));
    }
    this.resources = resources;
    this.tiers = tiers;
    this.docker = registerDockerResources(args.stack, { parent: this, provider: args.dockerProvider });
    this.registerOutputs({ objects: resources.size, swarmServices: Object.keys(this.docker.services).length });
  }
}

/** @deprecated since 0.2, use StackComponent */
export const ShipshapeStack = StackComponent;
/** @deprecated since 0.2, use StackComponent */
export type ShipshapeStack = StackComponent;
/** @deprecated since 0.2, use StackComponentArgs */
export type ShipshapeStackArgs = StackComponentArgs;
