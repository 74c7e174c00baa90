import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from 'cdk8s';
import { Environment, EnvironmentSummary, Manifest, synth } from '../../lib';
import { ShipshapePolicyValidation } from '../../lib/core/policy/cdk8s-validation';
import { PLATFORM_SETTINGS, PlatformEnvironmentName, PlatformSettings, environments, platformSettings } from '../../stacks/environments';
import { buildApp, buildPlatform } from '../../stacks/platform';
import { validateManifest } from '../support/schema';
import { run } from '../support/tools';

const root = path.resolve(__dirname, '../..');
let work: string;
let out: string;
let summaries: EnvironmentSummary[];

function readObjects(env: string): Map<string, Manifest> {
  const dir = path.join(out, env, 'kubernetes');
  const objects = new Map<string, Manifest>();
  for (const file of fs.readdirSync(dir).filter((f) => f !== 'kustomization.yaml')) {
    const m = parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))[0].toJS() as Manifest;
    objects.set(`${m.kind}/${m.metadata.name}`, m);
  }
  return objects;
}

function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files[path.relative(dir, path.join(e.parentPath, e.name))] = fs.readFileSync(path.join(e.parentPath, e.name), 'utf8');
  }
  return files;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-platform-'));
  out = path.join(work, 'dist');
  summaries = synth(buildApp(), { outdir: out });
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('reference platform', () => {
  it('writes dev, stage and prod', () => {
    expect(summaries.map((s) => s.environment).sort()).toEqual(['dev', 'prod', 'stage', 'swarm-edge']);
    for (const env of ['dev', 'stage', 'prod']) expect(fs.existsSync(path.join(out, env, 'kubernetes', 'kustomization.yaml'))).toBe(true);
  });

  it('validates every object of every environment against the Kubernetes schema', () => {
    let count = 0;
    for (const env of ['dev', 'stage', 'prod']) {
      for (const m of readObjects(env).values()) {
        validateManifest(m);
        count++;
      }
    }
    expect(count).toBe(summaries.reduce((n, s) => n + s.objects, 0));
  });

  it('gives prod web-api soft hostname anti-affinity, zone spread, a PDB, an HPA at 40% CPU, probes, resources, a pinned image and non-root', () => {
    const prod = readObjects('prod');
    const deployment = prod.get('Deployment/web-api')!;
    const pod = deployment.spec.template.spec;
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]).toMatchObject({ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } });
    expect(pod.topologySpreadConstraints[0]).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone' });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]).toEqual({ key: 'instancegroup', operator: 'In', values: ['webapi'] });
    expect(prod.get('PodDisruptionBudget/web-api')!.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const hpa = prod.get('HorizontalPodAutoscaler/web-api')!;
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(40);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(3);
    expect(deployment.spec.replicas).toBeUndefined();
    const [main] = pod.containers;
    expect(main.image).toMatch(/:\d+\.\d+\.\d+$/);
    expect(main.livenessProbe.httpGet.path).toBe('/healthz');
    expect(main.readinessProbe.httpGet.path).toBe('/readyz');
    expect(main.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(main.resources.limits.memory).toMatch(/^\d+(Mi|Gi)$/);
    expect(main.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });

  it('puts the batch worker on the batch node group and dev on one replica without HPA', () => {
    const worker = readObjects('prod').get('Deployment/report-worker')!.spec.template.spec;
    expect(worker.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['batch']);
    expect(worker.tolerations).toEqual([expect.objectContaining({ key: 'instancegroup', value: 'batch' })]);
    const dev = readObjects('dev');
    expect(dev.get('Deployment/web-api')!.spec.replicas).toBe(1);
    expect([...dev.keys()].filter((k) => k.startsWith('HorizontalPodAutoscaler/'))).toEqual([]);
  });

  it('references ConfigMaps and Secrets by name and writes no secret value', () => {
    const all = ['dev', 'stage', 'prod'].map((env) => Object.values(tree(path.join(out, env))).join('\n')).join('\n');
    expect(all).toContain('secretKeyRef');
    expect(all).not.toMatch(/kind: Secret\n/);
    expect(all).not.toMatch(/(PASSWORD|SECRET)\n\s+value:/);
  });

  it('targets three different clusters from dist/argocd, prod waiting for a manual sync', () => {
    const apps = new Map<string, Manifest>();
    for (const env of ['dev', 'stage', 'prod']) {
      const [project, app] = parseAllDocuments(fs.readFileSync(path.join(out, 'argocd', `${env}.yaml`), 'utf8')).map((d) => d.toJS() as Manifest);
      validateManifest(project);
      validateManifest(app);
      expect(project.spec.destinations.every((d: any) => d.server === app.spec.destination.server)).toBe(true);
      apps.set(env, app);
    }
    const servers = [...apps.values()].map((a) => a.spec.destination.server);
    expect(new Set(servers).size).toBe(3);
    expect(servers).not.toContain('https://kubernetes.default.svc');
    expect(apps.get('prod')!.spec.syncPolicy.automated).toBeUndefined();
    expect((apps.get('prod')!.metadata as { finalizers?: string[] }).finalizers).toBeUndefined();
    for (const env of ['dev', 'stage']) {
      expect(apps.get(env)!.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
      expect((apps.get(env)!.metadata as { finalizers?: string[] }).finalizers).toEqual(['resources-finalizer.argocd.argoproj.io/foreground']);
    }
  });

  it('lets prod web-api drain at any size, and keeps it serving 5 s after removal from its endpoints', () => {
    const prod = readObjects('prod');
    const pdb = prod.get('PodDisruptionBudget/web-api')!;
    // Created without replicas, the Deployment runs one pod until the HPA's first sync: the budget must not block there.
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect(pdb.spec.minAvailable).toBeUndefined();
    const pod = prod.get('Deployment/web-api')!.spec.template.spec;
    expect(pod.containers[0].lifecycle).toEqual({ preStop: { exec: { command: ['sleep', '5'] } } });
    expect(pod.terminationGracePeriodSeconds).toBe(35);
  });

  it('gives the same output through npm run synth and npx cdk8s synth, with the policy plugin passing', () => {
    const viaNpm = path.join(work, 'npm-out');
    const viaCdk8s = path.join(work, 'cdk8s-out');
    const npmLog = run('npm', ['run', '--silent', 'synth'], { cwd: root, env: { ...process.env, CDK8S_OUTDIR: viaNpm } });
    expect(npmLog).toMatch(/^prod: \d+ objects, 0 warnings, \d+ exemptions? → /m);
    const cdk8sLog = run('npx', ['cdk8s', 'synth', '--output', viaCdk8s], { cwd: root, timeoutMs: 180_000 });
    expect(cdk8sLog).toContain('Validations ended succesfully');
    expect(tree(viaCdk8s)).toEqual(tree(viaNpm));
    expect(tree(viaNpm)).toEqual(tree(out));
  });
});

describe('cdk8s validation plugin', () => {
  it("counts a clean platform's objects as synth's summary does, and the Argo CD Applications apart", async () => {
    const manifests = fs
      .readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
      .map((e) => path.join(e.parentPath, e.name));
    let status = '';
    let metadata: Record<string, string> = {};
    await new ShipshapePolicyValidation().validate({
      manifests,
      report: {
        addViolation: () => undefined,
        submit: (s, m) => {
          status = s;
          metadata = m ?? {};
        },
      },
    });
    const applications = fs
      .readdirSync(path.join(out, 'argocd'))
      .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(out, 'argocd', f), 'utf8')))
      .filter((d) => d.toJS()?.kind !== undefined).length;
    expect(applications).toBeGreaterThan(0);
    expect(status).toBe('success');
    expect(metadata.objects).toBe(String(summaries.reduce((n, s) => n + s.objects, 0)));
    expect(metadata['objects in argocd']).toBe(String(applications));
  });

  it('reports the policy violations of manifests on disk and fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-plugin-'));
    const file = path.join(dir, 'deployment.yaml');
    fs.writeFileSync(
      file,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx\n',
    );
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml]\n');
    const violations: { ruleName: string; violatingResources: { manifestPath: string }[] }[] = [];
    let status = '';
    await new ShipshapePolicyValidation().validate({
      manifests: [file, path.join(dir, 'kustomization.yaml')],
      report: {
        addViolation: (v) => violations.push(v),
        submit: (s) => {
          status = s;
        },
      },
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(status).toBe('failure');
    expect(violations.map((v) => v.ruleName).sort()).toEqual(['container-probes', 'container-resources', 'image-tag-pinned', 'pod-security']);
    expect(violations[0].violatingResources[0].manifestPath).toBe(file);
  });
});

