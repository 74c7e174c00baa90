import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { ShipshapeError } from '../core/errors';
import { CacheRecord, ObservedInput, isCurrent, observeFile, readRecord, recordInputs, writeAtomically } from './cache-record';
import { Findings, PACKAGES_VARIABLE, closeOver, findings, nodeModulePaths, packagesPlugin, programPlugin } from './bundle-sources';

/** A compiled program, ready to be required. */
export interface CompiledApp {
  /** The bundle's path. */
  readonly file: string;
  /** Whether it came from the cache (no esbuild run). */
  readonly cached: boolean;
}

/** The record of a program's bundle: also the packages bundle it calls into. */
interface ProgramRecord extends CacheRecord {
  /** File name of the packages bundle, or null when the program imports no package. */
  readonly packages: string | null;
}

/** The record of a packages bundle: also the package modules it serves. */
interface PackagesRecord extends CacheRecord {
  /** Absolute paths of the package modules the program imports, sorted. */
  readonly modules: readonly string[];
}

// Bumped when the bundle options below change, so bundles of an older CLI are not reused.
const BUNDLE_FORMAT = 4;
const NODE_MAJOR = process.versions.node.split('.')[0];
// A bundle replaced by a newer one is deleted once no run can still be about to load it.
const STALE_BUNDLE_MS = 10 * 60 * 1000;
// Where the program's bundle names its packages bundle, filled in once that is known (after the program is bundled).
const PACKAGES_PLACEHOLDER = '__SHIPSHAPE_PACKAGES_BUNDLE__';

