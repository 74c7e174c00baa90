import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { byCodePoint } from '../core/ordering';
import { ConstructWarning } from '../core/policy/engine';
import { plural } from '../core/writer';
import { SwarmService } from './swarm-service';

/** One Docker host of a {@link SwarmCluster}. */
export interface SwarmNode {
  /** Host name of the node: what `docker node ls` shows, what `node.hostname` constraints match, and the argument of the bootstrap script. */
  readonly name: string;
  /** IPv4 or IPv6 address the other nodes reach this node's Swarm ports on (`--advertise-addr`, `--listen-addr`). */
  readonly address: string;
  /**
   * Address of the overlay (VXLAN) traffic (`--data-path-addr`), to keep container traffic on another network than the control plane.
   * @default - the address
   */
  readonly dataPathAddress?: string;
  /**
   * Node labels that SwarmService placement constraints select (`node.labels.<key> == <value>`).
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * Where the bootstrap script reads the join tokens at run time. They are never written to the output: a
 * token lets any host join the swarm (a manager token gives it the whole cluster).
 * - `file`: root-only files on each host, placed there by the operator or configuration management;
 * - `command`: shell commands that print the token on stdout (`vault kv get -field=manager secret/swarm/edge`).
 */
export type SwarmJoinTokens =
  | { readonly type: 'file'; readonly managerTokenFile: string; readonly workerTokenFile: string }
  | { readonly type: 'command'; readonly managerTokenCommand: string; readonly workerTokenCommand: string };

/**
 * Where the bootstrap script stores the autolock unlock key when it turns autolock on. The key decrypts the
 * managers' Raft data; a manager that restarts stays locked until someone runs `docker swarm unlock` with it.
 * - `file`: an absolute path (mode 0600) on storage that is not the manager's own disk in production;
 * - `command`: a shell command that reads the key on stdin and stores it (`vault kv put secret/swarm/edge unlock-key=-`).
 */
export type SwarmUnlockKeyStore = { readonly type: 'file'; readonly path: string } | { readonly type: 'command'; readonly storeCommand: string };

/** Properties of a {@link SwarmCluster}. */
export interface SwarmClusterProps {
  /**
   * Cluster name, used in file headers and the nftables table name.
   * @default - the environment name
   */
  readonly name?: string;
  /** Manager nodes; an odd number (Raft needs a majority), the first one initialises the swarm. */
  readonly managers: SwarmNode[];
  /**
   * Worker nodes.
   * @default []
   */
  readonly workers?: SwarmNode[];
  /**
   * Give managers availability `drain` so that tasks run on workers only and a busy workload cannot starve Raft.
   * @default false (small clusters need their managers' capacity)
   */
  readonly drainManagers?: boolean;
  /**
   * The stack's overlay networks are encrypted (IPsec): the firewall files then let ESP (IP protocol 50) through between nodes.
   * @default false (Docker's default: overlay traffic is not encrypted)
   */
  readonly overlayEncryption?: boolean;
  /**
   * Turn on autolock and store the unlock key here; off when not given.
   * @default - autolock off
   */
  readonly autolock?: SwarmUnlockKeyStore;
  /**
   * Where the bootstrap script reads the join tokens.
   * @default files under DEFAULT_SWARM_TOKEN_DIRECTORY (`manager-token`, `worker-token`)
   */
  readonly joinTokens?: SwarmJoinTokens;
  /**
   * Output directory under `dist/<env>/` of the bootstrap script, firewall files and README.
   * @default 'hosts/swarm'
   */
  readonly directory?: string;
}

/** Swarm's cluster management port (managers only). */
export const SWARM_MANAGEMENT_PORT = 2377;
/** Swarm's node gossip port (TCP and UDP, every node). */
export const SWARM_GOSSIP_PORT = 7946;
/** Swarm's overlay data path port (VXLAN over UDP, every node). */
export const SWARM_DATA_PATH_PORT = 4789;
/** Raft stays manageable up to seven managers; more slow every write without a real gain (Docker's administration guide). */
export const SWARM_MAX_RECOMMENDED_MANAGERS = 7;
/** Root-only directory outside any checkout, where configuration management places the join tokens. */
export const DEFAULT_SWARM_TOKEN_DIRECTORY = '/etc/docker/swarm';

/** Fault tolerance of a Raft group of `managers`: how many may fail while a majority remains. */
export function managerFailuresTolerated(managers: number): number {
  return Math.floor((managers - 1) / 2);
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([A-Za-z0-9._:/-]{0,126}[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const SAFE_ABSOLUTE_PATH = /^\/(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._\-/]+$/;
// Join tokens and unlock keys have these prefixes; neither may ever appear in a synthesized file.
const SWARM_SECRET = /SWM(TKN|KEY)-/;
const CONSTRAINT = /^\s*(node\.(?:id|hostname|role|platform\.os|platform\.arch|labels\.[^\s=!]+)|engine\.labels\.[^\s=!]+)\s*(==|!=)\s*(\S+)\s*$/;

/** A declared node with its role and resolved addresses. */
export interface ResolvedSwarmNode {
  readonly name: string;
  readonly role: 'manager' | 'worker';
  readonly address: string;
  readonly dataPathAddress: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly availability: 'active' | 'drain';
}

/**
 * A Docker Swarm cluster: its managers and workers with addresses and node labels. Checks the Raft quorum
 * rules (an odd number of managers) and that every SwarmService placement constraint of the environment
 * can be met by a declared node, and writes to `dist/<env>/hosts/swarm/`: an idempotent bootstrap script
 * (`bootstrap.sh NODE`), firewall rules for the Swarm ports (`swarm.nft` for nftables, `ufw.sh` for ufw)
 * and a README saying how many manager failures the cluster survives and where tokens and keys live.
 */
export class SwarmCluster extends Construct {
  /** Whether a construct is a SwarmCluster. */
  public static isSwarmCluster(x: unknown): x is SwarmCluster {
    return typeof x === 'object' && x !== null && (x as { isSwarmCluster?: unknown }).isSwarmCluster === true;
  }

  /** Marker for {@link SwarmCluster.isSwarmCluster}. */
  public readonly isSwarmCluster = true;
  public readonly name: string;
  public readonly managers: readonly ResolvedSwarmNode[];
  public readonly workers: readonly ResolvedSwarmNode[];
  /** Manager failures the cluster survives with its Raft majority: (managers - 1) / 2. */
  public readonly faultTolerance: number;
  public readonly overlayEncryption: boolean;
  public readonly drainManagers: boolean;
  public readonly autolock?: SwarmUnlockKeyStore;
  public readonly joinTokens: SwarmJoinTokens;
  /** Output directory relative to the environment directory. */
  public readonly directory: string;
  /** Advice that does not fail synth, also written to the README. */
  public readonly warnings: readonly string[];
  /** How the synth summary names the cluster. */
  public readonly policyObject: string;
  /** The warnings, as the synth summary lists them. */
  public readonly policyWarnings: readonly ConstructWarning[];
  /** The Raft fault tolerance, for the synth summary. */
  public readonly summaryNotes: readonly string[];
  /** The output files. */
  public readonly files: { readonly bootstrap: OutputFile; readonly nftables: OutputFile; readonly ufw: OutputFile; readonly readme: OutputFile };

  constructor(scope: Construct, id: string, props: SwarmClusterProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const other = stack.node.findAll().find((c) => c !== this && SwarmCluster.isSwarmCluster(c));
    if (other) {
      throw new ShipshapeError(this, {
        problem: `the environment already declares a SwarmCluster (${other.node.path}); placement checks and host files need one cluster per environment`,
        value: id,
        fix: 'declare every node in one SwarmCluster',
      });
    }
    this.name = props.name ?? stack.environment.name;
    if (typeof this.name !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(this.name)) {
      throw new ShipshapeError(this, { problem: 'name must be 1-63 lower-case letters, digits or "-"', value: this.name, fix: 'use e.g. "edge"' });
    }
    this.directory = props.directory ?? 'hosts/swarm';
    if (!/^hosts(\/[A-Za-z0-9._-]+)*$/.test(this.directory) || this.directory.split('/').some((s) => s === '.' || s === '..')) {
      throw new ShipshapeError(this, { problem: 'directory must be hosts/ or a folder under it', value: this.directory, fix: 'use e.g. "hosts/swarm"' });
    }
    this.drainManagers = props.drainManagers ?? false;
    this.overlayEncryption = props.overlayEncryption ?? false;

    if (!Array.isArray(props.managers) || props.managers.length === 0) {
      throw new ShipshapeError(this, { problem: 'a swarm needs at least one manager', value: props.managers, fix: 'declare one or three managers (an odd number)' });
    }
    this.managers = props.managers.map((n, i) => this.resolveNode(n, `managers[${i}]`, 'manager'));
    this.workers = (props.workers ?? []).map((n, i) => this.resolveNode(n, `workers[${i}]`, 'worker'));
    const count = this.managers.length;
    if (count % 2 === 0) {
      throw new ShipshapeError(this, {
        problem: `${count} managers tolerate no more failures than ${count - 1} (Raft needs a majority of ${count / 2 + 1}), and a network split into halves leaves neither side a majority`,
        value: this.managers.map((m) => m.name),
        fix: `declare ${count - 1} or ${count + 1} managers, and make the others workers`,
      });
    }
    this.faultTolerance = managerFailuresTolerated(count);
    const warnings: string[] = [];
    if (count > SWARM_MAX_RECOMMENDED_MANAGERS) {
      warnings.push(
        `${count} managers: every Raft write waits for ${Math.floor(count / 2) + 1} of them; Docker recommends at most ${SWARM_MAX_RECOMMENDED_MANAGERS} (tolerating 3 failures) — make the others workers`,
      );
    }
    if (count === 1) warnings.push('one manager tolerates no manager failure: losing it stops every change to the swarm until it is restored from backup');
    this.warnings = warnings;
    this.policyObject = `SwarmCluster ${this.name}`;
    this.policyWarnings = warnings.map((message) => ({
      ruleId: 'swarm-managers',
      message,
      fix: count === 1 ? 'declare three managers' : `declare ${SWARM_MAX_RECOMMENDED_MANAGERS} managers or fewer and make the others workers`,
    }));
    this.summaryNotes = [
      `${plural(count, 'manager')}, ${plural(this.workers.length, 'worker')}: tolerates ${plural(this.faultTolerance, 'manager failure')} (Raft majority ${Math.floor(count / 2) + 1})`,
    ];
    this.checkUnique();

    this.joinTokens = this.resolveTokens(props.joinTokens);
    if (props.autolock !== undefined) this.autolock = this.resolveUnlockKeyStore(props.autolock);

    const dir = this.directory;
    this.files = {
      bootstrap: new OutputFile(this, 'bootstrap', { path: `${dir}/bootstrap.sh`, content: () => this.renderBootstrap() }),
      nftables: new OutputFile(this, 'nftables', { path: `${dir}/swarm.nft`, content: () => this.renderNftables() }),
      ufw: new OutputFile(this, 'ufw', { path: `${dir}/ufw.sh`, content: () => this.renderUfw() }),
      readme: new OutputFile(this, 'readme', { path: `${dir}/README.md`, content: () => this.renderReadme() }),
    };
    this.node.addValidation({ validate: () => this.placementProblems() });
  }

  /** Every declared node, managers first. */
  public get nodes(): readonly ResolvedSwarmNode[] {
    return [...this.managers, ...this.workers];
  }

  /** The nodes that accept tasks (drained managers do not). */
  public get schedulableNodes(): readonly ResolvedSwarmNode[] {
    return this.nodes.filter((n) => n.availability === 'active');
  }

  /**
   * The placement problems of the environment's SwarmServices: a constraint no schedulable node meets, or
   * constraints of one service that no single node meets together. Constraints on attributes the cluster
   * does not declare (node.id, node.platform.*, engine.labels.*) are not checked.
   */
  public placementProblems(): string[] {
    const services = Stack.of(this)
      .node.findAll()
      .filter((c): c is SwarmService => c instanceof SwarmService)
      .sort((a, b) => byCodePoint(a.name, b.name));
    const problems: string[] = [];
    const nodes = this.schedulableNodes;
    const declared = this.describeNodes();
    for (const service of services) {
      const constraints = placementConstraints(service)
        .map((c) => ({ text: c, parsed: parseConstraint(c) }))
        .filter((c) => c.parsed !== undefined);
      let reported = false;
      for (const c of constraints) {
        if (nodes.some((n) => matches(c.parsed!, n))) continue;
        const drained = this.drainManagers && this.managers.some((n) => matches(c.parsed!, n));
        problems.push(
          this.placementError(
            service,
            `placement constraint "${c.text}" of SwarmService ${service.name} (${service.node.path}) matches none of the declared nodes${drained ? ' that accept tasks (it matches only managers, which drainManagers drains)' : ''}, so its tasks would stay pending forever`,
            c.text,
            declared,
          ),
        );
        reported = true;
      }
      if (!reported && constraints.length > 1 && !nodes.some((n) => constraints.every((c) => matches(c.parsed!, n)))) {
        problems.push(
          this.placementError(
            service,
            `the placement constraints of SwarmService ${service.name} (${service.node.path}) are each met by some node but never all by one node, so its tasks would stay pending forever`,
            constraints.map((c) => c.text),
            declared,
          ),
        );
      }
    }
    return problems;
  }

  private placementError(service: SwarmService, problem: string, value: unknown, declared: string): string {
    const e = new ShipshapeError(this, {
      problem: `${problem}; declared nodes: ${declared}`,
      value,
      fix: `label a node of SwarmCluster ${this.node.path} to match, or change the placement of ${service.name}`,
    });
    // synth prefixes validation messages with the construct path itself.
    return e.message.slice(this.node.path.length + 2);
  }

  private describeNodes(): string {
    return this.nodes
      .map(
        (n) =>
          `${n.name} (${n.role}${n.availability === 'drain' ? ', drained' : ''}${
            Object.keys(n.labels).length
              ? `, ${Object.entries(n.labels)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')}`
              : ''
          })`,
      )
      .join(', ');
  }

  private resolveNode(n: SwarmNode, field: string, role: 'manager' | 'worker'): ResolvedSwarmNode {
    if (typeof n !== 'object' || n === null)
      throw new ShipshapeError(this, { problem: `${field} must be a node { name, address, labels? }`, value: n, fix: 'declare e.g. { name: "edge-1", address: "10.0.0.11" }' });
    if (typeof n.name !== 'string' || n.name.length > 253 || !HOST_NAME.test(n.name)) {
      throw new ShipshapeError(this, {
        problem: `${field}.name must be the node's host name (letters, digits, "-" and dots, as docker node ls shows it)`,
        value: n.name,
        fix: 'use the host name, e.g. "edge-1"',
      });
    }
    const address = this.assertAddress(`${field}.address`, n.address);
    const dataPathAddress = n.dataPathAddress === undefined ? address : this.assertAddress(`${field}.dataPathAddress`, n.dataPathAddress);
    const labels: Record<string, string> = {};
    const given = n.labels ?? {};
    if (typeof given !== 'object' || given === null || Array.isArray(given))
      throw new ShipshapeError(this, { problem: `${field}.labels must map label keys to values`, value: given, fix: 'write e.g. { zone: "a" }' });
    for (const [key, value] of Object.entries(given).sort(([a], [b]) => byCodePoint(a, b))) {
      if (!LABEL_KEY.test(key))
        throw new ShipshapeError(this, {
          problem: `${field}.labels has a key that is not letters, digits, ".", "_" or "-" (it is written into constraints and a shell script)`,
          value: key,
          fix: 'use a key such as "zone" or "instancegroup"',
        });
      if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
        throw new ShipshapeError(this, {
          problem: `${field}.labels.${key} must be 1-128 letters, digits, ".", "_", ":", "/" or "-", starting and ending with a letter or digit (it is written into a shell script)`,
          value,
          fix: 'use a value such as "a" or "edge"',
        });
      }
      labels[key] = value;
    }
    return Object.freeze({ name: n.name, role, address, dataPathAddress, labels: Object.freeze(labels), availability: role === 'manager' && this.drainManagers ? 'drain' : 'active' });
  }

