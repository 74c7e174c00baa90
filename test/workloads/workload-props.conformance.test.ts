import fc from 'fast-check';
import * as kplus from 'cdk8s-plus-27';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, EfkLogging, Manifest, MetricsServer, ShipshapeError } from '../../lib';
import { conformanceSuite } from '../support/conformance';
import { ApiServer, startApiServer } from '../support/envtest';
import { synthStack, testEnvironment } from '../support/synth';

/*
 * The real kube-apiserver (envtest 1.29) as the oracle for the workload props users reach for: a Deployment with
 * volumes, annotations, a cloud identity, pull Secrets and a fixed user is accepted under strict field validation
 * and stored as written, its pods pass the restricted Pod Security Standard, and annotation keys shipshape
 * accepts are the ones the server accepts. The logging components' identity and pull Secrets props are stored
 * as written too.
 */

const NAMESPACE = 'test';
// Annotation keys are judged in a namespace of their own, so nothing applied before collides.
const ORACLE = 'oracle';
const RUNS = 40;
const TIME_LIMIT_MS = 60_000;

let api: ApiServer;

const everyProp: AntiAffinityDeploymentProps = {
  name: 'web',
  image: 'ghcr.io/acme/web:1.0.0',
  ports: [{ port: 8080 }],
  autoscaling: { minReplicas: 2, maxReplicas: 4 },
  readiness: kplus.Probe.fromHttpGet('/ready', { port: 8080 }),
  metrics: { port: 9090 },
  volumes: [
    { mountPath: '/shared', persistentVolumeClaim: 'web-shared', accessMode: 'ReadWriteMany' },
    { mountPath: '/models', persistentVolumeClaim: 'web-models', accessMode: 'ReadOnlyMany' },
    { mountPath: '/etc/web', configMap: 'web-config', items: { 'app.yaml': 'conf/app.yaml' } },
    { mountPath: '/run/secrets/db', secret: 'web-db', optional: true },
  ],
  annotations: { 'example.com/owner': 'team-a', 'example.com/runbook': 'https://runbooks.example.com/web\nsee: "$PAGE"', 'example.com/flag': 'no' },
  podAnnotations: { 'sidecar.istio.io/inject': 'false', 'example.com/empty': '' },
  serviceAccountAnnotations: {
    'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/workloads/web',
    'azure.workload.identity/client-id': '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
  },
  imagePullSecrets: ['registry-login', 'mirror.login'],
  runAsUser: 101,
  runAsGroup: 0,
  fsGroup: 2000,
};

function objectsOf(props: AntiAffinityDeploymentProps, namespace = NAMESPACE): Manifest[] {
  const result = synthStack(
    (stack) => {
      new MetricsServer(stack, 'metrics-server');
      new AntiAffinityDeployment(stack, 'web', props);
    },
    testEnvironment({ name: namespace }),
  );
  expect(result.problems).toEqual([]);
  return result.objects.map((o) => o.manifest).filter((m) => m.kind !== 'Namespace' && m.metadata.name === props.name);
}

