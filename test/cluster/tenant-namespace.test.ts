import { Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-27';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { App } from 'cdk8s';
import { ShipshapeError, Stack, synthesizeStack } from '../../lib';
import { TeamAccess, TenantNamespace, TenantNamespaceProps } from '../../lib/cluster';
import { RESERVED_NAMESPACES } from '../../lib/core/environment';
import { applyTier } from '../../lib/core/ordering';
import { quantityValue } from '../../lib/core/quantities';
import { isDns1123Label } from '../../lib/core/validate';
import { environments } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';
import { findObject, newStack, objectsOfKind, synthStack, testEnvironment } from '../support/synth';
import { expectValidAndClean, shipshapeError } from '../support/cluster';

const QUOTA: TenantNamespaceProps['quota'] = {
  requests: { cpu: Cpu.units(4), memory: Size.gibibytes(8) },
  pods: 50,
  services: 10,
  persistentVolumeClaims: 5,
};

function tenant(props: Partial<TenantNamespaceProps> = {}, stack: Stack = newStack()): TenantNamespace {
  return new TenantNamespace(stack, 'payments', { name: 'payments', quota: QUOTA, ...props });
}

describe('TenantNamespace', () => {
  it('creates the namespace with restricted Pod Security for enforce, audit and warn, pinned to the environment minor', () => {
    const result = synthStack((stack) => tenant({}, stack), testEnvironment({ kubernetesVersion: '1.30' }));
    expectValidAndClean(result);
    const ns = findObject(result, 'Namespace', 'payments');
    expect(ns.metadata.namespace).toBeUndefined();
    for (const mode of ['enforce', 'audit', 'warn']) {
      expect(ns.metadata.labels![`pod-security.kubernetes.io/${mode}`]).toBe('restricted');
      expect(ns.metadata.labels![`pod-security.kubernetes.io/${mode}-version`]).toBe('v1.30');
    }
    expect(ns.metadata.labels!['app.kubernetes.io/component']).toBe('tenant');
    // Namespace, quota, limits, default deny, DNS.
    expect(
      result.objects
        .filter((o) => o.manifest.metadata.namespace === 'payments' || o.manifest.metadata.name === 'payments')
        .map((o) => `${o.manifest.kind}/${o.manifest.metadata.name}`)
        .sort(),
    ).toEqual(['LimitRange/payments-limits', 'Namespace/payments', 'NetworkPolicy/payments-allow-dns', 'NetworkPolicy/payments-default-deny', 'ResourceQuota/payments-quota']);
  });

  it('applies the LimitRange and the ResourceQuota before any workload, so no pod is admitted without its defaults', () => {
    for (const kind of ['LimitRange', 'ResourceQuota']) {
      expect(applyTier(kind)).toBeGreaterThan(applyTier('Namespace'));
      for (const workload of ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']) expect(applyTier(kind)).toBeLessThan(applyTier(workload));
    }
  });

  it('writes a ResourceQuota with requests, limits, counts and no LoadBalancer or NodePort Services by default', () => {
    const result = synthStack((stack) =>
      tenant({ quota: { ...QUOTA, limits: { cpu: Cpu.units(8), memory: Size.gibibytes(12) }, storage: Size.gibibytes(100) }, containerDefaults: { cpu: { limit: Cpu.millis(500) } } }, stack),
    );
    expectValidAndClean(result);
    const quota = findObject(result, 'ResourceQuota', 'payments-quota');
    expect(quota.metadata.namespace).toBe('payments');
    expect((quota as any).spec.hard).toEqual({
      'requests.cpu': '4',
      'requests.memory': '8192Mi',
      'limits.cpu': '8',
      'limits.memory': '12288Mi',
      pods: 50,
      services: 10,
      'services.loadbalancers': 0,
      'services.nodeports': 0,
      persistentvolumeclaims: 5,
      'requests.storage': '102400Mi',
    });
  });

  it('counts memory limits at twice the requests and leaves CPU limits out unless asked', () => {
    const hard = (
      findObject(
        synthStack((stack) => tenant({}, stack)),
        'ResourceQuota',
        'payments-quota',
      ) as any
    ).spec.hard;
    expect(hard['limits.memory']).toBe('16384Mi');
    expect(hard['limits.cpu']).toBeUndefined();
    const granted = (
      findObject(
        synthStack((stack) => tenant({ quota: { ...QUOTA, loadBalancers: 1, nodePorts: 2 } }, stack)),
        'ResourceQuota',
        'payments-quota',
      ) as any
    ).spec.hard;
    expect([granted['services.loadbalancers'], granted['services.nodeports']]).toEqual([1, 2]);
  });

  it('gives containers without resources the practice defaults through a LimitRange: 100m and 128Mi requested, 256Mi limit, no CPU limit', () => {
    const limits = (
      findObject(
        synthStack((stack) => tenant({}, stack)),
        'LimitRange',
        'payments-limits',
      ) as any
    ).spec.limits;
    expect(limits).toEqual([{ type: 'Container', defaultRequest: { cpu: '100m', memory: '128Mi' }, default: { memory: '256Mi' } }]);
  });

  it('keeps the default memory limit within a smaller maximum', () => {
    const limits = (
      findObject(
        synthStack((stack) => tenant({ containerMaximum: { memory: Size.mebibytes(200) } }, stack)),
        'LimitRange',
        'payments-limits',
      ) as any
    ).spec.limits;
    expect(limits[0].default).toEqual({ memory: '200Mi' });
  });

  it('writes a maximum, and makes it the default CPU limit as Kubernetes would', () => {
    const limits = (
      findObject(
        synthStack((stack) =>
          tenant(
            {
              containerMaximum: { cpu: Cpu.units(2), memory: Size.gibibytes(2) },
              containerDefaults: { cpu: { request: Cpu.millis(250) }, memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) } },
            },
            stack,
          ),
        ),
        'LimitRange',
        'payments-limits',
      ) as any
    ).spec.limits;
    expect(limits).toEqual([{ type: 'Container', defaultRequest: { cpu: '250m', memory: '256Mi' }, default: { cpu: '2', memory: '512Mi' }, max: { cpu: '2', memory: '2048Mi' } }]);
  });

  it('denies all ingress and egress, then allows DNS to CoreDNS in kube-system on UDP and TCP 53', () => {
    const result = synthStack((stack) => tenant({}, stack));
    expect((findObject(result, 'NetworkPolicy', 'payments-default-deny') as any).spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect((findObject(result, 'NetworkPolicy', 'payments-allow-dns') as any).spec).toEqual({
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    });
  });

  it('allows named peers: other tenant namespaces, labelled pods, with ports', () => {
    let payments!: TenantNamespace;
    const result = synthStack((stack) => {
      const ledger = new TenantNamespace(stack, 'ledger', { name: 'ledger', quota: QUOTA });
      payments = tenant(
        {
          allow: [
            {
              name: 'from-ingress',
              direction: 'ingress',
              peer: { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
              ports: [{ port: 8080 }],
              pods: { 'app.kubernetes.io/name': 'checkout' },
            },
            { name: 'to-ledger', direction: 'egress', peer: { namespace: ledger, podLabels: { app: 'ledger-api' } }, ports: [{ port: 'grpc' }] },
            { name: 'web-to-cache', direction: 'egress', peer: { podLabels: { app: 'cache' } }, ports: [{ port: 6379 }, { port: 6379, protocol: 'UDP' }] },
          ],
        },
        stack,
      );
    });
    expectValidAndClean(result);
    expect(payments.allowPolicies.map((p) => p.name)).toEqual(['payments-allow-dns', 'payments-allow-from-ingress', 'payments-allow-to-ledger', 'payments-allow-web-to-cache']);
    expect((findObject(result, 'NetworkPolicy', 'payments-allow-from-ingress') as any).spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'checkout' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } }],
          ports: [{ protocol: 'TCP', port: 8080 }],
        },
      ],
    });
    expect((findObject(result, 'NetworkPolicy', 'payments-allow-to-ledger') as any).spec.egress).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ledger' } }, podSelector: { matchLabels: { app: 'ledger-api' } } }], ports: [{ protocol: 'TCP', port: 'grpc' }] },
    ]);
    // No namespace: pods of this namespace.
    expect((findObject(result, 'NetworkPolicy', 'payments-allow-web-to-cache') as any).spec.egress[0].to).toEqual([{ podSelector: { matchLabels: { app: 'cache' } } }]);
    // ledger: deny and DNS; payments: deny, DNS and three rules.
    expect(objectsOfKind(result, 'NetworkPolicy')).toHaveLength(2 + 5);
  });

  it('lets a TeamAccess target it: one Namespace, the Role and ServiceAccounts inside the tenant', () => {
    const result = synthStack((stack) => {
      const payments = tenant({}, stack);
      const access = new TeamAccess(stack, 'payments-access', { namespace: payments, serviceAccounts: ['developer1'], preset: 'deployer' });
      expect(access.namespace).toBe(payments.namespace);
    });
    expectValidAndClean(result);
    expect(
      objectsOfKind(result, 'Namespace')
        .map((n) => n.metadata.name)
        .sort(),
    ).toEqual(['payments', 'test']);
    expect(findObject(result, 'Namespace', 'payments').metadata.labels!['pod-security.kubernetes.io/audit']).toBe('restricted');
    expect(findObject(result, 'RoleBinding', 'payments-deployer').metadata.namespace).toBe('payments');
    expect(findObject(result, 'ServiceAccount', 'developer1').metadata.namespace).toBe('payments');
  });

  it('makes synth refuse a TeamAccess that names the tenant by string: the Namespace would be written twice', () => {
    const result = synthStack((stack) => {
      tenant({}, stack);
      new TeamAccess(stack, 'payments-access', { namespace: 'payments', serviceAccounts: ['developer1'], preset: 'read-only' });
    });
    expect(result.problems.join('\n')).toMatch(/Namespace.*payments.*also defined by/);
  });

  it('refuses a TenantNamespace of another stack, for a TeamAccess and as a peer', () => {
    const other = tenant({}, newStack(testEnvironment({ name: 'other' })));
    const stack = newStack();
    expect(shipshapeError(() => new TeamAccess(stack, 'access', { namespace: other, serviceAccounts: ['a'], preset: 'read-only' })).message).toMatch(/another stack/);
    expect(
      shipshapeError(() => new TenantNamespace(stack, 'x', { name: 'x', quota: QUOTA, allow: [{ name: 'o', direction: 'egress', peer: { namespace: other }, ports: [{ port: 80 }] }] })).message,
    ).toMatch(/allow\[0\]\.peer\.namespace is a TenantNamespace of another stack/);
  });

  it('lets a namespace enforce less than restricted only with a reason, which the summary lists', () => {
    expect(shipshapeError(() => tenant({ podSecurity: { enforce: 'baseline' } })).message).toMatch(/podSecurity.enforce 'baseline'.*Fix: set podSecurity.reason/);
    const result = synthStack((stack) => tenant({ podSecurity: { enforce: 'baseline', warn: 'restricted', reason: 'the legacy payment gateway image runs as root until it is rebuilt' } }, stack));
    expect(result.problems).toEqual([]);
    expect(findObject(result, 'Namespace', 'payments').metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('baseline');
    expect(result.policy.exemptions.map((e) => `${e.ruleId} ${e.object}: ${e.reason}`)).toContainEqual(expect.stringMatching(/^pod-security Namespace payments: the legacy payment gateway/));
    expect(shipshapeError(() => tenant({ podSecurity: { warn: 'strict' as never } })).message).toMatch(/podSecurity.warn must be a Pod Security Standard/);
  });

  describe('refuses bad input with the path, the value and the fix', () => {
    const cases: Array<[string, Partial<TenantNamespaceProps>, RegExp]> = [
      ['a system namespace', { name: 'kube-public' }, /is not a tenant namespace/],
      ['the environment namespace', { name: 'test' }, /is not a tenant namespace/],
      ['default', { name: 'default' }, /is not a tenant namespace/],
      ['no quota', { quota: undefined as never }, /quota with requests is required/],
      ['a zero CPU quota', { quota: { ...QUOTA, requests: { cpu: Cpu.millis(0), memory: Size.gibibytes(1) } } }, /quota.requests.cpu must be a finite, positive CPU amount/],
      ['a string where a Size belongs', { quota: { ...QUOTA, requests: { cpu: Cpu.units(1), memory: '1Gi' as never } } }, /quota.requests.memory must be a finite, positive Size/],
      ['a fraction of a millicore', { quota: { ...QUOTA, requests: { cpu: Cpu.units(0.0005), memory: Size.gibibytes(1) } } }, /whole number of millicores/],
      ['a fraction of a mebibyte', { containerDefaults: { memory: { request: Size.kibibytes(1536) } } }, /containerDefaults.memory.request must be a whole number of mebibytes/],
      ['limits below requests', { quota: { ...QUOTA, limits: { memory: Size.gibibytes(4) } } }, /quota.limits.memory is below quota.requests.memory/],
      ['a CPU limit quota without a default CPU limit', { quota: { ...QUOTA, limits: { cpu: Cpu.units(8) } } }, /containerDefaults.cpu.limit gives none/],
      ['a default request above the default limit', { containerDefaults: { memory: { limit: Size.mebibytes(64) } } }, /default memory request is above the default memory limit/],
      [
        'a default above the maximum',
        { containerMaximum: { memory: Size.mebibytes(200) }, containerDefaults: { memory: { limit: Size.mebibytes(256) } } },
        /a default memory request or limit is above containerMaximum.memory/,
      ],
      ['a maximum below the default request', { containerMaximum: { memory: Size.mebibytes(100) } }, /default memory request is above the default memory limit/],
      ['defaults that do not fit the quota', { quota: { ...QUOTA, requests: { cpu: Cpu.millis(50), memory: Size.gibibytes(1) } } }, /default cpu request and limit does not fit in the quota/],
      ['a negative pod count', { quota: { ...QUOTA, pods: -1 } }, /quota.pods must be an integer from 0/],
      ['a fractional service count', { quota: { ...QUOTA, services: 1.5 } }, /quota.services must be an integer/],
      ['a rule named like the DNS rule', { allow: [{ name: 'dns', direction: 'egress', peer: { namespace: 'x' }, ports: [{ port: 53 }] }] }, /allow\[0\].name is taken \(the DNS rule/],
      [
        'two rules of one name',
        {
          allow: [
            { name: 'a', direction: 'egress', peer: { namespace: 'x' }, ports: [{ port: 1 }] },
            { name: 'a', direction: 'ingress', peer: { namespace: 'y' }, ports: [{ port: 2 }] },
          ],
        },
        /allow\[1\].name is taken by another rule/,
      ],
      ['a peer that is everything', { allow: [{ name: 'a', direction: 'ingress', peer: {}, ports: [{ port: 80 }] }] }, /allow\[0\].peer names neither a namespace nor pod labels/],
      ['empty peer labels', { allow: [{ name: 'a', direction: 'ingress', peer: { podLabels: {} }, ports: [{ port: 80 }] }] }, /allow\[0\].peer.podLabels is empty/],
      ['no ports', { allow: [{ name: 'a', direction: 'ingress', peer: { namespace: 'x' }, ports: [] }] }, /allow\[0\].ports is empty/],
      ['port 0', { allow: [{ name: 'a', direction: 'ingress', peer: { namespace: 'x' }, ports: [{ port: 0 }] }] }, /allow\[0\].ports\[0\].port must be an integer from 1 to 65535/],
      [
        'a bad port name',
        { allow: [{ name: 'a', direction: 'ingress', peer: { namespace: 'x' }, ports: [{ port: 'HTTP' }] }] },
        /allow\[0\].ports\[0\].port must be a port number or a container port name/,
      ],
      ['a bad direction', { allow: [{ name: 'a', direction: 'both' as never, peer: { namespace: 'x' }, ports: [{ port: 80 }] }] }, /allow\[0\].direction must be 'ingress' or 'egress'/],
      ['a bad peer namespace', { allow: [{ name: 'a', direction: 'egress', peer: { namespace: 'Ledger' }, ports: [{ port: 80 }] }] }, /allow\[0\].peer.namespace is not a valid Kubernetes name/],
      ['bad DNS labels', { dns: { podLabels: { 'k8s app': 'x' } } }, /dns.podLabels has an invalid label key/],
    ];
    for (const [what, props, message] of cases) {
      it(what, () => {
        const error = shipshapeError(() => tenant(props));
        expect(error.message).toMatch(message);
        expect(error.path).toBe('test/payments');
        expect(error.fix.length).toBeGreaterThan(10);
      });
    }
  });

  it('property: CPU and memory amounts are accepted exactly when request ≤ limit ≤ maximum and the defaults fit the quota, and are written as given', () => {
    const millis = fc.integer({ min: 1, max: 64_000 });
    const mib = fc.integer({ min: 1, max: 256 * 1024 });
    fc.assert(
      fc.property(
        millis,
        millis,
        fc.option(millis, { nil: undefined }),
        mib,
        mib,
        fc.option(mib, { nil: undefined }),
        millis,
        mib,
        (cpuRequest, cpuLimit, cpuMax, memRequest, memLimit, memMax, quotaCpu, quotaMem) => {
          const props: Partial<TenantNamespaceProps> = {
            quota: { ...QUOTA, requests: { cpu: Cpu.millis(quotaCpu), memory: Size.mebibytes(quotaMem) }, limits: { memory: Size.mebibytes(Math.max(quotaMem, memLimit)) } },
            containerDefaults: { cpu: { request: Cpu.millis(cpuRequest), limit: Cpu.millis(cpuLimit) }, memory: { request: Size.mebibytes(memRequest), limit: Size.mebibytes(memLimit) } },
            containerMaximum: { cpu: cpuMax === undefined ? undefined : Cpu.millis(cpuMax), memory: memMax === undefined ? undefined : Size.mebibytes(memMax) },
          };
          const ok =
            cpuRequest <= cpuLimit &&
            memRequest <= memLimit &&
            (cpuMax === undefined || cpuLimit <= cpuMax) &&
            (memMax === undefined || memLimit <= memMax) &&
            cpuRequest <= quotaCpu &&
            memRequest <= quotaMem;
          let created: TenantNamespace | undefined;
          try {
            created = tenant(props);
          } catch (e) {
            expect(e).toBeInstanceOf(ShipshapeError);
            expect(ok, (e as Error).message).toBe(false);
            return;
          }
          expect(ok).toBe(true);
          const item = (created.limitRange.toJson() as any).spec.limits[0];
          const m = (q: string) => Math.round(quantityValue(q)! * 1000);
          const mi = (q: string) => quantityValue(q)! / 2 ** 20;
          expect([m(item.defaultRequest.cpu), m(item.default.cpu), mi(item.defaultRequest.memory), mi(item.default.memory)]).toEqual([cpuRequest, cpuLimit, memRequest, memLimit]);
          if (cpuMax !== undefined) expect(m(item.max.cpu)).toBe(cpuMax);
          if (memMax !== undefined) expect(mi(item.max.memory)).toBe(memMax);
          const hard = (created.resourceQuota.toJson() as any).spec.hard;
          expect([m(hard['requests.cpu']), mi(hard['requests.memory'])]).toEqual([quotaCpu, quotaMem]);
        },
      ),
    );
  });

  it("property: a name is accepted exactly when it is a DNS label of the tenant's own, and every object name derived from it is valid", () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    const anything = fc.oneof(label, fc.string({ maxLength: 70 }), fc.constantFrom(...RESERVED_NAMESPACES, 'test', 'kube-flannel', 'a'.repeat(64)));
    fc.assert(
      fc.property(anything, label, (name, rule) => {
        const expected = isDns1123Label(name) && name !== 'test' && !name.startsWith('kube-') && !RESERVED_NAMESPACES.includes(name) && rule !== 'dns';
        let created: TenantNamespace | undefined;
        try {
          created = tenant({ name, allow: [{ name: rule, direction: 'ingress', peer: { namespace: 'ingress-nginx' }, ports: [{ port: 80 }] }] });
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect(expected, (e as Error).message).toBe(false);
          return;
        }
        expect(expected).toBe(true);
        for (const o of [created.resourceQuota, created.limitRange, created.defaultDeny, ...created.allowPolicies]) {
          expect(o.metadata.namespace).toBe(name);
          // DNS subdomain: what the API server requires of these kinds' names.
          expect(o.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
          expect(o.name.length).toBeLessThanOrEqual(253);
        }
      }),
    );
  });
});

