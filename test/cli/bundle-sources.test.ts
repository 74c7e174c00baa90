import * as path from 'node:path';
import * as vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dependsOnLocation, packageFolder, withOwnLocation } from '../../lib/cli/bundle-sources';

const FILE = '/project/node_modules/reader/lib/index.js';

/** Runs `text` as Node runs a CommonJS module, with the bundle's location; returns what it exported. */
function run(text: string): unknown {
  // Node drops a hashbang line before wrapping the module; the line stays, as a blank one.
  const body = text.startsWith('#!') ? text.slice(text.indexOf('\n')) : text;
  const wrapper = vm.runInThisContext(`(function (exports, require, module, __filename, __dirname) {${body}\n})`) as (...args: unknown[]) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports, require, module, '/cache/bundle.js', '/cache');
  return module.exports;
}

describe('packageFolder', () => {
  it('names the installed package holding a file, scoped or nested, and nothing outside node_modules', () => {
    expect(packageFolder('/p/node_modules/cdk8s/lib/index.js')).toBe('/p/node_modules/cdk8s');
    expect(packageFolder('/p/node_modules/@pulumi/pulumi/index.js')).toBe('/p/node_modules/@pulumi/pulumi');
    expect(packageFolder('/p/node_modules/cdk8s/node_modules/yaml/dist/index.js')).toBe('/p/node_modules/cdk8s/node_modules/yaml');
    expect(packageFolder('/p/src/main.ts')).toBeUndefined();
  });
});

describe('dependsOnLocation', () => {
  it('finds code that asks the loader, loads by a computed name, uses require as a value or eval', () => {
    for (const text of [
      "require.resolve('./x')",
      'require . main === module',
      'delete require.cache[key]',
      "module.paths.push('/x')",
      'new URL(import.meta.url)',
      'require(name)',
      'require(`./${name}`)',
      'await import(specifier)',
      "typeof require === 'function'",
      'const r = require;',
      "eval('require')('x')",
    ]) {
      expect(dependsOnLocation(text), text).toBe(true);
    }
  });

  it('lets through literal requires and imports, __dirname, and words that only contain require', () => {
    for (const text of [
      "const fs = require('node:fs');",
      'const x = require("./x.js");',
      'const y = require(`./y`);',
      "import('./esm.mjs')",
      "fs.readFileSync(path.join(__dirname, 'data.txt'))",
      'loader.require(name)',
      'required(x); myrequire(y); requireAll(z)',
      '// requires node 18',
    ]) {
      expect(dependsOnLocation(text), text).toBe(false);
    }
  });
});

describe('withOwnLocation', () => {
  const probe = 'module.exports = { dir: __dirname, file: __filename, strict: (function () { return this === undefined; })() };';

  it('gives the module its own __dirname and __filename after the hashbang, comments and "use strict", on the same line', () => {
    const text = `#!/usr/bin/env node\n/* license */\n// about\n'use strict';\n${probe}\n`;
    const located = withOwnLocation(text, FILE);
    expect(located.split('\n')).toHaveLength(text.split('\n').length);
    expect(run(located)).toEqual({ dir: path.dirname(FILE), file: FILE, strict: true });
    // The bundle's location, without.
    expect(run(text)).toEqual({ dir: '/cache', file: '/cache/bundle.js', strict: true });
  });

  it('leaves alone a module that does not mention them, or declares its own', () => {
    expect(withOwnLocation("module.exports = require('./x');\n", FILE)).toBe("module.exports = require('./x');\n");
    const own = "const __dirname = '/elsewhere';\nmodule.exports = __dirname;\n";
    expect(withOwnLocation(own, FILE)).toBe(own);
  });

  it('keeps strict mode, line numbers and the module working whatever comes first (property)', () => {
    const prologuePart = fc.constantFrom('', '\n', '  ', '// a comment\n', '/* a\n block */', "'use strict';", '"use strict"\n', "'use strict'\n", "'use client';\n");
    fc.assert(
      fc.property(fc.boolean(), fc.array(prologuePart, { maxLength: 5 }), (hashbang, parts) => {
        const text = `${hashbang ? '#!/usr/bin/env node\n' : ''}${parts.join('')}\n${probe}\n`;
        const located = withOwnLocation(text, FILE);
        expect(located.split('\n')).toHaveLength(text.split('\n').length);
        const strict = (run(text) as { strict: boolean }).strict;
        expect(run(located)).toEqual({ dir: path.dirname(FILE), file: FILE, strict });
      }),
    );
  });
});
