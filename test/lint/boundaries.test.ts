import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ESLint, Linter } from 'eslint';
import * as ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The repository's own ESLint config (found from the repository root, as `eslint .` finds it). Probe files are
// linted in memory at paths inside the real tree and import modules that exist there, picked from disk so
// the cases hold while files inside a layer are renamed; the cycle cases use a scratch directory.
const ROOT = path.resolve(__dirname, '../..');
const CONFIG = path.join(ROOT, 'eslint.config.mjs');

// Lowest first; must match DOMAIN_ORDER in eslint.config.mjs (checked below).
const DOMAINS = ['docker', 'swarm', 'workloads', 'logging', 'cluster', 'registry'] as const;
const LAYERS = ['core', ...DOMAINS, 'pulumi'] as const;
type Layer = (typeof LAYERS)[number];

const eslint = new ESLint({ cwd: ROOT });
let scratch: string;

/** Lints `code` as if it were the file `file` (relative to the repository root). */
async function lint(file: string, code: string, linter = eslint, root = ROOT): Promise<Linter.LintMessage[]> {
  const [result] = await linter.lintText(code, { filePath: path.join(root, file) });
  return result.messages;
}

const ruleIds = (messages: Linter.LintMessage[]): (string | null)[] => messages.map((m) => m.ruleId);

