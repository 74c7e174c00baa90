import { posix } from 'node:path';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { assertPinnedImage } from '../core/validate';
import { DaemonLogging, loggingOptions, validateLogging } from '../docker/docker-daemon-config';
import { assertByteSize, assertDuration, byteSize } from '../docker/units';
import { byCodePoint } from '../core/ordering';
import { CredentialFinding, EXEMPTION_KEY, scanArgs, scanFile, scanText, scanVariable } from '../core/policy/credentials';
import { DeclaredExemption, exemptionKeys } from '../core/policy/exemptions';

/** Replicated mode: a fixed number of tasks spread over the nodes. */
export interface ReplicatedMode {
  readonly type: 'replicated';
  /**
   * Tasks to run.
   * @default - the environment's `replicas`
   */
  readonly replicas?: number;
}

/** Global mode: one task on every node that matches the placement (agents such as cAdvisor). */
export interface GlobalMode {
  readonly type: 'global';
}

/** How many tasks a service runs. */
export type ServiceMode = ReplicatedMode | GlobalMode;

/** A published port. */
export interface SwarmPort {
  /** Port inside the container. */
  readonly target: number;
  /**
   * Port on the nodes.
   * @default - the target port
   */
  readonly published?: number;
  /**
   * Protocol.
   * @default 'tcp'
   */
  readonly protocol?: 'tcp' | 'udp';
  /**
   * `ingress`: every node answers on the port and the routing mesh forwards to a task (docs/practice.md#published-ports);
   * `host`: only nodes running a task answer, straight into that task (global agents, client IP preserved).
   * @default 'ingress'
   */
  readonly mode?: 'ingress' | 'host';
}

/** Rolling update (or rollback) behaviour. */
export interface UpdatePolicy {
  /**
   * Tasks updated at once (`--update-parallelism`); 0 updates all at once.
   * @default 1 (Docker's default: one task at a time)
   */
  readonly parallelism?: number;
  /**
   * Wait between batches (`--update-delay`).
   * @default '10s' (see docs/practice.md#rolling-updates)
   */
  readonly delay?: string;
  /**
   * What to do when a task of the batch fails.
   * @default 'rollback' for updates (back to the last good version without waking anyone), 'pause' for rollbacks
   */
  readonly failureAction?: 'continue' | 'rollback' | 'pause';
  /**
   * How long a new task is watched for failure after it starts.
   * @default '30s' (long enough for a healthcheck to fail a few times)
   */
  readonly monitor?: string;
  /**
   * Share of failed tasks tolerated during the update, 0-1.
   * @default 0
   */
  readonly maxFailureRatio?: number;
  /**
   * `start-first` starts the new task before stopping the old one (no capacity dip); `stop-first` the reverse.
   * @default 'start-first', or 'stop-first' when the service publishes a port in host mode (two tasks cannot bind it on one node)
   */
  readonly order?: 'start-first' | 'stop-first';
}

/** When Swarm restarts a task's container. */
export interface RestartPolicy {
  /**
   * Condition.
   * @default 'any' (a service is meant to run; an exit of any kind is replaced)
   */
  readonly condition?: 'none' | 'on-failure' | 'any';
  /**
   * Wait between restarts.
   * @default '5s' (Docker's default)
   */
  readonly delay?: string;
  /**
   * Restarts tried within `window` before giving up.
   * @default - unlimited
   */
  readonly maxAttempts?: number;
  /**
   * Window for counting attempts.
   * @default - unbounded
   */
  readonly window?: string;
}

/** CPU and memory of each task. */
export interface SwarmResources {
  /**
   * Most CPUs (`0.5` = half a core).
   * @default - no CPU limit (CPU limits throttle latency-sensitive services)
   */
  readonly cpuLimit?: number;
  /**
   * Memory limit (`256M`).
   * @default '256M'
   */
  readonly memoryLimit?: string;
  /**
   * CPUs reserved on the node for scheduling.
   * @default 0.1
   */
  readonly cpuReservation?: number;
  /**
   * Memory reserved for scheduling.
   * @default '128M'
   */
  readonly memoryReservation?: string;
}

/** Container healthcheck; a task is healthy (and gets traffic, and counts as updated) only when it passes. */
export interface SwarmHealthcheck {
  /** Command, as `["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/"]` or `["CMD-SHELL", "..."]`. */
  readonly test: string[];
  /**
   * Time between checks.
   * @default '10s'
   */
  readonly interval?: string;
  /**
   * Time a check may take.
   * @default '5s'
   */
  readonly timeout?: string;
  /**
   * Consecutive failures before unhealthy.
   * @default 3
   */
  readonly retries?: number;
  /**
   * Grace period after start during which failures do not count.
   * @default '10s'
   */
  readonly startPeriod?: string;
}

/** A Swarm secret (created out of band, e.g. `docker secret create`) mounted as a file. */
export interface SwarmSecretRef {
  /** Name of the Swarm secret. */
  readonly name: string;
  /**
   * File name under /run/secrets.
   * @default - the secret name
   */
  readonly target?: string;
  /**
   * File mode.
   * @default 0o400
   */
  readonly mode?: number;
}

