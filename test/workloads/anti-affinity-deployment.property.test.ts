import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, MetricsServer, ShipshapeError, synthesizeStack } from '../../lib';
import { validateManifest } from '../support/schema';
import { newStack, testEnvironment } from '../support/synth';

const countOrPercent = fc.oneof(
  fc.integer({ min: -1, max: 6 }),
  fc.integer({ min: 0, max: 120 }).map((n) => `${n}%` as const),
);

const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);

/** Image references: registries with and without ports, nested paths, tags and digests, and broken ones. */
const reference = fc
  .record({
    registry: fc.option(
      fc.oneof(
        fc.constantFrom('ghcr.io', 'registry.example.com', 'quay.io'),
        fc.tuple(label, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}.internal:${p}`),
      ),
      { nil: undefined },
    ),
    path: fc.array(label, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')),
    ref: fc.oneof(
      { weight: 4, arbitrary: fc.stringMatching(/^v?[0-9]{1,2}\.[0-9]{1,2}(\.[0-9]{1,3})?(-[a-z0-9]{1,6})?$/).map((t) => `:${t}`) },
      { weight: 2, arbitrary: fc.stringMatching(/^[a-f0-9]{64}$/).map((d) => `@sha256:${d}`) },
      { weight: 1, arbitrary: fc.constantFrom('', ':latest') },
    ),
  })
  .map(({ registry, path, ref }) => `${registry ? `${registry}/` : ''}${path}${ref}`);
const image = fc.oneof({ weight: 5, arbitrary: reference }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });

const props: fc.Arbitrary<AntiAffinityDeploymentProps> = fc.record(
  {
    name: fc.oneof({ weight: 5, arbitrary: label }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }),
    image,
    replicas: fc.integer({ min: 0, max: 12 }),
    ports: fc.array(fc.record({ port: fc.integer({ min: 0, max: 70000 }) }), { maxLength: 3 }),
    antiAffinity: fc.constantFrom('preferred' as const, 'required' as const),
    nodeGroup: fc.constantFrom('webapi', 'batch', 'gpu'),
    zoneSpread: fc.boolean(),
    autoscaling: fc.oneof(
      fc.constant(false as const),
      fc.record({ minReplicas: fc.integer({ min: 0, max: 8 }), maxReplicas: fc.integer({ min: 1, max: 15 }), cpuUtilization: fc.integer({ min: 0, max: 120 }) }),
    ),
    disruptionBudget: fc.oneof(fc.record({ maxUnavailable: countOrPercent }), fc.record({ minAvailable: countOrPercent })),
    strategy: fc.oneof(fc.constant({ type: 'Recreate' as const }), fc.record({ type: fc.constant('RollingUpdate' as const), maxSurge: countOrPercent, maxUnavailable: countOrPercent })),
  },
  { requiredKeys: ['name', 'image'] },
) as fc.Arbitrary<AntiAffinityDeploymentProps>;

/** Environments: generated names, zero to four zones, and node-group sizes. */
const environment = fc.record({
  name: label,
  zones: fc.uniqueArray(fc.stringMatching(/^[a-z]{2}-[a-z]{4,9}-[1-3][a-c]$/), { maxLength: 4 }),
  replicas: fc.integer({ min: 1, max: 5 }),
  webapiMax: fc.integer({ min: 1, max: 12 }),
  batchMax: fc.integer({ min: 1, max: 4 }),
});

describe('AntiAffinityDeployment properties', () => {
  it('either synthesizes schema-valid, policy-clean objects or throws a ShipshapeError naming the path and the fix', () => {
    let built = 0;
    let rejected = 0;
    fc.assert(
      fc.property(environment, props, (e, p) => {
        const stack = newStack(
          testEnvironment({
            name: e.name,
            zones: e.zones,
            replicas: e.replicas,
            nodeGroups: [
              { name: 'webapi', minSize: 1, maxSize: e.webapiMax },
              { name: 'batch', minSize: 0, maxSize: e.batchMax, taints: [{ key: 'instancegroup', value: 'batch', effect: 'NoSchedule' }] },
            ],
          }),
        );
        // Generated HPAs need the resource metrics API in the same output.
        new MetricsServer(stack, 'metrics-server');
        try {
          new AntiAffinityDeployment(stack, 'web', p);
        } catch (err) {
          expect(err).toBeInstanceOf(ShipshapeError);
          expect((err as Error).message).toMatch(new RegExp(`^${e.name}/web: .+ Fix: .+`, 's'));
          rejected++;
          return;
        }
        const result = synthesizeStack(stack);
        expect(result.problems).toEqual([]);
        for (const o of result.objects) validateManifest(o.manifest);
        built++;
      }),
      { numRuns: 300 },
    );
    // Both branches must actually be exercised, or the property says nothing.
    expect(built).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(10);
  });

  it('never lets replicas exceed the node group under required anti-affinity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), (replicas, maxSize) => {
        const environment = testEnvironment({ nodeGroups: [{ name: 'webapi', minSize: 1, maxSize }] });
        const build = () =>
          new AntiAffinityDeployment(newStack(environment), 'web', {
            name: 'web',
            image: 'web:1.0.0',
            ports: [{ port: 80 }],
            replicas,
            antiAffinity: 'required',
            nodeGroup: 'webapi',
            autoscaling: false,
            strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 },
          });
        if (replicas > maxSize) expect(build).toThrow(ShipshapeError);
        else expect(build).not.toThrow();
      }),
      { numRuns: 100 },
    );
  });
});
