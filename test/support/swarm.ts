import { App } from 'cdk8s';
import { Environment, Stack, SynthesizedStack, synthesizeStack } from '../../lib';
import { renderFiles, writeFilesAtomically } from '../../lib/core/writer';
import { DockerDaemonConfig } from '../../lib/docker';
import { DockerHostRegistryMirror } from '../../lib/registry';
import { SwarmService, SwarmProject } from '../../lib/swarm';

/** Settings that differ per run of the real-tool test. */
export interface SwarmTestSettings {
  /** Image of the web service (local/web:1, :2, or the broken :3). */
  readonly webImage: string;
  /** Host port of the front proxy. */
  readonly frontPort: number;
  /** Port of the registry mirror process on the host. */
  readonly mirrorPort: number;
}

/** Stack name used by the tests for `docker stack deploy`. */
export const TEST_STACK = 't';
export const WEB_REPLICAS = 3;
export const UPDATE_DELAY_SECONDS = 2;
export const TEST_NOFILE = { soft: 8192, hard: 16384 };

/**
 * The forwarder the front service runs as a CGI script. This engine has no IPVS, so Swarm's virtual IPs and
 * ingress routing mesh cannot work here; the web service uses DNS round-robin (endpoint_mode dnsrr) and this
 * script resolves every healthy task from Swarm's DNS and tries them in random order, like a load balancer
 * retrying the next upstream. (busybox-static's wget crashes resolving names, so nslookup and nc do the work.)
 */
export const FRONT_CGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
for ip in $(nslookup web 127.0.0.11 2>/dev/null | sed -n 's/^Address: *\\([0-9.]*\\)$/\\1/p' | shuf); do
  body=$(printf 'GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n' | nc -w 2 "$ip" 8080 2>/dev/null | tail -n 1)
  case "$body" in web*) echo "$body"; exit 0;; esac
done
echo "no upstream answered"
`;

/** The environment of the real-tool test: one Swarm node. */
export function swarmTestEnvironment(): Environment {
  return new Environment({ name: 'swarm-test', replicas: WEB_REPLICAS, nodeGroups: [{ name: 'local', minSize: 1, maxSize: 1 }] });
}

/** Builds the test stack: replicated busybox httpd web service, a global agent, a front proxy, the mirror config and daemon.json. */
export function buildSwarmTestStack(settings: SwarmTestSettings): { stack: Stack; daemon: DockerDaemonConfig; mirror: DockerHostRegistryMirror; swarm: SwarmProject } {
  const stack = new Stack(new App(), 'swarm-test', { environment: swarmTestEnvironment() });
  const swarm = new SwarmProject(stack, 'swarm', { name: TEST_STACK, withRegistryAuth: false });
  new SwarmService(swarm, 'web', {
    name: 'web',
    image: settings.webImage,
    // Images carrying /etc/broken never start httpd, so their healthcheck fails: the rollback test's bad release.
    command: ['sh', '-c', 'test -e /etc/broken && exec sleep 600; exec httpd -f -p 8080 -h /www'],
    mode: { type: 'replicated', replicas: WEB_REPLICAS },
    endpointMode: 'dnsrr',
    networks: ['edge'],
    healthcheck: { test: ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/'], interval: '1s', timeout: '1s', retries: 2, startPeriod: '1s' },
    update: { parallelism: 1, delay: `${UPDATE_DELAY_SECONDS}s`, monitor: '3s', order: 'start-first', failureAction: 'rollback' },
    rollback: { parallelism: 0, delay: '0s', monitor: '2s' },
    restart: { condition: 'any', delay: '1s' },
    stopGracePeriod: '2s',
    resources: { cpuReservation: 0.05, memoryReservation: '16M', memoryLimit: '64M' },
  });
  new SwarmService(swarm, 'agent', {
    name: 'agent',
    image: 'local/web:1',
    command: ['sleep', '1000000'],
    mode: { type: 'global' },
    stopGracePeriod: '1s',
    resources: { cpuReservation: 0.05, memoryReservation: '16M', memoryLimit: '32M' },
  });
  new SwarmService(swarm, 'front', {
    name: 'front',
    image: 'local/web:1',
    command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    mode: { type: 'global' },
    // Host mode: the routing mesh needs IPVS, which this kernel lacks; the front answers on its own node only.
    ports: [{ target: 8080, published: settings.frontPort, mode: 'host' }],
    networks: ['edge'],
    configs: [{ name: 'forwarder', content: FRONT_CGI, target: '/www/cgi-bin/web', mode: 0o555 }],
    stopGracePeriod: '1s',
    resources: { cpuReservation: 0.05, memoryReservation: '16M', memoryLimit: '64M' },
  });
  // The Docker Hub mirror of these hosts, run by the test as a host process from the synthesized config.yml.
  const mirror = new DockerHostRegistryMirror(stack, 'mirror', { swarm: false, port: settings.mirrorPort });
  const daemon = new DockerDaemonConfig(stack, 'daemon', {
    registryMirrors: [mirror],
    // The isolated engine's recipe: vfs works on any filesystem; no iptables rules or docker0 on a shared machine.
    storageDriver: 'vfs',
    iptables: false,
    bridge: 'none',
    // Containers cannot get more open files than dockerd has, and this machine caps processes at 20000
    // (production hosts run dockerd with LimitNOFILE=infinity, where the 65536 default applies).
    defaultUlimits: { nofile: { soft: TEST_NOFILE.soft, hard: TEST_NOFILE.hard } },
  });
  return { stack, daemon, mirror, swarm };
}

/** Synthesizes the test stack into `outdir`; throws on any problem. */
export function writeSwarmTestStack(outdir: string, settings: SwarmTestSettings): SynthesizedStack {
  const { stack } = buildSwarmTestStack(settings);
  const result = synthesizeStack(stack);
  if (result.problems.length > 0) throw new Error(result.problems.join('\n'));
  writeFilesAtomically(outdir, renderFiles([result]));
  return result;
}
