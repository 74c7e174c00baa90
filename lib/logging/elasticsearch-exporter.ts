import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { assertPinnedImage } from '../core/images';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertDnsLabel } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { resources } from '../core/resources';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { configMapKeyProblem } from '../core/validate';
import { Stack } from '../core/stack';
import { ServiceMonitor, environmentPrometheusLabels } from '../workloads/service-monitor';
import { checkImagePullSecrets, imagePullSecretRefs } from '../workloads/workload-metadata';
import { CREDENTIALS_REVISION_ANNOTATION, ELASTICSEARCH_CREDENTIAL_KEYS, Elasticsearch } from './elasticsearch';
import { assertCredentialsRevision, secretEnv } from './support';

/** Properties of an {@link ElasticsearchExporter}. */
export interface ElasticsearchExporterProps {
  /** The cluster the exporter reads; its credentials Secret and NetworkPolicy are used. */
  readonly elasticsearch: Elasticsearch;
  /**
   * Image.
   * @default ELASTICSEARCH_EXPORTER_IMAGE
   */
  readonly image?: string;
  /**
   * User the exporter connects as; it needs the `monitor` cluster privilege. The password is the key
   * `passwordKey` of the Elasticsearch credentials Secret.
   * @default { username: 'elastic', passwordKey: ELASTICSEARCH_CREDENTIAL_KEYS.elastic } (the only user with `monitor` that the bootstrap provisions; use a monitoring user where one exists)
   */
  readonly credentials?: { readonly username: string; readonly passwordKey: string };
  /**
   * Time between scrapes of the ServiceMonitor (when the environment runs the Prometheus Operator).
   * @default Duration.seconds(30)
   */
  readonly scrapeInterval?: Duration;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` in the Elasticsearch namespace that the image is
   * pulled with, e.g. for a private mirror. Never the credential itself: create the Secret outside Git.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
  /**
   * Revision of the passwords in the credentials Secret, carried on the pod template: a new value restarts the
   * exporter, which reads its password from the Secret only when it starts.
   * @default - the cluster's `credentialsRevision` (EfkLogging's), or none
   */
  readonly credentialsRevision?: string;
}

// prometheus-community elasticsearch_exporter release of the prometheus-elasticsearch-exporter chart 6.x
// (https://github.com/prometheus-community/elasticsearch_exporter/releases); it reads ES_USERNAME / ES_PASSWORD.
export const ELASTICSEARCH_EXPORTER_IMAGE = 'quay.io/prometheuscommunity/elasticsearch-exporter:v1.7.0';
/** Name of the exporter's objects, and the scrape job its rules select. */
export const ELASTICSEARCH_EXPORTER_NAME = 'elasticsearch-exporter';
// The exporter's registered default port (https://github.com/prometheus/prometheus/wiki/Default-port-allocations).
const EXPORTER_PORT = 9108;
// The image runs as nobody.
const RUN_AS_USER = 65534;
// Chart values leave resources empty; the exporter holds one scrape's JSON at a time.
const RESOURCES = resources({ cpu: kplus.Cpu.millis(50), memory: Size.mebibytes(64), memoryLimit: Size.mebibytes(128) });
// Elasticsearch answers the node stats of a large cluster in seconds; longer means it is overloaded.
const ES_TIMEOUT = '30s';
const USERNAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,1023}$/;

/**
 * prometheus-community's elasticsearch-exporter beside an {@link Elasticsearch} cluster: cluster health and every
 * node's filesystem (`--es.all`), read with a password from the cluster's credentials Secret. One replica (a
 * second would report every series twice), a Service named after the scrape job, the Elasticsearch NetworkPolicy
 * opened to it, and a ServiceMonitor when the environment runs the Prometheus Operator. WorkloadAlerts'
 * Elasticsearch rules read its metrics.
 */
export class ElasticsearchExporter extends Construct {
  public readonly deployment: kplus.k8s.KubeDeployment;
  public readonly service: kplus.k8s.KubeService;
  /** The ServiceMonitor, when the environment runs the Prometheus Operator. */
  public readonly serviceMonitor?: ServiceMonitor;
  /** The scrape job name (the Service name). */
  public readonly job: string;
  /** Labels that select the exporter's pod. */
  public readonly selector: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ElasticsearchExporterProps) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const es = props.elasticsearch;
    const image = assertPinnedImage(this, 'image', props.image ?? ELASTICSEARCH_EXPORTER_IMAGE, ELASTICSEARCH_EXPORTER_IMAGE);
    const pullSecrets = imagePullSecretRefs(checkImagePullSecrets(this, props.imagePullSecrets ?? []));
    const revision = props.credentialsRevision === undefined ? es.credentialsRevision : assertCredentialsRevision(this, props.credentialsRevision);
    const credentials = props.credentials ?? { username: 'elastic', passwordKey: ELASTICSEARCH_CREDENTIAL_KEYS.elastic };
    if (typeof credentials.username !== 'string' || !USERNAME.test(credentials.username)) {
      throw new ShipshapeError(this, {
        problem: 'credentials.username must be an Elasticsearch user name',
        value: credentials.username,
        fix: 'use the name of a user with the monitor cluster privilege, e.g. "elastic"',
      });
    }
    const passwordKey = credentials.passwordKey;
    const keyProblem = configMapKeyProblem(passwordKey);
    if (keyProblem !== undefined) {
      throw new ShipshapeError(this, {
        problem: `credentials.passwordKey must be a key of the credentials Secret: ${keyProblem}`,
        value: passwordKey,
        fix: `use e.g. "${ELASTICSEARCH_CREDENTIAL_KEYS.elastic}"`,
      });
    }

    const name = assertDnsLabel(this, 'name', es.name === 'elasticsearch' ? ELASTICSEARCH_EXPORTER_NAME : `${es.name}-exporter`);
    this.job = name;
    const labels = workloadLabels(name, env, 'exporter');
    this.selector = Object.freeze(selectorLabels(name, env));
    const metadata = { name, namespace: es.namespace, labels };
    const port = kplus.k8s.IntOrString.fromString('http');

    this.service = new kplus.k8s.KubeService(this, 'service', {
      metadata,
      spec: { selector: { ...this.selector }, ports: [{ name: 'http', port: EXPORTER_PORT, protocol: 'TCP', targetPort: port }] },
    });
    this.deployment = new kplus.k8s.KubeDeployment(this, 'deployment', {
      metadata,
      spec: {
        replicas: 1,
        revisionHistoryLimit: 5,
        selector: { matchLabels: { ...this.selector } },
        template: {
          metadata: { labels, annotations: revision === undefined ? undefined : { [CREDENTIALS_REVISION_ANNOTATION]: revision } },
          spec: {
            automountServiceAccountToken: false,
            imagePullSecrets: pullSecrets,
            securityContext: restrictedPodSecurityContext(),
            containers: [
              {
                name: 'exporter',
                image,
                imagePullPolicy: 'IfNotPresent',
                args: [`--es.uri=${es.url}`, '--es.all', `--es.timeout=${ES_TIMEOUT}`, `--web.listen-address=:${EXPORTER_PORT}`, '--web.telemetry-path=/metrics'],
                env: [{ name: 'ES_USERNAME', value: credentials.username }, secretEnv('ES_PASSWORD', es.credentialsSecret, passwordKey)],
                ports: [{ name: 'http', containerPort: EXPORTER_PORT, protocol: 'TCP' }],
                livenessProbe: { httpGet: { path: '/healthz', port }, initialDelaySeconds: 5, timeoutSeconds: 5, periodSeconds: 10 },
                readinessProbe: { httpGet: { path: '/healthz', port }, initialDelaySeconds: 5, timeoutSeconds: 5, periodSeconds: 10 },
                resources: RESOURCES,
                securityContext: restrictedContainerSecurityContext(RUN_AS_USER),
              },
            ],
          },
        },
      },
    });
    exempt(this.deployment, 'single-replica', 'an exporter restart only delays the Elasticsearch alerts by a scrape; a second replica would report every series twice');
    es.allowClient(this.selector);

    if (environmentPrometheusLabels(this) !== undefined) {
      this.serviceMonitor = new ServiceMonitor(this, 'service-monitor', { name, namespace: es.namespace, selector: this.selector, port: 'http', interval: props.scrapeInterval, labels });
    }
  }
}
