import { describe, expect, it } from 'vitest';
import { Environment, EnvironmentProps, NodeTaint, ShipshapeError } from '../../lib';

function refusal(props: Partial<EnvironmentProps>): ShipshapeError {
  try {
    new Environment({ name: 'shop', kubernetesVersion: '1.29', ...props });
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeError);
    return e as ShipshapeError;
  }
  throw new Error('expected a ShipshapeError, nothing was thrown');
}

const group = (extra: Record<string, unknown>) => ({ nodeGroups: [{ name: 'batch', minSize: 0, maxSize: 2, ...extra }] });

describe('environment namespaces, names and node groups', () => {
  it("refuses the cluster's own namespaces as an environment namespace", () => {
    for (const namespace of ['kube-system', 'kube-public', 'kube-node-lease', 'default']) {
      const e = refusal({ namespace });
      expect(e.path).toBe('environment:shop');
      expect(e.value).toBe(namespace);
      expect(e.message).toContain('belongs to the cluster itself');
      expect(e.fix).toMatch(/choose a namespace of the environment's own/);
    }
    // An environment named "default" would take the default namespace too.
    expect(refusal({ name: 'default' }).value).toBe('default');
    expect(new Environment({ name: 'default-shop', kubernetesVersion: '1.29' }).namespace).toBe('default-shop');
  });

  it('refuses an environment named like a folder synth shares between environments', () => {
    const e = refusal({ name: 'argocd' });
    expect(e.message).toContain('dist/argocd/');
    // The namespace may keep the name.
    expect(new Environment({ name: 'gitops', namespace: 'argocd', kubernetesVersion: '1.29' }).namespace).toBe('argocd');
  });

  it('refuses a taint whose key is empty or whose effect is unknown (from JavaScript)', () => {
    const cases: [NodeTaint, RegExp][] = [
      [{ key: '', effect: 'NoSchedule' }, /taint key must be a label key/],
      [{ key: 'dedicated', effect: 'Bogus' as NodeTaint['effect'] }, /effect must be one of NoSchedule, PreferNoSchedule, NoExecute/],
      [{ key: 'dedicated', effect: undefined as unknown as NodeTaint['effect'] }, /effect must be one of/],
      [{ key: 'has space', effect: 'NoSchedule' }, /taint key/],
      [{ key: 'dedicated', value: 'a b', effect: 'NoSchedule' }, /taint value must be a label value/],
    ];
    for (const [taint, message] of cases) {
      const e = refusal(group({ taints: [taint] }));
      expect(e.path).toBe('environment:shop/nodeGroups/batch/taints[0]');
      expect(e.message).toMatch(message);
    }
    expect(() => new Environment({ name: 'shop', kubernetesVersion: '1.29', ...group({ taints: [{ key: 'example.com/dedicated', value: 'batch', effect: 'NoExecute' }] }) })).not.toThrow();
  });

  it('refuses node-group labels the API server would reject', () => {
    for (const labels of [{ 'instance group': 'batch' }, { instancegroup: 'x'.repeat(64) }, { instancegroup: 'batch\n' }, { '': 'x' }]) {
      const e = refusal(group({ labels }));
      expect(e.path).toBe('environment:shop/nodeGroups/batch');
      expect(e.message).toMatch(/labels/);
    }
  });
});
