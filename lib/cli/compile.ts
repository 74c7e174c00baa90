import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { BuildOptions, Metafile } from 'esbuild';
import { ShipshapeError } from '../core/errors';

/** A compiled program, ready to be required. */
export interface CompiledApp {
  /** The bundle's path. */
  readonly file: string;
  /** Whether it came from the cache (no esbuild run). */
  readonly cached: boolean;
}

/** What the cache records for one program: the bundle and every input it was built from, with its hash. */
interface CacheEntry {
  readonly fingerprint: string;
  readonly bundle: string;
  /** Absolute path → content hash, or null for a file that did not exist (a tsconfig.json that may appear). */
  readonly inputs: Record<string, string | null>;
}

// Bumped when the bundle options below change, so bundles of an older CLI are not reused.
const BUNDLE_FORMAT = 2;
const NODE_MAJOR = process.versions.node.split('.')[0];
// A bundle replaced by a newer one is deleted once no run can still be about to load it.
const STALE_BUNDLE_MS = 10 * 60 * 1000;

/** The node_modules folders Node searches for a module in `dir`: `dir/node_modules` and those of every parent. */
function nodeModulePaths(dir: string): string[] {
  const found: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') found.push(path.join(d, 'node_modules'));
    if (path.dirname(d) === d) return found;
  }
}

/**
 * Bundles only the program's own sources: `shipshape`, cdk8s and every other package stay `require`s resolved
 * from node_modules, so the program shares the CLI's module cache and starts once. tsconfig `paths` still
 * apply (they are resolved before a specifier counts as a package). Packages resolve from the program's folder, as
 * they would for the program run in place, wherever the bundle is kept (SHIPSHAPE_CACHE_DIR may lie outside it).
 */
function bundleOptions(entry: string, root: string, outfile: string): BuildOptions {
  return {
    // Strict mode first: esbuild puts the banner above the bundle's own "use strict".
    banner: { js: `'use strict';\nmodule.paths.unshift(...${JSON.stringify(nodeModulePaths(path.dirname(entry)))});` },
    entryPoints: [entry],
    absWorkingDir: root,
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    target: `node${NODE_MAJOR}`,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'error',
  };
}

function hashFile(file: string): string | null {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

/** The installed esbuild's version, read from its package.json without loading esbuild. */
function esbuildVersion(): string {
  return (JSON.parse(fs.readFileSync(require.resolve('esbuild/package.json'), 'utf8')) as { version: string }).version;
}

/** The configs a tsconfig.json `extends` (a path, a package's config, or a list of them); none when it has none. */
function extendedConfigs(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  // tsconfig.json allows comments and trailing commas, so only the value of `extends` is parsed as JSON.
  const match = /"extends"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\])/.exec(text);
  let specs: unknown;
  try {
    specs = match ? JSON.parse(match[1]) : [];
  } catch {
    return [];
  }
  const dir = path.dirname(file);
  return (Array.isArray(specs) ? specs : [specs])
    .filter((spec): spec is string => typeof spec === 'string')
    .flatMap((spec) => {
      if (spec.startsWith('.') || path.isAbsolute(spec)) {
        const resolved = path.resolve(dir, spec);
        // As TypeScript does: the path as written, else with .json added; both are recorded, so either appearing counts.
        return resolved.endsWith('.json') ? [resolved] : [resolved, `${resolved}.json`];
      }
      try {
        return [createRequire(file).resolve(spec)];
      } catch {
        try {
          return [createRequire(file).resolve(`${spec}/tsconfig.json`)];
        } catch {
          return [];
        }
      }
    });
}

/**
 * tsconfig.json files esbuild may read for the bundled `files`: every one from each file's folder up (esbuild uses
 * the nearest per file), present or not, and every config they extend.
 */
function tsconfigCandidates(files: readonly string[]): string[] {
  const found = new Set<string>();
  for (const start of new Set(files.map((f) => path.dirname(f)))) {
    for (let dir = start; !found.has(path.join(dir, 'tsconfig.json')); dir = path.dirname(dir)) {
      found.add(path.join(dir, 'tsconfig.json'));
      if (path.dirname(dir) === dir) break;
    }
  }
  const pending = [...found];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    for (const extended of extendedConfigs(file).filter((f) => !found.has(f))) {
      found.add(extended);
      pending.push(extended);
    }
  }
  return [...found];
}

