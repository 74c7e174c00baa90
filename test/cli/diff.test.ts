import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { diffOutputs, formatDiff, hasDifferences } from '../../lib/cli/diff';

/** The same object written with its keys in another order: a different text, the same content. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reordered(v)]),
  );
}

const manifest = (kind: string, name: string, extra: Record<string, unknown> = {}) => stringify({ apiVersion: 'v1', kind, metadata: { name, namespace: 'web' }, ...extra });

describe('diffOutputs', () => {
  const before = new Map([
    ['dev/kubernetes/configmap-a.yaml', manifest('ConfigMap', 'a', { data: { x: '1' } })],
    ['dev/kubernetes/configmap-b.yaml', manifest('ConfigMap', 'b')],
    ['dev/kubernetes/kustomization.yaml', 'resources: [configmap-a.yaml, configmap-b.yaml]\n'],
    ['dev/swarm/stack.yml', 'services: {}\n'],
    ['argocd/dev.yaml', 'kind: Application\n'],
    ['argocd/old.yaml', 'kind: Application\n'],
  ]);

  it('finds objects added, changed (by content) and removed, and files by text', () => {
    const after = new Map([
      // Same object, other key order and quoting: unchanged.
      ['dev/kubernetes/configmap-b.yaml', 'metadata: {namespace: "web", name: b}\nkind: ConfigMap\napiVersion: v1\n'],
      ['dev/kubernetes/configmap-a-renamed.yaml', manifest('ConfigMap', 'a', { data: { x: '2' } })],
      ['dev/kubernetes/secret-c.yaml', manifest('Secret', 'c')],
      ['dev/kubernetes/kustomization.yaml', 'resources: [configmap-a-renamed.yaml, configmap-b.yaml, secret-c.yaml]\n'],
      ['dev/swarm/stack.yml', 'services: {}\n# comment\n'],
      ['argocd/dev.yaml', 'kind: Application\n'],
    ]);
    const report = diffOutputs(before, after, ['dev'], ['argocd'], false);
    const dev = report.groups.find((g) => g.name === 'dev')!;
    expect(dev.objects).toEqual({ added: ['Secret web/c'], changed: ['ConfigMap web/a'], removed: [] });
    expect(dev.files).toEqual({ added: [], changed: ['swarm/stack.yml'], removed: [] });
    expect(report.groups.find((g) => g.name === 'shared')!.files).toEqual({ added: [], changed: [], removed: ['argocd/old.yaml'] });
    expect(hasDifferences(report)).toBe(true);
    // Synth of some environments says nothing about shared files it would not write.
    expect(diffOutputs(before, after, ['dev'], ['argocd'], true).groups.find((g) => g.name === 'shared')!.files.removed).toEqual([]);
    expect(hasDifferences(diffOutputs(before, before, ['dev'], ['argocd'], false))).toBe(false);
  });

  it('formats one line per environment, then each list capped with "and N more"', () => {
    const after = new Map([...before, ...Array.from({ length: 13 }, (_, i) => [`dev/kubernetes/configmap-n${i}.yaml`, manifest('ConfigMap', `n${i}`)] as [string, string])]);
    const text = formatDiff(diffOutputs(before, after, ['dev', 'prod'], ['argocd'], false), 'dist', 10);
    expect(text.split('\n').slice(0, 5)).toEqual(['shipshape diff: 1 of 2 environments differs from dist', '', '- dev: 13 objects added', '- prod: no changes', '']);
    expect(text.split('\n').filter((l) => l.startsWith('+ ConfigMap web/n'))).toHaveLength(10);
    expect(text).toContain('  … and 3 more');
  });

  it('agrees with a set comparison of the objects, whatever their key order and file names', () => {
    const object = fc.record({ kind: fc.constantFrom('ConfigMap', 'Secret', 'Service'), name: fc.constantFrom('a', 'b', 'c', 'd'), value: fc.constantFrom('1', '2') });
    fc.assert(
      fc.property(fc.array(object), fc.array(object), (old, now) => {
        const byKey = (list: typeof old) => new Map(list.map((o) => [`${o.kind} web/${o.name}`, o]));
        const a = byKey(old);
        const b = byKey(now);
        const files = (m: Map<string, (typeof old)[number]>, reorder: boolean, prefix: string) =>
          new Map(
            [...m.values()].map((o) => {
              const doc = { apiVersion: 'v1', kind: o.kind, metadata: { name: o.name, namespace: 'web' }, data: { value: o.value } };
              return [`dev/kubernetes/${prefix}${o.kind.toLowerCase()}-${o.name}.yaml`, stringify(reorder ? reordered(doc) : doc)];
            }),
          );
        const dev = diffOutputs(files(a, false, ''), files(b, true, 'renamed-'), ['dev'], [], false).groups[0];
        const keys = (m: Map<string, unknown>, keep: (k: string) => boolean) => [...m.keys()].filter(keep).sort();
        expect(dev.objects).toEqual({
          added: keys(b, (k) => !a.has(k)),
          changed: keys(b, (k) => a.has(k) && a.get(k)!.value !== b.get(k)!.value),
          removed: keys(a, (k) => !b.has(k)),
        });
        expect(dev.files).toEqual({ added: [], changed: [], removed: [] });
      }),
    );
  });
});
