import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { ShipshapeAggregateError } from './errors';
import { explainingFailure, failureHeading } from './output-state';
import { PolicyExemption, PolicyFinding } from './policy/engine';
import { SynthesizedStack, renderManifest, stacksOf, synthesizeSelection } from './synth';
import { SYNTH_HOOK_PROTOCOL, SynthLibrary, SynthPlan, registeredSynthHook } from './synth-hook';
import { byCodePoint } from './ordering';
import { processAlive } from './processes';
import { SHARED_OUTPUT_FOLDERS } from './output-file';
import { toYaml } from './yaml';

/** What one environment's synth produced, for the summary line. */
export interface EnvironmentSummary {
  readonly environment: string;
  readonly objects: number;
  readonly warnings: readonly PolicyFinding[];
  readonly exemptions: readonly PolicyExemption[];
  /** Facts constructs report, e.g. how many manager failures a swarm survives. */
  readonly notes: readonly string[];
  /** Output directory of the environment. */
  readonly directory: string;
  /**
   * What was written under `directory`: its folders with a trailing slash (`kubernetes/`, `images/`, `swarm/` …) and its top-level files.
   * @default - not listed
   */
  readonly groups?: readonly string[];
  /**
   * Shared folders outside `directory` the environment wrote into, as paths with the output directory (`dist/argocd/`).
   * @default - none
   */
  readonly shared?: readonly string[];
}

/** The files of every environment, keyed by path relative to the output directory. */
export function renderFiles(results: readonly SynthesizedStack[]): Map<string, string> {
  const files = new Map<string, string>();
  const environments = new Set(results.map((r) => r.environment.name));
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
      files.set(`${dir}/kustomization.yaml`, toYaml(kustomization));
    }
    for (const f of r.files) {
      const top = f.path.split('/')[0];
      if (f.shared && (environments.has(top) || top === OUTPUT_MARKER)) {
        throw new ShipshapeAggregateError('synth failed; nothing was written', [
          `${f.constructPath}: the shared file ${f.path} would land in ${top === OUTPUT_MARKER ? 'the output marker' : `the directory of environment "${top}"`}, which only that environment writes. Fix: write it under a shared folder such as "${SHARED_OUTPUT_FOLDERS[0]}/", or make it an environment file (shared: false)`,
        ]);
      }
      const rel = f.shared ? f.path : `${r.environment.name}/${f.path}`;
      const existing = files.get(rel);
      if (existing !== undefined && existing !== f.content) {
        throw new ShipshapeAggregateError('synth failed; nothing was written', [`${f.constructPath}: ${rel} is written twice with different content. Fix: give the files distinct paths`]);
      }
      files.set(rel, f.content);
    }
    for (const t of r.imageTests) files.set(`${r.environment.name}/${t.path}`, t.content);
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

function refuse(dir: string, problem: string): never {
  throw new ShipshapeAggregateError(failureHeading(dir), [problem]);
}

/** Refuses output directories whose replacement would delete files synth did not write. */
function assertReplaceable(target: string): void {
  const cwd = path.resolve(process.cwd());
  if (target === path.parse(target).root || target === cwd || cwd.startsWith(`${target}${path.sep}`)) {
    refuse(target, `output directory ${target} is, or contains, the current directory. Fix: write to a subdirectory such as "dist"`);
  }
  if (!fs.existsSync(target)) return;
  if (!fs.statSync(target).isDirectory()) refuse(target, `output path ${target} is a file. Fix: choose a directory path`);
  const entries = fs.readdirSync(target).filter((e) => !e.startsWith(INNER_STAGING) && !e.startsWith(INNER_PREVIOUS));
  if (entries.length > 0 && !entries.includes(OUTPUT_MARKER)) {
    refuse(
      target,
      `output directory ${target} holds files synth did not write (no ${OUTPUT_MARKER} marker), and synth replaces the whole directory. Fix: choose a new or empty directory, or delete this one first`,
    );
  }
}

/** File-system operations the writer swaps directories with; tests replace `rename` to simulate a mount point. */
export interface WriterIo {
  readonly rename: (from: string, to: string) => void;
}

const DEFAULT_IO: WriterIo = { rename: (from, to) => fs.renameSync(from, to) };

// Errors that mean "this directory cannot be renamed here" (a mount point, another file system, a parent
// the process may not write): synth then replaces the directory's contents instead of the directory.
const RENAME_REFUSALS = new Set(['EBUSY', 'EXDEV', 'EPERM', 'EACCES', 'EROFS']);

