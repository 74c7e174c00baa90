import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { DEFAULT_FLUENTD_TAG, DEFAULT_LOG_MAX_FILE, DEFAULT_LOG_MAX_SIZE, DaemonLogging, FLUENTD_ADDRESS, logOptions } from './docker-logging';
import { IRegistryMirror, isDockerHub } from './registry-mirror-endpoint';
import { isSwarmHost } from './swarm-mode';
import { assertLogSize, assertRegistryUrl } from './units';
import { byCodePoint } from '../core/ordering';
import { DeclaredExemption, exemptionKeys } from '../core/policy/exemptions';
import { scanDocument } from '../core/policy/credentials';

/** A ulimit applied to every container. */
export interface Ulimit {
  /** Soft limit. */
  readonly soft: number;
  /** Hard limit; must be ≥ soft. */
  readonly hard: number;
}

/** Properties of a {@link DockerDaemonConfig}. */
export interface DockerDaemonConfigProps {
  /**
   * Output path under `dist/<env>/`.
   * @default 'hosts/daemon.json'
   */
  readonly path?: string;
  /**
   * Default logging of every container.
   * @default json-file with max-size 10m and max-file 5 (see docs/practice.md#log-rotation)
   */
  readonly logging?: DaemonLogging;
  /**
   * Keep containers running while dockerd restarts (`live-restore`). Incompatible with Swarm mode.
   * @default - true on hosts that are not in Swarm mode, false on Swarm hosts
   */
  readonly liveRestore?: boolean;
  /**
   * Whether these hosts run in Swarm mode.
   * @default - true when a SwarmService is deployed to the stack's hosts
   */
  readonly swarmMode?: boolean;
  /**
   * Parallel layer downloads per pull.
   * @default 5 (Docker's default is 3; see docs/practice.md#pull-and-push-concurrency)
   */
  readonly maxConcurrentDownloads?: number;
  /**
   * Parallel layer uploads per push.
   * @default 8 (Docker's default is 5; see docs/practice.md#pull-and-push-concurrency)
   */
  readonly maxConcurrentUploads?: number;
  /**
   * Docker Hub mirrors tried before Docker Hub itself: typed mirrors (their `endpoint` is used) or URLs.
   * @default []
   */
  readonly registryMirrors?: (IRegistryMirror | string)[];
  /**
   * Registries reached over plain HTTP or with untrusted certificates (`host:port` or CIDR).
   * @default []
   */
  readonly insecureRegistries?: string[];
  /**
   * Storage driver.
   * @default 'overlay2' (Docker's recommended driver on every supported Linux distribution)
   */
  readonly storageDriver?: 'overlay2' | 'fuse-overlayfs' | 'btrfs' | 'zfs' | 'vfs';
  /**
   * Ulimits of every container, by name (`nofile`, `nproc`, `memlock`...).
   * @default { nofile: { soft: 65536, hard: 65536 } }
   */
  readonly defaultUlimits?: Record<string, Ulimit>;
  /**
   * Data directory.
   * @default - Docker's default, /var/lib/docker
   */
  readonly dataRoot?: string;
  /**
   * DNS servers of containers.
   * @default - the host's resolvers
   */
  readonly dns?: string[];
  /**
   * Daemon log level.
   * @default 'info'
   */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  /**
   * Seconds dockerd waits for containers to stop on shutdown.
   * @default 15 (Docker's default)
   */
  readonly shutdownTimeout?: number;
  /**
   * Address of the Prometheus metrics endpoint (`metrics-addr`).
   * @default - none
   */
  readonly metricsAddress?: string;
  /**
   * Let dockerd manage iptables rules (off on hosts whose firewall is managed elsewhere).
   * @default - Docker's default, true
   */
  readonly iptables?: boolean;
  /**
   * The default bridge network, or 'none' to start without one.
   * @default - Docker's default docker0
   */
  readonly bridge?: string;
  /**
   * Any other daemon.json key (e.g. `default-address-pools`, `features`), merged last.
   * Keys given here must not repeat a typed field. Refused unless exempted: `hosts` with a TCP socket on a
   * non-loopback address without `tlsverify` and its certificates, `icc: true`, `no-new-privileges: false`.
   * @default {}
   */
  readonly extra?: Record<string, unknown>;
  /**
   * Checks this configuration breaks on purpose, each with the reason a reviewer can judge; listed in the
   * synth summary (daemon.json itself has no room for comments).
   * @default []
   */
  readonly exemptions?: DaemonExemption[];
}

