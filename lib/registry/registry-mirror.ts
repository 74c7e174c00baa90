import { ApiObject, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel, assertInteger } from '../core/names';
import { sizeMebibytes } from '../core/quantities';
import { Stack } from '../core/stack';
import { assertPinnedImage } from '../core/images';
import { isDns1123Subdomain } from '../core/validate';
import { AntiAffinityDeployment } from '../workloads/anti-affinity-deployment';
import { MOUNTED_REGISTRY_CONFIG, proxyLoginCommand } from './proxy-login';
import { RegistryConfig, S3Storage, distributionVersion } from './registry-config';
import { DOCKER_HUB_REGISTRY, IRegistryMirror } from './registry-endpoint';

/** Where the Kubernetes mirror keeps its cache. */
export type MirrorStorage =
  | {
      /** A PersistentVolumeClaim: the cache survives pod restarts and rescheduling. */
      readonly type: 'persistent';
      /**
       * Claim size.
       * @default Size.gibibytes(20)
       */
      readonly size?: Size;
      /**
       * StorageClass; "" binds only a pre-provisioned PersistentVolume without a class.
       * @default - the cluster default
       */
      readonly storageClassName?: string;
    }
  | {
      /** An emptyDir on the node: a disposable cache that starts cold after every reschedule. */
      readonly type: 'ephemeral';
      /**
       * Most disk the cache may use before the kubelet evicts the pod.
       * @default Size.gibibytes(20)
       */
      readonly sizeLimit?: Size;
    }
  | S3Storage;

/** Properties of a {@link RegistryMirror}. */
export interface RegistryMirrorProps {
  /**
   * Name of the Deployment, Service, ConfigMap and claim.
   * @default 'registry-mirror'
   */
  readonly name?: string;
  /**
   * Registry image, pinned.
   * @default REGISTRY_IMAGE
   */
  readonly image?: string;
  /**
   * Upstream the mirror proxies.
   * @default 'https://registry-1.docker.io' (Docker Hub, see docs/practice.md#registry-mirror)
   */
  readonly remoteUrl?: string;
  /**
   * Kubernetes Secret with `username` and `password` keys for the upstream (e.g. a Docker Hub account,
   * which raises the pull rate limit). Mounted as files and read at start into an in-memory copy of the
   * config; never written to the ConfigMap or to environment variables. The mirror then serves the account's
   * private repositories to whoever reaches its Service, so it requires `htpasswdSecret`.
   * @default - anonymous pulls
   */
  readonly credentialsSecret?: string;
  /**
   * Kubernetes Secret with `accesskey` and `secretkey` for S3 storage.
   * @default - the pod's cloud identity
   */
  readonly s3CredentialsSecret?: string;
  /**
   * Kubernetes Secret with an `http-secret` key shared by all replicas (distribution requires one secret
   * across replicas behind a load balancer). Required with more than one replica.
   * @default - none (single replica)
   */
  readonly httpSecret?: string;
  /**
   * Cache expiry after last use. Only distribution 3 images honour it; with a 2.x image it is refused.
   * @default - distribution's 168h
   */
  readonly ttl?: string;
  /**
   * Cache storage.
   * @default { type: 'persistent', size: 20Gi }
   */
  readonly storage?: MirrorStorage;
  /**
   * Replicas; more than one only with shared (s3) storage.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * kubernetes.io/tls Secret to serve HTTPS with.
   * @default - plain HTTP inside the cluster
   */
  readonly tlsSecret?: string;
  /**
   * Secret with an `htpasswd` key (bcrypt entries) to require a login for pulls.
   * @default - no authentication (required with credentialsSecret)
   */
  readonly htpasswdSecret?: string;
  /**
   * Resources of the registry container.
   * @default 100m CPU and 256Mi requested, 512Mi memory limit
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * Node group the mirror runs on.
   * @default - any node
   */
  readonly nodeGroup?: string;
}

// distribution 2.8.3, the last 2.x release; its config.yml format is what RegistryConfig renders.
export const REGISTRY_IMAGE = 'registry:2.8.3';
const REGISTRY_PORT = 5000;
// Room for a few hundred cached layers; the proxy expires what is not pulled for a week.
const DEFAULT_CACHE_SIZE = Size.gibibytes(20);
const DEFAULT_RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(100) },
  memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
};
// The registry image runs as root by default; any unprivileged uid works when the cache volume is group-writable.
const REGISTRY_UID = 1000;
const CACHE_VOLUME = 'cache';
const CONFIG_PATH = '/etc/docker/registry';
// Where the upstream login Secret is mounted as files.
const LOGIN_DIR = '/run/secrets/upstream';
// Annotation the cluster-autoscaler reads to drain nodes whose pods hold only disposable local volumes.
export const SAFE_TO_EVICT_LOCAL_VOLUMES = 'cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes';

