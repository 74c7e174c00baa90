import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Construct, IConstruct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel } from '../core/names';
import { byCodePoint } from '../core/ordering';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { toYaml } from '../core/yaml';
import { COMPOSE_VERSION, composeProject } from './swarm-compose';
import { SWARM_HOST_NETWORK } from './swarm-service-props';
import { SwarmServiceSpec, deepFreeze } from './swarm-service-spec';
import type { SwarmService } from './swarm-service';

export { COMPOSE_VERSION } from './swarm-compose';

/** Properties of a {@link SwarmProject}. */
export interface SwarmProjectProps {
  /**
   * Project name given to `docker stack deploy` (services become `<name>_<service>`).
   * @default - the environment name
   */
  readonly name?: string;
  /**
   * Output path under `dist/<env>/`.
   * @default 'swarm/docker-stack.yml'
   */
  readonly path?: string;
  /**
   * Deploy with `--with-registry-auth`, so workers pull private images with the manager's login
   * (docs/practice.md#private-images). The Pulumi back end then passes the registry login of each private image
   * to its `docker.Service` the same way.
   * @default true
   */
  readonly withRegistryAuth?: boolean;
  /**
   * Overlay networks that other projects or standalone containers may attach to.
   * @default []
   */
  readonly attachableNetworks?: string[];
}

/** A network of a project. */
export interface SwarmNetworkSpec {
  /** Name in the compose file and in the services' `networks`. */
  readonly name: string;
  /** Name Docker gives it: `<project>_<name>`, or the name itself for Docker's external host network. */
  readonly deployedName: string;
  /** Docker's own host network: declared, never created. */
  readonly external: boolean;
  /** Driver of a created network: overlay, the multi-host network of Swarm services. */
  readonly driver: 'overlay';
  readonly attachable: boolean;
  /** The default network that only services naming no network join: compose leaves it out. */
  readonly implicit: boolean;
}

/** A config file of a project, named by content hash. */
export interface SwarmProjectConfig {
  /** Key in the compose file (`<service>-<config>`). */
  readonly key: string;
  /** Deployed config name, `<project>-<key>-<content hash>`: a change creates a new config and rolls the services. */
  readonly name: string;
  /** File relative to the stack file (`./configs/…` or `../hosts/…`). */
  readonly file: string;
  readonly content: string;
}

/** Everything a {@link SwarmProject} deploys, resolved; what the compose and Pulumi renderers read. */
export interface SwarmProjectSpec {
  readonly name: string;
  /** Output path of the stack file under `dist/<env>/`. */
  readonly path: string;
  readonly withRegistryAuth: boolean;
  readonly deployCommand: string;
  /** The services, by name. */
  readonly services: readonly SwarmServiceSpec[];
  /** Service name → the name Docker gives it (`<project>_<service>`). */
  readonly deployedServiceNames: Readonly<Record<string, string>>;
  readonly networks: readonly SwarmNetworkSpec[];
  /** Named volumes: compose name and the name Docker gives it (`<project>_<volume>`). */
  readonly volumes: readonly { readonly name: string; readonly deployedName: string }[];
  /** External Swarm secrets the services mount, by name. */
  readonly secrets: readonly string[];
  readonly configs: readonly SwarmProjectConfig[];
  /** Labels `docker stack deploy` puts on everything it creates (so `docker stack ps <name>` lists it). */
  readonly labels: Readonly<Record<string, string>>;
}

/** Label docker stack deploy puts on every service, network, secret and config of a project. */
export const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';
const CONFIG_HASH_LENGTH = 10;

/**
 * The set of Swarm services deployed together (the compose specification's "project", what
 * `docker stack deploy` takes). Services join it by being created in it:
 * `new SwarmService(project, 'web', {...})`. It renders them into one compose 3.8
 * file, `dist/<env>/swarm/docker-stack.yml`, with the overlay networks, named
 * volumes, external secrets and configs they use. Config contents are written
 * next to it under `configs/`, named by content hash so that a change creates a
 * new config and rolls the services that use it.
 */
export class SwarmProject extends Construct {
  /** The project `construct` belongs to (itself or its nearest enclosing SwarmProject), if any. */
  public static of(construct: IConstruct): SwarmProject | undefined {
    return [...construct.node.scopes].reverse().find((c): c is SwarmProject => c instanceof SwarmProject);
  }

  public readonly name: string;
  public readonly path: string;
  /** Command that deploys the file. */
  public readonly deployCommand: string;
  public readonly withRegistryAuth: boolean;
  private readonly attachable: ReadonlySet<string>;
  private readonly members: SwarmService[] = [];

  constructor(scope: Construct, id: string, props: SwarmProjectProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    this.name = assertDnsLabel(this, 'name', props.name ?? stack.environment.name);
    this.path = props.path ?? 'swarm/docker-stack.yml';
    if (!/^swarm\/[A-Za-z0-9._-]+\.ya?ml$/.test(this.path)) {
      throw new ShipshapeError(this, {
        problem: "path must name a .yml file directly under swarm/, where the services' config files are written",
        value: this.path,
        fix: 'use e.g. "swarm/docker-stack.yml"',
      });
    }
    this.withRegistryAuth = props.withRegistryAuth ?? true;
    this.attachable = new Set(props.attachableNetworks ?? []);
    this.deployCommand = `docker stack deploy ${this.withRegistryAuth ? '--with-registry-auth ' : ''}--prune -c ${this.path.split('/').pop()} ${this.name}`;
    new OutputFile(this, 'file', {
      path: this.path,
      content: () => this.renderDocuments(),
      // A service's own exemption (`secret-env-plaintext`) covers what it writes under services.<name>.
      allowsCredential: (f) => {
        const service = /^document \d+: services\.([^.]+)\./.exec(f.path)?.[1];
        return this.members.some((s) => s.name === service && s.allowsCredential(f.subject));
      },
    });
    this.node.addValidation({ validate: () => this.check() });
  }

