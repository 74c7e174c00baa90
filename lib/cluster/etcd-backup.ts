import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel, assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { exempt } from '../core/policy/exemptions';
import { imageReference } from '../core/policy/rules';
import { Stack } from '../core/stack';
import { KUBE_SYSTEM, addonLabels, resources } from './support';

/** Client certificate files etcdctl presents to etcd, on the control-plane node. */
export interface EtcdCertificates {
  /**
   * Host directory holding the files; mounted read-only.
   * @default '/etc/kubernetes/pki/etcd' (kubeadm)
   */
  readonly directory?: string;
  /**
   * CA file name in `directory`.
   * @default 'ca.crt'
   */
  readonly ca?: string;
  /**
   * Client certificate file name in `directory`.
   * @default 'server.crt' (the notes' `etcdctl snapshot save` example)
   */
  readonly cert?: string;
  /**
   * Client key file name in `directory`.
   * @default 'server.key'
   */
  readonly key?: string;
}

/** Copy of every snapshot to S3-compatible object storage. */
export interface SnapshotUpload {
  /** Destination, `s3://bucket/prefix`. Expire old objects with a bucket lifecycle rule. */
  readonly destination: string;
  /**
   * Endpoint of an S3-compatible store (MinIO, Ceph, GCS interoperability).
   * @default - AWS S3
   */
  readonly endpointUrl?: string;
  /**
   * Secret (by name, in kube-system) whose keys become the uploader's environment, e.g.
   * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
   * @default - none (IRSA through roleArn, or the node's instance profile)
   */
  readonly credentialsSecret?: string;
  /**
   * IAM role for IRSA, set as `eks.amazonaws.com/role-arn` on the backup ServiceAccount.
   * @default - none
   */
  readonly roleArn?: string;
  /**
   * Uploader image (AWS CLI v2).
   * @default AWS_CLI_IMAGE
   */
  readonly image?: string;
}

/** Properties of an {@link EtcdBackup}. */
export interface EtcdBackupProps {
  /**
   * Name of the CronJob and ServiceAccount.
   * @default 'etcd-backup'
   */
  readonly name?: string;
  /**
   * Cron schedule (UTC).
   * @default '0 *\/6 * * *' (every six hours: at most six hours of cluster changes lost)
   */
  readonly schedule?: string;
  /**
   * Snapshots kept on the node; older ones are deleted after each new snapshot.
   * @default 12 (three days at the default schedule)
   */
  readonly keep?: number;
  /**
   * Host directory on the control-plane node that holds the snapshots.
   * @default '/var/backups/etcd'
   */
  readonly snapshotDirectory?: string;
  /**
   * etcd client endpoint; the pod uses the host network, so loopback reaches the local member.
   * @default 'https://127.0.0.1:2379'
   */
  readonly endpoint?: string;
  /**
   * Client certificates.
   * @default - kubeadm's /etc/kubernetes/pki/etcd with ca.crt, server.crt and server.key
   */
  readonly certificates?: EtcdCertificates;
  /**
   * Optional copy to object storage after each snapshot.
   * @default - snapshots stay on the node only
   */
  readonly upload?: SnapshotUpload;
  /**
   * Image with etcdctl; keep its minor equal to the cluster's etcd.
   * @default ETCD_IMAGE
   */
  readonly etcdImage?: string;
  /**
   * Image with a POSIX shell for naming and pruning snapshots.
   * @default BUSYBOX_IMAGE
   */
  readonly toolsImage?: string;
  /**
   * PriorityClass of the backup pods.
   * @default - the cluster default
   */
  readonly priorityClassName?: string;
}

