import { describe, expect, it } from 'vitest';
import { Environment } from '../../lib';
import { deferValue, runDeferredChecks } from '../../lib/core/deferred';
import { EfkLogging, EfkLoggingProps, Elasticsearch, ElasticsearchExporter, FluentdDaemonSet, Kibana } from '../../lib/logging';
import { shipshapeError } from '../support/errors';
import { validateManifest } from '../support/schema';
import { findObject, newStack, objectsOfKind, synthStack } from '../support/synth';

const env = () => new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3 });
const ROLE = 'arn:aws:iam::123456789012:role/fluentd-archive';
const IRSA = { 'eks.amazonaws.com/role-arn': ROLE };
const ARCHIVE = { bucket: 'acme-logs', region: 'eu-west-1', retentionDays: 365 };
// A collector of its own needs an output; this one writes with the pod's identity.
const S3 = { bucket: 'acme-logs', region: 'eu-west-1', credentialsSecret: false as const };

const efk = (props: EfkLoggingProps) => synthStack((s) => new EfkLogging(s, 'logging', props), env());
const podSpec = (o: any) => o.spec.template.spec;

describe('FluentdDaemonSet cloud identity', () => {
  it('annotates the ServiceAccount with the IRSA role, and the S3 archive then writes without static keys', () => {
    const result = efk({ archive: { ...ARCHIVE, credentialsSecret: false }, fluentd: { serviceAccountAnnotations: IRSA, image: 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0' } });
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(findObject(result, 'ServiceAccount', 'fluentd').metadata.annotations).toEqual(IRSA);
    const ds = findObject(result, 'DaemonSet', 'fluentd');
    expect(podSpec(ds).serviceAccountName).toBe('fluentd');
    expect(podSpec(ds).containers[0].env.map((e: any) => e.name)).not.toContain('AWS_ACCESS_KEY_ID');
  });

  it('refuses an IRSA role beside static archive keys, which the AWS SDK would take first', () => {
    const e = shipshapeError(() => new EfkLogging(newStack(env()), 'logging', { archive: ARCHIVE, fluentd: { serviceAccountAnnotations: IRSA, image: 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0' } }));
    expect(e.message).toContain('logging/fluentd');
    expect(e.message).toContain('Secret fluentd-s3-credentials');
    expect(e.message).toContain('archive.credentialsSecret: false');
  });

  it('checks identity formats and reserved keys with the rules of AntiAffinityDeployment', () => {
    const fluentd = (serviceAccountAnnotations: Record<string, string>) => () => new FluentdDaemonSet(newStack(env()), 'fluentd', { serviceAccountAnnotations });
    const wrongArn = shipshapeError(fluentd({ 'eks.amazonaws.com/role-arn': 'fluentd-archive' }));
    expect(wrongArn.message).toContain('serviceAccountAnnotations["eks.amazonaws.com/role-arn"] is not an IAM role ARN');
    expect(wrongArn.message).toContain('arn:aws:iam::123456789012:role/shop');
    expect(shipshapeError(fluentd({ 'iam.gke.io/gcp-service-account': 'fluentd' })).message).toContain('is not a Google service account e-mail');
    expect(shipshapeError(fluentd({ 'policy.shipshape.io/exempt': 'x' })).message).toContain('is under shipshape.io');
    expect(shipshapeError(fluentd({ 'Not A Key!': 'x' })).message).toContain('serviceAccountAnnotations');
  });

  it('checks a deploy-time role once it is resolved', () => {
    const deferred = deferValue({ pulumiOutput: 'fluentd.role.arn' });
    const fluentd = new FluentdDaemonSet(newStack(env()), 'fluentd', { archive: S3, serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': deferred } });
    expect(fluentd.serviceAccount.metadata.toJson().annotations).toEqual({ 'eks.amazonaws.com/role-arn': deferred });
    expect(() => runDeferredChecks(deferred, ROLE)).not.toThrow();
    expect(shipshapeError(() => runDeferredChecks(deferred, 'fluentd-archive')).message).toContain('fluentd: serviceAccountAnnotations["eks.amazonaws.com/role-arn"] is not an IAM role ARN');
  });

  it('labels the pods for the Azure webhook with an Azure identity, and only the pods', () => {
    const result = synthStack(
      (s) => new FluentdDaemonSet(s, 'fluentd', { archive: S3, serviceAccountAnnotations: { 'azure.workload.identity/client-id': '00000000-0000-0000-0000-000000000000' } }),
      env(),
    );
    const ds = findObject(result, 'DaemonSet', 'fluentd');
    expect(ds.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
    expect(ds.metadata.labels?.['azure.workload.identity/use']).toBeUndefined();
    // The selector is immutable: the label must not enter it.
    expect(ds.spec.selector.matchLabels['azure.workload.identity/use']).toBeUndefined();
  });
});

describe('image pull Secrets of the logging components', () => {
  it('writes EfkLogging.imagePullSecrets on every logging pod, the bootstrap Job included, and lets a component override it', () => {
    const result = efk({ imagePullSecrets: ['mirror-login'], fluentd: { imagePullSecrets: ['collector-login'] } });
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(podSpec(findObject(result, 'StatefulSet', 'elasticsearch')).imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
    expect(podSpec(findObject(result, 'Deployment', 'kibana')).imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
    expect(podSpec(findObject(result, 'DaemonSet', 'fluentd')).imagePullSecrets).toEqual([{ name: 'collector-login' }]);
    const [job] = objectsOfKind(result, 'Job');
    expect(podSpec(job).imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
  });

  it('gives the bootstrap Job a new name when its pull Secrets change (a Job template is immutable)', () => {
    const jobName = (props: EfkLoggingProps) => objectsOfKind(efk(props), 'Job')[0].metadata.name;
    const none = jobName({});
    const one = jobName({ imagePullSecrets: ['mirror-login'] });
    expect(one).not.toBe(none);
    expect(jobName({ imagePullSecrets: ['other-login'] })).not.toBe(one);
  });

  it('writes the exporter pull Secrets', () => {
    const result = synthStack((s) => {
      const es = new Elasticsearch(s, 'es', { namespace: 'logging' });
      new ElasticsearchExporter(s, 'exporter', { elasticsearch: es, imagePullSecrets: ['mirror-login'] });
    }, env());
    expect(podSpec(findObject(result, 'Deployment', 'elasticsearch-exporter')).imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
    expect(podSpec(findObject(result, 'StatefulSet', 'elasticsearch')).imagePullSecrets).toBeUndefined();
  });

  it('refuses a credential or a duplicate in place of a Secret name, on every component', () => {
    const token = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
    const builds: [string, (names: string[]) => void][] = [
      ['fluentd', (names) => new FluentdDaemonSet(newStack(env()), 'fluentd', { imagePullSecrets: names })],
      ['elasticsearch', (names) => new Elasticsearch(newStack(env()), 'es', { imagePullSecrets: names })],
      [
        'kibana',
        (names) => {
          const s = newStack(env());
          new Kibana(s, 'kibana', { elasticsearch: new Elasticsearch(s, 'es'), imagePullSecrets: names });
        },
      ],
      [
        'exporter',
        (names) => {
          const s = newStack(env());
          new ElasticsearchExporter(s, 'exporter', { elasticsearch: new Elasticsearch(s, 'es'), imagePullSecrets: names });
        },
      ],
      ['efk', (names) => new EfkLogging(newStack(env()), 'logging', { imagePullSecrets: names })],
    ];
    for (const [what, build] of builds) {
      const e = shipshapeError(() => build([token]));
      expect(e.message, what).toContain('imagePullSecrets[0] must be the name of a Secret');
      expect(e.message, what).not.toContain(token);
      expect(shipshapeError(() => build(['a', 'a'])).message, what).toContain('imagePullSecrets lists "a" twice');
    }
  });

  it('writes no annotations, labels or pull Secrets when none are given', () => {
    const result = efk({});
    expect(findObject(result, 'ServiceAccount', 'fluentd').metadata.annotations).toBeUndefined();
    for (const kind of ['StatefulSet', 'Deployment', 'DaemonSet', 'Job']) {
      for (const o of objectsOfKind(result, kind)) expect(podSpec(o).imagePullSecrets, `${kind} ${o.metadata.name}`).toBeUndefined();
    }
    expect(Object.keys(findObject(result, 'DaemonSet', 'fluentd').spec.template.metadata.labels)).not.toContain('azure.workload.identity/use');
  });
});
