import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { createHash } from 'node:crypto';
import { isDeferred } from '../core/deferred';
import { ShipshapeError } from '../core/errors';
import { Stack } from '../core/stack';
import { imageRegistryHost, normalizeRegistryHost } from '../docker/image-registry';
import { byteSize, durationMs } from '../docker/units';
import { DockerHostRegistryMirror } from '../registry/docker-host-registry-mirror';
import { STACK_NAMESPACE_LABEL, SwarmProject, SwarmProjectSpec } from '../swarm/swarm-project';
import { SwarmService } from '../swarm/swarm-service';
import { ResolvedUpdatePolicy, SwarmServiceSpec } from '../swarm/swarm-service-spec';
import { CONFIG_KEYS, shipshapeConfig, secretConfigKey } from './config';
import { resolveDeferredInputs } from './from-input';

/** A registry login for private images, as `docker login <address>` holds it. */
export interface RegistryLogin {
  /** Registry address, e.g. `ghcr.io`, `registry.example.com:5000` or `docker.io`. */
  readonly address: string;
  readonly username: pulumi.Input<string>;
  /** Password or access token; pass a Pulumi secret. */
  readonly password: pulumi.Input<string>;
}

/** Options of {@link registerDockerResources}. */
export interface DockerResourceOptions {
  /** Component every Docker resource is registered under. */
  readonly parent: pulumi.ComponentResource;
  /**
   * Docker provider (a Swarm manager for services).
   * @default - a provider whose host is the stack config `shipshape:dockerHost` (else DOCKER_HOST)
   */
  readonly provider?: docker.Provider;
  /**
   * Logins for private images. Like `docker stack deploy --with-registry-auth`, each `docker.Service` of a
   * project with `withRegistryAuth` gets the login of its image's registry (as a Pulumi secret), so the workers
   * pull with it; nothing of it is written to any synthesized file.
   * @default - the secret stack config `shipshape:registryAuth`, an object keyed by registry address:
   * `pulumi config set --secret --path 'shipshape:registryAuth["ghcr.io"].password' <token>` (and `.username`)
   */
  readonly registryAuth?: readonly RegistryLogin[];
}

/** The Docker resources of one environment. */
export interface DockerResources {
  /** The provider used, when there was anything to register. */
  readonly provider?: docker.Provider;
  /** `docker.Service` per SwarmService (a Swarm registry mirror's included), keyed by service name. */
  readonly services: Readonly<Record<string, docker.Service>>;
  /** `docker.RemoteImage` + `docker.Container` per standalone (`swarm: false`) Docker-host registry mirror, keyed by mirror name. */
  readonly mirrors: Readonly<Record<string, { readonly image: docker.RemoteImage; readonly container: docker.Container; readonly volume: docker.Volume }>>;
  /** Overlay networks, Swarm secrets and configs, keyed by their project-level names. */
  readonly networks: Readonly<Record<string, docker.Network>>;
  readonly secrets: Readonly<Record<string, docker.Secret>>;
  readonly configs: Readonly<Record<string, docker.ServiceConfig>>;
}

type Shared = { networks: Record<string, docker.Network>; secrets: Record<string, docker.Secret>; configs: Record<string, docker.ServiceConfig> };
type ResourceOpts = (deps?: pulumi.Resource[]) => pulumi.CustomResourceOptions;
type Labels = { label: string; value: string }[];

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

function labelList(labels: Readonly<Record<string, string>>): Labels {
  return Object.entries(labels).map(([label, value]) => ({ label, value }));
}

/**
 * Registers the Docker side of a stack from the resolved specs: for every SwarmProject a `docker.Service` per
 * service (with its overlay networks, Swarm secrets from Pulumi secret config `shipshape:<secret name in camelCase>`, configs, and the
 * registry login of private images when the project deploys with registry auth), and `docker.RemoteImage` +
 * `docker.Container` for every standalone Docker-host registry mirror, its secret files uploaded from the same
 * Pulumi secret config. Names match what `docker stack deploy` would create (`<project>_<service>`).
 */