/**
 * Checks a {@link DockerDaemonConfig} makes that an exemption may waive:
 * - `tcp-socket`: the Docker API on a TCP socket reachable from other hosts without client-certificate TLS
 *   (`tcp://0.0.0.0:2375`): anyone who reaches the port is root on the host;
 * - `icc`: `icc: true` lets every container on the default bridge reach every other one;
 * - `no-new-privileges`: `no-new-privileges: false` lets setuid binaries in containers gain privileges.
 */
export type DaemonRule = 'tcp-socket' | 'icc' | 'no-new-privileges';

/** A reasoned exemption of a {@link DockerDaemonConfig} from one check. */
export interface DaemonExemption {
  /** The check. */
  readonly rule: DaemonRule;
  /** Why these hosts must break it (at least a sentence). */
  readonly reason: string;
}

// Raised from Docker's defaults of 3 downloads and 5 uploads per pull/push (docs/practice.md#pull-and-push-concurrency).
export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 5;
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 8;
// Docker's recommended storage driver for every supported distribution.
export const DEFAULT_STORAGE_DRIVER = 'overlay2';
// Many servers (databases, proxies, Elasticsearch) need more than the usual 1024 open files.
export const DEFAULT_ULIMITS: Readonly<Record<string, Ulimit>> = { nofile: { soft: 65536, hard: 65536 } };
// Far above any useful pull/push parallelism; a larger value is a typo.
const MAX_CONCURRENCY = 64;
// daemon.json keys the typed properties write; `extra` must not repeat them.
const TYPED_KEYS = new Set([
  'log-driver',
  'log-opts',
  'live-restore',
  'max-concurrent-downloads',
  'max-concurrent-uploads',
  'registry-mirrors',
  'insecure-registries',
  'storage-driver',
  'default-ulimits',
  'data-root',
  'dns',
  'log-level',
  'shutdown-timeout',
  'metrics-addr',
  'iptables',
  'bridge',
]);
const DAEMON_RULES: readonly DaemonRule[] = ['tcp-socket', 'icc', 'no-new-privileges'];
// dockerd's own defaults for `hosts` entries without a scheme are TCP; these schemes are local.
const LOCAL_SOCKET = /^(unix|fd|npipe):\/\//;
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;
const ULIMIT_NAMES = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

/**
 * `/etc/docker/daemon.json` of an environment's Docker hosts: log rotation or
 * Fluentd shipping, live-restore, pull/push concurrency, Docker Hub mirrors,
 * storage driver and ulimits — written to `dist/<env>/hosts/daemon.json`.
 */
export class DockerDaemonConfig extends Construct {
  /** Output path relative to the environment directory. */
  public readonly path: string;
  /** The file. */
  public readonly file: OutputFile;
  private readonly props: DockerDaemonConfigProps;
  private readonly mirrors: (IRegistryMirror | string)[];
  /** How the synth summary names the file. */
  public readonly policyObject: string;
  /** Declared exemptions, listed in the synth summary. */
  public readonly policyExemptions: readonly DeclaredExemption[];

  constructor(scope: Construct, id: string, props: DockerDaemonConfigProps = {}) {
    super(scope, id);
    Stack.of(this);
    this.props = props;
    this.path = props.path ?? 'hosts/daemon.json';
    this.policyObject = `DockerDaemonConfig ${this.path}`;
    this.policyExemptions = (props.exemptions ?? []).map((e) => {
      if (!DAEMON_RULES.includes(e.rule))
        throw new ShipshapeError(this, { problem: 'exemptions[].rule must name a DockerDaemonConfig check', value: e.rule, fix: `use one of ${DAEMON_RULES.join(', ')}` });
      exemptionKeys(this, e.rule, e.reason);
      return { ruleId: e.rule, reason: e.reason };
    });
    this.validateProps(props);
    this.validateHostAccess(props.extra ?? {});
    this.mirrors = [...(props.registryMirrors ?? [])];
    for (const m of this.mirrors) this.validateMirror(m);
    this.checkCredentials();
    this.file = new OutputFile(this, 'file', { path: this.path, content: () => `${JSON.stringify(this.toJson(), null, 2)}\n` });
    this.node.addValidation({ validate: () => this.validateSwarm() });
  }

