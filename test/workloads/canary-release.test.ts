import { ApiObject } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, CanaryRelease, CanaryReleaseProps, Manifest, Stack, WorkloadIngress, WorkloadIngressProps } from '../../lib';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { selectorMatches } from '../../lib/core/manifest';
import { budgetAllowsEviction } from '../../lib/core/policy/rules';
import { canaryReplicasFor, canaryShare } from '../../lib/workloads/canary-release';
import { shipshapeError } from '../support/errors';
import { validateManifest } from '../support/schema';
import { findObject, newStack, objectsOfKind, synthStack, testEnvironment } from '../support/synth';

const stableProps: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };
const canaryProps: CanaryReleaseProps['canary'] = { image: 'ghcr.io/acme/web:1.1.0', ports: [{ port: 8080 }] };

function stableIngress(stack: Stack, workload: Partial<AntiAffinityDeploymentProps> = {}, ingress: Partial<WorkloadIngressProps> = {}, id = 'web') {
  const w = new AntiAffinityDeployment(stack, id, { ...stableProps, ...workload });
  return new WorkloadIngress(stack, `${id}-ingress`, { workload: w, host: 'api.example.com', paths: ['/', '/v1'], tls: { clusterIssuer: 'letsencrypt-prod' }, ...ingress });
}

function build(stack: Stack, props: Partial<CanaryReleaseProps> = {}, workload: Partial<AntiAffinityDeploymentProps> = {}) {
  const stable = stableIngress(stack, workload);
  return new CanaryRelease(stack, 'canary', { stable, canary: canaryProps, weight: 10, ...props });
}

const error = (props: Partial<CanaryReleaseProps>, workload: Partial<AntiAffinityDeploymentProps> = {}) => shipshapeError(() => build(newStack(), props, workload));

const routes = (ingress: any) => ingress.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => `${r.host}${p.path} ${p.pathType}`)).sort();

