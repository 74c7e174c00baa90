import { Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertDnsLabel, assertInteger } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { Stack } from '../core/stack';
import { cpuMillicores, sizeMebibytes } from '../core/quantities';
import { assertPinnedImage } from '../core/images';
import { mebibytes, resources } from '../core/resources';
import { hostnameAntiAffinity, zoneSpread } from '../core/scheduling';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { checkImagePullSecrets, imagePullSecretRefs } from '../workloads/workload-metadata';
import { assertCredentialsRevision, plainEnv, secretEnv } from './support';

/** JVM heap: one size for both -Xms and -Xmx, or the two separately (single-node clusters only). */
export type ElasticsearchHeap = string | { readonly initial: string; readonly max: string };

/** Keys of the credentials Secret every EFK component reads. The Secret is created outside Git and referenced by name. */
export const ELASTICSEARCH_CREDENTIAL_KEYS = {
  /** Password of the built-in `elastic` superuser (Elasticsearch sets it on first start). */
  elastic: 'elastic-password',
  /** Password of the built-in `kibana_system` user Kibana connects as. */
  kibanaSystem: 'kibana-system-password',
  /** Password of the `fluentd` user, which may only write log indices. */
  fluentd: 'fluentd-password',
  /** 32+ character key Kibana encrypts sessions with (`xpack.security.encryptionKey`, shared by its replicas). */
  kibanaEncryptionKey: 'kibana-encryption-key',
  /** 32+ character key of Kibana's encrypted saved objects (`xpack.encryptedSavedObjects.encryptionKey`): connectors, alerting rules. */
  kibanaSavedObjectsEncryptionKey: 'kibana-saved-objects-encryption-key',
  /** 32+ character key of Kibana's reporting jobs (`xpack.reporting.encryptionKey`). */
  kibanaReportingEncryptionKey: 'kibana-reporting-encryption-key',
} as const;

/**
 * Pod-template annotation carrying the credentials revision (EfkLogging's `credentialsRevision`): a new value rolls
 * the pods that read the credentials Secret, so they pick up the new passwords.
 */
export const CREDENTIALS_REVISION_ANNOTATION = 'shipshape.io/credentials-revision';

/** Pod anti-affinity of the nodes: `hard` never puts two on one Kubernetes node, `soft` prefers not to. */
export type ElasticsearchAntiAffinity = 'hard' | 'soft';

/** How the kernel's vm.max_map_count ≥ 262144 (Elasticsearch's bootstrap check) is met. */
export type MaxMapCountStrategy = 'init-container' | 'node-prerequisite';

/** Persistent storage of each Elasticsearch node. */
export interface ElasticsearchStorageProps {
  /**
   * Size of each node's volume.
   * @default - 10 GiB for one node, 50 GiB per node otherwise
   */
  readonly size?: Size;
  /**
   * StorageClass of the volumes.
   * @default - the cluster's default StorageClass
   */
  readonly storageClassName?: string;
}