  /** Adds a Docker Hub mirror (typed wiring from a RegistryMirror). */
  public addRegistryMirror(mirror: IRegistryMirror | string): void {
    this.validateMirror(mirror);
    this.mirrors.push(mirror);
  }

  /** Whether the hosts run in Swarm mode: the explicit prop, else whether a Swarm service declared the stack's hosts Swarm hosts. */
  public get swarmMode(): boolean {
    return this.props.swarmMode ?? isSwarmHost(Stack.of(this));
  }

  /** The daemon.json document. */
  public toJson(): Record<string, unknown> {
    const p = this.props;
    const logging = p.logging ?? { driver: 'json-file' };
    const json: Record<string, unknown> = {};
    json['log-driver'] = logging.driver;
    json['log-opts'] = logOptions(logging);
    json['live-restore'] = p.liveRestore ?? !this.swarmMode;
    json['max-concurrent-downloads'] = p.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS;
    json['max-concurrent-uploads'] = p.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
    if (this.mirrors.length > 0) json['registry-mirrors'] = this.mirrors.map((m) => (typeof m === 'string' ? assertRegistryUrl(this, 'registryMirrors', m) : m.endpoint));
    if (p.insecureRegistries?.length) json['insecure-registries'] = [...p.insecureRegistries];
    json['storage-driver'] = p.storageDriver ?? DEFAULT_STORAGE_DRIVER;
    const ulimits = p.defaultUlimits ?? DEFAULT_ULIMITS;
    if (Object.keys(ulimits).length > 0) {
      json['default-ulimits'] = Object.fromEntries(
        Object.entries(ulimits)
          .sort(([a], [b]) => byCodePoint(a, b))
          .map(([name, u]) => [name, { Name: name, Soft: u.soft, Hard: u.hard }]),
      );
    }
    if (p.dataRoot !== undefined) json['data-root'] = p.dataRoot;
    if (p.dns?.length) json.dns = [...p.dns];
    if (p.logLevel !== undefined) json['log-level'] = p.logLevel;
    if (p.shutdownTimeout !== undefined) json['shutdown-timeout'] = p.shutdownTimeout;
    if (p.metricsAddress !== undefined) json['metrics-addr'] = p.metricsAddress;
    if (p.iptables !== undefined) json.iptables = p.iptables;
    if (p.bridge !== undefined) json.bridge = p.bridge;
    return { ...json, ...(p.extra ?? {}) };
  }

