import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel, assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { assertPinnedImage } from '../core/images';
import { DaemonLogging } from '../docker/docker-logging';
import { IRegistryMirror } from '../docker/registry-mirror-endpoint';
import { SwarmProject } from '../swarm/swarm-project';
import { SWARM_HOST_NETWORK, SwarmResources, SwarmService } from '../swarm/swarm-service';
import {
  ResolvedLogging,
  ResolvedSwarmHealthcheck,
  ResolvedSwarmResources,
  SWARM_SECRETS_DIR,
  deepFreeze,
  resolveLogging,
  resolveSwarmHealthcheck,
  resolveSwarmResources,
} from '../swarm/swarm-service-spec';
import { MOUNTED_REGISTRY_CONFIG, proxyLoginCommand } from './proxy-login';
import { RegistryConfig, distributionVersion } from './registry-config';
import { DOCKER_HUB_REGISTRY } from './registry-endpoint';
import { REGISTRY_IMAGE } from './registry-mirror';

/** Swarm secrets holding the upstream login (created with `docker secret create`, or from the Pulumi secret config `shipshape:<name in camelCase>`). */
export interface MirrorCredentialSecrets {
  /** Swarm secret with the user name. */
  readonly usernameSecret: string;
  /** Swarm secret with the password or access token. */
  readonly passwordSecret: string;
}

/**
 * Who can reach a Docker-host mirror.
 * - `host-local`: the registry listens on 127.0.0.1 of each host, so only processes of that host (its Docker
 *   daemon) reach it. On Swarm it runs as a global service on the host network (Swarm cannot publish a port on
 *   loopback only), one mirror and cache per node; standalone, as a container on the host network.
 * - `published`: the port is published on the network (Swarm ingress or host mode, or a container port), so
 *   anyone who can reach the hosts can pull through it.
 */
export type MirrorAccess = 'host-local' | 'published';

/** Properties of a {@link DockerHostRegistryMirror}. */
export interface DockerHostRegistryMirrorProps {
  /**
   * Name of the Swarm service (or container) and prefix of its volume.
   * @default 'registry-mirror'
   */
  readonly name?: string;
  /**
   * Registry image, pinned. Its tag's major version decides which settings are written (distribution 2.x
   * ignores proxy.ttl).
   * @default REGISTRY_IMAGE
   */
  readonly image?: string;
  /**
   * Upstream the mirror proxies.
   * @default 'https://registry-1.docker.io' (Docker Hub, see docs/practice.md#registry-mirror)
   */
  readonly remoteUrl?: string;
  /**
   * Upstream login, read from Swarm secret files at start; never written to config.yml, the stack file or an
   * environment variable. With a login the mirror serves that account's private repositories to whoever
   * reaches it, so it needs `access: 'host-local'` or an `htpasswdSecret`.
   * @default - anonymous pulls
   */
  readonly credentials?: MirrorCredentialSecrets;
  /**
   * Who can reach the mirror (see {@link MirrorAccess}).
   * @default 'host-local'
   */
  readonly access?: MirrorAccess;
  /**
   * Swarm secret holding an htpasswd file (bcrypt entries, `htpasswd -B`): clients must log in to pull.
   * Docker daemons cannot use such a mirror (dockerd has no login of its own for registry-mirrors), so
   * DockerDaemonConfig refuses it; it is for clients with their own login (containerd, skopeo, CI).
   * @default - no login (required with credentials and `access: 'published'`)
   */
  readonly htpasswdSecret?: string;
  /**
   * Cache expiry after last use. Only distribution 3 images honour it; with a 2.x image it is refused.
   * @default - distribution's 168h
   */
  readonly ttl?: string;
  /**
   * Port the mirror listens on (host-local, on 127.0.0.1) or is published on.
   * @default 5000 (the registry's own port, see docs/practice.md#registry-mirror)
   */
  readonly port?: number;
  /**
   * Port of the registry's debug server (health and Prometheus `/metrics`); on 127.0.0.1 when host-local, inside
   * the container (not published) otherwise. `false` for none.
   * @default 5001 (5002 when a host-local mirror uses 5001 itself)
   */
  readonly debugPort?: number | false;
  /**
   * With `access: 'published'`: `ingress` makes every node of the swarm answer on the port; `host` only the
   * node running the mirror.
   * @default 'ingress'
   */
  readonly publishMode?: 'ingress' | 'host';
  /**
   * With `access: 'published'`: host name or address the clients reach the mirror at.
   * @default '127.0.0.1'
   */
  readonly advertisedHost?: string;
  /**
   * Placement constraints. The cache is a node-local volume: a published mirror should stay on one node; a
   * host-local one runs on every node that matches (each node's daemon needs its own).
   * @default ['node.role == manager'] when published, [] (every node) when host-local
   */
  readonly constraints?: string[];
  /**
   * Run it as a Swarm service of the {@link SwarmProject} it is created in; `false` for a standalone Docker host
   * (synth then writes only config.yml, and Pulumi runs a container).
   * @default - true when created in a SwarmProject (`new DockerHostRegistryMirror(project, 'mirror')`), else false
   */
  readonly swarm?: boolean;
  /**
   * Path of config.yml under `dist/<env>/`.
   * @default 'hosts/registry/config.yml'
   */
  readonly configPath?: string;
  /**
   * Task resources.
   * @default 0.1 CPU and 256M reserved, 512M memory limit
   */
  readonly resources?: SwarmResources;
  /**
   * Logging of the mirror.
   * @default json-file with max-size 10m and max-file 5
   */
  readonly logging?: DaemonLogging;
}