function isRenameRefusal(e: unknown): boolean {
  return RENAME_REFUSALS.has((e as NodeJS.ErrnoException)?.code ?? '');
}

// Working directories inside the output directory, used when it cannot be renamed.
const INNER_STAGING = '.shipshape-staging-';
const INNER_PREVIOUS = '.shipshape-previous-';

/** A fresh directory name for this process: `<prefix><pid>-<random>`, so a later synth can tell whether its writer still runs. */
function workDirectory(dir: string, prefix: string): string {
  const name = path.join(dir, `${prefix}${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  // mkdir, not mkdtemp: the mode follows the umask (0755 usually), and a swapped-in staging directory becomes the output.
  fs.mkdirSync(name);
  return name;
}

/**
 * Removes working directories a killed synth left in `dir`: names starting with one of `prefixes` whose
 * writer process is gone, and (with `requireMarker`) that are empty or carry the output marker. Nothing
 * else is touched.
 */
function removeStaleWorkDirectories(dir: string, prefixes: readonly string[], requireMarker: boolean): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const prefix = prefixes.find((p) => entry.name.startsWith(p));
    if (prefix === undefined || !entry.isDirectory()) continue;
    // Names without a process id come from older versions (mkdtemp), whose writer is long gone.
    const pid = /^(\d+)-/.exec(entry.name.slice(prefix.length));
    if (pid && processAlive(Number(pid[1]))) continue;
    const full = path.join(dir, entry.name);
    const contents = fs.readdirSync(full);
    if (contents.length === 0) fs.rmdirSync(full);
    else if (!requireMarker || contents.includes(OUTPUT_MARKER)) fs.rmSync(full, { recursive: true, force: true });
  }
}

/**
 * A synth killed (or failing twice) between moving the output aside and moving the new one in leaves only
 * `<prefix>…-previous`: put the newest such tree back, so the cleanup below does not delete the only copy.
 */
function recoverPrevious(parent: string, prefix: string, target: string): void {
  const candidates = fs
    .readdirSync(parent, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith(prefix) && e.name.endsWith('-previous'))
    .map((e) => path.join(parent, e.name))
    .filter((dir) => {
      const pid = /^(\d+)-/.exec(path.basename(dir).slice(prefix.length));
      return !(pid && processAlive(Number(pid[1]))) && fs.existsSync(path.join(dir, OUTPUT_MARKER));
    })
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (candidates.length > 0) fs.renameSync(candidates[0], target);
}

/** Writes the marker and `files` under `dir`. */
function writeTree(dir: string, files: ReadonlyMap<string, string>): void {
  fs.writeFileSync(path.join(dir, OUTPUT_MARKER), MARKER_CONTENT);
  // One mkdir per directory, not per file: environments hold thousands of files in a handful of directories.
  const made = new Set<string>();
  for (const [rel, content] of [...files].sort(([a], [b]) => byCodePoint(a, b))) {
    const file = path.join(dir, rel);
    const parent = path.dirname(file);
    if (!made.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    fs.writeFileSync(file, content);
  }
}

/** Creates a working directory with `files` in it; nothing is left behind when writing fails. */
function stage(dir: string, prefix: string, files: ReadonlyMap<string, string>): string {
  const staging = workDirectory(dir, prefix);
  try {
    writeTree(staging, files);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  return staging;
}

/**
 * The directory synth writes into: `outdir` itself, or the directory a symlinked `outdir` points to
 * (the link is kept, its target's contents replaced).
 */
function outputDirectory(outdir: string): string {
  const requested = path.resolve(outdir);
  let link: fs.Stats | undefined;
  try {
    link = fs.lstatSync(requested);
  } catch {
    return requested;
  }
  if (!link.isSymbolicLink()) return requested;
  try {
    return fs.realpathSync(requested);
  } catch {
    return refuse(requested, `output directory ${requested} is a symbolic link to ${fs.readlinkSync(requested)}, which does not exist. Fix: create the link's target, or remove the link`);
  }
}

/**
 * Replaces the contents of `target` (a directory that cannot itself be renamed, such as a mount point) with
 * `files`: the new tree is staged inside `target`, the previous entries are moved aside into `target`, the
 * new ones moved in, then the previous ones deleted. A failure before the new entries are in place puts the
 * previous ones back.
 */
