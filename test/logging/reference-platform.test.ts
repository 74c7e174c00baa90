import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Stack, renderFiles, synthesizeStack } from '../../lib';
import { environments } from '../../stacks/environments';
import { addLogging } from '../../stacks/logging';
import { validateManifest } from '../support/schema';
import { findObject } from '../support/synth';

function build(name: string) {
  const environment = environments.find((e) => e.name === name)!;
  const stack = new Stack(new App(), environment.name, { environment });
  const efk = addLogging(stack);
  return { efk, result: synthesizeStack(stack) };
}

describe('addLogging (reference platform)', () => {
  for (const environment of environments) {
    it(`gives ${environment.name} an EFK stack that passes schema and policy checks`, () => {
      const { result } = build(environment.name);
      expect(result.problems).toEqual([]);
      for (const o of result.objects) validateManifest(o.manifest);
      expect([...renderFiles([result]).values()].join('\n')).not.toMatch(/changeme/i);
    });
  }

  it('keeps dev small: one Elasticsearch node with a 256m heap, no archive', () => {
    const { efk, result } = build('dev');
    expect(efk.elasticsearch.replicas).toBe(1);
    expect(efk.elasticsearch.heapMiB).toEqual({ initial: 256, max: 256 });
    expect(efk.fluentd.config.outputs).toEqual(['elasticsearch']);
    expect(findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec.containers[0].env).toContainEqual({ name: 'ES_JAVA_OPTS', value: '-Xms256m -Xmx256m' });
  });

  it('makes prod highly available with the S3 archive', () => {
    const { efk, result } = build('prod');
    expect(efk.elasticsearch.replicas).toBe(3);
    expect(efk.kibana.replicas).toBe(2);
    expect(efk.fluentd.config.outputs).toEqual(['elasticsearch', 's3']);
    expect(findObject(result, 'ConfigMap', 'fluentd-config').data['fluent.conf']).toContain('s3_bucket acme-platform-logs-prod');
    expect(result.files.map((f) => f.path)).toEqual(expect.arrayContaining(['images/fluentd/Dockerfile', 'logging/acme-platform-logs-prod-lifecycle.json', 'monitoring/fluentd-alerts.rules.yml']));
  });
});