export const DEFAULT_MIRROR_PORT = 5000;
// The registry's debug server (health, Prometheus /metrics) listens next to it.
const DEFAULT_DEBUG_PORT = 5001;
const CONTAINER_PORT = 5000;
// Where Docker mounts Swarm secrets; Pulumi uploads the same files there for a standalone container.
export const SECRETS_DIR = SWARM_SECRETS_DIR;
/** Task resources of the mirror when none are given: a registry serving blobs needs more memory than the Swarm default. */
export const DEFAULT_MIRROR_RESOURCES: SwarmResources = { cpuReservation: 0.1, memoryReservation: '256M', memoryLimit: '512M' };
// A standalone container comes back after a reboot or crash unless an operator stopped it.
const STANDALONE_RESTART = 'unless-stopped';
// The role label every mirror container or service carries.
const ROLE_LABELS: Readonly<Record<string, string>> = { 'io.shipshape.role': 'registry-mirror' };

/**
 * Everything a {@link DockerHostRegistryMirror} runs, resolved: the Swarm service, the standalone container of the
 * Pulumi back end and the hosts/ files all read it.
 */
export interface DockerHostMirrorSpec {
  readonly name: string;
  readonly image: string;
  readonly access: MirrorAccess;
  /** Port on the host: where it listens (host-local) or is published. */
  readonly port: number;
  /** Port the registry listens on inside the container. */
  readonly containerPort: number;
  /** Host-local: on the host's network, bound to 127.0.0.1; published: the container port is published. */
  readonly network: { readonly type: 'host' } | { readonly type: 'published'; readonly publishMode: 'ingress' | 'host' };
  /** Entrypoint that logs in upstream from the secret files, when there are credentials. */
  readonly command?: readonly string[];
  /** The cache volume and where it is mounted. */
  readonly volume: { readonly name: string; readonly target: string };
  /** config.yml: output path under `dist/<env>/`, path in the container, content. */
  readonly config: {
    readonly file: string;
    readonly target: string;
    /** Renders the file. */
    readonly content: () => string;
  };
  /** Secret files: Swarm secret (or Pulumi secret config) name and path in the container. */
  readonly secrets: readonly { readonly name: string; readonly path: string }[];
  readonly healthcheck: ResolvedSwarmHealthcheck;
  readonly logging: ResolvedLogging;
  readonly resources: ResolvedSwarmResources;
  /** Swarm placement constraints. */
  readonly constraints: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** Restart policy of the standalone container. */
  readonly restart: 'unless-stopped';
}
const HOST = /^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/;
// The registry binds 127.0.0.1 itself, so that is the only address its daemon can use.
const LOOPBACK = new Set(['127.0.0.1']);
// Swarm secret names, which also become file names under /run/secrets.
const SECRET_NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/;

/**
 * The Docker Hub mirror on the Docker hosts themselves (docs/practice.md#registry-mirror): a typed
 * `config.yml` written to `dist/<env>/hosts/registry/config.yml`, run as a Swarm
 * service (synth) or a container (Pulumi), with `endpoint` ready for
 * `DockerDaemonConfig.registryMirrors`.
 *
 * By default it is host-local: every host runs its own mirror on 127.0.0.1,
 * reachable by that host's daemon only, so an upstream login cannot be used by
 * anyone else. A published mirror with a login must require one of its own
 * (htpasswd); the open combination is refused.
 *
 * distribution 2.x (registry:2.8.3, Debian's docker-registry 2.8.2) pings its
 * upstream when it starts and exits with a panic when the upstream is
 * unreachable: a mirror (re)started during an upstream outage serves nothing,
 * its cache included, until the upstream answers again (Swarm and Docker keep
 * restarting it; the daemons meanwhile pull from the upstream directly, which
 * is down too). It also ignores proxy.ttl, which is therefore refused.
 */