function replaceContents(target: string, files: ReadonlyMap<string, string>, io: WriterIo): void {
  const staging = stage(target, INNER_STAGING, files);
  let previous: string | undefined;
  const movedOut: string[] = [];
  const movedIn: string[] = [];
  try {
    previous = workDirectory(target, INNER_PREVIOUS);
    const aside = previous;
    const own = new Set([path.basename(staging), path.basename(aside)]);
    // The marker leaves last and arrives first, so a synth killed half-way leaves a directory the next
    // synth still recognises as its own (the marker, or nothing but these working directories).
    const markerLast = (a: string, b: string) => Number(a === OUTPUT_MARKER) - Number(b === OUTPUT_MARKER);
    for (const entry of fs
      .readdirSync(target)
      .filter((e) => !own.has(e))
      .sort(markerLast)) {
      io.rename(path.join(target, entry), path.join(aside, entry));
      movedOut.push(entry);
    }
    for (const entry of fs.readdirSync(staging).sort(markerLast).reverse()) {
      io.rename(path.join(staging, entry), path.join(target, entry));
      movedIn.push(entry);
    }
  } catch (e) {
    for (const entry of movedIn) fs.rmSync(path.join(target, entry), { recursive: true, force: true });
    for (const entry of movedOut) fs.renameSync(path.join(previous!, entry), path.join(target, entry));
    fs.rmSync(staging, { recursive: true, force: true });
    if (previous !== undefined) fs.rmSync(previous, { recursive: true, force: true });
    throw e;
  }
  fs.rmSync(staging, { recursive: true, force: true });
  fs.rmSync(previous, { recursive: true, force: true });
}

/**
 * Replaces `outdir` with exactly `files` (plus the output marker). Everything is written to a sibling
 * staging directory first and swapped in with renames; if the swap fails the previous tree is put back, so
 * `outdir` holds either the previous tree or the new one, never a mix. When `outdir` cannot be renamed (a
 * mount point, another file system, a read-only parent) its contents are replaced in place instead. A
 * symlinked `outdir` stays a link: its target is replaced. Working directories a killed synth left behind
 * (`.<outdir>-staging-*` carrying the output marker) are removed first.
 */
export function writeFilesAtomically(outdir: string, files: ReadonlyMap<string, string>, io: WriterIo = DEFAULT_IO): void {
  const target = outputDirectory(outdir);
  assertReplaceable(target);
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const prefix = `.${path.basename(target)}-staging-`;
  if (!fs.existsSync(target)) recoverPrevious(parent, prefix, target);
  removeStaleWorkDirectories(parent, [prefix], true);
  const exists = fs.existsSync(target);
  // The output directory is synth's own (assertReplaceable checked): its stale working directories go whole.
  if (exists) removeStaleWorkDirectories(target, [INNER_STAGING, INNER_PREVIOUS], false);

  let staging: string;
  try {
    staging = stage(parent, prefix, files);
  } catch (e) {
    // A parent synth may not write in (a bind mount under a read-only directory): stage inside the output.
    if (exists && isRenameRefusal(e)) return replaceContents(target, files, io);
    throw e;
  }
  const previous = `${staging}-previous`;
  if (exists) {
    try {
      io.rename(target, previous);
    } catch (e) {
      fs.rmSync(staging, { recursive: true, force: true });
      if (isRenameRefusal(e)) return replaceContents(target, files, io);
      throw e;
    }
  }
  try {
    io.rename(staging, target);
  } catch (e) {
    if (exists) io.rename(previous, target);
    fs.rmSync(staging, { recursive: true, force: true });
    if (exists && isRenameRefusal(e)) return replaceContents(target, files, io);
    throw e;
  }
  if (exists) fs.rmSync(previous, { recursive: true, force: true });
}

/** Options of {@link synth}. */
export interface SynthOptions {
  /**
   * Output directory.
   * @default process.env.CDK8S_OUTDIR ?? 'dist'
   */
  readonly outdir?: string;
}

/** The first path segment of `rel`, with a trailing slash when it is a folder. */
function group(rel: string): string {
  const slash = rel.indexOf('/');
  return slash < 0 ? rel : rel.slice(0, slash + 1);
}

/**
 * Shared files the `selected` environments write with other content than one of the `others` writes at the same
 * path: writing only the selected ones would silently replace the other environment's file.
 */
function sharedFileConflicts(selected: readonly SynthesizedStack[], others: readonly SynthesizedStack[]): string[] {
  const theirs = others.flatMap((o) => o.files.filter((f) => f.shared).map((f) => ({ ...f, environment: o.environment.name })));
  return selected.flatMap((r) =>
    r.files
      .filter((f) => f.shared)
      .flatMap((f) =>
        theirs
          .filter((o) => o.path === f.path && o.content !== f.content)
          .map((o) => `${f.constructPath}: ${f.path} is also written by environment "${o.environment}" (${o.constructPath}) with different content. Fix: give the files distinct paths`),
      ),
  );
}