/** A Swarm config whose content shipshape writes next to the stack file. */
export interface SwarmConfigFile {
  /** Config name (the deployed config is named `<name>-<content hash>` so that a change rolls the service). */
  readonly name: string;
  /** Content of the file, or an output file synth already writes (the config then points at it instead of a copy). */
  readonly content: string | OutputFile;
  /** Absolute path inside the container. */
  readonly target: string;
  /**
   * File mode.
   * @default 0o444
   */
  readonly mode?: number;
}

/** A volume or bind mount. */
export interface SwarmMount {
  /** `volume` (named, node-local unless a volume driver says otherwise) or `bind` (a host path). */
  readonly type: 'volume' | 'bind';
  /** Volume name or absolute host path. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly target: string;
  /**
   * Mount read-only.
   * @default false
   */
  readonly readOnly?: boolean;
}

/** Where tasks may run. */
export interface SwarmPlacement {
  /**
   * Constraints, e.g. `node.role == worker`, `node.labels.instancegroup == webapi`.
   * @default []
   */
  readonly constraints?: string[];
  /**
   * Node labels to spread tasks over, e.g. `node.labels.zone`.
   * @default []
   */
  readonly spread?: string[];
  /**
   * Most tasks of this service on one node (replicated mode only).
   * @default - unlimited
   */
  readonly maxReplicasPerNode?: number;
  /**
   * Node group the tasks run on: adds a constraint on each of the group's labels and uses the group's size in capacity checks.
   * @default - any node
   */
  readonly nodeGroup?: string;
}

/** Properties of a {@link SwarmService}. */
export interface SwarmServiceProps {
  /** Service name in the stack (the deployed service is `<stack>_<name>`). */
  readonly name: string;
  /** Image with a pinned tag or digest. */
  readonly image: string;
  /**
   * How many tasks run.
   * @default { type: 'replicated' } with the environment's replicas
   */
  readonly mode?: ServiceMode;
  /**
   * Entrypoint override.
   * @default - the image's entrypoint
   */
  readonly entrypoint?: string[];
  /**
   * Command override.
   * @default - the image's command
   */
  readonly command?: string[];
  /**
   * Plain environment variables. Credentials go in `secrets`, never here.
   * @default {}
   */
  readonly environment?: Record<string, string>;
  /**
   * Published ports.
   * @default []
   */
  readonly ports?: SwarmPort[];
  /**
   * `vip`: one virtual IP load-balanced by the routing mesh; `dnsrr`: the service name resolves to every task's IP.
   * @default 'vip'
   */
  readonly endpointMode?: 'vip' | 'dnsrr';
  /**
   * Rolling update.
   * @default parallelism 1, delay 10s, failureAction rollback, monitor 30s, maxFailureRatio 0, order start-first
   */
  readonly update?: UpdatePolicy;
  /**
   * Automatic rollback.
   * @default parallelism 1, delay 0s, failureAction pause, monitor 30s, maxFailureRatio 0, order as the update
   */
  readonly rollback?: UpdatePolicy;
  /**
   * Restart policy.
   * @default condition any, delay 5s
   */
  readonly restart?: RestartPolicy;
  /**
   * Placement.
   * @default - anywhere
   */
  readonly placement?: SwarmPlacement;
  /**
   * CPU and memory.
   * @default DEFAULT_SWARM_RESOURCES: 0.1 CPU and 128M reserved, 256M memory limit
   */
  readonly resources?: SwarmResources;
  /**
   * Healthcheck; `false` to disable one the image defines.
   * @default - the image's own healthcheck, if any
   */
  readonly healthcheck?: SwarmHealthcheck | false;
  /**
   * Logging.
   * @default json-file with max-size 10m and max-file 5 (see docs/practice.md#log-rotation)
   */
  readonly logging?: DaemonLogging;
  /**
   * Overlay networks of the stack the service joins; {@link SWARM_HOST_NETWORK} joins the nodes' host network.
   * @default - the stack's default network
   */
  readonly networks?: string[];
  /**
   * Swarm secrets mounted under /run/secrets.
   * @default []
   */
  readonly secrets?: SwarmSecretRef[];
  /**
   * Configs written next to the stack file and mounted.
   * @default []
   */
  readonly configs?: SwarmConfigFile[];
  /**
   * Volumes and bind mounts.
   * @default []
   */
  readonly mounts?: SwarmMount[];
  /**
   * Time a task gets between SIGTERM and SIGKILL.
   * @default '10s' (Docker's default)
   */
  readonly stopGracePeriod?: string;
  /**
   * User to run as (`uid:gid`).
   * @default - the image's user
   */
  readonly user?: string;
  /**
   * Service labels.
   * @default {}
   */
  readonly labels?: Record<string, string>;
  /**
   * Environment variables whose value `docker stack deploy` may interpolate from the deployer's environment,
   * e.g. `RELEASE: '${CI_COMMIT_SHA}'`. Every other value (environment, command, entrypoint, healthcheck,
   * labels, user...) is written with each `$` doubled, so the container gets exactly the string given here and
   * never a variable of the machine that deploys. The Pulumi back end interpolates nothing.
   * @default [] (no value is interpolated)
   */
  readonly interpolate?: string[];
  /**
   * Checks this service breaks on purpose, each with the reason a reviewer can judge. Each is written to the
   * stack file as a service label `exemptions.shipshape.io/<rule>[.<variable>]` and listed in the synth summary.
   * @default [] (root, the Docker socket and plain-text credentials are refused)
   */
  readonly exemptions?: SwarmExemption[];
}

