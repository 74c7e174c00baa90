import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { toYaml } from '../core/yaml';
import { assertDuration, assertRegistryUrl } from '../docker/units';

/** Blobs on a local (or mounted) filesystem. */
export interface FilesystemStorage {
  readonly type: 'filesystem';
  /**
   * Directory that holds the registry's data.
   * @default '/var/lib/registry' (the registry image's volume)
   */
  readonly rootDirectory?: string;
}

/** Blobs in an S3 (or S3-compatible) bucket; shared, so several replicas can serve it. */
export interface S3Storage {
  readonly type: 's3';
  /** Bucket region. */
  readonly region: string;
  /** Bucket name. */
  readonly bucket: string;
  /**
   * Endpoint of an S3-compatible store (MinIO, Ceph...).
   * @default - AWS
   */
  readonly regionEndpoint?: string;
  /**
   * Key prefix inside the bucket.
   * @default - the bucket root
   */
  readonly rootDirectory?: string;
  /**
   * Whether the access key comes from a secret (`REGISTRY_STORAGE_S3_ACCESSKEY`/`_SECRETKEY`); false uses the instance role.
   * @default false
   */
  readonly credentialsFromSecret?: boolean;
}

/** Where the registry keeps blobs. */
export type RegistryStorage = FilesystemStorage | S3Storage;

/** Pull-through cache settings (`proxy`). */
export interface RegistryProxy {
  /** Upstream registry, e.g. Docker Hub's `https://registry-1.docker.io`. */
  readonly remoteUrl: string;
  /**
   * Whether the upstream needs a login. The username and password are never written to this file nor to
   * environment variables: the workload's start command (`proxyLoginCommand`) appends them to a copy
   * of the file in memory, read from secret files. distribution uses them only with upstreams that answer
   * with token authentication (Docker Hub, GHCR, Harbor...): 2.8 never sends them to a Basic-auth upstream.
   * With a login, a proxy serves every repository that login can read, private ones included, to anyone who
   * can reach it: keep it behind htpasswd or on a binding only its clients reach.
   * @default false
   */
  readonly authenticated?: boolean;
  /**
   * How long cached content is kept after its last use. Only distribution 3 reads it: 2.x keeps every
   * proxied blob and manifest for 168h after its last pull whatever the file says, so a ttl with `version: 2`
   * is refused rather than written and silently ignored.
   * @default - distribution's own 168h, not written
   */
  readonly ttl?: string;
}

/** Props of a {@link RegistryConfig}: the parts of distribution's `config.yml` a mirror needs. */
export interface RegistryConfigProps {
  /**
   * Major version of distribution that reads the file (see {@link distributionVersion} to derive it from an image).
   * @default 2 (REGISTRY_IMAGE is registry:2.8.3)
   */
  readonly version?: DistributionVersion;
  /**
   * Listen address.
   * @default ':5000'
   */
  readonly httpAddress?: string;
  /**
   * Debug server address (health and Prometheus metrics at /metrics); `false` for none.
   * @default ':5001'
   */
  readonly debugAddress?: string | false;
  /**
   * TLS certificate and key files (paths inside the registry's filesystem).
   * @default - plain HTTP (put it on a private network or behind a TLS proxy)
   */
  readonly tls?: { readonly certificate: string; readonly key: string };
  /**
   * Storage.
   * @default { type: 'filesystem', rootDirectory: '/var/lib/registry' }
   */
  readonly storage?: RegistryStorage;
  /**
   * Allow deleting blobs and manifests; the proxy's cache expiry deletes through the same code path.
   * @default true
   */
  readonly deleteEnabled?: boolean;
  /**
   * Pull-through cache settings.
   * @default - a plain registry
   */
  readonly proxy?: RegistryProxy;
  /**
   * Storage-driver health check: the registry reports unhealthy after `threshold` failures, checked every `interval`.
   * @default { interval: '10s', threshold: 3 } (distribution's documented example)
   */
  readonly health?: { readonly interval?: string; readonly threshold?: number } | false;
  /**
   * htpasswd authentication: realm and the path of the htpasswd file.
   * @default - no authentication
   */
  readonly htpasswd?: { readonly realm?: string; readonly path: string };
  /**
   * Log level.
   * @default 'info'
   */
  readonly logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /**
   * Whether `http.secret` (which signs upload state) comes from a secret as `REGISTRY_HTTP_SECRET`. Several
   * replicas behind one Service must share it, or uploads that land on another replica fail.
   * @default false (each process generates its own)
   */
  readonly httpSecretFromSecret?: boolean;
}

/** distribution major versions whose config.yml this model renders. */
export type DistributionVersion = 2 | 3;

/** Environment variable the registry reads a secret from, and which secret key fills it. */
export interface RegistrySecretEnv {
  /** Variable name, e.g. `REGISTRY_PROXY_PASSWORD`. */
  readonly name: string;
  /** Key of the secret that holds the value (`http-secret`, `accesskey`, `secretkey`). */
  readonly key: string;
}

