// etcd snapshots every six hours on a kubeadm control plane, copied to S3-compatible storage, plus team1's access.
// Run: npx tsx examples/etcd-backup/main.ts [outdir]   (or set OUTDIR)
import { App } from 'cdk8s';
import { Environment, Stack, formatSummary, synth } from '../../lib';
import { EtcdBackup, PlatformPriorityClasses, TeamAccess } from '../../lib/cluster';

const stage = new Environment({ name: 'stage', kubernetesVersion: '1.30' });
const app = new App();
const stack = new Stack(app, 'stage', { environment: stage });

const tiers = new PlatformPriorityClasses(stack, 'priority-classes');
const backup = new EtcdBackup(stack, 'etcd-backup', {
  keep: 28,
  priorityClassName: tiers.names.critical,
  upload: { destination: 's3://acme-etcd-backups/stage', endpointUrl: 'https://minio.storage.example.com', credentialsSecret: 'etcd-backup-s3' },
});
new TeamAccess(stack, 'team1', { namespace: 'team1', serviceAccounts: ['developer1'], preset: 'deployer' });

const outdir = process.argv[2] ?? process.env.OUTDIR ?? 'dist-examples/etcd-backup';
for (const summary of synth(app, { outdir })) console.log(formatSummary(summary));
console.log(`snapshots in ${backup.snapshotDirectory}; restore steps in ${outdir}/stage/runbooks/etcd-backup-restore.md`);