/** An import specifier from `file` to some existing module of the folder `folder` (both relative to the root). */
function moduleIn(file: string, folder: string): string {
  const name = fs
    .readdirSync(path.join(ROOT, folder))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort()[0];
  if (!name) throw new Error(`no TypeScript module in ${folder}`);
  const rel = path.relative(path.dirname(path.join(ROOT, file)), path.join(ROOT, folder, name.replace(/\.ts$/, '')));
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** A side-effect import: it needs no knowledge of what the module exports. */
const importOf = (spec: string): string => `import '${spec}';\n`;

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-lint-'));
});

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('layering of lib/', () => {
  it('uses the same layer order as eslint.config.mjs', () => {
    const config = fs.readFileSync(CONFIG, 'utf8');
    const order = /export const DOMAIN_ORDER = \[([^\]]*)\]/.exec(config)?.[1];
    expect(order?.split(',').map((s) => s.trim().replace(/'/g, ''))).toEqual([...DOMAINS]);
  });

  // Every ordered pair of layers: an import is allowed exactly when it points down.
  const pairs = LAYERS.flatMap((from) => LAYERS.filter((to) => to !== from).map((to) => [from, to] as [Layer, Layer]));
  it.each(pairs)('lib/%s importing lib/%s', async (from, to) => {
    const file = `lib/${from}/lint-probe.ts`;
    const messages = await lint(file, importOf(moduleIn(file, `lib/${to}`)));
    if (LAYERS.indexOf(to) < LAYERS.indexOf(from)) {
      expect(messages).toEqual([]);
    } else {
      expect(ruleIds(messages)).toEqual(['import-x/no-restricted-paths']);
      const expected = from === 'core' ? `lib/core is the bottom layer and may not import lib/${to}` : `lib/${from} may not import lib/${to}`;
      expect(messages[0].message).toContain(expected);
    }
  });

  it('names the arrow: docker may not import registry, registry may import docker', async () => {
    const back = await lint('lib/docker/lint-probe.ts', importOf('../registry'));
    expect(back.map((m) => m.message)).toEqual([expect.stringContaining('lib/docker may not import lib/registry: a layer imports only lower ones')]);
    expect(await lint('lib/registry/lint-probe.ts', importOf('../docker'))).toEqual([]);
  });

  it('forbids every layer from importing the public barrel lib/index.ts', async () => {
    for (const layer of LAYERS.filter((l) => l !== 'pulumi')) {
      const messages = await lint(`lib/${layer}/lint-probe.ts`, importOf('..'));
      expect(messages.map((m) => m.message)).toEqual([expect.stringContaining('may not import lib/index.ts')]);
    }
  });

  it('forbids lib/ from importing stacks/, examples/, bench/ and test/, type-only imports included', async () => {
    const file = 'lib/cluster/lint-probe.ts';
    const example = fs
      .readdirSync(path.join(ROOT, 'examples'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort()[0];
    for (const folder of ['stacks', 'bench', 'test/support', `examples/${example}`]) {
      const spec = moduleIn(file, folder);
      for (const code of [importOf(spec), `import type * as m from '${spec}';\nexport type M = typeof m;\n`]) {
        const messages = await lint(file, code);
        expect(messages.map((m) => m.message)).toEqual([expect.stringContaining(`lib/ may not import ${folder.split('/')[0]}/`)]);
      }
    }
  });
});

describe('lib/cli, the shipshape command', () => {
  it.each([...LAYERS])('lib/%s may not import lib/cli', async (layer) => {
    const file = `lib/${layer}/lint-probe.ts`;
    const messages = await lint(file, importOf(moduleIn(file, 'lib/cli')));
    expect(ruleIds(messages)).toEqual(['import-x/no-restricted-paths']);
    expect(messages[0].message).toContain(`lib/${layer}`);
    expect(messages[0].message).toContain('may not import lib/cli');
  });

  it.each(LAYERS.filter((l) => l !== 'pulumi'))('lib/cli may import lib/%s', async (layer) => {
    const file = 'lib/cli/lint-probe.ts';
    expect(await lint(file, importOf(moduleIn(file, `lib/${layer}`)))).toEqual([]);
  });

  it('lib/cli may not import lib/pulumi, the barrel lib/index.ts or @pulumi/*; lib/index.ts may not import lib/cli', async () => {
    const file = 'lib/cli/lint-probe.ts';
    for (const spec of [moduleIn(file, 'lib/pulumi'), '..']) {
      const messages = await lint(file, importOf(spec));
      expect(messages.map((m) => m.message)).toEqual([expect.stringContaining('lib/cli may not import lib/')]);
    }
    expect(ruleIds(await lint(file, importOf('@pulumi/pulumi')))).toEqual(['no-restricted-imports']);
    const entry = await lint('lib/index.ts', `export * from './cli/args';\n`);
    expect(entry.map((m) => m.message)).toEqual([expect.stringContaining('lib/index.ts may not import lib/cli')]);
  });
});

describe('the main entry lib/index.ts', () => {
  it('may re-export the domains but not lib/pulumi', async () => {
    expect(await lint('lib/index.ts', `export * from './registry';\nexport * from './core/errors';\n`)).toEqual([]);
    const messages = await lint('lib/index.ts', `export * from './pulumi';\n`);
    expect(messages.map((m) => m.message)).toEqual([expect.stringContaining("The 'shipshape' entry (lib/index.ts) may not import lib/pulumi")]);
  });
});

describe('stacks/', () => {
  it.each(['bench', 'test/support'])('may not import %s/', async (folder) => {
    const file = 'stacks/lint-probe.ts';
    const messages = await lint(file, importOf(moduleIn(file, folder)));
    expect(messages.map((m) => m.message)).toEqual([expect.stringContaining(`stacks/ may not import ${folder.split('/')[0]}/`)]);
  });

  it('may import lib/', async () => {
    expect(await lint('stacks/lint-probe.ts', importOf('../lib'))).toEqual([]);
  });
});

describe('@pulumi/* imports', () => {
  const code = importOf('@pulumi/pulumi');

  it.each(['lib/cluster/lint-probe.ts', 'lib/core/lint-probe.ts', 'lib/index.ts', 'stacks/platform.ts', 'examples/demo/main.ts'])('are reported in %s', async (file) => {
    const messages = await lint(file, code);
    expect(ruleIds(messages)).toEqual(['no-restricted-imports']);
    expect(messages[0].message).toContain('Only lib/pulumi (the shipshape/pulumi back end) and stacks/pulumi.ts may import @pulumi/*');
  });

  it('are reported for type-only imports too', async () => {
    const messages = await lint('lib/swarm/lint-probe.ts', `import type { Output } from '@pulumi/pulumi';\nexport type O = Output<string>;\n`);
    expect(ruleIds(messages)).toEqual(['no-restricted-imports']);
  });

  it.each(['lib/pulumi/lint-probe.ts', 'stacks/pulumi.ts', 'test/pulumi/lint-probe.test.ts'])('are allowed in %s', async (file) => {
    expect(await lint(file, code)).toEqual([]);
  });
});

describe('examples/', () => {
  const file = 'examples/demo/main.ts';

  it.each(['shipshape', 'shipshape/pulumi', 'cdk8s', 'node:path', './support'])("may import '%s'", async (spec) => {
    expect(await lint(file, importOf(spec))).toEqual([]);
  });

  it.each(['../../lib', '../../lib/core/errors', 'shipshape/lib/core', 'shipshape/build/lib/index'])("may not import '%s'", async (spec) => {
    const messages = await lint(file, importOf(spec));
    expect(ruleIds(messages)).toEqual(['no-restricted-imports']);
    expect(messages[0].message).toContain("Examples import only 'shipshape' and 'shipshape/pulumi'");
  });

  it('may not import stacks/ (both the path rule and the layering rule say so)', async () => {
    const messages = await lint(file, importOf(moduleIn(file, 'stacks')));
    expect(ruleIds(messages).sort()).toEqual(['import-x/no-restricted-paths', 'no-restricted-imports']);
    expect(messages.find((m) => m.ruleId === 'import-x/no-restricted-paths')?.message).toContain('Nothing outside stacks/, test/ and bench/ may import stacks/');
  });
});

describe('who may import stacks/', () => {
  it.each(['stacks/lint-probe.ts', 'test/lint-probe.test.ts', 'bench/programs/lint-probe.ts'])('%s may', async (file) => {
    expect(await lint(file, importOf(moduleIn(file, 'stacks')))).toEqual([]);
  });
});

describe('import cycles', () => {
  // The same config file, over a scratch tree: a cycle needs both modules on disk.
  const inScratch = (): ESLint => new ESLint({ cwd: scratch, overrideConfigFile: CONFIG });
  const put = (file: string, code: string): void => {
    fs.mkdirSync(path.dirname(path.join(scratch, file)), { recursive: true });
    fs.writeFileSync(path.join(scratch, file), code);
  };

  it('reports a runtime cycle, also through a third module', async () => {
    put('lib/core/a.ts', `import { c } from './c';\nexport const a = (): string => c;\n`);
    put('lib/core/b.ts', `import { a } from './a';\nexport const b = String(a);\n`);
    put('lib/core/c.ts', `import { b } from './b';\nexport const c = b;\n`);
    const results = await inScratch().lintFiles(['lib/core/a.ts', 'lib/core/b.ts']);
    expect(results.map((r) => ruleIds(r.messages))).toEqual([['import-x/no-cycle'], ['import-x/no-cycle']]);
  });

  it('does not report a chain without a way back, nor a cycle made only of type imports', async () => {
    put('lib/core/d.ts', `import { e } from './e';\nexport const d = e;\n`);
    put('lib/core/e.ts', `import type { F } from './f';\nexport const e: F = 'e';\n`);
    put('lib/core/f.ts', `import { d } from './d';\nexport type F = typeof d;\n`);
    const results = await inScratch().lintFiles(['lib/core/d.ts', 'lib/core/e.ts', 'lib/core/f.ts']);
    expect(results.flatMap((r) => r.messages)).toEqual([]);
  });
});

describe('bench/', () => {
  // no-cycle skips type-only imports (they vanish at run time); bench/ keeps even those one-way, so that
  // results.ts stays the one module both the runner and the report read.
  function importGraph(folder: string): Map<string, string[]> {
    const files = (fs.readdirSync(path.join(ROOT, folder), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(ROOT, folder, f));
    const resolve = (from: string, spec: string): string | undefined => {
      const base = path.resolve(path.dirname(from), spec);
      return spec.startsWith('.') ? [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f)) : undefined;
    };
    return new Map(
      files.map((f) => [
        f,
        ts
          .preProcessFile(fs.readFileSync(f, 'utf8'), true, true)
          .importedFiles.map((i) => resolve(f, i.fileName))
          .filter((x): x is string => x !== undefined),
      ]),
    );
  }

  /** Every import path that leads from a module back to itself. */
  function cycles(graph: Map<string, string[]>): string[][] {
    const found: string[][] = [];
    const visit = (route: string[]): void => {
      for (const next of graph.get(route[route.length - 1]) ?? []) {
        if (next === route[0]) found.push([...route, next].map((f) => path.relative(ROOT, f)));
        else if (!route.includes(next) && next > route[0]) visit([...route, next]);
      }
    };
    for (const start of graph.keys()) visit([start]);
    return found;
  }

  it('finds a type-only cycle when there is one (the check itself)', () => {
    const a = path.join(ROOT, 'bench/a.ts');
    const b = path.join(ROOT, 'bench/b.ts');
    expect(
      cycles(
        new Map([
          [a, [b]],
          [b, [a]],
        ]),
      ),
    ).toEqual([['bench/a.ts', 'bench/b.ts', 'bench/a.ts']]);
  });

  it('has no import cycle, type-only imports included', () => {
    const graph = importGraph('bench');
    expect(graph.get(path.join(ROOT, 'bench/run.ts'))).toContain(path.join(ROOT, 'bench/report.ts'));
    expect(cycles(graph)).toEqual([]);
  });
});
