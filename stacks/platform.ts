import { App, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import {
  AntiAffinityDeployment,
  AntiAffinityDeploymentProps,
  CanaryRelease,
  ElasticsearchExporter,
  Environment,
  KubeStateMetrics,
  LABELS,
  ShipshapeApp,
  Stack,
  WorkloadAlerts,
  WorkloadIngress,
} from '../lib';
import { addArgoCdApplications, addClusterOperations } from './cluster';
import { environments, platformSettings } from './environments';
import { addLogging } from './logging';
import { buildSwarmPlatform } from './swarm';

// Release versions of the platform's own images.
const WEB_API_IMAGE = 'ghcr.io/acme/web-api:1.14.2';
// The release tried as a canary where the environment gives it a share of web-api's requests.
const WEB_API_CANARY_IMAGE = 'ghcr.io/acme/web-api:1.15.0-rc.1';
const WORKER_IMAGE = 'ghcr.io/acme/report-worker:3.2.0';

/** The reference platform in one environment: a web API on the webapi nodes and a batch worker on the batch nodes. */
export function buildPlatform(app: App, environment: Environment): Stack {
  const platform = platformSettings(environment);
  const stack = new Stack(app, environment.name, { environment, labels: { [LABELS.partOf]: 'acme-platform' } });
  // Shared clusters get the autoscaler, metrics-server, priority classes, etcd backups and team access.
  const operations = platform.clusterOperations ? addClusterOperations(stack) : undefined;
  // Every environment ships its container logs to Elasticsearch (and to S3 where its logging settings archive).
  const logging = addLogging(stack, { priorityClassName: operations?.priorityClasses.names.critical });
  // Observability: kube-prometheus-stack (stage, prod) brings kube-state-metrics; dev runs its own. The workload
  // alerts read it, the Elasticsearch alerts the exporter.
  if (!environment.monitoring.prometheusOperator) new KubeStateMetrics(stack, 'kube-state-metrics');
  const exporter = new ElasticsearchExporter(stack, 'elasticsearch-exporter', { elasticsearch: logging.elasticsearch });
  new WorkloadAlerts(stack, 'workload-alerts', { elasticsearch: exporter });

  // Application settings live in a ConfigMap and credentials in Secrets created by the secret manager;
  // the platform refers to them by name and never carries their values.
  const settings = new kplus.ConfigMap(stack, 'web-api-settings', {
    metadata: { name: 'web-api-settings' },
    data: { LOG_FORMAT: 'json', LOG_LEVEL: platform.applications.logLevel, QUEUE_URL: `amqp://queue.${environment.namespace}.svc:5672` },
  });

  const webApiProps: Omit<AntiAffinityDeploymentProps, 'name' | 'image'> = {
    component: 'api',
    nodeGroup: 'webapi',
    ports: [{ name: 'http', port: 8080 }],
    liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
    readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
    // Prometheus metrics on their own port, scraped by a ServiceMonitor where the operator runs.
    metrics: { port: 9090 },
    resources: {
      cpu: { request: kplus.Cpu.millis(250) },
      memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
    },
    envFrom: [{ configMap: settings }],
    env: {
      DATABASE_URL: { secret: 'web-api-database', key: 'url' },
      SESSION_SECRET: { secret: 'web-api-session', key: 'secret' },
    },
    priorityClassName: operations?.priorityClasses.names.high,
    // Keep serving for 5 s after removal from the Service's endpoints, until kube-proxy and the ingress have
    // stopped routing to the pod (the image has /bin/sleep); the app keeps its 30 s after SIGTERM.
    preStopDelay: Duration.seconds(5),
  };
  const webApi = new AntiAffinityDeployment(stack, 'web-api', { ...webApiProps, name: 'web-api', image: WEB_API_IMAGE });
  const publicApi = platform.applications.webApiIngress;
  if (publicApi) {
    const ingress = new WorkloadIngress(stack, 'web-api-ingress', { workload: webApi, host: publicApi.host, tls: { clusterIssuer: publicApi.clusterIssuer } });
    if (publicApi.canaryWeight !== undefined) {
      new CanaryRelease(stack, 'web-api-canary', { stable: ingress, canary: { ...webApiProps, image: WEB_API_CANARY_IMAGE }, weight: publicApi.canaryWeight });
    }
  }

  new AntiAffinityDeployment(stack, 'report-worker', {
    name: 'report-worker',
    component: 'worker',
    image: WORKER_IMAGE,
    nodeGroup: 'batch',
    autoscaling: false,
    replicas: platform.applications.workerReplicas,
    liveness: kplus.Probe.fromCommand(['/app/healthcheck', '--live']),
    readiness: kplus.Probe.fromCommand(['/app/healthcheck', '--ready']),
    envFrom: [{ configMap: settings }],
    env: {
      QUEUE_PASSWORD: { secret: 'report-worker-queue', key: 'password' },
    },
    strategy: { type: 'Recreate' },
    priorityClassName: operations?.priorityClasses.names.batch,
  });

  return stack;
}

/**
 * The whole platform: every Kubernetes environment, one Argo CD Application per environment pointing at its
 * dist/<env>/kubernetes, and the Swarm edge environment.
 */
export function buildApp(): ShipshapeApp {
  const app = new ShipshapeApp();
  addArgoCdApplications(environments.map((environment) => buildPlatform(app, environment)));
  buildSwarmPlatform(app);
  return app;
}