  private assertAddress(field: string, value: unknown): string {
    const fix = 'give the IPv4 or IPv6 address the other nodes reach, e.g. "10.0.0.11" or "fd00::11" (no interface name, port or zone)';
    if (typeof value !== 'string') throw new ShipshapeError(this, { problem: `${field} must be an IP address`, value, fix });
    if (IPV4.test(value)) {
      if (value === '0.0.0.0' || /^(22[4-9]|2[3-5]\d)\./.test(value))
        throw new ShipshapeError(this, { problem: `${field} is the unspecified, a multicast or the broadcast address, which no node can be reached on`, value, fix });
      return value;
    }
    const v6 = parseIpv6(value);
    if (v6 === undefined) throw new ShipshapeError(this, { problem: `${field} must be an IPv4 or IPv6 address`, value, fix });
    if (v6 === '::' || v6.startsWith('ff')) throw new ShipshapeError(this, { problem: `${field} is the unspecified or a multicast address, which no node can be reached on`, value, fix });
    return v6;
  }

  private checkUnique(): void {
    const nodes = this.nodes;
    const byName = new Map<string, string>();
    for (const n of nodes) {
      const key = n.name.toLowerCase();
      if (byName.has(key))
        throw new ShipshapeError(this, {
          problem: `node ${n.name} is declared twice (as ${byName.get(key)} and ${n.role}); host names identify nodes`,
          value: n.name,
          fix: 'give every node its own host name',
        });
      byName.set(key, n.role);
    }
    const byAddress = new Map<string, string>();
    for (const n of nodes) {
      const owner = byAddress.get(n.address);
      if (owner !== undefined) throw new ShipshapeError(this, { problem: `nodes ${owner} and ${n.name} advertise the same address`, value: n.address, fix: 'give every node its own address' });
      byAddress.set(n.address, n.name);
    }
    const loopback = nodes.find((n) => n.address.startsWith('127.') || n.address === '::1');
    if (loopback && nodes.length > 1) {
      throw new ShipshapeError(this, {
        problem: `node ${loopback.name} advertises a loopback address, which the other nodes cannot reach`,
        value: loopback.address,
        fix: 'give the address of the network the nodes share',
      });
    }
  }