export function registerDockerResources(stack: Stack, opts: DockerResourceOptions): DockerResources {
  const all = stack.node.findAll();
  const projects = all.filter((c): c is SwarmProject => c instanceof SwarmProject).map((p) => p.spec);
  // A mirror with a Swarm service deploys as that service (global on the host network when host-local).
  const mirrors = all.filter((c): c is DockerHostRegistryMirror => c instanceof DockerHostRegistryMirror && c.service === undefined).map((m) => m.spec);
  const result = {
    services: {} as Record<string, docker.Service>,
    mirrors: {} as Record<string, DockerResources['mirrors'][string]>,
    networks: {} as Record<string, docker.Network>,
    secrets: {} as Record<string, docker.Secret>,
    configs: {} as Record<string, docker.ServiceConfig>,
  };
  if (projects.every((p) => p.services.length === 0) && mirrors.length === 0) return result;

  const env = stack.environment.name;
  const provider = opts.provider ?? new docker.Provider(`${env}-docker`, { host: shipshapeConfig().get(CONFIG_KEYS.dockerHost) }, { parent: opts.parent });
  const resourceOpts: ResourceOpts = (deps = []) => ({ parent: opts.parent, provider, dependsOn: deps });
  assertSecretKeys(stack);
  const config = shipshapeConfig();
  const secretValue = (name: string) => config.requireSecret(secretConfigKey(name));
  const login = registryLogins(opts.registryAuth);

  for (const project of projects) {
    const labels = labelList(project.labels);
    // Docker's host network exists on every node; only overlays are created.
    for (const net of project.networks.filter((n) => !n.external)) {
      result.networks[net.name] = new docker.Network(
        `${env}-network-${net.name}`,
        { name: net.deployedName, driver: net.driver, ...(net.attachable ? { attachable: true } : {}), labels },
        resourceOpts(),
      );
    }
    for (const name of project.secrets) {
      result.secrets[name] = new docker.Secret(`${env}-secret-${name}`, { name, data: base64(secretValue(name)), labels }, resourceOpts());
    }
    for (const c of project.configs) {
      result.configs[c.key] = new docker.ServiceConfig(`${env}-config-${c.key}`, serviceConfigArgs(c, labels, `${stack.node.path}/${project.name}`), resourceOpts());
    }
    for (const s of project.services) {
      const where = serviceScope(stack, s.name);
      // A deploy-time image names its registry only once resolved.
      const auth = !project.withRegistryAuth
        ? undefined
        : isDeferred(s.image)
          ? pulumi.secret(pulumi.output(resolveDeferredInputs(s.image, where, 'service image')).apply((image) => login(imageRegistryHost(image))))
          : login(imageRegistryHost(s.image));
      result.services[s.name] = registerService(s, project, auth, result, resourceOpts, env, where);
    }
  }

  // A standalone mirror carries the environment's project label too, so `docker stack ps` of the project lists it.
  const standaloneLabels = { [STACK_NAMESPACE_LABEL]: projects[0]?.name ?? env };
  for (const m of mirrors) {
    const mirrorScope = `${stack.node.path}/${m.name}`;
    const image = new docker.RemoteImage(`${env}-image-${m.name}`, resolveDeferredInputs({ name: m.image, keepLocally: true }, mirrorScope, 'docker.RemoteImage'), resourceOpts());
    const volume = new docker.Volume(
      `${env}-volume-${m.volume.name}`,
      resolveDeferredInputs({ name: m.volume.name, labels: labelList(standaloneLabels) }, mirrorScope, 'docker.Volume'),
      resourceOpts(),
    );
    const hc = m.healthcheck;
    // Every value a deployed file or setting gets (the uploaded config, labels, command) is resolved, as for services.
    const args = resolveDeferredInputs<docker.ContainerArgs>(
      {
        name: m.name,
        image: image.imageId,
        restart: m.restart,
        // Host-local: the registry binds 127.0.0.1 of the host itself; published: the container port is mapped.
        ...(m.network.type === 'host' ? { networkMode: 'host' } : { ports: [{ internal: m.containerPort, external: m.port }] }),
        ...(m.command ? { entrypoints: [...m.command] } : {}),
        volumes: [{ volumeName: volume.name, containerPath: m.volume.target }],
        // The login and htpasswd go in as files (the same paths as Swarm secrets), never as environment variables.
        uploads: [{ file: m.config.target, content: m.config.content() }, ...m.secrets.map((s) => ({ file: s.path, content: secretValue(s.name) }))],
        healthcheck: { tests: [...hc.test], interval: hc.interval, timeout: hc.timeout, retries: hc.retries, startPeriod: hc.startPeriod },
        logDriver: m.logging.driver,
        logOpts: { ...m.logging.options },
        // The provider takes the limit in MiB.
        memory: Math.round(byteSize(m.resources.memoryLimit) / 1024 / 1024),
        labels: labelList({ ...standaloneLabels, ...m.labels }),
      },
      mirrorScope,
      'docker.Container',
    );
    const container = new docker.Container(`${env}-container-${m.name}`, args, resourceOpts([image, volume]));
    result.mirrors[m.name] = { image, container, volume };
  }
  return { provider, ...result };
}