export const DEFAULT_REGISTRY_ADDRESS = ':5000';
export const DEFAULT_REGISTRY_DEBUG_ADDRESS = ':5001';
// The registry image declares /var/lib/registry as its volume.
export const DEFAULT_REGISTRY_ROOT = '/var/lib/registry';
// distribution's configuration reference uses this health check as its example.
const DEFAULT_HEALTH_INTERVAL = '10s';
const DEFAULT_HEALTH_THRESHOLD = 3;
const LISTEN = /^([A-Za-z0-9.-]*|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;

/**
 * The distribution major version an image runs, from its tag (`registry:2.8.3` → 2, `registry:3.0.0` → 3);
 * 2 when the tag says nothing (a digest only), the conservative choice: nothing 2.x ignores gets written.
 */
export function distributionVersion(image: string): DistributionVersion {
  // The tag follows the last "/" (a registry host may carry a port) and precedes any digest.
  const name = image.split('@')[0].split('/').pop() ?? '';
  const major = /:v?(\d+)(?:[.-]|$)/.exec(name);
  return major && Number(major[1]) >= 3 ? 3 : 2;
}

/**
 * A typed distribution (`registry:2`/`registry:3`) configuration. Renders
 * `config.yml`; credentials are never part of it: upstream logins are appended
 * from secret files at start (`proxyLoginCommand`), other secrets come from
 * the environment variables listed by {@link RegistryConfig.secretEnv}. The
 * `proxy` section is always the last one, so that the login can be appended.
 */
export class RegistryConfig {
  public readonly props: RegistryConfigProps;
  /** Port the registry listens on. */
  public readonly port: number;
  /** Whether it serves TLS. */
  public readonly tls: boolean;
  /** Whether it is a pull-through cache. */
  public readonly isProxy: boolean;
  /** Whether its storage can be shared by several replicas. */
  public readonly sharedStorage: boolean;
  /** distribution major version the file is written for. */
  public readonly version: DistributionVersion;
  /** Whether the proxy logs in to its upstream (the login then comes from secret files at start). */
  public readonly proxyLogin: boolean;

  constructor(scope: ErrorScope, props: RegistryConfigProps = {}) {
    this.props = props;
    this.version = props.version ?? 2;
    if (this.version !== 2 && this.version !== 3)
      throw new ShipshapeError(scope, { problem: 'version must be 2 or 3 (the distribution major version)', value: props.version, fix: 'use distributionVersion(image)' });
    const listen = LISTEN.exec(props.httpAddress ?? DEFAULT_REGISTRY_ADDRESS);
    if (!listen) throw new ShipshapeError(scope, { problem: 'httpAddress must be "host:port" or ":port"', value: props.httpAddress, fix: 'use e.g. ":5000"' });
    this.port = assertInteger(scope, 'httpAddress port', Number(listen[2]), 1, 65535);
    if (props.debugAddress !== undefined && props.debugAddress !== false) {
      const debug = LISTEN.exec(props.debugAddress);
      if (!debug || Number(debug[2]) === this.port) {
        throw new ShipshapeError(scope, {
          problem: 'debugAddress must be "host:port" on a port other than the registry port',
          value: props.debugAddress,
          fix: 'use e.g. ":5001", or false for no debug server',
        });
      }
    }
    if (props.tls && (!props.tls.certificate?.startsWith('/') || !props.tls.key?.startsWith('/'))) {
      throw new ShipshapeError(scope, {
        problem: 'tls.certificate and tls.key must be absolute paths inside the registry',
        value: props.tls,
        fix: 'mount the certificate and point to it, e.g. "/certs/tls.crt"',
      });
    }
    const storage = props.storage ?? { type: 'filesystem' };
    if (storage.type === 'filesystem' && storage.rootDirectory !== undefined && !storage.rootDirectory.startsWith('/')) {
      throw new ShipshapeError(scope, { problem: 'storage.rootDirectory must be an absolute path', value: storage.rootDirectory, fix: `use e.g. "${DEFAULT_REGISTRY_ROOT}"` });
    }
    if (storage.type === 's3' && (!storage.region || !storage.bucket)) {
      throw new ShipshapeError(scope, { problem: 's3 storage needs a region and a bucket', value: storage, fix: 'set storage.region and storage.bucket' });
    }
    if (storage.type === 's3' && storage.regionEndpoint !== undefined) assertRegistryUrl(scope, 'storage.regionEndpoint', storage.regionEndpoint);
    if (props.proxy) {
      assertRegistryUrl(scope, 'proxy.remoteUrl', props.proxy.remoteUrl);
      if (props.proxy.ttl !== undefined) {
        if (this.version === 2) {
          throw new ShipshapeError(scope, {
            problem: 'distribution 2.x ignores proxy.ttl (it keeps proxied content for 168h after the last pull whatever the file says), so the setting would do nothing',
            value: { ttl: props.proxy.ttl, version: this.version },
            fix: 'remove ttl (168h applies), or run a distribution 3 image (e.g. registry:3.0.0), which reads proxy.ttl',
          });
        }
        assertDuration(scope, 'proxy.ttl', props.proxy.ttl, false);
      }
      if (props.deleteEnabled === false) {
        throw new ShipshapeError(scope, {
          problem: 'a pull-through cache needs storage.delete enabled: the proxy expires cached blobs and manifests by deleting them, and without delete the cache only grows',
          value: { deleteEnabled: false },
          fix: 'remove deleteEnabled: false',
        });
      }
    }
    if (props.health !== undefined && props.health !== false) {
      assertDuration(scope, 'health.interval', props.health.interval ?? DEFAULT_HEALTH_INTERVAL, false);
      assertInteger(scope, 'health.threshold', props.health.threshold ?? DEFAULT_HEALTH_THRESHOLD, 1, 100);
    }
    if (props.htpasswd && !props.htpasswd.path?.startsWith('/')) {
      throw new ShipshapeError(scope, {
        problem: 'htpasswd.path must be an absolute path inside the registry',
        value: props.htpasswd.path,
        fix: 'mount the htpasswd file and point to it, e.g. "/auth/htpasswd"',
      });
    }
    this.tls = props.tls !== undefined;
    this.isProxy = props.proxy !== undefined;
    this.sharedStorage = storage.type === 's3';
    this.proxyLogin = props.proxy?.authenticated === true;
  }

  /** Filesystem root of the registry's data, when it keeps data on a filesystem. */
  public get rootDirectory(): string | undefined {
    const storage = this.props.storage ?? { type: 'filesystem' };
    return storage.type === 'filesystem' ? (storage.rootDirectory ?? DEFAULT_REGISTRY_ROOT) : undefined;
  }

  /** Upstream the proxy pulls from. */
  public get remoteUrl(): string | undefined {
    return this.props.proxy ? assertRegistryUrl('registry', 'proxy.remoteUrl', this.props.proxy.remoteUrl) : undefined;
  }

  /** Variables the registry must get from a secret for this configuration (distribution's `REGISTRY_<PATH>` overrides). */
  public get secretEnv(): RegistrySecretEnv[] {
    const env: RegistrySecretEnv[] = [];
    if (this.props.httpSecretFromSecret) env.push({ name: 'REGISTRY_HTTP_SECRET', key: 'http-secret' });
    const storage = this.props.storage;
    if (storage?.type === 's3' && storage.credentialsFromSecret) env.push({ name: 'REGISTRY_STORAGE_S3_ACCESSKEY', key: 'accesskey' }, { name: 'REGISTRY_STORAGE_S3_SECRETKEY', key: 'secretkey' });
    return env;
  }

  /** The `config.yml` document. */
  public toJson(): Record<string, unknown> {
    const p = this.props;
    const storage = p.storage ?? { type: 'filesystem' };
    const storageSection: Record<string, unknown> =
      storage.type === 'filesystem'
        ? { filesystem: { rootdirectory: storage.rootDirectory ?? DEFAULT_REGISTRY_ROOT } }
        : { s3: clean({ region: storage.region, bucket: storage.bucket, regionendpoint: storage.regionEndpoint, rootdirectory: storage.rootDirectory }) };
    storageSection.delete = { enabled: p.deleteEnabled ?? true };
    storageSection.cache = { blobdescriptor: 'inmemory' };
    const http: Record<string, unknown> = {
      addr: p.httpAddress ?? DEFAULT_REGISTRY_ADDRESS,
      // The registry image's stock config sets this header; keep it.
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    };
    if (p.tls) http.tls = { certificate: p.tls.certificate, key: p.tls.key };
    if (p.debugAddress !== false) http.debug = { addr: p.debugAddress ?? DEFAULT_REGISTRY_DEBUG_ADDRESS, prometheus: { enabled: true, path: '/metrics' } };
    const doc: Record<string, unknown> = {
      version: 0.1,
      log: { level: p.logLevel ?? 'info', fields: { service: 'registry' } },
      storage: storageSection,
      http,
    };
    if (p.htpasswd) doc.auth = { htpasswd: { realm: p.htpasswd.realm ?? 'registry', path: p.htpasswd.path } };
    if (p.health !== false) {
      doc.health = { storagedriver: { enabled: true, interval: p.health?.interval ?? DEFAULT_HEALTH_INTERVAL, threshold: p.health?.threshold ?? DEFAULT_HEALTH_THRESHOLD } };
    }
    // Last, as a block mapping indented by two spaces: proxyLoginCommand appends username and password to it.
    if (p.proxy) doc.proxy = { remoteurl: this.remoteUrl, ...(p.proxy.ttl !== undefined ? { ttl: p.proxy.ttl } : {}) };
    return doc;
  }

  /** Renders `config.yml`. */
  public render(): string {
    return toYaml(this.toJson());
  }
}

function clean<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
