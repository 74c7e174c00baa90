import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tree } from '../support/examples';

// Real processes: the cdk8s CLI of node_modules (offline: no upgrade check) and programs run through tsx, as users run them.
const CDK8S = path.join(ROOT, 'node_modules', 'cdk8s-cli', 'bin', 'cdk8s');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const TIMEOUT_MS = 90_000;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-cdk8s-cli-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bin args` with node in `cwd`, with no CDK8S_* or SHIPSHAPE_* variables of the test's own environment. */
function node(args: string[], cwd: string, env: Record<string, string> = {}): Result {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CDK8S_') && !k.startsWith('SHIPSHAPE_')));
  const r = spawnSync(process.execPath, args, { cwd, env: { ...clean, ...env }, encoding: 'utf8', timeout: TIMEOUT_MS });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cdk8sSynth(cwd: string, extra: string[] = [], env: Record<string, string> = {}): Result {
  return node([CDK8S, 'synth', '--no-check-upgrade', ...extra], cwd, env);
}

const lib = JSON.stringify(path.join(ROOT, 'lib'));
const cdk8s = JSON.stringify(path.join(ROOT, 'node_modules', 'cdk8s'));

/**
 * A program as a user writes it: two environments and `app.synth()` with no try/catch. dev runs one replica (a
 * warning); with BREAK=1 each environment also gets a second workload named web, and prod one without a disruption budget.
 */
const PROGRAM = `import { App } from ${cdk8s};
import { AntiAffinityDeployment, Environment, ShipshapeApp, Stack } from ${lib};