  /**
   * Adds a service created in this project. SwarmService calls it from its constructor; a service belongs to
   * exactly one project.
   */
  public add(service: SwarmService): void {
    if (this.members.includes(service)) return;
    if (SwarmProject.of(service) !== this) {
      throw new ShipshapeError(service, {
        problem: `a SwarmService joins the project it is created in, not ${this.node.path}`,
        value: service.node.path,
        fix: `create it with the project as scope: new SwarmService(project, '${service.node.id}', {...})`,
      });
    }
    this.members.push(service);
  }

  /** The services of this project, by name. */
  public get services(): SwarmService[] {
    return [...this.members].sort((a, b) => byCodePoint(a.name, b.name));
  }

  /** The resolved project: services, networks, volumes, secrets and configs with their deployed names. */
  public get spec(): SwarmProjectSpec {
    const services = this.services.map((s) => s.spec);
    const networks = [...new Set(services.flatMap((s) => s.networks))].sort();
    const volumes = [...new Set(services.flatMap((s) => s.mounts.filter((m) => m.type === 'volume').map((m) => m.source)))].sort();
    const dir = path.posix.dirname(this.path);
    const configs = new Map<string, SwarmProjectConfig>();
    for (const s of services) {
      for (const c of s.configs) {
        const content = c.content();
        const hash = createHash('sha256').update(content).digest('hex').slice(0, CONFIG_HASH_LENGTH);
        configs.set(c.key, { key: c.key, name: `${this.name}-${c.key}-${hash}`, file: relativeFile(dir, c.file), content });
      }
    }
    return deepFreeze<SwarmProjectSpec>({
      name: this.name,
      path: this.path,
      withRegistryAuth: this.withRegistryAuth,
      deployCommand: this.deployCommand,
      services,
      deployedServiceNames: Object.fromEntries(services.map((s) => [s.name, this.deployedName(s.name)])),
      networks: networks.map((n) => {
        const implicit = services.every((s) => s.defaultNetwork || !s.networks.includes(n));
        return n === SWARM_HOST_NETWORK
          ? { name: n, deployedName: 'host', external: true, driver: 'overlay', attachable: false, implicit: false }
          : { name: n, deployedName: this.deployedName(n), external: false, driver: 'overlay', attachable: this.attachable.has(n), implicit };
      }),
      volumes: volumes.map((v) => ({ name: v, deployedName: this.deployedName(v) })),
      secrets: [...new Set(services.flatMap((s) => s.secrets.map((x) => x.name)))].sort(),
      configs: [...configs.values()].sort((a, b) => byCodePoint(a.key, b.key)),
      labels: { [STACK_NAMESPACE_LABEL]: this.name },
    });
  }

  /** The compose document. */
  public toJson(): Record<string, unknown> {
    return composeProject(this.spec);
  }

  /** Renders docker-stack.yml. */
  public render(): string {
    const { header, documents } = this.renderDocuments();
    return `${header}\n${toYaml(documents[0])}`;
  }

  private renderDocuments(): { header: string; documents: [Record<string, unknown>] } {
    const header = [`# Swarm stack "${this.name}" (compose ${COMPOSE_VERSION}), synthesized by shipshape.`, `# Deploy from this directory: ${this.deployCommand}`].join('\n');
    return { header, documents: [this.toJson()] };
  }

  // docker stack deploy names what it creates `<project>_<name>`.
  private deployedName(name: string): string {
    return `${this.name}_${name}`;
  }

  private check(): string[] {
    const problems: string[] = [];
    const projects = Stack.of(this)
      .node.findAll()
      .filter((c): c is SwarmProject => c instanceof SwarmProject);
    if (projects.length > 1 && projects[0] !== this) return problems;
    // Ingress ports, secrets and the Pulumi resource names are per swarm: one project per environment keeps them unique.
    if (projects.length > 1) problems.push(`the environment has ${projects.length} SwarmProjects. Fix: keep one SwarmProject per environment and create every SwarmService in it`);
    const services = this.services;
    const names = services.map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) problems.push(`two SwarmServices are named "${dup}". Fix: give each service its own name`);
    const published = new Map<string, string>();
    for (const s of services) {
      for (const p of s.spec.ports) {
        const key = `${p.published}/${p.protocol}`;
        const other = published.get(key);
        if (other) problems.push(`port ${key} of service ${s.node.path} is also published by service "${other}". Fix: publish each port from one service`);
        published.set(key, s.name);
      }
    }
    return problems;
  }
}

/** `./configs/x` or `../hosts/x`: compose resolves config files relative to the stack file. */
function relativeFile(fromDir: string, to: string): string {
  const rel = path.posix.relative(fromDir, to);
  return rel.startsWith('../') ? rel : `./${rel}`;
}