// kubeadm's etcd for Kubernetes 1.29-1.31 (registry.k8s.io/etcd, tag <etcd version>-0).
export const ETCD_IMAGE = 'registry.k8s.io/etcd:3.5.15-0';
// A small image with sh, date, ls, sort and rm.
export const BUSYBOX_IMAGE = 'busybox:1.36.1';
// AWS CLI v2 (https://hub.docker.com/r/amazon/aws-cli).
export const AWS_CLI_IMAGE = 'amazon/aws-cli:2.15.0';
const DEFAULT_SCHEDULE = '0 */6 * * *';
const DEFAULT_KEEP = 12;
const DEFAULT_SNAPSHOT_DIRECTORY = '/var/backups/etcd';
const DEFAULT_ENDPOINT = 'https://127.0.0.1:2379';
// kubeadm's certificate layout; the notes' example uses the server pair.
const DEFAULT_CERTIFICATES: Required<EtcdCertificates> = { directory: '/etc/kubernetes/pki/etcd', ca: 'ca.crt', cert: 'server.crt', key: 'server.key' };
const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';
const SNAPSHOT_MOUNT = '/snapshots';
const CERT_MOUNT = '/etc/etcd-pki';
const IN_PROGRESS = '.in-progress.db';
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._\-/]*[A-Za-z0-9._-]$/;
const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
/** Snapshot file names: `etcd-snapshot-<UTC timestamp>.db`, so name order is time order. */
export const SNAPSHOT_FILE_PATTERN = /^etcd-snapshot-\d{8}T\d{6}Z\.db$/;

function pinned(scope: Construct, field: string, image: string): string {
  const { tag, digest } = imageReference(image ?? '');
  if (!image || (!digest && (!tag || tag === 'latest'))) {
    throw new ShipshapeError(scope, { problem: `${field} must be pinned to a version tag or a digest`, value: image, fix: 'name a version, e.g. "busybox:1.36.1"' });
  }
  return image;
}

/**
 * A CronJob on a control-plane node that saves an etcd snapshot with `etcdctl snapshot save`, names it with a
 * UTC timestamp, keeps the newest N and optionally copies each one to object storage. It runs as root on the
 * host network with the etcd certificates from a hostPath: the exemption says so. The restore procedure for
 * this configuration is written to `runbooks/<name>-restore.md`.
 */
export class EtcdBackup extends Construct {
  public readonly cronJob: kplus.k8s.KubeCronJob;
  public readonly serviceAccount: kplus.k8s.KubeServiceAccount;
  /** Host directory of the snapshots on the control-plane node. */
  public readonly snapshotDirectory: string;
  /** Restore steps for this configuration (Markdown). */
  public readonly restoreRunbook: string;

  constructor(scope: Construct, id: string, props: EtcdBackupProps = {}) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const name = assertDnsLabel(this, 'name', props.name ?? 'etcd-backup');
    const schedule = props.schedule ?? DEFAULT_SCHEDULE;
    const fields = schedule.trim().split(/\s+/);
    if (fields.length !== 5 || !fields.every((f) => CRON_FIELD.test(f))) {
      throw new ShipshapeError(this, { problem: 'schedule must be a five-field cron expression with numbers, ranges, steps and lists', value: schedule, fix: 'use e.g. "0 */6 * * *"' });
    }
    const keep = assertInteger(this, 'keep', props.keep ?? DEFAULT_KEEP, 1, 1000);
    const snapshotDirectory = this.absolutePath('snapshotDirectory', props.snapshotDirectory ?? DEFAULT_SNAPSHOT_DIRECTORY);
    const certs = { ...DEFAULT_CERTIFICATES, ...props.certificates };
    this.absolutePath('certificates.directory', certs.directory);
    for (const field of ['ca', 'cert', 'key'] as const) {
      if (!/^[A-Za-z0-9._-]+$/.test(certs[field])) {
        throw new ShipshapeError(this, { problem: `certificates.${field} must be a file name inside certificates.directory`, value: certs[field], fix: 'use e.g. "server.crt"' });
      }
    }
    const endpoint = props.endpoint ?? DEFAULT_ENDPOINT;
    if (!/^https?:\/\/[A-Za-z0-9.-]+:\d{1,5}$/.test(endpoint)) {
      throw new ShipshapeError(this, { problem: 'endpoint must be a URL with scheme, host and port', value: endpoint, fix: `use e.g. "${DEFAULT_ENDPOINT}"` });
    }
    const upload = props.upload;
    if (upload) this.validateUpload(upload);
    const priorityClassName = props.priorityClassName === undefined ? undefined : assertDnsLabel(this, 'priorityClassName', props.priorityClassName);

