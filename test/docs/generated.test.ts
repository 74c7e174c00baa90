import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../lib/core/policy/rules';
import { PARTS, fillPart, pages, renderBenchResults, renderBenchSummary, renderRulesTable } from '../../scripts/docs';

/** The cells of a Markdown table row, split on pipes that are not escaped. */
function cells(row: string): string[] {
  return row
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

const RESULTS = [
  '# shipshape benchmark results',
  '',
  'Generated 2026-11-22T05:46:44.405Z by `npm run bench` in 308 s.',
  '',
  'Machine: AMD EPYC, 2 cores, 23.5 GB RAM, Node v20.20.2.',
  '',
  '**(a) Reference platform**',
  '',
  '| run | wall |',
  '| --- | --- |',
  '| floor | 308 ms |',
  '',
  '**Targets**',
  '',
  '| target | measured | met |',
  '| --- | --- | --- |',
  '| cold synth ≤ 1.5 s wall (tsx) | 948.6 ms | yes |',
  '| cold synth ≤ 2× the floor | tsx 3.08× (floor: 307.9 ms) | **no** |',
  '',
  '**Errors**',
  '',
  '```',
  'kustomize: exit 1',
  '```',
  '',
].join('\n');

describe('generated documentation', () => {
  for (const page of pages()) {
    it(`${page.file} is up to date with its sources (npm run docs)`, () => {
      // A failure here means a rule or bench/results.md changed: run `npm run docs` and commit the pages.
      expect(page.current).toBe(page.expected);
    });
  }

  it('docs/policy.md lists every rule, in definition order, with its severity', () => {
    const policy = pages().find((p) => p.file === 'docs/policy.md')!;
    const rows = policy.current.split('\n').filter((l) => /^\| `[a-z-]+` \|/.test(l));
    expect(rows.map((r) => cells(r)[0])).toEqual(RULES.map((r) => `\`${r.id}\``));
    expect(rows.map((r) => cells(r)[1])).toEqual(RULES.map((r) => r.severity));
    expect(RULES.length).toBeGreaterThanOrEqual(20);
  });

  it('renders one four-column row per rule whatever its description holds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.stringMatching(/^[a-z]+(-[a-z]+)*$/), severity: fc.constantFrom('error' as const, 'warning' as const), description: fc.string() }), { maxLength: 5 }),
        (rules) => {
          const table = renderRulesTable(rules.map((r) => ({ ...r, check: () => [] })));
          const rows = table.split('\n');
          expect(rows).toHaveLength(rules.length + 2);
          rows.slice(2).forEach((row, i) => {
            expect(cells(row)).toHaveLength(4);
            expect(cells(row)[0]).toBe(`\`${rules[i].id}\``);
            expect(cells(row)[3]).toBe(`\`exemptions.shipshape.io/${rules[i].id}\``);
          });
        },
      ),
    );
  });

  it('copies the date, the machine and every table of bench/results.md, but not the errors of the run', () => {
    const text = renderBenchResults(RESULTS);
    expect(text.split('\n')[0]).toBe('Measured 2026-11-22 by `npm run bench` on: AMD EPYC, 2 cores, 23.5 GB RAM, Node v20.20.2.');
    expect(text).toContain('| floor | 308 ms |');
    expect(text).toContain('| cold synth ≤ 2× the floor | tsx 3.08× (floor: 307.9 ms) | **no** |');
    expect(text).not.toContain('kustomize: exit 1');
    expect(text).not.toContain('```');
  });

  it('gives the README the targets measured against the floor, and only those', () => {
    const text = renderBenchSummary(RESULTS);
    expect(text.split('\n')).toEqual([
      'Measured 2026-11-22 by `npm run bench` on: AMD EPYC, 2 cores, 23.5 GB RAM, Node v20.20.2.',
      '',
      '| target | measured | met |',
      '| --- | --- | --- |',
      '| cold synth ≤ 2× the floor | tsx 3.08× (floor: 307.9 ms) | **no** |',
    ]);
  });

  it('refuses results it cannot publish: a quick run, or a file without its machine line', () => {
    expect(() => renderBenchResults(RESULTS.replace('by `npm run bench` in', 'by `npm run bench` (quick mode: not for publication) in'))).toThrow(/quick/);
    expect(() => renderBenchResults(RESULTS.replace(/^Machine: .*$/m, ''))).toThrow(/Machine/);
  });

  it('replaces only what lies between the markers, and refuses a page without them', () => {
    const part = PARTS.find((p) => p.name === 'policy-rules')!;
    const page = ['# Policy', 'before', '<!-- generated:policy-rules stale -->', '| old |', '<!-- /generated:policy-rules -->', 'after', ''].join('\n');
    const filled = fillPart(page, part);
    expect(filled.startsWith('# Policy\nbefore\n<!-- generated:policy-rules from lib/core/policy/rules.ts')).toBe(true);
    expect(filled.endsWith(`${renderRulesTable()}\n<!-- /generated:policy-rules -->\nafter\n`)).toBe(true);
    expect(filled).not.toContain('| old |');
    expect(fillPart(filled, part)).toBe(filled);
    expect(() => fillPart('# Policy\n', part)).toThrow(/markers/);
  });
});
