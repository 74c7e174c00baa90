import * as fc from 'fast-check';
import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Manifest, ShipshapeError } from '../../lib';
import { PolicySubject, evaluatePolicy } from '../../lib/core/policy/engine';
import { cpuMillicores, isPositiveQuantity, quantityValue, sizeMebibytes } from '../../lib/core/quantities';
import { Elasticsearch, Kibana } from '../../lib/logging';
import { newStack } from '../support/synth';
import { acceptsOrRefuses, shipshapeError } from '../support/errors';

const web = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };
const resources = (cpu: kplus.Cpu, request: Size, limit: Size): kplus.ContainerResources => ({ cpu: { request: cpu }, memory: { request, limit } });

describe('quantities', () => {
  it('refuses NaN, Infinity, negative and zero CPU, naming the path and printing the value as written', () => {
    for (const [cpu, shown] of [
      [kplus.Cpu.units(NaN), '"NaN"'],
      [kplus.Cpu.units(Infinity), '"Infinity"'],
      [kplus.Cpu.units(-1), '"-1"'],
      [kplus.Cpu.millis(-250), '"-250m"'],
      [kplus.Cpu.millis(0), '"0m"'],
    ] as const) {
      const e = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, resources: resources(cpu, Size.mebibytes(128), Size.mebibytes(256)) }));
      expect(e.path).toBe('test/web');
      expect(e.message).toContain(`resources.cpu.request must be a finite, positive CPU amount`);
      expect(e.message).toContain(`(got ${shown})`);
      expect(e.fix).toMatch(/Cpu.millis/);
    }
    expect(
      shipshapeError(
        () =>
          new AntiAffinityDeployment(newStack(), 'web', {
            ...web,
            sidecars: [{ name: 'proxy', image: 'envoy:1.30.1', resources: resources(kplus.Cpu.millis(0), Size.mebibytes(64), Size.mebibytes(64)) }],
          }),
      ).message,
    ).toContain('sidecars[0].resources.cpu.request');
  });

  it('refuses NaN, Infinity and zero memory; the error prints NaN and Infinity as such, not null', () => {
    const nan = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, resources: resources(kplus.Cpu.millis(100), Size.mebibytes(NaN), Size.mebibytes(256)) }));
    expect(nan.message).toContain('resources.memory.request must be a finite, positive Size (got NaN)');
    const inf = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, resources: resources(kplus.Cpu.millis(100), Size.mebibytes(128), Size.gibibytes(Infinity)) }));
    expect(inf.message).toContain('(got Infinity)');
    const zero = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, resources: resources(kplus.Cpu.millis(100), Size.mebibytes(128), Size.mebibytes(0)) }));
    expect(zero.message).toContain('resources.memory.limit must be a finite, positive Size');
    expect(zero.message).toContain('a zero memory limit');
    const fraction = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, resources: resources(kplus.Cpu.millis(100), Size.kibibytes(1000), Size.mebibytes(256)) }));
    expect(fraction.message).toContain('not a whole number of mebibytes');
  });

  it('refuses a Size above 2^63 bytes, which would be written in exponent notation ("1.024e+24Mi")', () => {
    const huge = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, resources: resources(kplus.Cpu.millis(100), Size.mebibytes(128), Size.gibibytes(1e21)) }));
    expect(huge.path).toBe('test/web');
    expect(huge.message).toContain('resources.memory.limit is larger than 8 EiB (2^63 bytes)');
    expect(huge.message).toContain('(got 1.024e+24)');
    expect(huge.fix).toMatch(/Size.gibibytes/);
    const stack = newStack();
    expect(shipshapeError(() => new Elasticsearch(stack, 'es', { storage: { size: Size.tebibytes(2 ** 24) } })).path).toBe('test/es');
    // 2^63 bytes itself is still a quantity: 8796093022208Mi.
    expect(sizeMebibytes('p', 'memory', Size.mebibytes(2 ** 43))).toBe(2 ** 43);
    expect(() => sizeMebibytes('p', 'memory', Size.mebibytes(2 ** 43 + 1))).toThrow(ShipshapeError);
  });

  it('gives a JavaScript caller passing strings a ShipshapeError, not a TypeError', () => {
    const asString = shipshapeError(
      () =>
        new AntiAffinityDeployment(newStack(), 'web', {
          ...web,
          resources: { cpu: { request: '100m' as unknown as kplus.Cpu }, memory: { request: '128Mi' as unknown as Size, limit: Size.mebibytes(256) } },
        }),
    );
    expect(asString.message).toContain('resources.cpu.request must be a finite, positive CPU amount (a Cpu object)');
    const stack = newStack();
    const kibana = shipshapeError(() => new Kibana(stack, 'kibana', { elasticsearch: new Elasticsearch(stack, 'es'), memory: '1Gi' as unknown as Size }));
    expect(kibana.message).toMatch(/memory must be a finite, positive Size \(a Size object, not the string "1Gi"\)/);
  });

  it('converts every finite positive amount and refuses every other number, never with another error (property)', () => {
    const number = fc.oneof(fc.double(), fc.integer({ min: -5, max: 5 }), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0));
    const conversions = [(n: number) => cpuMillicores('p', 'cpu', kplus.Cpu.millis(n)), (n: number) => sizeMebibytes('p', 'memory', Size.kibibytes(Math.abs(n)))];
    acceptsOrRefuses(
      fc.tuple(number, fc.constantFrom(...conversions)),
      ([n, convert]) => {
        const value = convert(n);
        expect(Number.isFinite(value) && value > 0).toBe(true);
      },
      { numRuns: 1000, atLeast: { accepted: 50, refused: 50 } },
    );
  });

  it('reads Kubernetes quantities, and counts a zero as no request', () => {
    expect(quantityValue('250m')).toBe(0.25);
    expect(quantityValue('512Mi')).toBe(512 * 2 ** 20);
    expect(quantityValue('1e3')).toBe(1000);
    expect(quantityValue(2)).toBe(2);
    for (const q of ['0', '0m', '0Mi', '0.0', 0, '-1', 'NaN', 'Infinity', '', undefined, '1 Gi']) expect(isPositiveQuantity(q), String(q)).toBe(false);
    for (const q of ['1m', '0.5', '1Ki', 1]) expect(isPositiveQuantity(q), String(q)).toBe(true);
  });
});