  private resolveTokens(tokens: SwarmJoinTokens | undefined): SwarmJoinTokens {
    const t = tokens ?? { type: 'file', managerTokenFile: `${DEFAULT_SWARM_TOKEN_DIRECTORY}/manager-token`, workerTokenFile: `${DEFAULT_SWARM_TOKEN_DIRECTORY}/worker-token` };
    if (t.type === 'file') {
      this.assertHostPath('joinTokens.managerTokenFile', t.managerTokenFile);
      this.assertHostPath('joinTokens.workerTokenFile', t.workerTokenFile);
      if (t.managerTokenFile === t.workerTokenFile)
        throw new ShipshapeError(this, {
          problem: 'joinTokens names the same file for the manager and the worker token',
          value: t.managerTokenFile,
          fix: 'use two files: a worker must never be able to read the manager token',
        });
    } else if (t.type === 'command') {
      this.assertCommand('joinTokens.managerTokenCommand', t.managerTokenCommand);
      this.assertCommand('joinTokens.workerTokenCommand', t.workerTokenCommand);
    } else {
      throw new ShipshapeError(this, { problem: 'joinTokens.type must be "file" or "command"', value: (t as { type?: unknown }).type, fix: 'pick one' });
    }
    return Object.freeze({ ...t });
  }