const list = (items: readonly unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

conformanceSuite('AntiAffinityDeployment props on the real API server', ['kubectl', 'kube-apiserver'], () => {
  beforeAll(async () => {
    api = await startApiServer();
    for (const ns of [NAMESPACE, ORACLE]) api.mustKubectl(['create', 'namespace', ns]);
    api.mustKubectl(['label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=restricted']);
  }, 180_000);

  afterAll(async () => {
    await api?.stop();
  });

  it('stores a Deployment with every new prop as written, under strict field validation', () => {
    const objects = objectsOf(everyProp);
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    api.mustKubectl(['apply', '--server-side', '--validate=strict', '--field-manager=shipshape', '-f', '-'], { input: list(objects), timeoutSeconds: 90 });

    const stored = (kind: string) => JSON.parse(api.mustKubectl(['get', kind, 'web', '-n', NAMESPACE, '-o', 'json']));
    for (const m of objects) {
      const s = stored(m.kind.toLowerCase());
      expect(s.metadata.annotations, m.kind).toEqual(m.metadata.annotations);
      expect(s.metadata.annotations['example.com/runbook']).toBe('https://runbooks.example.com/web\nsee: "$PAGE"');
    }
    const written = objects.find((o) => o.kind === 'Deployment')!;
    const deployment = stored('deployment');
    const pod = deployment.spec.template;
    expect(pod.metadata.annotations).toEqual({
      'sidecar.istio.io/inject': 'false',
      'example.com/empty': '',
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9090',
      'prometheus.io/path': '/metrics',
    });
    expect(pod.metadata.labels['azure.workload.identity/use']).toBe('true');
    // The server adds a ConfigMap volume's default mode and omits a claim's readOnly: false (its zero value).
    const asDefaulted = (v: any) =>
      v.configMap
        ? { ...v, configMap: { defaultMode: 0o644, ...v.configMap } }
        : v.persistentVolumeClaim?.readOnly === false
          ? { ...v, persistentVolumeClaim: { claimName: v.persistentVolumeClaim.claimName } }
          : v;
    expect(pod.spec.volumes).toEqual(written.spec.template.spec.volumes.map(asDefaulted));
    expect(pod.spec.volumes).toContainEqual({ name: 'secret-3', secret: { secretName: 'web-db', defaultMode: 0o400, optional: true } });
    expect(pod.spec.containers[0].volumeMounts).toEqual(written.spec.template.spec.containers[0].volumeMounts);
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'registry-login' }, { name: 'mirror.login' }]);
    expect(pod.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 101, runAsGroup: 0, fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(stored('serviceaccount').metadata.annotations['eks.amazonaws.com/role-arn']).toBe('arn:aws:iam::123456789012:role/workloads/web');
  }, 120_000);

  it("admits the Deployment's pods under the restricted Pod Security Standard, and refuses them as root", () => {
    const template = objectsOf(everyProp).find((o) => o.kind === 'Deployment')!.spec.template;
    const pod = (name: string, spec: unknown) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NAMESPACE, labels: template.metadata.labels, annotations: template.metadata.annotations },
      spec,
    });
    api.mustKubectl(['create', '--validate=strict', '-f', '-'], { input: JSON.stringify(pod('web-pod', template.spec)) });
    expect(JSON.parse(api.mustKubectl(['get', 'pod', 'web-pod', '-n', NAMESPACE, '-o', 'json'])).spec.securityContext.runAsUser).toBe(101);
    const asRoot = structuredClone(template.spec);
    asRoot.securityContext.runAsUser = 0;
    const r = api.kubectl(['create', '-f', '-'], { input: JSON.stringify(pod('root-pod', asRoot)) });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('violates PodSecurity "restricted:latest"');
    expect(r.stderr).toContain('runAsUser=0');
  }, 60_000);

  it("stores the log collector's ServiceAccount identity and every logging pod's pull Secrets as written", () => {
    const role = 'arn:aws:iam::123456789012:role/fluentd-archive';
    const result = synthStack(
      (stack) => {
        new EfkLogging(stack, 'logging', {
          imagePullSecrets: ['mirror-login'],
          archive: { bucket: 'acme-logs', region: 'eu-west-1', retentionDays: 365, credentialsSecret: false },
          fluentd: { image: 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0', serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': role }, imagePullSecrets: ['collector-login'] },
          alerts: false,
        });
      },
      testEnvironment({ name: 'logs' }),
    );
    expect(result.problems).toEqual([]);
    const manifests = result.objects.map((o) => o.manifest);
    const namespace = manifests.find((m) => m.kind === 'Namespace')!;
    const pods = manifests.filter((m) => ['ServiceAccount', 'DaemonSet', 'StatefulSet', 'Deployment', 'Job'].includes(m.kind));
    api.mustKubectl(['apply', '--server-side', '--validate=strict', '--field-manager=shipshape', '-f', '-'], { input: JSON.stringify(namespace) });
    api.mustKubectl(['apply', '--server-side', '--validate=strict', '--field-manager=shipshape', '-f', '-'], { input: list(pods), timeoutSeconds: 90 });

    const stored = (kind: string, name: string) => JSON.parse(api.mustKubectl(['get', kind, name, '-n', 'logging', '-o', 'json']));
    expect(stored('serviceaccount', 'fluentd').metadata.annotations['eks.amazonaws.com/role-arn']).toBe(role);
    expect(stored('daemonset', 'fluentd').spec.template.spec.imagePullSecrets).toEqual([{ name: 'collector-login' }]);
    expect(stored('statefulset', 'elasticsearch').spec.template.spec.imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
    expect(stored('deployment', 'kibana').spec.template.spec.imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
    const job = pods.find((m) => m.kind === 'Job')!;
    expect(stored('job', job.metadata.name).spec.template.spec.imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
  }, 120_000);

  it('accepts exactly the annotation keys the API server accepts, outside shipshape.io (property)', async () => {
    const tally = { bothAccept: 0, bothRefuse: 0, reserved: 0 };
    // Near-valid keys dominate, so that both sides accept often and the edges (a trailing "-", "..", case) are hit.
    const qualified = (label: RegExp, name: RegExp) =>
      fc
        .tuple(
          fc.option(
            fc.array(fc.stringMatching(label), { minLength: 1, maxLength: 3 }).map((l) => l.join('.')),
            { nil: undefined },
          ),
          fc.stringMatching(name),
        )
        .map(([p, n]) => (p === undefined ? n : `${p}/${n}`));
    const key = fc.oneof(
      { weight: 4, arbitrary: qualified(/^[a-z0-9]([-a-z0-9]{0,5}[a-z0-9])?$/, /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,9}[A-Za-z0-9])?$/) },
      { weight: 4, arbitrary: qualified(/^[a-z0-9][-a-z0-9]{0,6}$/, /^[A-Za-z0-9][-A-Za-z0-9_.]{0,10}$/) },
      { weight: 2, arbitrary: fc.string({ maxLength: 16 }) },
      { weight: 1, arbitrary: fc.constantFrom('exemptions.shipshape.io/pod-security', 'a'.repeat(64), `${'a'.repeat(254)}/x`, 'a/b/c', 'Example.com/x') },
    );
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        await new Promise((resolve) => setImmediate(resolve));
        let objects: Manifest[] | undefined;
        let refusal: ShipshapeError | undefined;
        try {
          objects = objectsOf({ name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }], replicas: 2, annotations: { [k]: 'v' } }, ORACLE);
        } catch (e) {
          if (!(e instanceof ShipshapeError)) throw e;
          refusal = e;
        }
        const probe = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe', namespace: ORACLE, annotations: { [k]: 'v' } } };
        const r = api.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: list([probe, ...(objects ?? [])]), timeoutSeconds: 60 });
        expect(r.status, r.stderr).not.toBe(124);
        const serverAccepts = r.stdout.includes('configmap/probe');
        if (objects) {
          expect(serverAccepts, `${JSON.stringify(k)}: ${r.stderr}`).toBe(true);
          expect(r.stdout.split('\n').filter(Boolean).length, r.stderr).toBe(objects.length + 1);
          tally.bothAccept++;
        } else if (serverAccepts) {
          expect(refusal!.message, JSON.stringify(k)).toContain(k === 'constructor' ? 'cdk8s cannot serialize' : 'under shipshape.io');
          tally.reserved++;
        } else {
          tally.bothRefuse++;
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    console.log(`annotation key oracle: ${JSON.stringify(tally)}`);
    expect(tally.bothAccept).toBeGreaterThan(0);
    expect(tally.bothRefuse).toBeGreaterThan(0);
  }, 120_000);
});
