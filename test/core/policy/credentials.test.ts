import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synth } from '../../../lib';
import { LocatedCredential, scanFile } from '../../../lib/core/policy/credentials';
import { buildApp } from '../../../stacks/platform';
import { run } from '../../support/tools';
import { TOKENS } from './credential-cases';

const root = path.resolve(__dirname, '../../..');
const EXAMPLES = fs
  .readdirSync(path.join(root, 'examples'))
  .filter((e) => fs.existsSync(path.join(root, 'examples', e, 'main.ts')))
  .sort();

let out: string;

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Every credential-shaped value in the files under `dir`, as `file path: kind (masked)`. */
function scanTree(dir: string): { files: number; hits: string[] } {
  const files = filesUnder(dir);
  const hits = files.flatMap((f) => scanFile(f, fs.readFileSync(f, 'utf8')).map((h: LocatedCredential) => `${path.relative(dir, f)} ${h.path}: ${h.kind} (${h.excerpt})`));
  return { files: files.length, hits };
}

describe('no credential-shaped value in any file synth writes', () => {
  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-credential-scan-'));
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('reference platform: every environment', () => {
    const dir = path.join(out, 'platform');
    const summaries = synth(buildApp(), { outdir: dir });
    expect(summaries.map((s) => s.environment).sort()).toEqual(['dev', 'prod', 'stage', 'swarm-edge']);
    const { files, hits } = scanTree(dir);
    expect(hits).toEqual([]);
    // Every environment's manifests, stack file and host files were read.
    expect(files).toBeGreaterThan(100);
  });

  it.each(EXAMPLES)('example %s', (name) => {
    const dir = path.join(out, 'examples', name);
    run('npx', ['tsx', `examples/${name}/main.ts`, dir], { cwd: root, timeoutMs: 60_000 });
    const { files, hits } = scanTree(dir);
    expect(files).toBeGreaterThan(0);
    expect(hits).toEqual([]);
  });

  it('finds a credential planted in a copy of the output, so the scan can fail', () => {
    const src = path.join(out, 'platform');
    const copy = path.join(out, 'planted');
    fs.cpSync(src, copy, { recursive: true });
    const plant = (rel: string, edit: (s: string) => string) => {
      const f = path.join(copy, rel);
      fs.writeFileSync(f, edit(fs.readFileSync(f, 'utf8')));
    };
    // A manifest and the stack file are edited as documents, as a careless hand would.
    plant('prod/kubernetes/deployment-web-api.yaml', (s) => {
      const doc = parse(s);
      doc.spec.template.spec.containers[0].env.push({ name: 'DB_PWD', value: 'Tr0ub4dor-3' });
      return stringify(doc);
    });
    plant('swarm-edge/swarm/docker-stack.yml', (s) => {
      const doc = parse(s);
      doc.services.web.environment = { CACHE_URL: 'redis://:hunter2@cache:6379' };
      return stringify(doc);
    });
    plant('swarm-edge/hosts/daemon.json', (s) => JSON.stringify({ ...JSON.parse(s), labels: [`ci=${TOKENS.github}`] }));
    fs.writeFileSync(path.join(copy, 'dev', 'hosts-notes.properties'), 'spring.datasource.password=hunter2\n');

    const { hits } = scanTree(copy);
    expect(hits).toEqual([
      expect.stringMatching(/^dev\/hosts-notes\.properties line 1: a credential-named value/),
      expect.stringMatching(/^prod\/kubernetes\/deployment-web-api\.yaml .*env\[\d+\]\.value: a credential-named value/),
      expect.stringMatching(/^swarm-edge\/hosts\/daemon\.json labels: a GitHub token/),
      expect.stringMatching(/^swarm-edge\/swarm\/docker-stack\.yml .*environment\.CACHE_URL: a password in a URL/),
    ]);
    // The report masks what it found.
    expect(hits.join('\n')).not.toMatch(/hunter2|Tr0ub4dor|ghp_[A-Za-z0-9]{30}/);
  });
});