  private resolveUnlockKeyStore(store: SwarmUnlockKeyStore): SwarmUnlockKeyStore {
    if (store.type === 'file') this.assertHostPath('autolock.path', store.path);
    else if (store.type === 'command') this.assertCommand('autolock.storeCommand', store.storeCommand);
    else throw new ShipshapeError(this, { problem: 'autolock.type must be "file" or "command"', value: (store as { type?: unknown }).type, fix: 'pick one' });
    return Object.freeze({ ...store });
  }

  private assertHostPath(field: string, value: unknown): void {
    if (typeof value !== 'string' || value.length > 4096 || !SAFE_ABSOLUTE_PATH.test(value)) {
      throw new ShipshapeError(this, {
        problem: `${field} must be an absolute path on the host without "." or ".." segments (a relative path would resolve inside the checkout the script runs from, which is under Git)`,
        value,
        fix: `use a root-only path outside the repository, e.g. "${DEFAULT_SWARM_TOKEN_DIRECTORY}/manager-token"`,
      });
    }
  }

  private assertCommand(field: string, value: unknown): void {
    // eslint-disable-next-line no-control-regex
    if (typeof value !== 'string' || value.trim() === '' || value.length > 1000 || /[\u0000-\u001f\u007f]/.test(value)) {
      throw new ShipshapeError(this, { problem: `${field} must be one line of shell`, value, fix: 'write e.g. "vault kv get -field=manager secret/swarm/edge"' });
    }
    if (SWARM_SECRET.test(value)) {
      throw new ShipshapeError(this, {
        problem: `${field} holds a Swarm join token or unlock key, which would be written to the output and committed`,
        value: '<redacted>',
        fix: 'keep the token in the secret store and give the command that reads it',
      });
    }
  }

