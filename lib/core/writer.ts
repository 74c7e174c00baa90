import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { stringify } from 'yaml';
import { ShipshapeAggregateError } from './errors';
import { PolicyExemption, PolicyFinding } from './policy/engine';
import { SynthesizedStack, YAML_OPTIONS, renderManifest, synthesizeApp } from './synth';
import { byCodePoint } from './ordering';

/** What one environment's synth produced, for the summary line. */
export interface EnvironmentSummary {
  readonly environment: string;
  readonly objects: number;
  readonly warnings: readonly PolicyFinding[];
  readonly exemptions: readonly PolicyExemption[];
  /** Output directory of the environment. */
  readonly directory: string;
}

/** The files of every environment, keyed by path relative to the output directory. */
export function renderFiles(results: readonly SynthesizedStack[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const r of results) {
    // A Docker/Swarm-only environment has no manifests and gets no empty kustomization.
    if (r.environment.hasKubernetes || r.objects.length > 0) {
      const dir = `${r.environment.name}/kubernetes`;
      for (const o of r.objects) files.set(`${dir}/${o.fileName}`, renderManifest(o.manifest));
      const kustomization = {
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: r.objects.map((o) => o.fileName),
      };
      files.set(`${dir}/kustomization.yaml`, stringify(kustomization, YAML_OPTIONS));
    }
    for (const f of r.files) {
      const rel = f.shared ? f.path : `${r.environment.name}/${f.path}`;
      const existing = files.get(rel);
      if (existing !== undefined && existing !== f.content) {
        throw new ShipshapeAggregateError('synth failed; nothing was written', [`${f.constructPath}: ${rel} is written twice with different content. Fix: give the files distinct paths`]);
      }
      files.set(rel, f.content);
    }
  }
  return files;
}

/**
 * Marker file synth writes at the top of its output. A directory is only ever
 * replaced when it holds this marker (or is empty), so a mistyped outdir can
 * never wipe a source tree or a home directory.
 */
export const OUTPUT_MARKER = '.shipshape-output';
const MARKER_CONTENT = 'Written by shipshape synth. This directory is replaced as a whole on every synth; do not keep other files here.\n';

function refuse(problem: string): never {
  throw new ShipshapeAggregateError('synth failed; nothing was written', [problem]);
}

/** Refuses output directories whose replacement would delete files synth did not write. */
function assertReplaceable(target: string): void {
  const cwd = path.resolve(process.cwd());
  if (target === path.parse(target).root || target === cwd || cwd.startsWith(`${target}${path.sep}`)) {
    refuse(`output directory ${target} is, or contains, the current directory. Fix: write to a subdirectory such as "dist"`);
  }
  if (!fs.existsSync(target)) return;
  if (!fs.statSync(target).isDirectory()) refuse(`output path ${target} is a file. Fix: choose a directory path`);
  const entries = fs.readdirSync(target);
  if (entries.length > 0 && !entries.includes(OUTPUT_MARKER)) {
    refuse(`output directory ${target} holds files synth did not write (no ${OUTPUT_MARKER} marker), and synth replaces the whole directory. Fix: choose a new or empty directory, or delete this one first`);
  }
}

/**
 * Replaces `outdir` with exactly `files` (plus the output marker). Everything is
 * written to a sibling staging directory first and swapped in with renames; if the
 * swap fails the previous tree is put back, so `outdir` holds either the previous
 * tree or the new one, never a mix.
 */
export function writeFilesAtomically(outdir: string, files: ReadonlyMap<string, string>): void {
  const target = path.resolve(outdir);
  assertReplaceable(target);
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const staging = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}-staging-`));
  try {
    fs.writeFileSync(path.join(staging, OUTPUT_MARKER), MARKER_CONTENT);
    // One mkdir per directory, not per file: environments hold thousands of files in a handful of directories.
    const made = new Set<string>();
    for (const [rel, content] of [...files].sort(([a], [b]) => byCodePoint(a, b))) {
      const file = path.join(staging, rel);
      const dir = path.dirname(file);
      if (!made.has(dir)) {
        fs.mkdirSync(dir, { recursive: true });
        made.add(dir);
      }
      fs.writeFileSync(file, content);
    }
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  const previous = `${staging}-previous`;
  const hadPrevious = fs.existsSync(target);
  if (hadPrevious) fs.renameSync(target, previous);
  try {
    fs.renameSync(staging, target);
  } catch (e) {
    if (hadPrevious) fs.renameSync(previous, target);
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  if (hadPrevious) fs.rmSync(previous, { recursive: true, force: true });
}

/** Options of {@link synth}. */
export interface SynthOptions {
  /**
   * Output directory.
   * @default process.env.CDK8S_OUTDIR ?? 'dist'
   */
  readonly outdir?: string;
}

/**
 * Synthesizes every environment of `app` into `<outdir>/<env>/kubernetes/`.
 * Nothing is written unless every environment passes validation and policy.
 */
export function synth(app: App, options: SynthOptions = {}): EnvironmentSummary[] {
  const outdir = options.outdir ?? process.env.CDK8S_OUTDIR ?? 'dist';
  const results = synthesizeApp(app);
  const names = results.map((r) => r.environment.name);
  const duplicated = names.filter((n, i) => names.indexOf(n) !== i);
  if (duplicated.length > 0) {
    throw new ShipshapeAggregateError('synth failed; nothing was written', [`environment "${duplicated[0]}" is used by more than one Stack. Fix: give each Stack its own environment`]);
  }
  writeFilesAtomically(outdir, renderFiles(results));
  return results.map((r) => ({
    environment: r.environment.name,
    objects: r.objects.length,
    warnings: r.policy.warnings,
    exemptions: r.policy.exemptions,
    directory: path.join(outdir, r.environment.name),
  }));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `prod: 14 objects, 0 warnings, 1 exemption → dist/prod` followed by one line per warning and exemption. */
export function formatSummary(s: EnvironmentSummary): string {
  const lines = [`${s.environment}: ${plural(s.objects, 'object')}, ${plural(s.warnings.length, 'warning')}, ${plural(s.exemptions.length, 'exemption')} → ${s.directory}`];
  for (const w of s.warnings) lines.push(`  warning [${w.ruleId}] ${w.object}: ${w.message}`);
  for (const e of s.exemptions) lines.push(`  exempt  [${e.ruleId}] ${e.object}: ${e.reason}`);
  return lines.join('\n');
}