/**
 * Checks a {@link SwarmService} makes that an exemption may waive:
 * - `secret-env-plaintext`: a credential in plain text in the environment, command, entrypoint, healthcheck or labels;
 * - `run-as-root`: `user` is root (`root`, `0`, `0:0`);
 * - `docker-socket`: a bind mount of `/var/run/docker.sock` (or a directory holding it): whoever reaches the socket is root on the host.
 */
export type SwarmServiceRule = 'secret-env-plaintext' | 'run-as-root' | 'docker-socket';

/** A reasoned exemption of a {@link SwarmService} from one check. */
export interface SwarmExemption {
  /** The check. */
  readonly rule: SwarmServiceRule;
  /** Why the service must break it (at least a sentence). */
  readonly reason: string;
  /**
   * For `secret-env-plaintext`: only these variables (environment names, label keys, command-line flags).
   * @default - the whole service
   */
  readonly variables?: string[];
}

/** Task resources when none are given: the same small footprint as Kubernetes workloads, with a memory limit and no CPU limit. */
export const DEFAULT_SWARM_RESOURCES: Required<Pick<SwarmResources, 'memoryLimit' | 'cpuReservation' | 'memoryReservation'>> = {
  memoryLimit: '256M',
  cpuReservation: 0.1,
  memoryReservation: '128M',
};
// One task at a time is Docker's default and the safest batch size.
export const DEFAULT_UPDATE_PARALLELISM = 1;
// Wait 10s between batches (`--update-delay 10s`): a bad release shows on one batch first (docs/practice.md#rolling-updates).
export const DEFAULT_UPDATE_DELAY = '10s';
// Long enough for a healthcheck with the default interval to fail three times.
export const DEFAULT_UPDATE_MONITOR = '30s';
// Docker's default restart delay.
export const DEFAULT_RESTART_DELAY = '5s';
// Docker's default healthcheck timings, except a shorter interval so bad releases are caught inside the monitor window.
export const DEFAULT_HEALTHCHECK = { interval: '10s', timeout: '5s', retries: 3, startPeriod: '10s' } as const;
/** Network name that puts a service on each node's host network (the stack declares Docker's external `host`). */
export const SWARM_HOST_NETWORK = 'host';
const SERVICE_NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/;
const CONSTRAINT = /^(node\.(id|hostname|role|platform\.os|platform\.arch|labels\.[^\s=!]+)|engine\.labels\.[^\s=!]+)\s*(==|!=)\s*\S+$/;

/** The resolved update or rollback policy. */
export type ResolvedUpdatePolicy = Required<UpdatePolicy>;

/**
 * A Docker Swarm service: replicated or global tasks of a pinned image with
 * published ports, rolling update and rollback, restart policy, placement,
 * resources, healthcheck, log rotation or Fluentd, overlay networks, secrets
 * and configs. A {@link SwarmStack} in the same environment renders it into
 * `docker-stack.yml`.
 */
export class SwarmService extends Construct {
  /** Whether a construct is a SwarmService (works across copies of the library). */
  public static isSwarmService(x: unknown): x is SwarmService {
    return typeof x === 'object' && x !== null && (x as { isSwarmService?: unknown }).isSwarmService === true;
  }

  /** Marker for {@link SwarmService.isSwarmService}. */
  public readonly isSwarmService = true;
  public readonly name: string;
  public readonly image: string;
  public readonly mode: Required<ReplicatedMode> | GlobalMode;
  public readonly ports: readonly Required<SwarmPort>[];
  public readonly update: ResolvedUpdatePolicy;
  public readonly rollback: ResolvedUpdatePolicy;
  public readonly restart: RestartPolicy & { condition: 'none' | 'on-failure' | 'any'; delay: string };
  public readonly resources: SwarmResources;
  public readonly placement: { constraints: string[]; spread: string[]; maxReplicasPerNode?: number };
  public readonly healthcheck?: Required<SwarmHealthcheck> | false;
  public readonly logging: DaemonLogging;
  public readonly props: SwarmServiceProps;
  /** Name other services on the same network reach it by. */
  public readonly hostname: string;
  /** The service's config files: stack-level key, output path and content. */
  public readonly configFiles: readonly { readonly key: string; readonly path: string; readonly content: () => string }[];
  /** How the synth summary names the service. */
  public readonly policyObject: string;
  /** Declared exemptions, listed in the synth summary. */
  public readonly policyExemptions: readonly DeclaredExemption[];
  // Exemption labels written to the stack file: key → reason.
  private readonly exemptionLabels: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: SwarmServiceProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    this.props = props;
    if (typeof props.name !== 'string' || props.name.length > 63 || !SERVICE_NAME.test(props.name)) {
      throw new ShipshapeError(this, { problem: 'name must be 1-63 lower-case letters, digits, "-" or "_", starting and ending with a letter or digit', value: props.name, fix: 'rename the service, e.g. "web"' });
    }
    this.name = props.name;
    this.hostname = props.name;
    this.policyObject = `SwarmService ${props.name}`;
    this.policyExemptions = this.declareExemptions(props.exemptions ?? []);
    // "latest" makes every node run whatever it pulled last.
    this.image = assertPinnedImage(this, 'image', props.image, 'nginx:1.27.2');