    this.snapshotDirectory = snapshotDirectory;
    const labels = addonLabels(name, env, 'backup');
    const metadata = { name, namespace: KUBE_SYSTEM, labels };
    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', {
      metadata: { ...metadata, ...(upload?.roleArn ? { annotations: { 'eks.amazonaws.com/role-arn': upload.roleArn } } : {}) },
      automountServiceAccountToken: false,
    });

    const hardened: kplus.k8s.SecurityContext = {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    };
    const snapshotMount = { name: 'snapshots', mountPath: SNAPSHOT_MOUNT };
    const snapshot: kplus.k8s.Container = {
      name: 'snapshot',
      image: pinned(this, 'etcdImage', props.etcdImage ?? ETCD_IMAGE),
      imagePullPolicy: 'IfNotPresent',
      // Exec form: the etcd image has no shell. The file gets its timestamped name in the next step.
      command: [
        'etcdctl',
        `--endpoints=${endpoint}`,
        `--cacert=${CERT_MOUNT}/${certs.ca}`,
        `--cert=${CERT_MOUNT}/${certs.cert}`,
        `--key=${CERT_MOUNT}/${certs.key}`,
        '--command-timeout=120s',
        'snapshot',
        'save',
        `${SNAPSHOT_MOUNT}/${IN_PROGRESS}`,
      ],
      env: [{ name: 'ETCDCTL_API', value: '3' }],
      resources: resources('100m', '128Mi', '512Mi'),
      securityContext: hardened,
      volumeMounts: [{ name: 'etcd-certs', mountPath: CERT_MOUNT, readOnly: true }, snapshotMount],
    };
    const rotate: kplus.k8s.Container = {
      name: 'rotate',
      image: pinned(this, 'toolsImage', props.toolsImage ?? BUSYBOX_IMAGE),
      imagePullPolicy: 'IfNotPresent',
      command: ['/bin/sh', '-c', ROTATE_SCRIPT],
      env: [{ name: 'KEEP', value: String(keep) }, { name: 'SNAPSHOTS', value: SNAPSHOT_MOUNT }],
      resources: resources('10m', '16Mi', '64Mi'),
      securityContext: hardened,
      volumeMounts: [snapshotMount],
    };
    const containers = upload ? [this.uploadContainer(upload, hardened, snapshotMount)] : [rotate];
    const initContainers = upload ? [snapshot, rotate] : [snapshot];

    this.cronJob = new kplus.k8s.KubeCronJob(this, 'cron-job', {
      metadata,
      spec: {
        schedule,
        timeZone: 'Etc/UTC',
        // A second snapshot while one runs only doubles the load on etcd.
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: 600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 2,
            activeDeadlineSeconds: 1800,
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: name,
                automountServiceAccountToken: false,
                restartPolicy: 'OnFailure',
                ...(priorityClassName ? { priorityClassName } : {}),
                // etcd listens on the control-plane node's loopback; only the host network reaches it.
                hostNetwork: true,
                dnsPolicy: 'ClusterFirstWithHostNet',
                nodeSelector: { [CONTROL_PLANE_LABEL]: '' },
                tolerations: [{ key: CONTROL_PLANE_LABEL, operator: 'Exists', effect: 'NoSchedule' }],
                // The certificates and the snapshot directory belong to root (mode 0600/0700).
                securityContext: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, seccompProfile: { type: 'RuntimeDefault' } },
                initContainers,
                containers,
                volumes: [
                  { name: 'etcd-certs', hostPath: { path: certs.directory, type: 'Directory' } },
                  { name: 'snapshots', hostPath: { path: snapshotDirectory, type: 'DirectoryOrCreate' } },
                  ...(upload ? [{ name: 'tmp', emptyDir: {} }] : []),
                ],
              },
            },
          },
        },
      },
    });
    exempt(
      ApiObject.of(this.cronJob),
      'pod-security',
      `runs as root on the control-plane host network: etcdctl reaches etcd on ${endpoint} and reads the root-only certificates in ${certs.directory} (hostPath, read-only); snapshots go to the hostPath ${snapshotDirectory}`,
    );

    exempt(
      ApiObject.of(this.cronJob),
      'host-path-volume',
      `etcdctl needs the etcd client certificates of the control-plane node (${certs.directory}, read-only), and the snapshots must outlive the pod on that node (${snapshotDirectory})`,
    );

    this.restoreRunbook = renderRunbook({ env: env.name, snapshotDirectory, certs, endpoint, etcdImage: props.etcdImage ?? ETCD_IMAGE, upload, keep, schedule });
    new OutputFile(this, 'runbook', { path: `runbooks/${name}-restore.md`, content: this.restoreRunbook });
  }

  private absolutePath(field: string, value: string): string {
    if (typeof value !== 'string' || !ABSOLUTE_PATH.test(value) || value.split('/').some((s) => s === '..' || s === '.')) {
      throw new ShipshapeError(this, { problem: `${field} must be an absolute host path without "." or ".." segments`, value, fix: 'use e.g. "/var/backups/etcd"' });
    }
    return value;
  }

  private validateUpload(upload: SnapshotUpload): void {
    if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._\-/]*)?$/.test(upload.destination ?? '')) {
      throw new ShipshapeError(this, { problem: 'upload.destination must be an s3:// URL of a bucket and optional prefix', value: upload.destination, fix: 'use e.g. "s3://acme-etcd-backups/prod"' });
    }
    if (upload.endpointUrl !== undefined && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/.test(upload.endpointUrl)) {
      throw new ShipshapeError(this, { problem: 'upload.endpointUrl must be an http(s) URL of the object store', value: upload.endpointUrl, fix: 'use e.g. "https://minio.storage.svc:9000"' });
    }
    if (upload.credentialsSecret !== undefined) assertDnsLabel(this, 'upload.credentialsSecret', upload.credentialsSecret);
    if (upload.roleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(upload.roleArn)) {
      throw new ShipshapeError(this, { problem: 'upload.roleArn must be an IAM role ARN', value: upload.roleArn, fix: 'use e.g. "arn:aws:iam::123456789012:role/etcd-backup"' });
    }
  }

  private uploadContainer(upload: SnapshotUpload, securityContext: kplus.k8s.SecurityContext, snapshotMount: kplus.k8s.VolumeMount): kplus.k8s.Container {
    return {
      name: 'upload',
      image: pinned(this, 'upload.image', upload.image ?? AWS_CLI_IMAGE),
      imagePullPolicy: 'IfNotPresent',
      command: ['/bin/sh', '-c', UPLOAD_SCRIPT],
      env: [
        { name: 'SNAPSHOTS', value: SNAPSHOT_MOUNT },
        { name: 'DESTINATION', value: upload.destination.replace(/\/$/, '') },
        { name: 'ENDPOINT_URL', value: upload.endpointUrl ?? '' },
        // The CLI writes its cache under HOME; the root filesystem is read-only.
        { name: 'HOME', value: '/tmp' },
      ],
      ...(upload.credentialsSecret ? { envFrom: [{ secretRef: { name: upload.credentialsSecret } }] } : {}),
      resources: resources('100m', '128Mi', '256Mi'),
      securityContext,
      volumeMounts: [{ ...snapshotMount, readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
    };
  }
}

/** Names the new snapshot `etcd-snapshot-<UTC timestamp>.db`, records it in `.latest` and deletes all but the newest $KEEP. */
export const ROTATE_SCRIPT = [
  'set -eu',
  'name="etcd-snapshot-$(date -u +%Y%m%dT%H%M%SZ).db"',
  `mv "$SNAPSHOTS/${IN_PROGRESS}" "$SNAPSHOTS/$name"`,
  'echo "$name" > "$SNAPSHOTS/.latest"',
  'echo "saved $SNAPSHOTS/$name"',
  'ls -1 "$SNAPSHOTS" | grep -E \'^etcd-snapshot-[0-9]{8}T[0-9]{6}Z\\.db$\' | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do rm -f "$SNAPSHOTS/$old"; echo "removed $old"; done',
].join('\n');

/** Copies the snapshot named in `.latest` to $DESTINATION (optionally through $ENDPOINT_URL). */
export const UPLOAD_SCRIPT = [
  'set -eu',
  'name="$(cat "$SNAPSHOTS/.latest")"',
  'if [ -n "$ENDPOINT_URL" ]; then set -- --endpoint-url "$ENDPOINT_URL"; else set --; fi',
  'aws s3 cp "$@" --only-show-errors "$SNAPSHOTS/$name" "$DESTINATION/$name"',
  'echo "uploaded $name to $DESTINATION"',
].join('\n');

function renderRunbook(c: { env: string; snapshotDirectory: string; certs: Required<EtcdCertificates>; endpoint: string; etcdImage: string; upload?: SnapshotUpload; keep: number; schedule: string }): string {
  const pki = c.certs.directory;
  return `# Restoring etcd from a snapshot (${c.env})

Snapshots are taken on the schedule \`${c.schedule}\` (UTC) by the CronJob in kube-system and kept on the
control-plane node that ran the job, in \`${c.snapshotDirectory}\` (newest ${c.keep}, named
\`etcd-snapshot-<UTC timestamp>.db\`)${c.upload ? `, and copied to \`${c.upload.destination}\`` : ''}.

1. Pick the snapshot and check it:
   \`\`\`bash
   ls -1 ${c.snapshotDirectory}/etcd-snapshot-*.db | tail -n 1${c.upload ? `\n   # or: aws s3 cp ${c.upload.destination}/etcd-snapshot-<timestamp>.db /root/snapshot.db` : ''}
   ETCDCTL_API=3 etcdctl snapshot status ${c.snapshotDirectory}/etcd-snapshot-<timestamp>.db --write-out=table
   \`\`\`
2. Stop kube-apiserver so nothing writes while etcd is replaced. On kubeadm clusters move the static pod
   manifests away (the kubelet stops the pods); on systemd installs stop the services:
   \`\`\`bash
   mkdir -p /etc/kubernetes/manifests-stopped
   mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests-stopped/
   # systemd installs: service kube-apiserver stop
   \`\`\`
3. Restore the snapshot into a NEW data directory (never over the live one):
   \`\`\`bash
   ETCDCTL_API=3 etcdctl snapshot restore ${c.snapshotDirectory}/etcd-snapshot-<timestamp>.db \\
     --data-dir /var/lib/etcd-from-backup
   \`\`\`
   (etcd 3.5 also ships \`etcdutl snapshot restore\` with the same arguments; the \`${c.etcdImage}\` image has both.)
4. Point etcd at the new data directory: in \`/etc/kubernetes/manifests/etcd.yaml\` change only the \`path\` of
   the \`etcd-data\` hostPath volume to \`/var/lib/etcd-from-backup\`; keep \`--data-dir\` and the volumeMount at
   \`/var/lib/etcd\`, where the container then sees the restored data (a \`--data-dir\` outside the mount makes
   etcd start an empty cluster in the container's own filesystem). systemd installs: edit \`--data-dir\` in
   etcd.service and run \`systemctl daemon-reload\`.
5. Restart etcd and then kube-apiserver:
   \`\`\`bash
   # kubeadm: the kubelet restarts etcd when etcd.yaml changes; then
   mv /etc/kubernetes/manifests-stopped/kube-apiserver.yaml /etc/kubernetes/manifests/
   # systemd installs: service etcd restart && service kube-apiserver start
   \`\`\`
6. Verify:
   \`\`\`bash
   ETCDCTL_API=3 etcdctl --endpoints=${c.endpoint} --cacert=${pki}/${c.certs.ca} \\
     --cert=${pki}/${c.certs.cert} --key=${pki}/${c.certs.key} endpoint health
   kubectl get nodes && kubectl get pods -A
   \`\`\`
   With several control-plane members, restore the same snapshot on every member with its own
   \`--name\`, \`--initial-cluster\` and \`--initial-advertise-peer-urls\` before starting any of them.
`;
}
