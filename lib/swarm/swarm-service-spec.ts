import { Construct } from 'constructs';
import { Environment } from '../core/environment';
import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { byCodePoint } from '../core/ordering';
import { DaemonLogging, loggingOptions, validateLogging } from '../docker/docker-logging';
import { DockerByteSize, DockerCpus, DockerDuration, assertByteSize, assertDuration, byteSize } from '../docker/units';
import { guaranteedNodes, validateCapacity } from './swarm-capacity';
import {
  DEFAULT_HEALTHCHECK,
  DEFAULT_RESTART_DELAY,
  DEFAULT_SWARM_RESOURCES,
  DEFAULT_UPDATE_DELAY,
  DEFAULT_UPDATE_MONITOR,
  DEFAULT_UPDATE_PARALLELISM,
  ServiceMode,
  SwarmConfigFile,
  SwarmHealthcheck,
  SwarmPlacement,
  SwarmResources,
  SwarmServiceProps,
  UpdatePolicy,
} from './swarm-service-props';

/** A published port with every default applied. */
export interface ResolvedSwarmPort {
  readonly target: number;
  readonly published: number;
  readonly protocol: 'tcp' | 'udp';
  readonly mode: 'ingress' | 'host';
}

/** The resolved update or rollback policy. */
export interface ResolvedUpdatePolicy {
  readonly parallelism: number;
  readonly delay: DockerDuration;
  readonly failureAction: 'continue' | 'rollback' | 'pause';
  readonly monitor: DockerDuration;
  readonly maxFailureRatio: number;
  readonly order: 'start-first' | 'stop-first';
}

/** The resolved restart policy. */
export interface ResolvedRestartPolicy {
  readonly condition: 'none' | 'on-failure' | 'any';
  readonly delay: DockerDuration;
  /** Unset: unlimited. */
  readonly maxAttempts?: number;
  /** Unset: unbounded. */
  readonly window?: DockerDuration;
}

/** The resolved CPU and memory of each task. */
export interface ResolvedSwarmResources {
  /** Unset: no CPU limit. */
  readonly cpuLimit?: DockerCpus;
  readonly cpuReservation: DockerCpus;
  readonly memoryLimit: DockerByteSize;
  readonly memoryReservation: DockerByteSize;
}

/** The resolved placement: the constraints include the ones derived from the node group. */
export interface ResolvedSwarmPlacement {
  readonly constraints: readonly string[];
  readonly spread: readonly string[];
  /** Unset: unlimited. */
  readonly maxReplicasPerNode?: number;
  /** The node group the constraints were derived from, if any. */
  readonly nodeGroup?: string;
}

/** The resolved healthcheck. */
export interface ResolvedSwarmHealthcheck {
  readonly test: readonly string[];
  readonly interval: DockerDuration;
  readonly timeout: DockerDuration;
  readonly retries: number;
  readonly startPeriod: DockerDuration;
}

/** A log driver and its options, as `docker service create --log-driver/--log-opt` take them. */
export interface ResolvedLogging {
  readonly driver: string;
  readonly options: Readonly<Record<string, string>>;
}

/** A Swarm secret mounted into the tasks. */
export interface ResolvedSwarmSecret {
  /** Name of the Swarm secret. */
  readonly name: string;
  /** File name under {@link SWARM_SECRETS_DIR}. */
  readonly target: string;
  /** Absolute path of the file in the container. */
  readonly path: string;
  readonly mode: number;
}

/** A config file mounted into the tasks. */
export interface ResolvedSwarmConfig {
  /** Name given in the props. */
  readonly name: string;
  /** Project-level key (`<service>-<name>`), also the file name under `swarm/configs/`. */
  readonly key: string;
  /** Output path of the content under `dist/<env>/`. */
  readonly file: string;
  /** Content of the file. */
  readonly content: () => string;
  /** Absolute path in the container. */
  readonly target: string;
  readonly mode: number;
}