    const mode = props.mode ?? { type: 'replicated' };
    if (mode.type === 'replicated') {
      this.mode = { type: 'replicated', replicas: assertInteger(this, 'mode.replicas', mode.replicas ?? env.replicas, 0, 10_000) };
    } else if (mode.type === 'global') {
      if ('replicas' in mode) throw new ShipshapeError(this, { problem: 'a global service runs one task per node and takes no replicas', value: mode, fix: 'remove replicas, or use { type: "replicated", replicas }' });
      this.mode = { type: 'global' };
    } else {
      throw new ShipshapeError(this, { problem: 'mode.type must be "replicated" or "global"', value: mode, fix: 'pick one' });
    }

    this.ports = (props.ports ?? []).map((p, i) => ({
      target: assertInteger(this, `ports[${i}].target`, p.target, 1, 65535),
      published: assertInteger(this, `ports[${i}].published`, p.published ?? p.target, 1, 65535),
      protocol: p.protocol ?? 'tcp',
      mode: p.mode ?? 'ingress',
    }));
    const published = this.ports.map((p) => `${p.published}/${p.protocol}`);
    const dup = published.find((p, i) => published.indexOf(p) !== i);
    if (dup) throw new ShipshapeError(this, { problem: `port ${dup} is published twice`, value: props.ports, fix: 'publish each port once' });
    const hostPorts = this.ports.some((p) => p.mode === 'host');
    if (props.endpointMode === 'dnsrr' && this.ports.some((p) => p.mode === 'ingress')) {
      throw new ShipshapeError(this, { problem: 'endpointMode dnsrr has no virtual IP, so the routing mesh cannot publish ports in ingress mode', value: props.ports, fix: 'publish in host mode, or use endpointMode vip' });
    }

    this.update = this.resolvePolicy('update', props.update, { failureAction: 'rollback', delay: DEFAULT_UPDATE_DELAY }, hostPorts);
    this.rollback = this.resolvePolicy('rollback', props.rollback, { failureAction: 'pause', delay: '0s', order: this.update.order }, hostPorts);
    if (this.rollback.failureAction === 'rollback') {
      throw new ShipshapeError(this, { problem: 'rollback.failureAction cannot be "rollback"', value: this.rollback.failureAction, fix: 'use "pause" or "continue"' });
    }

    const restart = props.restart ?? {};
    this.restart = {
      condition: restart.condition ?? 'any',
      delay: assertDuration(this, 'restart.delay', restart.delay ?? DEFAULT_RESTART_DELAY),
      ...(restart.maxAttempts !== undefined ? { maxAttempts: assertInteger(this, 'restart.maxAttempts', restart.maxAttempts, 0) } : {}),
      ...(restart.window !== undefined ? { window: assertDuration(this, 'restart.window', restart.window) } : {}),
    };

