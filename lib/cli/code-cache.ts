import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * V8's compiled code of the CommonJS modules CLI runs load (the CLI itself, yaml, cdk8s, cdk8s-plus-27, the
 * compiled programs), kept in one file per cache folder, for Node versions without `module.enableCompileCache`
 * (before 22.1).
 *
 * Compiling those modules is about a fifth of a synth of the reference platform: cdk8s-plus-27's generated
 * Kubernetes API alone is 2.5 MB of JavaScript, and V8 compiles most functions lazily, on their first call. The
 * code is taken from each script after the command has run, so it holds the functions the run compiled, not only
 * those compiled up front (what a cache produced at load time, as v8-compile-cache does, holds).
 */
export interface CodeCache {
  /**
   * Stops compiling modules through the cache and, when some module of this run had no code or code V8 refused,
   * writes the code of this run's modules, keeping that of other programs' modules (not loaded by this run) whose
   * file is still there and which is recent. A file that cannot be written costs the next run time, not this one
   * its result: nothing is thrown.
   */
  save(): void;
}

/** Bumped when the file layout below changes. */
const FORMAT = 1;
const MAGIC = 'shipshape-code-cache';
/** Where compiled programs and code are kept unless SHIPSHAPE_CACHE_DIR says otherwise: the usual home of tool caches in a project. */
const CACHE_DIR = path.join('node_modules', '.cache', 'shipshape');
/** The file, under the cache folder. */
const CODE_FILE = path.join('code', 'modules.bin');
// Code of a module no run has loaded since it was compiled this long ago is dropped at the next write (a program
// run now and then recompiles once; an upgraded package's old files go).
const UNUSED_CODE_MS = 7 * 24 * 60 * 60 * 1000;

/** One module's code, with what it is checked against before V8 sees it. */
interface Stored {
  /** Hash of the module's source: V8 checks only the source's length, so an edit of the same length would run stale code. */
  readonly source: string;
  readonly code: Buffer;
  /** When the code was compiled (ms since the epoch). */
  readonly compiled: number;
}

/** The file: a line of JSON (format, Node and V8 versions, and per module its filename, source hash, code length and compile time), then the code. */
interface Header {
  readonly magic: string;
  readonly format: number;
  readonly runtime: string;
  readonly modules: [filename: string, source: string, length: number, compiled: number][];
}

/**
 * Whether `import(` appears in a module's text, code or not (a string given to `new Function` counts): such modules
 * compile as Node compiles them. A search for the word first: a regular expression over cdk8s-plus-27's 2.5 MB costs
 * more than the cache saves on it.
 */