/** A resolved volume or bind mount. */
export interface ResolvedSwarmMount {
  readonly type: 'volume' | 'bind';
  /** Volume name (unprefixed: the project prefixes it) or absolute host path. */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/**
 * Everything a {@link SwarmService} deploys, validated and with every default applied. Frozen. The compose
 * renderer and the Pulumi back end read only this, so both deploy the same service.
 */
export interface SwarmServiceSpec {
  /** Service name in the project (the deployed service is `<project>_<name>`). */
  readonly name: string;
  readonly image: string;
  readonly mode: { readonly type: 'replicated'; readonly replicas: number } | { readonly type: 'global' };
  /** Unset: the image's entrypoint. */
  readonly entrypoint?: readonly string[];
  /** Unset: the image's command. */
  readonly command?: readonly string[];
  /** Unset: the image's user. */
  readonly user?: string;
  /** Plain environment variables, sorted by name. */
  readonly environment: Readonly<Record<string, string>>;
  /** Environment variables whose value `docker stack deploy` interpolates. */
  readonly interpolate: readonly string[];
  readonly ports: readonly ResolvedSwarmPort[];
  readonly endpointMode: 'vip' | 'dnsrr';
  readonly update: ResolvedUpdatePolicy;
  readonly rollback: ResolvedUpdatePolicy;
  readonly restart: ResolvedRestartPolicy;
  readonly placement: ResolvedSwarmPlacement;
  readonly resources: ResolvedSwarmResources;
  /** `false`: the image's healthcheck is disabled; unset: the image's own applies. */
  readonly healthcheck?: ResolvedSwarmHealthcheck | false;
  readonly logging: ResolvedLogging;
  /**
   * Networks the service joins (project-level names; `host` is Docker's host network). When the props name none,
   * the project's `default` network, which `docker stack deploy` creates and compose leaves implicit.
   */
  readonly networks: readonly string[];
  /** Whether `networks` is the implicit default network (the props named none). */
  readonly defaultNetwork: boolean;
  readonly secrets: readonly ResolvedSwarmSecret[];
  readonly configs: readonly ResolvedSwarmConfig[];
  readonly mounts: readonly ResolvedSwarmMount[];
  readonly stopGracePeriod: DockerDuration;
  /** Service labels: the props' labels and the declared exemptions (`exemptions.shipshape.io/...`). */
  readonly labels: Readonly<Record<string, string>>;
}

/** The network `docker stack deploy` puts services on when they name none. */
export const SWARM_DEFAULT_NETWORK = 'default';
/** Where Docker mounts Swarm secrets. */
export const SWARM_SECRETS_DIR = '/run/secrets';
/** Docker's own stop grace period; compose leaves it implicit. */
export const DOCKER_STOP_GRACE_PERIOD: DockerDuration = '10s';
/** Docker's own endpoint mode; compose leaves it implicit. */
export const DOCKER_ENDPOINT_MODE = 'vip';

/** Freezes a spec and everything in it (functions excepted), so no renderer can change what another reads. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** What the spec resolution needs besides the props. */
export interface SwarmServiceSpecContext {
  readonly environment: Environment;
  /** Exemption labels (`exemptions.shipshape.io/...` → reason), written after the props' labels. */
  readonly exemptionLabels: Readonly<Record<string, string>>;
  /** Checks that need the resolved image, placement and healthcheck; run before networks, secrets, configs and mounts are checked. */
  readonly check: (resolved: { readonly image: string; readonly placement: ResolvedSwarmPlacement }) => void;
  /** Where each config's content is written (or already is): output path and content. */
  readonly configFile: (config: SwarmConfigFile, key: string) => { readonly file: string; readonly content: () => string };
}

/** Network, secret, config, volume and service names: what Docker accepts and compose keys can hold. */
export const SWARM_NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/;
const CONSTRAINT = /^(node\.(id|hostname|role|platform\.os|platform\.arch|labels\.[^\s=!]+)|engine\.labels\.[^\s=!]+)\s*(==|!=)\s*\S+$/;

/**
 * Validates the props of a Swarm service and applies every default, giving the frozen spec both renderers read.
 * `image` must already be checked (pinned); every error names `scope`.
 */
export function resolveSwarmServiceSpec(scope: Construct, props: SwarmServiceProps, image: string, ctx: SwarmServiceSpecContext): SwarmServiceSpec {
  const env = ctx.environment;
  const mode = resolveMode(scope, props.mode, env.replicas);
  const ports = (props.ports ?? []).map((p, i): ResolvedSwarmPort => ({
    target: assertInteger(scope, `ports[${i}].target`, p.target, 1, 65535),
    published: assertInteger(scope, `ports[${i}].published`, p.published ?? p.target, 1, 65535),
    protocol: p.protocol ?? 'tcp',
    mode: p.mode ?? 'ingress',
  }));
  const published = ports.map((p) => `${p.published}/${p.protocol}`);
  const dup = published.find((p, i) => published.indexOf(p) !== i);
  if (dup) throw new ShipshapeError(scope, { problem: `port ${dup} is published twice`, value: props.ports, fix: 'publish each port once' });
  const hostPorts = ports.some((p) => p.mode === 'host');
  if (props.endpointMode === 'dnsrr' && ports.some((p) => p.mode === 'ingress')) {
    throw new ShipshapeError(scope, {
      problem: 'endpointMode dnsrr has no virtual IP, so the routing mesh cannot publish ports in ingress mode',
      value: props.ports,
      fix: 'publish in host mode, or use endpointMode vip',
    });
  }

  const policy = (field: 'update' | 'rollback', p: UpdatePolicy | undefined, defaults: Partial<ResolvedUpdatePolicy>) =>
    resolveUpdatePolicy(scope, field, p, defaults, { hostPorts, global: mode.type === 'global', ports: props.ports });
  const update = policy('update', props.update, { failureAction: 'rollback', delay: DEFAULT_UPDATE_DELAY });
  const rollback = policy('rollback', props.rollback, { failureAction: 'pause', delay: '0s', order: update.order });
  if (rollback.failureAction === 'rollback') {
    throw new ShipshapeError(scope, { problem: 'rollback.failureAction cannot be "rollback"', value: rollback.failureAction, fix: 'use "pause" or "continue"' });
  }

  const r = props.restart ?? {};
  const restart: ResolvedRestartPolicy = {
    condition: r.condition ?? 'any',
    delay: assertDuration(scope, 'restart.delay', r.delay ?? DEFAULT_RESTART_DELAY),
    ...(r.maxAttempts !== undefined ? { maxAttempts: assertInteger(scope, 'restart.maxAttempts', r.maxAttempts, 0) } : {}),
    ...(r.window !== undefined ? { window: assertDuration(scope, 'restart.window', r.window) } : {}),
  };

  const resources = resolveSwarmResources(scope, props.resources ?? {});
  if (props.nodeGroup !== undefined && props.placement?.nodeGroup !== undefined) {
    throw new ShipshapeError(scope, {
      problem: 'nodeGroup is given twice, as nodeGroup and as the deprecated placement.nodeGroup',
      value: [props.nodeGroup, props.placement.nodeGroup],
      fix: 'keep only nodeGroup',
    });
  }
  const placement = resolvePlacement(scope, { ...props.placement, nodeGroup: props.nodeGroup ?? props.placement?.nodeGroup }, env, mode);
  validateCapacity(scope, { mode, ports, update }, placement.maxReplicasPerNode, guaranteedNodes(env, placement.nodeGroup, scope.node.path));
  const healthcheck = props.healthcheck === undefined ? undefined : resolveSwarmHealthcheck(scope, props.healthcheck);
  const logging = resolveLogging(scope, props.logging);

  for (const [key, value] of Object.entries(props.environment ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new ShipshapeError(scope, { problem: 'an environment variable name must be a C identifier', value: key, fix: 'rename the variable' });
    // docker stack deploy fills a variable written with an empty value from the deploying machine's environment.
    if (value === '' && !(props.interpolate ?? []).includes(key)) {
      throw new ShipshapeError(scope, {
        problem: `environment variable ${key} is empty, and docker stack deploy would fill it from the deploying machine's environment`,
        value,
        fix: 'give it a value or leave the variable out',
      });
    }
  }
  for (const name of props.interpolate ?? []) {
    if (props.environment?.[name] === undefined) {
      throw new ShipshapeError(scope, {
        problem: `interpolate names ${name}, which is not in environment`,
        value: name,
        fix: 'list only environment variable names whose value docker stack deploy should interpolate',
      });
    }
  }
  ctx.check({ image, placement });

  for (const n of props.networks ?? []) {
    if (!SWARM_NAME.test(n)) throw new ShipshapeError(scope, { problem: 'a network name must be lower-case letters, digits, "-" or "_"', value: n, fix: 'rename the network, e.g. "backend"' });
  }
  for (const [i, s] of (props.secrets ?? []).entries()) {
    if (!SWARM_NAME.test(s.name)) throw new ShipshapeError(scope, { problem: `secrets[${i}].name is not a valid Swarm secret name`, value: s.name, fix: 'use lower-case letters, digits, "-" or "_"' });
  }
  const configNames = new Set<string>();
  for (const [i, c] of (props.configs ?? []).entries()) {
    if (!SWARM_NAME.test(c.name) || configNames.has(c.name))
      throw new ShipshapeError(scope, { problem: `configs[${i}].name must be a unique, valid config name`, value: c.name, fix: 'use distinct lower-case names' });
    configNames.add(c.name);
    if (!c.target?.startsWith('/')) throw new ShipshapeError(scope, { problem: `configs[${i}].target must be an absolute path`, value: c.target, fix: 'use e.g. "/etc/app/config.yml"' });
  }
  for (const [i, m] of (props.mounts ?? []).entries()) {
    if (!m.target?.startsWith('/') || (m.type === 'bind' && !m.source?.startsWith('/')) || (m.type === 'volume' && !SWARM_NAME.test(m.source ?? ''))) {
      throw new ShipshapeError(scope, { problem: `mounts[${i}] needs an absolute target and an absolute host path (bind) or a volume name (volume)`, value: m, fix: 'fix source and target' });
    }
  }
  const stopGracePeriod = assertDuration(scope, 'stopGracePeriod', props.stopGracePeriod ?? DOCKER_STOP_GRACE_PERIOD);
  const configs = (props.configs ?? []).map((c): ResolvedSwarmConfig => {
    const key = `${props.name}-${c.name}`.replace(/_/g, '-');
    const { file, content } = ctx.configFile(c, key);
    return { name: c.name, key, file, content, target: c.target, mode: c.mode ?? 0o444 };
  });

  return deepFreeze<SwarmServiceSpec>({
    name: props.name,
    image,
    mode,
    ...(props.entrypoint ? { entrypoint: [...props.entrypoint] } : {}),
    ...(props.command ? { command: [...props.command] } : {}),
    ...(props.user !== undefined ? { user: props.user } : {}),
    environment: Object.fromEntries(Object.entries(props.environment ?? {}).sort(([a], [b]) => byCodePoint(a, b))),
    interpolate: [...(props.interpolate ?? [])],
    ports,
    endpointMode: props.endpointMode ?? DOCKER_ENDPOINT_MODE,
    update,
    rollback,
    restart,
    placement,
    resources,
    ...(healthcheck !== undefined ? { healthcheck } : {}),
    logging,
    networks: props.networks?.length ? [...props.networks] : [SWARM_DEFAULT_NETWORK],
    defaultNetwork: !props.networks?.length,
    secrets: (props.secrets ?? []).map((x) => ({ name: x.name, target: x.target ?? x.name, path: `${SWARM_SECRETS_DIR}/${x.target ?? x.name}`, mode: x.mode ?? 0o400 })),
    configs,
    mounts: (props.mounts ?? []).map((m) => ({ type: m.type, source: m.source, target: m.target, readOnly: m.readOnly ?? false })),
    stopGracePeriod,
    labels: { ...(props.labels ?? {}), ...ctx.exemptionLabels },
  });
}

function resolveMode(scope: Construct, mode: ServiceMode | undefined, replicas: number): SwarmServiceSpec['mode'] {
  const m = mode ?? { type: 'replicated' };
  if (m.type === 'replicated') return { type: 'replicated', replicas: assertInteger(scope, 'mode.replicas', m.replicas ?? replicas, 0, 10_000) };
  if (m.type === 'global') {
    if ('replicas' in m)
      throw new ShipshapeError(scope, { problem: 'a global service runs one task per node and takes no replicas', value: m, fix: 'remove replicas, or use { type: "replicated", replicas }' });
    return { type: 'global' };
  }
  throw new ShipshapeError(scope, { problem: 'mode.type must be "replicated" or "global"', value: m, fix: 'pick one' });
}

function resolveUpdatePolicy(
  scope: Construct,
  field: 'update' | 'rollback',
  policy: UpdatePolicy | undefined,
  defaults: Partial<ResolvedUpdatePolicy>,
  service: { hostPorts: boolean; global: boolean; ports: unknown },
): ResolvedUpdatePolicy {
  const p = policy ?? {};
  const ratio = p.maxFailureRatio ?? 0;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) {
    throw new ShipshapeError(scope, { problem: `${field}.maxFailureRatio must be between 0 and 1`, value: ratio, fix: 'use e.g. 0 or 0.2' });
  }
  const order = p.order ?? defaults.order ?? (service.hostPorts ? 'stop-first' : 'start-first');
  const resolved: ResolvedUpdatePolicy = {
    parallelism: assertInteger(scope, `${field}.parallelism`, p.parallelism ?? DEFAULT_UPDATE_PARALLELISM, 0, 10_000),
    delay: assertDuration(scope, `${field}.delay`, p.delay ?? defaults.delay ?? DEFAULT_UPDATE_DELAY),
    failureAction: p.failureAction ?? defaults.failureAction ?? 'pause',
    monitor: assertDuration(scope, `${field}.monitor`, p.monitor ?? DEFAULT_UPDATE_MONITOR),
    maxFailureRatio: ratio,
    order,
  };
  if (!['continue', 'rollback', 'pause'].includes(resolved.failureAction)) {
    throw new ShipshapeError(scope, { problem: `${field}.failureAction must be continue, rollback or pause`, value: resolved.failureAction, fix: 'pick one' });
  }
  if (!['start-first', 'stop-first'].includes(order)) {
    throw new ShipshapeError(scope, { problem: `${field}.order must be start-first or stop-first`, value: order, fix: 'pick one' });
  }
  if (order === 'start-first' && service.hostPorts && service.global) {
    throw new ShipshapeError(scope, {
      problem: `${field}.order start-first needs a second task on every node, but this global service publishes a port in host mode that only one task per node can bind, so the ${field} would never start a task`,
      value: { order, ports: service.ports },
      fix: `use order: 'stop-first', or publish the port in ingress mode`,
    });
  }
  return resolved;
}

/** Validates task resources and fills the defaults of {@link DEFAULT_SWARM_RESOURCES}. */
export function resolveSwarmResources(scope: ErrorScope, r: SwarmResources): ResolvedSwarmResources {
  const memoryLimit = assertByteSize(scope, 'resources.memoryLimit', r.memoryLimit ?? DEFAULT_SWARM_RESOURCES.memoryLimit);
  const memoryReservation = assertByteSize(scope, 'resources.memoryReservation', r.memoryReservation ?? DEFAULT_SWARM_RESOURCES.memoryReservation);
  const cpuReservation = r.cpuReservation ?? DEFAULT_SWARM_RESOURCES.cpuReservation;
  for (const [field, v] of [
    ['resources.cpuLimit', r.cpuLimit],
    ['resources.cpuReservation', cpuReservation],
  ] as const) {
    if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= 1024)) throw new ShipshapeError(scope, { problem: `${field} must be a positive number of CPUs`, value: v, fix: 'use e.g. 0.5' });
  }
  if (byteSize(memoryReservation) > byteSize(memoryLimit)) {
    throw new ShipshapeError(scope, {
      problem: 'resources.memoryReservation is above resources.memoryLimit, so the task could never use what it reserves',
      value: { memoryReservation, memoryLimit },
      fix: 'make the reservation ≤ the limit',
    });
  }
  if (r.cpuLimit !== undefined && cpuReservation > r.cpuLimit) {
    throw new ShipshapeError(scope, { problem: 'resources.cpuReservation is above resources.cpuLimit', value: { cpuReservation, cpuLimit: r.cpuLimit }, fix: 'make the reservation ≤ the limit' });
  }
  return { memoryLimit, memoryReservation, cpuReservation, ...(r.cpuLimit !== undefined ? { cpuLimit: r.cpuLimit } : {}) };
}