    this.resources = this.resolveResources(props.resources ?? {});
    this.placement = this.resolvePlacement(props.placement ?? {}, env);
    if (props.healthcheck === false) {
      this.healthcheck = false;
    } else if (props.healthcheck) {
      const h = props.healthcheck;
      if (!Array.isArray(h.test) || h.test.length < 2 || !['CMD', 'CMD-SHELL'].includes(h.test[0])) {
        throw new ShipshapeError(this, { problem: 'healthcheck.test must start with "CMD" or "CMD-SHELL" followed by the command', value: h.test, fix: 'write e.g. ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/"]' });
      }
      this.healthcheck = {
        test: [...h.test],
        interval: assertDuration(this, 'healthcheck.interval', h.interval ?? DEFAULT_HEALTHCHECK.interval, false),
        timeout: assertDuration(this, 'healthcheck.timeout', h.timeout ?? DEFAULT_HEALTHCHECK.timeout, false),
        retries: assertInteger(this, 'healthcheck.retries', h.retries ?? DEFAULT_HEALTHCHECK.retries, 1, 100),
        startPeriod: assertDuration(this, 'healthcheck.startPeriod', h.startPeriod ?? DEFAULT_HEALTHCHECK.startPeriod),
      };
    }
    this.logging = props.logging ?? { driver: 'json-file' };
    validateLogging(this, 'logging', this.logging);
    for (const [key, value] of Object.entries(props.environment ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new ShipshapeError(this, { problem: 'an environment variable name must be a C identifier', value: key, fix: 'rename the variable' });
      // docker stack deploy fills a variable written with an empty value from the deploying machine's environment.
      if (value === '' && !(props.interpolate ?? []).includes(key)) {
        throw new ShipshapeError(this, { problem: `environment variable ${key} is empty, and docker stack deploy would fill it from the deploying machine's environment`, value, fix: 'give it a value or leave the variable out' });
      }
    }
    for (const name of props.interpolate ?? []) {
      if (props.environment?.[name] === undefined) {
        throw new ShipshapeError(this, { problem: `interpolate names ${name}, which is not in environment`, value: name, fix: 'list only environment variable names whose value docker stack deploy should interpolate' });
      }
    }
    this.checkCredentials(props);
    this.checkHostAccess(props);
    for (const n of props.networks ?? []) {
      if (!SERVICE_NAME.test(n)) throw new ShipshapeError(this, { problem: 'a network name must be lower-case letters, digits, "-" or "_"', value: n, fix: 'rename the network, e.g. "backend"' });
    }
    for (const [i, s] of (props.secrets ?? []).entries()) {
      if (!SERVICE_NAME.test(s.name)) throw new ShipshapeError(this, { problem: `secrets[${i}].name is not a valid Swarm secret name`, value: s.name, fix: 'use lower-case letters, digits, "-" or "_"' });
    }
    const configNames = new Set<string>();
    for (const [i, c] of (props.configs ?? []).entries()) {
      if (!SERVICE_NAME.test(c.name) || configNames.has(c.name)) throw new ShipshapeError(this, { problem: `configs[${i}].name must be a unique, valid config name`, value: c.name, fix: 'use distinct lower-case names' });
      configNames.add(c.name);
      if (!c.target?.startsWith('/')) throw new ShipshapeError(this, { problem: `configs[${i}].target must be an absolute path`, value: c.target, fix: 'use e.g. "/etc/app/config.yml"' });
    }
    for (const [i, m] of (props.mounts ?? []).entries()) {
      if (!m.target?.startsWith('/') || (m.type === 'bind' && !m.source?.startsWith('/')) || (m.type === 'volume' && !SERVICE_NAME.test(m.source ?? ''))) {
        throw new ShipshapeError(this, { problem: `mounts[${i}] needs an absolute target and an absolute host path (bind) or a volume name (volume)`, value: m, fix: 'fix source and target' });
      }
    }
    assertDuration(this, 'stopGracePeriod', props.stopGracePeriod ?? '10s');
    this.node.addValidation({
      validate: () => (Stack.of(this).node.findAll().some((c) => (c as { isSwarmStack?: unknown }).isSwarmStack === true)
        ? []
        : [`no SwarmStack in environment "${env.name}" renders this service. Fix: add new SwarmStack(stack, 'swarm') to the environment`]),
    });
    this.configFiles = (props.configs ?? []).map((c) => {
      const key = `${this.name}-${c.name}`.replace(/_/g, '-');
      const source = c.content;
      if (OutputFile.isOutputFile(source)) {
        if (source.shared) throw new ShipshapeError(this, { problem: `configs[${c.name}] points at a shared output file, outside the environment directory the stack is deployed from`, value: source.path, fix: 'use an environment file' });
        return { key, path: source.path, content: () => source.render() };
      }
      const file = new OutputFile(this, `config-${c.name}`, { path: `swarm/configs/${key}`, content: source, allowsCredential: (f) => this.allowsCredential(f.subject) });
      return { key, path: file.path, content: () => source };
    });
  }

  /** Tasks the service runs on `nodes` eligible nodes. */
  public taskCount(nodes: number): number {
    return this.mode.type === 'global' ? nodes : this.mode.replicas;
  }

  /** The compose 3.8 service entry (without the configs' top-level definitions). */
  public toCompose(): Record<string, unknown> {
    const p = this.props;
    const deploy: Record<string, unknown> = { mode: this.mode.type };
    if (this.mode.type === 'replicated') deploy.replicas = this.mode.replicas;
    if (p.endpointMode) deploy.endpoint_mode = p.endpointMode;
    const labels = { ...(p.labels ?? {}), ...this.exemptionLabels };
    if (Object.keys(labels).length > 0) deploy.labels = labels;
    deploy.update_config = composePolicy(this.update);
    deploy.rollback_config = composePolicy(this.rollback);
    deploy.restart_policy = clean({ condition: this.restart.condition, delay: this.restart.delay, max_attempts: this.restart.maxAttempts, window: this.restart.window });
    const placement = clean({
      constraints: this.placement.constraints.length ? this.placement.constraints : undefined,
      preferences: this.placement.spread.length ? this.placement.spread.map((s) => ({ spread: s })) : undefined,
      max_replicas_per_node: this.placement.maxReplicasPerNode,
    });
    if (Object.keys(placement).length > 0) deploy.placement = placement;
    const r = this.resources;
    deploy.resources = clean({
      limits: Object.keys(clean({ cpus: r.cpuLimit, memory: r.memoryLimit })).length ? clean({ cpus: r.cpuLimit === undefined ? undefined : String(r.cpuLimit), memory: r.memoryLimit }) : undefined,
      reservations: clean({ cpus: r.cpuReservation === undefined ? undefined : String(r.cpuReservation), memory: r.memoryReservation }),
    });
    const service: Record<string, unknown> = { image: this.image };
    if (p.entrypoint) service.entrypoint = [...p.entrypoint];
    if (p.command) service.command = [...p.command];
    if (p.user) service.user = p.user;
    if (p.environment && Object.keys(p.environment).length > 0) service.environment = sortKeys(p.environment);
    if (this.ports.length > 0) service.ports = this.ports.map((port) => ({ target: port.target, published: port.published, protocol: port.protocol, mode: port.mode }));
    if (this.healthcheck === false) service.healthcheck = { disable: true };
    else if (this.healthcheck) {
      const h = this.healthcheck;
      service.healthcheck = { test: h.test, interval: h.interval, timeout: h.timeout, retries: h.retries, start_period: h.startPeriod };
    }
    const logging = loggingOptions(this.logging);
    service.logging = { driver: logging.driver, options: logging.options };
    if (p.networks?.length) service.networks = [...p.networks];
    if (p.secrets?.length) service.secrets = p.secrets.map((s) => ({ source: s.name, target: s.target ?? s.name, mode: s.mode ?? 0o400 }));
    if (p.configs?.length) service.configs = p.configs.map((c, i) => ({ source: this.configFiles[i].key, target: c.target, mode: c.mode ?? 0o444 }));
    if (p.mounts?.length) service.volumes = p.mounts.map((m) => clean({ type: m.type, source: m.source, target: m.target, read_only: m.readOnly || undefined }));
    if (p.stopGracePeriod) service.stop_grace_period = p.stopGracePeriod;
    service.deploy = deploy;
    // docker stack deploy replaces $VAR and ${VAR} from the deployer's environment everywhere in the file; `$$` is a literal `$`.
    const escaped = escapeInterpolation(service) as Record<string, unknown>;
    for (const name of p.interpolate ?? []) (escaped.environment as Record<string, string>)[name] = p.environment![name];
    return escaped;
  }

