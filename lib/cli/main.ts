import * as fs from 'node:fs';
import * as path from 'node:path';
import { ShipshapeError } from '../core/errors';
import type { SynthPlan, SynthRequest } from '../core/synth-hook';
import { CliOptions, USAGE, parseArguments } from './args';
import { cacheDirectory } from './code-cache';
import { compileApp } from './compile';
import { diffOutputs, formatDiff, hasDifferences } from './diff';
import { withOutputLock } from './lock';
import { readOutputTree } from './output-tree';
import { findProject } from './project';
import { AppFailedError, runApp } from './run-app';

/** Exit codes: done; problems found (or differences, for diff --exit-code); the command could not run. */
export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_UNUSABLE = 2;

/** Where the CLI writes: its output and its errors. */
export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const PROCESS_OUTPUT: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** The problems of a ShipshapeAggregateError from any copy of shipshape (the program's copy may not be the CLI's). */
function problemsOf(e: unknown): readonly string[] | undefined {
  const problems = (e as { problems?: unknown } | null)?.problems;
  return Array.isArray(problems) && problems.every((p) => typeof p === 'string') ? problems : undefined;
}

/** Checks --env names against the program's environments; returns the selection in declared order. */
function selectEnvironments(request: SynthRequest, names: readonly string[]): string[] | undefined {
  if (names.length === 0) return undefined;
  const known = request.library.environments(request.app);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new ShipshapeError('--env', {
      problem: `names no environment of the program`,
      value: unknown.length === 1 ? unknown[0] : unknown,
      fix: known.length > 0 ? `use one of: ${known.join(', ')}` : 'the program declares no environment: add a Stack to its App',
    });
  }
  return known.filter((n) => names.includes(n));
}

/**
 * The files synth writes when only `selected` environments were synthesized: those, plus every other file the
 * output directory holds now (other environments, shared files they wrote), which replacing the directory
 * must keep.
 */
function withOtherEnvironments(outdir: string, plan: SynthPlan, selected: readonly string[], marker: string): Map<string, string> {
  // Without the marker the directory is not synth's: nothing to keep, and the writer refuses to replace it.
  if (!fs.existsSync(path.join(outdir, marker))) return new Map(plan.files);
  const files = readOutputTree(outdir, marker, (top) => selected.includes(top));
  for (const [rel, content] of plan.files) files.set(rel, content);
  return files;
}

async function run(options: CliOptions, request: SynthRequest, outdir: string, io: Output): Promise<number> {
  const { app, library } = request;
  const selected = selectEnvironments(request, options.environments);
  let plan: SynthPlan;
  try {
    plan = library.plan(app, outdir, selected);
  } catch (e) {
    const problems = problemsOf(e);
    if (problems === undefined) throw e;
    const heading = options.command === 'synth' ? 'synth failed; nothing was written' : `${options.command} found problems${options.command === 'diff' ? '; nothing was compared' : ''}`;
    io.err(`${heading} (${problems.length}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return EXIT_PROBLEMS;
  }
  switch (options.command) {
    case 'synth':
      // Locked from reading the other environments to the swap, so that two syntheses never undo each other's update.
      await withOutputLock(outdir, () => library.write(outdir, selected === undefined ? plan.files : withOtherEnvironments(outdir, plan, selected, library.outputMarker)));
      for (const s of plan.summaries) io.out(library.format(s, true));
      return EXIT_OK;
    case 'validate':
      for (const s of plan.summaries) io.out(library.format(s, false));
      io.out(`validate: no problems in ${plan.summaries.length} environment${plan.summaries.length === 1 ? '' : 's'}`);
      return EXIT_OK;
    case 'diff': {
      const against = options.against ?? outdir;
      if (options.against !== undefined && !fs.statSync(against, { throwIfNoEntry: false })?.isDirectory()) {
        throw new ShipshapeError('--against', { problem: 'no such directory', value: against, fix: 'name the directory holding the output to compare with, e.g. a checkout of dist/' });
      }
      const before = readOutputTree(path.resolve(against), library.outputMarker);
      const report = diffOutputs(before, plan.files, selected ?? library.environments(app), library.sharedFolders, selected !== undefined);
      io.out(formatDiff(report, against));
      return options.exitCode && hasDifferences(report) ? EXIT_PROBLEMS : EXIT_OK;
    }
  }
}

/**
 * Runs `shipshape <argv…>` in the current directory and returns the exit code. The program is compiled (or
 * taken from the cache) and run in this process; its synth call hands the App over, and the command works on it.
 */
export async function main(argv: readonly string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const cwd = process.cwd();
  try {
    const options = parseArguments(argv);
    if (options === 'help') {
      io.out(USAGE);
      return EXIT_OK;
    }
    const cacheDir = cacheDirectory(cwd);
    const project = findProject(cwd, cacheDir, options.app);
    // As under `cdk8s synth`: the program may read its output directory from CDK8S_OUTDIR.
    if (options.out !== undefined) process.env.CDK8S_OUTDIR = options.out;
    else if (process.env.CDK8S_OUTDIR === undefined && project.output !== undefined) process.env.CDK8S_OUTDIR = project.output;
    const compiled = await compileApp(project.app, cwd, cacheDir);
    const request = await runApp(compiled.file, project.app);
    const outdir = options.out ?? request.outdir ?? process.env.CDK8S_OUTDIR ?? 'dist';
    return await run(options, request, outdir, io);
  } catch (e) {
    const problems = problemsOf(e);
    if (problems !== undefined) io.err(`${(e as Error).message.split('\n')[0]}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    else if (e instanceof AppFailedError) io.err(e.message);
    else io.err(`shipshape: ${(e as Error).message ?? String(e)}`);
    // A problem in the user's input (a construct refusing its props) is one the command found, as policy problems are.
    return problems !== undefined || (e instanceof AppFailedError && e.inputProblem) ? EXIT_PROBLEMS : EXIT_UNUSABLE;
  }
}
