import { Environment } from '../lib';

// Node groups follow the `instancegroup=webapi|batch` split (docs/practice.md#node-groups): web/API pods and CPU-heavy
// batch pods never share nodes.
const batchTaint = { key: 'instancegroup', value: 'batch', effect: 'NoSchedule' as const };

/**
 * The reference platform's environments, each on its own cluster (registered in Argo CD under these API server
 * URLs): dev and stage apply every merged change, prod waits for someone to sync it.
 */
export const environments: readonly Environment[] = [
  new Environment({
    name: 'dev',
    kubernetesVersion: '1.29',
    cluster: { server: 'https://api.dev.k8s.acme.internal:6443' },
    delivery: { sync: 'automated' },
    replicas: 1,
    nodeGroups: [
      { name: 'webapi', minSize: 1, maxSize: 3, instanceType: 't3.large' },
      { name: 'batch', minSize: 0, maxSize: 2, instanceType: 'c6i.large', taints: [batchTaint] },
    ],
  }),
  new Environment({
    name: 'stage',
    kubernetesVersion: '1.29',
    // A Cluster API workload cluster whose KubeadmControlPlane runs three control-plane nodes (stacked etcd).
    cluster: { server: 'https://api.stage.k8s.acme.internal:6443' },
    controlPlane: { kind: 'cluster-api', nodes: 3 },
    delivery: { sync: 'automated' },
    zones: ['eu-west-1a', 'eu-west-1b'],
    replicas: 2,
    nodeGroups: [
      { name: 'webapi', minSize: 2, maxSize: 6, instanceType: 'm6i.large' },
      { name: 'batch', minSize: 0, maxSize: 4, instanceType: 'c6i.xlarge', taints: [batchTaint] },
    ],
  }),
  new Environment({
    name: 'prod',
    kubernetesVersion: '1.29',
    // EKS; the approval step is a manual sync.
    cluster: { server: 'https://4F1C2A7E9B3D5A6C8E0F1A2B3C4D5E6F.gr7.eu-west-1.eks.amazonaws.com' },
    controlPlane: { kind: 'eks' },
    delivery: { sync: 'manual' },
    zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
    replicas: 3,
    // The cluster-autoscaler range is 3-10 nodes; pods scale inside it (docs/practice.md#autoscaling).
    autoscaling: { minReplicas: 3, maxReplicas: 10 },
    nodeGroups: [
      // Auto Scaling group names, as the cluster-autoscaler's --nodes flags need them.
      { name: 'webapi', minSize: 3, maxSize: 10, instanceType: 'm6i.xlarge', cloudGroupName: 'acme-prod-webapi' },
      { name: 'batch', minSize: 1, maxSize: 6, instanceType: 'c6i.2xlarge', taints: [batchTaint], cloudGroupName: 'acme-prod-batch' },
    ],
  }),
];

/** The environment called `name`; throws listing the known ones. */
export function environmentNamed(name: string): Environment {
  const found = environments.find((e) => e.name === name);
  if (!found) throw new Error(`unknown environment "${name}"; known: ${environments.map((e) => e.name).join(', ')}`);
  return found;
}
