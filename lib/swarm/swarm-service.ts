import { posix } from 'node:path';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { ImageExecutable, ImageUse } from '../core/image-tests';
import { assertPinnedImage } from '../core/images';
import { OutputFile } from '../core/output-file';
import { CredentialFinding, EXEMPTION_KEY, scanArgs, scanFile, scanText, scanVariable } from '../core/policy/credentials';
import { DeclaredExemption, exemptionKeys } from '../core/policy/exemptions';
import { Stack } from '../core/stack';
import { declareSwarmHost } from '../docker/swarm-mode';
import { taskCount } from './swarm-capacity';
import { composeService } from './swarm-compose';
import { SwarmProject } from './swarm-project';
import { SwarmExemption, SwarmServiceProps, SwarmServiceRule } from './swarm-service-props';
import { SWARM_NAME, SwarmServiceSpec, resolveSwarmServiceSpec } from './swarm-service-spec';

export * from './swarm-service-props';
export { escapeInterpolation } from './swarm-compose';

/**
 * A Docker Swarm service: replicated or global tasks of a pinned image with
 * published ports, rolling update and rollback, restart policy, placement,
 * resources, healthcheck, log rotation or Fluentd, overlay networks, secrets
 * and configs. Create it in the {@link SwarmProject} that deploys it
 * (`new SwarmService(project, 'web', {...})`); its fully defaulted
 * {@link SwarmServiceSpec} is what `docker-stack.yml` and the Pulumi back end
 * are rendered from.
 */
export class SwarmService extends Construct {
  /** Service name in the project. */
  public readonly name: string;
  /** Everything the service deploys, validated and fully defaulted; what the compose and Pulumi renderers read. */
  public readonly spec: SwarmServiceSpec;
  /** The project that deploys the service (undefined only when it was created outside one, which synth refuses). */
  public readonly project?: SwarmProject;
  /** Name other services on the same network reach it by. */
  public readonly hostname: string;
  /** How the synth summary names the service. */
  public readonly policyObject: string;
  /** Declared exemptions, listed in the synth summary. */
  public readonly policyExemptions: readonly DeclaredExemption[];
  // Exemption labels written to the stack file: key → reason.
  private readonly exemptionLabels: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: SwarmServiceProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (typeof props.name !== 'string' || props.name.length > 63 || !SWARM_NAME.test(props.name)) {
      throw new ShipshapeError(this, {
        problem: 'name must be 1-63 lower-case letters, digits, "-" or "_", starting and ending with a letter or digit',
        value: props.name,
        fix: 'rename the service, e.g. "web"',
      });
    }
    this.name = props.name;
    this.hostname = props.name;
    this.policyObject = `SwarmService ${props.name}`;
    this.policyExemptions = this.declareExemptions(props.exemptions ?? []);
    // "latest" makes every node run whatever it pulled last.
    const image = assertPinnedImage(this, 'image', props.image, 'nginx:1.27.2');
    this.spec = resolveSwarmServiceSpec(this, props, image, {
      environment: stack.environment,
      exemptionLabels: this.exemptionLabels,
      check: (resolved) => {
        this.checkCredentials(props, resolved.image, resolved.placement.constraints);
        this.checkHostAccess(props);
      },
      configFile: (c, key) => {
        const source = c.content;
        if (OutputFile.isOutputFile(source)) {
          if (source.shared)
            throw new ShipshapeError(this, {
              problem: `configs[${c.name}] points at a shared output file, outside the environment directory the stack is deployed from`,
              value: source.path,
              fix: 'use an environment file',
            });
          return { file: source.path, content: () => source.render() };
        }
        const file = new OutputFile(this, `config-${c.name}`, { path: `swarm/configs/${key}`, content: source, allowsCredential: (f) => this.allowsCredential(f.subject) });
        return { file: file.path, content: () => source };
      },
    });
    declareSwarmHost(stack);
    this.project = SwarmProject.of(scope);
    if (this.project) this.project.add(this);
    else {
      this.node.addValidation({
        validate: () => [
          `no SwarmProject deploys this service. Fix: create it in the environment's project: new SwarmService(project, '${id}', {...}) with project = new SwarmProject(stack, 'swarm')`,
        ],
      });
    }
  }

  /** Tasks the service runs on `nodes` eligible nodes. */
  public taskCount(nodes: number): number {
    return taskCount(this.spec, nodes);
  }

  /** The compose 3.8 service entry (without the configs' top-level definitions). */
  public toCompose(): Record<string, unknown> {
    return composeService(this.spec);
  }

  /** What the service relies on in its image, for the image's structure test; read from the spec its renderers read. */
  public imageUses(): readonly ImageUse[] {
    const spec = this.spec;
    const executables: ImageExecutable[] = [];
    if (typeof spec.entrypoint?.[0] === 'string') executables.push({ command: spec.entrypoint[0], purpose: 'entrypoint' });
    // CMD runs the argument vector itself; CMD-SHELL runs a shell line through the image's SHELL, which is not stated.
    if (spec.healthcheck && spec.healthcheck.test[0] === 'CMD' && typeof spec.healthcheck.test[1] === 'string') executables.push({ command: spec.healthcheck.test[1], purpose: 'healthcheck' });
    const [user, group] = spec.user === undefined ? [] : spec.user.split(':', 2);
    return [
      {
        image: spec.image,
        usedBy: this.policyObject,
        constructPath: this.node.path,
        ...(user ? { user: { user, ...(group ? { group } : {}) } } : {}),
        requiresNonRoot: false,
        ports: spec.ports.map((x) => ({ port: x.target, protocol: x.protocol })),
        executables,
        mounts: [...spec.mounts.map((m) => m.target), ...spec.configs.map((c) => c.target), ...spec.secrets.map((x) => x.path)],
      },
    ];
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
  private checkCredentials(p: SwarmServiceProps, image: string, constraints: readonly string[]): void {
    const fields: ([string, CredentialFinding[]] | [string, CredentialFinding[], string])[] = [
      ...Object.entries(p.environment ?? {}).map(([k, v]): [string, CredentialFinding[]] => [`environment variable ${k}`, scanVariable(k, String(v)).map((f) => ({ ...f, subject: k }))]),
      ['entrypoint', scanArgs(p.entrypoint ?? [])],
      ['command', scanArgs(p.command ?? [])],
      ['healthcheck.test', p.healthcheck ? scanArgs(p.healthcheck.test ?? []) : []],
      ...Object.entries(p.labels ?? {})
        .filter(([k]) => !EXEMPTION_KEY.test(k))
        .map(([k, v]): [string, CredentialFinding[]] => [`label ${k}`, scanVariable(k.slice(k.lastIndexOf('/') + 1), String(v)).map((f) => ({ ...f, subject: k }))]),
      ['image', scanText(image)],
      ...constraints.map((c, i): [string, CredentialFinding[]] => [`placement constraint ${i}`, scanText(c)]),
      // Config files are written next to the stack file; output files are scanned with every other file at synth.
      ...(p.configs ?? [])
        .filter((c) => typeof c.content === 'string')
        .map((c): [string, CredentialFinding[], string] => [`config ${c.name}`, scanFile(c.target ?? '', c.content as string), `swarm/configs/${`${this.name}-${c.name}`.replace(/_/g, '-')}`]),
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
        fix: 'run as an unprivileged uid:gid (e.g. "10001:10001"), or exempt it with the reason: exemptions: [{ rule: \'run-as-root\', reason }]',
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
