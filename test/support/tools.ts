import { execFileSync, spawnSync } from 'node:child_process';

/** Throws with an install hint when a command-line tool is missing: tests that need real tools never skip. */
export function requireTool(bin: string, hint: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`${bin} is not installed; ${hint} (.ci/run does this on CI)`);
}

/** Runs a command with a time limit and returns stdout; throws with stderr on failure. */
export function run(bin: string, args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): string {
  try {
    return execFileSync(bin, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}
