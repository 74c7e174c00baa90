import { ApiObject, App } from 'cdk8s';
import { deferredFields, isDeferred } from './deferred';
import { Environment, describeCluster } from './environment';
import { ShipshapeAggregateError } from './errors';
import { ImageStructureTest, environmentImageTests } from './image-tests';
import { OutputFile } from './output-file';
import { CLUSTER_SCOPED_KINDS, applyTier, byCodePoint } from './ordering';
import { LocatedCredential } from './policy/credentials';
import { PolicyReport, constructExemptions, constructNotes, constructWarnings, evaluatePolicy, formatFinding } from './policy/engine';
import { Manifest, describe } from './manifest';
import { Stack } from './stack';
import { isDns1035Label } from './validate';
import { toYaml } from './yaml';

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
  /** container-structure-test configs of the workload images, written under `dist/<env>/images/` (see image-tests.ts). */
  readonly imageTests: readonly ImageStructureTest[];
  /** Facts constructs report for the summary, one line each. */
  readonly notes: readonly string[];
}

/** Renders one manifest as a YAML document that YAML 1.1 and 1.2 readers read the same way. */
export function renderManifest(m: Manifest): string {
  return toYaml(m);
}

function compareObjects(a: Manifest, b: Manifest): number {
  return applyTier(a.kind) - applyTier(b.kind) || byCodePoint(a.kind, b.kind) || byCodePoint(a.metadata.namespace ?? '', b.metadata.namespace ?? '') || byCodePoint(a.metadata.name, b.metadata.name);
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

/** Options of {@link synthesizeStackWith}. */
export interface SynthesizeStackOptions {
  /**
   * Whether values known only at deploy time (deferred tokens) may stay in the result, for a back end that
   * resolves them before it deploys (the Pulumi StackComponent).
   * @default false - each is a problem: a synthesized file cannot hold a value that does not exist yet
   */
  readonly allowDeferred?: boolean;
}

const DEFERRED_FIX = 'deploy this environment with StackComponent (shipshape/pulumi), which resolves it, or give a literal value';

/**
 * Resolves one stack: runs construct validations, renders every ApiObject,
 * checks names are unique and runs the policy engine. Never writes anything.
 */
export function synthesizeStack(stack: Stack): SynthesizedStack {
  return synthesizeStackWith(stack, {});
}

/** {@link synthesizeStack} with options, for the back ends. */
export function synthesizeStackWith(stack: Stack, options: SynthesizeStackOptions): SynthesizedStack {
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
    // Service names become DNS labels under RFC 1035 rules; the API server refuses one starting with a digit.
    if (manifest.kind === 'Service' && manifest.apiVersion === 'v1' && !isDns1035Label(manifest.metadata.name)) {
      problems.push(
        `${constructPath}: Service name "${manifest.metadata.name}" must start with a letter (RFC 1035 label: lower-case letters, digits and '-', at most 63). Fix: rename the construct's name`,
      );
    }
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

  if (!options.allowDeferred) {
    for (const { manifest, constructPath } of objects) {
      for (const d of deferredFields(manifest)) {
        problems.push(`${constructPath}: ${describe(manifest)} field ${d.field} holds a value known only at deploy time (${JSON.stringify(d.value)}). Fix: ${DEFERRED_FIX}`);
      }
    }
  }

  const files: SynthesizedStack['files'][number][] = [];
  for (const f of constructs.filter(OutputFile.isOutputFile)) {
    try {
      const { content, credentials } = f.renderAndScan();
      files.push({ path: f.path, shared: f.shared, content, constructPath: f.node.path });
      problems.push(...fileCredentialProblems(f, credentials, stack.environment.name));
      if (!options.allowDeferred) problems.push(...fileDeferredProblems(f, content, stack.environment.name));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  files.sort((a, b) => byCodePoint(a.path, b.path));

  const policy = evaluatePolicy(objects);
  // Swarm services and Docker host files declare their exemptions on the construct; the summary lists them too.
  policy.exemptions.push(...constructExemptions(constructs));
  policy.warnings.push(...constructWarnings(constructs));
  problems.push(...policy.violations.map(formatFinding));
  if (!stack.environment.hasKubernetes && objects.length > 0) {
    problems.push(
      `${objects[0].constructPath}: environment "${stack.environment.name}" has no Kubernetes cluster, but ${objects.length} Kubernetes object(s) were added (${objects
        .slice(0, 3)
        .map((o) => describe(o.manifest))
        .join(', ')}). ` + 'Fix: set kubernetesVersion on the environment, or move the Kubernetes constructs to a Kubernetes environment',
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
  const images = environmentImageTests(
    objects,
    constructs,
    files.filter((f) => !f.shared).map((f) => f.path),
  );
  problems.push(...images.problems);
  return { stack, environment: stack.environment, objects, policy, files, problems, imageTests: images.tests, notes: constructNotes(constructs) };
}

/** A file as messages name it: relative to the output directory, which synth (`--out`, `outdir`) may put anywhere. */
function fileInOutput(f: OutputFile, envName: string): string {
  return f.shared ? `shared file ${f.path} of the output directory` : `file ${envName}/${f.path} of the output directory`;
}

/**
 * Non-Kubernetes files (Argo CD applications, daemon.json, stack files, configs, runbooks) are read by no policy
 * rule, so each is scanned as written with the detector the rules use: whatever field put a credential there.
 */
function fileCredentialProblems(f: OutputFile, credentials: readonly LocatedCredential[], envName: string): string[] {
  const where = `the ${fileInOutput(f, envName)}`;
  const owner = f.node.scope?.node.path ?? f.node.path;
  return credentials
    .filter((c) => !f.allowsCredential(c))
    .map(
      (c) =>
        `${owner}: ${where} would hold a credential in plain text (${c.kind}${c.subject ? ` in ${c.subject}` : ''}) at ${c.path}: ${c.excerpt}. Fix: remove it from the properties of ${owner} that write ${c.path}, and reference a secret by name instead (a Kubernetes or Swarm secret, the host's credential store)`,
    );
}

/** A file (a Swarm stack file, a config) holding a deferred token: one problem per line that holds one. */
function fileDeferredProblems(f: OutputFile, content: string, envName: string): string[] {
  const where = fileInOutput(f, envName);
  const owner = f.node.scope?.node.path ?? f.node.path;
  return content
    .split('\n')
    .flatMap((line, i) => (isDeferred(line) ? [`${owner}: the ${where}, line ${i + 1}, holds a value known only at deploy time (${JSON.stringify(line.trim())}). Fix: ${DEFERRED_FIX}`] : []));
}

/** The stacks of an app, in the order they were declared (file output does not depend on it; summaries follow it). */
export function stacksOf(app: App): Stack[] {
  return app.node.children.filter((c): c is Stack => c instanceof Stack);
}

// Enough examples of a collision to act on, without drowning the message in a whole platform's objects.
const COLLISIONS_LISTED = 5;

/**
 * Environments that deploy to the same stated cluster must not own the same object: whichever applies last
 * wins, and GitOps with prune and self-heal keeps overwriting the other (dev's one-node Elasticsearch over
 * prod's three). One problem per pair of environments, naming both, the objects and the fix; with `concerning`,
 * only for pairs that include one of those environments.
 */
export function crossEnvironmentProblems(results: readonly SynthesizedStack[], concerning?: readonly string[]): string[] {
  const problems: string[] = [];
  const kubernetes = results.filter((r) => r.environment.clusterKey !== undefined && r.objects.length > 0);
  for (const [i, a] of kubernetes.entries()) {
    const owners = new Map(a.objects.map((o) => [describe(o.manifest), o.constructPath]));
    for (const b of kubernetes.slice(i + 1)) {
      if (a.environment.clusterKey !== b.environment.clusterKey) continue;
      if (concerning !== undefined && !concerning.includes(a.environment.name) && !concerning.includes(b.environment.name)) continue;
      const shared = b.objects.filter((o) => owners.has(describe(o.manifest)));
      if (shared.length === 0) continue;
      const listed = shared.slice(0, COLLISIONS_LISTED).map((o) => `${describe(o.manifest)} (${owners.get(describe(o.manifest))} and ${o.constructPath})`);
      const more = shared.length > COLLISIONS_LISTED ? ` and ${shared.length - COLLISIONS_LISTED} more` : '';
      problems.push(
        `environments "${a.environment.name}" and "${b.environment.name}" both deploy to ${describeCluster(a.environment.cluster!)} and would both own ${shared.length} object(s): ${listed.join(', ')}${more}; ` +
          "each apply or sync would overwrite the other environment's version, and pruning would delete it. " +
          `Fix: give "${a.environment.name}" and "${b.environment.name}" different clusters (Environment.cluster), or different namespaces and names for every shared object`,
      );
    }
  }
  return problems;
}

/** The environments a synth returns, and the others it synthesized only to check them against. */
export interface SynthesizedSelection {
  readonly selected: readonly SynthesizedStack[];
  readonly others: readonly SynthesizedStack[];
}

/**
 * Synthesizes every stack of an app; throws one error listing every problem of the named `environments` (all
 * when omitted). The other environments are synthesized too, for the checks that span environments (two of them
 * owning one object on a cluster); their own problems are theirs to report when they are synthesized.
 */
export function synthesizeSelection(app: App, environments?: readonly string[]): SynthesizedSelection {
  const all: SynthesizedStack[] = [];
  const selected: SynthesizedStack[] = [];
  const others: SynthesizedStack[] = [];
  const problems: string[] = [];
  for (const s of stacksOf(app)) {
    const name = s.environment.name;
    if (environments === undefined || environments.includes(name)) {
      all.push(synthesizeStack(s));
      selected.push(all[all.length - 1]);
      continue;
    }
    try {
      all.push(synthesizeStack(s));
      others.push(all[all.length - 1]);
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message} (while synthesizing it to check it against ${environments.join(', ')}). Fix: correct ${name}, or synthesize it on its own to see its problems`);
    }
  }
  problems.unshift(...selected.flatMap((r) => r.problems.map((p) => `${r.environment.name}: ${p}`)));
  problems.push(...crossEnvironmentProblems(all, environments));
  if (problems.length > 0) throw new ShipshapeAggregateError('synth failed; nothing was written', problems);
  return { selected, others };
}

/**
 * Synthesizes every stack of an app and returns those of the named `environments` (all when omitted); throws one
 * error listing every problem of those environments, including clashes with any other environment.
 */
export function synthesizeApp(app: App, environments?: readonly string[]): SynthesizedStack[] {
  return [...synthesizeSelection(app, environments).selected];
}