/** Properties of an {@link Elasticsearch}. */
export interface ElasticsearchProps {
  /**
   * Name of the StatefulSet, the client Service and the prefix of the other objects.
   * @default 'elasticsearch'
   */
  readonly name?: string;
  /**
   * Namespace of every object.
   * @default - the environment's namespace
   */
  readonly namespace?: string;
  /**
   * Image with a pinned tag.
   * @default ELASTICSEARCH_IMAGE
   */
  readonly image?: string;
  /**
   * Nodes (all master-eligible data nodes): 1, or an odd number ≥ 3 so a majority survives one loss.
   * @default - 3 when the environment runs 3 or more replicas, else 1
   */
  readonly replicas?: number;
  /**
   * JVM heap in JVM notation (`512m`, `2g`). Xms = Xmx avoids heap resizing pauses; `{ initial, max }` is
   * accepted for a single node.
   * @default '1g' (Elastic's Helm chart esJavaOpts, and what ECK's 2Gi default gives: half the memory)
   */
  readonly heap?: ElasticsearchHeap;
  /**
   * Memory request and limit of the container; the heap may use at most half (the rest is page cache and
   * off-heap: direct memory, metaspace, code cache, the ML controller), and never less than
   * ELASTICSEARCH_MIN_MEMORY.
   * @default - twice the maximum heap (2Gi with the default heap, Elastic's chart and ECK default)
   */
  readonly memory?: Size;
  /**
   * CPU request (no CPU limit: limits throttle).
   * @default - Cpu.millis(250) for one node, Cpu.millis(1000) otherwise
   */
  readonly cpu?: kplus.Cpu;
  /**
   * Volumes.
   * @default - see {@link ElasticsearchStorageProps}
   */
  readonly storage?: ElasticsearchStorageProps;
  /**
   * Secret holding the passwords under {@link ELASTICSEARCH_CREDENTIAL_KEYS}.
   * @default 'elasticsearch-credentials'
   */
  readonly credentialsSecret?: string;
  /**
   * Secret with `tls.crt`, `tls.key` and `ca.crt` (cert-manager's layout) for node-to-node TLS,
   * which Elasticsearch requires with security on and more than one node.
   * @default - `<name>-transport-tls`
   */
  readonly transportTlsSecret?: string;
  /**
   * vm.max_map_count handling. `init-container` sets it with a privileged init container (the Elastic Helm
   * chart's default), which works on any node group without changing node images; `node-prerequisite` leaves it
   * to the node bootstrap (sysctl in the image or user data) and keeps every container unprivileged.
   * @default 'init-container'
   */
  readonly maxMapCount?: MaxMapCountStrategy;
  /**
   * PriorityClass of the pods. Give it one at least as high as the workloads on the same nodes, or the
   * search nodes are the first pods preempted for them.
   * @default - none (the cluster's default priority)
   */
  readonly priorityClassName?: string;
  /**
   * Anti-affinity of the nodes on `kubernetes.io/hostname`. With `hard` (Elastic's chart default) two
   * master-eligible nodes never share a Kubernetes node, so one node loss never costs the quorum; a pod waits
   * Pending rather than doubling up. `soft` lets them share when the cluster is short of nodes.
   * @default 'hard'
   */
  readonly antiAffinity?: ElasticsearchAntiAffinity;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` in the namespace that the image is pulled with (by
   * the nodes and by the ElasticsearchBootstrap Job, which runs the same image), e.g. for a private mirror. Never
   * the credential itself: create the Secret outside Git.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
  /**
   * Revision of the passwords in the credentials Secret, for the clients that read one from it: a client such as
   * ElasticsearchExporter carries it on its pod template, so a new value restarts it with the new password.
   * Elasticsearch's own pods do not carry it (they read the `elastic` password only when the cluster is first
   * created). EfkLogging sets its `credentialsRevision` here.
   * @default - none: clients restart only when their own settings change
   */
  readonly credentialsRevision?: string;
}

/** Elasticsearch release used by default, matched by KIBANA_IMAGE. */
export const ELASTICSEARCH_VERSION = '8.15.3';
/** Default Elasticsearch image. */
export const ELASTICSEARCH_IMAGE = `docker.elastic.co/elasticsearch/elasticsearch:${ELASTICSEARCH_VERSION}`;
/** HTTP port. */
export const ELASTICSEARCH_HTTP_PORT = 9200;
/** Transport (node-to-node) port. */
export const ELASTICSEARCH_TRANSPORT_PORT = 9300;
/**
 * TCP readiness port (`readiness.port`, Elasticsearch 8.2+): open only while the node has joined a cluster with
 * an elected master. ECK's readiness probe on 8.2+ is a socket check on it (port 8080 there too); it needs no
 * credentials, so rotating a password never empties the Service.
 */
export const ELASTICSEARCH_READINESS_PORT = 8080;
/**
 * Least memory an Elasticsearch 8 container gets: the JVM's off-heap use (direct memory, metaspace, code cache,
 * the ML controller) alone is ~300-500 MiB, so a 256m heap already uses 550-800 MiB. 1 GiB is Elastic's own
 * Docker quick start (`docker run -m 1GB`); the default sizing (1g heap, 2Gi) is the Helm chart's and ECK's.
 */
export const ELASTICSEARCH_MIN_MEMORY = Size.gibibytes(1);
// The elasticsearch user of the official image.
const ELASTICSEARCH_UID = 1000;
// Elastic's documented minimum for mmapfs (bootstrap check "max virtual memory areas vm.max_map_count").
const MAX_MAP_COUNT = 262144;
// Elastic's Helm chart (esJavaOpts "-Xmx1g -Xms1g", memory 2Gi) and ECK (2Gi, heap half of it): the floor for dev too.
const DEFAULT_HEAP = '1g';
// Elastic's Helm chart: antiAffinity "hard".
const DEFAULT_ANTI_AFFINITY: ElasticsearchAntiAffinity = 'hard';
// Elastic: keep the heap at most 50% of the memory, and below the ~31 GiB compressed-oops threshold.
const MAX_HEAP_MIB = 31 * 1024;
const SINGLE_NODE_STORAGE = Size.gibibytes(10);
const CLUSTER_STORAGE = Size.gibibytes(50);
const JVM_SIZE = /^(\d+)([kKmMgG])$/;

/** Parses a JVM size (`256m`, `1g`) into MiB; throws naming the field otherwise. */
export function parseJvmSize(scope: Construct | string, field: string, value: string): number {
  const m = JVM_SIZE.exec(typeof value === 'string' ? value : '');
  if (!m || Number(m[1]) === 0) {
    throw new ShipshapeError(scope, { problem: `${field} must be a JVM size such as "256m" or "2g"`, value, fix: 'write a whole number followed by k, m or g' });
  }
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  return unit === 'g' ? n * 1024 : unit === 'm' ? n : n / 1024;
}

/**
 * An Elasticsearch cluster as a StatefulSet: discovery and quorum for 1 or 3+
 * nodes, heap checked against memory and Elasticsearch 8's memory floor, a
 * volume per node, hard anti-affinity between nodes, an optional
 * PriorityClass, a PodDisruptionBudget, readiness on Elasticsearch's TCP
 * readiness port (no credentials), security on with the `elastic` password
 * from a referenced Secret, headless and client Services, and a NetworkPolicy
 * that opens 9200 only to declared clients.
 */
export class Elasticsearch extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly replicas: number;
  /** Heap in MiB: initial and maximum. */
  public readonly heapMiB: { readonly initial: number; readonly max: number };
  /** Memory limit of each node in MiB. */
  public readonly memoryMiB: number;
  public readonly image: string;
  /** Secrets the image is pulled with; other pods running the image (the bootstrap Job) use them too. */
  public readonly imagePullSecrets: readonly string[];
  /** Revision of the passwords in the credentials Secret, which clients reading a password from it carry. */
  public readonly credentialsRevision?: string;
  /** Host name of the client Service, e.g. `elasticsearch.logging.svc`. */
  public readonly host: string;
  public readonly port = ELASTICSEARCH_HTTP_PORT;
  public readonly scheme = 'http' as const;
  /** `http://elasticsearch.logging.svc:9200`. */
  public readonly url: string;
  /** Name of the referenced credentials Secret (keys: {@link ELASTICSEARCH_CREDENTIAL_KEYS}). */
  public readonly credentialsSecret: string;
  /** Labels selecting the Elasticsearch pods. */
  public readonly selector: Readonly<Record<string, string>>;
  public readonly statefulSet: kplus.k8s.KubeStatefulSet;
  public readonly headlessService: kplus.k8s.KubeService;
  public readonly clientService: kplus.k8s.KubeService;
  public readonly disruptionBudget: kplus.k8s.KubePodDisruptionBudget;
  public readonly networkPolicy: kplus.k8s.KubeNetworkPolicy;
  private readonly clients: { labels: Record<string, string> }[] = [];

