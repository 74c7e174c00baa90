// A Docker Hub pull-through cache twice: in a Kubernetes cluster (Deployment, PVC, Service, ConfigMap) and on
// Swarm hosts (config.yml + Swarm service), with each host's daemon.json wired to the host mirror's endpoint.
// Both log in to Docker Hub, so neither is open: the cluster's requires its own login (htpasswd), the hosts'
// listens on 127.0.0.1 of each host, for that host's daemon only.
// Run: npx tsx examples/registry-mirror/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { Size } from 'cdk8s';
import { DockerDaemonConfig, DockerHostRegistryMirror, Environment, RegistryMirror, ShipshapeApp, Stack, SwarmProject } from 'shipshape';

const app = new ShipshapeApp({ outdir: process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/registry-mirror' });

// Kubernetes: the cache lives on a 50 GiB claim; the Docker Hub login comes from the Secret "dockerhub" and
// clients log in with an entry of the Secret "registry-mirror-users" (key htpasswd, bcrypt).
const cluster = new Stack(app, 'prod', { environment: new Environment({ name: 'prod', kubernetesVersion: '1.29', nodeGroups: [{ name: 'webapi', minSize: 3, maxSize: 10 }] }) });
const inCluster = new RegistryMirror(cluster, 'mirror', { credentialsSecret: 'dockerhub', htpasswdSecret: 'registry-mirror-users', storage: { type: 'persistent', size: Size.gibibytes(50) } });

// Swarm hosts: a mirror on every host, bound to 127.0.0.1, and every host's daemon pulls Docker Hub images through its own.
const edge = new Stack(app, 'edge', { environment: new Environment({ name: 'edge', nodeGroups: [{ name: 'edge', minSize: 3, maxSize: 3 }] }) });
const swarm = new SwarmProject(edge, 'swarm');
const onHosts = new DockerHostRegistryMirror(swarm, 'mirror', { access: 'host-local', credentials: { usernameSecret: 'dockerhub-username', passwordSecret: 'dockerhub-token' } });
new DockerDaemonConfig(edge, 'daemon', { registryMirrors: [onHosts] });

app.synth();
console.log(`in-cluster mirror: ${inCluster.endpoint}`);
console.log(`host mirror: ${onHosts.endpoint} (proxies ${onHosts.remoteUrl})`);
