import { App } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Stack, SynthesizedStack, formatSummary, synthesizeStack } from '../../lib';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { SwarmCluster, SwarmClusterProps, SwarmNode, SwarmProject, SwarmService, SwarmServiceProps, managerFailuresTolerated } from '../../lib/swarm';
import { fileOf, hostStack, synthHost } from '../support/hosts';
import { shipshapeError } from '../support/errors';

const THREE: SwarmNode[] = [
  { name: 'edge-1', address: '10.0.0.11', labels: { zone: 'a' } },
  { name: 'edge-2', address: '10.0.0.12', labels: { zone: 'b' } },
  { name: 'edge-3', address: '10.0.0.13', labels: { zone: 'c' } },
];
const WORKER: SwarmNode = { name: 'worker-1', address: '10.0.0.21', dataPathAddress: '10.1.0.21', labels: { zone: 'a', instancegroup: 'edge' } };

function managers(n: number): SwarmNode[] {
  return Array.from({ length: n }, (_, i) => ({ name: `m${i + 1}`, address: `10.0.1.${i + 1}` }));
}

function cluster(props: Partial<SwarmClusterProps> = {}, stack: Stack = hostStack()): SwarmCluster {
  return new SwarmCluster(stack, 'cluster', { managers: THREE, ...props });
}

/** Synthesizes a cluster with services, each given by its placement constraints. */
function withServices(props: Partial<SwarmClusterProps>, services: Record<string, string[]>): SynthesizedStack {
  return synthHost((stack) => {
    const project = new SwarmProject(stack, 'swarm');
    for (const [name, constraints] of Object.entries(services)) {
      const s: SwarmServiceProps = { name, image: 'nginx:1.27.2', placement: { constraints } };
      new SwarmService(project, name, s);
    }
    cluster(props, stack);
  });
}

function files(props: Partial<SwarmClusterProps> = {}) {
  const result = synthHost((stack) => void cluster(props, stack));
  expect(result.problems).toEqual([]);
  return {
    result,
    bootstrap: fileOf(result, 'hosts/swarm/bootstrap.sh'),
    nft: fileOf(result, 'hosts/swarm/swarm.nft'),
    ufw: fileOf(result, 'hosts/swarm/ufw.sh'),
    readme: fileOf(result, 'hosts/swarm/README.md'),
  };
}

describe('SwarmCluster: Raft quorum', () => {
  it.each([1, 3, 5, 7, 9])('accepts %i managers and states the failures they tolerate', (n) => {
    const c = cluster({ managers: managers(n) });
    expect(c.faultTolerance).toBe((n - 1) / 2);
    const { readme } = files({ managers: managers(n) });
    expect(readme).toContain(`the cluster tolerates ${(n - 1) / 2} manager failure${n === 3 ? '' : 's'}`);
    expect(readme).toContain(`The Raft majority is ${(n + 1) / 2} of ${n}`);
  });

  it.each([2, 4, 6])('refuses %i managers and names the fix', (n) => {
    const e = shipshapeError(() => cluster({ managers: managers(n) }));
    expect(e.path).toBe('edge/cluster');
    expect(e.message).toContain(`${n} managers tolerate no more failures than ${n - 1}`);
    expect(e.fix).toContain(`declare ${n - 1} or ${n + 1} managers`);
  });

  it('refuses a cluster without managers', () => {
    expect(shipshapeError(() => cluster({ managers: [] })).message).toContain('at least one manager');
  });

  it('warns above seven managers and for a single one, in the construct and the README', () => {
    expect(cluster({ managers: managers(7) }).warnings).toEqual([]);
    const nine = cluster({ managers: managers(9) });
    expect(nine.warnings).toHaveLength(1);
    expect(nine.warnings[0]).toContain('at most 7');
    expect(files({ managers: managers(9) }).readme).toContain('Warning: 9 managers');
    expect(cluster({ managers: managers(1) }).warnings[0]).toContain('tolerates no manager failure');
  });

  it('puts the fault tolerance and the warnings in the synth summary', () => {
    const summary = (n: number) => {
      const result = synthHost((stack) => void cluster({ managers: managers(n) }, stack));
      return formatSummary({ environment: 'edge', objects: 0, warnings: result.policy.warnings, exemptions: [], notes: result.notes, directory: 'dist/edge' });
    };
    const three = summary(3);
    expect(three).toContain('note    SwarmCluster edge: 3 managers, 0 workers: tolerates 1 manager failure (Raft majority 2)');
    expect(three).toContain('0 warnings');
    expect(three).not.toContain('warning [');
    const nine = summary(9);
    expect(nine).toContain('tolerates 4 manager failures (Raft majority 5)');
    expect(nine).toMatch(/warning \[swarm-managers\] SwarmCluster edge: 9 managers: .*at most 7/);
  });

  it('tolerates (n - 1) / 2 failures for every odd n (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), (k) => {
        const n = 2 * k + 1;
        const t = managerFailuresTolerated(n);
        // A majority survives t failures and not t + 1.
        return n - t > n / 2 && n - (t + 1) <= n / 2;
      }),
    );
  });

  it('drains managers when asked, so workloads avoid them', () => {
    const c = cluster({ drainManagers: true, workers: [WORKER] });
    expect(c.managers.every((m) => m.availability === 'drain')).toBe(true);
    expect(c.workers[0].availability).toBe('active');
    const { bootstrap } = files({ drainManagers: true, workers: [WORKER] });
    expect(bootstrap).toContain("LABELS='zone=a'; apply_node edge-1 drain");
    expect(bootstrap).toContain("LABELS='instancegroup=edge zone=a'; apply_node worker-1 active");
  });
});

