import * as fc from 'fast-check';
import { App, Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { OutputFile, OutputFileProps } from '../../lib';
import { scanFile } from '../../lib/core/policy/credentials';
import { toYaml } from '../../lib/core/yaml';
import { TOKENS } from './policy/credential-cases';

// Strings that hold credentials, YAML specials, line breaks and comment markers, so scans find things and renderings quote.
const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(...Object.values(TOKENS), 'on', '1_000', '~', 'a\u2028b', 'x\n\ty', ' \nz', '# c', '---', '...', 'a: b', 'password=hunter2', 'redis://:pw@h', '--token abc', '__proto__'),
);
const names = fc.oneof(hostile, fc.constantFrom('password', 'DB_PASSWORD', 'name', 'value', 'env', 'command', '__proto__'));
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, hostile, fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object'), tie('env')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(names, tie('value'), { maxKeys: 3 }),
  // An environment entry, which the scan reads by its name.
  env: fc.record({ name: names, value: hostile }),
}));
const documentOf = fc.oneof(fc.dictionary(names, value, { maxKeys: 4 }), fc.array(value, { maxLength: 3 }));

function outputFile(path: string, content: OutputFileProps['content']): OutputFile {
  return new OutputFile(new Chart(new App(), 'c'), 'f', { path, content });
}

describe('an output file given as YAML documents', () => {
  it('writes the header and toYaml of each document, separated by --- lines', () => {
    const f = outputFile('swarm/x.yml', () => ({ header: '# one\n# two', documents: [{ a: 'on' }, [1, 'b']] }));
    expect(f.render()).toBe(`# one\n# two\n${toYaml({ a: 'on' })}---\n${toYaml([1, 'b'])}`);
    expect(f.renderAndScan().content).toBe(f.render());
  });

  it('finds exactly what scanning the written file finds (property)', () => {
    let withFindings = 0;
    let asValues = 0;
    fc.assert(
      fc.property(
        fc.array(documentOf, { minLength: 1, maxLength: 3 }),
        fc.option(
          fc.array(
            fc.oneof(
              hostile.map((h) => `# ${h}`),
              hostile,
            ),
            { minLength: 1, maxLength: 3 },
          ),
          { nil: undefined },
        ),
        fc.constantFrom('a/file.yml', 'a/file.yaml', 'a/file.json', 'a/file.txt'),
        (documents, header, path) => {
          const f = outputFile(path, () => ({ documents, ...(header !== undefined ? { header: header.join('\n') } : {}) }));
          const { content, credentials } = f.renderAndScan();
          const expected = scanFile(path, content);
          expect(credentials).toEqual(expected);
          if (expected.length > 0) withFindings++;
          // Comment lines only and a YAML file: the values were scanned, not the text.
          if (/\.ya?ml$/.test(path) && (header ?? []).every((l) => /^#[^\r\n]*$/.test(l))) asValues++;
        },
      ),
      { numRuns: 500 },
    );
    expect(withFindings).toBeGreaterThan(50);
    expect(asValues).toBeGreaterThan(50);
  });
});
