import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, ShipshapeError } from '../../lib';
import { budgetAllowsEviction } from '../../lib/core/policy/rules';
import { validateManifest } from '../support/schema';
import { findObject, newStack, objectsOfKind, synthStack, testEnvironment } from '../support/synth';

const base: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };

function synthWeb(props: Partial<AntiAffinityDeploymentProps> = {}, environment = testEnvironment()) {
  const result = synthStack((stack) => new AntiAffinityDeployment(stack, 'web', { ...base, ...props }), environment);
  return { result, deployment: findObject(result, 'Deployment', 'web'), podSpec: findObject(result, 'Deployment', 'web').spec.template.spec };
}

function constructionError(props: Partial<AntiAffinityDeploymentProps>, environment = testEnvironment()): ShipshapeError {
  try {
    new AntiAffinityDeployment(newStack(environment), 'web', { ...base, ...props });
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeError);
    return e as ShipshapeError;
  }
  throw new Error('expected a ShipshapeError');
}

describe('AntiAffinityDeployment', () => {
  it('synthesizes schema-valid, policy-clean objects with readable names and stable labels', () => {
    const { result } = synthWeb();
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    expect(result.objects.map((o) => o.fileName)).toEqual(expect.arrayContaining(['deployment-web.yaml', 'service-web.yaml', 'poddisruptionbudget-web.yaml', 'serviceaccount-web.yaml']));
    for (const o of result.objects.filter((x) => x.manifest.kind !== 'Namespace')) {
      expect(o.manifest.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'shipshape', 'shipshape.io/environment': 'test', 'app.kubernetes.io/name': 'web' });
    }
    expect(JSON.stringify(result.objects.map((o) => o.manifest))).not.toContain('cdk8s.io/metadata.addr');
  });

  it('keeps object names and selectors when the construct id changes', () => {
    const render = (id: string) => {
      const stack = newStack();
      new AntiAffinityDeployment(stack, id, base);
      return JSON.stringify(stack.toJson());
    };
    expect(render('renamed-construct')).toEqual(render('web'));
  });

  it('defaults to preferred hostname anti-affinity with weight 100 and zone spread', () => {
    const { podSpec } = synthWeb();
    const preferred = podSpec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(preferred).toEqual([
      { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/instance': 'test' } } } },
    ]);
    expect(podSpec.topologySpreadConstraints).toEqual([expect.objectContaining({ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway' })]);
  });

  it('uses required anti-affinity when asked and leaves zone spread out in a single-zone environment', () => {
    const { podSpec } = synthWeb({ antiAffinity: 'required', replicas: 3, strategy: { type: 'RollingUpdate', maxUnavailable: 1, maxSurge: 0 } }, testEnvironment({ zones: [] }));
    expect(podSpec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
    expect(podSpec.topologySpreadConstraints).toBeUndefined();
  });

  it('steers pods to a node group and tolerates its taints', () => {
    const { podSpec } = synthWeb({ nodeGroup: 'batch', replicas: 2 });
    expect(podSpec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions).toEqual([{ key: 'instancegroup', operator: 'In', values: ['batch'] }]);
    expect(podSpec.tolerations).toEqual([{ key: 'instancegroup', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }]);
  });

  it('runs as non-root with explicit resources, probes, a pinned image and its own token-less ServiceAccount', () => {
    const { result, podSpec } = synthWeb();
    const [main] = podSpec.containers;
    expect(main.image).toBe('ghcr.io/acme/web:1.0.0');
    expect(main.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });
    expect(main.livenessProbe.tcpSocket.port).toBe(8080);
    expect(main.readinessProbe.tcpSocket.port).toBe(8080);
    expect(main.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(podSpec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(podSpec.serviceAccountName).toBe('web');
    expect(podSpec.automountServiceAccountToken).toBe(false);
    expect(findObject(result, 'ServiceAccount', 'web').automountServiceAccountToken).toBe(false);
  });

  it('adds an HPA at 40% CPU with scale-down behaviour and leaves replicas out', () => {
    const { result, deployment } = synthWeb({ autoscaling: { minReplicas: 3, maxReplicas: 12 } });
    expect(deployment.spec.replicas).toBeUndefined();
    const hpa = findObject(result, 'HorizontalPodAutoscaler', 'web');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12, scaleTargetRef: { kind: 'Deployment', name: 'web' } });
    expect(hpa.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 40 } } }]);
    expect(hpa.spec.behavior.scaleDown).toMatchObject({ stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] });
    const pdb = findObject(result, 'PodDisruptionBudget', 'web');
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(pdb.spec.minAvailable).toBeUndefined();
  });

  it('takes the scale-down window as a Duration and writes it in seconds', () => {
    const { result } = synthWeb({ autoscaling: { minReplicas: 2, maxReplicas: 6, scaleDownStabilization: Duration.minutes(2) } });
    expect(findObject(result, 'HorizontalPodAutoscaler', 'web').spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(120);
  });

  it('gives an autoscaled Deployment a PDB that allows an eviction at every size, the single pod it is created with included', () => {
    // Without replicas the Deployment is created with one pod and waits for the HPA's first sync; a budget keyed
    // to the HPA minimum (minAvailable: 2 for 3..10) would block every drain in that window.
    for (const [minReplicas, maxReplicas] of [
      [2, 4],
      [3, 10],
      [5, 12],
    ]) {
      const { result, deployment } = synthWeb({ autoscaling: { minReplicas, maxReplicas } }, testEnvironment({ nodeGroups: [{ name: 'webapi', minSize: 3, maxSize: 12 }] }));
      // Only the metrics-server rule fires here (no MetricsServer in this stack); the budget passes policy.
      expect(result.policy.violations.map((v) => v.ruleId)).toEqual(['autoscaler-metrics']);
      expect(deployment.spec.replicas).toBeUndefined();
      const pdb = findObject(result, 'PodDisruptionBudget', 'web');
      for (let pods = 1; pods <= maxReplicas; pods++) expect(budgetAllowsEviction(pdb, pods)).toBe(true);
    }
  });

  it('keeps serving for preStopDelay before SIGTERM, with a grace period that outlasts the delay', () => {
    const { result, podSpec } = synthWeb({ preStopDelay: Duration.seconds(5) });
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    const [main] = podSpec.containers;
    expect(main.lifecycle).toEqual({ preStop: { exec: { command: ['sleep', '5'] } } });
    // The delay comes out of the grace period, so the default grows by it: the app keeps 30 s after SIGTERM.
    expect(podSpec.terminationGracePeriodSeconds).toBe(35);
    // Restricted Pod Security and the read-only root filesystem still hold: the hook runs in the same container.
    expect(main.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(podSpec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(synthWeb({ preStopDelay: Duration.seconds(10), terminationGracePeriod: Duration.minutes(1) }).podSpec.terminationGracePeriodSeconds).toBe(60);
    // Only the main container gets the hook; without the option nobody does.
    const sidecar = synthWeb({ preStopDelay: Duration.seconds(5), sidecars: [{ name: 'proxy', image: 'envoy:1.30.1', portNumber: 9901 }] }).podSpec.containers;
    expect(sidecar.map((c: any) => c.lifecycle)).toEqual([{ preStop: { exec: { command: ['sleep', '5'] } } }, undefined]);
    const plain = synthWeb().podSpec;
    expect(plain.containers[0].lifecycle).toBeUndefined();
    expect(plain.terminationGracePeriodSeconds).toBe(30);
  });

  it('takes autoscaling from the environment unless switched off', () => {
    const environment = testEnvironment({ autoscaling: { minReplicas: 2, maxReplicas: 6 } });
    expect(objectsOfKind(synthWeb({}, environment).result, 'HorizontalPodAutoscaler')).toHaveLength(1);
    const { result, deployment } = synthWeb({ autoscaling: false, replicas: 4 }, environment);
    expect(objectsOfKind(result, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(deployment.spec.replicas).toBe(4);
    expect(findObject(result, 'PodDisruptionBudget', 'web').spec.maxUnavailable).toBe(1);
  });

  it('creates no PDB for a single replica and warns instead', () => {
    const { result } = synthWeb({ replicas: 1 });
    expect(objectsOfKind(result, 'PodDisruptionBudget')).toHaveLength(0);
    expect(result.policy.warnings.map((w) => w.ruleId)).toEqual(['single-replica']);
  });

  it('accepts percentages that round to zero, as the controller then allows one unavailable pod', () => {
    expect(synthWeb({ replicas: 3, strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: '10%' } }).result.problems).toEqual([]);
  });

  it('supports Recreate and RollingUpdate strategies and a revision history limit', () => {
    expect(synthWeb({ strategy: { type: 'Recreate' } }).deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const rolling = synthWeb({ strategy: { type: 'RollingUpdate', maxSurge: 1, maxUnavailable: '10%' }, revisionHistoryLimit: 3 }).deployment.spec;
    expect(rolling.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: '10%' });
    expect(rolling.revisionHistoryLimit).toBe(3);
  });

  it('takes env from ConfigMaps and Secrets, whole and by key, never as plain secret values', () => {
    const { result, podSpec } = synthWeb({
      env: { LOG_LEVEL: 'info', DB_URL: { secret: 'db', key: 'url' }, FEATURE: { configMap: 'flags', key: 'feature', optional: true } },
      envFrom: [{ configMap: 'settings' }, { secret: 'api-keys' }],
    });
    expect(result.problems).toEqual([]);
    const [main] = podSpec.containers;
    expect(main.env).toEqual(
      expect.arrayContaining([
        { name: 'LOG_LEVEL', value: 'info' },
        { name: 'DB_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } },
        { name: 'FEATURE', valueFrom: { configMapKeyRef: { name: 'flags', key: 'feature', optional: true } } },
      ]),
    );
    expect(main.envFrom).toEqual([{ configMapRef: { name: 'settings' } }, { secretRef: { name: 'api-keys' } }]);
  });

  it('adds init containers and sidecars with default resources, and a priority class', () => {
    const probe = kplus.Probe.fromCommand(['true']);
    const { result, podSpec } = synthWeb({
      initContainers: [{ name: 'migrate', image: 'ghcr.io/acme/migrate:1.0.0' }],
      sidecars: [
        {
          name: 'proxy',
          image: 'envoyproxy/envoy:v1.31.2',
          liveness: probe,
          readiness: probe,
          resources: { cpu: { request: kplus.Cpu.millis(50) }, memory: { request: Size.mebibytes(64), limit: Size.mebibytes(128) } },
        },
      ],
      priorityClassName: 'platform-high',
    });
    expect(result.problems).toEqual([]);
    expect(podSpec.initContainers.map((c: any) => c.name)).toEqual(['migrate']);
    expect(podSpec.initContainers[0].resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });
    // Init containers get the same writable /tmp as the others under the read-only root filesystem.
    expect(podSpec.initContainers[0].volumeMounts).toEqual([{ mountPath: '/tmp', name: 'writable-0' }]);
    expect(podSpec.containers.map((c: any) => c.name)).toEqual(['web', 'proxy']);
    expect(podSpec.priorityClassName).toBe('platform-high');
  });

  it('exposes a typed URL and exempts a LoadBalancer that was asked for', () => {
    const stack = newStack();
    const web = new AntiAffinityDeployment(stack, 'web', { ...base, service: { type: 'LoadBalancer', port: 80 } });
    expect(web.url).toBe('http://web.test.svc:80');
    const service = stack.toJson().find((o: any) => o.kind === 'Service');
    expect(service.spec).toMatchObject({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080 }] });
    expect(service.metadata.annotations['exemptions.shipshape.io/service-load-balancer']).toContain('test/web');
  });

  describe('errors name the construct path, the value and the fix', () => {
    it.each<[string, Partial<AntiAffinityDeploymentProps>, RegExp]>([
      ['an unpinned image', { image: 'nginx' }, /image must be pinned.*"nginx".*Fix:/],
      ['a latest tag', { image: 'nginx:latest' }, /image must be pinned/],
      ['min > max', { autoscaling: { minReplicas: 5, maxReplicas: 3 } }, /minReplicas 5 is greater than autoscaling.maxReplicas 3/],
      ['a PDB that blocks every eviction', { replicas: 3, disruptionBudget: { minAvailable: 3 } }, /allows no eviction at 3 replicas/],
      ['maxUnavailable 0', { replicas: 3, disruptionBudget: { maxUnavailable: 0 } }, /allows no eviction/],
      ['both PDB fields', { disruptionBudget: { maxUnavailable: 1, minAvailable: 1 } }, /exactly one of maxUnavailable and minAvailable/],
      ['an unknown node group', { nodeGroup: 'gpu' }, /node group "gpu" is not defined.*\[webapi, batch\]/],
      [
        'more replicas than nodes under required anti-affinity',
        { antiAffinity: 'required', nodeGroup: 'batch', replicas: 3 },
        /3 replicas can never fit node group "batch", which has at most 2 nodes/,
      ],
      ['a rollout that needs one node too many', { antiAffinity: 'required', nodeGroup: 'batch', replicas: 2 }, /would hang/],
      ['no probes without ports', { ports: [] }, /liveness and readiness probes must be given/],
      ['a zero-progress rollout', { strategy: { type: 'RollingUpdate', maxSurge: 0, maxUnavailable: '0%' } }, /can never replace a pod/],
      ['a bad name', { name: 'Web_API' }, /name is not a valid Kubernetes name/],
      [
        'a grace period no longer than the preStop delay',
        { preStopDelay: Duration.seconds(20), terminationGracePeriod: Duration.seconds(20) },
        /terminationGracePeriod 20 s does not outlast preStopDelay 20 s.*Fix: set terminationGracePeriod to at least Duration.seconds\(20\)/,
      ],
      ['a zero preStop delay', { preStopDelay: Duration.seconds(0) }, /preStopDelay must be a Duration of whole seconds from 1 to 120 s/],
      ['a fractional preStop delay', { preStopDelay: Duration.millis(2500) }, /preStopDelay must be a Duration of whole seconds/],
      ['a preStop delay given as a number', { preStopDelay: 5 as unknown as Duration }, /preStopDelay must be a Duration.*\(a Duration object, not the number 5\)/],
      ['a fractional scale-down window', { autoscaling: { scaleDownStabilization: Duration.millis(1500) } }, /autoscaling.scaleDownStabilization must be a Duration of whole seconds from 0 to 3600 s/],
      ['an empty sidecar name', { sidecars: [{ name: '', image: 'envoyproxy/envoy:v1.31.2' }] }, /sidecars\[0\]\.name is not a valid container name: it must be an RFC 1123 label \(got ""\)/],
      [
        'an init container name that is not a DNS label',
        { initContainers: [{ name: 'Migrate_DB', image: 'ghcr.io/acme/migrate:1.0.0' }] },
        /initContainers\[0\]\.name is not a valid container name.*"Migrate_DB"/,
      ],
      [
        'a sidecar named like the main container',
        { sidecars: [{ name: 'web', image: 'envoyproxy/envoy:v1.31.2' }] },
        /sidecars\[0\] is named "web" like name, and the API server refuses two containers of one pod with the same name/,
      ],
      [
        'a sidecar named like an init container',
        { initContainers: [{ name: 'setup', image: 'ghcr.io/acme/migrate:1.0.0' }], sidecars: [{ name: 'setup', image: 'envoyproxy/envoy:v1.31.2' }] },
        /sidecars\[0\] is named "setup" like initContainers\[0\]/,
      ],
      [
        'two unnamed sidecars (both called "main")',
        { sidecars: [{ image: 'envoyproxy/envoy:v1.31.2' }, { image: 'envoyproxy/envoy:v1.31.2' }] },
        /sidecars\[1\] is named "main" like sidecars\[0\].*an unnamed container is called "main"/,
      ],
      [
        'an init container with probes',
        { initContainers: [{ name: 'migrate', image: 'ghcr.io/acme/migrate:1.0.0', liveness: kplus.Probe.fromCommand(['true']), readiness: kplus.Probe.fromCommand(['true']) }] },
        /initContainers\[0\] has a liveness and a readiness probe, but init containers run to completion and take no probes.*Fix: remove initContainers\[0\]\.liveness and initContainers\[0\]\.readiness/,
      ],
      [
        'an init container with a startup probe',
        { initContainers: [{ name: 'migrate', image: 'ghcr.io/acme/migrate:1.0.0', startup: kplus.Probe.fromCommand(['true']) }] },
        /initContainers\[0\] has a startup probe/,
      ],
      ['memory request above limit', { resources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(1) } } }, /memory.request \(2048Mi\) is above the limit \(1024Mi\)/],
    ])('rejects %s', (_, props, message) => {
      const error = constructionError(props);
      expect(error.message).toMatch(/^test\/web: /);
      expect(error.message).toMatch(message);
      expect(error.message).toContain('Fix:');
    });
  });
});