  constructor(scope: Construct, id: string, props: ElasticsearchProps = {}) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    this.name = assertDnsLabel(this, 'name', props.name ?? 'elasticsearch');
    this.namespace = assertDnsLabel(this, 'namespace', props.namespace ?? env.namespace);
    this.image = assertPinnedImage(this, 'image', props.image ?? ELASTICSEARCH_IMAGE, ELASTICSEARCH_IMAGE);
    this.imagePullSecrets = Object.freeze(checkImagePullSecrets(this, props.imagePullSecrets ?? []));
    if (props.credentialsRevision !== undefined) this.credentialsRevision = assertCredentialsRevision(this, props.credentialsRevision);
    this.replicas = assertInteger(this, 'replicas', props.replicas ?? (env.replicas >= 3 ? 3 : 1), 1, 99);
    if (this.replicas > 1 && this.replicas % 2 === 0) {
      throw new ShipshapeError(this, {
        problem: `${this.replicas} master-eligible nodes tolerate no more failures than ${this.replicas - 1}, and 2 nodes lose their quorum with either one`,
        value: this.replicas,
        fix: `use 1 (development) or an odd number such as ${this.replicas + 1}`,
      });
    }
    const single = this.replicas === 1;
    this.heapMiB = this.resolveHeap(props.heap ?? DEFAULT_HEAP, single);
    this.memoryMiB = props.memory ? Math.floor(sizeMebibytes(this, 'memory', props.memory)) : this.heapMiB.max * 2;
    const minMemoryMiB = ELASTICSEARCH_MIN_MEMORY.toMebibytes({ rounding: 1 });
    if (!(this.memoryMiB >= minMemoryMiB)) {
      throw new ShipshapeError(this, {
        problem: `${this.memoryMiB} MiB of memory is below Elasticsearch 8's floor of ${minMemoryMiB} MiB: off-heap memory alone takes 300-500 MiB and the container is OOM-killed`,
        value: { heapMiB: this.heapMiB.max, memoryMiB: this.memoryMiB },
        fix: "omit heap and memory for Elastic's defaults (1g heap, 2 GiB), or give at least Size.gibibytes(1)",
      });
    }
    if (!(this.memoryMiB >= this.heapMiB.max * 2)) {
      throw new ShipshapeError(this, {
        problem: `heap ${this.heapMiB.max} MiB is more than half of the ${this.memoryMiB} MiB memory limit; Lucene needs the other half for off-heap memory and page cache`,
        value: { heapMiB: this.heapMiB.max, memoryMiB: this.memoryMiB },
        fix: `raise memory to at least ${this.heapMiB.max * 2} MiB or lower the heap to ${Math.floor(this.memoryMiB / 2)}m`,
      });
    }
    const cpu = props.cpu ?? kplus.Cpu.millis(single ? 250 : 1000);
    cpuMillicores(this, 'cpu', cpu);
    const storage = props.storage?.size ?? (single ? SINGLE_NODE_STORAGE : CLUSTER_STORAGE);
    sizeMebibytes(this, 'storage.size', storage);
    if (!(storage.toMebibytes({ rounding: 1 }) >= 1024)) {
      throw new ShipshapeError(this, { problem: 'storage.size must be at least 1 GiB', value: storage.toMebibytes({ rounding: 1 }), fix: 'use e.g. Size.gibibytes(10)' });
    }
    const storageClassName = props.storage?.storageClassName === undefined ? undefined : assertDnsLabel(this, 'storage.storageClassName', props.storage.storageClassName);
    this.credentialsSecret = assertDnsLabel(this, 'credentialsSecret', props.credentialsSecret ?? 'elasticsearch-credentials');
    const tlsSecret = assertDnsLabel(this, 'transportTlsSecret', props.transportTlsSecret ?? `${this.name}-transport-tls`);
    const priorityClassName = props.priorityClassName === undefined ? undefined : assertDnsLabel(this, 'priorityClassName', props.priorityClassName);
    const antiAffinity = props.antiAffinity ?? DEFAULT_ANTI_AFFINITY;
    if (antiAffinity !== 'hard' && antiAffinity !== 'soft') {
      throw new ShipshapeError(this, { problem: 'antiAffinity must be "hard" or "soft"', value: antiAffinity, fix: 'use "hard" so master-eligible nodes never share a Kubernetes node' });
    }
    const maxMapCount = props.maxMapCount ?? 'init-container';
    if (maxMapCount !== 'init-container' && maxMapCount !== 'node-prerequisite') {
      throw new ShipshapeError(this, {
        problem: 'maxMapCount must be "init-container" or "node-prerequisite"',
        value: maxMapCount,
        fix: 'use "init-container" unless the node image sets vm.max_map_count',
      });
    }