  private renderBootstrap(): string {
    const q = shellQuote;
    const first = this.managers[0];
    const endpoint = (addr: string) => (addr.includes(':') ? `[${addr}]:${SWARM_MANAGEMENT_PORT}` : `${addr}:${SWARM_MANAGEMENT_PORT}`);
    const nodeCases = this.nodes.map((n) => `  ${n.name}) ROLE=${n.role}; ADDR=${q(n.address)}; LISTEN=${q(endpoint(n.address))}; DATA_ADDR=${q(n.dataPathAddress)} ;;`);
    const t = this.joinTokens;
    const readToken =
      t.type === 'file'
        ? ['  case "$1" in', `    manager) file=${q(t.managerTokenFile)} ;;`, `    *) file=${q(t.workerTokenFile)} ;;`, '  esac', '  [ -r "$file" ] || return 1', '  tr -d \' \\t\\r\\n\' < "$file"']
        : ['  case "$1" in', `    manager) ${t.managerTokenCommand} ;;`, `    *) ${t.workerTokenCommand} ;;`, '  esac'];
    const tokenWhere = t.type === 'file' ? `the files ${t.managerTokenFile} (manager) and ${t.workerTokenFile} (worker)` : 'the secret store (joinTokens commands)';
    const lock = this.autolock;
    const storeKey = !lock
      ? []
      : lock.type === 'file'
        ? ['store_unlock_key() {', `  ( umask 077 && mkdir -p ${q(dirname(lock.path))} && cat > ${q(lock.path)} )`, '}']
        : ['store_unlock_key() {', `  ${lock.storeCommand}`, '}'];
    return [
      '#!/bin/sh',
      `# Swarm bootstrap of cluster ${this.name} (environment ${Stack.of(this).environment.name}); written by shipshape synth.`,
      '# Usage, as root on each node: bootstrap.sh [--init] NODE (managers first, the first manager before any other;',
      '# --init, on the first manager only, creates the swarm: without it the script never starts a new one).',
      '# Idempotent: a node already in the swarm is not re-joined; labels and availability are re-applied from',
      '# every manager run, so run it once more on a manager after the workers joined.',
      `# Join tokens are read at run time from ${tokenWhere}; they are never printed.`,
      'set -eu',
      '',
      `FIRST_MANAGER=${first.name}`,
      `MANAGER_ENDPOINTS=${q(this.managers.map((m) => endpoint(m.address)).join(' '))}`,
      '',
      'usage() {',
      `  echo "usage: $0 [--init] NODE (one of: ${this.nodes.map((n) => n.name).join(' ')})" >&2`,
      '  exit 2',
      '}',
      'INIT=0',
      'if [ "${1:-}" = --init ]; then INIT=1; shift; fi',
      '[ "$#" -eq 1 ] || usage',
      'NODE=$1',
      'if [ "$INIT" = 1 ] && [ "$NODE" != "$FIRST_MANAGER" ]; then',
      '  echo "--init creates the swarm on the first manager ($FIRST_MANAGER) only" >&2',
      '  exit 2',
      'fi',
      'case "$NODE" in',
      ...nodeCases,
      '  *) usage ;;',
      'esac',
      '',
      'swarm_state() {',
      "  docker info --format '{{.Swarm.LocalNodeState}}'",
      '}',
      '',
      '# Prints the join token of role $1 (manager or worker); fails when it is not available.',
      'read_token() {',
      ...readToken,
      '}',
      ...(storeKey.length ? ['', "# Reads the unlock key on stdin and keeps it outside this host's Git checkout.", ...storeKey] : []),
      '',
      '# Joins through the first manager that answers; the token is passed to docker only, never printed.',
      'join_swarm() {',
      '  token=$(read_token "$ROLE") || { echo "$NODE: no $ROLE join token is stored yet (on a manager, docker swarm join-token -q $ROLE prints it; a new swarm is created by bootstrap.sh --init $FIRST_MANAGER)" >&2; exit 1; }',
      '  [ -n "$token" ] || { echo "$NODE: the $ROLE join token is empty" >&2; exit 1; }',
      '  for endpoint in $MANAGER_ENDPOINTS; do',
      '    [ "$endpoint" != "$LISTEN" ] || continue',
      '    if docker swarm join --token "$token" --advertise-addr "$ADDR" --listen-addr "$LISTEN" --data-path-addr "$DATA_ADDR" "$endpoint" >/dev/null; then',
      '      echo "$NODE: joined the swarm as $ROLE through $endpoint"',
      '      return 0',
      '    fi',
      '  done',
      '  echo "$NODE: no manager accepted the join" >&2',
      '  exit 1',
      '}',
      '',
      '# Sets availability and labels of one declared node, if it is in the swarm (managers only).',
      'apply_node() {',
      '  name=$1 availability=$2',
      '  shift 2',
      '  id=$(docker node ls --format \'{{.Hostname}} {{.Status}} {{.ID}}\' | awk -v n="$name" \'tolower($1) == tolower(n) && $2 == "Ready" { print $3; exit }\')',
      '  [ -n "$id" ] || { echo "$name: not in the swarm yet (labels are applied on a later manager run)"; return 0; }',
      '  set -- --availability "$availability"',
      '  for label in $LABELS; do set -- "$@" --label-add "$label"; done',
      '  docker node update "$@" "$id" >/dev/null',
      '  echo "$name: availability $availability${LABELS:+, labels $LABELS}"',
      '}',
      '',
      'case "$(swarm_state)" in',
      '  active) echo "$NODE: already in the swarm" ;;',
      '  locked)',
      `    echo "$NODE: in the swarm but locked after a restart: run docker swarm unlock with the key${lock ? ` from ${lock.type === 'file' ? lock.path : 'the secret store'}` : ''}" >&2`,
      '    exit 1 ;;',
      '  inactive)',
      '    # Only an explicit --init starts a swarm: a re-provisioned first manager whose token store is unreachable',
      '    # must not start a second swarm beside the running one.',
      '    if [ "$INIT" = 1 ]; then',
      '      if read_token manager >/dev/null 2>&1; then',
      '        echo "$NODE: a manager join token is stored, so the swarm exists: run without --init to join it" >&2',
      '        exit 1',
      '      fi',
      '      docker swarm init --advertise-addr "$ADDR" --listen-addr "$LISTEN" --data-path-addr "$DATA_ADDR" >/dev/null',
      '      echo "$NODE: initialised the swarm; store the join tokens (docker swarm join-token -q manager|worker) where the other nodes read them"',
      '    else',
      '      join_swarm',
      '    fi ;;',
      '  *)',
      '    echo "$NODE: unexpected swarm state $(swarm_state); see docker info" >&2',
      '    exit 1 ;;',
      'esac',
      '',
      'if [ "$ROLE" = worker ]; then',
      '  echo "$NODE: worker labels and availability are applied by running this script on a manager"',
      '  exit 0',
      'fi',
      '',
      ...(lock
        ? [
            'if [ "$(docker info --format \'{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}\')" != true ]; then',
            '  docker swarm update --autolock=true >/dev/null',
            '  # A key that is not stored locks the managers out after their next restart: turn autolock off again.',
            '  if ! key=$(docker swarm unlock-key -q) || [ -z "$key" ] || ! printf \'%s\\n\' "$key" | store_unlock_key; then',
            '    docker swarm update --autolock=false >/dev/null',
            '    echo "$NODE: could not store the unlock key; autolock left off" >&2',
            '    exit 1',
            '  fi',
            `  echo "$NODE: autolock on; unlock key stored in ${lock.type === 'file' ? lock.path : 'the secret store'}"`,
            'fi',
          ]
        : []),
      ...this.nodes.map(
        (n) =>
          `LABELS=${q(
            Object.entries(n.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
          )}; apply_node ${n.name} ${n.availability}`,
      ),
      '',
    ].join('\n');
  }

