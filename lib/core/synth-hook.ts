import type { App } from 'cdk8s';
import type { EnvironmentSummary } from './writer';

/**
 * Where the `shipshape` CLI registers itself before it runs a program. A global symbol, not a module-level
 * variable: the program may bundle its own copy of shipshape, and every copy must find the same hook.
 */
export const SYNTH_HOOK = Symbol.for('shipshape.cli');

/** Version of the exchange below; a CLI refuses a program whose copy of shipshape speaks another one. */
export const SYNTH_HOOK_PROTOCOL = 1;

/** What one environment-filtered synth would write, computed without writing. */
export interface SynthPlan {
  /** Every file, keyed by path relative to the output directory (the output marker excluded). */
  readonly files: ReadonlyMap<string, string>;
  /** One summary per environment, in declared order. */
  readonly summaries: readonly EnvironmentSummary[];
}

/**
 * The functions of the program's copy of shipshape the CLI works with: its Stacks are instances of that
 * copy's classes, so only that copy can synthesize them.
 */
export interface SynthLibrary {
  /** Environment names of the app's Stacks, in declared order. */
  readonly environments: (app: App) => string[];
  /** Validation, policy and rendering of the named environments (all when omitted); throws ShipshapeAggregateError on any problem. */
  readonly plan: (app: App, outdir: string, environments?: readonly string[]) => SynthPlan;
  /** Replaces `outdir` with exactly `files`, atomically. */
  readonly write: (outdir: string, files: ReadonlyMap<string, string>) => void;
  /** The summary of one environment as synth prints it; `written` false leaves out where the files went. */
  readonly format: (summary: EnvironmentSummary, written: boolean) => string;
  /** Name of the marker file at the top of an output directory. */
  readonly outputMarker: string;
  /** Top-level folders of the output directory that hold files of several environments (`argocd`). */
  readonly sharedFolders: readonly string[];
}

/** What `synth()` hands the CLI instead of writing. */
export interface SynthRequest {
  readonly protocol: number;
  readonly app: App;
  /**
   * The output directory the program asked for.
   * @default - none given: the CLI decides
   */
  readonly outdir?: string;
  readonly library: SynthLibrary;
}

/** The CLI's side: takes over one synth call. */
export interface SynthHook {
  readonly capture: (request: SynthRequest) => void;
}

/** The hook the CLI registered in this process, if any. */
export function registeredSynthHook(): SynthHook | undefined {
  const hook = (globalThis as Record<symbol, unknown>)[SYNTH_HOOK] as Partial<SynthHook> | undefined;
  return typeof hook?.capture === 'function' ? (hook as SynthHook) : undefined;
}