describe('CanaryRelease', () => {
  it('adds a canary workload, Service and canary Ingress for the stable host and paths, schema-valid and policy-clean', () => {
    const result = synthStack((stack) => build(stack, { header: { name: 'X-Canary', value: 'v2' }, cookie: 'canary_v2' }));
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    const stable = findObject(result, 'Ingress', 'web');
    const canary = findObject(result, 'Ingress', 'web-canary');
    expect(canary.metadata.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
      'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary',
      'nginx.ingress.kubernetes.io/canary-by-header-value': 'v2',
      'nginx.ingress.kubernetes.io/canary-by-cookie': 'canary_v2',
    });
    expect(canary.spec.ingressClassName).toBe(stable.spec.ingressClassName);
    expect(routes(canary)).toEqual(routes(stable));
    expect(canary.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service))).toEqual([
      { name: 'web-canary', port: { number: 8080 } },
      { name: 'web-canary', port: { number: 8080 } },
    ]);
    // TLS and the certificate stay with the stable Ingress; ingress-nginx takes the server's TLS from it.
    expect(canary.spec.tls).toBeUndefined();
    expect(canary.metadata.labels).toMatchObject({ 'shipshape.io/track': 'canary', 'app.kubernetes.io/name': 'web-canary' });
    expect(findObject(result, 'Deployment', 'web-canary').spec.template.spec.containers[0].image).toBe('ghcr.io/acme/web:1.1.0');
  });

  it("keeps the selectors apart: neither Service selects the other release's pods", () => {
    const result = synthStack((stack) => build(stack));
    const pods = (name: string) => findObject(result, 'Deployment', name).spec.template.metadata.labels;
    const selects = (service: string, deployment: string) => selectorMatches({ matchLabels: findObject(result, 'Service', service).spec.selector }, pods(deployment));
    expect(selects('web', 'web')).toBe(true);
    expect(selects('web-canary', 'web-canary')).toBe(true);
    expect(selects('web', 'web-canary')).toBe(false);
    expect(selects('web-canary', 'web')).toBe(false);
    // Nor does the stable PodDisruptionBudget count canary pods.
    expect(selectorMatches(findObject(result, 'PodDisruptionBudget', 'web').spec.selector, pods('web-canary'))).toBe(false);
    expect(pods('web-canary')['shipshape.io/track']).toBe('canary');
    expect(pods('web')['shipshape.io/track']).toBeUndefined();
  });

  it('sizes the canary for its share: two spread, budgeted pods by default, one without a budget only when asked', () => {
    const small = synthStack((stack) => build(stack, { weight: 10 }));
    expect(small.problems).toEqual([]);
    expect(small.policy.warnings).toEqual([]);
    expect(findObject(small, 'Deployment', 'web-canary').spec.replicas).toBe(2);
    expect(budgetAllowsEviction(findObject(small, 'PodDisruptionBudget', 'web-canary'), 2)).toBe(true);
    expect(objectsOfKind(small, 'HorizontalPodAutoscaler')).toEqual([]);
    const single = synthStack((stack) => build(stack, { weight: 10, canary: { ...canaryProps, replicas: 1 } }));
    expect(single.problems).toEqual([]);
    expect(findObject(single, 'Deployment', 'web-canary').spec.replicas).toBe(1);
    expect(objectsOfKind(single, 'PodDisruptionBudget').map((p) => p.metadata.name)).toEqual(['web']);
    expect(single.policy.warnings.map((w) => `${w.ruleId} ${w.object}`)).toEqual(['single-replica Deployment test/web-canary']);
    const most = synthStack((stack) => build(stack, { weight: 100 }, { replicas: 5 }));
    expect(findObject(most, 'Deployment', 'web-canary').spec.replicas).toBe(5);
    expect(canaryReplicasFor(10, 1)).toBe(1);
    expect(canaryReplicasFor(60, 5)).toBe(3);
  });

  it('sizes from the stable HPA minimum and accepts an autoscaled canary inside the stable range', () => {
    const environment = testEnvironment({ autoscaling: { minReplicas: 4, maxReplicas: 8 } });
    const result = synthStack((stack) => build(stack, { weight: 30 }), environment);
    expect(result.problems.filter((p) => !p.includes('autoscaler-metrics'))).toEqual([]);
    expect(findObject(result, 'Deployment', 'web-canary').spec.replicas).toBe(2);
    const scaled = synthStack((stack) => build(stack, { weight: 30, canary: { ...canaryProps, autoscaling: { minReplicas: 2, maxReplicas: 4 } } }), environment);
    expect(findObject(scaled, 'HorizontalPodAutoscaler', 'web-canary').spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });
  });

  it('refuses a canary too small for its weight or larger than the stable release', () => {
    const e = error({ weight: 50, canary: { ...canaryProps, replicas: 1 } });
    expect(e.path).toBe('test/canary');
    expect(e.message).toMatch(/takes 50% of what 3 stable pods carry, which needs 2/);
    expect(e.fix).toMatch(/at least 2 canary replicas/);
    expect(error({ canary: { ...canaryProps, replicas: 4 } }).message).toMatch(/more than the stable release's 3/);
    expect(error({ canary: { ...canaryProps, autoscaling: { minReplicas: 1, maxReplicas: 6 } } }).message).toMatch(/can run 6 pods/);
  });

  it.each([-1, 101, 1.5, NaN, Infinity])('refuses the weight %s', (weight) => {
    const e = error({ weight });
    expect(e.path).toBe('test/canary');
    expect(e.message).toMatch(/weight must be an integer from 0 to 100/);
  });

  it('refuses a canary that gets no traffic, and accepts header-only routing at weight 0', () => {
    expect(error({ weight: 0 }).message).toMatch(/gets no traffic/);
    const result = synthStack((stack) => build(stack, { weight: undefined, header: { name: 'X-Canary' } }));
    expect(result.problems).toEqual([]);
    expect(findObject(result, 'Ingress', 'web-canary').metadata.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '0',
      'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary',
    });
  });

  const HOSTILE_TOKENS = ['', 'X Canary', 'x:canary', 'a\nb', 'a;b', 'ü', 'a"b', "a'b", '$(x)', 'a.b', 'a/b', 'a'.repeat(129), 'on\u2028'];
  it.each(HOSTILE_TOKENS)('refuses %j as a header name, header value and cookie, naming the field', (token) => {
    for (const [props, field] of [
      [{ header: { name: token } }, 'header.name'],
      [{ header: { name: 'X-Canary', value: token } }, 'header.value'],
      [{ cookie: token }, 'cookie'],
    ] as const) {
      const e = error(props);
      expect(e.path).toBe('test/canary');
      expect(e.value).toBe(token);
      expect(e.message).toContain(`${field} must be 1-128 letters, digits`);
      expect(e.fix).toMatch(/X-Canary/);
    }
  });

  it('refuses a second canary for a host and path, and allows one for another path', () => {
    const stack = newStack();
    const first = build(stack);
    const e = shipshapeError(() => new CanaryRelease(stack, 'again', { stable: first.stable, canary: { ...canaryProps, name: 'web-canary-2' }, weight: 5 }));
    expect(e.path).toBe('test/again');
    expect(e.message).toMatch(/test\/canary is already the canary of api\.example\.com\//);
    const other = stableIngress(stack, { name: 'docs' }, { name: 'docs', paths: ['/docs'] }, 'docs');
    new CanaryRelease(stack, 'docs-canary', { stable: other, canary: canaryProps, weight: 20 });
  });

  it('refuses a stable Ingress of another stack, the stable name, a canary without a Service and a non-Ingress stable', () => {
    const stable = stableIngress(newStack());
    expect(shipshapeError(() => new CanaryRelease(newStack(), 'c', { stable, canary: canaryProps, weight: 10 })).message).toMatch(/in another stack/);
    expect(error({ canary: { ...canaryProps, name: 'web' } }).message).toMatch(/stable Service would select its pods/);
    expect(error({ canary: { ...canaryProps, service: false } }).message).toMatch(/no Service for the canary Ingress/);
    expect(shipshapeError(() => new CanaryRelease(newStack(), 'c', { stable: {} as never, canary: canaryProps, weight: 10 })).fix).toMatch(/WorkloadIngress/);
  });

  it('writes the weight it is given and sizes the canary for it at every weight and stable size (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 6 }), (weight, replicas) => {
        const result = synthStack((stack) => build(stack, { weight }, { replicas }));
        expect(result.problems).toEqual([]);
        expect(findObject(result, 'Ingress', 'web-canary').metadata.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe(String(weight));
        const canaryReplicas = findObject(result, 'Deployment', 'web-canary').spec.replicas;
        expect(canaryReplicas).toBe(canaryReplicasFor(weight, replicas));
        // At least its share of the stable pods, never more than the stable release.
        expect(canaryReplicas).toBeGreaterThanOrEqual(canaryShare(weight, replicas));
        expect(canaryReplicas * 100).toBeGreaterThanOrEqual(weight * replicas);
        expect(canaryReplicas).toBeLessThanOrEqual(replicas);
        const budget = objectsOfKind(result, 'PodDisruptionBudget').find((p) => p.metadata.name === 'web-canary');
        expect(budget === undefined ? canaryReplicas === 1 : budgetAllowsEviction(budget, canaryReplicas)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});

describe('canary policy rules', () => {
  const ingress = (name: string, annotations: Record<string, string>, routes: [string, string][], className = 'nginx'): Manifest => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'test', annotations },
    spec: { ingressClassName: className, rules: routes.map(([host, path]) => ({ host, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } }] } })) },
  });
  const canary = (weight = '10') => ({ 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-weight': weight });
  const findings = (manifests: Manifest[]) =>
    evaluatePolicy(manifests.map((manifest) => ({ manifest })))
      .violations.filter((v) => v.ruleId.startsWith('canary-'))
      .map((v) => `${v.ruleId} ${v.object}: ${v.message}`);

  it('refuses a second canary for a host and path, in synth and for hand-written Ingresses', () => {
    const result = synthStack((stack) => {
      build(stack);
      new ApiObject(stack, 'by-hand', ingress('by-hand', canary('5'), [['api.example.com', '/v1']]));
    });
    expect(result.problems.filter((p) => p.includes('[canary-unique]'))).toEqual([
      expect.stringContaining('Ingress test/web-canary (construct test/canary/ingress): api.example.com/v1 already has the canary Ingress by-hand'),
    ]);
    const stable = ingress('web', {}, [
      ['a.example.com', '/'],
      ['a.example.com', '/x'],
    ]);
    expect(findings([stable, ingress('c1', canary(), [['a.example.com', '/']]), ingress('c2', canary(), [['a.example.com', '/x']])])).toEqual([]);
  });

  it('refuses a canary without a stable Ingress of its class for each route, and a weight outside 0-100', () => {
    const stable = ingress('web', {}, [['a.example.com', '/']]);
    expect(findings([ingress('c', canary(), [['a.example.com', '/']])])).toEqual([
      'canary-ingress Ingress test/c: no stable Ingress of class nginx answers for a.example.com/, so the canary receives nothing',
    ]);
    expect(findings([stable, ingress('c', canary(), [['a.example.com', '/']], 'internal')])).toEqual([
      'canary-ingress Ingress test/c: no stable Ingress of class internal answers for a.example.com/, so the canary receives nothing',
    ]);
    for (const weight of ['101', '-1', '1.5', 'ten', '', '010']) {
      expect(findings([stable, ingress('c', canary(weight), [['a.example.com', '/']])])).toEqual([
        `canary-ingress Ingress test/c: nginx.ingress.kubernetes.io/canary-weight is ${JSON.stringify(weight)}, not an integer from 0 to 100`,
      ]);
    }
    for (const weight of ['0', '7', '100']) expect(findings([stable, ingress('c', canary(weight), [['a.example.com', '/']])])).toEqual([]);
    // An Ingress that is no canary ("false") is judged by neither rule.
    expect(findings([ingress('c', { 'nginx.ingress.kubernetes.io/canary': 'false' }, [['a.example.com', '/']])])).toEqual([]);
  });
});