/**
 * The login for a registry host, as a secret `docker.Service` auth, or undefined when there is none (a public
 * image: `docker stack deploy --with-registry-auth` then sends nothing either).
 */
function registryLogins(explicit: readonly RegistryLogin[] | undefined): (host: string) => pulumi.Output<docker.types.input.ServiceAuth | undefined> | undefined {
  if (explicit) {
    const byHost = new Map(explicit.map((l) => [normalizeRegistryHost(l.address), l]));
    return (host) => {
      const l = byHost.get(host);
      return l ? pulumi.secret({ serverAddress: l.address, username: l.username, password: l.password }) : undefined;
    };
  }
  const configured = shipshapeConfig().getSecretObject<Record<string, { username?: string; password?: string }>>(CONFIG_KEYS.registryAuth);
  if (!configured) return () => undefined;
  return (host) =>
    pulumi.secret(
      configured.apply((logins) => {
        const entry = Object.entries(logins ?? {}).find(([address]) => normalizeRegistryHost(address) === host);
        return entry ? { serverAddress: entry[0], username: entry[1].username, password: entry[1].password } : undefined;
      }),
    );
}

function registerService(
  s: SwarmServiceSpec,
  project: SwarmProjectSpec,
  auth: pulumi.Input<docker.types.input.ServiceAuth | undefined> | undefined,
  shared: Shared,
  resourceOpts: ResourceOpts,
  env: string,
  where: string,
): docker.Service {
  const policy = (x: ResolvedUpdatePolicy) => ({
    parallelism: x.parallelism,
    delay: goDuration(x.delay),
    failureAction: x.failureAction,
    monitor: goDuration(x.monitor),
    maxFailureRatio: String(x.maxFailureRatio),
    order: x.order,
  });
  const hc = s.healthcheck;
  const r = s.resources;
  const networks = new Map(project.networks.map((n) => [n.name, n]));
  const volumes = new Map(project.volumes.map((v) => [v.name, v.deployedName]));
  const overlays = s.networks.filter((n) => !networks.get(n)!.external);
  // Values passed through fromInput (image, environment) become Outputs, so the service waits for their resources.
  const args = resolveDeferredInputs<docker.ServiceArgs>(
    {
      name: project.deployedServiceNames[s.name],
      labels: labelList({ ...project.labels, ...s.labels }),
      mode: s.mode.type === 'global' ? { global: true } : { replicated: { replicas: s.mode.replicas } },
      endpointSpec: {
        mode: s.endpointMode,
        ports: s.ports.map((port) => ({ targetPort: port.target, publishedPort: port.published, protocol: port.protocol, publishMode: port.mode })),
      },
      updateConfig: policy(s.update),
      rollbackConfig: policy(s.rollback),
      ...(auth !== undefined ? { auth } : {}),
      taskSpec: {
        containerSpec: {
          image: s.image,
          commands: s.entrypoint && [...s.entrypoint],
          args: s.command && [...s.command],
          env: Object.keys(s.environment).length > 0 ? { ...s.environment } : undefined,
          user: s.user,
          stopGracePeriod: goDuration(s.stopGracePeriod),
          healthcheck:
            hc === false
              ? { tests: ['NONE'] }
              : hc
                ? { tests: [...hc.test], interval: goDuration(hc.interval), timeout: goDuration(hc.timeout), retries: hc.retries, startPeriod: goDuration(hc.startPeriod) }
                : undefined,
          secrets: s.secrets.map((x) => ({ secretId: shared.secrets[x.name].id, secretName: x.name, fileName: x.path, fileMode: x.mode })),
          configs: s.configs.map((c) => ({ configId: shared.configs[c.key].id, configName: shared.configs[c.key].name, fileName: c.target, fileMode: c.mode })),
          mounts: s.mounts.map((m) => ({ type: m.type, source: m.type === 'volume' ? volumes.get(m.source)! : m.source, target: m.target, readOnly: m.readOnly })),
        },
        logDriver: { name: s.logging.driver, options: { ...s.logging.options } },
        placement: {
          constraints: [...s.placement.constraints],
          prefs: s.placement.spread.map((label) => `spread=${label}`),
          maxReplicas: s.placement.maxReplicasPerNode,
        },
        resources: {
          limits: { memoryBytes: byteSize(r.memoryLimit), nanoCpus: nanoCpus(r.cpuLimit) },
          reservation: { memoryBytes: byteSize(r.memoryReservation), nanoCpus: nanoCpus(r.cpuReservation) },
        },
        restartPolicy: { condition: s.restart.condition, delay: goDuration(s.restart.delay), maxAttempts: s.restart.maxAttempts, window: goDuration(s.restart.window) },
        networksAdvanceds: s.networks.map((n) => ({ name: networks.get(n)!.external ? networks.get(n)!.deployedName : shared.networks[n].id })),
      },
    },
    where,
    `service ${s.name}`,
  );
  return new docker.Service(
    `${env}-service-${s.name}`,
    args,
    resourceOpts([...overlays.map((n) => shared.networks[n]), ...s.secrets.map((x) => shared.secrets[x.name]), ...s.configs.map((c) => shared.configs[c.key])]),
  );
}

