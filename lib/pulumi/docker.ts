import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { Stack } from '../core/stack';
import { byteSize, durationMs } from '../docker/units';
import { DockerHostRegistryMirror, SECRETS_DIR } from '../registry/docker-host-registry-mirror';
import { MOUNTED_REGISTRY_CONFIG } from '../registry/proxy-login';
import { SWARM_HOST_NETWORK, SwarmService } from '../swarm/swarm-service';
import { SwarmStack } from '../swarm/swarm-stack';
import { loggingOptions } from '../docker/docker-daemon-config';
import { byCodePoint } from '../core/ordering';

/** Options of {@link registerDockerResources}. */
export interface DockerResourceOptions {
  /** Component every Docker resource is registered under. */
  readonly parent: pulumi.ComponentResource;
  /**
   * Docker provider (a Swarm manager for services).
   * @default - a provider whose host is the stack config `shipshape:dockerHost` (else DOCKER_HOST)
   */
  readonly provider?: docker.Provider;
}

/** The Docker resources of one environment. */
export interface DockerResources {
  /** The provider used, when there was anything to register. */
  readonly provider?: docker.Provider;
  /** `docker.Service` per SwarmService (a Swarm registry mirror's included), keyed by service name. */
  readonly services: Readonly<Record<string, docker.Service>>;
  /** `docker.RemoteImage` + `docker.Container` per standalone (`swarm: false`) Docker-host registry mirror, keyed by mirror name. */
  readonly mirrors: Readonly<Record<string, { readonly image: docker.RemoteImage; readonly container: docker.Container; readonly volume: docker.Volume }>>;
  /** Overlay networks, Swarm secrets and configs, keyed by their stack-level names. */
  readonly networks: Readonly<Record<string, docker.Network>>;
  readonly secrets: Readonly<Record<string, docker.Secret>>;
  readonly configs: Readonly<Record<string, docker.ServiceConfig>>;
}

// Pulumi config namespaces: `shipshape:dockerHost` for the engine, `swarm:<secret>` for Swarm secret values.
const CONFIG_NAMESPACE = 'shipshape';
const SECRET_NAMESPACE = 'swarm';
// Label docker stack deploy puts on everything it creates; keeping it makes `docker stack ps <name>` list these too.
const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';
// Same limit as the mirror's Swarm service.
const DEFAULT_MIRROR_MEMORY = '512M';

function base64(value: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.output(value).apply((v) => Buffer.from(v, 'utf8').toString('base64'));
}

function nanoCpus(cpus: number | undefined): number | undefined {
  return cpus === undefined ? undefined : Math.round(cpus * 1e9);
}

function goDuration(value: string | undefined): string | undefined {
  // The provider parses Go durations itself; normalise to milliseconds so "1m" and "60s" do not show as a diff.
  return value === undefined ? undefined : `${durationMs(value)}ms`;
}

/**
 * Registers the Docker side of a stack: a `docker.Service` for every SwarmService
 * (with its overlay networks, Swarm secrets from Pulumi secret config
 * `swarm:<name>`, and configs; a Swarm registry mirror is one of them), and
 * `docker.RemoteImage` + `docker.Container` for every standalone Docker-host
 * registry mirror, its secret files uploaded from the same Pulumi secret config.
 * Names match what `docker stack deploy` would create (`<stack>_<service>`).
 */
