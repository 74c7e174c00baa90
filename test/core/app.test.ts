import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AntiAffinityDeployment, ShipshapeAggregateError, ShipshapeApp, ShipshapeError, Stack, synth } from '../../lib';
import { failureHeading } from '../../lib/core/output-state';
import { shipshapeError } from '../support/errors';
import { testEnvironment } from '../support/synth';
import { temporaryDirectories } from '../support/temp';

const tmp = temporaryDirectories('shipshape-app-');
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** Every file under `dir` with its content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[path.relative(dir, path.join(entry.parentPath, entry.name))] = fs.readFileSync(path.join(entry.parentPath, entry.name), 'utf8');
  }
  return out;
}

/** Two environments with a web Deployment each; `broken` adds one Deployment per stack that fails policy. */
function populate<A extends App>(app: A, broken = false): A {
  for (const name of ['dev', 'prod']) {
    const stack = new Stack(app, name, { environment: testEnvironment({ name }) });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    if (broken) new AntiAffinityDeployment(stack, 'lonely', { name: 'lonely', image: 'lonely:1.0.0', ports: [{ port: 80 }], disruptionBudget: false });
  }
  return app;
}

/** Captures what console.log and console.error print. */
function captureConsole(): { out: string[]; err: string[] } {
  const printed = { out: [] as string[], err: [] as string[] };
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void printed.out.push(String(line)));
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void printed.err.push(String(line)));
  return printed;
}

