import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { toYaml } from '../core/yaml';
import { SWARM_HOST_NETWORK, SwarmService } from './swarm-service';
import { byCodePoint } from '../core/ordering';

/** Properties of a {@link SwarmStack}. */
export interface SwarmStackProps {
  /**
   * Stack name given to `docker stack deploy` (services become `<name>_<service>`).
   * @default - the environment name
   */
  readonly name?: string;
  /**
   * Output path under `dist/<env>/`.
   * @default 'swarm/docker-stack.yml'
   */
  readonly path?: string;
  /**
   * Deploy with `--with-registry-auth`, so workers pull private images with the manager's login (docs/practice.md#private-images).
   * @default true
   */
  readonly withRegistryAuth?: boolean;
  /**
   * Overlay networks that other stacks or standalone containers may attach to.
   * @default []
   */
  readonly attachableNetworks?: string[];
}

/** Compose file format version: the last 3.x, understood by every `docker stack deploy`. */
export const COMPOSE_VERSION = '3.8';
const CONFIG_HASH_LENGTH = 10;

/**
 * Renders every {@link SwarmService} of an environment into one compose 3.8
 * file, `dist/<env>/swarm/docker-stack.yml`, with the overlay networks,
 * named volumes, external secrets and configs they use. Config contents are
 * written next to it under `configs/`, named by content hash so that a change
 * creates a new config and rolls the services that use it.
 */
export class SwarmStack extends Construct {
  /** Marker that lets services find the stack without importing it. */
  public readonly isSwarmStack = true;
  public readonly name: string;
  public readonly path: string;
  /** Command that deploys the file. */
  public readonly deployCommand: string;
  private readonly props: SwarmStackProps;

  constructor(scope: Construct, id: string, props: SwarmStackProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    this.props = props;
    this.name = assertDnsLabel(this, 'name', props.name ?? stack.environment.name);
    this.path = props.path ?? 'swarm/docker-stack.yml';
    if (!/^swarm\/[A-Za-z0-9._-]+\.ya?ml$/.test(this.path)) {
      throw new ShipshapeError(this, { problem: 'path must name a .yml file directly under swarm/, where the services\' config files are written', value: this.path, fix: 'use e.g. "swarm/docker-stack.yml"' });
    }
    this.deployCommand = `docker stack deploy ${props.withRegistryAuth ?? true ? '--with-registry-auth ' : ''}--prune -c ${this.path.split('/').pop()} ${this.name}`;
    new OutputFile(this, 'file', {
      path: this.path,
      content: () => this.render(),
      // A service's own exemption (`secret-env-plaintext`) covers what it writes under services.<name>.
      allowsCredential: (f) => {
        const service = /^document \d+: services\.([^.]+)\./.exec(f.path)?.[1];
        return this.services.some((s) => s.name === service && s.allowsCredential(f.subject));
      },
    });
    this.node.addValidation({ validate: () => this.check() });
  }

  /** The SwarmServices this stack renders: every one in the environment, by name. */
  public get services(): SwarmService[] {
    return Stack.of(this).node.findAll().filter(SwarmService.isSwarmService).sort((a, b) => byCodePoint(a.name, b.name));
  }

  /** The compose document. */
  public toJson(): Record<string, unknown> {
    const services = this.services;
    const doc: Record<string, unknown> = { version: COMPOSE_VERSION };
    doc.services = Object.fromEntries(services.map((s) => [s.name, s.toCompose()]));
    const networks = [...new Set(services.flatMap((s) => s.props.networks ?? []))].sort();
    const attachable = new Set(this.props.attachableNetworks ?? []);
    const network = (n: string) => (n === SWARM_HOST_NETWORK ? { external: true, name: 'host' } : { driver: 'overlay', ...(attachable.has(n) ? { attachable: true } : {}) });
    if (networks.length > 0) doc.networks = Object.fromEntries(networks.map((n) => [n, network(n)]));
    const volumes = [...new Set(services.flatMap((s) => (s.props.mounts ?? []).filter((m) => m.type === 'volume').map((m) => m.source)))].sort();
    if (volumes.length > 0) doc.volumes = Object.fromEntries(volumes.map((v) => [v, {}]));
    const secrets = [...new Set(services.flatMap((s) => (s.props.secrets ?? []).map((x) => x.name)))].sort();
    // Secrets are created out of band (`docker secret create`); the file only names them.
    if (secrets.length > 0) doc.secrets = Object.fromEntries(secrets.map((n) => [n, { external: true }]));
    const configs = [...this.collectConfigs().entries()].sort(([a], [b]) => byCodePoint(a, b));
    if (configs.length > 0) doc.configs = Object.fromEntries(configs.map(([key, c]) => [key, { name: c.name, file: c.file }]));
    return doc;
  }

  /** Renders docker-stack.yml. */
  public render(): string {
    const header = [
      `# Swarm stack "${this.name}" (compose ${COMPOSE_VERSION}), synthesized by shipshape.`,
      `# Deploy from this directory: ${this.deployCommand}`,
    ].join('\n');
    return `${header}\n${toYaml(this.toJson())}`;
  }

  private collectConfigs(): Map<string, { file: string; name: string }> {
    const dir = path.posix.dirname(this.path);
    const configs = new Map<string, { file: string; name: string }>();
    for (const s of this.services) {
      for (const c of s.configFiles) {
        const hash = createHash('sha256').update(c.content()).digest('hex').slice(0, CONFIG_HASH_LENGTH);
        configs.set(c.key, { file: relativeFile(dir, c.path), name: `${this.name}-${c.key}-${hash}` });
      }
    }
    return configs;
  }

  private check(): string[] {
    const problems: string[] = [];
    const stacks = Stack.of(this).node.findAll().filter((c): c is SwarmStack => c instanceof SwarmStack);
    if (stacks.length > 1 && stacks[0] !== this) return problems;
    if (stacks.length > 1) problems.push(`the environment has ${stacks.length} SwarmStacks, but each renders every SwarmService. Fix: keep one SwarmStack per environment`);
    const services = this.services;
    const names = services.map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) problems.push(`two SwarmServices are named "${dup}". Fix: give each service its own name`);
    const published = new Map<string, string>();
    for (const s of services) {
      for (const p of s.ports) {
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
