import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root: the package that is packed. */
export const ROOT = path.resolve(__dirname, '..', '..');

/** Result of a bounded command. */
export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

// `npm test` exports its own package's settings (npm_package_*, npm_config_local_prefix…); an npm started in a
// consumer project must see that project only.
function consumerEnvironment(): NodeJS.ProcessEnv {
  const inherited = /^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|npm_config_prefix$|npm_command$|INIT_CWD$)/i;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !inherited.test(key)));
}

/**
 * Runs `bin args` in `cwd` under coreutils `timeout`, which ends the whole process group (npm starts children),
 * without blocking the event loop, so two installs can run side by side.
 */
export function runBounded(seconds: number, bin: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('timeout', ['--kill-after=10', String(seconds), bin, ...args], { cwd, env: { ...consumerEnvironment(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

/** Like {@link runBounded}, but rejects with the output when the command fails. */
export async function mustRun(seconds: number, bin: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  const result = await runBounded(seconds, bin, args, cwd, env);
  if (result.status !== 0) throw new Error(`${bin} ${args.join(' ')} in ${cwd} exited ${result.status}${result.status === 124 ? ' (timed out)' : ''}\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The version of a package the repository itself has installed: consumer projects use exactly these, all in the npm cache. */
export function repositoryVersion(name: string): string {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
}

/** The peers every consumer has: the construct libraries shipshape builds on, and the compiler. */
export const CDK8S_PEERS = ['cdk8s', 'cdk8s-plus-27', 'constructs', 'typescript'];

/** The optional peers of `shipshape/pulumi` and `shipshape/pulumi/policy`, and Node's types the Pulumi SDK's declarations use. */
export const PULUMI_PEERS = ['@pulumi/pulumi', '@pulumi/kubernetes', '@pulumi/docker', '@pulumi/policy', '@types/node'];

/** Writes package.json of a consumer project depending on the tarball and on `packages` at the repository's versions. */
export function writeConsumer(dir: string, tarball: string, packages: readonly string[], files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  const dependencies = Object.fromEntries([['shipshape', `file:${tarball}`], ...packages.map((name) => [name, repositoryVersion(name)])]);
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: path.basename(dir), version: '1.0.0', private: true, dependencies }, null, 2)}\n`);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
}

/** How a consumer resolves modules: the three settings TypeScript projects use. */
export interface ResolutionMode {
  readonly module: string;
  readonly moduleResolution: string;
}

export const RESOLUTION_MODES: readonly ResolutionMode[] = [
  // cdk8s's project template and TypeScript's CommonJS default: no `exports`, subpaths only through typesVersions.
  { module: 'commonjs', moduleResolution: 'node' },
  { module: 'node16', moduleResolution: 'node16' },
  { module: 'esnext', moduleResolution: 'bundler' },
];

/**
 * tsconfig.json text checking `files`. The Pulumi project keeps skipLibCheck on: @pulumi/policy's own declarations
 * do not compile under it (TS2305 in its index.d.ts).
 */
export function tsconfig(mode: ResolutionMode, files: readonly string[], options: { skipLibCheck: boolean; outDir?: string }): string {
  const compilerOptions = {
    target: 'ES2022',
    lib: ['ES2022'],
    module: mode.module,
    moduleResolution: mode.moduleResolution,
    strict: true,
    skipLibCheck: options.skipLibCheck,
    ...(options.outDir ? { outDir: options.outDir, rootDir: '.' } : { noEmit: true }),
  };
  return `${JSON.stringify({ compilerOptions, files }, null, 2)}\n`;
}

/** A program using real types of all three entries: `shipshape`, `shipshape/pulumi` and `shipshape/pulumi/policy`. */
export const PULUMI_PROGRAM = `import { App } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { AntiAffinityDeployment, Environment, Stack, type SynthesizedStack, synthesizeStack } from 'shipshape';
import { StackComponent, type StackComponentArgs, kubernetesManifestOf, shipshapePolicies } from 'shipshape/pulumi';
import { shipshapePolicyPack } from 'shipshape/pulumi/policy';
import type { Policies, PolicyPack } from '@pulumi/policy';
import type * as pulumi from '@pulumi/pulumi';

const environment = new Environment({ name: 'dev', kubernetesVersion: '1.29', zones: ['eu-west-1a'], nodeGroups: [{ name: 'web', minSize: 1, maxSize: 3 }] });
const stack: Stack = new Stack(new App(), 'dev', { environment });
new AntiAffinityDeployment(stack, 'shop', {
  name: 'shop',
  image: 'ghcr.io/acme/shop:2.3.1',
  ports: [{ port: 8080 }],
  liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
});
const synthesized: SynthesizedStack = synthesizeStack(stack);
const args: StackComponentArgs = { stack };
export const deploy = (): pulumi.ComponentResource => new StackComponent('dev', args);
const policies: Policies = shipshapePolicies();
const pack: PolicyPack = shipshapePolicyPack;
const kind: string | undefined = kubernetesManifestOf({ type: 'kubernetes:apps/v1:Deployment', name: 'shop', props: {} })?.kind;
export const used = [synthesized.objects.length, policies.length, pack, kind];
`;

/** The same imports used wrongly, once per entry, plus a subpath the package does not have: each line must be reported. */
export const PULUMI_PROGRAM_WITH_ERRORS = `import { Stack } from 'shipshape';
import { StackComponent } from 'shipshape/pulumi';
import { shipshapePolicyPack } from 'shipshape/pulumi/policy';
import { nothing } from 'shipshape/pulumi/nothing';

export const notAStack: Stack = 'dev';
export const notAComponent = new StackComponent('dev', { stack: 42 });
export const notAString: string = shipshapePolicyPack;
export const unknown = nothing;
`;

/** `file(line): error TSnnnn` of each diagnostic tsc printed. */
export function diagnostics(tscOutput: string): string[] {
  return [...tscOutput.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)].map((m) => `${m[1]}(${m[2]}): ${m[3]}`);
}

/** Replica counts of the two environments of {@link twoEnvironmentProgram}. */
export interface Replicas {
  readonly dev: number;
  readonly prod: number;
}

/** A two-environment platform written from the `shipshape` API alone, as a cdk8s user would (a ShipshapeApp, `app.synth()`). */
export function twoEnvironmentProgram(replicas: Replicas): string {
  return `import * as kplus from 'cdk8s-plus-27';
import { AntiAffinityDeployment, Environment, ShipshapeApp, Stack } from 'shipshape';

const zones = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
const environments = [
  new Environment({ name: 'dev', kubernetesVersion: '1.29', zones: zones.slice(0, 1), nodeGroups: [{ name: 'web', minSize: 1, maxSize: 3 }], replicas: ${replicas.dev} }),
  new Environment({ name: 'prod', kubernetesVersion: '1.29', zones, nodeGroups: [{ name: 'web', minSize: 3, maxSize: 6 }], replicas: ${replicas.prod} }),
];

const app = new ShipshapeApp();
for (const environment of environments) {
  const stack = new Stack(app, environment.name, { environment });
  new AntiAffinityDeployment(stack, 'shop', {
    name: 'shop',
    image: 'ghcr.io/acme/shop:2.3.1',
    nodeGroup: 'web',
    ports: [{ port: 8080 }],
    liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
    readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
    autoscaling: false,
  });
}
app.synth();
`;
}

/** Every file under `dir`, keyed by path relative to it. */
export function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, file)] = fs.readFileSync(file, 'utf8');
  }
  return files;
}
