// daemon.json for a fleet of standalone Docker hosts: log rotation, live-restore, faster pulls and a Docker Hub
// mirror (docs/practice.md#docker-daemon), written to <outdir>/docker-hosts/hosts/daemon.json.
// Run: npx tsx examples/docker-daemon-config/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { DockerDaemonConfig, Environment, ShipshapeApp, Stack } from 'shipshape';

const hosts = new Environment({ name: 'docker-hosts' });
const app = new ShipshapeApp({ outdir: process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/docker-daemon-config' });
const stack = new Stack(app, 'docker-hosts', { environment: hosts });

const daemon = new DockerDaemonConfig(stack, 'daemon', {
  // Rotate at 10 MB and keep 5 files per container (docs/practice.md#log-rotation); the defaults, spelled out.
  logging: { driver: 'json-file', maxSize: '10m', maxFile: 5 },
  // Standalone hosts (no Swarm): containers keep running while dockerd is upgraded.
  liveRestore: true,
  maxConcurrentDownloads: 5,
  maxConcurrentUploads: 8,
  registryMirrors: ['http://mirror.internal:5000'],
  defaultUlimits: { nofile: { soft: 65536, hard: 65536 } },
});

app.synth();
console.log(`daemon.json written to ${daemon.path}: ${JSON.stringify(daemon.toJson()['registry-mirrors'])}`);
