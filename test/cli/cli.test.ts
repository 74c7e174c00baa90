import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The CLI runs as a real process on small projects in a temp directory. Layout of that directory:
//   cli/bin.js        lib/cli/bin.ts bundled with esbuild (packages external), standing in for build/lib/cli/bin.js
//   node_modules/     symlinks to the repository's esbuild, yaml, cdk8s, cdk8s-plus-27 and constructs
//   <project>/        tsconfig.json maps 'shipshape' to the repository's lib/index.ts (as tsconfig paths do for the
//                     examples); packages resolve from ../node_modules, so each program's bundle carries its own
//                     copy of shipshape next to the CLI's copy, as an app that imports ../lib does.
const ROOT = path.resolve(__dirname, '../..');
const PACKAGES = ['esbuild', 'yaml', 'cdk8s', 'cdk8s-plus-27', 'constructs'];
let work: string;
let cli: string;

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a CLI run: this one's, without an output directory set from outside, plus `extra`. */
function environment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CDK8S_OUTDIR;
  delete env.SHIPSHAPE_CACHE_DIR;
  return { ...env, ...extra };
}

function shipshape(project: string, args: string[], env: NodeJS.ProcessEnv = {}): Result {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: project, env: environment(env), encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function shipshapeAsync(project: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: project, env: environment() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** An Environment expression whose name is the TypeScript expression `name`. */
const ENVIRONMENT = (name: string) => `new Environment({
    name: ${name},
    kubernetesVersion: '1.29',
    zones: ['zone-a', 'zone-b', 'zone-c'],
    replicas: 3,
    nodeGroups: [{ name: 'webapi', minSize: 3, maxSize: 6 }],
  })`;

// Two environments declared prod first (summaries follow declaration, not names); environment variables vary
// the output: WEB_TAG changes the web Deployment, EXTRA=<env> adds a worker, LONELY=<env> breaks policy.
const PROGRAM = `import { App } from 'cdk8s';
import { AntiAffinityDeployment, Environment, Stack, formatSummary, synth } from 'shipshape';
import { WORKER_TAG } from './settings';

const app = new App();
for (const name of ['prod', 'dev']) {
  const stack = new Stack(app, name, { environment: ${ENVIRONMENT('name')} });
  new AntiAffinityDeployment(stack, 'web', { name: 'web', image: \`web:\${process.env.WEB_TAG ?? '1.0.0'}\`, ports: [{ port: 80 }] });
  if (process.env.EXTRA === name) new AntiAffinityDeployment(stack, 'worker', { name: 'worker', image: \`worker:\${WORKER_TAG}\`, ports: [{ port: 80 }] });
  if (process.env.LONELY === name) new AntiAffinityDeployment(stack, 'lonely', { name: 'lonely', image: 'lonely:1.0.0', ports: [{ port: 80 }], disruptionBudget: false });
}
// Printed by the program itself: under the CLI synth returns nothing, so nothing is printed twice.
for (const summary of synth(app)) console.log(\`program: \${formatSummary(summary)}\`);
`;

/** Creates a project directory under the work directory with `files`; returns its path. */
function project(name: string, files: Record<string, string>): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, paths: { shipshape: [path.join(ROOT, 'lib/index.ts')] } } }));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

const platform = (name: string, extra: Record<string, string> = {}): string => project(name, { 'main.ts': PROGRAM, 'settings.ts': `export const WORKER_TAG = '2.0.0';\n`, ...extra });

/** Every file under `dir` (relative path → content). */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  if (!fs.existsSync(dir)) return files;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files[path.relative(dir, path.join(e.parentPath, e.name))] = fs.readFileSync(path.join(e.parentPath, e.name), 'utf8');
  }
  return files;
}

/** Records whether the CLI process loads a package by name (esbuild: a cache hit must not; yaml: nor a run whose cdk8s.yaml was read before). */
function probe(dir: string, name = 'esbuild'): { env: NodeJS.ProcessEnv; loaded: () => boolean } {
  const mark = path.join(dir, `${name}-loaded`);
  const preload = path.join(dir, `probe-${name}.cjs`);
  fs.writeFileSync(
    preload,
    `const Module = require('node:module');\nconst load = Module._load;\nModule._load = function (request, ...rest) {\n  if (request === ${JSON.stringify(name)}) require('node:fs').writeFileSync(${JSON.stringify(mark)}, '1');\n  return load.call(this, request, ...rest);\n};\n`,
  );
  return {
    env: { NODE_OPTIONS: `--require ${preload}` },
    loaded: () => {
      const was = fs.existsSync(mark);
      fs.rmSync(mark, { force: true });
      return was;
    },
  };
}