    const headlessName = `${this.name}-headless`;
    this.host = `${this.name}.${this.namespace}.svc`;
    this.url = `${this.scheme}://${this.host}:${this.port}`;
    this.selector = Object.freeze(selectorLabels(this.name, env));
    const labels = workloadLabels(this.name, env, 'search');
    const metadata = (name: string) => ({ name, namespace: this.namespace, labels });
    const podNames = Array.from({ length: this.replicas }, (_, i) => `${this.name}-${i}`);

    const settings: kplus.k8s.EnvVar[] = [
      { name: 'node.name', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      plainEnv('cluster.name', this.name),
      plainEnv('network.host', '0.0.0.0'),
      ...(single ? [plainEnv('discovery.type', 'single-node')] : [plainEnv('discovery.seed_hosts', headlessName), plainEnv('cluster.initial_master_nodes', podNames.join(','))]),
      plainEnv('xpack.security.enabled', 'true'),
      plainEnv('xpack.security.enrollment.enabled', 'false'),
      // HTTP stays plain inside the namespace; the NetworkPolicy lets only Fluentd, Kibana and the bootstrap Job reach it.
      plainEnv('xpack.security.http.ssl.enabled', 'false'),
      ...(single
        ? [plainEnv('xpack.security.transport.ssl.enabled', 'false')]
        : [
            plainEnv('xpack.security.transport.ssl.enabled', 'true'),
            plainEnv('xpack.security.transport.ssl.verification_mode', 'certificate'),
            plainEnv('xpack.security.transport.ssl.key', 'certs/tls.key'),
            plainEnv('xpack.security.transport.ssl.certificate', 'certs/tls.crt'),
            plainEnv('xpack.security.transport.ssl.certificate_authorities', 'certs/ca.crt'),
          ]),
      plainEnv('ES_JAVA_OPTS', `-Xms${this.heapMiB.initial}m -Xmx${this.heapMiB.max}m`),
      plainEnv('readiness.port', String(ELASTICSEARCH_READINESS_PORT)),
      // The image sets the elastic user's password from this variable on first start; the value comes from the Secret.
      secretEnv('ELASTIC_PASSWORD', this.credentialsSecret, ELASTICSEARCH_CREDENTIAL_KEYS.elastic),
    ];

    const mounts: kplus.k8s.VolumeMount[] = [{ name: 'data', mountPath: '/usr/share/elasticsearch/data' }];
    if (!single) mounts.push({ name: 'transport-tls', mountPath: '/usr/share/elasticsearch/config/certs', readOnly: true });
    const initContainers: kplus.k8s.Container[] =
      maxMapCount === 'init-container'
        ? [
            {
              name: 'sysctl',
              image: this.image,
              imagePullPolicy: 'IfNotPresent',
              // Raises the node-wide limit only when it is lower; the only privileged step, and it exits at once.
              command: ['sh', '-c', `[ "$(sysctl -n vm.max_map_count)" -ge ${MAX_MAP_COUNT} ] || sysctl -w vm.max_map_count=${MAX_MAP_COUNT}`],
              securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
              resources: resources({ cpu: kplus.Cpu.millis(10), memory: Size.mebibytes(32) }),
            },
          ]
        : [];

    this.statefulSet = new kplus.k8s.KubeStatefulSet(this, 'stateful-set', {
      metadata: metadata(this.name),
      spec: {
        serviceName: headlessName,
        replicas: this.replicas,
        // All nodes start together: master election needs a majority up, which OrderedReady would never reach.
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate' },
        selector: { matchLabels: { ...this.selector } },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            imagePullSecrets: imagePullSecretRefs(this.imagePullSecrets),
            // Elasticsearch flushes and leaves the cluster cleanly given time.
            terminationGracePeriodSeconds: 120,
            priorityClassName,
            // OnRootMismatch: the volume is chowned once, not walked file by file on every restart.
            securityContext: restrictedPodSecurityContext({ runAsUser: ELASTICSEARCH_UID, fsGroup: ELASTICSEARCH_UID }),
            affinity: single ? undefined : hostnameAntiAffinity(this.selector, antiAffinity === 'hard' ? 'required' : 'preferred'),
            topologySpreadConstraints: zoneSpread(env, this.selector),
            initContainers: initContainers.length > 0 ? initContainers : undefined,
            containers: [
              {
                name: 'elasticsearch',
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                ports: [
                  { name: 'http', containerPort: ELASTICSEARCH_HTTP_PORT },
                  { name: 'transport', containerPort: ELASTICSEARCH_TRANSPORT_PORT },
                  { name: 'readiness', containerPort: ELASTICSEARCH_READINESS_PORT },
                ],
                env: settings,
                resources: resources({ cpu, memory: Size.mebibytes(this.memoryMiB) }),
                // The entrypoint writes the keystore under config/, so the root filesystem stays writable.
                securityContext: restrictedContainerSecurityContext(ELASTICSEARCH_UID, { readOnlyRootFilesystem: false, seccomp: false }),
                readinessProbe: { tcpSocket: { port: kplus.k8s.IntOrString.fromString('readiness') }, initialDelaySeconds: 10, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
                // Only a dead JVM is restarted: a TCP check on transport does not restart nodes of a red cluster.
                livenessProbe: { tcpSocket: { port: kplus.k8s.IntOrString.fromNumber(ELASTICSEARCH_TRANSPORT_PORT) }, initialDelaySeconds: 90, periodSeconds: 20, failureThreshold: 6 },
                volumeMounts: mounts,
              },
            ],
            volumes: single ? undefined : [{ name: 'transport-tls', secret: { secretName: tlsSecret, defaultMode: 0o440 } }],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', labels },
            spec: { accessModes: ['ReadWriteOnce'], storageClassName, resources: { requests: { storage: mebibytes(storage) } } },
          },
        ],
      },
    });
    if (maxMapCount === 'init-container') {
      exempt(
        this.statefulSet,
        'pod-security',
        `the "sysctl" init container runs privileged as root to raise vm.max_map_count to ${MAX_MAP_COUNT} (Elasticsearch bootstrap check); the elasticsearch container itself runs as uid ${ELASTICSEARCH_UID} without privileges`,
      );
    }

