import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * V8's compiled code of the CommonJS modules a CLI run loads (cdk8s, cdk8s-plus-27, yaml, the compiled program),
 * kept in one file per program, for Node versions without `module.enableCompileCache` (before 22.1).
 *
 * Compiling those modules is about a fifth of a synth of the reference platform: cdk8s-plus-27's generated
 * Kubernetes API alone is 2.5 MB of JavaScript, and V8 compiles most functions lazily, on their first call. The
 * code is taken from each script after the command has run, so it holds the functions the run compiled, not only
 * those compiled up front (what a cache produced at load time, as v8-compile-cache does, holds).
 */
export interface CodeCache {
  /** Writes the code of this run's modules when some module had none, or had code V8 refused; else nothing. */
  save(): void;
  /** Stops compiling modules through the cache (modules loaded from then on compile as Node compiles them). */
  uninstall(): void;
}

/** Bumped when the file layout below changes. */
const FORMAT = 1;
const MAGIC = 'shipshape-code-cache';

/** What one module's entry is checked against before V8 sees its code. */
interface Stored {
  /** Hash of the module's source: V8 checks only the source's length, so an edit of the same length would run stale code. */
  readonly source: string;
  readonly code: Buffer;
}

/** The file: a line of JSON (format, Node and V8 versions, and per module filename, source hash and code length), then the code. */
interface Header {
  readonly magic: string;
  readonly format: number;
  readonly runtime: string;
  readonly modules: [filename: string, source: string, length: number][];
}

/** `import(` in a module's text, code or not (a string given to `new Function` counts): such modules compile as Node compiles them. */
const DYNAMIC_IMPORT = /\bimport\s*\(/;

const RUNTIME = `${process.version} ${process.arch} v8 ${process.versions.v8}`;

/** Node's loader internals the replacement `_compile` works with (stable since Node 12; typed here as they are used). */
interface Loader {
  _compile(this: Module, content: string, filename: string): unknown;
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
    for (const [filename, source, length] of header.modules) {
      stored.set(filename, { source, code: content.subarray(offset, offset + length) });
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
  const header: Header = { magic: MAGIC, format: FORMAT, runtime: RUNTIME, modules: [...modules].map(([filename, m]) => [filename, m.source, m.code.length]) };
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

/**
 * Compiles every CommonJS module loaded from now on with the code kept in `file`, and records each module's code
 * for {@link CodeCache.save}. Returns undefined when source maps are enabled: Node maps stack traces only
 * for modules it compiles itself.
 */
export function installCodeCache(file: string): CodeCache | undefined {
  // Node 20 before 20.12 cannot give a vm.Script the loader of import(); modules there compile as Node compiles them.
  const importModuleDynamically = (vm as { constants?: typeof vm.constants }).constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (process.sourceMapsEnabled || importModuleDynamically === undefined) return undefined;
  const stored = read(file);
  const scripts = new Map<string, { source: string; script: vm.Script; reused?: Buffer }>();
  const loader = Module.prototype as unknown as Loader;
  const original = loader._compile;
  const statics = Module as unknown as ModuleStatics;

  loader._compile = function compile(this: Module, content: string, filename: string): unknown {
    // A hashbang is valid only at the very start of a script, not inside the function wrapper; and Node 20 gives a
    // vm.Script the loader of import() only as an experimental feature, with a warning when it is used.
    if (content.startsWith('#!') || DYNAMIC_IMPORT.test(content)) return original.call(this, content, filename);
    const source = createHash('sha1').update(content).digest('base64');
    const kept = stored.get(filename);
    const cachedData = kept?.source === source ? kept.code : undefined;
    let script: vm.Script;
    try {
      script = new vm.Script(statics.wrap(content), {
        filename,
        cachedData,
        importModuleDynamically,
      });
    } catch {
      // Not a CommonJS script (an ES module Node detects by its syntax, or a syntax error): Node's own path
      // handles it and reports its errors as it always does.
      return original.call(this, content, filename);
    }
    scripts.set(filename, { source, script, reused: cachedData !== undefined && !script.cachedDataRejected ? cachedData : undefined });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
  };

  return {
    save: () => {
      if ([...scripts.values()].every((s) => s.reused !== undefined)) return;
      const modules = new Map<string, Stored>();
      for (const [filename, s] of scripts) modules.set(filename, { source: s.source, code: s.reused ?? s.script.createCachedData() });
      write(file, modules);
    },
    uninstall: () => {
      loader._compile = original;
    },
  };
}