  /** Records the exemptions as labels and summary entries; the reasons are checked like Kubernetes exemptions. */
  private declareExemptions(exemptions: readonly SwarmExemption[]): DeclaredExemption[] {
    const declared: DeclaredExemption[] = [];
    for (const e of exemptions) {
      if (!SWARM_RULES.includes(e.rule)) throw new ShipshapeError(this, { problem: 'exemptions[].rule must name a SwarmService check', value: e.rule, fix: `use one of ${SWARM_RULES.join(', ')}` });
      if (e.variables !== undefined && e.rule !== 'secret-env-plaintext') {
        throw new ShipshapeError(this, { problem: `exemptions of "${e.rule}" apply to the whole service and take no variables`, value: e.variables, fix: 'remove variables' });
      }
      const keys = exemptionKeys(this, e.rule, e.reason, e.variables);
      for (const key of keys) this.exemptionLabels[key] = e.reason;
      if (e.variables === undefined) declared.push({ ruleId: e.rule, reason: e.reason });
      else for (const variable of e.variables) declared.push({ ruleId: e.rule, variable, reason: e.reason });
    }
    return declared;
  }

  /** Whether the service's `secret-env-plaintext` exemption covers a credential found in what it writes. */
  public allowsCredential(subject?: string): boolean {
    return this.exempted('secret-env-plaintext', subject);
  }

  private exempted(rule: SwarmServiceRule, variable?: string): boolean {
    return this.policyExemptions.some((e) => e.ruleId === rule && (e.variable === undefined || e.variable === variable));
  }

  /**
   * Refuses plain-text credentials wherever the stack file hands a value to the container or shows it: the
   * environment (by name and by value), command, entrypoint, healthcheck, labels, image, placement constraints
   * and the content of config files. Same detector as the
   * Kubernetes `secret-env-plaintext` rule.
   */
  private checkCredentials(p: SwarmServiceProps): void {
    const fields: ([string, CredentialFinding[]] | [string, CredentialFinding[], string])[] = [
      ...Object.entries(p.environment ?? {}).map(([k, v]): [string, CredentialFinding[]] => [`environment variable ${k}`, scanVariable(k, String(v)).map((f) => ({ ...f, subject: k }))]),
      ['entrypoint', scanArgs(p.entrypoint ?? [])],
      ['command', scanArgs(p.command ?? [])],
      ['healthcheck.test', p.healthcheck ? scanArgs(p.healthcheck.test ?? []) : []],
      ...Object.entries(p.labels ?? {}).filter(([k]) => !EXEMPTION_KEY.test(k)).map(([k, v]): [string, CredentialFinding[]] => [`label ${k}`, scanVariable(k.slice(k.lastIndexOf('/') + 1), String(v)).map((f) => ({ ...f, subject: k }))]),
      ['image', scanText(this.image)],
      ...this.placement.constraints.map((c, i): [string, CredentialFinding[]] => [`placement constraint ${i}`, scanText(c)]),
      // Config files are written next to the stack file; output files are scanned with every other file at synth.
      ...(p.configs ?? []).filter((c) => typeof c.content === 'string').map((c): [string, CredentialFinding[], string] => [`config ${c.name}`, scanFile(c.target ?? '', c.content as string), `swarm/configs/${`${this.name}-${c.name}`.replace(/_/g, '-')}`]),
    ];
    for (const [where, findings, file] of fields) {
      for (const f of findings) {
        if (this.exempted('secret-env-plaintext', f.subject)) continue;
        throw new ShipshapeError(this, {
          problem: `${where} looks like a credential (${f.kind}${f.subject && !where.endsWith(f.subject) ? ` in ${f.subject}` : ''}) and would be written in plain text to ${file ?? 'docker-stack.yml'}`,
          value: f.excerpt,
          fix: `mount it from a Swarm secret (secrets: [{ name }]) and read /run/secrets/<name>; if it is not a credential, exempt it with the reason: exemptions: [{ rule: 'secret-env-plaintext', reason, variables: ['${f.subject ?? where}'] }]`,
        });
      }
    }
  }

