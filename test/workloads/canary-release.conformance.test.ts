import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AntiAffinityDeployment, CanaryRelease, Manifest, ShipshapeError, WorkloadIngress } from '../../lib';
import { conformanceSuite } from '../support/conformance';
import { ApiServer, startApiServer } from '../support/envtest';
import { synthStack, testEnvironment } from '../support/synth';

/*
 * The real kube-apiserver (envtest 1.29) as the oracle for WorkloadIngress and CanaryRelease: everything they
 * accept, the server accepts; what they refuse and the server takes is refused for a documented reason of
 * ingress-nginx or DNS, never by accident.
 */

const NAMESPACE = 'test';
// The property's dry runs go to an empty namespace of their own, so nothing applied before collides.
const ORACLE = 'oracle';
const RUNS = 120;
const TIME_LIMIT_MS = 150_000;

let api: ApiServer;

/** `kubectl create --dry-run=server` on the objects: the `kind/name` of each one the server accepted. */
function serverAccepts(objects: readonly Manifest[]): { accepted: Set<string>; stderr: string } {
  const r = api.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), timeoutSeconds: 60 });
  expect(r.status, r.stderr).not.toBe(124);
  const accepted = new Set(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [resource, name] = line.split('/');
        return `${resource.split('.')[0]}/${name}`;
      }),
  );
  return { accepted, stderr: r.stderr };
}
const key = (m: Manifest) => `${m.kind.toLowerCase()}/${m.metadata.name}`;

// Stricter than the API server, on purpose (see workload-ingress.ts and canary-release.ts): a host is required (a
// rule without one answers for every name pointed at the controller), and must resolve in DNS.
const dnsOnlyHostRule = (h: string) =>
  h === '' ||
  /^[0-9]+$/.test(h.split('.').pop()!) ||
  h
    .replace(/^\*\./, '')
    .split('.')
    .some((l) => l.length > 63);
const nginxOnlyPathRule = (p: string) => !/^\/[A-Za-z0-9\-._~/]*$/.test(p) || p.length > 1024;

interface Case {
  host: string;
  path: string;
  weight: number;
  header?: string;
  headerValue?: string;
  cookie?: string;
}

function buildCase(c: Case, environment = testEnvironment()): Manifest[] {
  const result = synthStack((stack) => {
    const web = new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] });
    const stable = new WorkloadIngress(stack, 'stable-ingress', { workload: web, host: c.host, paths: [c.path], tls: { clusterIssuer: 'letsencrypt-prod' } });
    new CanaryRelease(stack, 'canary', {
      stable,
      canary: { image: 'ghcr.io/acme/web:1.1.0', ports: [{ port: 8080 }] },
      weight: c.weight,
      ...(c.header !== undefined ? { header: { name: c.header, ...(c.headerValue !== undefined ? { value: c.headerValue } : {}) } } : {}),
      ...(c.cookie !== undefined ? { cookie: c.cookie } : {}),
    });
  }, environment);
  expect(result.problems).toEqual([]);
  return result.objects.map((o) => o.manifest).filter((m) => m.kind !== 'Namespace');
}