/** Validates and renders the named environments of `app` (all when omitted) without writing anything. */
function planSynth(app: App, outdir: string, environments?: readonly string[]): SynthPlan {
  const { selected: results, others } = synthesizeSelection(app, environments);
  const names = [...results, ...others].map((r) => r.environment.name);
  const duplicated = names.filter((n, i) => names.indexOf(n) !== i);
  if (duplicated.length > 0) {
    throw new ShipshapeAggregateError('synth failed; nothing was written', [`environment "${duplicated[0]}" is used by more than one Stack. Fix: give each Stack its own environment`]);
  }
  const conflicts = sharedFileConflicts(results, others);
  if (conflicts.length > 0) throw new ShipshapeAggregateError('synth failed; nothing was written', conflicts);
  const files = renderFiles(results);
  const summaries = results.map((r) => {
    const own = `${r.environment.name}/`;
    const groups = new Set([...files.keys()].filter((f) => f.startsWith(own)).map((f) => group(f.slice(own.length))));
    const shared = new Set(r.files.filter((f) => f.shared).map((f) => path.join(outdir, group(f.path))));
    return {
      environment: r.environment.name,
      objects: r.objects.length,
      warnings: r.policy.warnings,
      exemptions: r.policy.exemptions,
      notes: r.notes,
      directory: path.join(outdir, r.environment.name),
      groups: [...groups].sort(byCodePoint),
      shared: [...shared].sort(byCodePoint),
    };
  });
  return { files, summaries };
}

/** This copy's side of the CLI exchange. */
const LIBRARY: SynthLibrary = {
  environments: (app) => stacksOf(app).map((s) => s.environment.name),
  plan: planSynth,
  write: (outdir, files) => writeFilesAtomically(outdir, files),
  format: (summary, written) => summaryLines(summary, written),
  outputMarker: OUTPUT_MARKER,
  sharedFolders: SHARED_OUTPUT_FOLDERS,
};

/**
 * Synthesizes every environment of `app` into `<outdir>/<env>/kubernetes/`.
 * Nothing is written unless every environment passes validation and policy.
 * Run by the `shipshape` CLI, it hands the app to the CLI instead, which synthesizes, writes and prints the
 * summary itself; synth then returns no summaries, so a program that prints them prints nothing twice.
 */
export function synth(app: App, options: SynthOptions = {}): EnvironmentSummary[] {
  const hook = registeredSynthHook();
  if (hook !== undefined) {
    hook.capture({ protocol: SYNTH_HOOK_PROTOCOL, app, outdir: options.outdir, library: LIBRARY });
    return [];
  }
  const outdir = options.outdir ?? process.env.CDK8S_OUTDIR ?? 'dist';
  const plan = explainingFailure(outdir, () => planSynth(app, outdir));
  writeFilesAtomically(outdir, plan.files);
  return [...plan.summaries];
}

/** `1 object`, `2 objects`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Where the files of `s` went: `dist/prod (images/, kubernetes/), dist/argocd/`. */
function destination(s: EnvironmentSummary): string {
  const groups = s.groups === undefined ? '' : ` (${s.groups.length > 0 ? s.groups.join(', ') : 'no files'})`;
  return [`${s.directory}${groups}`, ...(s.shared ?? [])].join(', ');
}

/**
 * `prod: 14 objects, 0 warnings, 1 exemption → dist/prod (images/, kubernetes/), dist/argocd/` followed by
 * one line per warning, exemption and note.
 */
export function formatSummary(s: EnvironmentSummary): string {
  return summaryLines(s, true);
}

/** {@link formatSummary}, or (`written` false, for a check that writes nothing) without the destination. */
export function summaryLines(s: EnvironmentSummary, written: boolean): string {
  const counts = `${s.environment}: ${plural(s.objects, 'object')}, ${plural(s.warnings.length, 'warning')}, ${plural(s.exemptions.length, 'exemption')}`;
  const lines = [written ? `${counts} → ${destination(s)}` : counts];
  for (const w of s.warnings) lines.push(`  warning [${w.ruleId}] ${w.object}: ${w.message}`);
  for (const e of s.exemptions) lines.push(`  exempt  [${e.ruleId}${e.variable !== undefined ? ` ${e.variable}` : ''}] ${e.object}: ${e.reason}`);
  for (const n of s.notes) lines.push(`  note    ${n}`);
  return lines.join('\n');
}
