import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertDnsLabel, assertInteger } from '../core/names';
import { Stack } from '../core/stack';
import { cpuMillicores, sizeMebibytes } from '../core/quantities';
import { CREDENTIALS_REVISION_ANNOTATION, ELASTICSEARCH_CREDENTIAL_KEYS, ELASTICSEARCH_VERSION, Elasticsearch } from './elasticsearch';
import { assertPinnedImage, imageTag } from '../core/images';
import { resources } from '../core/resources';
import { hostnameAntiAffinity, zoneSpread } from '../core/scheduling';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { checkImagePullSecrets, imagePullSecretRefs } from '../workloads/workload-metadata';
import { assertCredentialsRevision, plainEnv, secretEnv } from './support';

/** Properties of a {@link Kibana}. */
export interface KibanaProps {
  /** The Elasticsearch cluster Kibana reads; its URL, credentials Secret and NetworkPolicy are wired from it. */
  readonly elasticsearch: Elasticsearch;
  /**
   * Name of the Deployment and Service.
   * @default 'kibana'
   */
  readonly name?: string;
  /**
   * Image with a pinned tag; its version must match Elasticsearch's major.minor.
   * @default KIBANA_IMAGE
   */
  readonly image?: string;
  /**
   * Replicas.
   * @default - 2 when Elasticsearch has 3 or more nodes, else 1
   */
  readonly replicas?: number;
  /**
   * Memory request and limit.
   * @default 1 GiB (Kibana 8's Node.js server needs about 700 MiB)
   */
  readonly memory?: Size;
  /**
   * CPU request (no CPU limit: limits throttle).
   * @default Cpu.millis(100)
   */
  readonly cpu?: kplus.Cpu;
  /**
   * Public URL users open Kibana at (server.publicBaseUrl), for links in alerts and reports.
   * @default - not set
   */
  readonly publicBaseUrl?: string;
  /**
   * PriorityClass of the pods.
   * @default - none (the cluster's default priority)
   */
  readonly priorityClassName?: string;
  /**
   * Revision of the credentials Secret, written on the pod template so the pods restart (and read the new
   * values) when it changes. EfkLogging passes its `credentialsRevision`.
   * @default - the Elasticsearch cluster's `credentialsRevision`, or none
   */
  readonly credentialsRevision?: string;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` in the namespace that the image is pulled with,
   * e.g. for a private mirror. Never the credential itself: create the Secret outside Git.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
}

/** Default Kibana image, the same release as ELASTICSEARCH_IMAGE. */
export const KIBANA_IMAGE = `docker.elastic.co/kibana/kibana:${ELASTICSEARCH_VERSION}`;
/** Kibana's HTTP port. */
export const KIBANA_PORT = 5601;
// The kibana user of the official image.
const KIBANA_UID = 1000;
const DEFAULT_MEMORY = Size.gibibytes(1);
// Kibana settings whose value must be the same on every replica, each from its own key of the credentials Secret
// (env names as the Kibana image maps them to settings).
const SHARED_ENCRYPTION_KEYS: readonly (readonly [string, string])[] = [
  // Sessions: one started on a replica stays valid on the others.
  ['XPACK_SECURITY_ENCRYPTIONKEY', ELASTICSEARCH_CREDENTIAL_KEYS.kibanaEncryptionKey],
  // Connectors, alerting rules and other encrypted saved objects: without it they cannot be decrypted after a restart.
  ['XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY', ELASTICSEARCH_CREDENTIAL_KEYS.kibanaSavedObjectsEncryptionKey],
  // Reporting jobs started on one replica and run on another.
  ['XPACK_REPORTING_ENCRYPTIONKEY', ELASTICSEARCH_CREDENTIAL_KEYS.kibanaReportingEncryptionKey],
];

/**
 * Kibana as a Deployment and a ClusterIP Service, connected to an
 * {@link Elasticsearch} cluster as `kibana_system` with the password from the
 * cluster's credentials Secret, and allowed through its NetworkPolicy. Every
 * replica reads the same three encryption keys (sessions, encrypted saved
 * objects, reporting) from that Secret.
 */
export class Kibana extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly replicas: number;
  /** `http://kibana.logging.svc:5601`. */
  public readonly url: string;
  public readonly selector: Readonly<Record<string, string>>;
  public readonly deployment: kplus.k8s.KubeDeployment;
  public readonly service: kplus.k8s.KubeService;
  /** The PodDisruptionBudget, when there are two or more replicas. */
  public readonly disruptionBudget?: kplus.k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: KibanaProps) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const es = props.elasticsearch;
    this.name = assertDnsLabel(this, 'name', props.name ?? 'kibana');
    // Same namespace as Elasticsearch: its NetworkPolicy admits clients by pod labels within the namespace.
    this.namespace = es.namespace;
    const image = assertPinnedImage(this, 'image', props.image ?? KIBANA_IMAGE, KIBANA_IMAGE);
    const kibanaVersion = minorVersion(imageTag(image));
    const esVersion = minorVersion(imageTag(es.image));
    if (kibanaVersion && esVersion && kibanaVersion !== esVersion) {
      throw new ShipshapeError(this, {
        problem: `Kibana ${kibanaVersion} does not work with Elasticsearch ${esVersion}; the two must be the same release`,
        value: image,
        fix: `use the Kibana image of Elasticsearch's version (${imageTag(es.image)})`,
      });
    }
    this.replicas = assertInteger(this, 'replicas', props.replicas ?? (es.replicas >= 3 ? 2 : 1), 1, 20);
    const memory = props.memory ?? DEFAULT_MEMORY;
    const cpu = props.cpu ?? kplus.Cpu.millis(100);
    cpuMillicores(this, 'cpu', cpu);
    sizeMebibytes(this, 'memory', memory);
    if (!(memory.toMebibytes({ rounding: 1 }) >= 512)) {
      throw new ShipshapeError(this, { problem: 'Kibana needs at least 512 MiB of memory', value: memory.toMebibytes({ rounding: 1 }), fix: 'use Size.gibibytes(1)' });
    }
    if (props.publicBaseUrl !== undefined && !/^https?:\/\/[^\s/]+(\/[^\s]*)?[^/\s]$/.test(props.publicBaseUrl)) {
      throw new ShipshapeError(this, { problem: 'publicBaseUrl must be an http(s) URL without a trailing slash', value: props.publicBaseUrl, fix: 'use e.g. "https://kibana.example.com"' });
    }
    const priorityClassName = props.priorityClassName === undefined ? undefined : assertDnsLabel(this, 'priorityClassName', props.priorityClassName);
    const revision = props.credentialsRevision === undefined ? es.credentialsRevision : assertCredentialsRevision(this, props.credentialsRevision);
    const pullSecrets = imagePullSecretRefs(checkImagePullSecrets(this, props.imagePullSecrets ?? []));
    this.selector = Object.freeze(selectorLabels(this.name, env));
    const labels = workloadLabels(this.name, env, 'dashboard');
    const metadata = (name: string) => ({ name, namespace: this.namespace, labels });
    this.url = `http://${this.name}.${this.namespace}.svc:${KIBANA_PORT}`;
    es.allowClient(this.selector);

    this.deployment = new kplus.k8s.KubeDeployment(this, 'deployment', {
      metadata: metadata(this.name),
      spec: {
        replicas: this.replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: { ...this.selector } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: kplus.k8s.IntOrString.fromNumber(1), maxUnavailable: kplus.k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: { labels, annotations: revision === undefined ? undefined : { [CREDENTIALS_REVISION_ANNOTATION]: revision } },
          spec: {
            automountServiceAccountToken: false,
            imagePullSecrets: pullSecrets,
            priorityClassName,
            securityContext: restrictedPodSecurityContext({ runAsUser: KIBANA_UID, fsGroup: KIBANA_UID }),
            affinity: hostnameAntiAffinity(this.selector, 'preferred'),
            topologySpreadConstraints: this.replicas > 1 ? zoneSpread(env, this.selector) : undefined,
            containers: [
              {
                name: 'kibana',
                image,
                imagePullPolicy: 'IfNotPresent',
                ports: [{ name: 'http', containerPort: KIBANA_PORT }],
                env: [
                  plainEnv('SERVER_HOST', '0.0.0.0'),
                  ...(props.publicBaseUrl ? [plainEnv('SERVER_PUBLICBASEURL', props.publicBaseUrl)] : []),
                  plainEnv('ELASTICSEARCH_HOSTS', JSON.stringify([es.url])),
                  // Kibana 8 refuses the elastic superuser; kibana_system is the built-in user for its own connection.
                  plainEnv('ELASTICSEARCH_USERNAME', 'kibana_system'),
                  secretEnv('ELASTICSEARCH_PASSWORD', es.credentialsSecret, ELASTICSEARCH_CREDENTIAL_KEYS.kibanaSystem),
                  ...SHARED_ENCRYPTION_KEYS.map(([name, key]) => secretEnv(name, es.credentialsSecret, key)),
                ],
                resources: resources({ cpu, memory }),
                // Writable root filesystem as in Elastic's own manifests; data and /tmp are emptyDirs either way.
                securityContext: restrictedContainerSecurityContext(KIBANA_UID, { readOnlyRootFilesystem: false, seccomp: false }),
                // /login answers 200 only once Kibana is connected and its migrations are done (ECK's readiness check).
                readinessProbe: { httpGet: { path: '/login', port: kplus.k8s.IntOrString.fromString('http') }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
                livenessProbe: { tcpSocket: { port: kplus.k8s.IntOrString.fromString('http') }, initialDelaySeconds: 120, periodSeconds: 20, failureThreshold: 6 },
                volumeMounts: [
                  { name: 'data', mountPath: '/usr/share/kibana/data' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'data', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    });
    this.service = new kplus.k8s.KubeService(this, 'service', {
      metadata: metadata(this.name),
      spec: { type: 'ClusterIP', selector: { ...this.selector }, ports: [{ name: 'http', port: KIBANA_PORT, targetPort: kplus.k8s.IntOrString.fromString('http') }] },
    });
    if (this.replicas >= 2) {
      this.disruptionBudget = new kplus.k8s.KubePodDisruptionBudget(this, 'disruption-budget', {
        metadata: metadata(this.name),
        spec: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...this.selector } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
      });
    }
  }
}

function minorVersion(tag: string | undefined): string | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(tag ?? '');
  return m ? `${m[1]}.${m[2]}` : undefined;
}
