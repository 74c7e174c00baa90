import { ApiObject } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, Manifest, Stack, WorkloadIngress, WorkloadIngressProps } from '../../lib';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { ingressHostProblem, ingressPathProblem } from '../../lib/workloads/workload-ingress';
import { shipshapeError } from '../support/errors';
import { validateManifest } from '../support/schema';
import { findObject, newStack, objectsOfKind, synthStack } from '../support/synth';

const web: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };

function build(stack: Stack, props: Partial<WorkloadIngressProps> = {}, workload: Partial<AntiAffinityDeploymentProps> = {}) {
  const w = new AntiAffinityDeployment(stack, 'web', { ...web, ...workload });
  return new WorkloadIngress(stack, 'ingress', { workload: w, host: 'api.example.com', ...props });
}

function synthIngress(props: Partial<WorkloadIngressProps> = {}, workload: Partial<AntiAffinityDeploymentProps> = {}) {
  const result = synthStack((stack) => build(stack, props, workload));
  return { result, ingress: findObject(result, 'Ingress', props.name ?? 'web') };
}

function error(props: Partial<WorkloadIngressProps>, workload: Partial<AntiAffinityDeploymentProps> = {}) {
  return shipshapeError(() => build(newStack(), props, workload));
}

// Hosts the API server refuses (upper case, IP addresses, ports, schemes, paths, bad wildcards) and hosts that
// pass there but never resolve as names (a numeric last label).
const HOSTILE_HOSTS = [
  '',
  'API.example.com',
  '10.0.0.1',
  '::1',
  '[::1]',
  'api.example.com:443',
  'https://api.example.com',
  'api.example.com/x',
  '*',
  '*.',
  'a.*.example.com',
  '**.example.com',
  '-api.example.com',
  'api-.example.com',
  'api..example.com',
  '.api.example.com',
  'api example.com',
  'api.example.com\n',
  'ü.example.com',
  `${'a'.repeat(64)}.example.com`,
  `${'a.'.repeat(127)}com`,
  'example.123',
  'on\u2028.com',
];
const HOSTILE_PATHS = [
  '',
  'api',
  ' /api',
  '/api?x=1',
  '/api#frag',
  '/a b',
  '/a;b',
  '/a{1}',
  '/(.*)',
  '/api/$1',
  '//x',
  '/a/./b',
  '/a/../b',
  '/a/..',
  '/a/.',
  '/%2f',
  '/a%2Fb',
  '/a\nb',
  '/ü',
  `/${'a'.repeat(1024)}`,
  '/a\\b',
  '/a"b',
  "/a'b",
];