  // Not `validate`: constructs 10.3, the lowest the peer range admits, refuses a construct with a method of that name.
  private validateProps(p: DockerDaemonConfigProps): void {
    const logging = p.logging ?? { driver: 'json-file' };
    if (logging.driver === 'json-file' || logging.driver === 'local') {
      assertLogSize(this, 'logging.maxSize', logging.maxSize ?? DEFAULT_LOG_MAX_SIZE);
      assertInteger(this, 'logging.maxFile', logging.maxFile ?? DEFAULT_LOG_MAX_FILE, 1, 1000);
      if (logging.driver === 'local' && logging.compress !== undefined) {
        throw new ShipshapeError(this, { problem: 'the local log driver always compresses and has no compress option', value: logging, fix: 'remove compress, or use the json-file driver' });
      }
    } else if (logging.driver === 'fluentd') {
      const address = typeof logging.fluentd === 'string' ? logging.fluentd : logging.fluentd?.address;
      if (!address || !FLUENTD_ADDRESS.test(address)) {
        throw new ShipshapeError(this, {
          problem: 'logging.fluentd must be the host:port of a Fluentd forward input',
          value: address,
          fix: 'pass e.g. "fluentd.logging.svc:24224" or a FluentdDaemonSet endpoint',
        });
      }
      if (logging.tag !== undefined && logging.tag.trim() === '') {
        throw new ShipshapeError(this, { problem: 'logging.tag must not be empty', value: logging.tag, fix: `omit it for "${DEFAULT_FLUENTD_TAG}"` });
      }
    } else {
      throw new ShipshapeError(this, { problem: 'logging.driver must be json-file, local or fluentd', value: (logging as { driver: unknown }).driver, fix: 'pick one of the three' });
    }
    assertInteger(this, 'maxConcurrentDownloads', p.maxConcurrentDownloads ?? DEFAULT_MAX_CONCURRENT_DOWNLOADS, 1, MAX_CONCURRENCY);
    assertInteger(this, 'maxConcurrentUploads', p.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS, 1, MAX_CONCURRENCY);
    if (p.shutdownTimeout !== undefined) assertInteger(this, 'shutdownTimeout', p.shutdownTimeout, 0, 3600);
    for (const [name, u] of Object.entries(p.defaultUlimits ?? {})) {
      if (!ULIMIT_NAMES.has(name)) {
        throw new ShipshapeError(this, { problem: `defaultUlimits has an unknown ulimit "${name}"`, value: name, fix: `use one of ${[...ULIMIT_NAMES].join(', ')}` });
      }
      const ok = Number.isInteger(u.soft) && Number.isInteger(u.hard) && u.soft >= -1 && u.hard >= -1 && (u.hard === -1 || (u.soft !== -1 && u.soft <= u.hard));
      if (!ok) throw new ShipshapeError(this, { problem: `defaultUlimits.${name} must have whole-number limits with soft ≤ hard (-1 for unlimited)`, value: u, fix: 'lower soft or raise hard' });
    }
    if (p.dataRoot !== undefined && !p.dataRoot.startsWith('/')) {
      throw new ShipshapeError(this, { problem: 'dataRoot must be an absolute path', value: p.dataRoot, fix: 'use e.g. "/var/lib/docker"' });
    }
    if (p.liveRestore === true && p.swarmMode === true) this.liveRestoreInSwarm();
    for (const key of Object.keys(p.extra ?? {})) {
      if (TYPED_KEYS.has(key)) throw new ShipshapeError(this, { problem: `extra repeats "${key}", which has a typed property`, value: key, fix: 'set the typed property instead' });
    }
  }

  /**
   * daemon.json is copied to every host and committed to Git: no credential in any value (a proxy URL with a
   * password, a token in a label or a registry name), by the detector the Kubernetes policy uses.
   */
  private checkCredentials(): void {
    const leaked = scanDocument(this.toJson())[0];
    if (!leaked) return;
    throw new ShipshapeError(this, {
      problem: `${leaked.path} looks like a credential (${leaked.kind}) and would be written in plain text to ${this.path}`,
      value: leaked.excerpt,
      fix: "keep credentials out of daemon.json: proxy and registry logins belong in the host's credential store (docker login, a systemd drop-in read from a root-only file)",
    });
  }

  private exempted(rule: DaemonRule): boolean {
    return this.policyExemptions.some((e) => e.ruleId === rule);
  }

