import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import * as path from 'node:path';
import type { Loader, Metafile, Plugin, PluginBuild } from 'esbuild';
import { ObservedInput, signature } from './cache-record';

/** The node_modules folders Node searches for a module in `dir`: `dir/node_modules` and those of every parent. */
export function nodeModulePaths(dir: string): string[] {
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
/** Whether a package module's code depends on where it was loaded from (see LOCATION_DEPENDENT): its package then runs from node_modules. */
export function dependsOnLocation(text: string): boolean {
  return LOCATION_DEPENDENT.test(text);
}

const MENTIONS_LOCATION = /__(?:dirname|filename)\b/;
// A module declaring its own: another declaration in the same scope would not compile.
const DECLARES_LOCATION = /\b(?:var|let|const|class|function)\s+__(?:dirname|filename)\b/;
// A hashbang line, then comments, white space and directives ("use strict", "use client"): what must stay ahead of the declarations.
const PROLOGUE = /^(?:#![^\n]*\n)?(?:\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|(["'])use [\w ]+\1;?)*/;
const SCRIPT = /\.(?:[cm]?[jt]s|[jt]sx)$/;
const LOADERS: Readonly<Record<string, Loader>> = { '.js': 'js', '.cjs': 'js', '.mjs': 'js', '.jsx': 'jsx', '.ts': 'ts', '.cts': 'ts', '.mts': 'ts', '.tsx': 'tsx' };

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
export interface Findings {
  /** Every script the run compiled, with the hash of the text compiled and the signature taken before reading it. */
  readonly observed: Map<string, ObservedInput>;
  /** Packages whose code depends on where it is loaded from (see LOCATION_DEPENDENT) or that load native addons. */
  readonly unbundled: Set<string>;
}

/** Findings of a run about to start. */
export function findings(): Findings {
  return { observed: new Map(), unbundled: new Set() };
}

/** The name under which the program's bundle sees the packages bundle: a function from a package module's path to its exports. */
export const PACKAGES_VARIABLE = '__shipshapePackages';
const PACKAGE_NAMESPACE = 'shipshape-package';
const SELF = Symbol('shipshape.resolve');

/** Reads every script for esbuild: records what it compiled, finds packages that must run from node_modules, and gives each module its own location. */
function loadScripts(build: PluginBuild, found: Findings): void {
  build.onLoad({ filter: SCRIPT, namespace: 'file' }, (args) => {
    const before = signature(args.path);
    const text = fs.readFileSync(args.path, 'utf8');
    found.observed.set(args.path, { hash: createHash('sha256').update(text).digest('hex'), signature: before });
    const owner = packageFolder(args.path);
    if (owner !== undefined && dependsOnLocation(text)) found.unbundled.add(owner);
    const located = withOwnLocation(text, args.path);
    // Only a changed module goes back to esbuild: it reads the others itself, faster than they travel to it.
    return located === text ? undefined : { contents: located, loader: LOADERS[path.extname(args.path)] };
  });
}

/**
 * Resolves bare specifiers to the package file they name, as `require` resolves them (the CommonJS entry of a
 * package that has both); undefined for a built-in module or a specifier that names no installed package file.
 * Each specifier is resolved once per folder: the files of a folder import the same packages.
 */
function packageResolver(build: PluginBuild): (args: { path: string; importer: string; resolveDir: string; pluginData?: unknown }) => Promise<string | undefined> {
  const resolved = new Map<string, Promise<string | undefined>>();
  return (args) => {
    if (args.pluginData === SELF || isBuiltin(args.path)) return Promise.resolve(undefined);
    const key = `${args.resolveDir}\0${args.path}`;
    let file = resolved.get(key);
    if (file === undefined) {
      file = build
        .resolve(args.path, { kind: 'require-call', importer: args.importer, resolveDir: args.resolveDir, pluginData: SELF })
        .then((r) => (r.errors.length === 0 && packageFolder(r.path) !== undefined ? r.path : undefined));
      resolved.set(key, file);
    }
    return file;
  };
}

/**
 * The program's own modules: bundled, each with its own location. Each package module they import becomes a
 * call into the packages bundle (recorded in `modules`), so that an edit of the program leaves the packages, and
 * the code V8 compiled for them, as they were.
 */
export function programPlugin(found: Findings, modules: Set<string>): Plugin {
  return {
    name: 'shipshape-program',
    setup(build) {
      const resolvePackage = packageResolver(build);
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        const file = await resolvePackage(args);
        if (file === undefined) return undefined;
        modules.add(file);
        return { path: file, namespace: PACKAGE_NAMESPACE };
      });
      build.onLoad({ filter: /.*/, namespace: PACKAGE_NAMESPACE }, (args) => ({ contents: `module.exports = ${PACKAGES_VARIABLE}(${JSON.stringify(args.path)});`, loader: 'js' }));
      loadScripts(build, found);
    },
  };
}

/**
 * The packages: bundled, each module with its own location, except the packages in `external` and native addons,
 * which stay `require`s of the file Node would load from the importing module (a nested copy stays that copy).
 */
export function packagesPlugin(found: Findings, external: ReadonlySet<string>): Plugin {
  return {
    name: 'shipshape-packages',
    setup(build) {
      build.onResolve({ filter: /\.node$/ }, (args) => {
        // A native addon cannot be bundled: its package runs from node_modules.
        const owner = packageFolder(args.importer);
        if (owner === undefined) return undefined;
        found.unbundled.add(owner);
        return { path: args.path, external: true };
      });
      if (external.size > 0) {
        // The served modules, named by path.
        build.onResolve({ filter: /^\// }, (args) => (external.has(packageFolder(args.path) ?? '') ? { path: args.path, external: true } : undefined));
        const resolvePackage = packageResolver(build);
        build.onResolve({ filter: /^[^./]/ }, async (args) => {
          const file = await resolvePackage(args);
          if (file === undefined || !external.has(packageFolder(file)!)) return undefined;
          try {
            return { path: createRequire(args.importer).resolve(args.path), external: true };
          } catch {
            return { path: args.path, external: true };
          }
        });
      }
      loadScripts(build, found);
    },
  };
}

/**
 * The packages that must run from node_modules: those found so, and every package one of them imports, since a
 * package bundled as well as required from node_modules would load twice.
 */
export function closeOver(unbundled: ReadonlySet<string>, metafile: Metafile, root: string): Set<string> {
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
