import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformanceSuite } from './support/conformance';
import {
  CDK8S_PEERS,
  CommandResult,
  PULUMI_PEERS,
  PULUMI_PROGRAM,
  PULUMI_PROGRAM_WITH_ERRORS,
  RESOLUTION_MODES,
  ROOT,
  diagnostics,
  mustRun,
  runBounded,
  tree,
  tsconfig,
  twoEnvironmentProgram,
  writeConsumer,
} from './package/projects';

// prepack builds the library; an install resolves from the npm cache, but a cold cache downloads.
const PACK_SECONDS = 300;
const INSTALL_SECONDS = 600;
const TSC_SECONDS = 180;
const CLI_SECONDS = 180;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-package-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const withPulumi = path.join(work, 'with-pulumi');
const cdk8sOnly = path.join(work, 'cdk8s-only');

/** npm's output about peer dependencies: conflicting, missing or invalid peers (ERESOLVE, "peer dep missing", …). */
function peerWarnings(install: CommandResult): string[] {
  return `${install.stdout}\n${install.stderr}`.split('\n').filter((line) => /peer|ERESOLVE/i.test(line));
}

/** Kilobytes `du` counts for a directory. */
async function diskKilobytes(dir: string): Promise<number> {
  const { stdout } = await mustRun(60, 'du', ['-sk', dir], work);
  return Number.parseInt(stdout, 10);
}

function installedPackages(project: string): string[] {
  return fs
    .readdirSync(path.join(project, 'node_modules'))
    .flatMap((entry) => (entry.startsWith('@') ? fs.readdirSync(path.join(project, 'node_modules', entry)).map((name) => `${entry}/${name}`) : [entry]));
}

/** Every source file of lib/, relative to it, without its extension. */
function librarySources(dir = path.join(ROOT, 'lib')): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -'.ts'.length).split(path.sep).join('/'));
}

