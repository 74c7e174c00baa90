import { App } from 'cdk8s';
import { DockerDaemonConfig, DockerHostRegistryMirror, DockerPruneSchedule, Environment, LABELS, Stack, SwarmCluster, SwarmProject, SwarmService } from '../lib';

// Release versions of the edge images.
const WEB_IMAGE = 'nginx:1.27.2-alpine';
// cAdvisor moved from google/cadvisor (frozen at v0.33) to gcr.io/cadvisor (docs/practice.md#cadvisor).
const CADVISOR_IMAGE = 'gcr.io/cadvisor/cadvisor:v0.49.1';

/** The reference Swarm environment: three to five edge hosts in one swarm, no Kubernetes. */
export const swarmEdge = new Environment({
  name: 'swarm-edge',
  replicas: 3,
  nodeGroups: [{ name: 'edge', minSize: 3, maxSize: 5 }],
});

/** What {@link buildSwarmPlatform} creates, for wiring and tests. */
export interface SwarmPlatform {
  readonly stack: Stack;
  readonly swarm: SwarmProject;
  readonly web: SwarmService;
  readonly cadvisor: SwarmService;
  readonly mirror: DockerHostRegistryMirror;
  readonly daemon: DockerDaemonConfig;
  readonly prune: DockerPruneSchedule;
  readonly cluster: SwarmCluster;
}

/**
 * The Swarm platform in one environment: a replicated web service behind the routing mesh, cAdvisor on every
 * node (global), the Docker Hub mirror on every node listening on 127.0.0.1 only, and the hosts' daemon.json
 * pointing at it, and a nightly prune of unused Docker objects. Output: `dist/<env>/swarm/docker-stack.yml`,
 * `dist/<env>/hosts/daemon.json`, `dist/<env>/hosts/registry/config.yml`, `dist/<env>/hosts/docker-prune.*`.
 */
export function buildSwarmPlatform(app: App, environment: Environment = swarmEdge): SwarmPlatform {
  const stack = new Stack(app, environment.name, { environment, labels: { [LABELS.partOf]: 'acme-edge' } });
  const swarm = new SwarmProject(stack, 'swarm', { name: 'edge' });

  const web = new SwarmService(swarm, 'web', {
    name: 'web',
    image: WEB_IMAGE,
    mode: { type: 'replicated', replicas: environment.replicas },
    ports: [{ target: 80, published: 80 }],
    networks: ['edge'],
    healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1/'] },
    // Rolling update: one task at a time, 10 s apart; start-first keeps every replica serving
    // (docs/practice.md#rolling-updates).
    update: { parallelism: 1, delay: '10s', order: 'start-first' },
    nodeGroup: 'edge',
    placement: { spread: ['node.labels.zone'], maxReplicasPerNode: 2 },
    resources: { cpuReservation: 0.25, memoryReservation: '64M', memoryLimit: '128M' },
  });

  // cAdvisor's documented container, as a global service: one agent per node, published in host mode so each
  // node's metrics are scraped from that node (docs/practice.md#cadvisor).
  const cadvisor = new SwarmService(swarm, 'cadvisor', {
    name: 'cadvisor',
    image: CADVISOR_IMAGE,
    mode: { type: 'global' },
    ports: [{ target: 8080, published: 8080, mode: 'host' }],
    mounts: [
      { type: 'bind', source: '/', target: '/rootfs', readOnly: true },
      { type: 'bind', source: '/var/run', target: '/var/run', readOnly: true },
      { type: 'bind', source: '/sys', target: '/sys', readOnly: true },
      { type: 'bind', source: '/var/lib/docker', target: '/var/lib/docker', readOnly: true },
      { type: 'bind', source: '/dev/disk', target: '/dev/disk', readOnly: true },
    ],
    healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1:8080/healthz'] },
    resources: { cpuReservation: 0.1, memoryReservation: '128M', memoryLimit: '256M' },
    exemptions: [
      {
        rule: 'docker-socket',
        reason:
          'cAdvisor reads container names and labels from the Docker API through /var/run/docker.sock (under the / and /var/run mounts); it is an infrastructure agent of the edge hosts and publishes only metrics',
      },
    ],
  });

  // It logs in to Docker Hub (higher pull limits, the account's private images), so only each host's own daemon
  // may reach it: a global service on the host network, bound to 127.0.0.1, with the login read from Swarm secrets.
  const mirror = new DockerHostRegistryMirror(swarm, 'registry-mirror', {
    access: 'host-local',
    credentials: { usernameSecret: 'dockerhub-username', passwordSecret: 'dockerhub-token' },
  });

  const daemon = new DockerDaemonConfig(stack, 'daemon', { registryMirrors: [mirror], metricsAddress: '127.0.0.1:9323' });
  // Nightly prune of what is unused and older than a day; volumes stay (docs/practice.md#host-maintenance).
  const prune = new DockerPruneSchedule(stack, 'prune');
  // Three managers, one per zone: a Raft majority of two survives the loss of any one (Docker's Swarm admin guide). They run
  // the edge workloads (labelled like the edge node group), so every placement constraint above is checked against them.
  const cluster = new SwarmCluster(stack, 'cluster', {
    name: 'edge',
    managers: ['a', 'b', 'c'].map((zone, i) => ({ name: `edge-${i + 1}`, address: `10.20.0.${11 + i}`, labels: { instancegroup: 'edge', zone } })),
    autolock: { type: 'command', storeCommand: 'vault kv put secret/swarm/edge unlock-key=-' },
  });
  return { stack, swarm, web, cadvisor, mirror, daemon, prune, cluster };
}
