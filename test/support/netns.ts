// Hosts of a test's own: one network namespace per host, each joined by a veth pair to a bridge that lives in
// a namespace of its own, so traffic between them never touches the machine's interfaces or any other address.
// Everything is created with names unique to the run and deleted by name in `destroy`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** One host: its namespace and the address the test gave it. */
export interface NetnsHost {
  /** Host name the test gives processes started in it. */
  readonly name: string;
  /** Network namespace name (`ip netns`). */
  readonly netns: string;
  /** Its IPv4 address on the test network. */
  readonly address: string;
}

function ip(args: string[]): void {
  const r = spawnSync('timeout', ['10', 'ip', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/**
 * A private /24 with hosts in their own namespaces. `prefix` keeps namespace and link names unique to the run
 * (at most 6 characters: Linux interface names hold 15).
 */
export class TestNetwork {
  public readonly hosts: NetnsHost[] = [];
  private readonly bridgeNs: string;
  private readonly created: string[] = [];

  constructor(
    private readonly prefix: string,
    private readonly subnet: string,
  ) {
    if (!/^[a-z][a-z0-9]{1,5}$/.test(prefix)) throw new Error(`namespace prefix ${prefix} must be 2-6 lower-case letters or digits`);
    if (!/^10\.\d{1,3}\.\d{1,3}$/.test(subnet)) throw new Error(`subnet ${subnet} must be the first three octets of a 10.x.y.0/24`);
    this.bridgeNs = `${prefix}-br`;
    ip(['netns', 'add', this.bridgeNs]);
    this.created.push(this.bridgeNs);
    ip(['-n', this.bridgeNs, 'link', 'set', 'lo', 'up']);
    ip(['-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
  }

  /** Adds a host with address `<subnet>.<octet>`, reachable from every other host of the network. */
  public add(name: string, octet: number): NetnsHost {
    const index = this.hosts.length + 1;
    const netns = `${this.prefix}-h${index}`;
    ip(['netns', 'add', netns]);
    this.created.push(netns);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    const inside = `${this.prefix}v${index}`;
    const outside = `${this.prefix}p${index}`;
    ip(['link', 'add', inside, 'netns', netns, 'type', 'veth', 'peer', 'name', outside, 'netns', this.bridgeNs]);
    ip(['-n', netns, 'link', 'set', inside, 'name', 'eth0']);
    const address = `${this.subnet}.${octet}`;
    ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', this.bridgeNs, 'link', 'set', outside, 'master', 'br0']);
    ip(['-n', this.bridgeNs, 'link', 'set', outside, 'up']);
    const host = { name, netns, address };
    this.hosts.push(host);
    return host;
  }

  /**
   * The command line that runs `command` inside a host: its network namespace (entered with nsenter, which,
   * unlike `ip netns exec`, keeps the cgroup mounts dockerd needs), a private mount namespace (whatever the
   * daemon mounts goes away with it) and its own host name. Every step execs, so the PID is the command's.
   */
  public wrap(host: NetnsHost, command: string[]): string[] {
    return ['nsenter', `--net=/run/netns/${host.netns}`, '--', 'unshare', '--uts', '--mount', 'sh', '-c', 'hostname "$0" && exec "$@"', host.name, ...command];
  }

  /** A short command run inside a host's network namespace only, under `timeout`. */
  public exec(host: NetnsHost, seconds: number, command: string[], input?: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync('timeout', ['--kill-after=5', String(seconds), 'nsenter', `--net=/run/netns/${host.netns}`, '--', ...command], { encoding: 'utf8', input });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Deletes every namespace this network created (their veth ends and the bridge go with them). */
  public destroy(): string[] {
    const problems: string[] = [];
    for (const ns of this.created.reverse()) {
      if (!fs.existsSync(`/run/netns/${ns}`)) continue;
      const r = spawnSync('timeout', ['10', 'ip', 'netns', 'delete', ns], { encoding: 'utf8' });
      if (r.status !== 0) problems.push(`ip netns delete ${ns}: ${r.stderr}`);
    }
    this.created.length = 0;
    return problems;
  }
}
