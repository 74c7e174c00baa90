import * as kplus from 'cdk8s-plus-27';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment } from '../../lib';
import { RULES } from '../../lib/core/policy/rules';
import { configMapKeyProblem } from '../../lib/core/validate';
import { shipshapeError } from '../support/errors';
import { newStack, synthStack } from '../support/synth';
import { CONFIG_MAP_KEY_CASES as CONFIG_MAP_KEYS } from './value-cases';

describe('ConfigMap keys', () => {
  it('refuses exactly the keys the API server refuses', () => {
    for (const key of CONFIG_MAP_KEYS.valid) expect(configMapKeyProblem(key), key).toBeUndefined();
    for (const key of CONFIG_MAP_KEYS.invalid) expect(configMapKeyProblem(key), JSON.stringify(key)).toBeDefined();
    expect(configMapKeyProblem(undefined)).toBeDefined();
  });

  it('fails synth for a cdk8s-plus ConfigMap with a key the API server refuses, naming the rule, the key and the construct', () => {
    const result = synthStack((stack) => {
      new kplus.ConfigMap(stack, 'settings', { metadata: { name: 'settings' }, data: { '.': 'x', ok: 'y', 'a/b': 'z' } });
    });
    const findings = result.problems.filter((p) => p.includes('[configmap-keys]'));
    expect(findings).toHaveLength(2);
    expect(findings[0]).toContain('ConfigMap test/settings (construct test/settings)');
    expect(findings.join('\n')).toContain('data key "."');
    expect(findings.join('\n')).toContain('data key "a/b"');
    expect(findings.every((f) => f.includes('Fix: rename the key'))).toBe(true);
  });

  it('fails a key in both data and binaryData, and passes ordinary keys', () => {
    const both = synthStack((stack) => {
      // cdk8s-plus refuses this itself; the L1 class does not.
      new kplus.k8s.KubeConfigMap(stack, 'settings', { metadata: { name: 'settings' }, data: { 'app.properties': 'x' }, binaryData: { 'app.properties': 'eA==' } });
    });
    expect(both.problems).toEqual([expect.stringContaining('[configmap-keys] ConfigMap test/settings')]);
    expect(both.problems[0]).toContain('both data and binaryData');
    const ok = synthStack((stack) => {
      new kplus.ConfigMap(stack, 'settings', { metadata: { name: 'settings' }, data: Object.fromEntries(CONFIG_MAP_KEYS.valid.map((k) => [k, 'v'])) });
    });
    expect(ok.problems).toEqual([]);
  });

  it('is a blocking rule', () => {
    expect(RULES.find((r) => r.id === 'configmap-keys')?.severity).toBe('error');
  });

  it('refuses an environment variable taken from a ConfigMap or Secret key the API server refuses', () => {
    for (const key of CONFIG_MAP_KEYS.invalid) {
      for (const source of [
        { configMap: 'settings', key },
        { secret: 'login', key },
      ]) {
        const error = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { name: 'web', image: 'ghcr.io/acme/web:1.4.2', ports: [{ port: 8080 }], env: { SETTING: source } }));
        expect(error.message, JSON.stringify(source)).toMatch(/^test\/web: env\.SETTING references an invalid (ConfigMap|Secret) key: .*Fix: name the key/s);
      }
    }
    const ok = synthStack(
      (stack) =>
        new AntiAffinityDeployment(stack, 'web', {
          name: 'web',
          image: 'ghcr.io/acme/web:1.4.2',
          ports: [{ port: 8080 }],
          env: Object.fromEntries(CONFIG_MAP_KEYS.valid.map((key, i) => [`K${i}`, { configMap: 'settings', key }])),
        }),
    );
    expect(ok.problems).toEqual([]);
  });
});