function writeAtomically(file: string, content: string | Uint8Array): void {
  const temporary = `${file}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}

function readEntry(file: string): CacheEntry | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as CacheEntry;
  } catch {
    return undefined;
  }
}

/** Whether `entry` still describes the sources: same options and esbuild, every input unchanged. */
function isCurrent(entry: CacheEntry | undefined, fingerprint: string, cacheDir: string): entry is CacheEntry {
  if (entry === undefined || entry.fingerprint !== fingerprint || !fs.existsSync(path.join(cacheDir, entry.bundle))) return false;
  return Object.entries(entry.inputs).every(([file, hash]) => hashFile(file) === hash);
}

/** Deletes this program's bundles other than `keep` that are old enough that no run can still be loading them. */
function pruneBundles(cacheDir: string, key: string, keep: string): void {
  const now = Date.now();
  for (const name of fs.readdirSync(cacheDir)) {
    if (!name.startsWith(`${key}.`) || name === `${key}.json` || name.startsWith(keep)) continue;
    const file = path.join(cacheDir, name);
    try {
      if (now - fs.statSync(file).mtimeMs > STALE_BUNDLE_MS) fs.rmSync(file, { force: true });
    } catch {
      // Another run pruned it first.
    }
  }
}

/**
 * Compiles `entry` (TypeScript or JavaScript) into one CommonJS file under `cacheDir`, or returns the cached
 * one when neither its inputs, nor the tsconfig.json files (and those they extend), nor esbuild, nor the options changed. A cache hit
 * hashes the recorded inputs and loads no esbuild. Every file is written under a temporary name and renamed,
 * so concurrent runs never see a half-written bundle or record.
 */
export async function compileApp(entry: string, root: string, cacheDir: string): Promise<CompiledApp> {
  const key = createHash('sha256').update(entry).digest('hex').slice(0, 16);
  const record = path.join(cacheDir, `${key}.json`);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ format: BUNDLE_FORMAT, esbuild: esbuildVersion(), node: NODE_MAJOR, root }))
    .digest('hex');
  const previous = readEntry(record);
  if (isCurrent(previous, fingerprint, cacheDir)) return { file: path.join(cacheDir, previous.bundle), cached: true };

  // Loaded only here: a cache hit never pays for esbuild.
  const esbuild = createRequire(__filename)('esbuild') as typeof import('esbuild');
  fs.mkdirSync(cacheDir, { recursive: true });
  const bundle = `${key}.${process.pid}-${Date.now().toString(36)}.js`;
  let result: { metafile?: Metafile; outputFiles?: { path: string; contents: Uint8Array }[] };
  try {
    result = await esbuild.build(bundleOptions(entry, root, path.join(cacheDir, bundle)));
  } catch {
    // esbuild has printed the errors with their source lines.
    throw new ShipshapeError(entry, { problem: 'does not compile (errors above)', fix: 'correct the errors esbuild reported, then run the command again' });
  }
  const inputs: Record<string, string | null> = {};
  for (const input of Object.keys(result.metafile!.inputs)) {
    const file = path.resolve(root, input);
    inputs[file] = hashFile(file);
  }
  for (const file of tsconfigCandidates([entry, ...Object.keys(inputs)])) inputs[file] = hashFile(file);
  // The map first and the record last: a reader that finds the record finds everything it names.
  const outputs = [...result.outputFiles!].sort((a, b) => Number(a.path.endsWith('.js')) - Number(b.path.endsWith('.js')));
  for (const output of outputs) writeAtomically(output.path, output.contents);
  writeAtomically(record, JSON.stringify({ fingerprint, bundle, inputs } satisfies CacheEntry));
  pruneBundles(cacheDir, key, bundle);
  return { file: path.join(cacheDir, bundle), cached: false };
}
