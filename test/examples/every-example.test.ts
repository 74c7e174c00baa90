import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { validateManifest } from '../support/schema';
import { EXAMPLES, ROOT, runExample, tree } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-every-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

// What an example may import: the package under its published names and the construct libraries users have anyway.
const ALLOWED_IMPORTS = new Set(['shipshape', 'shipshape/pulumi', 'cdk8s', 'cdk8s-plus-27', 'constructs']);

describe('every example', () => {
  it('finds the examples, each with its own test file here', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(7);
    for (const name of EXAMPLES) expect(fs.existsSync(path.join(__dirname, `${name}.test.ts`)), `test/examples/${name}.test.ts`).toBe(true);
  });

  for (const name of EXAMPLES) {
    describe(name, () => {
      it('imports only "shipshape", "shipshape/pulumi" and the cdk8s libraries, never ../lib', () => {
        const source = fs.readFileSync(path.join(ROOT, 'examples', name, 'main.ts'), 'utf8');
        const specifiers = [...source.matchAll(/^\s*import\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]);
        expect(specifiers.length).toBeGreaterThan(0);
        expect(specifiers.filter((s) => !ALLOWED_IMPORTS.has(s))).toEqual([]);
        expect(source).not.toMatch(/require\(|import\(/);
        expect(source).toContain('process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR');
      });

      it('writes the same files whether the output directory comes from argv[2] or SHIPSHAPE_OUTDIR, policy-clean and schema-valid', () => {
        const viaArgv = path.join(out, name, 'argv');
        const viaEnv = path.join(out, name, 'env');
        const log = runExample(name, viaArgv);
        runExample(name, viaEnv, 'env');
        const files = tree(viaArgv);
        expect(Object.keys(files).length).toBeGreaterThan(0);
        expect(tree(viaEnv)).toEqual(files);

        // One summary line per environment written, each pointing into the directory given; synth refuses any
        // policy error, so a written environment is policy-clean and every exemption carries its reason.
        const summaries = [...log.matchAll(/^(\S+): \d+ objects?, \d+ warnings?, \d+ exemptions? → (\S+)/gm)];
        const environments = fs
          .readdirSync(viaArgv, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name)
          .sort();
        expect(summaries.map((m) => m[1]).sort()).toEqual(environments.filter((e) => e !== 'argocd'));
        for (const m of summaries) expect(m[2]).toBe(path.join(viaArgv, m[1]));
        for (const line of log.split('\n').filter((l) => l.startsWith('  exempt  '))) expect(line).toMatch(/^ {2}exempt {2}\[[^\]]+\] [^:]+: \S.{20,}/);

        // Every Kubernetes object written is valid against the schema and listed in its kustomization.
        let objects = 0;
        for (const env of environments) {
          const dir = path.join(viaArgv, env, 'kubernetes');
          if (!fs.existsSync(dir)) continue;
          const listed = (parseAllDocuments(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as { resources: string[] }).resources;
          const written = fs
            .readdirSync(dir)
            .filter((f) => f !== 'kustomization.yaml')
            .sort();
          expect([...listed].sort()).toEqual(written);
          for (const file of written) {
            for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
              validateManifest(doc.toJS());
              objects++;
            }
          }
        }
        const counted = summaries.reduce((n, m) => n + Number(/: (\d+) object/.exec(m[0])![1]), 0);
        expect(objects).toBe(counted);
      });
    });
  }
});