  private renderNftables(): string {
    const table = `swarm_${this.name.replace(/-/g, '_')}`;
    const families = [
      { suffix: 'v4', type: 'ipv4_addr', match: 'ip', pick: (a: string) => !a.includes(':') },
      { suffix: 'v6', type: 'ipv6_addr', match: 'ip6', pick: (a: string) => a.includes(':') },
    ];
    const sets: string[] = [];
    const accepts: string[] = [];
    for (const f of families) {
      const managers = unique(this.managers.map((m) => m.address).filter(f.pick));
      const nodes = unique(this.nodes.flatMap((n) => [n.address, n.dataPathAddress]).filter(f.pick));
      if (nodes.length === 0) continue;
      sets.push(`\tset nodes_${f.suffix} {`, `\t\ttype ${f.type}`, `\t\telements = { ${nodes.join(', ')} }`, '\t}');
      if (managers.length > 0) {
        sets.push(`\tset managers_${f.suffix} {`, `\t\ttype ${f.type}`, `\t\telements = { ${managers.join(', ')} }`, '\t}');
        accepts.push(`\t\t${f.match} daddr @managers_${f.suffix} ${f.match} saddr @nodes_${f.suffix} tcp dport ${SWARM_MANAGEMENT_PORT} accept comment "cluster management, managers only"`);
      }
      accepts.push(`\t\t${f.match} saddr @nodes_${f.suffix} tcp dport ${SWARM_GOSSIP_PORT} accept comment "node gossip"`);
      accepts.push(`\t\t${f.match} saddr @nodes_${f.suffix} udp dport { ${SWARM_GOSSIP_PORT}, ${SWARM_DATA_PATH_PORT} } accept comment "node gossip, overlay VXLAN"`);
      if (this.overlayEncryption) accepts.push(`\t\t${f.match} saddr @nodes_${f.suffix} meta l4proto esp accept comment "encrypted overlay (IPsec ESP)"`);
    }
    return [
      '#!/usr/sbin/nft -f',
      `# Swarm ports of cluster ${this.name}; written by shipshape synth. Load on every node: nft -f swarm.nft`,
      `# ${SWARM_MANAGEMENT_PORT}/tcp reaches managers only, from cluster nodes; ${SWARM_GOSSIP_PORT}/tcp+udp and ${SWARM_DATA_PATH_PORT}/udp${this.overlayEncryption ? ' and ESP' : ''} only between`,
      '# cluster nodes (VXLAN is unauthenticated: anyone who reaches 4789 can inject traffic into overlay networks).',
      "# Other traffic is left to the host's own rules. Reloading replaces the table, so the file is idempotent.",
      `table inet ${table}`,
      `delete table inet ${table}`,
      `table inet ${table} {`,
      ...sets,
      '\tchain input {',
      '\t\ttype filter hook input priority filter; policy accept;',
      '\t\tiif "lo" accept',
      ...accepts,
      `\t\ttcp dport { ${SWARM_MANAGEMENT_PORT}, ${SWARM_GOSSIP_PORT} } drop`,
      `\t\tudp dport { ${SWARM_GOSSIP_PORT}, ${SWARM_DATA_PATH_PORT} } drop`,
      ...(this.overlayEncryption ? ['\t\tmeta l4proto esp drop'] : []),
      '\t}',
      '}',
      '',
    ].join('\n');
  }