// Valid values dominate so that cases reach the server; hostile ones come often.
const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?$/);
const validHost = fc.tuple(fc.boolean(), fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z]{2,6}$/)).map(([w, ls, tld]) => `${w ? '*.' : ''}${[...ls, tld].join('.')}`);
const oddHost = fc.constantFrom(
  '10.0.0.1',
  '01.2.3.4',
  'example.123',
  'API.example.com',
  'api.example.com:443',
  '*',
  'a.*.b',
  '*.*.b',
  '-a.b',
  'a..b',
  'a.b.',
  `${'a'.repeat(64)}.com`,
  `${'a'.repeat(63)}.com`,
  `${'a.'.repeat(126)}co`,
  `${'a.'.repeat(127)}co`,
  'ü.de',
  'a_b.com',
  'localhost',
  '::1',
);
const host = fc.oneof({ weight: 8, arbitrary: validHost }, { weight: 2, arbitrary: oddHost }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const segment = fc.stringMatching(/^[A-Za-z0-9\-._~]{1,8}$/);
const validPath = fc.array(segment, { maxLength: 3 }).map((s) => `/${s.join('/')}`);
const oddPath = fc.constantFrom(
  '',
  'api',
  '//x',
  '/a/./b',
  '/a/../b',
  '/a/..',
  '/a/.',
  '/..',
  '/.',
  '/%2f',
  '/a%2Fb',
  '/a b',
  '/a;b',
  '/(.*)',
  '/a{2}',
  '/a?b',
  '/a#b',
  '/ü',
  '/a\\b',
  '/a@b',
  '/a:b',
  '/a!b',
  '/a$b',
  `/${'a'.repeat(1030)}`,
);
const path = fc.oneof({ weight: 8, arbitrary: validPath }, { weight: 2, arbitrary: oddPath }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }).map((s) => `/${s}`) });
const token = fc.oneof(
  { weight: 10, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', 'X Canary', 'a:b', 'a\nb', 'a.b', '"x"', 'a'.repeat(129)), fc.string({ maxLength: 8 })) },
);
const caseArb: fc.Arbitrary<Case> = fc.record(
  { host, path, weight: fc.integer({ min: 1, max: 100 }), header: token, headerValue: token, cookie: token },
  { requiredKeys: ['host', 'path', 'weight'], noNullPrototype: true },
);

conformanceSuite('WorkloadIngress and CanaryRelease on the real API server', ['kubectl', 'kube-apiserver'], () => {
  beforeAll(async () => {
    api = await startApiServer();
    for (const ns of [NAMESPACE, ORACLE]) api.mustKubectl(['create', 'namespace', ns]);
  }, 180_000);

  afterAll(async () => {
    await api?.stop();
  });

  it('stores a weighted, header- and cookie-routed canary release as written, and the stable Service selects only stable pods', () => {
    const objects = buildCase({ host: 'api.example.com', path: '/v1', weight: 10, header: 'X-Canary', headerValue: 'v2', cookie: 'canary_v2' });
    api.mustKubectl(['apply', '--server-side', '--validate=strict', '--field-manager=shipshape', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
      timeoutSeconds: 90,
    });
    for (const name of ['web', 'web-canary']) {
      const stored = JSON.parse(api.mustKubectl(['get', 'ingress', name, '-n', NAMESPACE, '-o', 'json']));
      const written = objects.find((o) => o.kind === 'Ingress' && o.metadata.name === name)!;
      expect(stored.metadata.annotations).toEqual(written.metadata.annotations);
      expect(stored.spec).toEqual(written.spec);
    }
    // Bare pods from each Deployment's template (no controller-manager here), then the Services' selectors as the
    // server evaluates them.
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    const pods = deployments.map((d) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${d.metadata.name}-pod`, namespace: NAMESPACE, labels: d.spec.template.metadata.labels },
      spec: d.spec.template.spec,
    }));
    api.mustKubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }) });
    const selected = (service: string) => {
      const selector = objects.find((o) => o.kind === 'Service' && o.metadata.name === service)!.spec.selector as Record<string, string>;
      return api
        .mustKubectl([
          'get',
          'pods',
          '-n',
          NAMESPACE,
          '-o',
          'name',
          '-l',
          Object.entries(selector)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        ])
        .split('\n')
        .filter(Boolean);
    };
    expect(selected('web')).toEqual(['pod/web-pod']);
    expect(selected('web-canary')).toEqual(['pod/web-canary-pod']);
    // Each PodDisruptionBudget counts only its own release's pods.
    for (const budget of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const labels = Object.entries(budget.spec.selector.matchLabels as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      expect(api.mustKubectl(['get', 'pods', '-n', NAMESPACE, '-o', 'name', '-l', labels]).trim()).toBe(`pod/${budget.metadata.name}-pod`);
    }
    expect(
      objects
        .filter((o) => o.kind === 'PodDisruptionBudget')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['web', 'web-canary']);
    expect(api.mustKubectl(['get', 'pods', '-n', NAMESPACE, '-o', 'name', '-l', 'shipshape.io/track=canary']).trim()).toBe('pod/web-canary-pod');
  }, 120_000);

  it('gives a LoadBalancer Service with externalTrafficPolicy Local a health-check node port, and a NodePort one none', () => {
    const objects = synthStack((stack) => {
      new AntiAffinityDeployment(stack, 'edge', { name: 'edge', image: 'ghcr.io/acme/edge:1.0.0', ports: [{ port: 8443 }], service: { type: 'LoadBalancer', port: 443 } });
      new AntiAffinityDeployment(stack, 'node', { name: 'node', image: 'ghcr.io/acme/edge:1.0.0', ports: [{ port: 8443 }], service: { type: 'NodePort' } });
    }, testEnvironment())
      .objects.map((o) => o.manifest)
      .filter((m) => m.kind === 'Service');
    api.mustKubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    const stored = (name: string) => JSON.parse(api.mustKubectl(['get', 'service', name, '-n', NAMESPACE, '-o', 'json'])).spec;
    const lb = stored('edge');
    expect(lb.externalTrafficPolicy).toBe('Local');
    // Allocated by the API server from the NodePort range, next to the Service's own node port.
    expect(lb.healthCheckNodePort).toBeGreaterThanOrEqual(30000);
    expect(lb.healthCheckNodePort).toBeLessThanOrEqual(32767);
    expect(lb.healthCheckNodePort).not.toBe(lb.ports[0].nodePort);
    const np = stored('node');
    expect(np.externalTrafficPolicy).toBe('Local');
    expect(np.healthCheckNodePort).toBeUndefined();
  }, 60_000);

  it('accepts everything shipshape accepts, and refuses what shipshape takes only for ingress-nginx or DNS reasons (property)', async () => {
    const tally = { bothAccept: 0, bothRefuse: 0, stricterHost: 0, stricterPath: 0, stricterRouting: 0 };
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        // kubectl runs synchronously: give the test runner's own messages a turn between cases.
        await new Promise((resolve) => setImmediate(resolve));
        // A bare Ingress with the same host and path tells what the server itself thinks of them.
        const probe = {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'probe', namespace: ORACLE },
          spec: { ingressClassName: 'nginx', rules: [{ host: c.host, http: { paths: [{ path: c.path, pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 8080 } } } }] } }] },
        };
        let objects: Manifest[] | undefined;
        let refusal: ShipshapeError | undefined;
        try {
          objects = buildCase(c, testEnvironment({ name: ORACLE }));
        } catch (e) {
          if (!(e instanceof ShipshapeError)) throw e;
          refusal = e;
        }
        const { accepted, stderr } = serverAccepts([probe, ...(objects ?? [])]);
        const probeAccepted = accepted.has('ingress/probe');
        if (objects) {
          expect(probeAccepted, stderr).toBe(true);
          for (const m of objects) expect(accepted.has(key(m)), `${key(m)}: ${stderr}`).toBe(true);
          tally.bothAccept++;
          return;
        }
        const e = refusal!;
        expect(e.path).toMatch(/^oracle\/(stable-ingress|canary)$/);
        expect(e.fix.length).toBeGreaterThan(10);
        if (!probeAccepted) {
          tally.bothRefuse++;
        } else if (/: host: /.test(e.message)) {
          expect(dnsOnlyHostRule(c.host), `${JSON.stringify(c.host)} refused: ${e.message}`).toBe(true);
          tally.stricterHost++;
        } else if (/paths\[0\]/.test(e.message)) {
          expect(nginxOnlyPathRule(c.path), `${JSON.stringify(c.path)} refused: ${e.message}`).toBe(true);
          tally.stricterPath++;
        } else {
          // Annotation values are free text to the API server; ingress-nginx's validation is the one that refuses.
          expect(e.message).toMatch(/(header\.name|header\.value|cookie) must be 1-128 letters, digits, "-" or "_"/);
          expect(e.value).toBe([c.header, c.headerValue, c.cookie].find((v) => v === e.value));
          tally.stricterRouting++;
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    console.log(`canary-release oracle: ${JSON.stringify(tally)}`);
    expect(tally.bothAccept).toBeGreaterThan(0);
    expect(tally.bothRefuse).toBeGreaterThan(0);
  }, 240_000);
});
