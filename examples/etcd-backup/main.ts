// etcd snapshots every six hours on a three-node kubeadm control plane, copied to S3-compatible storage (required:
// a snapshot kept only on the node that took it is lost with that node), alerts when no backup has succeeded for
// two schedule periods, plus team1's access.
// Run: npx tsx examples/etcd-backup/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { Environment, EtcdBackup, PlatformPriorityClasses, ShipshapeApp, Stack, TeamAccess } from 'shipshape';

const stage = new Environment({ name: 'stage', kubernetesVersion: '1.30', controlPlane: { kind: 'kubeadm', nodes: 3 } });
const outdir = process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/etcd-backup';
const app = new ShipshapeApp({ outdir });
const stack = new Stack(app, 'stage', { environment: stage });

const tiers = new PlatformPriorityClasses(stack, 'priority-classes');
const backup = new EtcdBackup(stack, 'etcd-backup', {
  keep: 28,
  priorityClassName: tiers.names.critical,
  upload: { destination: 's3://acme-etcd-backups/stage', endpointUrl: 'https://minio.storage.example.com', credentialsSecret: 'etcd-backup-s3' },
  // kube-prometheus-stack runs in this cluster: the alerts also go out as a PrometheusRule.
  alerts: { prometheusOperator: true },
});
new TeamAccess(stack, 'team1', { namespace: 'team1', serviceAccounts: ['developer1'], preset: 'deployer' });

app.synth();
console.log(`etcd ${backup.etcdVersion}: snapshots in ${backup.snapshotDirectory}; restore steps in ${outdir}/stage/runbooks/etcd-backup-restore.md`);
console.log(`alerts when no backup has succeeded for ${(2 * backup.schedulePeriodSeconds) / 3600}h: ${outdir}/stage/monitoring/etcd-backup-alerts.rules.yml`);
