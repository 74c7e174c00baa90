import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchors, codeBlocks, documentationPages, links, ROOT, type CodeBlock } from './markdown';

// Every code block of README.md and docs/ is checked by its language: a `ts` block is a complete program that is
// type-checked and run, `ts fails` one that must exit non-zero printing the `text` block that follows it, a
// `text output` block after a `ts` block holds lines its program prints, `sh`/`bash` pass `bash -n`, `yaml` and
// `json` parse, any other `text` block is not checked. One test per block, named `<file>:<line>`, so
// `-t docs/workloads.md` checks one page.

const PAGES = documentationPages();
const BLOCKS = PAGES.flatMap((page) => codeBlocks(page));
const PROGRAMS = BLOCKS.filter((b) => b.lang === 'ts');

// Inside the repository, so that the bundles resolve cdk8s and Pulumi from its node_modules; one directory per
// process, so that runs of single pages side by side do not meet.
const WORK = path.join(ROOT, 'test', '.work', 'docs-samples', String(process.pid));

/** What a sample may import: the package under its published names, its peer dependencies and Node. */
const ALLOWED_IMPORT = /^(shipshape(\/pulumi(\/policy)?)?|cdk8s|cdk8s-plus-27|constructs|@pulumi\/[\w.-]+|node:[\w/]+)$/;
/** A placeholder where code was left out: a line `...`, or `...` inside a comment. */
const PLACEHOLDER = /^\s*\.\.\.\s*;?\s*$|\/\/.*\.\.\.|\/\*.*\.\.\..*\*\//m;
/** A Pulumi program runs under Pulumi's mocks, as the reference stacks' tests do. */
const PULUMI_IMPORT = /^(@pulumi\/|shipshape\/pulumi)/;
const RUN_TIMEOUT_MS = 60_000;

interface Prepared {
  /** Problems found before running (imports, placeholders, type errors), by block. */
  readonly problems: Map<CodeBlock, string[]>;
  /** The bundled program, by block. */
  readonly bundles: Map<CodeBlock, string>;
  readonly pulumi: Set<CodeBlock>;
}

let prepared: Prepared;

function sampleName(block: CodeBlock): string {
  return `${block.file.replace(/\.md$/, '').replace(/[^\w-]+/g, '_')}-${block.line}`;
}

/** A file line (0-based) of a sample as the page's line (1-based). */
function pageLine(block: CodeBlock, line: number): number {
  return block.line + 1 + line;
}

