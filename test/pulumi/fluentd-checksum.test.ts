import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { Stack } from '../../lib';
import { FluentdDaemonSet } from '../../lib/logging';
import { synthesizeStackWith } from '../../lib/core/synth';
import { StackComponent, fromInput } from '../../lib/pulumi';
import { resolveDeferredInputs } from '../../lib/pulumi/from-input';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';
import { testEnvironment } from '../support/synth';

let registered: RegisteredResource[] = [];

beforeEach(async () => {
  pulumi.runtime.setAllConfig({});
  registered = await recordResources('prod', { project: 'shipshape-logging' });
});

/** Deploys a collector archiving to `bucket` (a deploy-time value); returns its registered ConfigMap text and pod checksum. */
async function deploy(bucket: string): Promise<{ conf: string; checksum: string }> {
  registered.length = 0;
  const stack = new Stack(new App(), 'prod', { environment: testEnvironment({ name: 'prod' }) });
  new FluentdDaemonSet(stack, 'fluentd', { archive: { bucket: fromInput(pulumi.output(bucket)), region: 'eu-west-1', credentialsSecret: false } });
  const component = new StackComponent('prod', { stack });
  await settled([...component.resources.values()].map((r) => r.urn));
  const configMap = registered.find((r) => r.type === 'kubernetes:core/v1:ConfigMap' && r.inputs.metadata.name === 'fluentd-config')!;
  const daemonSet = registered.find((r) => r.type === 'kubernetes:apps/v1:DaemonSet' && r.inputs.metadata.name === 'fluentd')!;
  return { conf: configMap.inputs.data['fluent.conf'], checksum: daemonSet.inputs.spec.template.metadata.annotations['checksum/config'] };
}

describe('the Fluentd config checksum with a deploy-time value', () => {
  it('is the hash of the deployed fluent.conf, so a new value rolls the pods', async () => {
    const first = await deploy('acme-logs-2024');
    expect(first.conf).toContain('s3_bucket "acme-logs-2024"');
    expect(first.checksum).toBe(createHash('sha256').update(first.conf).digest('hex'));
    const second = await deploy('acme-logs-2025');
    expect(second.checksum).toBe(createHash('sha256').update(second.conf).digest('hex'));
    expect(second.checksum).not.toBe(first.checksum);
  });

  it('checks the resolved bucket as a literal one is checked', async () => {
    const literal = new Stack(new App(), 'prod', { environment: testEnvironment({ name: 'prod' }) });
    expect(() => new FluentdDaemonSet(literal, 'fluentd', { archive: { bucket: 'Acme_Logs', region: 'eu-west-1', credentialsSecret: false } })).toThrow(
      /^prod\/fluentd: s3\.bucket must be an S3 bucket name .*\(got "Acme_Logs"\)/,
    );
    const stack = new Stack(new App(), 'prod', { environment: testEnvironment({ name: 'prod' }) });
    new FluentdDaemonSet(stack, 'fluentd', { archive: { bucket: fromInput(pulumi.output('Acme_Logs')), region: 'eu-west-1', credentialsSecret: false } });
    const configMap = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'ConfigMap' && o.manifest.metadata.name === 'fluentd-config')!;
    const args = resolveDeferredInputs(configMap.manifest, configMap.constructPath, 'ConfigMap prod/fluentd-config') as any;
    // A refused value rejects every internal promise of the Output (value, known, secret), as a deployment sees it.
    const conf = pulumi.output(args.data['fluent.conf']) as unknown as { promise(): Promise<string>; isKnown: Promise<boolean>; isSecret: Promise<boolean> };
    await Promise.allSettled([conf.isKnown, conf.isSecret]);
    await expect(conf.promise()).rejects.toThrow(/^prod\/fluentd: s3\.bucket must be an S3 bucket name .*\(got "Acme_Logs"\)/);
  });
});