/**
 * A pull-through registry cache in the cluster (distribution's mirror recipe):
 * Deployment, Service, ConfigMap with the typed `config.yml`, and a
 * PersistentVolumeClaim (or a disposable emptyDir, or shared S3). Exposes
 * `endpoint` for typed wiring into daemon or containerd mirror settings.
 */
export class RegistryMirror extends Construct implements IRegistryMirror {
  /** In-cluster URL, e.g. `http://registry-mirror.prod.svc:5000`. */
  public readonly endpoint: string;
  public readonly remoteUrl: string;
  public readonly requiresLogin: boolean;
  public readonly config: RegistryConfig;
  public readonly workload: AntiAffinityDeployment;
  public readonly configMap: kplus.ConfigMap;
  /** The cache claim, with persistent storage. */
  public readonly claim?: kplus.PersistentVolumeClaim;

  constructor(scope: Construct, id: string, props: RegistryMirrorProps = {}) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const name = assertDnsLabel(this, 'name', props.name ?? 'registry-mirror');
    const storage: MirrorStorage = props.storage ?? { type: 'persistent' };
    // The API server takes "" (no class: bind only a pre-provisioned PersistentVolume) or a DNS subdomain.
    if (storage.type === 'persistent' && storage.storageClassName !== undefined && storage.storageClassName !== '' && !isDns1123Subdomain(storage.storageClassName)) {
      throw new ShipshapeError(this, {
        problem: 'storage.storageClassName is not a StorageClass name: it must be a DNS subdomain',
        value: storage.storageClassName,
        fix: 'name an existing StorageClass such as "gp3" or "standard-rwo" (lower-case letters, digits, "-" and "."), or omit it for the cluster default',
      });
    }
    const replicas = assertInteger(this, 'replicas', props.replicas ?? 1, 1, 20);
    if (replicas > 1 && storage.type !== 's3') {
      throw new ShipshapeError(this, {
        problem: `${replicas} replicas need shared storage: with ${storage.type} storage each replica would hold its own cache${storage.type === 'persistent' ? ' and a ReadWriteOnce claim cannot be mounted by pods on different nodes' : ''}`,
        value: { replicas, storage: storage.type },
        fix: "use replicas: 1, or storage { type: 's3', ... }",
      });
    }
    if (replicas > 1 && props.httpSecret === undefined) {
      throw new ShipshapeError(this, {
        problem: `${replicas} replicas behind one Service need a shared http.secret: each registry signs upload state with it, and an upload continued on another replica would fail`,
        value: { replicas },
        fix: 'create a Secret with an "http-secret" key and pass its name as httpSecret',
      });
    }
    if (props.credentialsSecret !== undefined && props.htpasswdSecret === undefined) {
      throw new ShipshapeError(this, {
        problem: "a mirror with upstream credentials serves the account's private repositories to anyone who reaches its Service (every pod of the cluster, and whatever routes to it)",
        value: { credentialsSecret: props.credentialsSecret, htpasswdSecret: undefined },
        fix: 'set htpasswdSecret (a Secret with an "htpasswd" key of bcrypt entries) so that clients must log in, or remove credentialsSecret',
      });
    }
    const image = assertPinnedImage(this, 'image', props.image ?? REGISTRY_IMAGE, REGISTRY_IMAGE);
    const tlsDir = '/certs';
    this.config = new RegistryConfig(this, {
      version: distributionVersion(image),
      storage: storage.type === 's3' ? { ...storage, credentialsFromSecret: props.s3CredentialsSecret !== undefined } : { type: 'filesystem' },
      proxy: { remoteUrl: props.remoteUrl ?? DOCKER_HUB_REGISTRY, ttl: props.ttl, authenticated: props.credentialsSecret !== undefined },
      tls: props.tlsSecret ? { certificate: `${tlsDir}/tls.crt`, key: `${tlsDir}/tls.key` } : undefined,
      htpasswd: props.htpasswdSecret ? { realm: name, path: '/auth/htpasswd' } : undefined,
      httpSecretFromSecret: props.httpSecret !== undefined,
    });
    this.remoteUrl = this.config.remoteUrl!;
    this.requiresLogin = props.htpasswdSecret !== undefined;