describe('AntiAffinityDeployment int32 fields and port names', () => {
  it('refuses replicas, HPA bounds, revisionHistoryLimit and budget counts above 2^31 - 1, which the API server reads as negative', () => {
    expect(constructionError({ replicas: 2 ** 31, autoscaling: false }).message).toMatch(/replicas must be an integer from 1 to 2147483647/);
    expect(constructionError({ autoscaling: { minReplicas: 2, maxReplicas: 2 ** 31 } }).message).toMatch(/autoscaling\.maxReplicas must be an integer from 1 to 2147483647/);
    expect(constructionError({ revisionHistoryLimit: 2 ** 31 }).message).toMatch(/revisionHistoryLimit/);
    expect(constructionError({ disruptionBudget: { maxUnavailable: 2 ** 31 } }).message).toMatch(/disruptionBudget\.maxUnavailable/);
    expect(constructionError({ strategy: { type: 'RollingUpdate', maxSurge: 2 ** 31 } }).message).toMatch(/strategy\.maxSurge/);
    expect(synthWeb({ replicas: 3, autoscaling: false }).deployment.spec.replicas).toBe(3);
  });

  it('refuses port names Kubernetes refuses: "--", no letter, more than 15 characters', () => {
    for (const name of ['a--b', '8080', '-a', 'a-', 'UPPER', 'p'.repeat(16), '']) {
      const e = constructionError({ ports: [{ port: 8080, name }] });
      expect(e.path).toBe('test/web');
      expect(e.message).toContain('ports[0].name is not a valid port name');
    }
    expect(
      synthWeb({
        ports: [
          { port: 8080, name: 'http-2' },
          { port: 9090, name: 'm9' },
        ],
      }).podSpec.containers[0].ports.map((p: { name: string }) => p.name),
    ).toEqual(['http-2', 'm9']);
  });
});
