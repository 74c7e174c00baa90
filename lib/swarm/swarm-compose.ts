import { DOCKER_ENDPOINT_MODE, DOCKER_STOP_GRACE_PERIOD, ResolvedUpdatePolicy, SwarmServiceSpec } from './swarm-service-spec';
import type { SwarmProjectSpec } from './swarm-project';

// The compose renderer: docker-stack.yml from the resolved specs only. Values equal to Docker's own defaults
// (endpoint mode vip, stop grace period 10s) stay implicit, as compose writes them.

/** Compose file format version: the last 3.x, understood by every `docker stack deploy`. */
export const COMPOSE_VERSION = '3.8';

/** The compose 3.8 document of a project. */
export function composeProject(project: SwarmProjectSpec): Record<string, unknown> {
  const doc: Record<string, unknown> = { version: COMPOSE_VERSION };
  doc.services = Object.fromEntries(project.services.map((s) => [s.name, composeService(s)]));
  const network = (n: SwarmProjectSpec['networks'][number]) => (n.external ? { external: true, name: n.deployedName } : { driver: n.driver, ...(n.attachable ? { attachable: true } : {}) });
  // The default network of services that name none stays implicit, as compose writes it.
  const networks = project.networks.filter((n) => !n.implicit);
  if (networks.length > 0) doc.networks = Object.fromEntries(networks.map((n) => [n.name, network(n)]));
  if (project.volumes.length > 0) doc.volumes = Object.fromEntries(project.volumes.map((v) => [v.name, {}]));
  // Secrets are created out of band (`docker secret create`); the file only names them.
  if (project.secrets.length > 0) doc.secrets = Object.fromEntries(project.secrets.map((n) => [n, { external: true }]));
  if (project.configs.length > 0) doc.configs = Object.fromEntries(project.configs.map((c) => [c.key, { name: c.name, file: c.file }]));
  return doc;
}

/** The compose 3.8 service entry of a service (its configs' top-level definitions are the project's). */
export function composeService(spec: SwarmServiceSpec): Record<string, unknown> {
  const deploy: Record<string, unknown> = { mode: spec.mode.type };
  if (spec.mode.type === 'replicated') deploy.replicas = spec.mode.replicas;
  if (spec.endpointMode !== DOCKER_ENDPOINT_MODE) deploy.endpoint_mode = spec.endpointMode;
  if (Object.keys(spec.labels).length > 0) deploy.labels = { ...spec.labels };
  deploy.update_config = composePolicy(spec.update);
  deploy.rollback_config = composePolicy(spec.rollback);
  const restart = spec.restart;
  deploy.restart_policy = clean({ condition: restart.condition, delay: restart.delay, max_attempts: restart.maxAttempts, window: restart.window });
  const placement = clean({
    constraints: spec.placement.constraints.length ? [...spec.placement.constraints] : undefined,
    preferences: spec.placement.spread.length ? spec.placement.spread.map((s) => ({ spread: s })) : undefined,
    max_replicas_per_node: spec.placement.maxReplicasPerNode,
  });
  if (Object.keys(placement).length > 0) deploy.placement = placement;
  const r = spec.resources;
  deploy.resources = {
    limits: clean({ cpus: r.cpuLimit === undefined ? undefined : String(r.cpuLimit), memory: r.memoryLimit }),
    reservations: { cpus: String(r.cpuReservation), memory: r.memoryReservation },
  };
  const service: Record<string, unknown> = { image: spec.image };
  if (spec.entrypoint) service.entrypoint = [...spec.entrypoint];
  if (spec.command) service.command = [...spec.command];
  if (spec.user) service.user = spec.user;
  if (Object.keys(spec.environment).length > 0) service.environment = { ...spec.environment };
  if (spec.ports.length > 0) service.ports = spec.ports.map((p) => ({ target: p.target, published: p.published, protocol: p.protocol, mode: p.mode }));
  if (spec.healthcheck === false) service.healthcheck = { disable: true };
  else if (spec.healthcheck) {
    const h = spec.healthcheck;
    service.healthcheck = { test: [...h.test], interval: h.interval, timeout: h.timeout, retries: h.retries, start_period: h.startPeriod };
  }
  service.logging = { driver: spec.logging.driver, options: { ...spec.logging.options } };
  if (!spec.defaultNetwork) service.networks = [...spec.networks];
  if (spec.secrets.length) service.secrets = spec.secrets.map((s) => ({ source: s.name, target: s.target, mode: s.mode }));
  if (spec.configs.length) service.configs = spec.configs.map((c) => ({ source: c.key, target: c.target, mode: c.mode }));
  if (spec.mounts.length) service.volumes = spec.mounts.map((m) => clean({ type: m.type, source: m.source, target: m.target, read_only: m.readOnly || undefined }));
  if (spec.stopGracePeriod !== DOCKER_STOP_GRACE_PERIOD) service.stop_grace_period = spec.stopGracePeriod;
  service.deploy = deploy;
  // docker stack deploy replaces $VAR and ${VAR} from the deployer's environment everywhere in the file; `$$` is a literal `$`.
  const escaped = escapeInterpolation(service) as Record<string, unknown>;
  for (const name of spec.interpolate) (escaped.environment as Record<string, string>)[name] = spec.environment[name];
  return escaped;
}

/** Doubles every `$` of every string, so `docker stack deploy` writes the string as given instead of interpolating it. */
export function escapeInterpolation(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\$/g, '$$$$');
  if (Array.isArray(value)) return value.map(escapeInterpolation);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeInterpolation(v)]));
  return value;
}

function composePolicy(p: ResolvedUpdatePolicy): Record<string, unknown> {
  return { parallelism: p.parallelism, delay: p.delay, failure_action: p.failureAction, monitor: p.monitor, max_failure_ratio: p.maxFailureRatio, order: p.order };
}

function clean<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