describe('policy treats a zero request as missing', () => {
  const LABELS = { 'app.kubernetes.io/name': 'web' };
  const deployment = (requests: Record<string, string>, limits: Record<string, string>): Manifest => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'test' },
    spec: {
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'web:1.0.0',
              resources: { requests, limits },
              livenessProbe: { tcpSocket: { port: 80 } },
              readinessProbe: { tcpSocket: { port: 80 } },
              securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  });
  const hpa: Manifest = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'test' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 1,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 40 } } }],
    },
  };
  const findings = (...manifests: Manifest[]) => evaluatePolicy(manifests.map((manifest): PolicySubject => ({ manifest, constructPath: `test/${manifest.kind}` }))).violations;

  it('fails container-resources on a 0m CPU request and a 0Mi memory limit', () => {
    const v = findings(deployment({ cpu: '0m', memory: '128Mi' }, { memory: '0Mi' })).filter((f) => f.ruleId === 'container-resources');
    expect(v).toHaveLength(1);
    expect(v[0].message).toContain('requests.cpu, limits.memory above zero');
    expect(findings(deployment({ cpu: '100m', memory: '128Mi' }, { memory: '256Mi' })).filter((f) => f.ruleId === 'container-resources')).toEqual([]);
  });

  it('fails autoscaler-target for an HPA scaling on a 0m CPU request', () => {
    const v = findings(deployment({ cpu: '0m', memory: '128Mi' }, { memory: '256Mi' }), hpa).filter((f) => f.ruleId === 'autoscaler-target');
    expect(v.map((f) => f.message)).toEqual([expect.stringContaining('requests no cpu above zero')]);
  });
});
