import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, MetricsServer, ShipshapeError, synthesizeStack } from '../../lib';
import { validateManifest } from '../support/schema';
import { newStack, testEnvironment } from '../support/synth';

const countOrPercent = fc.oneof(fc.integer({ min: -1, max: 6 }), fc.integer({ min: 0, max: 120 }).map((n) => `${n}%` as const));

const props: fc.Arbitrary<AntiAffinityDeploymentProps> = fc.record(
  {
    name: fc.oneof(fc.constantFrom('web', 'api-2', 'worker'), fc.string({ maxLength: 12 })),
    image: fc.constantFrom('ghcr.io/acme/web:1.2.3', 'nginx', 'nginx:latest', 'registry:5000/app@sha256:' + 'b'.repeat(64)),
    replicas: fc.integer({ min: 0, max: 12 }),
    ports: fc.array(fc.record({ port: fc.integer({ min: 0, max: 70000 }) }), { maxLength: 3 }),
    antiAffinity: fc.constantFrom('preferred' as const, 'required' as const),
    nodeGroup: fc.constantFrom('webapi', 'batch', 'gpu'),
    zoneSpread: fc.boolean(),
    autoscaling: fc.oneof(fc.constant(false as const), fc.record({ minReplicas: fc.integer({ min: 0, max: 8 }), maxReplicas: fc.integer({ min: 1, max: 15 }), cpuUtilization: fc.integer({ min: 0, max: 120 }) })),
    disruptionBudget: fc.oneof(fc.record({ maxUnavailable: countOrPercent }), fc.record({ minAvailable: countOrPercent })),
    strategy: fc.oneof(fc.constant({ type: 'Recreate' as const }), fc.record({ type: fc.constant('RollingUpdate' as const), maxSurge: countOrPercent, maxUnavailable: countOrPercent })),
  },
  { requiredKeys: ['name', 'image'] },
) as fc.Arbitrary<AntiAffinityDeploymentProps>;

describe('AntiAffinityDeployment properties', () => {
  it('either synthesizes schema-valid, policy-clean objects or throws a ShipshapeError naming the path and the fix', () => {
    let built = 0;
    let rejected = 0;
    fc.assert(
      fc.property(props, (p) => {
        const stack = newStack(testEnvironment());
        // Generated HPAs need the resource metrics API in the same output.
        new MetricsServer(stack, 'metrics-server');
        try {
          new AntiAffinityDeployment(stack, 'web', p);
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect((e as Error).message).toMatch(/^test\/web: .+ Fix: .+/);
          rejected++;
          return;
        }
        const result = synthesizeStack(stack);
        expect(result.problems).toEqual([]);
        for (const o of result.objects) validateManifest(o.manifest);
        built++;
      }),
      { numRuns: 300, seed: 20261122 },
    );
    // Both branches must actually be exercised, or the property says nothing.
    expect(built).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(10);
  });

  it('never lets replicas exceed the node group under required anti-affinity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), (replicas, maxSize) => {
        const environment = testEnvironment({ nodeGroups: [{ name: 'webapi', minSize: 1, maxSize }] });
        const build = () => new AntiAffinityDeployment(newStack(environment), 'web', {
          name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }], replicas, antiAffinity: 'required', nodeGroup: 'webapi', autoscaling: false,
          strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 },
        });
        if (replicas > maxSize) expect(build).toThrow(ShipshapeError);
        else expect(build).not.toThrow();
      }),
      { numRuns: 100, seed: 7 },
    );
  });
});
