import { createRequire } from 'node:module';
import { ShipshapeError } from '../core/errors';
import { SYNTH_HOOK, SYNTH_HOOK_PROTOCOL, SynthHook, SynthRequest } from '../core/synth-hook';

// Errors that already say what is wrong and where: their stack trace would only point into the bundle.
const SELF_EXPLAINING = new Set(['ShipshapeError', 'ShipshapeAggregateError']);

/** A program that threw while the CLI ran it. */
export class AppFailedError extends Error {
  /** Whether the program threw a ShipshapeError or ShipshapeAggregateError: a problem in its input, not a crash. */
  public readonly inputProblem: boolean;

  constructor(app: string, thrown: unknown) {
    const error = thrown instanceof Error ? thrown : undefined;
    const inputProblem = error !== undefined && SELF_EXPLAINING.has(error.name);
    const detail = error === undefined ? String(thrown) : inputProblem ? error.message : (error.stack ?? error.message);
    super(`${app} failed: ${detail}`);
    this.name = 'AppFailedError';
    this.inputProblem = inputProblem;
  }
}

/**
 * Runs the compiled program in this process and returns the App its `synth(app)` or `app.synth()` handed
 * over. The program sees itself as `node <app>` (no extra arguments); its synth call returns without writing.
 */
export async function runApp(bundle: string, app: string): Promise<SynthRequest> {
  const requests: SynthRequest[] = [];
  let captured: () => void = () => undefined;
  const handedOver = new Promise<void>((resolve) => (captured = resolve));
  const hook: SynthHook = {
    capture: (request) => {
      if (requests.length > 0) {
        throw new ShipshapeError(app, { problem: 'synthesizes a second App; the shipshape CLI handles one App per program', fix: 'put every Stack into one App' });
      }
      requests.push(request);
      captured();
    },
  };
  (globalThis as Record<symbol, unknown>)[SYNTH_HOOK] = hook;
  process.argv = [process.argv[0], app];

  // A program whose work is asynchronous hands its App over later; when the event loop empties first, it never
  // will. What it throws asynchronously fails the command as what it throws at once does.
  let drained: () => void = () => undefined;
  let failed: (e: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    drained = resolve;
    failed = reject;
  });
  process.once('beforeExit', drained);
  process.once('uncaughtException', failed);
  process.once('unhandledRejection', failed);
  try {
    createRequire(__filename)(bundle);
    await Promise.race([handedOver, finished]);
  } catch (e) {
    throw new AppFailedError(app, e);
  } finally {
    process.removeListener('beforeExit', drained);
    process.removeListener('uncaughtException', failed);
    process.removeListener('unhandledRejection', failed);
  }
  const request = requests[0];
  if (request === undefined) {
    throw new ShipshapeError(app, {
      problem: 'finished without synthesizing: it never called synth(app) or app.synth() of a ShipshapeApp',
      fix: "end the program with `new ShipshapeApp()` … `app.synth()`, or `synth(app)` from 'shipshape'; a program that wrote its output itself uses a copy of shipshape older than this CLI: install one version",
    });
  }
  if (request.protocol !== SYNTH_HOOK_PROTOCOL) {
    throw new ShipshapeError(app, {
      problem: `uses a copy of shipshape that speaks CLI protocol ${request.protocol}, this CLI speaks ${SYNTH_HOOK_PROTOCOL}`,
      fix: 'install one version of shipshape (npm ls shipshape shows the copies)',
    });
  }
  return request;
}
