import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Manifest, ManifestIndex, podTemplateOf, selectorMatches } from '../../lib/core/manifest';

// The indexed look-ups of ManifestIndex must answer exactly what a scan in object order answers.

const key = fc.constantFrom('app', 'tier', 'instance');
const value = fc.constantFrom('a', 'b', 'c');
const labels = fc.dictionary(key, value, { maxKeys: 3 });
const namespace = fc.option(fc.constantFrom('dev', 'prod'), { nil: undefined });
const selector = fc.record(
  {
    matchLabels: labels,
    matchExpressions: fc.array(fc.record({ key, operator: fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'), values: fc.array(value, { maxLength: 2 }) }), { maxLength: 1 }),
  },
  { requiredKeys: [] },
);
const name = fc.constantFrom('w1', 'w2', 'w3');

const manifest: fc.Arbitrary<Manifest> = fc.oneof(
  fc
    .record({
      kind: fc.constantFrom('Deployment', 'StatefulSet', 'Pod', 'Job'),
      name,
      namespace,
      podLabels: fc.option(labels, { nil: undefined }),
      replicas: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    })
    .map(({ kind, name: n, namespace: ns, podLabels, replicas }) => ({
      apiVersion: 'apps/v1',
      kind,
      metadata: { name: n, namespace: ns, labels: podLabels },
      spec: kind === 'Pod' ? {} : { replicas, template: { metadata: podLabels === undefined ? undefined : { labels: podLabels }, spec: {} } },
    })),
  fc.record({ name, namespace, selector: fc.option(selector, { nil: undefined }) }).map(({ name: n, namespace: ns, selector: s }) => ({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: n, namespace: ns },
    spec: { selector: s, maxUnavailable: 1 },
  })),
  fc
    .record({ name, namespace, targetKind: fc.constantFrom('Deployment', 'StatefulSet'), target: name, min: fc.integer({ min: 1, max: 3 }) })
    .map(({ name: n, namespace: ns, targetKind, target, min }) => ({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: n, namespace: ns },
      spec: { scaleTargetRef: { kind: targetKind, name: target }, minReplicas: min, maxReplicas: 5 },
    })),
);

describe('ManifestIndex', () => {
  it('answers every look-up exactly as a scan in object order', () => {
    fc.assert(
      fc.property(fc.array(manifest, { maxLength: 25 }), namespace, fc.dictionary(key, value, { minKeys: 2, maxKeys: 3 }), selector, (all, ns, podLabels, sel) => {
        const index = new ManifestIndex(all);
        for (const kind of ['Deployment', 'PodDisruptionBudget', 'HorizontalPodAutoscaler']) {
          expect(index.ofKind(kind, ns)).toEqual(all.filter((m) => m.kind === kind && (ns === undefined || m.metadata.namespace === ns)));
          expect(index.selecting(kind, ns, podLabels)).toEqual(index.ofKind(kind, ns).filter((m) => selectorMatches(m.spec?.selector, podLabels)));
        }
        expect(index.selectsPodTemplate(ns, sel)).toBe(
          all.some((w) => w.metadata.namespace === ns && w.kind !== 'Pod' && !!podTemplateOf(w) && selectorMatches(sel, podTemplateOf(w)!.metadata?.labels)),
        );
        for (const m of all) {
          const scan = all
            .filter((h) => h.kind === 'HorizontalPodAutoscaler' && (m.metadata.namespace === undefined || h.metadata.namespace === m.metadata.namespace))
            .find((h) => h.spec?.scaleTargetRef?.kind === m.kind && h.spec?.scaleTargetRef?.name === m.metadata.name);
          expect(index.autoscalerFor(m)).toBe(scan);
        }
      }),
      { numRuns: 500 },
    );
  });
});