function mentionsDynamicImport(content: string): boolean {
  for (let i = content.indexOf('import'); i !== -1; i = content.indexOf('import', i + 1)) {
    if (!/[\w$]/.test(content.charAt(i - 1)) && /^import\s*\(/.test(content.slice(i, i + 64))) return true;
  }
  return false;
}

const RUNTIME = `${process.version} ${process.arch} v8 ${process.versions.v8}`;

/** Node's loader internals the replacement `_compile` works with (stable since Node 12; typed here as they are used). */
interface Loader {
  /** `format` is 'module' for an ES module required from CommonJS (Node 20.19+), which Node loads its own way. */
  _compile(this: Module, content: string, filename: string, format?: string): unknown;
}
interface ModuleStatics {
  wrap(content: string): string;
  _resolveFilename(request: string, parent: Module, isMain: boolean, options?: { paths?: string[] }): string;
  _resolveLookupPaths(request: string, parent: Module): string[] | null;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Require['cache'];
}

function read(file: string): Map<string, Stored> {
  const stored = new Map<string, Stored>();
  let content: Buffer;
  try {
    content = fs.readFileSync(file);
  } catch {
    return stored;
  }
  const newline = content.indexOf(10);
  try {
    const header = JSON.parse(content.subarray(0, newline).toString('utf8')) as Header;
    if (header.magic !== MAGIC || header.format !== FORMAT || header.runtime !== RUNTIME) return stored;
    let offset = newline + 1;
    for (const [filename, source, length, compiled] of header.modules) {
      stored.set(filename, { source, code: content.subarray(offset, offset + length), compiled });
      offset += length;
    }
    if (offset !== content.length) stored.clear();
  } catch {
    // A file from elsewhere or cut short: every module compiles afresh and the file is written again.
    stored.clear();
  }
  return stored;
}

function write(file: string, modules: ReadonlyMap<string, Stored>): void {
  const header: Header = { magic: MAGIC, format: FORMAT, runtime: RUNTIME, modules: [...modules].map(([filename, m]) => [filename, m.source, m.code.length, m.compiled]) };
  const temporary = `${file}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Written under a temporary name and renamed: a concurrent run reads the old file or the new one, never half of one.
  fs.writeFileSync(temporary, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), ...[...modules.values()].map((m) => m.code)]));
  fs.renameSync(temporary, file);
}

/** The `require` Node hands a module: the same resolution, cache, main module and extensions. */
function requireFor(module: Module): NodeJS.Require {
  const statics = Module as unknown as ModuleStatics;
  const resolve = ((request: string, options?: { paths?: string[] }) => statics._resolveFilename(request, module, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => statics._resolveLookupPaths(request, module);
  const required = ((id: string) => module.require(id)) as NodeJS.Require;
  required.resolve = resolve;
  required.main = require.main;
  required.extensions = statics._extensions;
  required.cache = statics._cache;
  return required;
}

/** The CLI's cache folder for a run in `cwd`: SHIPSHAPE_CACHE_DIR, else node_modules/.cache/shipshape. */
export function cacheDirectory(cwd: string): string {
  return path.resolve(cwd, process.env.SHIPSHAPE_CACHE_DIR ?? CACHE_DIR);
}

/**
 * Compiles every CommonJS module loaded from now on with the code kept under `cacheDir`, and records each
 * module's code for {@link CodeCache.save}. From Node 22.1, Node's own compile cache (under `cacheDir/v8`) does
 * this and undefined is returned; so it is when source maps are enabled (Node maps stack traces only for modules
 * it compiles itself) or on Node 20 before 20.12 (no loader of import() for a vm.Script).
 */
export function installCodeCache(cacheDir: string): CodeCache | undefined {
  const enableCompileCache = (Module as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (enableCompileCache !== undefined) {
    enableCompileCache(path.join(cacheDir, 'v8'));
    return undefined;
  }
  const importModuleDynamically = (vm as { constants?: typeof vm.constants }).constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (process.sourceMapsEnabled || importModuleDynamically === undefined) return undefined;
  const file = path.join(cacheDir, CODE_FILE);
  const stored = read(file);
  const now = Date.now();
  const scripts = new Map<string, { source: string; script: vm.Script; reused?: Stored }>();
  const loader = Module.prototype as unknown as Loader;
  const original = loader._compile;
  const statics = Module as unknown as ModuleStatics;

  loader._compile = function compile(this: Module, content: string, filename: string, format?: string): unknown {
    // A hashbang is valid only at the very start of a script, not inside the function wrapper; and Node 20 gives a
    // vm.Script the loader of import() only as an experimental feature, with a warning when it is used.
    if (format === 'module' || content.startsWith('#!') || mentionsDynamicImport(content)) return original.call(this, content, filename, format);
    const source = createHash('sha256').update(content).digest('base64');
    const kept = stored.get(filename);
    const cachedData = kept?.source === source ? kept.code : undefined;
    let script: vm.Script;
    try {
      script = new vm.Script(statics.wrap(content), { filename, cachedData, importModuleDynamically });
    } catch {
      // Not a CommonJS script (an ES module Node detects by its syntax, or a syntax error): Node's own path
      // handles it and reports its errors as it always does.
      return original.call(this, content, filename, format);
    }
    scripts.set(filename, { source, script, reused: cachedData !== undefined && !script.cachedDataRejected ? kept : undefined });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
  };

  return {
    save: () => {
      loader._compile = original;
      if ([...scripts.values()].every((s) => s.reused !== undefined)) return;
      const modules = new Map<string, Stored>();
      for (const [filename, s] of scripts) modules.set(filename, s.reused ?? { source: s.source, code: s.script.createCachedData(), compiled: now });
      for (const [filename, m] of stored) {
        if (!modules.has(filename) && now - m.compiled < UNUSED_CODE_MS && fs.existsSync(filename)) modules.set(filename, m);
      }
      try {
        write(file, modules);
      } catch {
        // The next run compiles its modules again.
      }
    },
  };
}