const summaryLines = (stdout: string) => stdout.split('\n').filter((l) => /^\S+: \d+ objects?, /.test(l));

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-cli-'));
  fs.mkdirSync(path.join(work, 'node_modules'));
  for (const p of PACKAGES) fs.symlinkSync(path.join(ROOT, 'node_modules', p), path.join(work, 'node_modules', p));
  cli = path.join(work, 'cli', 'bin.js');
  await build({ entryPoints: [path.join(ROOT, 'lib/cli/bin.ts')], outfile: cli, bundle: true, packages: 'external', platform: 'node', format: 'cjs', target: 'node20', logLevel: 'error' });
}, 60_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('shipshape synth', () => {
  it('writes every environment, prints one summary per environment in declared order, and the program prints nothing twice', () => {
    const dir = platform('synth-all');
    const r = shipshape(dir, ['synth']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(summaryLines(r.stdout)).toEqual([
      'prod: 5 objects, 0 warnings, 0 exemptions → dist/prod (images/, kubernetes/)',
      'dev: 5 objects, 0 warnings, 0 exemptions → dist/dev (images/, kubernetes/)',
    ]);
    expect(r.stdout).not.toContain('program:');
    const files = tree(path.join(dir, 'dist'));
    expect(files['.shipshape-output']).toBeDefined();
    expect(parse(files['prod/kubernetes/deployment-web.yaml']).spec.template.spec.containers[0].image).toBe('web:1.0.0');
    expect(Object.keys(files).filter((f) => f.startsWith('dev/kubernetes/')).length).toBe(6);
  });

  it('with --env and --out writes only the named environment and keeps the others as they were', () => {
    const dir = platform('synth-env');
    const out = path.join(dir, 'out');
    expect(shipshape(dir, ['synth', '--out', 'out']).status).toBe(0);
    const before = tree(out);
    const r = shipshape(dir, ['synth', '--env', 'dev', '--out', 'out'], { WEB_TAG: '1.1.0', EXTRA: 'dev' });
    expect(r.status).toBe(0);
    expect(summaryLines(r.stdout)).toEqual(['dev: 9 objects, 0 warnings, 0 exemptions → out/dev (images/, kubernetes/)']);
    const after = tree(out);
    // prod: byte for byte what the first synth wrote, although WEB_TAG would change it.
    const prod = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).filter(([f]) => f.startsWith('prod/')));
    expect(Object.keys(prod(after)).length).toBeGreaterThan(0);
    expect(prod(after)).toEqual(prod(before));
    expect(parse(after['dev/kubernetes/deployment-web.yaml']).spec.template.spec.containers[0].image).toBe('web:1.1.0');
    expect(parse(after['dev/kubernetes/deployment-worker.yaml']).spec.template.spec.containers[0].image).toBe('worker:2.0.0');
    expect(fs.readdirSync(dir).filter((e) => e.includes('staging'))).toEqual([]);
    // Without --env the whole directory is replaced again: the dev worker goes away.
    expect(shipshape(dir, ['synth', '--out', 'out']).status).toBe(0);
    expect(tree(out)['dev/kubernetes/deployment-worker.yaml']).toBeUndefined();
  });

  it('refuses an unknown environment, naming the known ones, and writes nothing', () => {
    const dir = platform('synth-unknown');
    const r = shipshape(dir, ['synth', '--env', 'qa']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--env: names no environment of the program (got "qa"). Fix: use one of: prod, dev');
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
  });

  it('prints each policy problem once, exits 1 and leaves the previous output as it was', () => {
    const dir = platform('synth-broken');
    expect(shipshape(dir, ['synth']).status).toBe(0);
    const before = tree(path.join(dir, 'dist'));
    const r = shipshape(dir, ['synth'], { LONELY: 'dev', WEB_TAG: '9.9.9' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('synth failed; nothing was written (1):');
    expect(r.stderr.match(/\[disruption-budget\] Deployment dev\/lonely/g)).toHaveLength(1);
    expect(tree(path.join(dir, 'dist'))).toEqual(before);
  });

  it('works with ShipshapeApp and app.synth(), and with a program that synthesizes asynchronously', () => {
    const dir = project('shipshape-app', {
      'main.ts': `import { AntiAffinityDeployment, Environment, ShipshapeApp, Stack } from 'shipshape';
const app = new ShipshapeApp();
const stack = new Stack(app, 'edge', { environment: ${ENVIRONMENT("'edge'")} });
new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
setTimeout(() => app.synth(), 50);
`,
    });
    const r = shipshape(dir, ['synth', '--out', 'gen']);
    expect(r.stderr).toBe('');
    expect(summaryLines(r.stdout)).toEqual(['edge: 5 objects, 0 warnings, 0 exemptions → gen/edge (images/, kubernetes/)']);
    expect(fs.existsSync(path.join(dir, 'gen/edge/kubernetes/deployment-web.yaml'))).toBe(true);
  });
});

describe('shipshape diff', () => {
  it('lists objects added, changed and removed per environment, writes nothing, and exits 1 only with --exit-code', () => {
    const dir = platform('diff');
    expect(shipshape(dir, ['synth'], { EXTRA: 'prod' }).status).toBe(0);
    const before = tree(path.join(dir, 'dist'));

    const same = shipshape(dir, ['diff', '--exit-code'], { EXTRA: 'prod' });
    expect(same.status).toBe(0);
    expect(same.stdout).toContain('shipshape diff: no differences from dist');

    const env = { WEB_TAG: '1.1.0', EXTRA: 'dev' };
    const r = shipshape(dir, ['diff'], env);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('shipshape diff: 2 of 2 environments differ from dist');
    expect(r.stdout).toContain('- prod: 1 object changed, 4 objects removed');
    expect(r.stdout).toContain('- dev: 4 objects added, 1 object changed');
    const prod = r.stdout.slice(r.stdout.indexOf('\nprod:\n'));
    expect(prod).toContain('~ Deployment prod/web');
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'PodDisruptionBudget']) expect(prod).toContain(`- ${kind} prod/worker`);
    expect(r.stdout.slice(r.stdout.indexOf('\ndev:\n'))).toContain('+ Deployment dev/worker');
    // The kustomization's change follows from the objects added and removed; image tests are files.
    expect(r.stdout).not.toContain('kustomization.yaml');
    expect(r.stdout).toContain('+ file images/web-1.1.0.cst.yaml');
    expect(shipshape(dir, ['diff', '--exit-code'], env).status).toBe(1);
    expect(tree(path.join(dir, 'dist'))).toEqual(before);
  });

  it('compares objects by content against another directory', () => {
    const dir = platform('diff-against');
    expect(shipshape(dir, ['synth', '--out', 'committed']).status).toBe(0);
    // Re-quoted and reordered: the same object, not a change.
    const service = path.join(dir, 'committed/dev/kubernetes/service-web.yaml');
    const doc = parse(fs.readFileSync(service, 'utf8'));
    fs.writeFileSync(service, `# edited by hand\n${JSON.stringify(Object.fromEntries(Object.entries(doc).reverse()))}\n`);
    const r = shipshape(dir, ['diff', '--against', 'committed', '--exit-code']);
    expect(r.stdout).toContain('no differences from committed');
    expect(r.status).toBe(0);

    fs.rmSync(path.join(dir, 'committed/prod'), { recursive: true });
    const added = shipshape(dir, ['diff', '--against', 'committed', '--env', 'prod']);
    expect(added.stdout).toContain('- prod: new environment: 5 objects added');
    expect(added.stdout).not.toContain('- dev:');
  });

  it('reports an environment the program no longer declares as removed', () => {
    const dir = platform('diff-removed');
    expect(shipshape(dir, ['synth']).status).toBe(0);
    fs.cpSync(path.join(dir, 'dist/dev'), path.join(dir, 'dist/qa'), { recursive: true });
    const r = shipshape(dir, ['diff', '--exit-code']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('- qa: environment removed: 5 objects removed');
  });
});

describe('shipshape validate', () => {
  it('prints warnings and summaries without writing, and exits 1 listing each problem once', () => {
    const dir = platform('validate');
    const ok = shipshape(dir, ['validate', '--env', 'dev']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('dev: 5 objects, 0 warnings, 0 exemptions\n');
    expect(ok.stdout).toContain('validate: no problems in 1 environment');
    expect(ok.stdout).not.toContain('prod:');

    const bad = shipshape(dir, ['validate'], { LONELY: 'prod' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('validate found problems (1):');
    expect(bad.stderr.match(/prod: \[disruption-budget\] Deployment prod\/lonely/g)).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
  });
});

describe('compile cache', () => {
  const bundles = (cache: string) => fs.readdirSync(cache).filter((f) => f.endsWith('.js') && !f.includes('.packages.'));

  it('compiles on the first run, reuses the bundle without loading esbuild, and rebuilds when an imported source changes', () => {
    const dir = platform('cache');
    const cache = path.join(dir, 'node_modules/.cache/shipshape');
    const { env, loaded } = probe(dir);

    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(true);
    const [first] = bundles(cache);
    const written = fs.statSync(path.join(cache, first)).mtimeMs;

    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(false);
    expect(bundles(cache)).toEqual([first]);
    expect(fs.statSync(path.join(cache, first)).mtimeMs).toBe(written);

    fs.writeFileSync(path.join(dir, 'settings.ts'), `export const WORKER_TAG = '2.1.0';\n`);
    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(true);
    expect(bundles(cache)).toHaveLength(2);
    expect(parse(fs.readFileSync(path.join(dir, 'dist/dev/kubernetes/deployment-worker.yaml'), 'utf8')).spec.template.spec.containers[0].image).toBe('worker:2.1.0');

    // A new tsconfig.json paths target changes how 'shipshape' resolves: the tsconfig is an input too.
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), fs.readFileSync(path.join(dir, 'tsconfig.json'), 'utf8').replace('"strict":true', '"strict":false'));
    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(true);
  });

  it('reads again only inputs whose signature changed: inputs changed just before the record are recorded again once, and an edit keeping length and timestamp compiles again', async () => {
    const dir = platform('cache-signatures');
    // A timestamp in whole seconds, which utimes sets back exactly (nanoseconds would not survive the round trip).
    const settings = path.join(dir, 'settings.ts');
    const stamp = new Date('2026-01-01T00:00:00Z');
    fs.utimesSync(settings, stamp, stamp);
    const cache = path.join(dir, 'node_modules/.cache/shipshape');
    const { env, loaded } = probe(dir);
    const record = () =>
      path.join(
        cache,
        fs.readdirSync(cache).find((f) => /^[0-9a-f]{16}\.json$/.test(f))!,
      );
    const worker = () => parse(fs.readFileSync(path.join(dir, 'dist/dev/kubernetes/deployment-worker.yaml'), 'utf8')).spec.template.spec.containers[0].image;
    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(true);
    // The sources were written just before the record: their signatures are not trusted yet.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const compiled = fs.statSync(record());
    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(false);
    const renewed = fs.statSync(record());
    expect(renewed.mtimeMs).toBeGreaterThan(compiled.mtimeMs);
    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(fs.statSync(record())).toMatchObject({ ino: renewed.ino, mtimeMs: renewed.mtimeMs });

    fs.writeFileSync(settings, `export const WORKER_TAG = '2.9.0';\n`);
    fs.utimesSync(settings, stamp, stamp);
    expect(shipshape(dir, ['synth'], { ...env, EXTRA: 'dev' }).status).toBe(0);
    expect(loaded()).toBe(true);
    expect(worker()).toBe('worker:2.9.0');
  });

  it('rebuilds when a config that tsconfig.json extends changes, and resolves packages from the project when the cache lies outside it', () => {
    const dir = platform('cache-extends', {
      'main.ts': PROGRAM.replace("from './settings'", "from '@settings'"),
      'settings-b.ts': `export const WORKER_TAG = '2.2.0';\n`,
    });
    const base = path.join(dir, 'tsconfig.base.json');
    const paths = (settings: string) => JSON.stringify({ compilerOptions: { strict: true, paths: { shipshape: [path.join(ROOT, 'lib/index.ts')], '@settings': [settings] } } });
    fs.writeFileSync(base, paths('./settings.ts'));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: './tsconfig.base' }));
    // Outside the work directory, whose node_modules would otherwise be found from the cache by walking up.
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-cli-cache-'));
    const worker = () => parse(fs.readFileSync(path.join(dir, 'dist/dev/kubernetes/deployment-worker.yaml'), 'utf8')).spec.template.spec.containers[0].image;
    try {
      const env = { EXTRA: 'dev', SHIPSHAPE_CACHE_DIR: cache };
      const first = shipshape(dir, ['synth'], env);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      expect(worker()).toBe('worker:2.0.0');
      fs.writeFileSync(base, paths('./settings-b.ts'));
      expect(shipshape(dir, ['synth'], env).status).toBe(0);
      expect(worker()).toBe('worker:2.2.0');
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('survives two cold runs at once: both succeed with the same output and leave a usable cache', async () => {
    const dir = platform('cache-concurrent');
    const [a, b] = await Promise.all([shipshapeAsync(dir, ['synth', '--out', 'a']), shipshapeAsync(dir, ['synth', '--out', 'b'])]);
    expect([a.status, a.stderr, b.status, b.stderr]).toEqual([0, '', 0, '']);
    expect(tree(path.join(dir, 'a'))).toEqual(tree(path.join(dir, 'b')));
    const cache = path.join(dir, 'node_modules/.cache/shipshape');
    expect(fs.readdirSync(cache).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const { env, loaded } = probe(dir);
    expect(shipshape(dir, ['synth', '--out', 'c'], env).status).toBe(0);
    expect(loaded()).toBe(false);
  });
});

describe('code cache', () => {
  // A package written as packages are: CommonJS using require, __dirname, import(), a hashbang file and a stack trace.
  const PROBE: Record<string, string> = {
    'node_modules/probe/package.json': JSON.stringify({ name: 'probe', version: '1.0.0', main: 'index.js' }),
    'node_modules/probe/index.js': `'use strict';
const path = require('node:path');
const self = this === module.exports;
function where() {
  return new Error('here').stack.split('\\n')[1].trim();
}
module.exports = async () => ({
  value: require('./value'),
  self,
  files: [path.basename(__filename), path.basename(__dirname)],
  resolved: path.relative(__dirname, require.resolve('./value')),
  paths: require.resolve.paths('anything').includes(path.join(__dirname, 'node_modules')),
  main: require.main === process.mainModule,
  cached: require.cache[__filename] === module,
  extensions: Object.keys(require.extensions),
  imported: (await require('./dynamic')()).default,
  hashbang: require('./tool'),
  required: require('./esm/value.js').value,
  where: where(),
});
`,
    'node_modules/probe/value.js': `module.exports = 'aaaa';\n`,
    'node_modules/probe/esm.mjs': `export default 'from an ES module';\n`,
    'node_modules/probe/tool.js': `#!/usr/bin/env node\nmodule.exports = 'hashbang';\n`,
    'node_modules/probe/dynamic.js': `module.exports = () => import('./esm.mjs');\n`,
    'node_modules/probe/esm/package.json': JSON.stringify({ type: 'module' }),
    'node_modules/probe/esm/value.js': `export const value = 'required ES module';\n`,
    'main.ts': `import { AntiAffinityDeployment, Environment, ShipshapeApp, Stack } from 'shipshape';
void (async () => {
  console.log(\`probe \${JSON.stringify(await require('probe')())}\`);
  const app = new ShipshapeApp();
  const stack = new Stack(app, 'dev', { environment: ${ENVIRONMENT("'dev'")} });
  new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
  app.synth();
})();
`,
  };

  const cacheFile = (dir: string): string => {
    const code = path.join(dir, 'node_modules/.cache/shipshape/code');
    const files = fs.readdirSync(code).filter((f) => f.endsWith('.bin'));
    expect(files).toHaveLength(1);
    return path.join(code, files[0]);
  };
  const cachedModules = (file: string): string[] => (JSON.parse(fs.readFileSync(file, 'utf8').split('\n')[0]) as { modules: [string][] }).modules.map(([f]) => f);
  const probed = (r: Result): Record<string, unknown> => {
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(/^probe (.*)$/m.exec(r.stdout)![1]) as Record<string, unknown>;
  };

  it('gives modules what Node gives them, keeps the code of the first run, and a second run reuses it without writing', () => {
    const dir = project('code-cache', PROBE);
    // With source maps on, modules compile as Node compiles them: the reference the cached runs are held to.
    const uncached = probed(shipshape(dir, ['synth', '--out', 'uncached'], { NODE_OPTIONS: '--enable-source-maps' }));
    expect(fs.existsSync(path.join(dir, 'node_modules/.cache/shipshape/code'))).toBe(false);
    expect(uncached).toMatchObject({
      value: 'aaaa',
      self: true,
      files: ['index.js', 'probe'],
      resolved: 'value.js',
      paths: true,
      cached: true,
      imported: 'from an ES module',
      hashbang: 'hashbang',
      required: 'required ES module',
    });
    expect(uncached.extensions).toContain('.js');
    expect(uncached.where).toMatch(/^at where \(.*node_modules\/probe\/index\.js:5:10\)$/);

    expect(probed(shipshape(dir, ['synth']))).toEqual(uncached);
    const file = cacheFile(dir);
    const modules = cachedModules(file);
    expect(modules).toEqual(expect.arrayContaining([path.join(dir, 'node_modules/probe/index.js'), path.join(dir, 'node_modules/probe/value.js')]));
    // cdk8s-plus-27 is in the bundle (see 'packages in the bundle'); the probe, which asks the loader where it is, is not.
    expect(modules.some((m) => m.includes(`${path.sep}cdk8s-plus-27${path.sep}`))).toBe(false);
    expect(modules.some((m) => m.startsWith(path.join(dir, 'node_modules/.cache/shipshape')) && m.endsWith('.js'))).toBe(true);
    // A file with a hashbang or an import() compiles as Node compiles it.
    expect(modules).not.toContain(path.join(dir, 'node_modules/probe/tool.js'));
    expect(modules).not.toContain(path.join(dir, 'node_modules/probe/dynamic.js'));
    // An ES module required from CommonJS is Node's to load.
    expect(modules).not.toContain(path.join(dir, 'node_modules/probe/esm/value.js'));

    const written = fs.statSync(file);
    expect(probed(shipshape(dir, ['synth']))).toEqual(uncached);
    // V8 took every module's code: a refused one would have been compiled again and the file rewritten.
    expect(fs.statSync(file)).toMatchObject({ ino: written.ino, mtimeMs: written.mtimeMs });
    expect(tree(path.join(dir, 'dist'))).toEqual(tree(path.join(dir, 'uncached')));
  });

  it('keeps the code of every program run from one folder: runs of one do not rewrite what another kept', () => {
    const dir = platform('code-cache-shared', { 'other.ts': PROGRAM.replace("['prod', 'dev']", "['dev']") });
    expect(shipshape(dir, ['synth']).status).toBe(0);
    expect(shipshape(dir, ['synth', '--app', 'other.ts', '--out', 'other']).status).toBe(0);
    const file = cacheFile(dir);
    const bundles = cachedModules(file).filter((m) => m.startsWith(path.join(dir, 'node_modules/.cache/shipshape')));
    // Each program's bundle and the bundle of the packages it imports.
    expect(bundles.filter((b) => !b.includes('.packages.'))).toHaveLength(2);
    expect(bundles).toHaveLength(4);
    const written = fs.statSync(file);
    expect(shipshape(dir, ['synth']).status).toBe(0);
    expect(shipshape(dir, ['synth', '--app', 'other.ts', '--out', 'other']).status).toBe(0);
    expect(fs.statSync(file)).toMatchObject({ ino: written.ino, mtimeMs: written.mtimeMs });
  });

  it('runs the new code of a module edited to the same length with the same timestamp, and replaces a damaged cache file', () => {
    const dir = project('code-cache-edit', PROBE);
    expect(probed(shipshape(dir, ['synth'])).value).toBe('aaaa');
    const value = path.join(dir, 'node_modules/probe/value.js');
    const { atime, mtime } = fs.statSync(value);
    // npm gives every file it unpacks the same timestamp, and V8 checks only the length of the source.
    fs.writeFileSync(value, `module.exports = 'bbbb';\n`);
    fs.utimesSync(value, atime, mtime);
    expect(probed(shipshape(dir, ['synth'])).value).toBe('bbbb');

    const file = cacheFile(dir);
    fs.writeFileSync(file, 'not a code cache');
    expect(probed(shipshape(dir, ['synth'])).value).toBe('bbbb');
    expect(cachedModules(file)).toContain(value);
    fs.truncateSync(file, fs.statSync(file).size - 100);
    expect(probed(shipshape(dir, ['synth'])).value).toBe('bbbb');
    expect(cachedModules(file)).toContain(value);
  });
});

describe('packages in the bundle', () => {
  const pkg = (name: string, version: string, index: string, extra: Record<string, string> = {}): Record<string, string> => ({
    [`${name}/package.json`]: JSON.stringify({ name: path.basename(name), version, main: 'index.js' }),
    [`${name}/index.js`]: index,
    ...Object.fromEntries(Object.entries(extra).map(([f, c]) => [`${name}/${f}`, c])),
  });
  const main = (body: string) => `import { AntiAffinityDeployment, Environment, ShipshapeApp, Stack } from 'shipshape';
${body}
const app = new ShipshapeApp();
const stack = new Stack(app, 'dev', { environment: ${ENVIRONMENT("'dev'")} });
new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
app.synth();
`;
  const reported = (r: Result): unknown => {
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(/^report (.*)$/m.exec(r.stdout)![1]);
  };

  it('bundles packages with their own __dirname, and keeps in node_modules those that ask the loader, what they import, and native addons', () => {
    const dir = project('bundled', {
      // Reads a file beside itself: bundled, with its own folder.
      ...pkg('node_modules/reader', '1.0.0', `const fs = require('node:fs');\nmodule.exports = fs.readFileSync(require('node:path').join(__dirname, 'data.txt'), 'utf8').trim();\n`, {
        'data.txt': 'read beside reader\n',
      }),
      // Asks the loader where something is: required from node_modules, and so is the package it imports.
      ...pkg('node_modules/asker', '1.0.0', `module.exports = { found: require.resolve('./index.js'), shared: require('shared') };\n`),
      ...pkg('node_modules/shared', '1.0.0', `module.exports = { copies: (globalThis.sharedCopies = (globalThis.sharedCopies ?? 0) + 1) };\n`),
      // Requires the package by the copy nested in its own node_modules, which asks the loader too.
      ...pkg('node_modules/outer', '1.0.0', `module.exports = require('nested');\n`),
      ...pkg('node_modules/outer/node_modules/nested', '2.0.0', `module.exports = { version: '2.0.0', at: require.resolve('./index.js') };\n`),
      ...pkg('node_modules/nested', '1.0.0', `module.exports = { version: '1.0.0', at: require.resolve('./index.js') };\n`),
      // Falls back when its native addon is missing, as packages with optional addons do.
      ...pkg('node_modules/addon', '1.0.0', `let native;\ntry {\n  native = require('./build/addon.node');\n} catch {\n  native = 'fallback';\n}\nmodule.exports = native;\n`),
      'src/local.ts': `export const here = __dirname;\n`,
      'main.ts': main(`import reader from 'reader';
import asker from 'asker';
import shared from 'shared';
import outer from 'outer';
import nested from 'nested';
import addon from 'addon';
import { here } from './src/local';
const inBundle = (name: string) => Object.keys(require.cache).some((f) => f.includes(\`/node_modules/\${name}/\`));
console.log(\`report \${JSON.stringify({
  reader,
  here,
  sameShared: asker.shared === shared,
  copies: shared.copies,
  asker: asker.found,
  outer: [outer.version, outer.at],
  nested: [nested.version, nested.at],
  addon,
  required: ['reader', 'asker', 'shared', 'nested', 'addon', 'cdk8s', 'cdk8s-plus-27', 'yaml'].filter(inBundle),
})}\`);`),
    });
    const report = reported(shipshape(dir, ['synth']));
    const at = (...parts: string[]) => path.join(dir, 'node_modules', ...parts);
    expect(report).toEqual({
      reader: 'read beside reader',
      here: path.join(dir, 'src'),
      sameShared: true,
      copies: 1,
      asker: at('asker', 'index.js'),
      outer: ['2.0.0', at('outer', 'node_modules', 'nested', 'index.js')],
      nested: ['1.0.0', at('nested', 'index.js')],
      addon: 'fallback',
      // Loaded by Node: the packages that ask the loader, the package one of them imports, and the one with an addon.
      required: ['asker', 'shared', 'nested', 'addon'],
    });
    // The second run takes the bundle from the cache and gives the same answers.
    expect(reported(shipshape(dir, ['synth']))).toEqual(report);
  });

  it('bundles the packages once: an edit of the program keeps their bundle and its compiled code, a newly imported package module bundles them again', () => {
    const dir = platform('packages-once');
    const cache = path.join(dir, 'node_modules/.cache/shipshape');
    const packagesBundles = () => fs.readdirSync(cache).filter((f) => f.includes('.packages.') && f.endsWith('.js'));
    const compiledAt = (bundle: string): number => {
      const header = JSON.parse(fs.readFileSync(path.join(cache, 'code/modules.bin'), 'utf8').split('\n')[0]) as { modules: [string, string, number, number][] };
      return header.modules.find(([f]) => f === path.join(cache, bundle))![3];
    };
    expect(shipshape(dir, ['synth']).status).toBe(0);
    const [served] = packagesBundles();
    const written = fs.statSync(path.join(cache, served)).mtimeMs;
    const compiled = compiledAt(served);

    fs.writeFileSync(path.join(dir, 'settings.ts'), `export const WORKER_TAG = '3.0.0';\n`);
    expect(shipshape(dir, ['synth'], { EXTRA: 'dev' }).status).toBe(0);
    expect(parse(fs.readFileSync(path.join(dir, 'dist/dev/kubernetes/deployment-worker.yaml'), 'utf8')).spec.template.spec.containers[0].image).toBe('worker:3.0.0');
    expect(packagesBundles()).toEqual([served]);
    expect(fs.statSync(path.join(cache, served)).mtimeMs).toBe(written);
    expect(compiledAt(served)).toBe(compiled);

    fs.writeFileSync(
      path.join(dir, 'settings.ts'),
      `import { KubeNamespace } from 'cdk8s-plus-27/lib/imports/k8s';\nexport const WORKER_TAG = typeof KubeNamespace === 'function' ? '3.1.0' : 'none';\n`,
    );
    expect(shipshape(dir, ['synth'], { EXTRA: 'dev' }).status).toBe(0);
    expect(parse(fs.readFileSync(path.join(dir, 'dist/dev/kubernetes/deployment-worker.yaml'), 'utf8')).spec.template.spec.containers[0].image).toBe('worker:3.1.0');
    expect(packagesBundles()).toHaveLength(2);
  });
});

describe('environments and output directories shared by several runs', () => {
  it('validate --env and synth --env still refuse an object that another environment on the same cluster owns', () => {
    const dir = project('shared-cluster', {
      'main.ts': `import * as kplus from 'cdk8s-plus-27';
import { Environment, ShipshapeApp, Stack } from 'shipshape';
const app = new ShipshapeApp();
for (const name of ['dev', 'prod']) {
  const stack = new Stack(app, name, { environment: new Environment({ name, kubernetesVersion: '1.29', cluster: { name: 'shared' } }) });
  new kplus.k8s.KubeConfigMap(stack, 'settings', { metadata: { name: 'collector', namespace: 'logging' }, data: { level: name } });
}
app.synth();
`,
    });
    for (const command of ['validate', 'synth']) {
      const r = shipshape(dir, [command, '--env', 'dev']);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('environments "dev" and "prod" both deploy to Argo CD cluster "shared" and would both own 1 object(s): ConfigMap logging/collector');
    }
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
  });

  it('synth waits while another run holds the output directory, and takes over a lock its holder left behind', async () => {
    const dir = platform('locked');
    const lock = path.join(dir, '.dist.shipshape-lock');
    // A warm cache: the run below reaches the lock well within the time it is held.
    expect(shipshape(dir, ['validate']).status).toBe(0);
    fs.writeFileSync(lock, `${process.pid}\n`);
    const waiting = shipshapeAsync(dir, ['synth']);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
    const released = Date.now();
    fs.rmSync(lock);
    const r = await waiting;
    expect(fs.statSync(path.join(dir, 'dist/.shipshape-output')).mtimeMs).toBeGreaterThanOrEqual(released - 10);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(summaryLines(r.stdout)).toHaveLength(2);
    expect(fs.existsSync(lock)).toBe(false);

    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    fs.writeFileSync(lock, `${dead}\n`);
    const taken = shipshape(dir, ['synth', '--env', 'dev'], { WEB_TAG: '1.2.0' });
    expect(taken.stderr).toBe('');
    expect(taken.status).toBe(0);
    expect(parse(fs.readFileSync(path.join(dir, 'dist/dev/kubernetes/deployment-web.yaml'), 'utf8')).spec.template.spec.containers[0].image).toBe('web:1.2.0');
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('exits once everything is printed although the program keeps a timer running', () => {
    const dir = platform('busy', { 'busy.ts': `import './main';\nsetInterval(() => undefined, 1_000);\n` });
    const busy = spawnSync(process.execPath, [cli, 'synth', '--app', 'busy.ts', '--env', 'dev'], { cwd: dir, env: environment(), encoding: 'utf8', timeout: 30_000 });
    expect(busy.signal).toBeNull();
    expect(busy.stderr).toBe('');
    expect(busy.status).toBe(0);
    expect(summaryLines(busy.stdout)).toEqual(['dev: 5 objects, 0 warnings, 0 exemptions → dist/dev (images/, kubernetes/)']);
  });

  it('diff names a symbolic link to nothing in the compared directory, with the fix', () => {
    const dir = platform('diff-broken-link');
    expect(shipshape(dir, ['synth']).status).toBe(0);
    const link = path.join(dir, 'dist/dev/kubernetes/gone.yaml');
    fs.symlinkSync('../../../removed.yaml', link);
    const r = shipshape(dir, ['diff']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`shipshape: ${link}: is a symbolic link to nothing (got "../../../removed.yaml"). Fix: remove the link, or restore the file it points at\n`);
  });
});

describe('finding the program', () => {
  it("runs the file cdk8s.yaml's app command names, writes to its output folder, and reads cdk8s.yaml again only when it changes", () => {
    const dir = project('cdk8s-yaml', {
      'cdk8s.yaml': 'language: typescript\napp: npx tsx src/platform.ts\noutput: manifests\n',
      'src/platform.ts': PROGRAM.replace("from './settings'", "from '../settings'"),
      'settings.ts': `export const WORKER_TAG = '2.0.0';\n`,
    });
    const { env, loaded } = probe(dir, 'yaml');
    const r = shipshape(dir, ['synth', '--env', 'prod'], env);
    expect(r.stderr).toBe('');
    expect(summaryLines(r.stdout)).toEqual(['prod: 5 objects, 0 warnings, 0 exemptions → manifests/prod (images/, kubernetes/)']);
    expect(loaded()).toBe(true);
    // Kept with the hash of the file: the next run reads no YAML, until the file changes.
    expect(shipshape(dir, ['synth', '--env', 'prod'], env).status).toBe(0);
    expect(loaded()).toBe(false);
    fs.writeFileSync(path.join(dir, 'cdk8s.yaml'), 'language: typescript\napp: npx tsx src/platform.ts\noutput: rendered\n');
    expect(summaryLines(shipshape(dir, ['synth', '--env', 'prod'], env).stdout)).toEqual(['prod: 5 objects, 0 warnings, 0 exemptions → rendered/prod (images/, kubernetes/)']);
    expect(loaded()).toBe(true);
  });

  it('explains a missing program, a missing --app file, a program that never synthesizes or throws, a missing --against and unknown options', () => {
    const dir0 = () => platform('against-missing');
    const empty = project('empty', {});
    const none = shipshape(empty, ['synth']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('no program to run: looked for main.ts');
    const missing = shipshape(empty, ['synth', '--app', 'nope.ts']);
    expect(missing.stderr).toContain('--app: no such file (got "nope.ts")');
    expect(missing.status).toBe(2);

    const idle = project('idle', { 'main.ts': `import { App } from 'cdk8s';\nnew App();\nconsole.log('built');\n` });
    const never = shipshape(idle, ['synth']);
    expect(never.status).toBe(2);
    expect(never.stdout).toBe('built\n');
    expect(never.stderr).toContain('finished without synthesizing: it never called synth(app) or app.synth()');
    expect(fs.existsSync(path.join(idle, 'dist'))).toBe(false);

    const throwing = project('throwing', {
      'main.ts': `import { Environment, ShipshapeApp, Stack } from 'shipshape';\nnew Stack(new ShipshapeApp(), 'x', { environment: ${ENVIRONMENT("'Not_A_Label'")} });\n`,
    });
    const thrown = shipshape(throwing, ['synth']);
    // A construct refusing its props is a problem in the input, as a policy violation is: exit 1, not 2.
    expect(thrown.status).toBe(1);
    expect(thrown.stderr).toMatch(/main\.ts failed: .*Not_A_Label.*Fix: /);
    // A shipshape error names the construct and the fix; a stack trace into the bundle would add nothing.
    expect(thrown.stderr).not.toMatch(/^\s+at /m);

    const late = project('late', { 'main.ts': `setTimeout(() => {\n  throw new Error('late failure');\n}, 10);\n` });
    const lateRun = shipshape(late, ['synth']);
    expect(lateRun.status).toBe(2);
    expect(lateRun.stderr).toContain('main.ts failed: Error: late failure');

    const against = shipshape(dir0(), ['diff', '--against', 'missing']);
    expect(against.status).toBe(2);
    expect(against.stderr).toContain('--against: no such directory (got "missing")');
    const againstFile = shipshape(dir0(), ['diff', '--against', 'main.ts']);
    expect(againstFile.status).toBe(2);
    expect(againstFile.stderr).toContain('--against: no such directory (got "main.ts")');

    const unknown = shipshape(idle, ['synth', '--against', 'x']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown option (got "--against"). Fix: synth accepts --env, --out, --app');
  });
});