/** esbuild's options for either bundle. Modules required at run time resolve from the program's folder, wherever the cache is. */
function bundleOptions(root: string, entry: string, outfile: string, plugin: Plugin, banner = ''): BuildOptions & { metafile: true } {
  return {
    // Strict mode first: esbuild puts the banner above the bundle's own "use strict".
    banner: { js: `'use strict';\nmodule.paths.unshift(...${JSON.stringify(nodeModulePaths(path.dirname(entry)))});${banner}` },
    absWorkingDir: root,
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${NODE_MAJOR}`,
    // Stack traces need the mappings, not the sources: the map stays a fraction of the size.
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    // esbuild writes the files itself: each bundle has a name of its own, and no record names it before it is complete.
    write: true,
    logLevel: 'error',
    plugins: [plugin],
  };
}

/** The inputs of a run: the scripts it read, and every other file in its metafile (JSON, say). */
function observedInputs(root: string, metafile: Metafile, found: Findings): Map<string, ObservedInput> {
  const observed = new Map<string, ObservedInput>();
  for (const input of Object.keys(metafile.inputs)) {
    const file = path.resolve(root, input);
    if (!fs.existsSync(file)) continue;
    observed.set(file, found.observed.get(file) ?? observeFile(file));
  }
  return observed;
}

/**
 * Bundles the package modules the program imports, with the packages they import, into one script that serves
 * each by its path. Packages whose code depends on where it is loaded from stay in node_modules, with what they
 * import (see packagesPlugin); when esbuild cannot bundle some package, every module is required from node_modules.
 */
async function bundlePackages(esbuild: typeof import('esbuild'), root: string, entry: string, modules: readonly string[], outfile: string): Promise<Map<string, ObservedInput>> {
  const table = modules.map((m) => `  ${JSON.stringify(m)}: () => require(${JSON.stringify(m)}),`).join('\n');
  const stdin = { contents: `const modules = {\n${table}\n};\nmodule.exports = (file) => modules[file]();\n`, resolveDir: root, sourcefile: 'shipshape-packages.js', loader: 'js' as const };
  const build = async (external: ReadonlySet<string>) => {
    const found = findings();
    const result = await esbuild.build({ ...bundleOptions(root, entry, outfile, packagesPlugin(found, external)), stdin, logLevel: 'silent' });
    return { result, found };
  };
  try {
    let built = await build(new Set());
    // Packages that must run from node_modules were bundled as well: bundle again without them and what they import.
    if (built.found.unbundled.size > 0) built = await build(closeOver(built.found.unbundled, built.result.metafile, root));
    return observedInputs(root, built.result.metafile, built.found);
  } catch {
    writeAtomically(outfile, `'use strict';\nmodule.exports = (file) => require(file);\n`);
    return new Map(modules.map((m) => [m, observeFile(m)]));
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

/** Deletes this program's bundles other than those in `keep` that are old enough that no run can still be loading them. */
function pruneBundles(cacheDir: string, key: string, keep: readonly string[]): void {
  const now = Date.now();
  const records = [`${key}.json`, `${key}.packages.json`];
  for (const name of fs.readdirSync(cacheDir)) {
    if (!name.startsWith(`${key}.`) || records.includes(name) || keep.some((k) => name.startsWith(k))) continue;
    const file = path.join(cacheDir, name);
    try {
      if (now - fs.statSync(file).mtimeMs > STALE_BUNDLE_MS) fs.rmSync(file, { force: true });
    } catch {
      // Another run pruned it first.
    }
  }
}

/**
 * Compiles `entry` (TypeScript or JavaScript) into two CommonJS files under `cacheDir`: the program's own modules,
 * and the packages they import. Each is taken from the cache while its inputs are unchanged (checked by
 * signature, then hash; see isCurrent), with the tsconfig.json files (and those they extend), esbuild and the
 * options. A cache hit loads no esbuild; an edit of the program bundles the packages again only when it imports
 * another package module. Bundles have names of their own, and records are written under a temporary name and
 * renamed once what they name is complete, so concurrent runs never see a half-written bundle or record.
 */
export async function compileApp(entry: string, root: string, cacheDir: string): Promise<CompiledApp> {
  const key = createHash('sha256').update(entry).digest('hex').slice(0, 16);
  const programFile = path.join(cacheDir, `${key}.json`);
  const packagesFile = path.join(cacheDir, `${key}.packages.json`);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ format: BUNDLE_FORMAT, esbuild: esbuildVersion(), node: NODE_MAJOR, root }))
    .digest('hex');
  const program = readRecord<ProgramRecord>(programFile);
  const packages = readRecord<PackagesRecord>(packagesFile);
  const packagesCurrent = packages !== undefined && isCurrent(packages, fingerprint, packagesFile);
  if (isCurrent(program, fingerprint, programFile) && (program.packages === null || (packagesCurrent && program.packages === packages.bundle))) {
    return { file: path.join(cacheDir, program.bundle), cached: true };
  }

  // Loaded only here: a cache hit never pays for esbuild.
  const esbuild = createRequire(__filename)('esbuild') as typeof import('esbuild');
  fs.mkdirSync(cacheDir, { recursive: true });
  const stamp = `${process.pid}-${Date.now().toString(36)}`;
  const bundle = `${key}.${stamp}.js`;
  const found = findings();
  const modules = new Set<string>();
  let result: Awaited<ReturnType<typeof esbuild.build<ReturnType<typeof bundleOptions>>>>;
  try {
    result = await esbuild.build({
      ...bundleOptions(root, entry, path.join(cacheDir, bundle), programPlugin(found, modules), `\nvar ${PACKAGES_VARIABLE} = ${PACKAGES_PLACEHOLDER};`),
      entryPoints: [entry],
    });
  } catch {
    // esbuild has printed the errors with their source lines.
    throw new ShipshapeError(entry, { problem: 'does not compile (errors above)', fix: 'correct the errors esbuild reported, then run the command again' });
  }

  const imported = [...modules].sort();
  let served: string | null = null;
  if (imported.length > 0) {
    if (packagesCurrent && JSON.stringify(packages.modules) === JSON.stringify(imported)) {
      served = packages.bundle;
    } else {
      served = `${key}.packages.${stamp}.js`;
      const observed = await bundlePackages(esbuild, root, entry, imported, path.join(cacheDir, served));
      writeAtomically(packagesFile, JSON.stringify({ fingerprint, bundle: served, ...recordInputs(observed), written: Date.now(), modules: imported } satisfies PackagesRecord));
    }
  }
  const observed = observedInputs(root, result.metafile, found);
  for (const file of tsconfigCandidates([entry, ...observed.keys()])) observed.set(file, observeFile(file));
  const call = served === null ? 'null' : `require(${JSON.stringify(`./${served}`)})`;
  const script = path.join(cacheDir, bundle);
  fs.writeFileSync(script, fs.readFileSync(script, 'utf8').replace(PACKAGES_PLACEHOLDER, call));
  // The record last: a reader that finds it finds everything it names.
  writeAtomically(programFile, JSON.stringify({ fingerprint, bundle, ...recordInputs(observed), written: Date.now(), packages: served } satisfies ProgramRecord));
  pruneBundles(cacheDir, key, served === null ? [bundle] : [bundle, served]);
  return { file: path.join(cacheDir, bundle), cached: false };
}