  /** Refuses settings that hand the host to the network or weaken container isolation, unless exempted. */
  private validateHostAccess(extra: Record<string, unknown>): void {
    const hosts = extra.hosts;
    if (hosts !== undefined) {
      if (!Array.isArray(hosts) || hosts.some((h) => typeof h !== 'string')) {
        throw new ShipshapeError(this, { problem: 'extra.hosts must be a list of sockets, e.g. ["unix:///var/run/docker.sock"]', value: hosts, fix: 'write the sockets as a list of strings' });
      }
      const verified = extra.tlsverify === true && ['tlscacert', 'tlscert', 'tlskey'].every((k) => typeof extra[k] === 'string' && extra[k] !== '');
      const exposed = (hosts as string[]).filter((h) => !LOCAL_SOCKET.test(h) && !LOOPBACK_HOST.test(tcpHost(h)));
      if (exposed.length > 0 && !verified && !this.exempted('tcp-socket')) {
        throw new ShipshapeError(this, {
          problem: `extra.hosts exposes the Docker API on ${exposed.join(', ')} without client-certificate TLS: anyone who reaches the port runs containers as root on the host`,
          value: hosts,
          fix: "listen on unix:///var/run/docker.sock (and reach remote hosts over ssh://), bind tcp://127.0.0.1, or set tlsverify: true with tlscacert, tlscert and tlskey; or exempt it with the reason: exemptions: [{ rule: 'tcp-socket', reason }]",
        });
      }
    }
    if (extra.icc === true && !this.exempted('icc')) {
      throw new ShipshapeError(this, {
        problem: "extra.icc: true lets every container on the default bridge reach every other container's ports",
        value: extra.icc,
        fix: "remove icc (or set it to false) and connect containers that talk through a user-defined network; or exempt it with the reason: exemptions: [{ rule: 'icc', reason }]",
      });
    }
    if (extra['no-new-privileges'] === false && !this.exempted('no-new-privileges')) {
      throw new ShipshapeError(this, {
        problem: 'extra["no-new-privileges"]: false lets processes in containers gain privileges through setuid binaries',
        value: extra['no-new-privileges'],
        fix: "remove it or set it to true; or exempt it with the reason: exemptions: [{ rule: 'no-new-privileges', reason }]",
      });
    }
  }

  private validateMirror(mirror: IRegistryMirror | string): void {
    if (typeof mirror === 'string') {
      assertRegistryUrl(this, 'registryMirrors', mirror);
      return;
    }
    if (!isDockerHub(mirror.remoteUrl)) {
      throw new ShipshapeError(this, {
        problem: `registry mirror ${mirror.node.path} proxies ${mirror.remoteUrl}, but the Docker daemon uses registry-mirrors only for Docker Hub images, so it would never send a pull for that registry there (and could serve Docker Hub names from the wrong upstream)`,
        value: mirror.remoteUrl,
        fix: "set the mirror's remoteUrl to Docker Hub (\"https://registry-1.docker.io\"), or pull other registries' images through the mirror's own host name instead of registry-mirrors",
      });
    }
    if (mirror.requiresLogin) {
      throw new ShipshapeError(this, {
        problem: `registry mirror ${mirror.node.path} requires a login, but the Docker daemon has none of its own for registry-mirrors (it would send the pulling user's Docker Hub login, or nothing), so every pull would skip the mirror`,
        value: mirror.endpoint,
        fix: "give the daemons a mirror only they can reach instead (DockerHostRegistryMirror access: 'host-local'), and keep the htpasswd mirror for clients with their own login",
      });
    }
    assertRegistryUrl(this, 'registryMirrors', mirror.endpoint);
  }

  private validateSwarm(): string[] {
    if (this.props.liveRestore === true && this.swarmMode) {
      try {
        this.liveRestoreInSwarm();
      } catch (e) {
        // synth prefixes validation messages with the construct path itself.
        return [(e as Error).message.slice(this.node.path.length + 2)];
      }
    }
    return [];
  }

  private liveRestoreInSwarm(): never {
    throw new ShipshapeError(this, {
      problem:
        'liveRestore is set on hosts that run in Swarm mode: Swarm tasks are owned by the swarm agent inside dockerd, so they cannot outlive a daemon restart, and dockerd refuses to join or init a swarm with live-restore enabled',
      value: { liveRestore: true, swarmMode: true },
      fix: 'remove liveRestore on Swarm hosts (the default turns it off there) and drain a node before restarting dockerd; keep live-restore for standalone hosts',
    });
  }
}

/** The host part of a dockerd TCP address (`tcp://0.0.0.0:2375`, `:2375`, `10.0.0.5`); empty means every interface. */
function tcpHost(address: string): string {
  const rest = address.replace(/^tcp:\/\//, '').replace(/\/.*$/, '');
  const bracketed = /^(\[[^\]]*\])(:\d*)?$/.exec(rest);
  if (bracketed) return bracketed[1];
  const colons = rest.split(':').length - 1;
  // A bare IPv6 address has several colons; host:port has one.
  return colons > 1 ? rest : rest.replace(/:\d*$/, '');
}