describe('ShipshapeApp', () => {
  it('app.synth() writes exactly what synth(app) writes, and prints one summary per environment on stdout', () => {
    vi.stubEnv('CDK8S_OUTDIR', undefined);
    vi.stubEnv('CDK8S_RECORD_CONSTRUCT_METADATA', undefined);
    const viaFunction = path.join(tmp(), 'dist');
    synth(populate(new App()), { outdir: viaFunction });
    const outdir = path.join(tmp(), 'dist');
    const printed = captureConsole();
    populate(new ShipshapeApp({ outdir })).synth();

    expect(tree(outdir)).toEqual(tree(viaFunction));
    // The Namespace object carries no namespace (cdk8s's own synth would write `namespace: dev` on it).
    const namespace = parseAllDocuments(fs.readFileSync(path.join(outdir, 'dev', 'kubernetes', 'namespace-dev.yaml'), 'utf8'))[0].toJS();
    expect(namespace).toMatchObject({ kind: 'Namespace', metadata: { name: 'dev' } });
    expect(namespace.metadata.namespace).toBeUndefined();
    expect(printed.out.map((l) => l.split('\n')[0].split(' →')[0])).toEqual(['dev: 5 objects, 0 warnings, 0 exemptions', 'prod: 5 objects, 0 warnings, 0 exemptions']);
    expect(printed.out[0]).toContain(`→ ${path.join(outdir, 'dev')}`);
    expect(printed.err).toEqual([]);
  });

  it('prints the summaries on stderr when cdk8s-cli runs the app, because cdk8s-cli never shows the app’s stdout', () => {
    const outdir = path.join(tmp(), 'dist');
    vi.stubEnv('CDK8S_OUTDIR', outdir);
    vi.stubEnv('CDK8S_RECORD_CONSTRUCT_METADATA', 'true');
    const printed = captureConsole();
    const app = new ShipshapeApp();
    const stack = new Stack(app, 'dev', { environment: testEnvironment({ name: 'dev', replicas: 1 }) });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    app.synth();

    expect(app.outdir).toBe(outdir);
    expect(printed.out).toEqual([]);
    expect(printed.err).toHaveLength(1);
    expect(printed.err[0]).toMatch(/^dev: 4 objects, 1 warning, 0 exemptions → /);
    expect(printed.err[0]).toContain('  warning [single-replica] Deployment dev/web:');
    expect(fs.existsSync(path.join(outdir, 'dev', 'kubernetes', 'deployment-web.yaml'))).toBe(true);
  });

  it('takes its output directory from props, else from CDK8S_OUTDIR, else dist', () => {
    vi.stubEnv('CDK8S_OUTDIR', '/somewhere/else');
    expect(new ShipshapeApp({ outdir: 'out' }).outdir).toBe('out');
    expect(new ShipshapeApp().outdir).toBe('/somewhere/else');
    vi.stubEnv('CDK8S_OUTDIR', undefined);
    expect(new ShipshapeApp().outdir).toBe('dist');
  });

  it('app.synth() refuses every policy problem of every environment at once and keeps the previous output', () => {
    const outdir = path.join(tmp(), 'dist');
    captureConsole();
    populate(new ShipshapeApp({ outdir })).synth();
    const before = tree(outdir);

    let error: unknown;
    try {
      populate(new ShipshapeApp({ outdir }), true).synth();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ShipshapeAggregateError);
    const problems = (error as ShipshapeAggregateError).problems;
    expect(problems.map((p) => p.split(':')[0])).toEqual(['dev', 'prod']);
    expect(problems.every((p) => p.includes('[disruption-budget] Deployment'))).toBe(true);
    expect((error as Error).message.split('\n')[0]).toBe(`synth failed; nothing was written, ${outdir} is unchanged (2):`);
    expect(tree(outdir)).toEqual(before);
  });

  it('synthYaml() returns every object of every environment after policy, with no namespace on cluster-scoped objects', () => {
    const outdir = path.join(tmp(), 'dist');
    const docs = parseAllDocuments(populate(new ShipshapeApp({ outdir })).synthYaml()).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`)).toEqual([
      'Namespace//dev',
      'ServiceAccount/dev/web',
      'Deployment/dev/web',
      'PodDisruptionBudget/dev/web',
      'Service/dev/web',
      'Namespace//prod',
      'ServiceAccount/prod/web',
      'Deployment/prod/web',
      'PodDisruptionBudget/prod/web',
      'Service/prod/web',
    ]);
    expect(() => populate(new ShipshapeApp({ outdir }), true).synthYaml()).toThrow(ShipshapeAggregateError);
    expect(fs.existsSync(outdir)).toBe(false);
  });
});

describe('a plain cdk8s App holding shipshape Stacks', () => {
  it('refuses app.synth() naming the stacks and what to call, and creates no output directory', () => {
    vi.stubEnv('CDK8S_RECORD_CONSTRUCT_METADATA', undefined);
    const outdir = path.join(tmp(), 'dist');
    const app = populate(new App({ outdir }));
    const e = shipshapeError(() => app.synth());
    expect(e.path).toBe('dev, prod');
    expect(e.message).toMatch(
      /^dev, prod: app\.synth\(\) of a plain cdk8s App bypasses shipshape's checks, policy and writer for these stacks, so it was refused; nothing was written, \S+ does not exist\. Fix: /,
    );
    expect(e.fix).toContain('`new ShipshapeApp()`');
    expect(e.fix).toContain('`synth(app)`');
    expect(fs.existsSync(outdir)).toBe(false);
  });

  it('leaves an existing output directory as it was, and refuses synthYaml() too', () => {
    const outdir = path.join(tmp(), 'dist');
    fs.mkdirSync(outdir);
    fs.writeFileSync(path.join(outdir, 'previous.yaml'), 'kept: true\n');
    const app = populate(new App({ outdir }));
    expect(shipshapeError(() => app.synth()).message).toContain(`nothing was written, ${outdir} is unchanged.`);
    expect(shipshapeError(() => app.synthYaml()).message).toMatch(/^dev, prod: app\.synthYaml\(\) of a plain cdk8s App .* nothing was rendered\. Fix: /);
    expect(tree(outdir)).toEqual({ 'previous.yaml': 'kept: true\n' });
  });

  it('still synthesizes through synth(app) from shipshape', () => {
    const outdir = path.join(tmp(), 'dist');
    captureConsole();
    const summaries = synth(populate(new App()), { outdir });
    expect(summaries.map((s) => s.environment)).toEqual(['dev', 'prod']);
    expect(fs.existsSync(path.join(outdir, 'prod', 'kubernetes', 'deployment-web.yaml'))).toBe(true);
  });

  it('leaves apps without shipshape Stacks, and App subclasses with their own synth, to cdk8s', () => {
    const outdir = path.join(tmp(), 'plain');
    const plain = new App({ outdir });
    new kplus.ConfigMap(new Chart(plain, 'chart'), 'settings', { data: { a: 'b' } });
    plain.synth();
    expect(fs.readdirSync(outdir)).toEqual(['chart.k8s.yaml']);

    const calls: string[] = [];
    class Custom extends App {
      public override synth(): void {
        calls.push('synth');
      }
    }
    const custom = populate(new Custom({ outdir: path.join(tmp(), 'custom') }));
    custom.synth();
    expect(calls).toEqual(['synth']);
  });
});

describe('an App subclass whose synth() calls super.synth()', () => {
  class CustomApp extends App {
    public override synth(): void {
      super.synth();
    }
    public override synthYaml(): string {
      return super.synthYaml();
    }
  }

  it('is refused before cdk8s writes a manifest, saying the output directory cdk8s created is empty', () => {
    vi.stubEnv('CDK8S_OUTDIR', undefined);
    vi.stubEnv('CDK8S_RECORD_CONSTRUCT_METADATA', undefined);
    const outdir = path.join(tmp(), 'dist');
    const e = shipshapeError(() => populate(new CustomApp({ outdir })).synth());
    expect(e.path).toBe('dev, prod');
    expect(e.message).toBe(
      `dev, prod: CustomApp renders these stacks with cdk8s's App.synth() or synthYaml() (super.synth()), which bypasses shipshape's checks, policy and writer, so it was refused before any of their manifests was written; nothing was written; ${outdir} is empty (cdk8s's App.synth() creates it before it renders). ` +
        "Fix: extend `ShipshapeApp` from 'shipshape' instead of App, or call `synth(app)` from 'shipshape' instead of super.synth()",
    );
    expect(fs.readdirSync(outdir)).toEqual([]);
  });

  it('leaves a previous output as it was, and refuses super.synthYaml() too', () => {
    const outdir = path.join(tmp(), 'dist');
    fs.mkdirSync(outdir);
    fs.writeFileSync(path.join(outdir, 'previous.yaml'), 'kept: true\n');
    const app = populate(new CustomApp({ outdir }));
    expect(shipshapeError(() => app.synth()).message).toContain(`nothing was written, ${outdir} is unchanged. Fix: `);
    expect(shipshapeError(() => app.synthYaml()).message).toMatch(/^dev, prod: CustomApp renders these stacks with cdk8s's App\.synth\(\) or synthYaml\(\)/);
    expect(tree(outdir)).toEqual({ 'previous.yaml': 'kept: true\n' });
  });

  it('leaves stack.toJson() to cdk8s under a plain App and a ShipshapeApp, and ShipshapeApp subclasses to shipshape', () => {
    const plain = populate(new App({ outdir: path.join(tmp(), 'plain') }));
    expect((plain.node.findChild('dev') as Stack).toJson().map((o) => o.kind)).toContain('Deployment');
    const shipshape = populate(new ShipshapeApp({ outdir: path.join(tmp(), 'shipshape') }));
    expect((shipshape.node.findChild('prod') as Stack).toJson().map((o) => o.kind)).toContain('Deployment');

    class Extended extends ShipshapeApp {
      public override synth(): void {
        super.synth();
      }
    }
    const outdir = path.join(tmp(), 'extended');
    captureConsole();
    populate(new Extended({ outdir })).synth();
    expect(fs.existsSync(path.join(outdir, 'prod', 'kubernetes', 'deployment-web.yaml'))).toBe(true);
  });
});

describe('the failure heading', () => {
  it('says what happened to the output directory, checked on disk', () => {
    vi.stubEnv('CDK8S_OUTDIR', undefined);
    vi.stubEnv('CDK8S_RECORD_CONSTRUCT_METADATA', undefined);
    const existing = tmp();
    const absent = path.join(existing, 'dist');
    expect(failureHeading(existing)).toBe(`synth failed; nothing was written, ${existing} is unchanged`);
    expect(failureHeading(absent)).toBe(`synth failed; nothing was written, ${absent} does not exist`);

    // cdk8s-cli deletes the output directory before it starts the app: the previous output is gone, not kept.
    vi.stubEnv('CDK8S_OUTDIR', absent);
    vi.stubEnv('CDK8S_RECORD_CONSTRUCT_METADATA', 'false');
    const heading = failureHeading(absent);
    expect(heading).toMatch(new RegExp(`^synth failed; ${absent} does not exist: \`cdk8s synth\` deletes the output directory before it runs the app, so any previous output is gone`));
    expect(heading).toContain('`npx shipshape synth` keeps the previous output when synth fails');
    expect(heading).not.toContain('nothing was written');
  });
});

describe('errors printed by Node', () => {
  it('show each problem and each fix once when inspected, as an uncaught error is', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 6 }), (texts) => {
        // Each problem starts with a marker no other text holds, so counting markers counts the problem.
        const printed = inspect(
          new ShipshapeAggregateError(
            'synth failed',
            texts.map((t, i) => `«${i}» ${t}`),
          ),
        );
        for (const i of texts.keys()) expect(printed.split(`«${i}»`)).toHaveLength(2);
      }),
    );
    const error = new ShipshapeError('dev/web', { problem: 'replicas must be positive', value: 0, fix: 'give one replica or more' });
    expect(inspect(error).split('give one replica or more')).toHaveLength(2);
    expect([error.path, error.value, error.fix]).toEqual(['dev/web', 0, 'give one replica or more']);
    expect(Object.keys(error)).not.toContain('fix');
  });
});