/** Construct path of the SwarmService called `name` in the stack, for messages about its values. */
function serviceScope(stack: Stack, name: string): string {
  const service = stack.node.findAll().find((c) => c instanceof SwarmService && c.spec.name === name);
  return service?.node.path ?? `${stack.node.path}/${name}`;
}

/**
 * Arguments of a project config's `docker.ServiceConfig`. Docker configs are immutable and named by content hash;
 * a content holding deploy-time values is hashed once resolved, so a new value gets a new config and rolls the
 * services, as a changed literal does.
 */
function serviceConfigArgs(c: SwarmProjectSpec['configs'][number], labels: Labels, where: string): docker.ServiceConfigArgs {
  if (!isDeferred(c.content)) return { name: c.name, data: base64(c.content), labels };
  const content = pulumi.output(resolveDeferredInputs(c.content, where, `config ${c.key}`));
  const hashLength = c.name.length - c.name.lastIndexOf('-') - 1;
  const prefix = c.name.slice(0, c.name.length - hashLength);
  const name = content.apply((text) => `${prefix}${createHash('sha256').update(text).digest('hex').slice(0, hashLength)}`);
  return { name, data: base64(content), labels };
}

/** Names of the Swarm secrets whose values the stack reads from the stack config: its projects' and its standalone mirrors'. */
export function swarmSecretNames(stack: Stack): string[] {
  const all = stack.node.findAll();
  return [
    ...all.filter((c): c is SwarmProject => c instanceof SwarmProject).flatMap((p) => p.spec.secrets),
    ...all.filter((c): c is DockerHostRegistryMirror => c instanceof DockerHostRegistryMirror && c.service === undefined).flatMap((m) => m.spec.secrets.map((x) => x.name)),
  ];
}

/**
 * Throws unless every Swarm secret of the stack has a config key of its own: each value is read from the secret
 * stack config `shipshape:<secret name in camelCase>`, so two secret names with one key, or a secret whose key is
 * one of shipshape's own settings, would read another's value.
 */
export function assertSecretKeys(stack: Stack): void {
  const names = swarmSecretNames(stack);
  const owners = new Map<string, string>();
  const reserved = new Set<string>(Object.values(CONFIG_KEYS));
  for (const name of new Set(names)) {
    const key = secretConfigKey(name);
    const other = owners.get(key);
    if (reserved.has(key) || (other !== undefined && other !== name)) {
      throw new ShipshapeError(stack, {
        problem: `the Swarm secret "${name}" would read its value from the stack config shipshape:${key}, which ${reserved.has(key) ? 'is a shipshape setting' : `the secret "${other}" reads too`}`,
        value: name,
        fix: 'rename the secret',
      });
    }
    owners.set(key, name);
  }
}
