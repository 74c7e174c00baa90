import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import * as path from 'node:path';
import type { BuildOptions, BuildResult, Loader, Metafile, Plugin } from 'esbuild';
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
  /** Absolute path → the file's signature (see signature), taken before its content was hashed. */
  readonly signatures: Record<string, string>;
  /** When the record was written (ms since the epoch). */
  readonly written: number;
}

// Bumped when the bundle options below change, so bundles of an older CLI are not reused.
const BUNDLE_FORMAT = 3;
const NODE_MAJOR = process.versions.node.split('.')[0];
// The change time's resolution is the kernel's clock tick, and a coarse file system's is seconds: a signature taken
// sooner than this after the file's last change could also be that of a write in the same tick, so it is not trusted.
const SETTLE_MS = 2000;
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

/** The folder of the installed package holding `file` (`…/node_modules/name` or `…/node_modules/@scope/name`); undefined outside node_modules. */
export function packageFolder(file: string): string | undefined {
  const parts = file.split(path.sep);
  const at = parts.lastIndexOf('node_modules');
  if (at === -1 || at + 1 >= parts.length - 1) return undefined;
  return parts.slice(0, at + (parts[at + 1].startsWith('@') ? 3 : 2)).join(path.sep);
}

// Code that depends on where its module was loaded from or what loaded it, or that loads modules by a name
// computed at run time: `require.resolve`/`.main`/`.cache`/`.extensions`, `module.paths` and its other loader
// fields, `import.meta`, `require` or `import()` of anything but one string literal, `require` used as a value,
// and direct `eval`. A package with such code runs from node_modules, as does every package it imports, so that
// each package still loads once. `__dirname` and `__filename` alone do not count: bundled modules get their own.
const LOCATION_DEPENDENT =
  /(?<![\w$.])(?:require\s*\.\s*(?:resolve|main|cache|extensions)\b|module\s*\.\s*(?:paths|parent|children|filename|require|id)\b|import\s*\.\s*meta\b|(?:require|import)\s*\((?!\s*(?:'[^'\\\n]*'|"[^"\\\n]*"|`[^`\\$\n]*`)\s*\))|require(?!\s*[(\w$])|eval\s*\()/;
const MENTIONS_LOCATION = /__(?:dirname|filename)\b/;
// A module declaring its own: another declaration in the same scope would not compile.
const DECLARES_LOCATION = /\b(?:var|let|const|class|function)\s+__(?:dirname|filename)\b/;
// A hashbang line, then comments, white space and a "use strict" directive: what must stay ahead of the declarations.
const PROLOGUE = /^(?:#![^\n]*\n)?(?:\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|(["'])use strict\1;?)*/;
const SCRIPT = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/**
 * `text` with `__dirname` and `__filename` declared as the file's own folder and path, as Node gives them to a
 * module run in place (bundled, a module would see the bundle's). Declared on the line the code starts on, so
 * that line numbers stay as they are.
 */
export function withOwnLocation(text: string, file: string): string {
  if (!MENTIONS_LOCATION.test(text) || DECLARES_LOCATION.test(text)) return text;
  const at = PROLOGUE.exec(text)![0].length;
  return `${text.slice(0, at)}var __dirname = ${JSON.stringify(path.dirname(file))}, __filename = ${JSON.stringify(file)}; ${text.slice(at)}`;
}

/** What one esbuild run found, besides its output. */
interface Findings {
  /** Content hash of every file the run read through the plugin, taken from the text esbuild compiled. */
  readonly hashes: Map<string, { readonly hash: string; readonly signature?: string }>;
  /** Packages whose code depends on where it is loaded from (see LOCATION_DEPENDENT) or that load native addons. */
  readonly unbundled: Set<string>;
}

const SELF = Symbol('shipshape.resolve');

/**
 * Reads every script for esbuild: hashes the text compiled, finds packages that must run from node_modules, gives
 * bundled modules their own `__dirname`/`__filename`, and leaves the packages in `external` to `require` at run
 * time, by the file Node would load from the importing module (a nested copy stays the nested copy).
 */
function sourcesPlugin(findings: Findings, external: ReadonlySet<string>): Plugin {
  return {
    name: 'shipshape-sources',
    setup(build) {
      build.onResolve({ filter: /\.node$/ }, (args) => {
        // A native addon cannot be bundled: its package runs from node_modules.
        const owner = packageFolder(args.importer);
        if (owner === undefined) return undefined;
        findings.unbundled.add(owner);
        return { path: args.path, external: true };
      });
      if (external.size > 0) {
        build.onResolve({ filter: /^[^./]/ }, async (args) => {
          if (args.pluginData === SELF || isBuiltin(args.path)) return undefined;
          const resolved = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: SELF });
          const owner = resolved.errors.length === 0 ? packageFolder(resolved.path) : undefined;
          if (owner === undefined || !external.has(owner)) return undefined;
          try {
            return { path: createRequire(args.importer).resolve(args.path), external: true };
          } catch {
            return { path: args.path, external: true };
          }
        });
      }
      build.onLoad({ filter: SCRIPT, namespace: 'file' }, async (args) => {
        const before = signature(args.path);
        const text = await fs.promises.readFile(args.path, 'utf8');
        findings.hashes.set(args.path, { hash: createHash('sha256').update(text).digest('hex'), signature: before });
        const owner = packageFolder(args.path);
        if (owner !== undefined && LOCATION_DEPENDENT.test(text)) findings.unbundled.add(owner);
        return { contents: withOwnLocation(text, args.path), loader: LOADERS[path.extname(args.path)] };
      });
    },
  };
}

const LOADERS: Record<string, Loader> = { '.js': 'js', '.cjs': 'js', '.mjs': 'js', '.jsx': 'jsx', '.ts': 'ts', '.cts': 'ts', '.mts': 'ts', '.tsx': 'tsx' };

/**
 * The packages that must run from node_modules: those found so, and every package one of them imports, since a
 * package bundled as well as required from node_modules would load twice.
 */
function closeOver(unbundled: ReadonlySet<string>, metafile: Metafile, root: string): Set<string> {
  const closed = new Set(unbundled);
  const pending = [...closed];
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    for (const [input, { imports }] of Object.entries(metafile.inputs)) {
      if (packageFolder(path.resolve(root, input)) !== folder) continue;
      for (const { path: imported, external } of imports) {
        const owner = external ? undefined : packageFolder(path.resolve(root, imported));
        if (owner !== undefined && !closed.has(owner)) {
          closed.add(owner);
          pending.push(owner);
        }
      }
    }
  }
  return closed;
}

/**
 * Bundles the program with the packages it imports into one script, so that a run reads and compiles one file
 * instead of hundreds of modules, each found by Node's resolution. Packages whose code depends on where it is
 * loaded from stay `require`s of node_modules (see sourcesPlugin). tsconfig `paths` apply. Modules required at run
 * time resolve from the program's folder, as they would for the program run in place, wherever the bundle is kept
 * (SHIPSHAPE_CACHE_DIR may lie outside it).
 */
function bundleOptions(entry: string, root: string, outfile: string, plugin: Plugin, fallback: boolean): BuildOptions {
  return {
    // Strict mode first: esbuild puts the banner above the bundle's own "use strict".
    banner: { js: `'use strict';\nmodule.paths.unshift(...${JSON.stringify(nodeModulePaths(path.dirname(entry)))});` },
    entryPoints: [entry],
    absWorkingDir: root,
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${NODE_MAJOR}`,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    // A first attempt stays quiet: when it fails, the fallback reports the errors that remain.
    logLevel: fallback ? 'error' : 'silent',
    plugins: [plugin],
    ...(fallback ? { packages: 'external' } : {}),
  };
}

function hashFile(file: string): string | null {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

/**
 * A file's device, inode, size, and modification and change times, or undefined when there is none. Any write gives
 * the file another: its change time cannot be set back (npm gives every file it unpacks the same modification time).
 */
function signature(file: string): string | undefined {
  const s = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  return s === undefined ? undefined : `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** A file's hash and its signature, taken before the content is read: a write after that changes the signature. */
function fingerprintFile(file: string): { readonly hash: string | null; readonly signature?: string } {
  const before = signature(file);
  return { hash: hashFile(file), signature: before };
}

/** Whether the file's last change, as `sig` gives it, lies far enough before `written` for any later write to change `sig`. */
function settled(sig: string, written: number): boolean {
  return Number(BigInt(sig.slice(sig.lastIndexOf(':') + 1)) / 1_000_000n) < written - SETTLE_MS;
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

/** Writes `file` under a temporary name and renames it, so that a concurrent reader sees the old file or the new one. */
export function writeAtomically(file: string, content: string | Uint8Array): void {
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

/**
 * Whether `entry` still describes the sources: same options and esbuild, every input unchanged. An input whose
 * signature is the recorded, settled one is unchanged without being read; any other is hashed. Returns the
 * signatures to record, and whether they differ from the recorded ones, or undefined when something changed.
 */
function verify(entry: CacheEntry | undefined, fingerprint: string, cacheDir: string): { signatures: Record<string, string>; renewed: boolean } | undefined {
  if (entry === undefined || entry.fingerprint !== fingerprint || !fs.existsSync(path.join(cacheDir, entry.bundle))) return undefined;
  const signatures: Record<string, string> = {};
  let renewed = false;
  for (const [file, hash] of Object.entries(entry.inputs)) {
    const now = signature(file);
    if (now === undefined) {
      if (hash === null) continue;
      return undefined;
    }
    const recorded = entry.signatures[file];
    if (now === recorded && settled(now, entry.written)) {
      signatures[file] = now;
      continue;
    }
    if (hashFile(file) !== hash) return undefined;
    if (hash !== null) {
      signatures[file] = now;
      renewed = true;
    }
  }
  return { signatures, renewed };
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
  const recordFile = path.join(cacheDir, `${key}.json`);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ format: BUNDLE_FORMAT, esbuild: esbuildVersion(), node: NODE_MAJOR, root }))
    .digest('hex');
  const previous = readEntry(recordFile);
  const current = verify(previous, fingerprint, cacheDir);
  if (previous !== undefined && current !== undefined) {
    // Inputs hashed because they changed (in time, not content) or changed just before the record: recorded again,
    // so that the next run reads none of them.
    if (current.renewed) writeAtomically(recordFile, JSON.stringify({ ...previous, signatures: current.signatures, written: Date.now() } satisfies CacheEntry));
    return { file: path.join(cacheDir, previous.bundle), cached: true };
  }

  // Loaded only here: a cache hit never pays for esbuild.
  const esbuild = createRequire(__filename)('esbuild') as typeof import('esbuild');
  fs.mkdirSync(cacheDir, { recursive: true });
  const bundle = `${key}.${process.pid}-${Date.now().toString(36)}.js`;
  const outfile = path.join(cacheDir, bundle);
  const build = async (external: ReadonlySet<string>, fallback = false): Promise<{ result: BuildResult<{ metafile: true; write: false }>; findings: Findings }> => {
    const findings: Findings = { hashes: new Map(), unbundled: new Set() };
    const result = await esbuild.build({ ...bundleOptions(entry, root, outfile, sourcesPlugin(findings, external), fallback), metafile: true, write: false });
    return { result, findings };
  };
  let built: Awaited<ReturnType<typeof build>>;
  try {
    built = await build(new Set());
    // Packages that must run from node_modules were bundled as well: build again without them and what they import.
    if (built.findings.unbundled.size > 0) built = await build(closeOver(built.findings.unbundled, built.result.metafile, root));
  } catch {
    try {
      // A package esbuild cannot bundle: every package runs from node_modules.
      built = await build(new Set(), true);
    } catch {
      // esbuild has printed the errors with their source lines.
      throw new ShipshapeError(entry, { problem: 'does not compile (errors above)', fix: 'correct the errors esbuild reported, then run the command again' });
    }
  }
  const { result, findings } = built;
  const inputs: Record<string, string | null> = {};
  const signatures: Record<string, string> = {};
  const record = (file: string, { hash, signature: sig }: { readonly hash: string | null; readonly signature?: string }): void => {
    inputs[file] = hash;
    if (hash !== null && sig !== undefined) signatures[file] = sig;
  };
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = path.resolve(root, input);
    record(file, findings.hashes.get(file) ?? fingerprintFile(file));
  }
  for (const file of tsconfigCandidates([entry, ...Object.keys(inputs)])) record(file, fingerprintFile(file));
  // The map first and the record last: a reader that finds the record finds everything it names.
  const outputs = [...result.outputFiles].sort((a, b) => Number(a.path.endsWith('.js')) - Number(b.path.endsWith('.js')));
  for (const output of outputs) writeAtomically(output.path, output.contents);
  writeAtomically(recordFile, JSON.stringify({ fingerprint, bundle, inputs, signatures, written: Date.now() } satisfies CacheEntry));
  pruneBundles(cacheDir, key, bundle);
  return { file: path.join(cacheDir, bundle), cached: false };
}