  /** Refuses root and the Docker socket unless exempted: either gives the task the host. */
  private checkHostAccess(p: SwarmServiceProps): void {
    if (p.user !== undefined && ROOT_USER.test(p.user) && !this.exempted('run-as-root')) {
      throw new ShipshapeError(this, {
        problem: 'user runs the task as root: a container escape or a writable host mount is then root on the node',
        value: p.user,
        fix: "run as an unprivileged uid:gid (e.g. \"10001:10001\"), or exempt it with the reason: exemptions: [{ rule: 'run-as-root', reason }]",
      });
    }
    for (const [i, m] of (p.mounts ?? []).entries()) {
      if (m.type !== 'bind' || !exposesDockerSocket(m.source) || this.exempted('docker-socket')) continue;
      throw new ShipshapeError(this, {
        problem: `mounts[${i}] binds ${m.source}, which ${DOCKER_SOCKETS.includes(posix.normalize(m.source)) ? 'is' : 'holds'} the Docker socket: whoever can reach it controls dockerd, which is root on the host (a read-only mount does not change that)`,
        value: m.source,
        fix: "mount only what the service needs (e.g. /var/lib/docker read-only), or exempt it with the reason: exemptions: [{ rule: 'docker-socket', reason }]",
      });
    }
  }

  private resolvePolicy(field: 'update' | 'rollback', policy: UpdatePolicy | undefined, defaults: Partial<ResolvedUpdatePolicy>, hostPorts: boolean): ResolvedUpdatePolicy {
    const p = policy ?? {};
    const ratio = p.maxFailureRatio ?? 0;
    if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) {
      throw new ShipshapeError(this, { problem: `${field}.maxFailureRatio must be between 0 and 1`, value: ratio, fix: 'use e.g. 0 or 0.2' });
    }
    const order = p.order ?? defaults.order ?? (hostPorts ? 'stop-first' : 'start-first');
    const resolved: ResolvedUpdatePolicy = {
      parallelism: assertInteger(this, `${field}.parallelism`, p.parallelism ?? DEFAULT_UPDATE_PARALLELISM, 0, 10_000),
      delay: assertDuration(this, `${field}.delay`, p.delay ?? defaults.delay ?? DEFAULT_UPDATE_DELAY),
      failureAction: p.failureAction ?? defaults.failureAction ?? 'pause',
      monitor: assertDuration(this, `${field}.monitor`, p.monitor ?? DEFAULT_UPDATE_MONITOR),
      maxFailureRatio: ratio,
      order,
    };
    if (!['continue', 'rollback', 'pause'].includes(resolved.failureAction)) {
      throw new ShipshapeError(this, { problem: `${field}.failureAction must be continue, rollback or pause`, value: resolved.failureAction, fix: 'pick one' });
    }
    if (!['start-first', 'stop-first'].includes(order)) {
      throw new ShipshapeError(this, { problem: `${field}.order must be start-first or stop-first`, value: order, fix: 'pick one' });
    }
    if (order === 'start-first' && hostPorts && this.mode.type === 'global') {
      throw new ShipshapeError(this, {
        problem: `${field}.order start-first needs a second task on every node, but this global service publishes a port in host mode that only one task per node can bind, so the ${field} would never start a task`,
        value: { order, ports: this.props.ports },
        fix: `use order: 'stop-first', or publish the port in ingress mode`,
      });
    }
    return resolved;
  }

  private resolveResources(r: SwarmResources): SwarmResources {
    const memoryLimit = assertByteSize(this, 'resources.memoryLimit', r.memoryLimit ?? DEFAULT_SWARM_RESOURCES.memoryLimit);
    const memoryReservation = assertByteSize(this, 'resources.memoryReservation', r.memoryReservation ?? DEFAULT_SWARM_RESOURCES.memoryReservation);
    const cpuReservation = r.cpuReservation ?? DEFAULT_SWARM_RESOURCES.cpuReservation;
    for (const [field, v] of [['resources.cpuLimit', r.cpuLimit], ['resources.cpuReservation', cpuReservation]] as const) {
      if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= 1024)) throw new ShipshapeError(this, { problem: `${field} must be a positive number of CPUs`, value: v, fix: 'use e.g. 0.5' });
    }
    if (byteSize(memoryReservation) > byteSize(memoryLimit)) {
      throw new ShipshapeError(this, { problem: 'resources.memoryReservation is above resources.memoryLimit, so the task could never use what it reserves', value: { memoryReservation, memoryLimit }, fix: 'make the reservation ≤ the limit' });
    }
    if (r.cpuLimit !== undefined && cpuReservation > r.cpuLimit) {
      throw new ShipshapeError(this, { problem: 'resources.cpuReservation is above resources.cpuLimit', value: { cpuReservation, cpuLimit: r.cpuLimit }, fix: 'make the reservation ≤ the limit' });
    }
    return { memoryLimit, memoryReservation, cpuReservation, ...(r.cpuLimit !== undefined ? { cpuLimit: r.cpuLimit } : {}) };
  }

  private resolvePlacement(p: SwarmPlacement, env: Stack['environment']) {
    const constraints = [...(p.constraints ?? [])];
    let nodes: number | undefined = env.nodeGroups.length > 0 ? env.nodeGroups.reduce((sum, g) => sum + g.minSize, 0) : undefined;
    if (p.nodeGroup !== undefined) {
      const group = env.nodeGroup(p.nodeGroup, this.node.path);
      for (const [k, v] of Object.entries(group.labels)) constraints.push(`node.labels.${k} == ${v}`);
      nodes = group.minSize;
    }
    for (const c of constraints) {
      if (!CONSTRAINT.test(c)) throw new ShipshapeError(this, { problem: 'a placement constraint must be "<attribute> == <value>" or "!=" on node.id, node.hostname, node.role, node.platform.*, node.labels.* or engine.labels.*', value: c, fix: 'write e.g. "node.role == worker"' });
    }
    for (const s of p.spread ?? []) {
      if (!/^(node|engine)\.labels\.\S+$/.test(s)) throw new ShipshapeError(this, { problem: 'a spread preference names a node label', value: s, fix: 'write e.g. "node.labels.zone"' });
    }
    const max = p.maxReplicasPerNode;
    if (max !== undefined) {
      assertInteger(this, 'placement.maxReplicasPerNode', max, 1);
      if (this.mode.type === 'global') throw new ShipshapeError(this, { problem: 'maxReplicasPerNode applies to replicated services; a global service already runs one task per node', value: max, fix: 'remove placement.maxReplicasPerNode' });
    }
    this.validateCapacity(max, nodes);
    return { constraints, spread: [...(p.spread ?? [])], ...(max !== undefined ? { maxReplicasPerNode: max } : {}) };
  }

  /**
   * With a per-node cap (maxReplicasPerNode, or 1 for a host-mode port) the service fits on `cap × nodes` tasks.
   * A start-first update needs room for `parallelism` extra tasks next to the running ones; without it the
   * scheduler can never place the new tasks and the update hangs.
   */
  private validateCapacity(maxPerNode: number | undefined, nodes: number | undefined): void {
    if (this.mode.type !== 'replicated') return;
    const hostPorts = this.ports.some((p) => p.mode === 'host');
    const cap = Math.min(maxPerNode ?? Infinity, hostPorts ? 1 : Infinity);
    if (cap === Infinity) return;
    const replicas = this.mode.replicas;
    const why = maxPerNode !== undefined && (!hostPorts || maxPerNode <= 1) ? `maxReplicasPerNode ${maxPerNode}` : 'a host-mode published port (one task per node)';
    if (nodes === undefined) {
      if (this.update.order === 'start-first' && replicas >= 1 && cap === 1) {
        throw new ShipshapeError(this, {
          problem: `update.order start-first with ${why} can deadlock: when every node holds its one task, the new task of the update has nowhere to start, and the environment declares no node groups to prove there is a spare node`,
          value: { replicas, maxReplicasPerNode: maxPerNode, order: this.update.order },
          fix: "use update.order 'stop-first', or declare the environment's node groups so spare capacity can be checked",
        });
      }
      return;
    }
    if (replicas > cap * nodes) {
      throw new ShipshapeError(this, {
        problem: `${replicas} replicas can never fit: ${why} allows ${cap * nodes} tasks on the ${nodes} nodes the environment guarantees`,
        value: { replicas, maxReplicasPerNode: maxPerNode, nodes },
        fix: 'lower the replicas, raise maxReplicasPerNode or add nodes',
      });
    }
    const extra = Math.max(1, this.update.parallelism === 0 ? replicas : this.update.parallelism);
    if (this.update.order === 'start-first' && replicas + extra > cap * nodes) {
      throw new ShipshapeError(this, {
        problem: `update.order start-first needs room for ${replicas + extra} tasks (${replicas} running + ${extra} starting) but ${why} allows only ${cap * nodes} on ${nodes} nodes, so the update would deadlock waiting for a slot`,
        value: { replicas, parallelism: this.update.parallelism, maxReplicasPerNode: maxPerNode, nodes },
        fix: `use update.order 'stop-first', raise maxReplicasPerNode to ${Math.ceil((replicas + extra) / nodes)}, or lower the replicas to ${cap * nodes - extra}`,
      });
    }
  }
}