export class DockerHostRegistryMirror extends Construct implements IRegistryMirror {
  /** URL the Docker daemons use, e.g. `http://127.0.0.1:5000`. */
  public readonly endpoint: string;
  public readonly remoteUrl: string;
  public readonly requiresLogin: boolean;
  public readonly name: string;
  public readonly image: string;
  /** Port on the host (host-local: where it listens; published: where it is published). */
  public readonly port: number;
  public readonly access: MirrorAccess;
  public readonly config: RegistryConfig;
  public readonly configFile: OutputFile;
  /** Named volume holding the cache. */
  public readonly volume: string;
  public readonly credentials?: MirrorCredentialSecrets;
  public readonly htpasswdSecret?: string;
  /** Container command: reads the login from the secret files and starts the registry (only with credentials). */
  public readonly command?: string[];
  /** Swarm secrets (files under /run/secrets) the registry needs: the login and the htpasswd file. */
  public readonly secrets: readonly string[];
  /** The Swarm service, when it runs on Swarm. */
  public readonly service?: SwarmService;
  /** Everything the mirror runs, resolved. */
  public readonly spec: DockerHostMirrorSpec;

  constructor(scope: Construct, id: string, props: DockerHostRegistryMirrorProps = {}) {
    super(scope, id);
    // Fails early, naming this construct, when it is not inside a Stack.
    Stack.of(this);
    this.name = assertDnsLabel(this, 'name', props.name ?? 'registry-mirror');
    this.image = assertPinnedImage(this, 'image', props.image ?? REGISTRY_IMAGE, REGISTRY_IMAGE);
    this.port = assertInteger(this, 'port', props.port ?? DEFAULT_MIRROR_PORT, 1, 65535);
    this.access = props.access ?? 'host-local';
    if (this.access !== 'host-local' && this.access !== 'published') {
      throw new ShipshapeError(this, { problem: 'access must be "host-local" or "published"', value: props.access, fix: 'pick one' });
    }
    const hostLocal = this.access === 'host-local';
    const host = props.advertisedHost ?? '127.0.0.1';
    if (!HOST.test(host)) throw new ShipshapeError(this, { problem: 'advertisedHost must be a host name or IP address', value: host, fix: 'use e.g. "10.0.0.5" or "mirror.internal"' });
    if (hostLocal && (!LOOPBACK.has(host) || props.publishMode !== undefined)) {
      throw new ShipshapeError(this, {
        problem: 'a host-local mirror listens on 127.0.0.1 of each host and publishes nothing, so it has no other address or publish mode',
        value: { advertisedHost: props.advertisedHost, publishMode: props.publishMode },
        fix: "remove advertisedHost and publishMode, or set access: 'published' (with an htpasswdSecret when the mirror has credentials)",
      });
    }
    for (const [field, secret] of [
      ['credentials.usernameSecret', props.credentials?.usernameSecret],
      ['credentials.passwordSecret', props.credentials?.passwordSecret],
      ['htpasswdSecret', props.htpasswdSecret],
    ] as const) {
      if (secret !== undefined && !SECRET_NAME.test(secret))
        throw new ShipshapeError(this, { problem: `${field} is not a valid Swarm secret name`, value: secret, fix: 'use lower-case letters, digits, "-" or "_"' });
    }
    if (props.credentials && !hostLocal && props.htpasswdSecret === undefined) {
      throw new ShipshapeError(this, {
        problem: `a published mirror with upstream credentials is an open proxy for that account: it serves the account's private repositories to anyone who can reach port ${this.port} of the hosts`,
        value: { access: this.access, credentials: props.credentials, htpasswdSecret: undefined },
        fix: "use access: 'host-local' (only each host's daemon reaches it), or set htpasswdSecret so that clients must log in",
      });
    }
    this.credentials = props.credentials;
    this.htpasswdSecret = props.htpasswdSecret;
    this.requiresLogin = props.htpasswdSecret !== undefined;
    // Host-local: the registry itself binds loopback (on the host network); published: the container port is mapped.
    const debugPort =
      props.debugPort === false ? false : assertInteger(this, 'debugPort', props.debugPort ?? (hostLocal && this.port === DEFAULT_DEBUG_PORT ? DEFAULT_DEBUG_PORT + 1 : DEFAULT_DEBUG_PORT), 1, 65535);
    this.config = new RegistryConfig(this, {
      version: distributionVersion(this.image),
      httpAddress: hostLocal ? `127.0.0.1:${this.port}` : `:${CONTAINER_PORT}`,
      debugAddress: debugPort === false ? false : hostLocal ? `127.0.0.1:${debugPort}` : `:${debugPort}`,
      storage: { type: 'filesystem' },
      proxy: { remoteUrl: props.remoteUrl ?? DOCKER_HUB_REGISTRY, ttl: props.ttl, authenticated: props.credentials !== undefined },
      htpasswd: props.htpasswdSecret ? { realm: this.name, path: `${SECRETS_DIR}/${props.htpasswdSecret}` } : undefined,
    });
    this.remoteUrl = this.config.remoteUrl!;
    this.volume = `${this.name}-cache`;
    this.configFile = new OutputFile(this, 'config', { path: props.configPath ?? 'hosts/registry/config.yml', content: () => ({ documents: [this.config.toJson()] }) });
    this.endpoint = `http://${host}:${this.port}`;
    this.command = props.credentials
      ? proxyLoginCommand(this, { username: `${SECRETS_DIR}/${props.credentials.usernameSecret}`, password: `${SECRETS_DIR}/${props.credentials.passwordSecret}` })
      : undefined;
    this.secrets = [props.credentials?.usernameSecret, props.credentials?.passwordSecret, props.htpasswdSecret].filter((x): x is string => x !== undefined);

    const project = SwarmProject.of(scope);
    if (props.swarm === true && !project) {
      throw new ShipshapeError(this, {
        problem: 'swarm: true, but the mirror is not created in a SwarmProject, so no project would deploy its service',
        value: props.swarm,
        fix: "create it in the project: new DockerHostRegistryMirror(project, 'mirror', {...}), or set swarm: false for a standalone host",
      });
    }
    // `/` answers without a login even with htpasswd.
    const healthcheck = resolveSwarmHealthcheck(this, { test: ['CMD', 'wget', '-q', '--spider', `http://127.0.0.1:${this.config.port}/`] }) as ResolvedSwarmHealthcheck;
    const configFile = this.configFile;
    this.spec = deepFreeze<DockerHostMirrorSpec>({
      name: this.name,
      image: this.image,
      access: this.access,
      port: this.port,
      containerPort: this.config.port,
      network: hostLocal ? { type: 'host' } : { type: 'published', publishMode: props.publishMode ?? 'ingress' },
      ...(this.command ? { command: [...this.command] } : {}),
      volume: { name: this.volume, target: this.config.rootDirectory! },
      config: { file: configFile.path, target: MOUNTED_REGISTRY_CONFIG, content: () => configFile.render() },
      secrets: this.secrets.map((name) => ({ name, path: `${SECRETS_DIR}/${name}` })),
      healthcheck,
      logging: resolveLogging(this, props.logging),
      resources: resolveSwarmResources(this, props.resources ?? DEFAULT_MIRROR_RESOURCES),
      constraints: [...(props.constraints ?? (hostLocal ? [] : ['node.role == manager']))],
      labels: { ...ROLE_LABELS },
      restart: STANDALONE_RESTART,
    });

    if (props.swarm ?? project !== undefined) {
      const spec = this.spec;
      this.service = new SwarmService(this, 'service', {
        name: spec.name,
        image: spec.image,
        // Host-local: one mirror per node, each daemon uses its own on 127.0.0.1.
        mode: spec.network.type === 'host' ? { type: 'global' } : { type: 'replicated', replicas: 1 },
        ...(spec.command ? { entrypoint: [...spec.command] } : {}),
        ...(spec.network.type === 'host' ? { networks: [SWARM_HOST_NETWORK] } : { ports: [{ target: spec.containerPort, published: spec.port, mode: spec.network.publishMode }] }),
        configs: [{ name: 'config', content: configFile, target: spec.config.target }],
        secrets: spec.secrets.map((s) => ({ name: s.name })),
        mounts: [{ type: 'volume', source: spec.volume.name, target: spec.volume.target }],
        placement: { constraints: [...spec.constraints] },
        // One cache on one volume: stop the old task before the new one opens the same files (and binds the port).
        update: { order: 'stop-first', delay: '0s' },
        healthcheck: { ...spec.healthcheck, test: [...spec.healthcheck.test] },
        resources: spec.resources,
        logging: props.logging,
        labels: { ...spec.labels },
      });
    }
  }
}
