// Writes the generated parts of the documentation: the policy rules table (from the rule definitions) and the
// benchmark figures (from bench/results.md). Each part sits between marker comments in its page; everything
// around the markers is written by hand. `--check` writes nothing and exits 1 when a page is out of date.
//
//   npx tsx scripts/docs.ts [--check]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RULES, type PolicyRule } from '../lib/core/policy/rules';

const ROOT = path.resolve(__dirname, '..');
const EXEMPTION_PREFIX = 'exemptions.shipshape.io/';

/** One generated part of a page. */
export interface GeneratedPart {
  /** The page, relative to the repository root. */
  readonly file: string;
  /** The marker name: `<!-- generated:<name> … -->`. */
  readonly name: string;
  /** Where the content comes from, named in the opening marker. */
  readonly source: string;
  readonly render: () => string;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The rules table: id, severity, what the rule checks, and the annotation that exempts an object from it. */
export function renderRulesTable(rules: readonly PolicyRule[] = RULES): string {
  const lines = ['| rule | severity | what it checks | exempt an object with |', '| --- | --- | --- | --- |'];
  for (const rule of rules) lines.push(`| \`${rule.id}\` | ${rule.severity} | ${cell(rule.description)} | \`${EXEMPTION_PREFIX}${rule.id}\` |`);
  return lines.join('\n');
}

/** The parts of bench/results.md a reader needs: when and where it was measured, and every table after that. */
export function renderBenchResults(resultsMarkdown: string): string {
  const lines = resultsMarkdown.split('\n');
  const generated = lines.map((l) => /^Generated (\d{4}-\d{2}-\d{2})T\S* by `npm run bench`(.*) in \S+ s\.$/.exec(l)).find(Boolean);
  const machineAt = lines.findIndex((l) => l.startsWith('Machine: '));
  if (!generated || machineAt < 0) throw new Error('bench/results.md has no "Generated <date> by `npm run bench` in <n> s." or "Machine: …" line; run npm run bench to write it');
  if (generated[2].includes('quick')) throw new Error('bench/results.md holds a quick run, which is not for publication; run npm run bench without --quick');
  // Errors of a run are for whoever ran it; the page shows what was measured.
  const errorsAt = lines.findIndex((l) => l === '**Errors**');
  const body = lines.slice(machineAt + 1, errorsAt < 0 ? undefined : errorsAt);
  const text = [`Measured ${generated[1]} by \`npm run bench\` on: ${lines[machineAt].slice('Machine: '.length)}`, ...body].join('\n');
  return text.replace(/\n{3,}/g, '\n\n').trim();
}

/**
 * The short version for the README: the targets measured against the floor (the time of only writing the same
 * files), with the date and machine they were measured on.
 */
export function renderBenchSummary(resultsMarkdown: string): string {
  const lines = resultsMarkdown.split('\n');
  const targetsAt = lines.indexOf('**Targets**');
  if (targetsAt < 0) throw new Error('bench/results.md has no **Targets** table; run npm run bench to write it');
  const start = lines.findIndex((l, i) => i > targetsAt && l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  const table = start < 0 ? [] : lines.slice(start, end < 0 ? undefined : end);
  const floorRows = table.slice(2).filter((row) => /\bfloor\b/.test(row.split('|')[1] ?? ''));
  if (floorRows.length === 0) throw new Error('the **Targets** table of bench/results.md has no target against the floor');
  const measuredOn = renderBenchResults(resultsMarkdown).split('\n')[0];
  return [measuredOn, '', ...table.slice(0, 2), ...floorRows].join('\n');
}

function readBench(): string {
  return fs.readFileSync(path.join(ROOT, 'bench', 'results.md'), 'utf8');
}

/** Every generated part of the documentation. */
export const PARTS: readonly GeneratedPart[] = [
  { file: 'docs/policy.md', name: 'policy-rules', source: 'lib/core/policy/rules.ts', render: () => renderRulesTable() },
  { file: 'docs/performance.md', name: 'bench-results', source: 'bench/results.md', render: () => renderBenchResults(readBench()) },
  { file: 'README.md', name: 'bench-summary', source: 'bench/results.md', render: () => renderBenchSummary(readBench()) },
];

function markers(part: GeneratedPart): { begin: RegExp; end: string; open: string } {
  return {
    begin: new RegExp(`<!-- generated:${part.name} [^\\n]*-->`),
    end: `<!-- /generated:${part.name} -->`,
    open: `<!-- generated:${part.name} from ${part.source} by scripts/docs.ts (npm run docs): edit the source, not this table -->`,
  };
}

/** `text` with the part between its markers replaced by freshly rendered content. */
export function fillPart(text: string, part: GeneratedPart): string {
  const { begin, end, open } = markers(part);
  const start = begin.exec(text);
  const stop = text.indexOf(end);
  if (!start || stop < start.index) throw new Error(`${part.file} has no "<!-- generated:${part.name} … -->" … "${end}" markers`);
  return `${text.slice(0, start.index)}${open}\n${part.render()}\n${text.slice(stop)}`;
}

/** Each page with a generated part: what is on disk and what it should be. */
export function pages(root: string = ROOT): { file: string; current: string; expected: string }[] {
  const files = [...new Set(PARTS.map((p) => p.file))];
  return files.map((file) => {
    const current = fs.readFileSync(path.join(root, file), 'utf8');
    const expected = PARTS.filter((p) => p.file === file).reduce(fillPart, current);
    return { file, current, expected };
  });
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const stale = pages().filter((p) => p.current !== p.expected);
  for (const page of stale) {
    if (check) console.error(`${page.file} is out of date: run npm run docs`);
    else fs.writeFileSync(path.join(ROOT, page.file), page.expected);
  }
  if (!check) console.log(stale.length === 0 ? 'docs: up to date' : `docs: wrote ${stale.map((p) => p.file).join(', ')}`);
  return check && stale.length > 0 ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
