import * as kplus from 'cdk8s-plus-27';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, CanaryRelease, MetricsServer, ShipshapeError, Stack, WorkloadIngress } from '../../lib';
import { renderManifest } from '../../lib/core/synth';
import { deferValue, runDeferredChecks } from '../../lib/core/deferred';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { shipshapeError } from '../support/errors';
import { validateManifest } from '../support/schema';
import { findObject, newStack, synthStack } from '../support/synth';

const base: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };
// One pod replaced by stopping it first: what a ReadWriteOnce claim allows.
const single: Partial<AntiAffinityDeploymentProps> = { replicas: 1, strategy: { type: 'Recreate' } };

function synthWeb(props: Partial<AntiAffinityDeploymentProps> = {}, build?: (stack: Stack) => void) {
  const result = synthStack((stack) => {
    build?.(stack);
    new AntiAffinityDeployment(stack, 'web', { ...base, ...props });
  });
  const deployment = findObject(result, 'Deployment', 'web');
  return { result, deployment, podSpec: deployment.spec.template.spec, main: deployment.spec.template.spec.containers[0] };
}

const error = (props: Partial<AntiAffinityDeploymentProps>) => shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...base, ...props }));

describe('AntiAffinityDeployment volumes', () => {
  const volumes: AntiAffinityDeploymentProps['volumes'] = [
    { mountPath: '/data', persistentVolumeClaim: 'web-data' },
    { mountPath: '/etc/web', configMap: 'web-config', items: { 'app.yaml': 'conf/app.yaml' } },
    { mountPath: '/run/secrets/db', secret: 'web-db', optional: true },
  ];

  it('mounts a claim, a ConfigMap and a Secret in the main container only, with valid names and read-only config', () => {
    const sidecar = { name: 'log-shipper', image: 'ghcr.io/acme/shipper:1.0.0', liveness: kplus.Probe.fromCommand(['true']), readiness: kplus.Probe.fromCommand(['true']) };
    const { result, podSpec, main } = synthWeb({ ...single, volumes, fsGroup: 2000, sidecars: [sidecar] });
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(podSpec.volumes).toEqual([
      { name: 'writable-0', emptyDir: {} },
      { name: 'pvc-0', persistentVolumeClaim: { claimName: 'web-data', readOnly: false } },
      { name: 'configmap-1', configMap: { name: 'web-config', items: [{ key: 'app.yaml', path: 'conf/app.yaml' }] } },
      { name: 'secret-2', secret: { secretName: 'web-db', defaultMode: 0o400, optional: true } },
    ]);
    expect(main.volumeMounts).toEqual([
      { mountPath: '/tmp', name: 'writable-0' },
      { mountPath: '/data', name: 'pvc-0' },
      { mountPath: '/etc/web', name: 'configmap-1', readOnly: true },
      { mountPath: '/run/secrets/db', name: 'secret-2', readOnly: true },
    ]);
    const shipper = podSpec.containers.find((c: any) => c.name === 'log-shipper');
    expect(shipper.volumeMounts.map((m: any) => m.mountPath)).toEqual(['/tmp']);
  });

  it('mounts a claim read-only when asked, and a ReadOnlyMany claim always read-only', () => {
    const { main, podSpec } = synthWeb({
      replicas: 3,
      volumes: [
        { mountPath: '/models', persistentVolumeClaim: 'models', accessMode: 'ReadOnlyMany' },
        { mountPath: '/shared', persistentVolumeClaim: 'shared', accessMode: 'ReadWriteMany', readOnly: true },
      ],
    });
    expect(main.volumeMounts.filter((m: any) => m.name.startsWith('pvc-'))).toEqual([
      { mountPath: '/models', name: 'pvc-0', readOnly: true },
      { mountPath: '/shared', name: 'pvc-1', readOnly: true },
    ]);
    expect(podSpec.volumes.find((v: any) => v.name === 'pvc-0').persistentVolumeClaim).toEqual({ claimName: 'models', readOnly: true });
    expect(error({ volumes: [{ mountPath: '/models', persistentVolumeClaim: 'models', accessMode: 'ReadOnlyMany', readOnly: false }] }).message).toContain('ReadOnlyMany claim mounted writable');
  });

  it('accepts a ReadWriteMany claim for many pods and a rolling update', () => {
    const { result } = synthWeb({ replicas: 3, volumes: [{ mountPath: '/shared', persistentVolumeClaim: 'shared', accessMode: 'ReadWriteMany' }] });
    expect(result.problems).toEqual([]);
  });

  it('refuses a ReadWriteOnce claim, assumed or declared, for pods on several nodes, read-only or not, naming the ways out', () => {
    for (const volume of [
      { mountPath: '/data', persistentVolumeClaim: 'web-data' },
      { mountPath: '/data', persistentVolumeClaim: 'web-data', readOnly: true },
      { mountPath: '/data', persistentVolumeClaim: 'web-data', accessMode: 'ReadWriteOncePod' as const },
    ]) {
      const e = error({ replicas: 3, volumes: [volume] });
      expect(e.message).toContain('test/web: volumes[0]');
      expect(e.message).toContain('"web-data"');
      expect(e.message).toContain('in up to 3 pods spread over nodes');
      expect(e.message).toContain('Multi-Attach');
      expect(e.message).toContain("accessMode: 'ReadWriteMany'");
      expect(e.message).toContain('StatefulSet with volumeClaimTemplates');
      if (volume.accessMode === undefined) expect(e.message).toContain('cannot see the access mode of a claim it did not create');
    }
    expect(error({ autoscaling: { minReplicas: 1, maxReplicas: 4 }, strategy: { type: 'Recreate' }, volumes: [{ mountPath: '/data', persistentVolumeClaim: 'web-data' }] }).message).toContain(
      'in up to 4 pods',
    );
  });

  it('refuses a ReadWriteOnce claim under a rolling update that starts a surge pod, and takes Recreate or maxSurge 0', () => {
    const volumes = [{ mountPath: '/data', persistentVolumeClaim: 'web-data' }];
    const e = error({ replicas: 1, volumes });
    expect(e.message).toContain('the rolling update starts the new pod before the old one stops');
    expect(e.message).toContain("strategy: { type: 'Recreate' }");
    expect(synthWeb({ replicas: 1, strategy: { type: 'Recreate' }, volumes }).podSpec.volumes).toContainEqual({ name: 'pvc-0', persistentVolumeClaim: { claimName: 'web-data', readOnly: false } });
    expect(synthWeb({ replicas: 1, strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: 1 }, volumes }).result.problems).toEqual([]);
  });

  it('refuses mount paths that are relative, climb, repeat or nest, across volumes and writablePaths', () => {
    const pvc = (mountPath: string) => ({ mountPath, configMap: 'web-config' });
    expect(error({ volumes: [pvc('etc/web')] }).message).toContain('absolute directory paths');
    expect(error({ volumes: [pvc('/etc/../web')] }).message).toContain('absolute directory paths');
    expect(error({ volumes: [pvc('/tmp')] }).message).toContain('lists "/tmp" twice');
    expect(error({ volumes: [pvc('/etc/web'), pvc('/etc/web')] }).message).toContain('lists "/etc/web" twice');
    const nested = error({ volumes: [pvc('/etc/web'), pvc('/etc/web/extra')] });
    expect(nested.message).toContain('volumes[1] mounts "/etc/web/extra" inside volumes[0]');
    expect(error({ writablePaths: ['/var/cache'], volumes: [pvc('/var/cache/web')] }).message).toContain('inside writablePaths[0]');
  });

  it('refuses a volume naming no source or two, bad object names, items that escape the mount, and a Secret without fsGroup', () => {
    expect(error({ volumes: [{ mountPath: '/x' } as never] }).message).toContain('exactly one of persistentVolumeClaim, configMap or secret');
    expect(error({ volumes: [{ mountPath: '/x', configMap: 'a', secret: 'b' } as never] }).message).toContain('exactly one of');
    expect(error({ ...single, volumes: [{ mountPath: '/x', persistentVolumeClaim: 'Web_Data' }] }).message).toContain('volumes[0].persistentVolumeClaim must name an object');
    expect(error({ volumes: [{ mountPath: '/x', configMap: 'web-config', items: { 'app.yaml': '../app.yaml' } }] }).message).toContain('relative to the mount path');
    expect(error({ volumes: [{ mountPath: '/x', configMap: 'web-config', items: { 'app.yaml': '/app.yaml' } }] }).message).toContain('relative to the mount path');
    expect(error({ volumes: [{ mountPath: '/x', configMap: 'web-config', items: { 'a b': 'ab' } }] }).message).toContain('invalid key');
    expect(error({ volumes: [{ mountPath: '/x', configMap: 'web-config', items: {} }] }).message).toContain('lists no key');
    const secret = error({ volumes: [{ mountPath: '/run/secrets/db', secret: 'web-db' }] });
    expect(secret.message).toContain('mode 0400');
    expect(secret.message).toContain('set fsGroup');
  });

  it('writes no hostPath through volumes, and the host-path-volume rule still reports one added by hand', () => {
    const { deployment } = synthWeb({ ...single, volumes: [{ mountPath: '/data', persistentVolumeClaim: 'web-data' }] });
    expect(JSON.stringify(deployment)).not.toContain('hostPath');
    const withHostPath = structuredClone(deployment);
    withHostPath.spec.template.spec.volumes.push({ name: 'host', hostPath: { path: '/var/run/docker.sock' } });
    const report = evaluatePolicy([{ manifest: withHostPath, constructPath: 'web' }]);
    expect(report.warnings.map((w) => w.ruleId)).toContain('host-path-volume');
  });
});