describe('per-environment settings', () => {
  it('come from one table with an entry per environment; a name outside it does not compile', () => {
    expect(environments.map((e) => e.name)).toEqual(Object.keys(PLATFORM_SETTINGS));
    for (const environment of environments) expect(platformSettings(environment)).toBe(PLATFORM_SETTINGS[environment.name as PlatformEnvironmentName]);
    // @ts-expect-error: an environment the table does not define is not a PlatformEnvironmentName
    const unknown: PlatformEnvironmentName = 'qa';
    // @ts-expect-error: a table without stage and prod is refused
    const partial: Record<PlatformEnvironmentName, PlatformSettings> = { dev: PLATFORM_SETTINGS.dev };
    // @ts-expect-error: an entry for a name outside PlatformEnvironmentName is refused
    const extra: Record<PlatformEnvironmentName, PlatformSettings> = { ...PLATFORM_SETTINGS, qa: PLATFORM_SETTINGS.dev };
    expect([unknown, Object.keys(partial), Object.keys(extra)]).toEqual(['qa', ['dev'], ['dev', 'stage', 'prod', 'qa']]);
  });

  it("refuses at run time an environment that has no entry, instead of giving it another environment's sizing", () => {
    const qa = new Environment({ name: 'qa', kubernetesVersion: '1.29' });
    expect(() => platformSettings(qa)).toThrow('environment "qa" has no entry in PLATFORM_SETTINGS (stacks/environments.ts); known: dev, stage, prod');
    expect(() => buildPlatform(new App(), qa)).toThrow(/no entry in PLATFORM_SETTINGS/);
  });

  it('decides by settings, never by comparing environment names, in lib/ and stacks/', () => {
    const sources = (dir: string): string[] =>
      fs
        .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => path.join(dir, f));
    const offending: string[] = [];
    for (const file of [...sources('lib'), ...sources('stacks')]) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const m of text.matchAll(/(===?|!==?)\s*['"](dev|stage|prod)['"]|['"](dev|stage|prod)['"]\s*(===?|!==?)|case\s+['"](dev|stage|prod)['"]/g)) offending.push(`${file}: ${m[0]}`);
    }
    expect(offending).toEqual([]);
  });

  it('gives dev no shared-cluster operations, and prod read-only team access and cautious scale-down', () => {
    const dev = readObjects('dev');
    expect([...dev.keys()].filter((k) => /cluster-autoscaler|metrics-server|team1/.test(k))).toEqual([]);
    const prod = readObjects('prod');
    expect(prod.has('Role/team1-read-only')).toBe(true);
    const args: string[] = prod.get('Deployment/cluster-autoscaler')!.spec.template.spec.containers[0].command;
    expect(args).toEqual(expect.arrayContaining(['--scale-down-unneeded-time=20m', '--scale-down-delay-after-add=15m']));
    expect(readObjects('stage').has('RoleBinding/team1-deployer')).toBe(true);
    for (const [env, level] of [
      ['dev', 'debug'],
      ['stage', 'debug'],
      ['prod', 'info'],
    ]) {
      expect(readObjects(env).get('ConfigMap/web-api-settings')!.data.LOG_LEVEL).toBe(level);
    }
  });
});