/** Validates a healthcheck and fills the timings of {@link DEFAULT_HEALTHCHECK}; `false` disables the image's. */
export function resolveSwarmHealthcheck(scope: ErrorScope, h: SwarmHealthcheck | false): ResolvedSwarmHealthcheck | false {
  if (h === false) return false;
  if (!Array.isArray(h.test) || h.test.length < 2 || !['CMD', 'CMD-SHELL'].includes(h.test[0])) {
    throw new ShipshapeError(scope, {
      problem: 'healthcheck.test must start with "CMD" or "CMD-SHELL" followed by the command',
      value: h.test,
      fix: 'write e.g. ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/"]',
    });
  }
  return {
    test: [...h.test],
    interval: assertDuration(scope, 'healthcheck.interval', h.interval ?? DEFAULT_HEALTHCHECK.interval, false),
    timeout: assertDuration(scope, 'healthcheck.timeout', h.timeout ?? DEFAULT_HEALTHCHECK.timeout, false),
    retries: assertInteger(scope, 'healthcheck.retries', h.retries ?? DEFAULT_HEALTHCHECK.retries, 1, 100),
    startPeriod: assertDuration(scope, 'healthcheck.startPeriod', h.startPeriod ?? DEFAULT_HEALTHCHECK.startPeriod),
  };
}