function specifiers(source: ts.SourceFile): string[] {
  const found: string[] = [];
  for (const statement of source.statements) {
    if ((ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      found.push(statement.moduleSpecifier.text);
    }
    if (ts.isImportEqualsDeclaration(statement) && ts.isExternalModuleReference(statement.moduleReference) && ts.isStringLiteral(statement.moduleReference.expression)) {
      found.push(statement.moduleReference.expression.text);
    }
  }
  return found;
}

async function prepare(): Promise<Prepared> {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const files = new Map<CodeBlock, string>();
  for (const block of PROGRAMS) {
    const file = path.join(WORK, `${sampleName(block)}.ts`);
    // Every sample is a module of its own, even one without imports, so that top-level names never clash.
    fs.writeFileSync(file, `${block.code}export {};\n`);
    files.set(block, file);
  }
  const lib = (p: string) => [path.join(ROOT, 'lib', p)];
  const tsconfig = path.join(WORK, 'tsconfig.json');
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.relative(WORK, path.join(ROOT, 'tsconfig.json')),
      compilerOptions: {
        paths: { shipshape: lib('index.ts'), 'shipshape/pulumi': lib('pulumi/index.ts'), 'shipshape/pulumi/policy': lib('pulumi/policy/index.ts') },
        // A sample may name a construct only to make the text read well.
        noUnusedLocals: false,
        noUnusedParameters: false,
      },
      include: ['*.ts'],
      // The repository's tsconfig leaves test/.work out of its own program.
      exclude: [],
    }),
  );

  const problems = new Map<CodeBlock, string[]>(PROGRAMS.map((b) => [b, []]));
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfig, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => expect.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')) });
  const program = ts.createProgram({ rootNames: [...files.values()], options: parsed!.options });
  const pulumi = new Set<CodeBlock>();
  for (const [block, file] of files) {
    const source = program.getSourceFile(file)!;
    const mine = problems.get(block)!;
    for (const specifier of specifiers(source)) {
      if (!ALLOWED_IMPORT.test(specifier))
        mine.push(`imports '${specifier}': a sample imports only 'shipshape', 'shipshape/pulumi', 'shipshape/pulumi/policy', cdk8s, cdk8s-plus-27, constructs, @pulumi/* and node:*`);
      if (PULUMI_IMPORT.test(specifier)) pulumi.add(block);
    }
    if (/\brequire\s*\(|\bimport\s*\(/.test(block.code)) mine.push('uses require() or import(): a sample uses import declarations only');
    const placeholder = PLACEHOLDER.exec(block.code);
    if (placeholder) mine.push(`${block.file}:${pageLine(block, block.code.slice(0, placeholder.index).split('\n').length - 1)}: leaves code out ('...'): a sample is a complete program`);
    for (const d of ts.getPreEmitDiagnostics(program, source)) {
      const at = d.file && d.start !== undefined ? `${block.file}:${pageLine(block, d.file.getLineAndCharacterOfPosition(d.start).line)}` : block.file;
      mine.push(`${at}: TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    }
  }

  // Bundled one by one (in parallel), so that one broken sample does not stop the others from running.
  const bundles = new Map<CodeBlock, string>();
  const outdir = path.join(WORK, 'out');
  await Promise.all(
    [...files].map(async ([block, file]) => {
      const outfile = path.join(outdir, `${sampleName(block)}.js`);
      try {
        await esbuild.build({ entryPoints: [file], outfile, bundle: true, platform: 'node', format: 'cjs', target: 'node20', packages: 'external', tsconfig, logLevel: 'silent' });
        bundles.set(block, outfile);
      } catch (e) {
        problems.get(block)!.push(`esbuild: ${(e as Error).message}`);
      }
    }),
  );

  // Installed before the program runs: the mocks must be in place before any resource is registered.
  fs.writeFileSync(
    path.join(WORK, 'pulumi-mocks.mjs'),
    [
      "import { createRequire } from 'node:module';",
      `const pulumi = createRequire(${JSON.stringify(path.join(outdir, 'x.js'))})('@pulumi/pulumi');`,
      "await pulumi.runtime.setMocks({ newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs }, 'shipshape', 'dev', false);",
      '',
    ].join('\n'),
  );
  return { problems, bundles, pulumi };
}

/**
 * Runs a bundled sample in an empty directory of its own; resolves with its exit status and everything it printed,
 * with that directory's path left out, as the page shows paths (`dist/prod`).
 */
function runSample(block: CodeBlock): Promise<{ status: number | null; output: string }> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-doc-sample-'));
  const env = { ...process.env, CDK8S_OUTDIR: path.join(cwd, 'dist'), SHIPSHAPE_OUTDIR: path.join(cwd, 'dist') };
  const args = [...(prepared.pulumi.has(block) ? ['--import', path.join(WORK, 'pulumi-mocks.mjs')] : []), prepared.bundles.get(block)!];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (status, signal) => {
      fs.rmSync(cwd, { recursive: true, force: true });
      const shown = output.replaceAll(`${cwd}${path.sep}`, '');
      resolve({ status: signal ? null : status, output: signal ? `${shown}\n(stopped by ${signal} after ${RUN_TIMEOUT_MS} ms)` : shown });
    });
  });
}

/** The lines of a text block that `output` does not hold (blank lines aside). */
function missingLines(text: CodeBlock, output: string): string[] {
  const expected = text.code.split('\n').filter((l) => l.trim() !== '');
  expect(expected.length, `the text block at ${text.file}:${text.line} holds no line`).toBeGreaterThan(0);
  return expected.filter((l) => !output.includes(l.trim()));
}

function describeBlock(block: CodeBlock): string {
  return `\`\`\`${[block.lang, ...block.flags].join(' ')} at ${block.file}:${block.line}`;
}

beforeAll(async () => {
  prepared = await prepare();
}, 240_000);
afterAll(() => fs.rmSync(WORK, { recursive: true, force: true }));

describe('documentation samples', () => {
  it('finds README.md and the docs pages, and the programs in them', () => {
    expect(PAGES).toContain('README.md');
    expect(PAGES.filter((p) => p.startsWith('docs/')).length).toBeGreaterThanOrEqual(2);
    expect(PROGRAMS.filter((b) => b.file === 'README.md').length).toBeGreaterThanOrEqual(1);
  });

  BLOCKS.forEach((block, index) => {
    it(`${block.file}:${block.line}`, async () => {
      if (block.lang === 'ts') {
        const fails = block.flags.includes('fails');
        expect(
          block.flags.filter((f) => f !== 'fails'),
          `${describeBlock(block)}: the only flag a ts block takes is 'fails'`,
        ).toEqual([]);
        expect(prepared.problems.get(block), `${describeBlock(block)} must be a complete program that type-checks`).toEqual([]);
        const { status, output } = await runSample(block);
        const next = BLOCKS[index + 1];
        if (!fails) {
          expect(status, `${describeBlock(block)} exited with ${status}:\n${output}`).toBe(0);
          if (next?.file === block.file && next.lang === 'text' && next.flags.includes('output')) {
            expect(missingLines(next, output), `lines of the text output block at ${next.file}:${next.line} missing from the output of ${describeBlock(block)}:\n${output}`).toEqual([]);
          }
          return;
        }
        expect(status, `${describeBlock(block)} is marked 'fails' but exited with 0:\n${output}`).not.toBe(0);
        expect(status, `${describeBlock(block)} did not finish:\n${output}`).not.toBeNull();
        // Any crash exits non-zero: only the expected message shows that the sample fails for the reason it tells.
        expect(next?.file === block.file && next.lang === 'text', `${describeBlock(block)} must be followed by a text block with the message it prints`).toBe(true);
        expect(missingLines(next, output), `lines of the text block at ${next.file}:${next.line} missing from the output of ${describeBlock(block)}:\n${output}`).toEqual([]);
        return;
      }
      switch (block.lang) {
        case 'sh':
        case 'bash': {
          const checked = spawnSync('bash', ['-n'], { input: block.code, encoding: 'utf8', timeout: 10_000 });
          expect(checked.status, `${describeBlock(block)}: ${checked.stderr}`).toBe(0);
          return;
        }
        case 'yaml': {
          const errors = parseAllDocuments(block.code).flatMap((d) => ('errors' in d ? d.errors.map((e) => e.message) : []));
          expect(errors, describeBlock(block)).toEqual([]);
          return;
        }
        case 'json':
          expect(() => JSON.parse(block.code), describeBlock(block)).not.toThrow();
          return;
        case 'text': {
          expect(
            block.flags.filter((f) => f !== 'output'),
            `${describeBlock(block)}: the only flag a text block takes is 'output'`,
          ).toEqual([]);
          // Checked by the test of the program it follows; anywhere else the tag would promise a check that never runs.
          const previous = BLOCKS[index - 1];
          if (block.flags.includes('output')) {
            expect(previous?.file === block.file && previous.lang === 'ts' && !previous.flags.includes('fails'), `${describeBlock(block)} must follow the ts block whose output it shows`).toBe(true);
          }
          return;
        }
        default:
          expect.fail(`${describeBlock(block)}: label a block ts, ts fails, sh, bash, yaml, json, text output (what the ts block before prints), or text (trees and anything not checked)`);
      }
    });
  });

  for (const page of PAGES) {
    it(`${page}: relative links point at existing files and headings`, () => {
      const broken: string[] = [];
      for (const link of links(page)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue;
        const [target, anchor] = link.target.split('#', 2);
        const at = `${page}:${link.line}: ${link.target}`;
        if (target.startsWith('/')) {
          broken.push(`${at} (write the link relative to the page)`);
          continue;
        }
        const file = target === '' ? page : path.relative(ROOT, path.resolve(ROOT, path.dirname(page), decodeURIComponent(target)));
        // The API reference is generated (npm run docs:api); its own test checks the pages it writes.
        if (file.startsWith(path.join('docs', 'api'))) continue;
        if (!fs.existsSync(path.join(ROOT, file))) broken.push(`${at} (no such file)`);
        else if (anchor && file.endsWith('.md') && !anchors(file).has(decodeURIComponent(anchor))) broken.push(`${at} (no heading #${anchor} in ${file})`);
      }
      expect(broken).toEqual([]);
    });
  }
});