    this.configMap = new kplus.ConfigMap(this, 'config', { metadata: { name }, data: { 'config.yml': this.config.render() } });
    const secretEnv: Record<string, { secret: string; key: string }> = {};
    for (const v of this.config.secretEnv) {
      const secret = v.name === 'REGISTRY_HTTP_SECRET' ? props.httpSecret! : props.s3CredentialsSecret!;
      secretEnv[v.name] = { secret: assertDnsLabel(this, 'secret', secret), key: v.key };
    }
    const scheme = this.config.tls ? 'HTTPS' : 'HTTP';
    const probe = (kind: 'liveness' | 'readiness') =>
      kplus.Probe.fromHttpGet('/', {
        port: REGISTRY_PORT,
        scheme: scheme === 'HTTPS' ? kplus.ConnectionScheme.HTTPS : kplus.ConnectionScheme.HTTP,
        ...(kind === 'liveness' ? { failureThreshold: 5 } : {}),
      });
    this.workload = new AntiAffinityDeployment(this, 'workload', {
      name,
      component: 'registry-mirror',
      image,
      replicas,
      command: props.credentialsSecret ? proxyLoginCommand(this, { username: `${LOGIN_DIR}/username`, password: `${LOGIN_DIR}/password` }, MOUNTED_REGISTRY_CONFIG) : undefined,
      autoscaling: false,
      nodeGroup: props.nodeGroup,
      ports: [{ name: 'registry', port: REGISTRY_PORT }],
      liveness: probe('liveness'),
      readiness: probe('readiness'),
      resources: props.resources ?? DEFAULT_RESOURCES,
      env: secretEnv,
      // A ReadWriteOnce claim cannot be attached to the old and the new pod on different nodes at once.
      strategy: storage.type === 'persistent' ? { type: 'Recreate' } : { type: 'RollingUpdate', maxSurge: 1, maxUnavailable: 0 },
    });
    const deployment = this.workload.deployment;
    const container = deployment.containers[0];
    container.mount(CONFIG_PATH, kplus.Volume.fromConfigMap(this, 'config-volume', this.configMap, { name: 'config' }), { readOnly: true });
    if (storage.type === 'persistent') {
      this.claim = new kplus.PersistentVolumeClaim(this, 'claim', {
        metadata: { name },
        accessModes: [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
        storage: this.cacheSize('storage.size', storage.size, 1024, 'gibibytes', 'Size.gibibytes(50)'),
        storageClassName: storage.storageClassName,
      });
      container.mount(this.config.rootDirectory!, kplus.Volume.fromPersistentVolumeClaim(this, 'cache-volume', this.claim, { name: CACHE_VOLUME }));
    } else if (storage.type === 'ephemeral') {
      container.mount(
        this.config.rootDirectory!,
        kplus.Volume.fromEmptyDir(this, 'cache-volume', CACHE_VOLUME, { sizeLimit: this.cacheSize('storage.sizeLimit', storage.sizeLimit, 1, 'mebibytes', 'Size.gibibytes(20)') }),
      );
    }
    if (props.tlsSecret)
      container.mount(tlsDir, kplus.Volume.fromSecret(this, 'tls-volume', kplus.Secret.fromSecretName(this, 'tls', assertDnsLabel(this, 'tlsSecret', props.tlsSecret)), { name: 'tls' }), {
        readOnly: true,
      });
    if (props.credentialsSecret) {
      const secret = kplus.Secret.fromSecretName(this, 'upstream-login', assertDnsLabel(this, 'credentialsSecret', props.credentialsSecret));
      const items = { username: { path: 'username' }, password: { path: 'password' } };
      container.mount(LOGIN_DIR, kplus.Volume.fromSecret(this, 'upstream-login-volume', secret, { name: 'upstream-login', items }), { readOnly: true });
    }
    if (props.htpasswdSecret) {
      const secret = kplus.Secret.fromSecretName(this, 'htpasswd', assertDnsLabel(this, 'htpasswdSecret', props.htpasswdSecret));
      container.mount('/auth', kplus.Volume.fromSecret(this, 'htpasswd-volume', secret, { name: 'htpasswd', items: { htpasswd: { path: 'htpasswd' } } }), { readOnly: true });
    }

    const api = ApiObject.of(deployment);
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/runAsUser', REGISTRY_UID));
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/runAsGroup', REGISTRY_UID));
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/fsGroup', REGISTRY_UID));
    if (storage.type === 'ephemeral') {
      // The cache (and /tmp) are disposable: let the cluster-autoscaler drain the node instead of keeping it for them.
      api.addJsonPatch(JsonPatch.add('/spec/template/metadata/annotations', { [SAFE_TO_EVICT_LOCAL_VOLUMES]: `${CACHE_VOLUME},writable-0` }));
    }
    this.endpoint = `${this.config.tls ? 'https' : 'http'}://${name}.${env.namespace}.svc:${REGISTRY_PORT}`;
  }

  /**
   * A finite, positive cache size; `unitMiB` is the unit cdk8s-plus renders it in (GiB for a claim, MiB for an
   * emptyDir limit), which it throws a plain Error for when the size is not a whole number of.
   */
  private cacheSize(field: string, size: Size | undefined, unitMiB: number, unit: string, example: string): Size {
    if (size === undefined) return DEFAULT_CACHE_SIZE;
    const mebibytes = sizeMebibytes(this, field, size);
    if (!Number.isInteger(mebibytes / unitMiB)) {
      throw new ShipshapeError(this, { problem: `${field} must be a whole number of ${unit}`, value: `${mebibytes}Mi`, fix: `use e.g. ${example}` });
    }
    return size;
  }
}