function composePolicy(p: ResolvedUpdatePolicy): Record<string, unknown> {
  return { parallelism: p.parallelism, delay: p.delay, failure_action: p.failureAction, monitor: p.monitor, max_failure_ratio: p.maxFailureRatio, order: p.order };
}

function clean<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const SWARM_RULES: readonly SwarmServiceRule[] = ['secret-env-plaintext', 'run-as-root', 'docker-socket'];
// `root`, `0`, `0:0`, `root:staff`, `0:1000`: uid 0 whatever the group.
const ROOT_USER = /^\s*(root|0+)\s*(:.*)?$/;
/** Where dockerd listens by default. */
export const DOCKER_SOCKETS: readonly string[] = ['/var/run/docker.sock', '/run/docker.sock'];

/** Whether a bind mount of `source` reaches the Docker socket: the socket itself, or a directory above it. */
export function exposesDockerSocket(source: string): boolean {
  const normal = posix.normalize(source).replace(/(.)\/+$/, '$1');
  return DOCKER_SOCKETS.some((sock) => sock === normal || sock.startsWith(normal === '/' ? '/' : `${normal}/`));
}

/** Doubles every `$` of every string, so `docker stack deploy` writes the string as given instead of interpolating it. */
export function escapeInterpolation(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\$/g, '$$$$');
  if (Array.isArray(value)) return value.map(escapeInterpolation);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeInterpolation(v)]));
  return value;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => byCodePoint(a, b)));
}