conformanceSuite('the packed package, installed into fresh TypeScript projects', ['npm'], () => {
  let packed: string[] = [];
  const installs: Record<'withPulumi' | 'cdk8sOnly', CommandResult | undefined> = { withPulumi: undefined, cdk8sOnly: undefined };

  beforeAll(
    async () => {
      const pack = await mustRun(PACK_SECONDS, 'npm', ['pack', '--json', '--pack-destination', work], ROOT);
      const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
      packed = info.files.map((f) => f.path);
      const tarball = path.join(work, info.filename);

      const modes = Object.fromEntries(
        RESOLUTION_MODES.flatMap((mode) => [
          [`tsconfig.${mode.moduleResolution}.json`, tsconfig(mode, ['src/main.ts'], { skipLibCheck: true })],
          [`tsconfig.${mode.moduleResolution}.errors.json`, tsconfig(mode, ['src/errors.ts'], { skipLibCheck: true })],
        ]),
      );
      writeConsumer(withPulumi, tarball, [...CDK8S_PEERS, ...PULUMI_PEERS], { ...modes, 'src/main.ts': PULUMI_PROGRAM, 'src/errors.ts': PULUMI_PROGRAM_WITH_ERRORS });
      writeConsumer(cdk8sOnly, tarball, CDK8S_PEERS, {
        // cdk8s's project template: CommonJS, moduleResolution node; the library's declarations are checked too.
        'tsconfig.json': tsconfig(RESOLUTION_MODES[0], ['main.ts'], { skipLibCheck: false, outDir: 'build' }),
        'main.ts': twoEnvironmentProgram({ dev: 1, prod: 3 }),
      });
      const install = (project: string) => mustRun(INSTALL_SECONDS, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], project);
      [installs.withPulumi, installs.cdk8sOnly] = await Promise.all([install(withPulumi), install(cdk8sOnly)]);
    },
    (PACK_SECONDS + INSTALL_SECONDS + 60) * 1000,
  );

  describe('the tarball', () => {
    it('holds LICENSE, README.md, package.json and build/lib, nothing of test/, stacks/, examples/ or bench/', () => {
      expect(packed.filter((file) => !file.startsWith('build/lib/')).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
      expect(packed.filter((file) => /^(test|stacks|examples|bench|dist|docs)\//.test(file))).toEqual([]);
      for (const entry of ['index', 'pulumi/index', 'pulumi/policy/index']) {
        expect(packed).toContain(`build/lib/${entry}.js`);
        expect(packed).toContain(`build/lib/${entry}.d.ts`);
      }
      expect(packed).toContain('build/lib/cli/bin.js');
    });

    it('holds exactly the compiled library: a .js and a .d.ts for each source of lib/, none left from a deleted source', () => {
      const expected = librarySources().flatMap((source) => [`build/lib/${source}.js`, `build/lib/${source}.d.ts`]);
      expect(packed.filter((file) => file.startsWith('build/lib/')).sort()).toEqual(expected.sort());
    });

    it('carries the Apache License 2.0 that package.json names, unmodified but for its filled-in copyright line', () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(withPulumi, 'node_modules/shipshape/package.json'), 'utf8'));
      expect(manifest.license).toBe('Apache-2.0');
      const license = fs.readFileSync(path.join(withPulumi, 'node_modules/shipshape/LICENSE'), 'utf8');
      expect(license).toBe(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'));
      // cdk8s ships the license text as the Apache Software Foundation publishes it, appendix placeholder included.
      const upstream = fs.readFileSync(path.join(ROOT, 'node_modules/cdk8s/LICENSE'), 'utf8');
      expect(upstream).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s/);
      expect(license).toBe(upstream.replace('Copyright [yyyy] [name of copyright owner]', 'Copyright 2026 The shipshape authors'));
      expect(license).not.toBe(upstream);
    });

    it('installs the `shipshape` command: a node script linked into node_modules/.bin', () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(cdk8sOnly, 'node_modules/shipshape/package.json'), 'utf8'));
      expect(manifest.bin).toEqual({ shipshape: './build/lib/cli/bin.js' });
      const bin = path.join(cdk8sOnly, 'node_modules/.bin/shipshape');
      expect(fs.realpathSync(bin)).toBe(fs.realpathSync(path.join(cdk8sOnly, 'node_modules/shipshape/build/lib/cli/bin.js')));
      expect(fs.readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
      expect(fs.statSync(bin).mode & 0o111).not.toBe(0);
    });
  });

  describe('with every peer, Pulumi included', () => {
    it('installs without a peer-dependency warning, and npm ls finds every dependency valid', async () => {
      expect(peerWarnings(installs.withPulumi!)).toEqual([]);
      const ls = await runBounded(120, 'npm', ['ls', '--all'], withPulumi);
      expect(ls.stderr).toBe('');
      expect(ls.status).toBe(0);
      expect(ls.stdout).not.toMatch(/invalid|UNMET DEPENDENCY|missing/);
    });

    it('resolves "shipshape" and "shipshape/pulumi" at run time; the main entry loads no Pulumi and publishes no internal helper', async () => {
      const probe = [
        "const s = require('shipshape');",
        "const pulumiLoaded = () => Object.keys(require.cache).some((k) => k.includes('@pulumi'));",
        'const before = pulumiLoaded();',
        "const p = require('shipshape/pulumi');",
        'console.log(JSON.stringify({ before, after: pulumiLoaded(), deployment: typeof s.AntiAffinityDeployment, component: typeof p.StackComponent, alias: p.ShipshapeStack === p.StackComponent, internal: typeof s.writeFilesAtomically }));',
      ].join('\n');
      const { stdout } = await mustRun(60, 'node', ['-e', probe], withPulumi);
      expect(JSON.parse(stdout)).toEqual({ before: false, after: true, deployment: 'function', component: 'function', alias: true, internal: 'undefined' });
    });

    it('gives an ES module the named exports of both entries (Node reads them from the CommonJS build)', async () => {
      const probe =
        "import { ShipshapeApp, Stack } from 'shipshape'; import { StackComponent, shipshapePolicies } from 'shipshape/pulumi'; console.log([ShipshapeApp, Stack, StackComponent, shipshapePolicies].map((f) => typeof f).join(' '));";
      const { stdout } = await mustRun(60, 'node', ['--input-type=module', '-e', probe], withPulumi);
      expect(stdout.trim()).toBe('function function function function');
    });

    for (const mode of RESOLUTION_MODES) {
      describe(`module ${mode.module}, moduleResolution ${mode.moduleResolution}`, () => {
        it('type-checks a program using shipshape, shipshape/pulumi and shipshape/pulumi/policy', async () => {
          const tsc = await runBounded(TSC_SECONDS, 'npx', ['--no', '--', 'tsc', '-p', `tsconfig.${mode.moduleResolution}.json`], withPulumi);
          expect(tsc.stdout + tsc.stderr).toBe('');
          expect(tsc.status).toBe(0);
        });

        it('reports a misuse of each entry and a subpath the package does not have', async () => {
          const tsc = await runBounded(TSC_SECONDS, 'npx', ['--no', '--', 'tsc', '-p', `tsconfig.${mode.moduleResolution}.errors.json`], withPulumi);
          expect(tsc.status).not.toBe(0);
          // Each entry resolved to its declarations: a Stack, a StackComponent and a PolicyPack are refused where they do not fit.
          expect(diagnostics(tsc.stdout)).toEqual(['src/errors.ts(4): TS2307', 'src/errors.ts(6): TS2322', 'src/errors.ts(7): TS2322', 'src/errors.ts(8): TS2322']);
          expect(tsc.stdout).toContain("Cannot find module 'shipshape/pulumi/nothing'");
        });
      });
    }
  });

  describe('cdk8s only, without Pulumi', () => {
    it('installs no @pulumi package and warns about no peer dependency', async () => {
      expect(peerWarnings(installs.cdk8sOnly!)).toEqual([]);
      expect(installedPackages(cdk8sOnly).filter((name) => name.startsWith('@pulumi/'))).toEqual([]);
      const ls = await runBounded(120, 'npm', ['ls', '--all', '--parseable'], cdk8sOnly);
      expect(ls.status).toBe(0);
      expect(ls.stdout).not.toContain('@pulumi');
      expect(ls.stdout).toContain(path.join(cdk8sOnly, 'node_modules', 'shipshape'));

      const [only, full] = await Promise.all([diskKilobytes(path.join(cdk8sOnly, 'node_modules')), diskKilobytes(path.join(withPulumi, 'node_modules'))]);
      console.log(`node_modules on disk: cdk8s only ${(only / 1024).toFixed(0)} MB, with Pulumi ${(full / 1024).toFixed(0)} MB`);
      expect(only).toBeLessThan(full);
    });

    it('refuses require("shipshape/pulumi") with an error naming the missing optional peers and what to install', async () => {
      const probe = "try { require('shipshape/pulumi'); } catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }";
      const { stdout } = await mustRun(60, 'node', ['-e', probe], cdk8sOnly);
      const error = JSON.parse(stdout);
      expect(error.name).toBe('ShipshapeError');
      expect(error.message).toContain('shipshape/pulumi:');
      expect(error.message).toContain('not installed: @pulumi/pulumi, @pulumi/kubernetes, @pulumi/docker');
      expect(error.message).toContain('Fix: npm install @pulumi/pulumi @pulumi/kubernetes @pulumi/docker');
      // The synth entry keeps working in the same project.
      const synthEntry = await mustRun(60, 'node', ['-e', "console.log(typeof require('shipshape').ShipshapeApp)"], cdk8sOnly);
      expect(synthEntry.stdout.trim()).toBe('function');
    });

    it('compiles a two-environment program under moduleResolution node, and running it synthesizes both environments', async () => {
      const tsc = await runBounded(TSC_SECONDS, 'npx', ['--no', '--', 'tsc', '-p', '.'], cdk8sOnly);
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
      const run = await mustRun(CLI_SECONDS, 'node', ['build/main.js'], cdk8sOnly, { CDK8S_OUTDIR: 'program-out' });
      expect(run.stdout).toMatch(/^dev: .*\n(.*\n)*prod: /);

      for (const [environment, replicas] of [
        ['dev', 1],
        ['prod', 3],
      ] as const) {
        const kubernetes = path.join(cdk8sOnly, 'program-out', environment, 'kubernetes');
        const deployment = parse(fs.readFileSync(path.join(kubernetes, 'deployment-shop.yaml'), 'utf8'));
        expect(deployment).toMatchObject({ kind: 'Deployment', metadata: { name: 'shop', namespace: environment }, spec: { replicas } });
        expect(parse(fs.readFileSync(path.join(kubernetes, 'kustomization.yaml'), 'utf8')).resources).toContain('deployment-shop.yaml');
      }
    });

    it('`npx shipshape synth` writes dist/<env>/, the same files as the program run by node', async () => {
      const synth = await runBounded(CLI_SECONDS, 'npx', ['--no', '--', 'shipshape', 'synth'], cdk8sOnly);
      expect(synth.stderr).toBe('');
      expect(synth.status).toBe(0);
      // One summary per environment, in declared order, naming where its files went.
      expect(synth.stdout).toMatch(/^dev: 4 objects, 1 warning, 0 exemptions → dist\/dev \(images\/, kubernetes\/\)\n(.*\n)*prod: 5 objects, 0 warnings, 0 exemptions → dist\/prod /m);
      const written = tree(path.join(cdk8sOnly, 'dist'));
      expect(Object.keys(written)).toEqual(expect.arrayContaining(['dev/kubernetes/deployment-shop.yaml', 'prod/kubernetes/deployment-shop.yaml']));
      expect(written).toEqual(tree(path.join(cdk8sOnly, 'program-out')));
    });

    it('`npx shipshape diff` finds no change, then reports an edit per environment and exits non-zero with --exit-code', async () => {
      const shipshape = (...args: string[]) => runBounded(CLI_SECONDS, 'npx', ['--no', '--', 'shipshape', ...args], cdk8sOnly);
      const unchanged = await shipshape('diff', '--against', 'dist', '--exit-code');
      expect(unchanged.stderr).toBe('');
      expect(unchanged.status).toBe(0);
      expect(unchanged.stdout).toMatch(/^- dev: no changes$/m);
      expect(unchanged.stdout).toMatch(/^- prod: no changes$/m);

      // dev goes to two replicas (its Deployment changes and it gains a PodDisruptionBudget), prod to four.
      fs.writeFileSync(path.join(cdk8sOnly, 'main.ts'), twoEnvironmentProgram({ dev: 2, prod: 4 }));
      const changed = await shipshape('diff', '--against', 'dist');
      expect(changed.status).toBe(0);
      const lines = changed.stdout.split('\n');
      expect(lines).toEqual(
        expect.arrayContaining(['- dev: 1 object added, 1 object changed', '- prod: 1 object changed', '+ PodDisruptionBudget dev/shop', '~ Deployment dev/shop', '~ Deployment prod/shop']),
      );
      expect(changed.stdout).not.toContain('PodDisruptionBudget prod/shop');

      const failing = await shipshape('diff', '--against', 'dist', '--exit-code');
      expect(failing.status).toBe(1);
      expect(failing.stdout).toBe(changed.stdout);
      const prodOnly = await shipshape('diff', '--against', 'dist', '--env', 'prod', '--exit-code');
      expect(prodOnly.status).toBe(1);
      expect(prodOnly.stdout).toContain('~ Deployment prod/shop');
      expect(prodOnly.stdout).not.toContain('dev');

      // validate runs the policy on the edited program; neither it nor diff writes: dist still holds the unedited output.
      const validate = await shipshape('validate');
      expect(validate.status).toBe(0);
      expect(validate.stdout).toMatch(/^dev: 5 objects, 0 warnings/m);
      expect(tree(path.join(cdk8sOnly, 'dist'))).toEqual(tree(path.join(cdk8sOnly, 'program-out')));
    });
  });
});