export function registerDockerResources(stack: Stack, opts: DockerResourceOptions): DockerResources {
  const all = stack.node.findAll();
  // A mirror with a Swarm service deploys as that service (global on the host network when host-local).
  const mirrors = all.filter((c): c is DockerHostRegistryMirror => c instanceof DockerHostRegistryMirror && c.service === undefined);
  const services = all.filter(SwarmService.isSwarmService).sort((a, b) => byCodePoint(a.name, b.name));
  const result = { services: {} as Record<string, docker.Service>, mirrors: {} as Record<string, DockerResources['mirrors'][string]>, networks: {} as Record<string, docker.Network>, secrets: {} as Record<string, docker.Secret>, configs: {} as Record<string, docker.ServiceConfig> };
  if (services.length === 0 && mirrors.length === 0) return result;

  const env = stack.environment.name;
  const provider = opts.provider ?? new docker.Provider(`${env}-docker`, { host: new pulumi.Config(CONFIG_NAMESPACE).get('dockerHost') }, { parent: opts.parent });
  const resourceOpts = (deps: pulumi.Resource[] = []): pulumi.CustomResourceOptions => ({ parent: opts.parent, provider, dependsOn: deps });
  const swarmStack = all.find((c): c is SwarmStack => c instanceof SwarmStack);
  const stackName = swarmStack?.name ?? env;
  const namespaceLabel = { label: STACK_NAMESPACE_LABEL, value: stackName };
  const secretConfig = new pulumi.Config(SECRET_NAMESPACE);

  // Docker's host network exists on every node; only overlays are created.
  for (const net of [...new Set(services.flatMap((s) => s.props.networks ?? []))].filter((n) => n !== SWARM_HOST_NETWORK).sort()) {
    result.networks[net] = new docker.Network(`${env}-network-${net}`, { name: `${stackName}_${net}`, driver: 'overlay', labels: [namespaceLabel] }, resourceOpts());
  }
  for (const name of [...new Set(services.flatMap((s) => (s.props.secrets ?? []).map((x) => x.name)))].sort()) {
    result.secrets[name] = new docker.Secret(`${env}-secret-${name}`, { name, data: base64(secretConfig.requireSecret(name)), labels: [namespaceLabel] }, resourceOpts());
  }
  const stackConfigs = new Map<string, string>();
  if (swarmStack) {
    const doc = swarmStack.toJson() as { configs?: Record<string, { name: string }> };
    for (const [key, c] of Object.entries(doc.configs ?? {})) stackConfigs.set(key, c.name);
  }
  for (const s of services) {
    for (const c of s.configFiles) {
      result.configs[c.key] = new docker.ServiceConfig(`${env}-config-${c.key}`, { name: stackConfigs.get(c.key) ?? c.key, data: base64(c.content()), labels: [namespaceLabel] }, resourceOpts());
    }
  }

  for (const s of services) result.services[s.name] = registerService(s, stackName, namespaceLabel, result, resourceOpts, env);

  for (const m of mirrors) {
    const image = new docker.RemoteImage(`${env}-image-${m.name}`, { name: m.image, keepLocally: true }, resourceOpts());
    const volume = new docker.Volume(`${env}-volume-${m.volume}`, { name: m.volume, labels: [namespaceLabel] }, resourceOpts());
    // The login and htpasswd go in as files (the same paths as Swarm secrets), never as environment variables.
    const secretFiles = m.secrets.map((name) => ({ file: `${SECRETS_DIR}/${name}`, content: secretConfig.requireSecret(name) }));
    const hostLocal = m.access === 'host-local';
    const logging = loggingOptions(m.service?.logging ?? { driver: 'json-file' });
    const container = new docker.Container(
      `${env}-container-${m.name}`,
      {
        name: m.name,
        image: image.imageId,
        restart: 'unless-stopped',
        // Host-local: the registry binds 127.0.0.1 of the host itself; published: the container port is mapped.
        ...(hostLocal ? { networkMode: 'host' } : { ports: [{ internal: m.config.port, external: m.port }] }),
        ...(m.command ? { entrypoints: m.command } : {}),
        volumes: [{ volumeName: volume.name, containerPath: m.config.rootDirectory }],
        uploads: [{ file: MOUNTED_REGISTRY_CONFIG, content: m.config.render() }, ...secretFiles],
        healthcheck: { tests: ['CMD', 'wget', '-q', '--spider', `http://127.0.0.1:${m.config.port}/`], interval: '10s', timeout: '5s', retries: 3, startPeriod: '10s' },
        logDriver: logging.driver,
        logOpts: logging.options,
        // The provider takes the limit in MiB.
        memory: Math.round(byteSize(m.service?.resources.memoryLimit ?? DEFAULT_MIRROR_MEMORY) / 1024 / 1024),
        labels: [namespaceLabel, { label: 'io.shipshape.role', value: 'registry-mirror' }],
      },
      resourceOpts([image, volume]),
    );
    result.mirrors[m.name] = { image, container, volume };
  }
  return { provider, ...result };
}