describe('WorkloadIngress', () => {
  it('routes the host and paths to the workload Service on the nginx class, schema-valid and policy-clean', () => {
    const { result, ingress } = synthIngress({ paths: ['/', { path: '/v1/health', pathType: 'Exact' }] });
    expect(result.problems).toEqual([]);
    validateManifest(ingress);
    expect(ingress.apiVersion).toBe('networking.k8s.io/v1');
    expect(ingress.metadata).toMatchObject({ name: 'web', namespace: 'test', labels: { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/managed-by': 'shipshape' } });
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.spec.tls).toBeUndefined();
    const paths = ingress.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => ({ host: r.host, path: p.path, pathType: p.pathType, backend: p.backend.service })));
    expect(paths).toEqual(
      expect.arrayContaining([
        { host: 'api.example.com', path: '/', pathType: 'Prefix', backend: { name: 'web', port: { number: 8080 } } },
        { host: 'api.example.com', path: '/v1/health', pathType: 'Exact', backend: { name: 'web', port: { number: 8080 } } },
      ]),
    );
    expect(paths).toHaveLength(2);
    // The backend names the Service the workload actually has.
    expect(findObject(result, 'Service', 'web').spec.ports.map((p: any) => p.port)).toContain(8080);
  });

  it('defaults to "/" and the first TCP port; takes another Service port, name and class when asked', () => {
    const { ingress } = synthIngress({ name: 'public-web', servicePort: 9090, ingressClassName: 'internal' }, { ports: [{ port: 8080 }, { port: 9090, name: 'admin' }] });
    expect(ingress.spec.ingressClassName).toBe('internal');
    expect(ingress.spec.rules).toEqual([{ host: 'api.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 9090 } } } }] } }]);
    const stack = newStack();
    const first = build(
      stack,
      {},
      {
        ports: [
          { port: 5353, protocol: 'UDP', name: 'dns' },
          { port: 8080, name: 'http' },
        ],
        service: { port: 5300 },
      },
    );
    expect(first.servicePort).toBe(8080);
    expect(first.url).toBe('http://api.example.com/');
  });

  it('takes TLS from a Secret reference: a tls entry for the host, no Secret object, no annotation', () => {
    const { result, ingress } = synthIngress({ tls: { secretName: 'web-api-tls' } });
    expect(result.problems).toEqual([]);
    expect(ingress.spec.tls).toEqual([{ hosts: ['api.example.com'], secretName: 'web-api-tls' }]);
    expect(ingress.metadata.annotations).toBeUndefined();
    expect(objectsOfKind(result, 'Secret')).toEqual([]);
  });

  it.each([
    ['clusterIssuer', 'cert-manager.io/cluster-issuer'],
    ['issuer', 'cert-manager.io/issuer'],
  ] as const)('asks cert-manager for the certificate with %s, into <name>-tls by default', (field, annotation) => {
    const { result, ingress } = synthIngress({ tls: { [field]: 'letsencrypt-prod' } });
    expect(result.problems).toEqual([]);
    expect(ingress.metadata.annotations).toEqual({ [annotation]: 'letsencrypt-prod' });
    expect(ingress.spec.tls).toEqual([{ hosts: ['api.example.com'], secretName: 'web-tls' }]);
    expect(objectsOfKind(result, 'Secret')).toEqual([]);
    const stack = newStack();
    expect(build(stack, { tls: { [field]: 'letsencrypt-prod', secretName: 'api-cert' } }).url).toBe('https://api.example.com/');
  });

  it('refuses TLS without a source, with two issuers, or with names the API server refuses', () => {
    expect(error({ tls: {} }).fix).toMatch(/secretName.*clusterIssuer/);
    expect(error({ tls: { clusterIssuer: 'a', issuer: 'b' } }).message).toMatch(/both a clusterIssuer and an issuer/);
    for (const tls of [{ secretName: 'Web TLS' }, { clusterIssuer: 'Lets_Encrypt' }, { issuer: '' }]) {
      const e = error({ tls });
      expect(e.path).toBe('test/ingress');
      expect(e.message).toMatch(/tls\.(secretName|clusterIssuer|issuer) is not a valid Kubernetes object name/);
    }
  });

  it('refuses canary and cert-manager annotations, which other settings own, and keeps the rest', () => {
    expect(error({ annotations: { 'nginx.ingress.kubernetes.io/canary': 'true' } }).fix).toMatch(/CanaryRelease/);
    expect(error({ annotations: { 'cert-manager.io/cluster-issuer': 'x' } }).fix).toMatch(/tls\.clusterIssuer/);
    expect(error({ annotations: { 'bad key!': 'x' } }).message).toMatch(/invalid annotation key/);
    const { ingress } = synthIngress({ annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '8m' } });
    expect(ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/proxy-body-size': '8m' });
  });

  it.each(HOSTILE_HOSTS)('refuses the host %j with the construct path, the value and a fix', (host) => {
    const e = error({ host });
    expect(e.path).toBe('test/ingress');
    expect(e.value).toBe(host);
    expect(e.message).toMatch(/^test\/ingress: host: /);
    expect(e.fix).toMatch(/api\.example\.com/);
  });

  it.each(HOSTILE_PATHS)('refuses the path %j with the construct path, the value and a fix', (path) => {
    const e = error({ paths: ['/ok', path] });
    expect(e.path).toBe('test/ingress');
    expect(e.value).toBe(path);
    expect(e.message).toMatch(/paths\[1\]/);
    expect(e.fix).toMatch(/\/api\/v1/);
  });

  it('refuses a workload without a Service, a port the Service lacks, repeated paths and unknown path types', () => {
    expect(error({}, { service: false }).message).toMatch(/no Service/);
    expect(error({ servicePort: 9999 }).message).toMatch(/servicePort is not a TCP port of Service web/);
    expect(error({ servicePort: 5353 }, { ports: [{ port: 8080 }, { port: 5353, protocol: 'UDP' }] }).fix).toMatch(/\[8080\]/);
    expect(error({ servicePort: 0.5 }).message).toMatch(/servicePort must be an integer/);
    expect(error({ paths: ['/a', { path: '/a', pathType: 'Exact' }] }).message).toMatch(/listed twice/);
    expect(error({ paths: [] }).message).toMatch(/at least one path/);
    expect(error({ paths: [{ path: '/a', pathType: 'ImplementationSpecific' as never }] }).message).toMatch(/pathType/);
    expect(error({ name: 'Web' }).message).toMatch(/name is not a valid Kubernetes object name/);
    expect(error({ ingressClassName: 'nginx class' }).message).toMatch(/ingressClassName/);
  });

  it('writes every host and path it accepts verbatim into a schema-valid Ingress (property)', () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
    const host = fc
      .tuple(fc.boolean(), fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/))
      .map(([wild, labels, tld]) => `${wild ? '*.' : ''}${[...labels, tld].join('.')}`);
    const segment = fc.stringMatching(/^[A-Za-z0-9\-_~]([A-Za-z0-9\-._~]{0,8}[A-Za-z0-9\-_~])?$/);
    const path = fc.array(segment, { maxLength: 4 }).chain((segs) => fc.boolean().map((slash) => `/${segs.join('/')}${slash && segs.length ? '/' : ''}`));
    fc.assert(
      fc.property(host, fc.uniqueArray(path, { minLength: 1, maxLength: 3 }), fc.constantFrom('Prefix' as const, 'Exact' as const), (h, ps, pathType) => {
        // Generated values are what the checks accept (a "." segment aside, which the generator may make).
        fc.pre(ps.every((p) => ingressPathProblem(p) === undefined) && ingressHostProblem(h) === undefined);
        const result = synthStack((stack) => build(stack, { host: h, paths: ps.map((p) => ({ path: p, pathType })) }));
        const ingress = findObject(result, 'Ingress', 'web');
        validateManifest(ingress);
        expect(result.problems).toEqual([]);
        expect(ingress.spec.rules).toHaveLength(1);
        expect(ingress.spec.rules[0].host).toBe(h);
        expect(ingress.spec.rules[0].http.paths.map((p: any) => p.path).sort()).toEqual([...ps].sort());
      }),
      { numRuns: 60 },
    );
  });
});

describe('ingress-tls policy rule', () => {
  const ingress = (annotations: Record<string, string>, tls?: unknown[]): Manifest => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web', namespace: 'test', annotations },
    spec: {
      ingressClassName: 'nginx',
      rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }],
      ...(tls ? { tls } : {}),
    },
  });
  const secret = (data: Record<string, string>): Manifest => ({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'web-tls', namespace: 'test' }, data });
  const findings = (manifests: Manifest[]) =>
    evaluatePolicy(manifests.map((manifest) => ({ manifest })))
      .violations.filter((v) => v.ruleId === 'ingress-tls')
      .map((v) => v.message);

  it('accepts TLS from a Secret name or cert-manager, and no TLS at all', () => {
    expect(findings([ingress({}, [{ hosts: ['a.example.com'], secretName: 'web-tls' }])])).toEqual([]);
    expect(findings([ingress({ 'cert-manager.io/cluster-issuer': 'le' }, [{ hosts: ['a.example.com'], secretName: 'web-tls' }]), secret({})])).toEqual([]);
    expect(findings([ingress({})])).toEqual([]);
    const { result } = synthIngress({ tls: { issuer: 'internal-ca' } });
    expect(result.policy.violations).toEqual([]);
  });

  it('refuses key material in the output, a tls entry without a Secret, and an issuer with nothing to issue into', () => {
    expect(findings([ingress({}, [{ hosts: ['a.example.com'], secretName: 'web-tls' }]), secret({ 'tls.crt': 'LS0t', 'tls.key': 'LS0t' })])).toEqual([
      'tls[0] uses Secret web-tls, which carries its certificate and key in the output',
    ]);
    expect(findings([ingress({}, [{ hosts: ['a.example.com'] }])])).toEqual(['tls[0] names no secretName, so the controller serves its default self-signed certificate']);
    expect(findings([ingress({ 'cert-manager.io/issuer': 'ca' })])).toEqual(['asks cert-manager issuer "ca" for a certificate but has no tls entry with a secretName to issue it into']);
    // Synth stops at the same Secret (secret-data-inline too), naming the Ingress.
    const result = synthStack((stack) => {
      build(stack, { tls: { secretName: 'web-tls' } });
      new ApiObject(stack, 'key', secret({ 'tls.key': 'LS0t' }));
    });
    expect(result.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^\[ingress-tls\] Ingress test\/web .*Secret web-tls/)]));
  });
});
