import * as path from 'node:path';
import type { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import { UnknownValueError, unknownCheckingProxy } from '@pulumi/policy';
// The value the engine sends for an input that is not known until the update (the analyzer's proxy refuses to read it).
import { unknownValue } from '@pulumi/pulumi/runtime/rpc';
import { App } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Manifest } from '../../lib';
import { describe as describeObject } from '../../lib/core/manifest';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { EXEMPTION_ANNOTATION_PREFIX } from '../../lib/core/policy/exemptions';
import { RULES } from '../../lib/core/policy/rules';
import { kubernetesTypeToken } from '../../lib/pulumi/kubernetes';
import { kubernetesManifestOf, shipshapePolicies } from '../../lib/pulumi/policy-pack';
import { buildPlatform } from '../../stacks/platform';
import { environmentNamed } from '../../stacks/environments';
import { synthesizeStack } from '../../lib/core/synth';
import { container, deployment, hpa, metricsApi, pdb, POLICY_CASES } from '../core/policy/cases';
import { run } from '../support/tools';

// The ready pack constructs a PolicyPack, which would start the analyzer's gRPC server: record the construction instead.
const constructed = vi.hoisted(() => [] as { name: string; args: any }[]);
vi.mock('@pulumi/policy', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@pulumi/policy')>()),
  PolicyPack: class {
    constructor(name: string, args: any) {
      constructed.push({ name, args });
    }
  },
}));

const root = path.resolve(__dirname, '../..');

/** What a policy reported: the policy, its enforcement level, the resource and the message. */
interface Reported {
  readonly policy: string;
  readonly level: string;
  readonly urn: string | undefined;
  readonly message: string;
}

const OPTIONS = { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] };

function urnOf(type: string, name: string): string {
  return `urn:pulumi:test::shop::${type}::${name}`;
}

