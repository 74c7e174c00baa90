// Type-only imports: building the policies must not load @pulumi/policy, whose PolicyPack starts the analyzer.
import type { EnforcementLevel, Policies, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from '@pulumi/policy';
import { Manifest } from '../core/manifest';
import { PolicyFinding, PolicySubject, evaluatePolicy } from '../core/policy/engine';
import { exemptionsOf } from '../core/policy/exemptions';
import { PolicyRule, RULES } from '../core/policy/rules';

/** Name of the policy pack: what `pulumi preview --policy-pack` reports violations under. */
export const SHIPSHAPE_POLICY_PACK_NAME = 'shipshape';

/**
 * Rules whose findings depend on other objects of the stack (a PodDisruptionBudget or HPA selecting a workload,
 * a Service's pods, metrics-server's APIService). A resource policy sees one resource, so these run as stack
 * policies over every Kubernetes resource; the other rules run per resource, guarded so that one reading other
 * objects fails loudly instead of judging against an empty stack.
 */
const CROSS_OBJECT_RULES: ReadonlySet<string> = new Set([
  'replicas-spread',
  'disruption-budget',
  'service-selects-pods',
  'autoscaler-target',
  'autoscaler-metrics',
  'single-replica',
  'canary-unique',
  'canary-ingress',
  'ingress-tls',
  'volume-claim-access',
  'workload-identity',
]);

// Engine checks that are not rules of their own: an exemption naming no rule fails synth, one exempting nothing warns.
const UNKNOWN_EXEMPTION = 'unknown-exemption';
const UNUSED_EXEMPTION = 'unused-exemption';

/** A resource as the Pulumi engine passes it to a policy (resource inputs, or outputs in a stack policy). */
interface EngineResource {
  readonly type: string;
  readonly props: Record<string, any>;
  readonly name: string;
  readonly urn: string;
}

// `kubernetes:<group>/<version>:<Kind>`; the core group is spelled `core` (kubernetes:core/v1:Service).
const OBJECT_TYPE = /^kubernetes:([^:/]+)\/([^:/]+):([A-Za-z0-9]+)$/;
// Type tokens under kubernetes: that are not API objects: YAML, Helm and kustomize components and Helm releases.
const NOT_OBJECT_GROUPS = new Set(['yaml', 'helm.sh', 'kustomize']);

/**
 * The Kubernetes object a Pulumi resource declares, with apiVersion and kind from its type token
 * (`kubernetes:apps/v1:Deployment` → apps/v1 Deployment); `undefined` for resources that are not a whole
 * Kubernetes object (other providers, YAML/Helm/kustomize components, `…Patch` and `…List` resources).
 * A name left to Pulumi's auto-naming is taken from the resource name.
 */
export function kubernetesManifestOf(resource: { readonly type: string; readonly props: Record<string, any>; readonly name: string }): Manifest | undefined {
  const match = OBJECT_TYPE.exec(resource.type);
  if (!match) return undefined;
  const [, group, version, kind] = match;
  // Patches carry only the fields they change; lists are not objects the API server stores.
  if (NOT_OBJECT_GROUPS.has(group) || /(Patch|List)$/.test(kind)) return undefined;
  const props = resource.props ?? {};
  // Property reads go through the engine's unknown-checking proxy: a value unknown during preview throws, and the
  // engine reports the policy as not run, instead of judging a value nobody knows yet.
  const metadata = props.metadata ?? {};
  return {
    ...props,
    apiVersion: group === 'core' ? version : `${group}/${version}`,
    kind,
    metadata: { ...metadata, name: metadata.name ?? resource.name },
  };
}

/** The object a stack policy judges: the inputs the provider keeps beside the live state, when it keeps them. */
function declaredManifest(resource: EngineResource): Manifest | undefined {
  if (!OBJECT_TYPE.test(resource.type)) return undefined;
  const inputs = resource.props?.__inputs;
  return kubernetesManifestOf(inputs && typeof inputs === 'object' ? { ...resource, props: inputs } : resource);
}

function enforcementOf(severity: PolicyRule['severity']): EnforcementLevel {
  return severity === 'error' ? 'mandatory' : 'advisory';
}

function violationText(f: PolicyFinding): string {
  return `${f.object}: ${f.message}. Fix: ${f.fix}.`;
}

/** RULES with only `rule` checking (through `check`), the others known but silent: exemptions of every rule stay valid. */
function runningOnly(rule: PolicyRule, check: PolicyRule['check']): PolicyRule[] {
  return RULES.map((r) => (r.id === rule.id ? { ...r, check } : { ...r, check: () => [] }));
}

/** A per-resource rule, refused access to other objects: it is given none. */
function isolated(rule: PolicyRule): PolicyRule['check'] {
  const refuse = (): never => {
    throw new Error(`policy rule "${rule.id}" reads other objects of the stack, so the policy pack must run it as a stack policy: add it to CROSS_OBJECT_RULES`);
  };
  return (m) => rule.check(m, new Proxy({} as Parameters<PolicyRule['check']>[1], { get: refuse, has: refuse }));
}

/** Evaluates one resource with the synth engine (exemption annotations included) and reports the findings of `ruleId`. */
function validateOne(rules: PolicyRule[], ruleId: string) {
  return (args: ResourceValidationArgs, reportViolation: ReportViolation): void => {
    const manifest = kubernetesManifestOf(args);
    if (!manifest) return;
    const report = evaluatePolicy([{ manifest, constructPath: args.urn }], rules);
    for (const f of [...report.violations, ...report.warnings]) if (f.ruleId === ruleId) reportViolation(violationText(f));
  };
}

/**
 * Evaluates every Kubernetes resource of the stack together and reports the findings of `ruleId` against their
 * resources; `rulesFor` picks the rules to run for these objects (none: nothing to check).
 */
function validateAll(rulesFor: (subjects: readonly PolicySubject[]) => PolicyRule[] | undefined, ruleId: string) {
  return (args: StackValidationArgs, reportViolation: ReportViolation): void => {
    const subjects: PolicySubject[] = [];
    for (const resource of args.resources) {
      const manifest = declaredManifest(resource);
      if (manifest) subjects.push({ manifest, constructPath: resource.urn });
    }
    const rules = subjects.length > 0 ? rulesFor(subjects) : undefined;
    if (!rules) return;
    const report = evaluatePolicy(subjects, rules);
    for (const f of [...report.violations, ...report.warnings]) if (f.ruleId === ruleId) reportViolation(violationText(f), f.constructPath);
  };
}

/**
 * The rules a variable exemption names, the others silent; none when no object exempts a variable. Running only
 * these keeps the check from reading values it does not need, which may be unknown during preview.
 */
function rulesWithVariableExemptions(subjects: readonly PolicySubject[]): PolicyRule[] | undefined {
  const named = new Set(subjects.flatMap((s) => exemptionsOf(s.manifest).flatMap((e) => (e.variable === undefined ? [] : [e.ruleId]))));
  return named.size === 0 ? undefined : RULES.map((r) => (named.has(r.id) ? r : { ...r, check: () => [] }));
}

/**
 * The shipshape policy rules as Pulumi CrossGuard policies, for a policy pack that checks Kubernetes resources a
 * Pulumi program declares itself (`new k8s.apps.v1.Deployment(...)`) by the rules synth applies: one policy per
 * rule, named by the rule id (so `exemptions.shipshape.io/<rule>` annotations and pack configuration use the same
 * name), `mandatory` where synth fails and `advisory` where synth warns. Rules about one object are resource
 * policies; rules that relate objects (disruption budgets, autoscalers, Service selectors, spreading with an HPA's
 * maximum) are stack policies over every Kubernetes resource. Two more policies mirror the engine's own checks:
 * `unknown-exemption` (mandatory) and `unused-exemption` (advisory).
 *
 * Use it in a policy pack project: `new PolicyPack('shipshape', { policies: shipshapePolicies() })`, or import
 * `shipshape/pulumi/policy`, which does exactly that.
 */
export function shipshapePolicies(): Policies {
  const policies: Policies = RULES.map((rule): ResourceValidationPolicy | StackValidationPolicy => {
    const common = { name: rule.id, description: rule.description, enforcementLevel: enforcementOf(rule.severity) };
    if (CROSS_OBJECT_RULES.has(rule.id)) return { ...common, validateStack: validateAll(() => runningOnly(rule, rule.check), rule.id) };
    return { ...common, validateResource: validateOne(runningOnly(rule, isolated(rule)), rule.id) };
  });
  const silent = RULES.map((r) => ({ ...r, check: () => [] }));
  policies.push(
    {
      name: UNKNOWN_EXEMPTION,
      description: 'an exemption annotation (exemptions.shipshape.io/<rule>) names a rule that exists; a typo would exempt nothing',
      enforcementLevel: 'mandatory',
      validateResource: validateOne(silent, UNKNOWN_EXEMPTION),
    },
    {
      name: UNUSED_EXEMPTION,
      description: 'an exemption of one variable (exemptions.shipshape.io/<rule>.<variable>) matches a finding; one that matches nothing is a typo or outlived its reason',
      enforcementLevel: 'advisory',
      validateStack: validateAll(rulesWithVariableExemptions, UNUSED_EXEMPTION),
    },
  );
  return policies;
}
