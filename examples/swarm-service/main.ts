// A Swarm project: a replicated API behind the routing mesh with rolling updates that roll back on failure, and
// a global log agent, rendered to <outdir>/swarm-prod/swarm/docker-stack.yml.
// Run: npx tsx examples/swarm-service/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { Environment, ShipshapeApp, Stack, SwarmProject, SwarmService } from 'shipshape';

const env = new Environment({ name: 'swarm-prod', replicas: 4, nodeGroups: [{ name: 'app', minSize: 3, maxSize: 6 }] });
const app = new ShipshapeApp({ outdir: process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/swarm-service' });
const stack = new Stack(app, 'swarm-prod', { environment: env });
const swarm = new SwarmProject(stack, 'swarm', { name: 'shop' });

const api = new SwarmService(swarm, 'api', {
  name: 'api',
  image: 'ghcr.io/acme/shop-api:2.3.1',
  mode: { type: 'replicated', replicas: 4 },
  ports: [{ target: 8080, published: 80 }],
  networks: ['backend'],
  environment: { LOG_FORMAT: 'json' },
  secrets: [{ name: 'shop-db-password' }],
  configs: [{ name: 'settings', content: 'cache_ttl: 60\n', target: '/etc/shop/settings.yml' }],
  healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1:8080/healthz'] },
  // Rolling update: two tasks at a time, 10 s apart; a failing release rolls back by itself
  // (docs/practice.md#rolling-updates).
  update: { parallelism: 2, delay: '10s', failureAction: 'rollback', order: 'start-first' },
  nodeGroup: 'app',
  placement: { maxReplicasPerNode: 2 },
  resources: { cpuLimit: 1, memoryLimit: '512M', cpuReservation: 0.25, memoryReservation: '256M' },
  logging: { driver: 'fluentd', fluentd: '127.0.0.1:24224', tag: 'shop.{{.Name}}' },
});

new SwarmService(swarm, 'log-agent', {
  name: 'log-agent',
  image: 'fluent/fluentd:v1.17.1-1.0',
  mode: { type: 'global' },
  ports: [{ target: 24224, published: 24224, mode: 'host' }],
  healthcheck: { test: ['CMD-SHELL', 'nc -z 127.0.0.1 24224'] },
});

app.synth();
console.log(`${api.name}: ${api.spec.mode.type === 'replicated' ? api.spec.mode.replicas : 'global'} tasks; deploy with: ${swarm.deployCommand}`);
