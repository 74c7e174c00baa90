import * as fs from 'node:fs';
import { ShipshapeAggregateError } from './errors';

/**
 * Whether cdk8s-cli (`cdk8s synth`) runs this process. It sets CDK8S_OUTDIR and CDK8S_RECORD_CONSTRUCT_METADATA
 * for every app it starts, reads the app's stdout without ever showing it (only stderr reaches the terminal),
 * and deletes the output directory before it starts the app.
 */
export function runByCdk8sCli(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CDK8S_OUTDIR !== undefined && env.CDK8S_RECORD_CONSTRUCT_METADATA !== undefined;
}

/**
 * What a synth that failed before writing left in `outdir`, as found on disk now: shipshape wrote nothing,
 * but under `cdk8s synth` the directory may already be gone.
 */
export function outputState(outdir: string): string {
  if (fs.existsSync(outdir)) return `nothing was written, ${outdir} is unchanged`;
  if (runByCdk8sCli()) {
    return `${outdir} does not exist: \`cdk8s synth\` deletes the output directory before it runs the app, so any previous output is gone and shipshape wrote nothing; \`npx shipshape synth\` keeps the previous output when synth fails`;
  }
  return `nothing was written, ${outdir} does not exist`;
}

/**
 * {@link outputState} after cdk8s's own `App.synth()` was refused while rendering: it creates `outdir` before it
 * renders, so an empty directory may be its doing rather than a previous synth's.
 */
export function outputStateAfterCdk8sRender(outdir: string): string {
  if (!fs.existsSync(outdir) || fs.readdirSync(outdir).length > 0) return outputState(outdir);
  const empty = `nothing was written; ${outdir} is empty (cdk8s's App.synth() creates it before it renders)`;
  return runByCdk8sCli() ? `${empty}: \`cdk8s synth\` deleted it before it ran the app, so any previous output is gone` : empty;
}

/** The heading of a failed synth's error: what went wrong, and the state of the output directory. */
export function failureHeading(outdir: string): string {
  return `synth failed; ${outputState(outdir)}`;
}

/** Runs one synth step before writing; a ShipshapeAggregateError it throws gets the heading of {@link failureHeading}. */
export function explainingFailure<T>(outdir: string, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof ShipshapeAggregateError) throw new ShipshapeAggregateError(failureHeading(outdir), e.problems);
    throw e;
  }
}
