import * as docker from '@pulumi/docker';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { ShipshapeAggregateError } from '../core/errors';
import { applyTier } from '../core/ordering';
import { describe } from '../core/manifest';
import { Stack } from '../core/stack';
import { synthesizeStackWith } from '../core/synth';
import { CONFIG_KEYS, assertKnownConfig, assertNoLegacyConfig, secretConfigKey, shipshapeConfig } from './config';
import { DockerResources, assertSecretKeys, registerDockerResources, swarmSecretNames } from './docker';
import { resolveDeferredInputs } from './from-input';
import { registerKubernetesObject } from './kubernetes';

/** Arguments of a {@link StackComponent}. */
export interface StackComponentArgs {
  /** The shipshape stack (one environment) to deploy. */
  readonly stack: Stack;
  /**
   * Kubernetes provider every object is created with.
   * @default - one from the stack config `shipshape:kubeconfig` and `shipshape:context` when either is set, else
   * Pulumi's default provider (the ambient kubeconfig)
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
 * on the one before, so `pulumi up` applies in that order. A value passed through `fromInput` is resolved
 * in each resource that holds it, which then depends on the resources behind the value.
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
    assertNoLegacyConfig();
    // The secrets of every environment of the app count as read: a program may deploy its environments one by one.
    const stacks = args.stack.node.root.node.children.filter((c): c is Stack => c instanceof Stack);
    assertKnownConfig([args.stack, ...stacks].flatMap((s) => swarmSecretNames(s).map(secretConfigKey)));
    assertSecretKeys(args.stack);
    const result = synthesizeStackWith(args.stack, { allowDeferred: true });
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
    const provider = args.provider ?? (result.objects.length > 0 ? configuredProvider(name, this) : undefined);
    for (const { manifest, constructPath } of result.objects) {
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
      // Values passed through fromInput become Outputs here, so the object waits for the resources behind them.
      const resource = registerKubernetesObject(resolveDeferredInputs(manifest, constructPath, describe(manifest)), pulumiChildName(args.stack.environment.name, manifest), {
        parent: this,
        provider,
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

/** A Kubernetes provider from `shipshape:kubeconfig` / `shipshape:context`, or undefined when neither is set. */
function configuredProvider(name: string, parent: pulumi.Resource): k8s.Provider | undefined {
  const config = shipshapeConfig();
  // A kubeconfig's contents hold credentials, so it may be set with --secret; it stays a secret here either way.
  const kubeconfig = config.getSecret(CONFIG_KEYS.kubeconfig);
  const context = config.get(CONFIG_KEYS.context);
  if (kubeconfig === undefined && context === undefined) return undefined;
  return new k8s.Provider(`${name}-kubernetes`, { kubeconfig, context }, { parent });
}

/** @deprecated since 0.2, use StackComponent */
export const ShipshapeStack = StackComponent;
/** @deprecated since 0.2, use StackComponent */
export type ShipshapeStack = StackComponent;
/** @deprecated since 0.2, use StackComponentArgs */
export type ShipshapeStackArgs = StackComponentArgs;
