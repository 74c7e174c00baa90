import * as fs from 'node:fs';
import * as path from 'node:path';
import { ShipshapeError } from '../core/errors';
import { processAlive } from '../core/processes';

/** How long a synth waits for another one writing the same output directory: several syntheses of a large platform. */
export const LOCK_TIMEOUT_MS = 120_000;
/** How often a waiting synth looks again: short against a synth's duration, long enough to cost nothing. */
const LOCK_POLL_MS = 100;

/** Options of {@link withOutputLock}. */
export interface LockOptions {
  /**
   * How long to wait for another holder before giving up.
   * @default LOCK_TIMEOUT_MS
   */
  readonly timeoutMs?: number;
  /**
   * How often to look again while waiting.
   * @default 100 ms
   */
  readonly pollMs?: number;
}

/** The lock file of `outdir`: beside it, so that replacing the directory leaves the lock in place. */
export function lockFile(outdir: string): string {
  const target = path.resolve(outdir);
  return path.join(path.dirname(target), `.${path.basename(target)}.shipshape-lock`);
}

/** The pid recorded in a lock file; undefined when the file is gone or (being written) holds none yet. */
function holder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the lock file holding this process's pid; false when another process holds it. */
function tryAcquire(file: string): boolean {
  try {
    fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  }
}

/**
 * Removes a lock left by `pid`, which no longer runs. The file is moved aside first and checked: another waiter may
 * have taken the lock over in the meantime, and its lock is put back.
 */
function removeStale(file: string, pid: number): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (holder(aside) !== pid) {
    try {
      fs.linkSync(aside, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  fs.rmSync(aside, { force: true });
}

/**
 * Runs `body` while holding the lock of `outdir`, so that a synth reading the directory and replacing it is never
 * interleaved with another one (whose update it would otherwise undo). A second synth waits for the first, at most
 * `timeoutMs`. A lock left by a process that no longer runs (a killed synth) is taken over.
 */
export async function withOutputLock<T>(outdir: string, body: () => T, options: LockOptions = {}): Promise<T> {
  const file = lockFile(outdir);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + (options.timeoutMs ?? LOCK_TIMEOUT_MS);
  while (!tryAcquire(file)) {
    const pid = holder(file);
    if (pid !== undefined && !processAlive(pid)) {
      removeStale(file, pid);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new ShipshapeError(file, {
        problem: `another shipshape synth${pid !== undefined ? ` (process ${pid})` : ''} has been writing ${outdir} for longer than ${(options.timeoutMs ?? LOCK_TIMEOUT_MS) / 1000} s; nothing was written`,
        fix: 'wait for it to finish and run this synth again; if no synth is running, delete the lock file',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? LOCK_POLL_MS));
  }
  try {
    return body();
  } finally {
    fs.rmSync(file, { force: true });
  }
}