  private renderUfw(): string {
    const rules: string[] = [];
    const peers = unique(this.nodes.flatMap((n) => [n.address, n.dataPathAddress]));
    const family = (a: string) => (a.includes(':') ? 6 : 4);
    for (const m of this.managers) {
      for (const p of peers.filter((a) => family(a) === family(m.address))) rules.push(`ufw allow proto tcp from ${p} to ${m.address} port ${SWARM_MANAGEMENT_PORT} comment 'swarm management'`);
    }
    for (const p of peers) {
      rules.push(`ufw allow proto tcp from ${p} to any port ${SWARM_GOSSIP_PORT} comment 'swarm gossip'`);
      rules.push(`ufw allow proto udp from ${p} to any port ${SWARM_GOSSIP_PORT} comment 'swarm gossip'`);
      rules.push(`ufw allow proto udp from ${p} to any port ${SWARM_DATA_PATH_PORT} comment 'swarm overlay'`);
      if (this.overlayEncryption) rules.push(`ufw allow proto esp from ${p} comment 'swarm encrypted overlay'`);
    }
    return [
      '#!/bin/sh',
      `# Swarm ports of cluster ${this.name} for hosts whose firewall is ufw; written by shipshape synth. Run as root on`,
      `# every node. ${SWARM_MANAGEMENT_PORT}/tcp is allowed to managers' addresses only; gossip and VXLAN${this.overlayEncryption ? ' and ESP' : ''} only from cluster nodes;`,
      '# the deny rules come after the allows, so anyone else is refused even when the default policy allows.',
      '# Idempotent: ufw skips rules it already has.',
      'set -eu',
      ...rules,
      `ufw deny proto tcp to any port ${SWARM_MANAGEMENT_PORT} comment 'swarm management from elsewhere'`,
      `ufw deny proto tcp to any port ${SWARM_GOSSIP_PORT} comment 'swarm gossip from elsewhere'`,
      `ufw deny proto udp to any port ${SWARM_GOSSIP_PORT} comment 'swarm gossip from elsewhere'`,
      `ufw deny proto udp to any port ${SWARM_DATA_PATH_PORT} comment 'swarm overlay from elsewhere'`,
      '',
    ].join('\n');
  }

