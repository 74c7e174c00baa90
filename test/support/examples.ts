import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { run } from './tools';

/** The repository root, where examples run (tsx resolves `shipshape` through tsconfig.json there). */
export const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

/** Every example: the directories of examples/ that hold a main.ts. */
export const EXAMPLES: readonly string[] = fs
  .readdirSync(path.join(ROOT, 'examples'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(ROOT, 'examples', e.name, 'main.ts')))
  .map((e) => e.name)
  .sort();

/**
 * Runs examples/<name>/main.ts, writing to `outdir` passed as its first argument or (`via: 'env'`) as
 * SHIPSHAPE_OUTDIR; returns what it printed.
 */
export function runExample(name: string, outdir: string, via: 'argv' | 'env' = 'argv'): string {
  const env = { ...process.env };
  delete env.SHIPSHAPE_OUTDIR;
  if (via === 'env') env.SHIPSHAPE_OUTDIR = outdir;
  return run(TSX, [path.join('examples', name, 'main.ts'), ...(via === 'argv' ? [outdir] : [])], { cwd: ROOT, env, timeoutMs: 60_000 });
}

/** A written YAML file, parsed. */
export function readYaml(...parts: string[]): any {
  return parse(fs.readFileSync(path.join(...parts), 'utf8'));
}

/** Every file under `dir` (relative path → content), the run marker left out. */
export function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && e.name !== '.shipshape-output') files[path.relative(dir, path.join(e.parentPath, e.name))] = fs.readFileSync(path.join(e.parentPath, e.name), 'utf8');
  }
  return files;
}