// An App subclass whose synth() calls super.synth(), as some cdk8s projects have.
class CustomApp extends App {
  public override synth(): void {
    super.synth();
  }
}
const app = process.env.PLAIN_APP === '1' ? new App() : process.env.CUSTOM_APP === '1' ? new CustomApp() : new ShipshapeApp();
for (const [name, replicas] of [['dev', 1], ['prod', 3]] as const) {
  const environment = new Environment({ name, kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas, nodeGroups: [{ name: 'webapi', minSize: 3, maxSize: 6 }] });
  const stack = new Stack(app, name, { environment });
  new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
  if (process.env.BREAK === '1') {
    new AntiAffinityDeployment(stack, 'copy', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    new AntiAffinityDeployment(stack, 'lonely', { name: 'lonely', image: 'lonely:1.0.0', ports: [{ port: 80 }], disruptionBudget: false });
  }
}
app.synth();
`;

/** A cdk8s project directory: cdk8s.yaml running the program through tsx, with shipshape's validation plugin. */
function project(name: string): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'main.ts'), PROGRAM);
  fs.writeFileSync(
    path.join(dir, 'cdk8s.yaml'),
    [
      'language: typescript',
      `app: ${JSON.stringify(`${process.execPath} ${TSX} main.ts`)}`,
      'output: dist',
      'validations:',
      `  - package: ${JSON.stringify(path.join(ROOT, 'cdk8s-validation.js'))}`,
      '    version: 0.1.0',
      '    class: ShipshapePolicyValidation',
      '',
    ].join('\n'),
  );
  return dir;
}

/** The problems an error message lists (`  - …` lines). */
function listedProblems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4));
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('npx cdk8s synth', () => {
  it('shows the summary of every environment of the reference platform, warnings, exemptions and notes included, on stderr', () => {
    const outdir = path.join(work, 'platform');
    const r = cdk8sSynth(ROOT, ['--output', outdir]);
    expect(r.status, r.stderr).toBe(0);

    // cdk8s-cli never shows the app's stdout: what the user sees of shipshape is on stderr.
    const headlines = r.stderr.split('\n').filter((l) => /^\S+: \d+ objects?, /.test(l));
    expect(headlines.map((l) => l.split(':')[0])).toEqual(['dev', 'stage', 'prod', 'swarm-edge']);
    for (const l of headlines) expect(l).toContain(`→ ${outdir}/`);
    expect(r.stderr).toMatch(/^ {2}warning \[single-replica\] Deployment dev\/web-api: /m);
    expect(r.stderr).toMatch(/^ {2}exempt {2}\[pod-security\] DaemonSet logging\/fluentd: Fluentd runs as root/m);
    expect(r.stderr).toMatch(/^ {2}note {4}SwarmCluster edge: 3 managers/m);
    // Counts on the summary lines add up to the lines that follow them.
    const warnings = headlines.reduce((n, l) => n + Number(/(\d+) warnings?/.exec(l)![1]), 0);
    expect(warnings).toBe(r.stderr.split('\n').filter((l) => l.startsWith('  warning [')).length);

    // The validation plugin checked the written manifests, and the files are where the summary says.
    expect(r.stdout).toContain('Validations ended succesfully');
    expect(r.stdout).toMatch(/║ Status +│ success/);
    expect(fs.existsSync(path.join(outdir, 'prod', 'kubernetes', 'kustomization.yaml'))).toBe(true);
  });

  it('on failure says the output directory is gone because cdk8s deleted it, names each problem once, and points at npx shipshape synth', () => {
    const dir = project('failing');
    const good = cdk8sSynth(dir);
    expect(good.status, good.stderr).toBe(0);
    expect(good.stderr).toMatch(/^dev: 4 objects, 1 warning, 0 exemptions → dist\/dev/m);
    expect(good.stderr).toContain('  warning [single-replica] Deployment dev/web:');
    expect(fs.existsSync(path.join(dir, 'dist', 'prod', 'kubernetes', 'deployment-web.yaml'))).toBe(true);

    const bad = cdk8sSynth(dir, [], { BREAK: '1' });
    expect(bad.status).not.toBe(0);
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
    expect(bad.stderr).toMatch(/synth failed; dist does not exist: `cdk8s synth` deletes the output directory before it runs the app, so any previous output is gone/);
    expect(bad.stderr).toContain('`npx shipshape synth` keeps the previous output when synth fails');
    expect(bad.stderr).not.toContain('nothing was written');
    const problems = listedProblems(bad.stderr);
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(bad.stderr).toContain(`(${problems.length}):\n`);
    for (const p of problems) expect(occurrences(bad.stderr, p), p).toBe(1);
  });

  it('refuses a plain cdk8s App holding shipshape Stacks, saying what to use instead and what happened to dist', () => {
    const dir = project('plain-app');
    const r = cdk8sSynth(dir, [], { PLAIN_APP: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      "dev, prod: app.synth() of a plain cdk8s App bypasses shipshape's checks, policy and writer for these stacks, so it was refused; dist does not exist: `cdk8s synth` deletes",
    );
    expect(r.stderr).toContain("Fix: create the app with `new ShipshapeApp()` from 'shipshape'");
    expect(occurrences(r.stderr, 'Fix: ')).toBe(1);
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
  });
});

describe('an App subclass calling super.synth() under npx cdk8s synth', () => {
  it('is refused before any manifest is written, saying dist is empty and why', () => {
    const dir = project('custom-app');
    const r = cdk8sSynth(dir, [], { CUSTOM_APP: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      "dev, prod: CustomApp renders these stacks with cdk8s's App.synth() or synthYaml() (super.synth()), which bypasses shipshape's checks, policy and writer, so it was refused before any of their manifests was written; nothing was written; dist is empty (cdk8s's App.synth() creates it before it renders): `cdk8s synth` deleted it before it ran the app",
    );
    expect(r.stderr).toContain("Fix: extend `ShipshapeApp` from 'shipshape' instead of App");
    expect(fs.readdirSync(path.join(dir, 'dist'))).toEqual([]);
  });
});

describe('the same program run directly (npm run synth, tsx main.ts)', () => {
  it('keeps the previous output on failure, says so, and prints each problem once', () => {
    const dir = project('direct');
    const good = node([TSX, 'main.ts'], dir);
    expect(good.status, good.stderr).toBe(0);
    // Outside cdk8s-cli the summary goes to stdout.
    expect(good.stdout).toMatch(/^prod: 5 objects, 0 warnings, 0 exemptions → dist\/prod/m);
    expect(good.stderr).toBe('');
    const before = tree(path.join(dir, 'dist'));

    const bad = node([TSX, 'main.ts'], dir, { BREAK: '1' });
    expect(bad.status).toBe(1);
    const problems = listedProblems(bad.stderr);
    expect(bad.stderr).toContain(`ShipshapeAggregateError: synth failed; nothing was written, dist is unchanged (${problems.length}):\n`);
    expect(new Set(problems.map((p) => p.split(':')[0]))).toEqual(new Set(['dev', 'prod']));
    expect(problems.filter((p) => p.includes('[disruption-budget] Deployment prod/lonely'))).toHaveLength(1);
    for (const p of problems) expect(occurrences(bad.stderr, p), p).toBe(1);
    expect(tree(path.join(dir, 'dist'))).toEqual(before);
  });
});