/** Validates a logging choice and resolves its driver options (json-file with rotation when none is given). */
export function resolveLogging(scope: ErrorScope, logging: DaemonLogging | undefined): ResolvedLogging {
  const l = logging ?? { driver: 'json-file' };
  validateLogging(scope, 'logging', l);
  return loggingOptions(l);
}

function resolvePlacement(scope: Construct, p: SwarmPlacement, env: Environment, mode: SwarmServiceSpec['mode']): ResolvedSwarmPlacement {
  const constraints = [...(p.constraints ?? [])];
  if (p.nodeGroup !== undefined) {
    const group = env.nodeGroup(p.nodeGroup, scope.node.path);
    for (const [k, v] of Object.entries(group.labels)) constraints.push(`node.labels.${k} == ${v}`);
  }
  for (const c of constraints) {
    if (!CONSTRAINT.test(c))
      throw new ShipshapeError(scope, {
        problem: 'a placement constraint must be "<attribute> == <value>" or "!=" on node.id, node.hostname, node.role, node.platform.*, node.labels.* or engine.labels.*',
        value: c,
        fix: 'write e.g. "node.role == worker"',
      });
  }
  for (const s of p.spread ?? []) {
    if (!/^(node|engine)\.labels\.\S+$/.test(s)) throw new ShipshapeError(scope, { problem: 'a spread preference names a node label', value: s, fix: 'write e.g. "node.labels.zone"' });
  }
  const max = p.maxReplicasPerNode;
  if (max !== undefined) {
    assertInteger(scope, 'placement.maxReplicasPerNode', max, 1);
    if (mode.type === 'global')
      throw new ShipshapeError(scope, {
        problem: 'maxReplicasPerNode applies to replicated services; a global service already runs one task per node',
        value: max,
        fix: 'remove placement.maxReplicasPerNode',
      });
  }
  return {
    constraints,
    spread: [...(p.spread ?? [])],
    ...(max !== undefined ? { maxReplicasPerNode: max } : {}),
    ...(p.nodeGroup !== undefined ? { nodeGroup: p.nodeGroup } : {}),
  };
}