  private renderReadme(): string {
    const count = this.managers.length;
    const lock = this.autolock;
    const t = this.joinTokens;
    const row = (n: ResolvedSwarmNode) =>
      `| ${n.name} | ${n.role} | ${n.address} | ${n.dataPathAddress} | ${n.availability} | ${
        Object.entries(n.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || '-'
      } |`;
    return [
      `# Swarm cluster ${this.name}`,
      '',
      `${count} manager${count === 1 ? '' : 's'}, ${this.workers.length} worker${this.workers.length === 1 ? '' : 's'}. The Raft majority is ${Math.floor(count / 2) + 1} of ${count}: the cluster tolerates ${this.faultTolerance} manager failure${this.faultTolerance === 1 ? '' : 's'}. With more managers down it keeps running tasks but refuses every change (deploys, scaling, node updates) until a majority is back.`,
      ...(this.warnings.length ? ['', ...this.warnings.map((w) => `Warning: ${w}.`)] : []),
      '',
      '| node | role | address | data path | availability | labels |',
      '| --- | --- | --- | --- | --- | --- |',
      ...this.nodes.map(row),
      '',
      '## Bootstrap',
      '',
      `1. On ${this.managers[0].name}, once: \`sh bootstrap.sh --init ${this.managers[0].name}\` initialises the swarm (without \`--init\` the script never starts a new one).`,
      t.type === 'file'
        ? `2. Store the tokens: on a manager, \`docker swarm join-token -q manager\` into ${t.managerTokenFile} on the other managers and \`docker swarm join-token -q worker\` into ${t.workerTokenFile} on the workers (root-only, mode 0600; never in Git).`
        : '2. Store the tokens (`docker swarm join-token -q manager|worker`, on a manager) in the secret store that the joinTokens commands read.',
      '3. On every other manager, then every worker: `sh bootstrap.sh NODE`.',
      "4. Once more on any manager, to apply the workers' labels and availability.",
      '',
      'The script is idempotent: a node already in the swarm is left in it, labels and availability are re-applied.',
      '',
      '## Secrets',
      '',
      `- Join tokens are read at run time from ${t.type === 'file' ? `${t.managerTokenFile} and ${t.workerTokenFile}` : 'the joinTokens commands'}; never written here. Rotate them with \`docker swarm join-token --rotate manager|worker\` after a token leaked.`,
      lock
        ? `- Autolock is on: a restarted manager stays locked until \`docker swarm unlock\` is given the key. The script stores the key ${lock.type === 'file' ? `in ${lock.path} (mode 0600); keep that path on storage other than the managers' own disks (a key next to the Raft data it protects protects nothing)` : 'with the autolock storeCommand'}; it is never written here or to Git.`
        : "- Autolock is off: the Raft data on the managers' disks is not encrypted with a key held elsewhere.",
      '',
      '## Firewall',
      '',
      `- \`swarm.nft\` (nftables, \`nft -f swarm.nft\`) or \`ufw.sh\` (ufw): ${SWARM_MANAGEMENT_PORT}/tcp to managers only, ${SWARM_GOSSIP_PORT}/tcp+udp and ${SWARM_DATA_PATH_PORT}/udp between cluster nodes only${this.overlayEncryption ? ', ESP (IP protocol 50) between cluster nodes for the encrypted overlay' : ''}.`,
      '',
    ].join('\n');
  }
}

/** The placement constraints of a service, as the scheduler sees them (node groups resolved). */
function placementConstraints(service: SwarmService): readonly string[] {
  return service.spec.placement.constraints;
}

interface ParsedConstraint {
  readonly attribute: 'hostname' | 'role' | 'label';
  readonly label?: string;
  readonly operator: '==' | '!=';
  readonly value: string;
}

/** Parses a constraint on a declared attribute; undefined for the ones the cluster cannot know (node.id, platform, engine labels). */
function parseConstraint(text: string): ParsedConstraint | undefined {
  const m = CONSTRAINT.exec(text);
  if (!m) return undefined;
  const [, key, operator, raw] = m;
  const value = raw.replace(/^(["'])(.*)\1$/, '$2');
  const op = operator as '==' | '!=';
  if (key === 'node.hostname') return { attribute: 'hostname', operator: op, value };
  if (key === 'node.role') return { attribute: 'role', operator: op, value };
  if (key.startsWith('node.labels.')) return { attribute: 'label', label: key.slice('node.labels.'.length), operator: op, value };
  return undefined;
}

/** Swarm's own matching: values compare case-insensitively and a missing label counts as an empty value. */
function matches(c: ParsedConstraint, n: ResolvedSwarmNode): boolean {
  const actual = c.attribute === 'hostname' ? n.name : c.attribute === 'role' ? n.role : (n.labels[c.label!] ?? '');
  const equal = actual.toLowerCase() === c.value.toLowerCase();
  return c.operator === '==' ? equal : !equal;
}

/** The canonical lower-case form of an IPv6 address, or undefined when it is not one (zones and ports refused). */
function parseIpv6(value: string): string | undefined {
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(value)) return undefined;
  let text = value.toLowerCase();
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    if (!IPV4.test(v4[1])) return undefined;
    const o = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}:${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === '' ? [] : s.split(':'));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  if ([...head, ...tail].some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) => g.replace(/^0+(?=.)/, ''));
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function dirname(p: string): string {
  return p.replace(/\/[^/]*$/, '') || '/';
}

/** Single-quotes a value for POSIX sh (values are validated first; quoting keeps the script safe regardless). */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