describe("SwarmCluster: placement constraints of the environment's services", () => {
  const props = { workers: [WORKER] };

  it.each([
    ['node.labels.zone == b'],
    ['node.labels.zone != a'],
    ['node.labels.instancegroup == edge'],
    ['node.labels.zone == B'],
    ['node.role == manager'],
    ['node.role == worker'],
    ['node.hostname == edge-3'],
    ['node.hostname != edge-3'],
    ['node.labels.disk != ssd'],
    // Attributes the cluster does not declare are left to the scheduler.
    ['node.platform.os == linux'],
    ['engine.labels.gpu == true'],
  ])('accepts %s', (constraint) => {
    expect(withServices(props, { web: [constraint] }).problems).toEqual([]);
  });

  it.each([
    ['node.labels.zone == d', 'zone=a'],
    ['node.labels.disk == ssd', 'zone=a'],
    ['node.hostname == edge-9', 'edge-1'],
    // Label keys are case-sensitive in Swarm (values are not).
    ['node.labels.INSTANCEGROUP == edge', 'instancegroup=edge'],
  ])('refuses %s, naming the service, the constraint and the declared labels', (constraint, declared) => {
    const { problems } = withServices(props, { web: [constraint] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('edge/cluster:');
    expect(problems[0]).toContain(`placement constraint "${constraint}" of SwarmService web`);
    expect(problems[0]).toContain(declared);
    expect(problems[0]).toContain('Fix: label a node of SwarmCluster edge/cluster');
  });

  it('refuses constraints that no single node meets together', () => {
    const { problems } = withServices(props, { web: ['node.role == manager', 'node.labels.instancegroup == edge'] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('never all by one node');
    expect(problems[0]).toContain('["node.role == manager","node.labels.instancegroup == edge"]');
  });

  it('counts drained managers out, and says so', () => {
    expect(withServices({ ...props, drainManagers: false }, { web: ['node.role == manager'] }).problems).toEqual([]);
    const { problems } = withServices({ ...props, drainManagers: true }, { web: ['node.role == manager'] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('it matches only managers, which drainManagers drains');
  });

  it('checks the constraints a node group adds', () => {
    const ok = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm');
      new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2', nodeGroup: 'edge' });
      cluster({ managers: THREE.map((n) => ({ ...n, labels: { ...n.labels, instancegroup: 'edge' } })) }, stack);
    });
    expect(ok.problems).toEqual([]);
    const missing = synthHost((stack) => {
      const project = new SwarmProject(stack, 'swarm');
      new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2', nodeGroup: 'edge' });
      cluster({}, stack);
    });
    expect(missing.problems.join('\n')).toContain('placement constraint "node.labels.instancegroup == edge" of SwarmService web');
  });

  it('agrees with a brute-force reading of every == / != label constraint (property)', () => {
    const zones = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.constantFrom('==', '!='), fc.subarray(zones.slice(0, 3), { minLength: 1 }), (zone, op, declared) => {
        const nodes = declared.map((z, i) => ({ name: `n${i}`, address: `10.0.2.${i + 1}`, labels: { zone: z } }));
        const managersOnly = nodes.length % 2 === 1 ? nodes : nodes.slice(0, 1);
        const workers = nodes.length % 2 === 1 ? [] : nodes.slice(1);
        const result = withServices({ managers: managersOnly, workers }, { web: [`node.labels.zone ${op} ${zone}`] });
        const satisfiable = nodes.some((n) => (op === '==' ? n.labels.zone === zone : n.labels.zone !== zone));
        return result.problems.length === (satisfiable ? 0 : 1);
      }),
      { numRuns: 60 },
    );
  });
});

describe('SwarmCluster: bootstrap script', () => {
  it('initialises on the first manager only when inactive and no manager token is stored, and joins the others', () => {
    const { bootstrap } = files({ workers: [WORKER] });
    expect(bootstrap.startsWith('#!/bin/sh\n')).toBe(true);
    expect(bootstrap).toContain('set -eu');
    expect(bootstrap).toContain('FIRST_MANAGER=edge-1');
    expect(bootstrap).toContain("MANAGER_ENDPOINTS='10.0.0.11:2377 10.0.0.12:2377 10.0.0.13:2377'");
    // Only --init, on the first manager, starts a swarm; it refuses when a manager token shows the swarm exists.
    expect(bootstrap).toContain('if [ "${1:-}" = --init ]; then INIT=1; shift; fi');
    expect(bootstrap).toContain('if [ "$INIT" = 1 ] && [ "$NODE" != "$FIRST_MANAGER" ]; then');
    expect(bootstrap).toMatch(/if \[ "\$INIT" = 1 \]; then\n\s+if read_token manager >\/dev\/null 2>&1; then\n[^\n]*run without --init to join it" >&2\n\s+exit 1/);
    expect(bootstrap).toContain('docker swarm init --advertise-addr "$ADDR" --listen-addr "$LISTEN" --data-path-addr "$DATA_ADDR" >/dev/null');
    expect(bootstrap).toContain('docker swarm join --token "$token"');
    expect(bootstrap).toContain("  worker-1) ROLE=worker; ADDR='10.0.0.21'; LISTEN='10.0.0.21:2377'; DATA_ADDR='10.1.0.21' ;;");
    expect(bootstrap).toContain('active) echo "$NODE: already in the swarm" ;;');
    // Labels and availability are applied from managers, for every declared node.
    for (const n of [...THREE, WORKER]) expect(bootstrap).toMatch(new RegExp(`apply_node ${n.name} active$`, 'm'));
  });

  it('reads the join tokens from the declared files, or runs the declared commands', () => {
    const fromFiles = files({ joinTokens: { type: 'file', managerTokenFile: '/srv/swarm/m', workerTokenFile: '/srv/swarm/w' } }).bootstrap;
    expect(fromFiles).toContain("manager) file='/srv/swarm/m' ;;");
    expect(fromFiles).toContain("*) file='/srv/swarm/w' ;;");
    const fromStore = files({
      joinTokens: { type: 'command', managerTokenCommand: 'vault kv get -field=manager secret/swarm/edge', workerTokenCommand: 'vault kv get -field=worker secret/swarm/edge' },
    }).bootstrap;
    expect(fromStore).toContain('manager) vault kv get -field=manager secret/swarm/edge ;;');
    expect(fromStore).toContain('*) vault kv get -field=worker secret/swarm/edge ;;');
    // The default is a root-only directory outside any checkout.
    expect(files().bootstrap).toContain("manager) file='/etc/docker/swarm/manager-token' ;;");
  });

  it('turns autolock on from a manager and stores the key where it was declared, never printing it', () => {
    const off = files().bootstrap;
    expect(off).not.toContain('autolock');
    const { bootstrap, readme } = files({ autolock: { type: 'file', path: '/mnt/keys/edge-unlock' } });
    expect(bootstrap).toContain('docker swarm update --autolock=true >/dev/null');
    // A key that could not be stored turns autolock off again, so a restart cannot lock the managers out.
    expect(bootstrap).toContain('if ! key=$(docker swarm unlock-key -q) || [ -z "$key" ] || ! printf \'%s\\n\' "$key" | store_unlock_key; then\n    docker swarm update --autolock=false >/dev/null');
    expect(bootstrap).toContain("( umask 077 && mkdir -p '/mnt/keys' && cat > '/mnt/keys/edge-unlock' )");
    expect(readme).toContain('Autolock is on');
    expect(readme).toContain('/mnt/keys/edge-unlock');
    const store = files({ autolock: { type: 'command', storeCommand: 'vault kv put secret/swarm/edge unlock-key=-' } }).bootstrap;
    expect(store).toContain('store_unlock_key() {\n  vault kv put secret/swarm/edge unlock-key=-\n}');
  });

  it('never sends a docker command that prints a secret to the script output', () => {
    const { bootstrap } = files({ autolock: { type: 'file', path: '/mnt/keys/k' } });
    for (const line of bootstrap.split('\n').filter((l) => /^\s*(if )?docker swarm (init|join|update) /.test(l))) expect(line).toMatch(/>\/dev\/null/);
    expect(bootstrap.split('\n').filter((l) => /^\s*(if )?docker swarm (init|join|update) /.test(l))).toHaveLength(4);
    expect(bootstrap).not.toMatch(/echo[^\n]*\$(token|key)/);
  });

  it('brackets IPv6 endpoints', () => {
    const { bootstrap } = files({ managers: [{ name: 'v6-1', address: 'FD00:0:0::11' }] });
    expect(bootstrap).toContain("ADDR='fd00::11'; LISTEN='[fd00::11]:2377'");
  });
});

describe('SwarmCluster: firewall files', () => {
  it('opens 2377/tcp to managers only, gossip and VXLAN between nodes only (nftables)', () => {
    const { nft } = files({ workers: [WORKER] });
    expect(nft).toContain('table inet swarm_edge {');
    expect(nft).toMatch(/set managers_v4 \{\n\t\ttype ipv4_addr\n\t\telements = \{ 10\.0\.0\.11, 10\.0\.0\.12, 10\.0\.0\.13 \}/);
    expect(nft).toMatch(/set nodes_v4 \{\n\t\ttype ipv4_addr\n\t\telements = \{ 10\.0\.0\.11, 10\.0\.0\.12, 10\.0\.0\.13, 10\.0\.0\.21, 10\.1\.0\.21 \}/);
    expect(nft).toContain('ip daddr @managers_v4 ip saddr @nodes_v4 tcp dport 2377 accept');
    expect(nft).toContain('ip saddr @nodes_v4 tcp dport 7946 accept');
    expect(nft).toContain('ip saddr @nodes_v4 udp dport { 7946, 4789 } accept');
    expect(nft).toContain('tcp dport { 2377, 7946 } drop');
    expect(nft).toContain('udp dport { 7946, 4789 } drop');
    expect(nft).not.toContain('esp');
    // Drops come after every accept.
    expect(nft.lastIndexOf('accept')).toBeLessThan(nft.indexOf('drop'));
  });

  it('lets ESP through between nodes only when the overlay is encrypted', () => {
    const { nft, ufw, readme } = files({ overlayEncryption: true });
    expect(nft).toContain('ip saddr @nodes_v4 meta l4proto esp accept');
    expect(nft).toContain('meta l4proto esp drop');
    expect(ufw).toContain("ufw allow proto esp from 10.0.0.12 comment 'swarm encrypted overlay'");
    expect(readme).toContain('ESP (IP protocol 50)');
    expect(files().ufw).not.toContain('esp');
  });

  it('writes ufw rules that reach 2377 only at manager addresses, and denies the rest', () => {
    const { ufw } = files({ workers: [WORKER] });
    expect(ufw).toContain("ufw allow proto tcp from 10.0.0.21 to 10.0.0.11 port 2377 comment 'swarm management'");
    expect(ufw).not.toMatch(/to 10\.0\.0\.21 port 2377/);
    expect(ufw).toContain("ufw allow proto udp from 10.1.0.21 to any port 4789 comment 'swarm overlay'");
    expect(ufw).toContain("ufw deny proto tcp to any port 2377 comment 'swarm management from elsewhere'");
    expect(ufw.lastIndexOf('ufw allow')).toBeLessThan(ufw.indexOf('ufw deny'));
  });

  it('writes IPv6 sets for IPv6 nodes', () => {
    const { nft } = files({ managers: [{ name: 'v6-1', address: 'fd00::11' }] });
    expect(nft).toContain('ip6 daddr @managers_v6 ip6 saddr @nodes_v6 tcp dport 2377 accept');
    expect(nft).not.toContain('nodes_v4');
  });
});

describe('SwarmCluster: hostile input is refused with path, value and fix', () => {
  it.each([
    ['10.0.0.1; rm -rf /'],
    ['$(reboot)'],
    ['10.0.0.256'],
    ['010.0.0.1'],
    ['10.0.0.1:2377'],
    ['eth0'],
    ['0.0.0.0'],
    ['224.0.0.1'],
    ['::'],
    ['fe80::1%eth0'],
    ['[fd00::1]'],
    ['1:2:3:4:5:6:7:8:9'],
    ['10.0.0.1\n'],
    [''],
  ])('refuses address %j', (address) => {
    const e = shipshapeError(() => cluster({ managers: [{ name: 'm1', address }] }));
    expect(e.path).toBe('edge/cluster');
    expect(e.message).toContain('managers[0].address');
    expect(e.value).toBe(address);
    expect(e.fix).toContain('IPv4 or IPv6 address');
  });

  it.each([['node.1;id'], ['-rf'], ["m'1"], ['m 1'], ['$(x)'], ['']])('refuses node name %j', (name) => {
    const e = shipshapeError(() => cluster({ managers: [{ name, address: '10.0.0.1' }] }));
    expect(e.message).toContain("managers[0].name must be the node's host name");
  });

  it.each([
    [{ 'zone;id': 'a' }, 'has a key'],
    [{ zone: "a'; reboot; '" }, 'labels.zone must be'],
    [{ zone: '$(id)' }, 'labels.zone must be'],
    [{ zone: '' }, 'labels.zone must be'],
    [{ zone: 'a b' }, 'labels.zone must be'],
  ])('refuses labels %j', (labels, message) => {
    const e = shipshapeError(() => cluster({ managers: [{ name: 'm1', address: '10.0.0.1', labels: labels as Record<string, string> }] }));
    expect(e.message).toContain(message);
  });

  it('refuses token and key paths that are relative or climb', () => {
    for (const file of ['secrets/manager-token', '/etc/../tmp/x', '/etc/swarm/$(id)', "/etc/swarm/'x"]) {
      const e = shipshapeError(() => cluster({ joinTokens: { type: 'file', managerTokenFile: file, workerTokenFile: '/etc/swarm/w' } }));
      expect(e.message).toContain('joinTokens.managerTokenFile must be an absolute path');
      expect(e.value).toBe(file);
    }
    expect(shipshapeError(() => cluster({ autolock: { type: 'file', path: 'unlock.key' } })).message).toContain('autolock.path must be an absolute path');
    expect(shipshapeError(() => cluster({ joinTokens: { type: 'file', managerTokenFile: '/etc/s/t', workerTokenFile: '/etc/s/t' } })).message).toContain('the same file');
  });

  it('refuses multi-line commands', () => {
    const e = shipshapeError(() => cluster({ joinTokens: { type: 'command', managerTokenCommand: 'vault read x\nreboot', workerTokenCommand: 'vault read y' } }));
    expect(e.message).toContain('joinTokens.managerTokenCommand must be one line of shell');
  });

  it('refuses duplicate names and addresses, and loopback in a multi-node cluster', () => {
    expect(shipshapeError(() => cluster({ workers: [{ name: 'EDGE-1', address: '10.0.0.99' }] })).message).toContain('declared twice');
    expect(shipshapeError(() => cluster({ workers: [{ name: 'w', address: '10.0.0.11' }] })).message).toContain('advertise the same address');
    expect(shipshapeError(() => cluster({ workers: [{ name: 'w', address: '127.0.0.1' }] })).message).toContain('loopback');
    expect(cluster({ managers: [{ name: 'solo', address: '127.0.0.1' }] }).managers[0].address).toBe('127.0.0.1');
  });

  it('refuses a second cluster in the environment', () => {
    const stack = hostStack();
    cluster({}, stack);
    expect(shipshapeError(() => new SwarmCluster(stack, 'other', { managers: managers(1) })).message).toContain('already declares a SwarmCluster');
  });
});

describe('SwarmCluster: secrets never reach the output', () => {
  const TOKEN = 'SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx';
  const KEY = 'SWMKEY-1-7c37Cc8654o6p38HnroywCi19pllOnGtbdZEgtKxZu8';

  it('refuses a token or key pasted into a command, without echoing it', () => {
    for (const make of [
      () => cluster({ joinTokens: { type: 'command', managerTokenCommand: `echo ${TOKEN}`, workerTokenCommand: 'vault read y' } }),
      () => cluster({ autolock: { type: 'command', storeCommand: `test "$(cat)" = ${KEY}` } }),
    ]) {
      const e = shipshapeError(make);
      expect(e.message).toContain('holds a Swarm join token or unlock key');
      expect(e.message).not.toContain('SWMTKN-1-3pu6');
      expect(e.message).not.toContain('SWMKEY-1-7c37');
    }
  });

  it('writes no token, key or credential-named value into any file, whatever the configuration', () => {
    for (const props of [{}, { autolock: { type: 'file', path: '/mnt/k' } as const, overlayEncryption: true, workers: [WORKER] }]) {
      const { result } = files(props);
      const own = result.files.filter((f) => f.path.startsWith('hosts/swarm/'));
      expect(own.map((f) => f.path)).toEqual(['hosts/swarm/README.md', 'hosts/swarm/bootstrap.sh', 'hosts/swarm/swarm.nft', 'hosts/swarm/ufw.sh']);
      for (const f of own) expect(f.content).not.toMatch(/SWM(TKN|KEY)-/);
    }
  });

  it('writes the same bytes on every synth', () => {
    const a = files({ workers: [WORKER], overlayEncryption: true }).result.files;
    const b = files({ workers: [WORKER], overlayEncryption: true }).result.files;
    expect(a).toEqual(b);
  });
});

describe('SwarmCluster in the reference swarm-edge environment', () => {
  it('declares three labelled managers that meet every placement constraint of the edge services', () => {
    const platform = buildSwarmPlatform(new App());
    const result = synthesizeStack(platform.stack);
    expect(result.problems).toEqual([]);
    expect(platform.cluster.managers.map((m) => `${m.name} ${m.labels.zone}`)).toEqual(['edge-1 a', 'edge-2 b', 'edge-3 c']);
    expect(platform.cluster.faultTolerance).toBe(1);
    expect(platform.web.spec.placement.constraints).toContain('node.labels.instancegroup == edge');
    expect(fileOf(result, 'hosts/swarm/README.md')).toContain('the cluster tolerates 1 manager failure');
    expect(fileOf(result, 'hosts/swarm/bootstrap.sh')).toContain('  vault kv put secret/swarm/edge unlock-key=-');
  });
});