describe('the reference platform', () => {
  it('gives the payments team a guarded namespace on the shared stage and prod clusters, none in dev', () => {
    const app = new App();
    const results = environments.map((env) => synthesizeStack(buildPlatform(app, env)));
    const byEnv = (name: string) => results.find((r) => r.environment.name === name)!;
    expect(byEnv('dev').objects.filter((o) => o.manifest.metadata.name === 'payments' || o.manifest.metadata.namespace === 'payments')).toEqual([]);
    for (const [env, cpu, pods] of [
      ['stage', '2', 20],
      ['prod', '8', 60],
    ] as const) {
      const r = byEnv(env);
      expect(r.problems).toEqual([]);
      expect(findObject(r, 'Namespace', 'payments').metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted');
      expect((findObject(r, 'ResourceQuota', 'payments-quota') as any).spec.hard).toMatchObject({ 'requests.cpu': cpu, pods, 'services.loadbalancers': 0 });
      expect((findObject(r, 'LimitRange', 'payments-limits') as any).spec.limits[0].defaultRequest).toEqual({ cpu: '100m', memory: '128Mi' });
      expect((findObject(r, 'NetworkPolicy', 'payments-default-deny') as any).spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect((findObject(r, 'NetworkPolicy', 'payments-allow-from-ingress') as any).spec.ingress[0].from[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'ingress-nginx' });
    }
  });
});
