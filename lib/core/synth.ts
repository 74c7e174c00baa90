import { ApiObject, App } from 'cdk8s';
import { stringify } from 'yaml';
import { Environment } from './environment';
import { ShipshapeAggregateError } from './errors';
import { OutputFile } from './output-file';
import { CLUSTER_SCOPED_KINDS, applyTier, byCodePoint } from './ordering';
import { PolicyReport, evaluatePolicy, formatFinding } from './policy/engine';
import { Manifest, describe } from './policy/manifest';
import { Stack } from './stack';

/** One synthesized Kubernetes object. */
export interface SynthesizedObject {
  readonly manifest: Manifest;
  /** Construct path of the ApiObject that produced it. */
  readonly constructPath: string;
  /** File name under `dist/<env>/kubernetes/`, e.g. `deployment-web.yaml`. */
  readonly fileName: string;
}

/** Everything one environment synthesizes to. */
export interface SynthesizedStack {
  readonly stack: Stack;
  readonly environment: Environment;
  /** Objects in apply order (tier, kind, namespace, name). */
  readonly objects: readonly SynthesizedObject[];
  readonly policy: PolicyReport;
  /** Non-Kubernetes files: path (relative to the environment directory, or to the output root when shared) → content. */
  readonly files: readonly { readonly path: string; readonly shared: boolean; readonly content: string; readonly constructPath: string }[];
  /** Problems found: construct validations and policy violations, one line each. */
  readonly problems: readonly string[];
}

/** YAML options for every written file: no folding, so diffs stay line-based and stable. */
export const YAML_OPTIONS = { lineWidth: 0, minContentWidth: 0 } as const;

/** Renders one manifest as a YAML document. */
export function renderManifest(m: Manifest): string {
  return stringify(m, YAML_OPTIONS);
}

function compareObjects(a: Manifest, b: Manifest): number {
  return (
    applyTier(a.kind) - applyTier(b.kind) ||
    byCodePoint(a.kind, b.kind) ||
    byCodePoint(a.metadata.namespace ?? '', b.metadata.namespace ?? '') ||
    byCodePoint(a.metadata.name, b.metadata.name)
  );
}

function toManifest(obj: ApiObject): Manifest {
  const json = obj.toJson();
  if (CLUSTER_SCOPED_KINDS.has(json.kind) && json.metadata?.namespace !== undefined) {
    const { namespace: _dropped, ...metadata } = json.metadata;
    return { ...json, metadata };
  }
  return json;
}

/** Path of the construct a user wrote: cdk8s-plus wraps each ApiObject in a child called "Resource". */
function ownerPath(obj: ApiObject): string {
  return obj.node.id === 'Resource' && obj.node.scope ? obj.node.scope.node.path : obj.node.path;
}

/**
 * Resolves one stack: runs construct validations, renders every ApiObject,
 * checks names are unique and runs the policy engine. Never writes anything.
 */
export function synthesizeStack(stack: Stack): SynthesizedStack {
  const constructs = stack.node.findAll();
  const problems: string[] = [];
  for (const c of constructs) {
    for (const message of c.node.validate()) problems.push(`${c.node.path}: ${message}`);
  }
  const rendered = constructs.filter(ApiObject.isApiObject).map((obj) => ({ manifest: toManifest(obj), constructPath: ownerPath(obj) }));
  rendered.sort((a, b) => compareObjects(a.manifest, b.manifest));

  const seen = new Map<string, string>();
  const byKindName = new Map<string, number>();
  for (const { manifest, constructPath } of rendered) {
    const key = describe(manifest);
    const previous = seen.get(key);
    if (previous) problems.push(`${constructPath}: ${key} is also defined by ${previous}. Fix: give one of them another name`);
    seen.set(key, constructPath);
    const kindName = `${manifest.kind}/${manifest.metadata.name}`;
    byKindName.set(kindName, (byKindName.get(kindName) ?? 0) + 1);
  }
  const objects = rendered.map(({ manifest, constructPath }) => {
    const kind = manifest.kind.toLowerCase();
    const clash = (byKindName.get(`${manifest.kind}/${manifest.metadata.name}`) ?? 0) > 1;
    const base = clash && manifest.metadata.namespace ? `${kind}-${manifest.metadata.namespace}-${manifest.metadata.name}` : `${kind}-${manifest.metadata.name}`;
    // RBAC names may hold ':' (system:metrics-server), which some file systems and tools reject.
    return { manifest, constructPath, fileName: `${base.replace(/[^a-z0-9.-]/g, '-')}.yaml` };
  });

  const files: SynthesizedStack['files'][number][] = [];
  for (const f of constructs.filter(OutputFile.isOutputFile)) {
    try {
      files.push({ path: f.path, shared: f.shared, content: f.render(), constructPath: f.node.path });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  files.sort((a, b) => byCodePoint(a.path, b.path));

  const policy = evaluatePolicy(objects);
  problems.push(...policy.violations.map(formatFinding));
  if (!stack.environment.hasKubernetes && objects.length > 0) {
    problems.push(
      `${objects[0].constructPath}: environment "${stack.environment.name}" has no Kubernetes cluster, but ${objects.length} Kubernetes object(s) were added (${objects.slice(0, 3).map((o) => describe(o.manifest)).join(', ')}). ` +
        'Fix: set kubernetesVersion on the environment, or move the Kubernetes constructs to a Kubernetes environment',
    );
  }
  // Distinct objects whose names differ only in characters a file name cannot hold (a:b vs a-b); true duplicates were reported above.
  const fileOwners = new Map<string, string>();
  for (const o of objects) {
    const owner = fileOwners.get(o.fileName);
    if (owner !== undefined && owner !== describe(o.manifest)) {
      problems.push(`${o.constructPath}: ${describe(o.manifest)} would be written to ${o.fileName}, which ${owner} already uses. Fix: rename one of them`);
    }
    fileOwners.set(o.fileName, describe(o.manifest));
  }
  return { stack, environment: stack.environment, objects, policy, files, problems };
}

/** The stacks of an app, in environment-name order. */
export function stacksOf(app: App): Stack[] {
  return app.node.children.filter((c): c is Stack => c instanceof Stack).sort((a, b) => byCodePoint(a.environment.name, b.environment.name));
}

/** Synthesizes every stack of an app; throws one error listing every problem of every stack. */
export function synthesizeApp(app: App): SynthesizedStack[] {
  const results = stacksOf(app).map(synthesizeStack);
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.environment.name}: ${p}`));
  if (problems.length > 0) throw new ShipshapeAggregateError('synth failed; nothing was written', problems);
  return results;
}