/** A resource as the engine passes it to policies: type token, props behind the engine's unknown-checking proxy, urn, name, options. */
function engineResource(type: string, props: Record<string, any>, name: string): PolicyResource & ResourceValidationArgs {
  return {
    type,
    props: unknownCheckingProxy(structuredClone(props)),
    urn: urnOf(type, name),
    name,
    opts: OPTIONS,
    stackTags: new Map(),
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason}`);
    },
  } as PolicyResource & ResourceValidationArgs;
}

/** A Kubernetes object as a @pulumi/kubernetes resource: its type token and its fields as inputs. Names are made unique as Pulumi requires. */
function asResources(manifests: readonly Manifest[]): (PolicyResource & ResourceValidationArgs)[] {
  return manifests.map((m, i) => engineResource(kubernetesTypeToken(m), m, `${m.kind.toLowerCase()}-${m.metadata.name}-${i}`));
}

const policies = shipshapePolicies() as (ResourceValidationPolicy | StackValidationPolicy)[];

/** Runs the pack as the engine does: every resource policy on every resource, every stack policy once on them all. */
function runPack(resources: readonly (PolicyResource & ResourceValidationArgs)[]): Reported[] {
  const reported: Reported[] = [];
  for (const p of policies) {
    const level = p.enforcementLevel!;
    if ('validateStack' in p) {
      const report: ReportViolation = (message, urn) => reported.push({ policy: p.name, level, urn, message });
      p.validateStack(
        {
          resources: [...resources],
          stackTags: new Map(),
          getConfig: <T extends object>() => ({}) as T,
          notApplicable: (): never => {
            throw new Error('not applicable');
          },
        },
        report,
      );
      continue;
    }
    const validations = [p.validateResource ?? []].flat();
    for (const r of resources) {
      const report: ReportViolation = (message) => reported.push({ policy: p.name, level, urn: r.urn, message });
      for (const validate of validations) validate(r, report);
    }
  }
  return reported;
}

/** The findings of the synth engine, in the same shape: rule, level, the object's resource, message. */
function runSynth(manifests: readonly Manifest[], resources: readonly PolicyResource[]): Reported[] {
  const report = evaluatePolicy(manifests.map((manifest, i) => ({ manifest, constructPath: resources[i].urn })));
  return [...report.violations, ...report.warnings].map((f) => ({
    policy: f.ruleId,
    level: f.severity === 'error' ? 'mandatory' : 'advisory',
    urn: f.constructPath,
    message: `${f.object}: ${f.message}. Fix: ${f.fix}.`,
  }));
}

const sorted = (xs: Reported[]) => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

function withAnnotations(m: Manifest, annotations: Record<string, string>): Manifest {
  return { ...m, metadata: { ...m.metadata, annotations: { ...m.metadata.annotations, ...annotations } } };
}

describe('the Pulumi policy pack', () => {
  it('has one policy per rule, named by the rule id, mandatory where synth fails and advisory where it warns, plus the exemption checks', () => {
    expect(policies.map((p) => p.name)).toEqual([...RULES.map((r) => r.id), 'unknown-exemption', 'unused-exemption']);
    for (const rule of RULES) {
      const p = policies.find((x) => x.name === rule.id)!;
      expect(p.enforcementLevel, rule.id).toBe(rule.severity === 'error' ? 'mandatory' : 'advisory');
      expect(p.description).toBe(rule.description);
    }
    const stackPolicies = policies.filter((p) => 'validateStack' in p).map((p) => p.name);
    expect(stackPolicies.sort()).toEqual([
      'autoscaler-metrics',
      'autoscaler-target',
      'canary-ingress',
      'canary-unique',
      'disruption-budget',
      'ingress-tls',
      'replicas-spread',
      'service-selects-pods',
      'single-replica',
      'unused-exemption',
      'volume-claim-access',
      'workload-identity',
    ]);
    expect(policies.find((p) => p.name === 'unknown-exemption')!.enforcementLevel).toBe('mandatory');
    expect(policies.find((p) => p.name === 'unused-exemption')!.enforcementLevel).toBe('advisory');
  });

  describe.each(RULES.map((r) => [r.id, r] as const))('%s', (id, rule) => {
    const cases = POLICY_CASES[id];

    it('has a failing and a passing case', () => {
      expect(cases, `add cases for "${id}" to test/core/policy/cases.ts`).toBeDefined();
    });

    it.runIf(cases)('rejects the failing case on the offending resource, as synth does, and reports exactly what synth reports', () => {
      const { failing, offender } = cases();
      const resources = asResources(failing);
      const pack = runPack(resources);
      const synth = runSynth(failing, resources);
      const ofRule = pack.filter((r) => r.policy === id);
      expect(ofRule.length, JSON.stringify(pack)).toBeGreaterThan(0);
      expect(new Set(ofRule.map((r) => r.urn))).toEqual(new Set([resources[offender].urn]));
      expect(ofRule.every((r) => r.level === (rule.severity === 'error' ? 'mandatory' : 'advisory'))).toBe(true);
      expect(ofRule[0].message).toContain(describeObject(failing[offender]));
      expect(sorted(pack)).toEqual(sorted(synth));
    });

    it.runIf(cases)('passes the passing case, as synth does', () => {
      const { passing } = cases();
      const resources = asResources(passing);
      const pack = runPack(resources);
      expect(pack.filter((r) => r.policy === id)).toEqual([]);
      expect(pack.filter((r) => r.level === 'mandatory')).toEqual([]);
      expect(sorted(pack)).toEqual(sorted(runSynth(passing, resources)));
    });

    it.runIf(cases)('honours the exemption annotation on the offending object, as synth does', () => {
      const { failing, offender } = cases();
      const exempted = failing.map((m, i) => (i === offender ? withAnnotations(m, { [`${EXEMPTION_ANNOTATION_PREFIX}${id}`]: 'exempted to test the policy pack' }) : m));
      const resources = asResources(exempted);
      const pack = runPack(resources);
      expect(pack.filter((r) => r.policy === id)).toEqual([]);
      expect(sorted(pack)).toEqual(sorted(runSynth(exempted, resources)));
    });
  });

  it('rejects what synth rejects for any mix of the cases (property)', () => {
    const pool = Object.values(POLICY_CASES).flatMap((c) => [...c().failing, ...c().passing]);
    fc.assert(
      fc.property(fc.subarray(pool, { minLength: 1, maxLength: 12 }), (manifests) => {
        const resources = asResources(manifests);
        expect(sorted(runPack(resources))).toEqual(sorted(runSynth(manifests, resources)));
      }),
      { numRuns: 150 },
    );
  });

  it('exempts one variable only, and warns about a variable exemption that matches nothing', () => {
    const env = [
      { name: 'DB_PASSWORD', value: 'hunter2' },
      { name: 'API_TOKEN', value: 'hunter2' },
    ];
    const withEnv = (annotations: Record<string, string>) => [deployment({ replicas: 3, annotations, containers: [container({ env })] }), pdb({ maxUnavailable: 1 })];
    const reason = 'a fixture value, not a credential';
    const one = runPack(asResources(withEnv({ [`${EXEMPTION_ANNOTATION_PREFIX}secret-env-plaintext.DB_PASSWORD`]: reason })));
    expect(one.map((r) => [r.policy, r.level])).toEqual([['secret-env-plaintext', 'mandatory']]);
    expect(one[0].message).toContain('API_TOKEN');
    expect(one[0].message).not.toContain('DB_PASSWORD');
    const typo = runPack(asResources(withEnv({ [`${EXEMPTION_ANNOTATION_PREFIX}secret-env-plaintext.DB_PASSWORT`]: reason })));
    expect(typo.map((r) => [r.policy, r.level]).sort()).toEqual([
      ['secret-env-plaintext', 'mandatory'],
      ['secret-env-plaintext', 'mandatory'],
      ['unused-exemption', 'advisory'],
    ]);
  });

  it('rejects an exemption from a rule that does not exist, as synth does', () => {
    const manifests = [deployment({ replicas: 3, annotations: { [`${EXEMPTION_ANNOTATION_PREFIX}no-such-rule`]: 'typo in the rule id' } }), pdb({ maxUnavailable: 1 })];
    const resources = asResources(manifests);
    const pack = runPack(resources);
    expect(pack.map((r) => [r.policy, r.level, r.urn])).toEqual([['unknown-exemption', 'mandatory', resources[0].urn]]);
    expect(pack[0].message).toContain('no-such-rule');
    expect(sorted(pack)).toEqual(sorted(runSynth(manifests, resources)));
  });

  it('reads apiVersion and kind from the type token and names auto-named objects after the resource', () => {
    for (const m of Object.values(POLICY_CASES).flatMap((c) => c().failing)) {
      const { apiVersion, kind, ...rest } = m;
      const back = kubernetesManifestOf({ type: kubernetesTypeToken(m), props: rest, name: 'r' })!;
      expect([back.apiVersion, back.kind], kubernetesTypeToken(m)).toEqual([apiVersion, kind]);
    }
    expect(kubernetesManifestOf({ type: 'kubernetes:core/v1:ConfigMap', props: { data: {} }, name: 'settings' })!.metadata).toEqual({ name: 'settings' });
    // Type tokens of custom resources are built the same way.
    expect(kubernetesManifestOf({ type: 'kubernetes:monitoring.coreos.com/v1:ServiceMonitor', props: {}, name: 'm' })).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
    });
  });

  it('leaves alone what is not a whole Kubernetes object: other providers, components, Helm releases, patches', () => {
    const leaky = { metadata: { name: 'x', annotations: { 'example.com/api-token': 'f00dfeedcafe1234' } }, spec: { replicas: 5, template: { spec: { containers: [{ name: 'x', image: 'nginx' }] } } } };
    const types = [
      'aws:s3/bucket:Bucket',
      'pulumi:providers:kubernetes',
      'kubernetes:yaml:ConfigFile',
      'kubernetes:yaml/v2:ConfigGroup',
      'kubernetes:helm.sh/v3:Release',
      'kubernetes:helm.sh/v4:Chart',
      'kubernetes:kustomize/v2:Directory',
      'kubernetes:apps/v1:DeploymentPatch',
      'kubernetes:core/v1:ConfigMapList',
    ];
    for (const type of types) expect(kubernetesManifestOf({ type, props: leaky, name: 'x' }), type).toBeUndefined();
    expect(runPack(types.map((type, i) => engineResource(type, leaky, `x${i}`)))).toEqual([]);
    // The same props as a Deployment are judged.
    expect(runPack([engineResource('kubernetes:apps/v1:Deployment', leaky, 'x')]).length).toBeGreaterThan(0);
  });

  it('during preview, skips only the policies that read a value not known yet (the engine reports them as not run)', () => {
    const manifests = [deployment({ replicas: 3, containers: [container({ image: unknownValue })] }), pdb({ maxUnavailable: 1 })];
    const [resource] = asResources(manifests);
    const byName = (name: string) => policies.find((p) => p.name === name) as ResourceValidationPolicy;
    const validate = (name: string) => () => [byName(name).validateResource ?? []].flat().forEach((v) => v(resource, () => {}));
    expect(validate('image-tag-pinned')).toThrow(UnknownValueError);
    expect(validate('container-resources')).not.toThrow();
    expect(validate('pod-security')).not.toThrow();
  });

  it('judges the declared inputs the provider keeps beside the live object in stack policies', () => {
    // After an update the live Deployment carries the replicas the API server defaulted; the program never set them.
    const declared = deployment();
    const live = { ...declared, spec: { ...declared.spec, replicas: 1 }, status: { replicas: 2 }, __inputs: declared };
    const resources = [engineResource('kubernetes:apps/v1:Deployment', live, 'web'), ...asResources([pdb({ maxUnavailable: 1 }), metricsApi(), hpa(2, 5)])];
    expect(runPack(resources)).toEqual([]);
    const withoutInputs = [engineResource('kubernetes:apps/v1:Deployment', { ...live, __inputs: undefined }, 'web'), ...resources.slice(1)];
    expect(runPack(withoutInputs).map((r) => r.policy)).toEqual(['autoscaler-target']);
  });

  it.each(['dev', 'prod'])('agrees with synth on the reference platform (%s), with and without its exemption annotations', (name) => {
    const result = synthesizeStack(buildPlatform(new App(), environmentNamed(name)));
    const manifests = result.objects.map((o) => o.manifest);
    const resources = asResources(manifests);
    const pack = runPack(resources);
    expect(pack.filter((r) => r.level === 'mandatory')).toEqual([]);
    expect(sorted(pack)).toEqual(sorted(runSynth(manifests, resources)));
    // What synth itself warned about the Kubernetes objects (its summary also lists Swarm and Docker host warnings).
    const objects = new Set(manifests.map(describeObject));
    const synthWarnings = result.policy.warnings.filter((w) => objects.has(w.object)).map((w) => `${w.ruleId} ${w.object}`);
    expect(pack.map((r) => `${r.policy} ${r.message.slice(0, r.message.indexOf(':'))}`).sort()).toEqual(synthWarnings.sort());
    // Without the declared exemptions both refuse the same objects for the same rules.
    const exempted = manifests.filter((m) => Object.keys(m.metadata.annotations ?? {}).some((k) => k.startsWith(EXEMPTION_ANNOTATION_PREFIX)));
    expect(exempted.length).toBeGreaterThan(0);
    const stripped = manifests.map((m) => ({
      ...m,
      metadata: { ...m.metadata, annotations: Object.fromEntries(Object.entries(m.metadata.annotations ?? {}).filter(([k]) => !k.startsWith(EXEMPTION_ANNOTATION_PREFIX))) },
    }));
    const strippedResources = asResources(stripped);
    const refused = runPack(strippedResources);
    expect(refused.filter((r) => r.level === 'mandatory').length).toBeGreaterThan(0);
    expect(sorted(refused)).toEqual(sorted(runSynth(stripped, strippedResources)));
  });

  it('ships a ready pack named shipshape with these policies, and shipshape/pulumi does not load @pulumi/policy', async () => {
    await import('../../lib/pulumi/policy');
    expect(constructed.map((c) => c.name)).toEqual(['shipshape']);
    expect(constructed[0].args.policies.map((p: { name: string }) => p.name)).toEqual(policies.map((p) => p.name));
    const probe = "require('./lib/pulumi'); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@pulumi/policy'))))";
    const loaded = JSON.parse(run('node', ['--require', 'tsx/cjs', '-e', probe], { cwd: root, timeoutMs: 60_000 }));
    expect(loaded).toEqual([]);
  });
});