    const ports = [
      { name: 'http', port: ELASTICSEARCH_HTTP_PORT, targetPort: kplus.k8s.IntOrString.fromString('http') },
      { name: 'transport', port: ELASTICSEARCH_TRANSPORT_PORT, targetPort: kplus.k8s.IntOrString.fromString('transport') },
    ];
    this.headlessService = new kplus.k8s.KubeService(this, 'headless-service', {
      metadata: metadata(headlessName),
      // Discovery must resolve peers before they are ready, or no node ever becomes ready.
      spec: { clusterIp: 'None', publishNotReadyAddresses: true, selector: { ...this.selector }, ports },
    });
    this.clientService = new kplus.k8s.KubeService(this, 'client-service', {
      metadata: metadata(this.name),
      spec: { type: 'ClusterIP', selector: { ...this.selector }, ports: [ports[0]] },
    });
    this.disruptionBudget = new kplus.k8s.KubePodDisruptionBudget(this, 'disruption-budget', {
      metadata: metadata(this.name),
      spec: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1), selector: { matchLabels: { ...this.selector } } },
    });
    this.networkPolicy = new kplus.k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: metadata(this.name),
      spec: {
        podSelector: { matchLabels: { ...this.selector } },
        policyTypes: ['Ingress'],
        ingress: Lazy.any({
          produce: () => [
            {
              from: [{ podSelector: { matchLabels: { ...this.selector } } }],
              ports: [
                { protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(ELASTICSEARCH_HTTP_PORT) },
                { protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(ELASTICSEARCH_TRANSPORT_PORT) },
              ],
            },
            ...(this.clients.length === 0
              ? []
              : [
                  {
                    from: this.clients.map((c) => ({ podSelector: { matchLabels: { ...c.labels } } })),
                    ports: [{ protocol: 'TCP', port: kplus.k8s.IntOrString.fromNumber(ELASTICSEARCH_HTTP_PORT) }],
                  },
                ]),
          ],
        }),
      },
    });
  }

  /** Lets pods with these labels (in the same namespace) reach the HTTP port through the NetworkPolicy. */
  public allowClient(labels: Readonly<Record<string, string>>): void {
    if (Object.keys(labels).length === 0) {
      throw new ShipshapeError(this, {
        problem: 'allowClient needs pod labels; an empty selector would open 9200 to every pod of the namespace',
        value: labels,
        fix: "pass the client's selector labels",
      });
    }
    this.clients.push({ labels: { ...labels } });
  }

  private resolveHeap(heap: ElasticsearchHeap, single: boolean): { initial: number; max: number } {
    const initial = parseJvmSize(this, typeof heap === 'string' ? 'heap' : 'heap.initial', typeof heap === 'string' ? heap : heap.initial);
    const max = typeof heap === 'string' ? initial : parseJvmSize(this, 'heap.max', heap.max);
    if (!Number.isInteger(initial) || !Number.isInteger(max)) {
      throw new ShipshapeError(this, { problem: 'heap sizes must be whole MiB', value: heap, fix: 'use m or g units' });
    }
    if (initial > max) {
      throw new ShipshapeError(this, {
        problem: `heap.initial (${initial} MiB) is larger than heap.max (${max} MiB); the JVM refuses to start`,
        value: heap,
        fix: 'make the initial heap ≤ the maximum, best equal',
      });
    }
    if (initial !== max && !single) {
      throw new ShipshapeError(this, {
        problem: `-Xms ${initial}m differs from -Xmx ${max}m; in a multi-node cluster heap resizing pauses make nodes drop out of the cluster`,
        value: heap,
        fix: `set heap to one size, e.g. "${max}m"`,
      });
    }
    if (max >= MAX_HEAP_MIB) {
      throw new ShipshapeError(this, {
        problem: `heap ${max} MiB is at or above 31 GiB, where the JVM loses compressed object pointers`,
        value: heap,
        fix: 'keep the heap below 31g and add nodes instead',
      });
    }
    return { initial, max };
  }
}
