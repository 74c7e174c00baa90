import { createHash } from 'node:crypto';
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { deferDerived, isDeferred } from '../core/deferred';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertPinnedImage } from '../core/images';
import { assertDnsLabel } from '../core/names';
import { OutputFile } from '../core/output-file';
import { exempt } from '../core/policy/exemptions';
import { Stack } from '../core/stack';
import { cpuMillicores, durationSeconds, sizeMebibytes } from '../core/quantities';
import { resources } from '../core/resources';
import { hardenedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { AZURE_WORKLOAD_IDENTITY_LABEL, WORKLOAD_IDENTITY_ANNOTATIONS } from '../core/workload-identity';
import { checkAnnotations, checkIdentity, checkImagePullSecrets, imagePullSecretRefs } from '../workloads/workload-metadata';
import { CREDENTIALS_REVISION_ANNOTATION, ELASTICSEARCH_CREDENTIAL_KEYS, Elasticsearch } from './elasticsearch';
import { FluentdBufferProps, FluentdConfig, FluentdS3OutputProps, FluentdTailProps } from './fluentd-config';
import { assertCredentialsRevision, plainEnv, secretEnv } from './support';

/** The S3 archive of the collector. */
export interface FluentdArchiveProps extends FluentdS3OutputProps {
  /**
   * Secret with `access-key-id` and `secret-access-key`; `false` when the pod gets AWS credentials from its
   * service account (IRSA) or the node role.
   * @default 'fluentd-s3-credentials'
   */
  readonly credentialsSecret?: string | false;
}

/** Properties of a {@link FluentdDaemonSet}. */
export interface FluentdDaemonSetProps {
  /**
   * Name of the DaemonSet, ServiceAccount, ClusterRole, ClusterRoleBinding and prefix of the ConfigMap and metrics Service.
   * @default 'fluentd'
   */
  readonly name?: string;
  /**
   * Namespace.
   * @default - the Elasticsearch cluster's namespace, else the environment's
   */
  readonly namespace?: string;
  /**
   * Elasticsearch to ship to: host, port, scheme and credentials are wired from it, and its NetworkPolicy admits the collector.
   * @default - no Elasticsearch output
   */
  readonly elasticsearch?: Elasticsearch;
  /**
   * Daily index prefix in Elasticsearch.
   * @default `logs-<environment>`
   */
  readonly indexPrefix?: string;
  /**
   * Buffer of the Elasticsearch output.
   * @default - a file buffer (see FluentdBufferProps)
   */
  readonly elasticsearchBuffer?: FluentdBufferProps;
  /**
   * Archive to S3 (with Elasticsearch: both, through `copy`).
   * @default - no archive
   */
  readonly archive?: FluentdArchiveProps;
  /**
   * Tail source settings.
   * @default - /var/log/containers/*.log with the runtime's parser
   */
  readonly tail?: FluentdTailProps;
  /**
   * Image with a pinned tag. By default the fluentd-kubernetes-daemonset variant that has every plugin the
   * configuration uses; when none has (Elasticsearch and S3 together) an image must be given, and the Dockerfile
   * that builds it is written to `dist/<env>/images/<name>/Dockerfile`.
   * @default - the matching FLUENTD_IMAGES variant
   */
  readonly image?: string;
  /**
   * Memory request and limit.
   * @default 512 MiB
   */
  readonly memory?: Size;
  /**
   * CPU request (no CPU limit: limits throttle).
   * @default Cpu.millis(100)
   */
  readonly cpu?: kplus.Cpu;
  /**
   * Time a stopping pod gets to flush every buffer (`flush_at_shutdown`), in whole seconds. It must cover one
   * bulk request running into its timeout plus the upload of the staged S3 slice (FLUENTD_SHUTDOWN_FLUSH_SECONDS);
   * what a store refuses stays in the file buffer for the next pod on the node.
   * @default Duration.seconds(60) (twice fluentd-kubernetes-daemonset's 30 s, which is shorter than one bulk request timeout)
   */
  readonly terminationGracePeriod?: Duration;
  /**
   * PriorityClass: the collector must not be evicted before the pods whose logs it ships.
   * @default 'system-node-critical'
   */
  readonly priorityClassName?: string;
  /**
   * Revision of the Elasticsearch credentials Secret, written on the pod template so the pods restart with the
   * new password when it changes. EfkLogging passes its `credentialsRevision`.
   * @default - the Elasticsearch cluster's `credentialsRevision`, or none
   */
  readonly credentialsRevision?: string;
  /**
   * Annotations on the collector's ServiceAccount, chiefly its cloud identity: with EKS IAM roles for service
   * accounts (`eks.amazonaws.com/role-arn: arn:aws:iam::<account>:role/<name>`) the S3 archive writes with that
   * role, and `archive.credentialsSecret` must then be `false` (static keys would win over the role). GKE
   * (`iam.gke.io/gcp-service-account`) and Azure (`azure.workload.identity/client-id`, which also labels the pods
   * `azure.workload.identity/use: "true"`) identities are accepted too. Formats are checked as for
   * AntiAffinityDeployment; a value known only at deploy time (a Pulumi output) when it is resolved.
   * @default {}
   */
  readonly serviceAccountAnnotations?: Record<string, string>;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` in the collector's namespace that its image is
   * pulled with, e.g. for the custom image a configuration with Elasticsearch and S3 needs, or a private mirror.
   * Never the credential itself: create the Secret outside Git.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
}

/** A fluentd-kubernetes-daemonset image and the plugin gems it contains. */
export interface FluentdImageVariant {
  readonly image: string;
  readonly plugins: readonly string[];
}

// fluent/fluentd-kubernetes-daemonset v1.17.1 variants (Gemfiles of docker-image/v1.17/debian-*).
const COMMON_PLUGINS = ['fluent-plugin-concat', 'fluent-plugin-kubernetes_metadata_filter', 'fluent-plugin-parser-cri', 'fluent-plugin-prometheus'];
/** Upstream images the collector can run without a custom build. */
export const FLUENTD_IMAGES: readonly FluentdImageVariant[] = [
  { image: 'fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.0', plugins: [...COMMON_PLUGINS, 'fluent-plugin-dedot_filter', 'fluent-plugin-elasticsearch'] },
  { image: 'fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-s3-1.0', plugins: [...COMMON_PLUGINS, 'fluent-plugin-s3'] },
];
// Versions installed on top of an upstream variant when it lacks a plugin.
const PLUGIN_VERSIONS: Readonly<Record<string, string>> = {
  'fluent-plugin-s3': '1.7.2',
  'fluent-plugin-elasticsearch': '5.4.3',
  'fluent-plugin-dedot_filter': '1.0.0',
};
const DEFAULT_MEMORY = Size.mebibytes(512);
const DEFAULT_GRACE_PERIOD = Duration.seconds(60);
const DEFAULT_CPU = kplus.Cpu.millis(100);
/**
 * cluster-autoscaler evicts a DaemonSet pod before deleting its node only when the pod asks for it (or the
 * autoscaler runs with --daemonset-eviction-for-*-nodes): the eviction is the SIGTERM that flushes the buffers
 * kept on that node's disk (cluster-autoscaler FAQ, "How can I enable/disable eviction for a specific DaemonSet").
 */
export const DAEMONSET_EVICTION_ANNOTATION = 'cluster-autoscaler.kubernetes.io/enable-ds-eviction';
const CONFIG_DIRECTORY = '/fluentd/etc';

/**
 * Fluentd on every node (control-plane included): tails the container logs,
 * adds Kubernetes metadata and ships to Elasticsearch and/or S3. Comes with
 * a ServiceAccount and a read-only ClusterRole (pods, namespaces), the
 * rendered fluent.conf in a ConfigMap whose checksum rolls the pods, a
 * liveness probe on monitor_agent, and a headless metrics Service. Its pods
 * ask cluster-autoscaler to evict them before a node is removed, and get the
 * grace period to flush both file buffers. It runs as root with hostPath
 * mounts; both are declared policy exemptions.
 */
export class FluentdDaemonSet extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly config: FluentdConfig;
  /** The rendered fluent.conf. */
  public readonly configText: string;
  public readonly image: string;
  public readonly selector: Readonly<Record<string, string>>;
  public readonly daemonSet: kplus.k8s.KubeDaemonSet;
  public readonly configMap: kplus.k8s.KubeConfigMap;
  public readonly serviceAccount: kplus.k8s.KubeServiceAccount;
  public readonly clusterRole: kplus.k8s.KubeClusterRole;
  public readonly clusterRoleBinding: kplus.k8s.KubeClusterRoleBinding;
  /** Headless Service exposing `metrics` (24231) and `monitor` (24220) on every pod. */
  public readonly metricsService: kplus.k8s.KubeService;
  /** The Dockerfile of the custom image, when the configuration needs one. */
  public readonly dockerfile?: OutputFile;

  constructor(scope: Construct, id: string, props: FluentdDaemonSetProps) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    this.name = assertDnsLabel(this, 'name', props.name ?? 'fluentd');
    this.namespace = assertDnsLabel(this, 'namespace', props.namespace ?? props.elasticsearch?.namespace ?? env.namespace);
    const memory = props.memory ?? DEFAULT_MEMORY;
    sizeMebibytes(this, 'memory', memory);
    const grace = durationSeconds(this, 'terminationGracePeriod', props.terminationGracePeriod ?? DEFAULT_GRACE_PERIOD, 10, 3600);
    const cpu = props.cpu ?? DEFAULT_CPU;
    cpuMillicores(this, 'cpu', cpu);
    const revision = props.credentialsRevision === undefined ? props.elasticsearch?.credentialsRevision : assertCredentialsRevision(this, props.credentialsRevision);
    const es = props.elasticsearch;
    if (es && es.namespace !== this.namespace) {
      throw new ShipshapeError(this, {
        problem: `the collector is in namespace ${this.namespace} but Elasticsearch in ${es.namespace}; its NetworkPolicy admits clients of its own namespace only`,
        value: this.namespace,
        fix: 'put the collector in the Elasticsearch namespace (EfkLogging does)',
      });
    }
    const archive = props.archive;
    const accountAnnotations = checkAnnotations(this, 'serviceAccountAnnotations', props.serviceAccountAnnotations ?? {});
    const identity = checkIdentity(this, 'serviceAccountAnnotations', accountAnnotations);
    const pullSecrets = imagePullSecretRefs(checkImagePullSecrets(this, props.imagePullSecrets ?? []));
    this.config = new FluentdConfig(this, {
      runtime: env.containerRuntime,
      tail: {
        ...props.tail,
        // The collector's own output would otherwise be read back and shipped in a loop.
        excludePaths: [...(props.tail?.excludePaths ?? []), `/var/log/containers/${this.name}-*_${this.namespace}_*.log`],
      },
      elasticsearch: es ? { host: es.host, port: es.port, scheme: es.scheme, indexPrefix: props.indexPrefix ?? `logs-${env.name}`, buffer: props.elasticsearchBuffer } : undefined,
      s3: archive,
      memoryLimit: memory,
    });
    this.configText = this.config.render();
    if (grace < this.config.shutdownFlushSeconds) {
      throw new ShipshapeError(this, {
        problem: `terminationGracePeriod ${grace} s is shorter than the ${this.config.shutdownFlushSeconds} s a SIGTERM may need to flush the buffers (one bulk request timing out plus the staged S3 slice); a node removed after the kill loses what is left`,
        value: grace,
        fix: `use at least Duration.seconds(${this.config.shutdownFlushSeconds}), or omit it for ${DEFAULT_GRACE_PERIOD.toSeconds()} s`,
      });
    }
    this.image = this.resolveImage(props.image);
    this.selector = Object.freeze(selectorLabels(this.name, env));
    const labels = workloadLabels(this.name, env, 'log-collector');
    const metadata = (name: string) => ({ name, namespace: this.namespace, labels });
    es?.allowClient(this.selector);

    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', {
      metadata: { ...metadata(this.name), ...(Object.keys(accountAnnotations).length > 0 ? { annotations: accountAnnotations } : {}) },
    });
    // kubernetes_metadata reads pods and namespaces to label each record; nothing else.
    this.clusterRole = new kplus.k8s.KubeClusterRole(this, 'cluster-role', {
      metadata: { name: this.name, labels },
      rules: [{ apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] }],
    });
    this.clusterRoleBinding = new kplus.k8s.KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name: this.name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.name },
      subjects: [{ kind: 'ServiceAccount', name: this.name, namespace: this.namespace }],
    });
    const configName = `${this.name}-config`;
    this.configMap = new kplus.k8s.KubeConfigMap(this, 'config-map', { metadata: metadata(configName), data: { 'fluent.conf': this.configText } });

    const envVars: kplus.k8s.EnvVar[] = [
      // kubernetes_metadata watches only the pods of its own node.
      { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ];
    if (es) {
      envVars.push(plainEnv('FLUENT_ELASTICSEARCH_USER', 'fluentd'), secretEnv('FLUENT_ELASTICSEARCH_PASSWORD', es.credentialsSecret, ELASTICSEARCH_CREDENTIAL_KEYS.fluentd));
    }
    const s3Secret = archive ? (archive.credentialsSecret === undefined ? 'fluentd-s3-credentials' : archive.credentialsSecret) : false;
    if (s3Secret !== false) {
      assertDnsLabel(this, 'archive.credentialsSecret', s3Secret);
      if (identity.includes('aws')) {
        throw new ShipshapeError(this, {
          problem: `serviceAccountAnnotations give the collector an IAM role, but the archive also reads static keys from Secret ${s3Secret}; the AWS SDK takes the keys first, so the role is never used`,
          value: { [WORKLOAD_IDENTITY_ANNOTATIONS.aws]: accountAnnotations[WORKLOAD_IDENTITY_ANNOTATIONS.aws], credentialsSecret: s3Secret },
          fix: 'set archive.credentialsSecret: false to write with the role, or drop the role annotation',
        });
      }
      envVars.push(secretEnv('AWS_ACCESS_KEY_ID', s3Secret, 'access-key-id'), secretEnv('AWS_SECRET_ACCESS_KEY', s3Secret, 'secret-access-key'));
    }

    const docker = env.containerRuntime === 'docker';
    const hostVolumes: { name: string; path: string; mountPath: string; readOnly: boolean; type: string }[] = [
      // Container logs: /var/log/containers symlinks into /var/log/pods; read-only, the collector never writes there.
      { name: 'varlog', path: '/var/log', mountPath: '/var/log', readOnly: true, type: 'Directory' },
      ...(docker ? [{ name: 'dockercontainers', path: '/var/lib/docker/containers', mountPath: '/var/lib/docker/containers', readOnly: true, type: 'Directory' }] : []),
      // Pos files and file buffers outlive the pod, so a restart resumes reading and flushing where it stopped.
      { name: 'state', path: this.config.stateDirectory, mountPath: this.config.stateDirectory, readOnly: false, type: 'DirectoryOrCreate' },
    ];
    const probe = (initialDelaySeconds: number): kplus.k8s.Probe => ({
      httpGet: { path: '/api/plugins.json', port: kplus.k8s.IntOrString.fromString('monitor') },
      initialDelaySeconds,
      periodSeconds: 15,
      timeoutSeconds: 5,
      failureThreshold: 4,
    });
    // A deploy-time value (the archive bucket) is hashed once resolved, so a new value rolls the pods as a new literal does.
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    const checksum = isDeferred(this.configText) ? deferDerived(this.configText, sha256) : sha256(this.configText);

    this.daemonSet = new kplus.k8s.KubeDaemonSet(this, 'daemon-set', {
      metadata: metadata(this.name),
      spec: {
        selector: { matchLabels: { ...this.selector } },
        revisionHistoryLimit: 5,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: {
            labels: identity.includes('azure') ? { ...labels, [AZURE_WORKLOAD_IDENTITY_LABEL]: 'true' } : labels,
            annotations: {
              'checksum/config': checksum,
              [DAEMONSET_EVICTION_ANNOTATION]: 'true',
              ...(revision === undefined ? {} : { [CREDENTIALS_REVISION_ANNOTATION]: revision }),
            },
          },
          spec: {
            serviceAccountName: this.name,
            imagePullSecrets: pullSecrets,
            priorityClassName: assertDnsLabel(this, 'priorityClassName', props.priorityClassName ?? 'system-node-critical'),
            terminationGracePeriodSeconds: grace,
            // Every node, control plane and tainted groups included: a node without a collector is a blind spot.
            tolerations: [{ operator: 'Exists' }],
            securityContext: restrictedPodSecurityContext(),
            containers: [
              {
                name: 'fluentd',
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                // Fluentd directly, not the image's entrypoint.sh: that script edits fluent.conf in place with sed -i when
                // the Elasticsearch variables are unset, which fails on the read-only ConfigMap mount.
                command: ['tini', '--', 'fluentd', '-c', `${CONFIG_DIRECTORY}/fluent.conf`, '-p', '/fluentd/plugins'],
                env: envVars,
                ports: [
                  { name: 'monitor', containerPort: this.config.monitorPort },
                  { name: 'metrics', containerPort: this.config.metricsPort },
                ],
                resources: resources({ cpu, memory }),
                securityContext: {
                  // Root reads the root-owned 0640 log files; no capability beyond file ownership is needed.
                  runAsUser: 0,
                  runAsNonRoot: false,
                  ...hardenedContainerSecurityContext(),
                },
                livenessProbe: probe(30),
                readinessProbe: probe(5),
                volumeMounts: [
                  ...hostVolumes.map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: v.readOnly })),
                  { name: 'config', mountPath: CONFIG_DIRECTORY, readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [...hostVolumes.map((v) => ({ name: v.name, hostPath: { path: v.path, type: v.type } })), { name: 'config', configMap: { name: configName } }, { name: 'tmp', emptyDir: {} }],
          },
        },
      },
    });
    exempt(
      this.daemonSet,
      'pod-security',
      'Fluentd runs as root to read the root-owned container log files under /var/log/pods and to write its pos files and buffers on the node; it is unprivileged, cannot escalate and drops every capability',
    );
    exempt(
      this.daemonSet,
      'host-path-volume',
      `a node log collector reads /var/log${docker ? ' and /var/lib/docker/containers' : ''} read-only and keeps pos files and buffers in ${this.config.stateDirectory} so a restart neither loses nor repeats logs`,
    );

    this.metricsService = new kplus.k8s.KubeService(this, 'metrics-service', {
      metadata: metadata(`${this.name}-metrics`),
      spec: {
        clusterIp: 'None',
        selector: { ...this.selector },
        ports: [
          { name: 'metrics', port: this.config.metricsPort, targetPort: kplus.k8s.IntOrString.fromString('metrics') },
          { name: 'monitor', port: this.config.monitorPort, targetPort: kplus.k8s.IntOrString.fromString('monitor') },
        ],
      },
    });

    if (!FLUENTD_IMAGES.some((v) => v.image === this.image)) {
      const base = closestVariant(this.config.plugins);
      const missing = this.config.plugins.filter((p) => !base.plugins.includes(p));
      if (missing.length > 0) {
        this.dockerfile = new OutputFile(this, 'dockerfile', { path: `images/${this.name}/Dockerfile`, content: dockerfile(base.image, missing, this.image) });
      }
    }
  }

  private resolveImage(image: string | undefined): string {
    const plugins = this.config.plugins;
    if (image !== undefined) {
      assertPinnedImage(this, 'image', image, FLUENTD_IMAGES[0].image);
      const known = FLUENTD_IMAGES.find((v) => v.image === image);
      const missing = known ? plugins.filter((p) => !known.plugins.includes(p)) : [];
      if (missing.length > 0) {
        throw new ShipshapeError(this, {
          problem: `image ${image} lacks the plugins ${missing.join(', ')} that fluent.conf uses; Fluentd would fail with "Unknown plugin"`,
          value: image,
          fix: 'omit image to get a matching variant, or build one with the plugins',
        });
      }
      return image;
    }
    const variant = FLUENTD_IMAGES.find((v) => plugins.every((p) => v.plugins.includes(p)));
    if (!variant) {
      const base = closestVariant(plugins);
      const missing = plugins.filter((p) => !base.plugins.includes(p));
      throw new ShipshapeError(this, {
        problem: `no fluentd-kubernetes-daemonset variant has all of ${plugins.join(', ')}`,
        value: this.config.outputs,
        fix: `build an image FROM ${base.image} with ${missing.map((p) => `${p} ${PLUGIN_VERSIONS[p] ?? ''}`.trim()).join(', ')} installed, push it with a version tag and set image (the Dockerfile is then written to images/${this.name}/Dockerfile)`,
      });
    }
    return variant.image;
  }
}

function closestVariant(plugins: readonly string[]): FluentdImageVariant {
  const score = (v: FluentdImageVariant) => plugins.filter((p) => v.plugins.includes(p)).length;
  return [...FLUENTD_IMAGES].sort((a, b) => score(b) - score(a))[0];
}

function dockerfile(base: string, missing: readonly string[], target: string): string {
  return [
    `# Fluentd with every plugin the rendered fluent.conf uses. Build and push as ${target}:`,
    `#   docker build -t ${target} . && docker push ${target}`,
    `FROM ${base}`,
    'USER root',
    ...missing.map((p) => `RUN gem install ${p}${PLUGIN_VERSIONS[p] ? ` -v ${PLUGIN_VERSIONS[p]}` : ''} --no-document`),
    '',
  ].join('\n');
}
