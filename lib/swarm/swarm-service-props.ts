import { OutputFile } from '../core/output-file';
import { DaemonLogging } from '../docker/docker-logging';
import { DockerByteSize, DockerCpus, DockerDuration } from '../docker/units';

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
  readonly delay?: DockerDuration;
  /**
   * What to do when a task of the batch fails.
   * @default 'rollback' for updates (back to the last good version without waking anyone), 'pause' for rollbacks
   */
  readonly failureAction?: 'continue' | 'rollback' | 'pause';
  /**
   * How long a new task is watched for failure after it starts.
   * @default '30s' (long enough for a healthcheck to fail a few times)
   */
  readonly monitor?: DockerDuration;
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
  readonly delay?: DockerDuration;
  /**
   * Restarts tried within `window` before giving up.
   * @default - unlimited
   */
  readonly maxAttempts?: number;
  /**
   * Window for counting attempts.
   * @default - unbounded
   */
  readonly window?: DockerDuration;
}

/** CPU and memory of each task. */
export interface SwarmResources {
  /**
   * Most CPUs (`0.5` = half a core).
   * @default - no CPU limit (CPU limits throttle latency-sensitive services)
   */
  readonly cpuLimit?: DockerCpus;
  /**
   * Memory limit (`256M`).
   * @default '256M'
   */
  readonly memoryLimit?: DockerByteSize;
  /**
   * CPUs reserved on the node for scheduling.
   * @default 0.1
   */
  readonly cpuReservation?: DockerCpus;
  /**
   * Memory reserved for scheduling.
   * @default '128M'
   */
  readonly memoryReservation?: DockerByteSize;
}

/** Container healthcheck; a task is healthy (and gets traffic, and counts as updated) only when it passes. */
export interface SwarmHealthcheck {
  /** Command, as `["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/"]` or `["CMD-SHELL", "..."]`. */
  readonly test: string[];
  /**
   * Time between checks.
   * @default '10s'
   */
  readonly interval?: DockerDuration;
  /**
   * Time a check may take.
   * @default '5s'
   */
  readonly timeout?: DockerDuration;
  /**
   * Consecutive failures before unhealthy.
   * @default 3
   */
  readonly retries?: number;
  /**
   * Grace period after start during which failures do not count.
   * @default '10s'
   */
  readonly startPeriod?: DockerDuration;
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

/** A Swarm config whose content shipshape writes next to the project's stack file. */
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
   * @deprecated since 0.2: use {@link SwarmServiceProps.nodeGroup}, as every workload construct names it.
   * @default - any node
   */
  readonly nodeGroup?: string;
}

/** Properties of a {@link SwarmService}. */
export interface SwarmServiceProps {
  /** Service name in the project (the deployed service is `<project>_<name>`). */
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
   * Node group (of the environment) the tasks run on: adds a constraint on each of the group's labels and uses the
   * group's size in capacity checks.
   * @default - any node
   */
  readonly nodeGroup?: string;
  /**
   * Placement constraints and preferences.
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
   * Overlay networks of the project the service joins; {@link SWARM_HOST_NETWORK} joins the nodes' host network.
   * @default - the project's default network
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
  readonly stopGracePeriod?: DockerDuration;
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
export const DEFAULT_UPDATE_DELAY: DockerDuration = '10s';
// Long enough for a healthcheck with the default interval to fail three times.
export const DEFAULT_UPDATE_MONITOR: DockerDuration = '30s';
// Docker's default restart delay.
export const DEFAULT_RESTART_DELAY: DockerDuration = '5s';
// Docker's default healthcheck timings, except a shorter interval so bad releases are caught inside the monitor window.
export const DEFAULT_HEALTHCHECK = { interval: '10s', timeout: '5s', retries: 3, startPeriod: '10s' } as const;
/** Network name that puts a service on each node's host network (the project declares Docker's external `host`). */
export const SWARM_HOST_NETWORK = 'host';
