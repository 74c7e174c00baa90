import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel, assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { DaemonLogging } from '../docker/docker-daemon-config';
import { SwarmResources, SwarmService } from '../swarm/swarm-service';
import { RegistryConfig } from './registry-config';
import { DOCKER_HUB_REGISTRY, IRegistryMirror } from './registry-endpoint';
import { REGISTRY_IMAGE } from './registry-mirror';

/** Swarm secrets holding the upstream login (created with `docker secret create`, or from Pulumi secret config). */
export interface MirrorCredentialSecrets {
  /** Swarm secret with the user name. */
  readonly usernameSecret: string;
  /** Swarm secret with the password or access token. */
  readonly passwordSecret: string;
}

/** Properties of a {@link DockerHostRegistryMirror}. */
export interface DockerHostRegistryMirrorProps {
  /**
   * Name of the Swarm service (or container) and prefix of its volume.
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
   * @default 'https://registry-1.docker.io' (Docker Hub, as in the notes)
   */
  readonly remoteUrl?: string;
  /**
   * Upstream login, read from Swarm secrets at start; never written to config.yml or the stack file.
   * @default - anonymous pulls
   */
  readonly credentials?: MirrorCredentialSecrets;
  /**
   * Cache expiry after last use.
   * @default '168h'
   */
  readonly ttl?: string;
  /**
   * Port the mirror is published on.
   * @default 5000 (the notes' mirror)
   */
  readonly port?: number;
  /**
   * `ingress`: every node of the swarm answers on the port (so each host's daemon can use localhost);
   * `host`: only the node running the mirror does.
   * @default 'ingress'
   */
  readonly publishMode?: 'ingress' | 'host';
  /**
   * Host name or address the Docker daemons reach the mirror at.
   * @default '127.0.0.1' (with the routing mesh every node answers on the published port)
   */
  readonly advertisedHost?: string;
  /**
   * Placement constraints; the cache is a node-local volume, so the mirror should stay on one node.
   * @default ['node.role == manager']
   */
  readonly constraints?: string[];
  /**
   * Run it as a Swarm service in the environment's SwarmStack; `false` for a standalone Docker host
   * (synth then writes only config.yml, and Pulumi runs a container).
   * @default true
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
const CONFIG_TARGET = '/etc/docker/registry/config.yml';
const HOST = /^[A-Za-z0-9.\-]+$|^\[[0-9a-fA-F:]+\]$/;

/**
 * The notes' Docker Hub mirror on the Docker hosts themselves: a typed
 * `config.yml` written to `dist/<env>/hosts/registry/config.yml`, run as a Swarm
 * service (synth) or a container (Pulumi), with `endpoint` ready for
 * `DockerDaemonConfig.registryMirrors`.
 */
export class DockerHostRegistryMirror extends Construct implements IRegistryMirror {
  /** URL the Docker daemons use, e.g. `http://127.0.0.1:5000`. */
  public readonly endpoint: string;
  public readonly remoteUrl: string;
  public readonly name: string;
  public readonly image: string;
  public readonly port: number;
  public readonly config: RegistryConfig;
  public readonly configFile: OutputFile;
  /** Named volume holding the cache. */
  public readonly volume: string;
  public readonly credentials?: MirrorCredentialSecrets;
  /** The Swarm service, unless `swarm: false`. */
  public readonly service?: SwarmService;

  constructor(scope: Construct, id: string, props: DockerHostRegistryMirrorProps = {}) {
    super(scope, id);
    // Fails early, naming this construct, when it is not inside a Stack.
    Stack.of(this);
    this.name = assertDnsLabel(this, 'name', props.name ?? 'registry-mirror');
    this.image = props.image ?? REGISTRY_IMAGE;
    this.port = assertInteger(this, 'port', props.port ?? DEFAULT_MIRROR_PORT, 1, 65535);
    const host = props.advertisedHost ?? '127.0.0.1';
    if (!HOST.test(host)) throw new ShipshapeError(this, { problem: 'advertisedHost must be a host name or IP address', value: host, fix: 'use e.g. "10.0.0.5" or "mirror.internal"' });
    this.credentials = props.credentials;
    this.config = new RegistryConfig(this, {
      storage: { type: 'filesystem' },
      proxy: { remoteUrl: props.remoteUrl ?? DOCKER_HUB_REGISTRY, ttl: props.ttl, authenticated: props.credentials !== undefined },
    });
    this.remoteUrl = this.config.remoteUrl!;
    this.volume = `${this.name}-cache`;
    this.configFile = new OutputFile(this, 'config', { path: props.configPath ?? 'hosts/registry/config.yml', content: () => this.config.render() });
    this.endpoint = `http://${host}:${this.port}`;

    if (props.swarm ?? true) {
      const secrets = props.credentials ? [props.credentials.usernameSecret, props.credentials.passwordSecret] : [];
      // The registry reads the login only from REGISTRY_PROXY_* variables; fill them from the secret files at start.
      // `$$` is compose's escape for a literal `$`.
      const login = props.credentials
        ? `REGISTRY_PROXY_USERNAME="$$(cat /run/secrets/${props.credentials.usernameSecret})" REGISTRY_PROXY_PASSWORD="$$(cat /run/secrets/${props.credentials.passwordSecret})" `
        : '';
      this.service = new SwarmService(this, 'service', {
        name: this.name,
        image: this.image,
        mode: { type: 'replicated', replicas: 1 },
        ...(props.credentials ? { entrypoint: ['/bin/sh', '-c', `${login}exec registry serve ${CONFIG_TARGET}`] } : {}),
        ports: [{ target: this.config.port, published: this.port, mode: props.publishMode ?? 'ingress' }],
        configs: [{ name: 'config', content: this.configFile, target: CONFIG_TARGET }],
        secrets: secrets.map((s) => ({ name: s })),
        mounts: [{ type: 'volume', source: this.volume, target: this.config.rootDirectory! }],
        placement: { constraints: props.constraints ?? ['node.role == manager'] },
        // One cache on one volume: stop the old task before the new one opens the same files.
        update: { order: 'stop-first', delay: '0s' },
        healthcheck: { test: ['CMD', 'wget', '-q', '--spider', `http://127.0.0.1:${this.config.port}/`] },
        resources: props.resources ?? { cpuReservation: 0.1, memoryReservation: '256M', memoryLimit: '512M' },
        logging: props.logging,
        labels: { 'io.shipshape.role': 'registry-mirror' },
      });
    }
  }
}