describe('AntiAffinityDeployment annotations', () => {
  const kinds = ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ServiceAccount'];

  it('annotates every object it creates, and the pod template only with podAnnotations', () => {
    const { result, deployment } = synthWeb(
      { autoscaling: { minReplicas: 2, maxReplicas: 4 }, annotations: { 'example.com/owner': 'team-a' }, podAnnotations: { 'sidecar.istio.io/inject': 'false' } },
      (stack) => new MetricsServer(stack, 'metrics-server'),
    );
    expect(result.problems).toEqual([]);
    for (const kind of kinds) expect(findObject(result, kind, 'web').metadata.annotations, kind).toEqual({ 'example.com/owner': 'team-a' });
    expect(deployment.spec.template.metadata.annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
    expect(findObject(result, 'Deployment', 'metrics-server').metadata.annotations).toBeUndefined();
  });

  it('writes values as given: YAML words, $, quotes, newlines and long text read back unchanged', () => {
    const values = ['true', 'no', 'null', '~', '0x1F', '1e3', '$HOME ${X}', 'it\'s "quoted"', 'line 1\nline 2\n', ' padded ', '- item', '#hash', 'x'.repeat(5000), ''];
    const annotations = Object.fromEntries(values.map((v, i) => [`example.com/v${i}`, v]));
    const { result } = synthWeb({ annotations, podAnnotations: annotations });
    const deployment = findObject(result, 'Deployment', 'web');
    const read = parse(renderManifest(deployment), { version: '1.1' });
    expect(read.metadata.annotations).toEqual(annotations);
    expect(read.spec.template.metadata.annotations).toEqual(annotations);
  });

  it('refuses invalid keys, non-string values, more than 256 KiB, shipshape.io keys and keys the construct sets', () => {
    expect(error({ annotations: { 'example.com/-owner': 'x' } }).message).toContain('invalid annotation key');
    expect(error({ annotations: { 'Exemptions.Shipshape.io/pod-security': 'x' } }).message).toContain('under shipshape.io');
    expect(error({ podAnnotations: { ['a'.repeat(64)]: 'x' } }).message).toContain('at most 63');
    expect(error({ annotations: { owner: 1 as unknown as string } }).message).toContain('must be a string');
    expect(error({ annotations: { 'example.com/big': 'x'.repeat(256 * 1024) } }).message).toContain("over the API server's limit");
    const reserved = error({ annotations: { 'exemptions.shipshape.io/pod-security': 'because' } });
    expect(reserved.message).toContain('under shipshape.io');
    expect(reserved.message).toContain('exempt(');
    const metrics = error({ metrics: { port: 9090 }, podAnnotations: { 'prometheus.io/port': '9999' } });
    expect(metrics.message).toContain('podAnnotations["prometheus.io/port"] would replace the value shipshape sets');
    expect(metrics.message).toContain('"9090"');
    // The same value as the construct's is no override.
    expect(synthWeb({ metrics: { port: 9090 }, podAnnotations: { 'prometheus.io/port': '9090' } }).deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe('9090');
  });

  it('takes values known only at deploy time, on the objects and the pods', () => {
    const owner = deferValue({ pulumiOutput: 'team.name' });
    const web = new AntiAffinityDeployment(newStack(), 'web', { ...base, annotations: { 'example.com/owner': owner }, podAnnotations: { 'example.com/build': `build ${owner}` } });
    expect(web.deployment.metadata.toJson().annotations).toEqual({ 'example.com/owner': owner });
    expect(web.serviceAccount.metadata.toJson().annotations).toEqual({ 'example.com/owner': owner });
    expect(web.deployment.podMetadata.toJson().annotations).toEqual({ 'example.com/build': `build ${owner}` });
  });

  it('fails synth with the credential rule when an annotation holds a token', () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(3)}abcdef`;
    for (const props of [{ annotations: { 'example.com/deploy-key': token } }, { podAnnotations: { 'example.com/note': `token ${token}` } }]) {
      const { result } = synthWeb(props);
      expect(result.problems.join('\n')).toContain('credential-in-manifest');
      expect(result.problems.join('\n')).not.toContain(token);
    }
  });
});

describe('AntiAffinityDeployment ServiceAccount identity', () => {
  it('annotates the ServiceAccount for IRSA and keeps the API token out of the pods', () => {
    const arn = 'arn:aws:iam::123456789012:role/workloads/web';
    const { result, podSpec } = synthWeb({ serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': arn } });
    expect(result.problems).toEqual([]);
    const account = findObject(result, 'ServiceAccount', 'web');
    expect(account.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': arn });
    expect(account.automountServiceAccountToken).toBe(false);
    expect(podSpec.automountServiceAccountToken).toBe(false);
    expect(findObject(result, 'Deployment', 'web').metadata.annotations).toBeUndefined();
  });

  it('mounts the ServiceAccount token for GKE Workload Identity, whose metadata server needs it', () => {
    const { podSpec } = synthWeb({ serviceAccountAnnotations: { 'iam.gke.io/gcp-service-account': 'web-api@acme-prod.iam.gserviceaccount.com' } });
    expect(podSpec.automountServiceAccountToken).toBe(true);
  });

  it('labels the pods for the Azure Workload Identity webhook, and only the pods', () => {
    const { result, deployment, podSpec } = synthWeb({ serviceAccountAnnotations: { 'azure.workload.identity/client-id': '3f2504e0-4f89-11d3-9a0c-0305e82c3301' } });
    expect(deployment.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
    expect(deployment.metadata.labels?.['azure.workload.identity/use']).toBeUndefined();
    expect(deployment.spec.selector.matchLabels['azure.workload.identity/use']).toBeUndefined();
    expect(findObject(result, 'ServiceAccount', 'web').metadata.labels?.['azure.workload.identity/use']).toBeUndefined();
    expect(podSpec.automountServiceAccountToken).toBe(false);
  });

  it('refuses identity values of the wrong form, naming the form', () => {
    for (const [key, value, form] of [
      ['eks.amazonaws.com/role-arn', 'arn:aws:iam::12345:role/web', 'IAM role ARN'],
      ['eks.amazonaws.com/role-arn', 'arn:aws:s3:::bucket', 'IAM role ARN'],
      ['iam.gke.io/gcp-service-account', 'web@acme-prod.iam.gserviceaccount.com', 'Google service account'],
      ['iam.gke.io/gcp-service-account', 'web-api@acme-prod', 'Google service account'],
      ['azure.workload.identity/client-id', 'not-a-uuid', 'UUID'],
    ]) {
      const e = error({ serviceAccountAnnotations: { [key]: value } });
      expect(e.message).toContain(form);
      expect(e.message).toContain(JSON.stringify(value));
    }
    expect(error({ annotations: { 'example.com/a': '1' }, serviceAccountAnnotations: { 'example.com/a': '2' } }).message).toContain('both set "example.com/a"');
  });

  it('accepts the partitions of AWS, and checks a value known only at deploy time once it is resolved', () => {
    for (const arn of ['arn:aws-us-gov:iam::123456789012:role/web', 'arn:aws-cn:iam::123456789012:role/a/b/web+x=y,z.@-']) {
      expect(synthWeb({ serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': arn } }).result.problems).toEqual([]);
    }
    const deferred = deferValue({ pulumiOutput: 'role.arn' });
    const stack = newStack();
    const web = new AntiAffinityDeployment(stack, 'web', { ...base, serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': deferred } });
    expect(web.serviceAccount.metadata.toJson().annotations).toEqual({ 'eks.amazonaws.com/role-arn': deferred });
    expect(() => runDeferredChecks(deferred, 'arn:aws:iam::123456789012:role/web')).not.toThrow();
    const late = shipshapeError(() => runDeferredChecks(deferred, 'arn:aws:iam::1234:role/web'));
    expect(late.message).toContain('test/web: serviceAccountAnnotations["eks.amazonaws.com/role-arn"] is not an IAM role ARN');
  });
});

describe('AntiAffinityDeployment image pull Secrets', () => {
  it('lists the Secrets on the pod spec', () => {
    const { result, podSpec } = synthWeb({ imagePullSecrets: ['registry-login', 'mirror.login'] });
    expect(result.problems).toEqual([]);
    expect(podSpec.imagePullSecrets).toEqual([{ name: 'registry-login' }, { name: 'mirror.login' }]);
    expect(findObject(result, 'ServiceAccount', 'web').imagePullSecrets).toBeUndefined();
    expect(synthWeb().podSpec.imagePullSecrets).toBeUndefined();
  });

  it('refuses names that are not Secret names without echoing a pasted credential, and repeats', () => {
    const credential = '{"auths":{"ghcr.io":{"auth":"dXNlcjpzM2NyZXQtcGFzc3dvcmQ="}}}';
    const e = error({ imagePullSecrets: [credential] });
    expect(e.message).toContain('never the registry credential itself');
    expect(e.message).not.toContain('dXNlcjpzM2NyZXQtcGFzc3dvcmQ');
    expect(error({ imagePullSecrets: ['Registry'] }).message).toContain('imagePullSecrets[0]');
    expect(error({ imagePullSecrets: ['a', 'a'] }).message).toContain('lists "a" twice');
  });
});

describe('AntiAffinityDeployment user and groups', () => {
  it('sets the pod user, group and fsGroup with OnRootMismatch, and stays non-root', () => {
    const { result, podSpec, main } = synthWeb({ runAsUser: 101, runAsGroup: 0, fsGroup: 2000 });
    expect(result.problems).toEqual([]);
    expect(podSpec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 101, runAsGroup: 0, fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });
    expect(main.securityContext.runAsNonRoot).toBe(true);
    expect(main.securityContext.runAsUser).toBeUndefined();
    expect(synthWeb().podSpec.securityContext).toEqual({ runAsNonRoot: true, fsGroupChangePolicy: 'Always', seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('refuses root and ids the API server refuses; the pod-security rule agrees on root', () => {
    const root = error({ runAsUser: 0 });
    expect(root).toBeInstanceOf(ShipshapeError);
    expect(root.message).toContain('runAsUser 0 is root');
    for (const [field, value] of [
      ['runAsUser', -1],
      ['runAsUser', 1.5],
      ['runAsUser', 2 ** 31],
      ['runAsGroup', -1],
      ['fsGroup', 2 ** 31],
    ] as const) {
      expect(error({ [field]: value }).message).toContain(`${field} must be an integer from`);
    }
    const { deployment } = synthWeb({ runAsUser: 101 });
    const asRoot = structuredClone(deployment);
    asRoot.spec.template.spec.securityContext.runAsUser = 0;
    const report = evaluatePolicy([{ manifest: asRoot, constructPath: 'web' }]);
    expect(report.violations.map((v) => `${v.ruleId}: ${v.message}`)).toContain('pod-security: container "web" may run as root');
  });

  it('asserts no USER in the image structure test when runAsUser is set, and asks for a numeric one otherwise', () => {
    const withUser = synthWeb({ runAsUser: 101, runAsGroup: 101 }).result.imageTests.find((t) => t.image === base.image)!;
    expect(withUser.config.metadataTest).toEqual({ exposedPorts: ['8080'] });
    expect(withUser.content).toContain('runs it as "101:101" (runAsUser) whatever USER the image declares');
    expect(withUser.content).not.toContain('USER must be a numeric');
    const without = synthWeb().result.imageTests.find((t) => t.image === base.image)!;
    expect(without.content).toContain('USER must be a numeric, non-zero uid');
  });
});

describe('CanaryRelease with the workload props', () => {
  function release(stable: Partial<AntiAffinityDeploymentProps>, canary: Partial<AntiAffinityDeploymentProps>) {
    return synthStack((stack) => {
      const workload = new AntiAffinityDeployment(stack, 'web', { ...base, ...stable });
      const ingress = new WorkloadIngress(stack, 'web-ingress', { workload, host: 'api.example.com', paths: ['/'] });
      new CanaryRelease(stack, 'canary', { stable: ingress, weight: 10, canary: { image: 'ghcr.io/acme/web:1.1.0', ports: [{ port: 8080 }], ...canary } });
    });
  }

  it('gives the canary its annotations, identity, Secrets, user and shared ReadWriteMany volume', () => {
    const shared = { mountPath: '/shared', persistentVolumeClaim: 'web-shared', accessMode: 'ReadWriteMany' as const };
    const props = { annotations: { 'example.com/owner': 'team-a' }, imagePullSecrets: ['registry-login'], runAsUser: 101, volumes: [shared] };
    const result = release(props, props);
    expect(result.problems).toEqual([]);
    const canary = findObject(result, 'Deployment', 'web-canary');
    expect(canary.metadata.annotations).toEqual({ 'example.com/owner': 'team-a' });
    expect(findObject(result, 'Service', 'web-canary').metadata.annotations).toEqual({ 'example.com/owner': 'team-a' });
    expect(canary.spec.template.spec.imagePullSecrets).toEqual([{ name: 'registry-login' }]);
    expect(canary.spec.template.spec.securityContext.runAsUser).toBe(101);
    expect(canary.spec.template.spec.volumes).toContainEqual({ name: 'pvc-0', persistentVolumeClaim: { claimName: 'web-shared', readOnly: false } });
  });

  it("refuses a canary mounting the stable release's ReadWriteOnce claim", () => {
    const data = { mountPath: '/data', persistentVolumeClaim: 'web-data' };
    const e = shipshapeError(() => release({ ...single, volumes: [data] }, { ...single, volumes: [data] }));
    expect(e.message).toContain('canary.volumes[0] mounts claim "web-data", which the stable release mounts too');
    expect(e.message).toContain("accessMode: 'ReadWriteMany'");
    // A claim of its own is the canary's to use.
    expect(release({ ...single, volumes: [data] }, { ...single, volumes: [{ ...data, persistentVolumeClaim: 'web-canary-data' }] }).problems).toEqual([]);
  });
});

describe('AntiAffinityDeployment without the new props', () => {
  it('writes no annotations, pull Secrets or pod user', () => {
    const { result, podSpec } = synthWeb();
    for (const o of result.objects) expect(o.manifest.metadata.annotations, o.manifest.kind).toBeUndefined();
    expect(podSpec.imagePullSecrets).toBeUndefined();
    expect(podSpec.securityContext.runAsUser).toBeUndefined();
    expect(podSpec.volumes).toEqual([{ name: 'writable-0', emptyDir: {} }]);
  });
});

describe('annotation keys named like Object.prototype members', () => {
  it('writes "valueOf" and "toString" as any other key, on the objects and the ServiceAccount', () => {
    const keys = { valueOf: 'b', toString: 'c' };
    const { result, deployment } = synthWeb({ annotations: keys, serviceAccountAnnotations: { isPrototypeOf: 'd' } });
    expect(result.problems).toEqual([]);
    expect(deployment.metadata.annotations).toEqual(keys);
    expect(findObject(result, 'ServiceAccount', 'web').metadata.annotations).toEqual({ ...keys, isPrototypeOf: 'd' });
  });
});
