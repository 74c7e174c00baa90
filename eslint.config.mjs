// ESLint flat config: a small rule set plus the import layering (stacks → lib domains → lib/core, no cycles).
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Zones are paths from the repository root, whatever directory eslint runs in.
const ROOT = path.dirname(fileURLToPath(import.meta.url));

/**
 * Domain folders of lib/, lowest first. A domain may import lib/core and the domains before it, never one
 * after it. The order is taken from the real imports (swarm → docker, cluster → logging, registry → docker,
 * swarm and workloads); lib/pulumi sits on top and may import every domain. lib/cli (the `shipshape` command)
 * sits on top too, beside lib/pulumi: it may import every domain but not lib/pulumi, and nothing imports it.
 */
export const DOMAIN_ORDER = ['docker', 'swarm', 'workloads', 'logging', 'cluster', 'registry'];
const ORDER_TEXT = `core < ${DOMAIN_ORDER.join(' < ')} < pulumi, cli`;

/** Who may import `@pulumi/*`: the Pulumi back end, the Pulumi program, and the tests and benchmarks that run them under mocks. */
const PULUMI_ALLOWED = ['lib/pulumi/**', 'stacks/pulumi.ts', 'test/**', 'bench/**'];
const PULUMI_RESTRICTION = {
  group: ['@pulumi/*'],
  message: 'Only lib/pulumi (the shipshape/pulumi back end) and stacks/pulumi.ts may import @pulumi/*; keep synth free of Pulumi.',
};

function layeringZones() {
  const zones = [];
  const upper = ['./lib/pulumi', './lib/cli', './lib/index.ts'];
  for (const from of [...DOMAIN_ORDER.map((d) => `./lib/${d}`), ...upper]) {
    zones.push({
      target: './lib/core',
      from,
      message: `lib/core is the bottom layer and may not import ${from.slice(2)} (layer order: ${ORDER_TEXT}). Move the shared piece into lib/core.`,
    });
  }
  DOMAIN_ORDER.forEach((domain, i) => {
    for (const from of [...DOMAIN_ORDER.slice(i + 1).map((d) => `./lib/${d}`), ...upper]) {
      zones.push({
        target: `./lib/${domain}`,
        from,
        message: `lib/${domain} may not import ${from.slice(2)}: a layer imports only lower ones (${ORDER_TEXT}). Move the shared piece down into lib/${domain} or lib/core.`,
      });
    }
  });
  for (const target of ['./lib/pulumi', './lib/index.ts']) {
    zones.push({
      target,
      from: './lib/cli',
      message: `${target.slice(2)} may not import lib/cli: the CLI is the \`shipshape\` command, on top of the library, and no module of the library uses it.`,
    });
  }
  for (const from of ['./lib/pulumi', './lib/index.ts']) {
    zones.push({
      target: './lib/cli',
      from,
      message: `lib/cli may not import ${from.slice(2)}: the CLI loads only what a command needs (never Pulumi, never the whole barrel); import the module of lib/core or the domain directly.`,
    });
  }
  for (const from of ['./stacks', './examples', './bench', './test']) {
    zones.push({
      target: './lib',
      from,
      message: `lib/ may not import ${from.slice(2)}/: the library is what users get from npm and depends on nothing outside lib/.`,
    });
  }
  zones.push({
    target: './lib/index.ts',
    from: './lib/pulumi',
    message: "The 'shipshape' entry (lib/index.ts) may not import lib/pulumi: synth must not load Pulumi; it is published as 'shipshape/pulumi'.",
  });
  for (const from of ['./examples', './bench', './test']) {
    zones.push({
      target: './stacks',
      from,
      message: `stacks/ may not import ${from.slice(2)}/: the reference platform is built from lib/ alone.`,
    });
  }
  zones.push({
    target: './examples',
    from: './stacks',
    message: 'Nothing outside stacks/, test/ and bench/ may import stacks/: the reference platform is an application, not a library.',
  });
  return zones;
}

export default defineConfig(
  {
    ignores: ['node_modules/', 'build/', 'dist/', 'dist.*/', '.dist-*/', 'dist-examples/', 'bench/.work/', 'test/.work/', 'docs/api/', 'test/fixtures/', 'cdk8s.out/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      // TypeScript sources are parsed for no-cycle too (the plugin's own typescript preset minus its legacy resolver).
      'import-x/extensions': importX.flatConfigs.typescript.settings['import-x/extensions'],
      'import-x/external-module-folders': importX.flatConfigs.typescript.settings['import-x/external-module-folders'],
      'import-x/parsers': importX.flatConfigs.typescript.settings['import-x/parsers'],
      // One lint run never sees a file move: keep resolutions for the whole run (the default expires them after 30 s).
      'import-x/cache': { lifetime: Infinity },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: path.join(ROOT, 'tsconfig.json') })],
    },
    rules: {
      // The policy engine and the tests walk untyped manifests and YAML documents, where `any` is the honest type.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      'import-x/no-restricted-paths': ['error', { basePath: ROOT, zones: layeringZones() }],
      'no-restricted-imports': ['error', { patterns: [PULUMI_RESTRICTION] }],
    },
  },
  {
    // Test files are entry points that nothing imports, so they cannot close a cycle: no need to walk the graph from each.
    files: ['test/**/*.test.ts'],
    rules: { 'import-x/no-cycle': 'off' },
  },
  {
    files: PULUMI_ALLOWED,
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Examples are what users copy: they import the published entry points only.
    files: ['examples/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            PULUMI_RESTRICTION,
            {
              regex: '^\\.\\./',
              message: "Examples import only 'shipshape' and 'shipshape/pulumi', never files of lib/ or stacks/ by path.",
            },
            {
              regex: '^shipshape/(?!pulumi$)',
              message: "Examples import only 'shipshape' and 'shipshape/pulumi' (the package's exports).",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
);