function registerService(
  s: SwarmService,
  stackName: string,
  namespaceLabel: { label: string; value: string },
  shared: { networks: Record<string, docker.Network>; secrets: Record<string, docker.Secret>; configs: Record<string, docker.ServiceConfig> },
  resourceOpts: (deps?: pulumi.Resource[]) => pulumi.CustomResourceOptions,
  env: string,
): docker.Service {
  const p = s.props;
  const logging = loggingOptions(s.logging);
  const policy = (x: SwarmService['update']) => ({
    parallelism: x.parallelism,
    delay: goDuration(x.delay),
    failureAction: x.failureAction,
    monitor: goDuration(x.monitor),
    maxFailureRatio: String(x.maxFailureRatio),
    order: x.order,
  });
  const hc = s.healthcheck;
  const r = s.resources;
  return new docker.Service(
    `${env}-service-${s.name}`,
    {
      name: `${stackName}_${s.name}`,
      labels: [namespaceLabel, ...Object.entries(p.labels ?? {}).map(([label, value]) => ({ label, value }))],
      mode: s.mode.type === 'global' ? { global: true } : { replicated: { replicas: s.mode.replicas } },
      endpointSpec: {
        mode: p.endpointMode ?? 'vip',
        ports: s.ports.map((port) => ({ targetPort: port.target, publishedPort: port.published, protocol: port.protocol, publishMode: port.mode })),
      },
      updateConfig: policy(s.update),
      rollbackConfig: policy(s.rollback),
      taskSpec: {
        containerSpec: {
          image: s.image,
          commands: p.entrypoint,
          args: p.command,
          env: p.environment,
          user: p.user,
          stopGracePeriod: goDuration(p.stopGracePeriod ?? '10s'),
          healthcheck: hc === false ? { tests: ['NONE'] } : hc ? { tests: hc.test, interval: goDuration(hc.interval), timeout: goDuration(hc.timeout), retries: hc.retries, startPeriod: goDuration(hc.startPeriod) } : undefined,
          secrets: (p.secrets ?? []).map((x) => ({ secretId: shared.secrets[x.name].id, secretName: x.name, fileName: `/run/secrets/${x.target ?? x.name}`, fileMode: x.mode ?? 0o400 })),
          configs: (p.configs ?? []).map((c, i) => ({ configId: shared.configs[s.configFiles[i].key].id, configName: shared.configs[s.configFiles[i].key].name, fileName: c.target, fileMode: c.mode ?? 0o444 })),
          mounts: (p.mounts ?? []).map((m) => ({ type: m.type, source: m.type === 'volume' ? `${stackName}_${m.source}` : m.source, target: m.target, readOnly: m.readOnly ?? false })),
        },
        logDriver: { name: logging.driver, options: logging.options },
        placement: {
          constraints: s.placement.constraints,
          prefs: s.placement.spread.map((label) => `spread=${label}`),
          maxReplicas: s.placement.maxReplicasPerNode,
        },
        resources: {
          limits: { memoryBytes: r.memoryLimit ? byteSize(r.memoryLimit) : undefined, nanoCpus: nanoCpus(r.cpuLimit) },
          reservation: { memoryBytes: r.memoryReservation ? byteSize(r.memoryReservation) : undefined, nanoCpus: nanoCpus(r.cpuReservation) },
        },
        restartPolicy: { condition: s.restart.condition, delay: goDuration(s.restart.delay), maxAttempts: s.restart.maxAttempts, window: goDuration(s.restart.window) },
        networksAdvanceds: (p.networks ?? []).map((n) => ({ name: n === SWARM_HOST_NETWORK ? n : shared.networks[n].id })),
      },
    },
    resourceOpts([...(p.networks ?? []).filter((n) => n !== SWARM_HOST_NETWORK).map((n) => shared.networks[n]), ...(p.secrets ?? []).map((x) => shared.secrets[x.name]), ...s.configFiles.map((c) => shared.configs[c.key])]),
  );
}
