import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiObject, App, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import {
  BENCH_ENVIRONMENTS,
  BENCH_LABELS as LABELS,
  BENCH_YAML_OPTIONS,
  BenchEnvironment,
  GeneratedService,
  MANAGED_BY_VALUE as MANAGED_BY,
  METRICS_EXEMPTION,
  METRICS_EXEMPTION_ANNOTATION,
  ZONE_KEY,
  generatedServices,
  namespaceLabels,
} from './spec';
import { byCodePoint } from '../../lib/core/ordering';

/**
 * The same objects written directly with cdk8s-plus-27, as a team would without
 * shipshape: same settings, no prop validation, no policy engine, no atomic writer.
 */
export function buildRawScaleApp(count: number): App {
  const app = new App();
  const services = generatedServices(count);
  for (const env of BENCH_ENVIRONMENTS) {
    const chart = new Chart(app, env.name, {
      namespace: env.namespace,
      disableResourceNameHashes: true,
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name },
    });
    new kplus.Namespace(chart, 'namespace', {
      metadata: {
        name: env.namespace,
        labels: namespaceLabels(env),
      },
    });
    for (const s of services) rawService(chart, env, s);
  }
  return app;
}

function rawService(chart: Chart, env: BenchEnvironment, s: GeneratedService): void {
  const scope = new Construct(chart, s.name);
  const selector = { [LABELS.name]: s.name, [LABELS.instance]: env.name };
  const labels = { ...selector, [LABELS.component]: s.component, [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name };
  const autoscaling = env.autoscaling;
  const max = autoscaling ? autoscaling.maxReplicas : env.replicas;

  const serviceAccount = new kplus.ServiceAccount(scope, 'service-account', { metadata: { name: s.name, labels }, automountToken: false });
  const deployment = new kplus.Deployment(scope, 'deployment', {
    metadata: { name: s.name, labels },
    podMetadata: { labels },
    select: false,
    replicas: autoscaling ? undefined : env.replicas,
    strategy: kplus.DeploymentStrategy.rollingUpdate({ maxSurge: kplus.PercentOrAbsolute.percent(25), maxUnavailable: kplus.PercentOrAbsolute.absolute(0) }),
    serviceAccount,
    automountServiceAccountToken: false,
    terminationGracePeriod: Duration.seconds(30),
    securityContext: { ensureNonRoot: true },
  });
  deployment.select(kplus.LabelSelector.of({ labels: selector }));
  deployment.addContainer({
    name: s.name,
    image: s.image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    ports: [{ number: s.port, name: 'http', protocol: kplus.Protocol.TCP }],
    resources: { cpu: { request: kplus.Cpu.millis(100) }, memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) } },
    liveness: kplus.Probe.fromTcpSocket({ port: s.port }),
    readiness: kplus.Probe.fromTcpSocket({ port: s.port }),
    envVariables: {},
    envFrom: [],
    securityContext: {
      ensureNonRoot: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL' as kplus.Capability] },
    },
  });
  const volume = kplus.Volume.fromEmptyDir(scope, 'writable-0', 'writable-0');
  for (const c of deployment.containers) c.mount('/tmp', volume);
  deployment.scheduling.separate(kplus.Pods.select(scope, 'peers', { labels: selector }), { topology: kplus.Topology.HOSTNAME, weight: 100 });
  const object = ApiObject.of(deployment);
  object.addJsonPatch(JsonPatch.remove(`/spec/template/metadata/labels/${kplus.Pod.ADDRESS_LABEL.replace('/', '~1')}`));
  object.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', 5));
  object.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }));
  if (env.zones >= 2) {
    object.addJsonPatch(
      JsonPatch.add('/spec/template/spec/topologySpreadConstraints', [
        {
          maxSkew: 1,
          topologyKey: ZONE_KEY,
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { ...selector } },
          matchLabelKeys: ['pod-template-hash'],
        },
      ]),
    );
  }
  if (autoscaling) {
    new kplus.HorizontalPodAutoscaler(scope, 'autoscaler', {
      metadata: { name: s.name, labels, annotations: { [METRICS_EXEMPTION_ANNOTATION]: METRICS_EXEMPTION } },
      target: deployment,
      minReplicas: autoscaling.minReplicas,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(40))],
      scaleDown: { stabilizationWindow: Duration.seconds(300), policies: [{ replicas: kplus.Replicas.percent(50), duration: Duration.minutes(1) }] },
    });
  }
  if (max >= 2) {
    new kplus.k8s.KubePodDisruptionBudget(scope, 'disruption-budget', {
      metadata: { name: s.name, labels },
      spec: {
        selector: { matchLabels: { ...selector } },
        maxUnavailable: kplus.k8s.IntOrString.fromNumber(1),
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }
  const service = new kplus.Service(scope, 'service', {
    metadata: { name: s.name, labels },
    type: kplus.ServiceType.CLUSTER_IP,
    ports: [{ name: 'http', port: s.port, targetPort: s.port, protocol: kplus.Protocol.TCP }],
  });
  for (const [key, value] of Object.entries(selector)) service.selectLabel(key, value);
}

// Namespaces first, then identities, then the rest: the order shipshape's kustomization.yaml lists objects in.
function tier(kind: string): number {
  return kind === 'Namespace' ? 0 : kind === 'ServiceAccount' ? 1 : 2;
}

/** Writes a plain cdk8s app the way a small hand-written script would: one YAML file per object and a kustomization.yaml per environment. */
export function writeRawApp(app: App, outdir: string): number {
  let count = 0;
  // What cdk8s' own synth does once per app: run every construct's validations.
  const errors = app.node.findAll().flatMap((c) => c.node.validate().map((e) => `[${c.node.path}] ${e}`));
  if (errors.length > 0) throw new Error(`Validation failed:\n  ${errors.join('\n  ')}`);
  for (const chart of app.node.children as Chart[]) {
    const manifests = chart.node
      .findAll()
      .filter(ApiObject.isApiObject)
      .map((o) => o.toJson())
      .map((m: any) => {
        if (m.kind !== 'Namespace') return m;
        const { namespace: _dropped, ...metadata } = m.metadata;
        return { ...m, metadata };
      });
    manifests.sort(
      (a: any, b: any) =>
        tier(a.kind) - tier(b.kind) || byCodePoint(a.kind, b.kind) || byCodePoint(a.metadata.namespace ?? '', b.metadata.namespace ?? '') || byCodePoint(a.metadata.name, b.metadata.name),
    );
    const dir = path.join(outdir, chart.node.id, 'kubernetes');
    fs.mkdirSync(dir, { recursive: true });
    const names = manifests.map((m: any) => `${m.kind.toLowerCase()}-${m.metadata.name}.yaml`);
    manifests.forEach((m: any, i: number) => fs.writeFileSync(path.join(dir, names[i]), stringify(m, BENCH_YAML_OPTIONS)));
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: names }, BENCH_YAML_OPTIONS));
    count += manifests.length;
  }
  return count;
}
