import { ApiObject, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ControlPlane, ControlPlaneKind, Environment } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { assertDnsLabel, assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { exempt } from '../core/policy/exemptions';
import { Stack } from '../core/stack';
import { assertPinnedImage, parseImageReference } from '../core/images';
import { assertAwsRegion, assertCronSchedule } from '../core/validate';
import { workloadLabels } from '../core/labels';
import { resources } from '../core/resources';
import { RUNTIME_DEFAULT_SECCOMP, hardenedContainerSecurityContext } from '../core/security';
import { AlertRuleGroup, PrometheusOperatorOptions, alertRulesFile, prometheusOperatorLabels, prometheusRuleObject } from '../logging/fluentd-alerts';
import { EtcdVersion, assertIrsaAllowed, isManagedControlPlane, kubeadmEtcdTag, parseEtcdVersion } from './control-plane';
import { formatDuration, longestScheduleGapSeconds } from './schedule-period';
import { KUBE_SYSTEM } from './support';

const CRONJOB_NAME_MAX = 52;

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
   * @default 'server.crt' (kubeadm's etcd server pair, see docs/practice.md#etcd-backups)
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
   * Region of the bucket (AWS_DEFAULT_REGION of the uploader).
   * @default - the AWS CLI's own resolution (the instance's region on EC2)
   */
  readonly region?: string;
  /**
   * Secret (by name, in kube-system) whose keys become the uploader's environment, e.g.
   * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
   * @default - none: the control-plane node's own identity (the instance profile on EC2; the pod is on the host network, so it reaches the instance metadata service)
   */
  readonly credentialsSecret?: string;
  /**
   * IAM role for IRSA, set as `eks.amazonaws.com/role-arn` on the backup ServiceAccount. Only EKS turns that
   * annotation into credentials, and EKS gives no access to etcd, so an EtcdBackup refuses it; it is kept so old
   * configurations fail with that explanation instead of a type error.
   * @default - none
   * @deprecated use credentialsSecret or the node's instance profile
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
   * Copy of every snapshot to object storage, off the node. Required on a control plane of two or more nodes
   * (unless keepOnNodeOnly says why not): each Job runs on whichever control-plane node the scheduler picks, and
   * the snapshot it keeps there is lost with that node.
   * @default - none: snapshots stay on the node (allowed for a single control-plane node)
   */
  readonly upload?: SnapshotUpload;
  /**
   * Leave out `upload` on a control plane of several nodes, with the reason (e.g. "the node backup agent copies
   * /var/backups/etcd to the vault every hour"). Written on the CronJob as an annotation.
   * @default - none: several control-plane nodes need upload
   */
  readonly keepOnNodeOnly?: { readonly reason: string };
  /**
   * Version of the cluster's etcd, `3.<minor>` or `3.<minor>.<patch>`. Decides the runbook's restore tool
   * (`etcdutl` from 3.5 on: `etcdctl snapshot restore` and `status` are deprecated in 3.5 and removed in 3.6;
   * etcd 3.4 has only `etcdctl`) and the default image.
   * @default - the etcd kubeadm installs for the environment's Kubernetes minor (KUBEADM_ETCD_VERSIONS); required on a `self-managed` control plane
   */
  readonly etcdVersion?: string;
  /**
   * Image with etcdctl; its minor must be the cluster's etcd minor.
   * @default - kubeadm's etcd image for the Kubernetes minor (registry.k8s.io/etcd:<KUBEADM_ETCD_VERSIONS tag>)
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
  /**
   * Alerts (from kube-state-metrics' CronJob metrics) when no backup has succeeded within two schedule periods,
   * when the CronJob never succeeded, when runs are not being started, and when Prometheus does not see the
   * CronJob at all; `false` for none.
   * @default {} (the plain rules file only; a PrometheusRule as well when prometheusOperator is set)
   */
  readonly alerts?: EtcdBackupAlertsProps | false;
}

/** Where the backup alerts go. */
export interface EtcdBackupAlertsProps extends PrometheusOperatorOptions {
  /**
   * Path of the plain rules file under `dist/<env>/`.
   * @default 'monitoring/<name>-alerts.rules.yml'
   */
  readonly rulesFile?: string;
}

// kubeadm's etcd images (registry.k8s.io/etcd, tag <etcd version>-<revision>).
const KUBEADM_ETCD_REPOSITORY = 'registry.k8s.io/etcd';
/** kubeadm's etcd image for Kubernetes 1.29 (see KUBEADM_ETCD_VERSIONS for the others). */
export const ETCD_IMAGE = `${KUBEADM_ETCD_REPOSITORY}:${kubeadmEtcdTag(29)}`;
// etcd 3.4 is the oldest etcd any Kubernetes this library supports can run (1.27 ships 3.5; 3.4 stays possible with an external etcd).
const MIN_ETCD_MINOR = 4;
// etcdutl took over `snapshot restore` and `snapshot status` in 3.5 (etcdctl's are deprecated there, removed in 3.6).
const ETCDUTL_MINOR = 5;
// Restored data directory the runbook uses.
const RESTORE_DIRECTORY = '/var/lib/etcd-from-backup';
// One failed run is retried at the next; two missed periods in a row mean the backups have stopped.
const ALERT_PERIODS = 2;
// Long enough to outlast one kube-state-metrics scrape gap or restart, short next to any backup period.
const ALERT_FOR = '5m';
// Prometheus and kube-state-metrics restarts and CronJob replacement by a sync take minutes, not half an hour.
const ABSENT_FOR = '30m';
/** Annotation on the CronJob that carries keepOnNodeOnly's reason. */
export const NODE_LOCAL_ANNOTATION = 'etcd-backup.shipshape.io/node-local-only';
// A small image with sh, date, ls, sort and rm.
export const BUSYBOX_IMAGE = 'busybox:1.36.1';
// AWS CLI v2 (https://hub.docker.com/r/amazon/aws-cli).
export const AWS_CLI_IMAGE = 'amazon/aws-cli:2.15.0';
const DEFAULT_SCHEDULE = '0 */6 * * *';
const DEFAULT_KEEP = 12;
const DEFAULT_SNAPSHOT_DIRECTORY = '/var/backups/etcd';
const DEFAULT_ENDPOINT = 'https://127.0.0.1:2379';
// kubeadm's certificate layout; its server pair is issued for client use too (docs/practice.md#etcd-backups).
const DEFAULT_CERTIFICATES: Required<EtcdCertificates> = { directory: '/etc/kubernetes/pki/etcd', ca: 'ca.crt', cert: 'server.crt', key: 'server.key' };
const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';
const SNAPSHOT_MOUNT = '/snapshots';
const CERT_MOUNT = '/etc/etcd-pki';
const IN_PROGRESS = '.in-progress.db';
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._\-/]*[A-Za-z0-9._-]$/;
/** Snapshot file names: `etcd-snapshot-<UTC timestamp>.db`, so name order is time order. */
export const SNAPSHOT_FILE_PATTERN = /^etcd-snapshot-\d{8}T\d{6}Z\.db$/;

function pinned(scope: Construct, field: string, image: string): string {
  return assertPinnedImage(scope, field, image, BUSYBOX_IMAGE);
}

/**
 * A CronJob on a control-plane node that saves an etcd snapshot with `etcdctl snapshot save`, names it with a
 * UTC timestamp, keeps the newest N and copies each one to object storage (required with several control-plane
 * nodes). It runs as root on the host network with the etcd certificates from a hostPath: the exemption says so.
 * Only for self-managed control planes (the environment's `controlPlane` says which; EKS, GKE and AKS are
 * refused). Alerts on kube-state-metrics' CronJob series fire when no backup succeeded within two schedule
 * periods. The restore procedure for this configuration and etcd version (etcdutl from 3.5, etcdctl in 3.4) is
 * written to `runbooks/<name>-restore.md`.
 */
export class EtcdBackup extends Construct {
  public readonly cronJob: kplus.k8s.KubeCronJob;
  public readonly serviceAccount: kplus.k8s.KubeServiceAccount;
  /** Host directory of the snapshots on the control-plane node. */
  public readonly snapshotDirectory: string;
  /** Restore steps for this configuration (Markdown). */
  public readonly restoreRunbook: string;
  /** The cluster's etcd version the runbook is written for. */
  public readonly etcdVersion: string;
  /** The longest wait between two scheduled runs, in seconds; the alerts allow two of them. */
  public readonly schedulePeriodSeconds: number;
  /** The alert rules, unless alerts are off. */
  public readonly alertGroups?: readonly AlertRuleGroup[];
  /** The PrometheusRule, when the Prometheus Operator runs. */
  public readonly prometheusRule?: ApiObject;
  /** The plain rules file, unless alerts are off. */
  public readonly rulesFile?: OutputFile;

  constructor(scope: Construct, id: string, props: EtcdBackupProps = {}) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const name = assertDnsLabel(this, 'name', props.name ?? 'etcd-backup');
    // The CronJob controller appends an 11-character suffix (-<minutes since epoch>) to name its Jobs, so the API
    // server refuses CronJob names longer than 52 characters.
    if (name.length > CRONJOB_NAME_MAX) {
      throw new ShipshapeError(this, {
        problem: `name becomes the CronJob name, which must be at most ${CRONJOB_NAME_MAX} characters (the controller appends a suffix to name each Job); this one has ${name.length}`,
        value: name,
        fix: `shorten name to at most ${CRONJOB_NAME_MAX} characters, e.g. "etcd-backup"`,
      });
    }
    const schedule = assertCronSchedule(this, 'schedule', props.schedule ?? DEFAULT_SCHEDULE);
    const period = longestScheduleGapSeconds(schedule);
    if (period === undefined) {
      throw new ShipshapeError(this, {
        problem: 'schedule names no date that exists (e.g. 30 February), so no backup would ever run',
        value: schedule,
        fix: 'use a schedule that fires, e.g. "0 */6 * * *"',
      });
    }
    if (period < 60) {
      throw new ShipshapeError(this, {
        problem: 'schedule runs more than once a minute: every snapshot copies the whole etcd database, and the CronJob controller checks schedules only about every ten seconds',
        value: schedule,
        fix: 'use at most one run a minute, e.g. "0 */6 * * *"',
      });
    }
    this.schedulePeriodSeconds = period;
    const controlPlane = this.controlPlaneOf(env);
    const etcd = this.etcdVersionOf(env, controlPlane.kind, props.etcdVersion);
    this.etcdVersion = etcd.text;
    const etcdImage = this.etcdImageFor(env, etcd, props.etcdImage);
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
    if (upload) this.validateUpload(upload, env);
    const nodeLocalReason = this.nodeLocalReason(controlPlane.nodes ?? 1, upload, props.keepOnNodeOnly);
    const priorityClassName = props.priorityClassName === undefined ? undefined : assertDnsLabel(this, 'priorityClassName', props.priorityClassName);

    this.snapshotDirectory = snapshotDirectory;
    const labels = workloadLabels(name, env, 'backup');
    const metadata = { name, namespace: KUBE_SYSTEM, labels };
    this.serviceAccount = new kplus.k8s.KubeServiceAccount(this, 'service-account', {
      metadata,
      automountServiceAccountToken: false,
    });

    const hardened = hardenedContainerSecurityContext();
    const snapshotMount = { name: 'snapshots', mountPath: SNAPSHOT_MOUNT };
    const snapshot: kplus.k8s.Container = {
      name: 'snapshot',
      image: etcdImage,
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
      resources: resources({ cpu: kplus.Cpu.millis(100), memory: Size.mebibytes(128), memoryLimit: Size.mebibytes(512) }),
      securityContext: hardened,
      volumeMounts: [{ name: 'etcd-certs', mountPath: CERT_MOUNT, readOnly: true }, snapshotMount],
    };
    const rotate: kplus.k8s.Container = {
      name: 'rotate',
      image: pinned(this, 'toolsImage', props.toolsImage ?? BUSYBOX_IMAGE),
      imagePullPolicy: 'IfNotPresent',
      command: ['/bin/sh', '-c', ROTATE_SCRIPT],
      env: [
        { name: 'KEEP', value: String(keep) },
        { name: 'SNAPSHOTS', value: SNAPSHOT_MOUNT },
      ],
      resources: resources({ cpu: kplus.Cpu.millis(10), memory: Size.mebibytes(16), memoryLimit: Size.mebibytes(64) }),
      securityContext: hardened,
      volumeMounts: [snapshotMount],
    };
    const containers = upload ? [this.uploadContainer(upload, hardened, snapshotMount)] : [rotate];
    const initContainers = upload ? [snapshot, rotate] : [snapshot];

    this.cronJob = new kplus.k8s.KubeCronJob(this, 'cron-job', {
      metadata: nodeLocalReason ? { ...metadata, annotations: { [NODE_LOCAL_ANNOTATION]: nodeLocalReason } } : metadata,
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
                securityContext: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, seccompProfile: RUNTIME_DEFAULT_SECCOMP },
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

    this.restoreRunbook = renderRunbook({
      env: env.name,
      name,
      snapshotDirectory,
      certs,
      endpoint,
      etcdImage,
      etcd,
      kind: controlPlane.kind,
      nodes: controlPlane.nodes ?? 1,
      upload,
      keep,
      schedule,
    });
    new OutputFile(this, 'runbook', { path: `runbooks/${name}-restore.md`, content: this.restoreRunbook });

    if (props.alerts !== false) {
      const alerts = props.alerts ?? {};
      const prometheusLabels = prometheusOperatorLabels(this, alerts);
      const groups = backupAlerts(name, schedule, period);
      this.alertGroups = groups;
      if (prometheusLabels) this.prometheusRule = prometheusRuleObject(this, 'prometheus-rule', { name: `${name}-alerts`, namespace: KUBE_SYSTEM, labels: prometheusLabels }, groups);
      this.rulesFile = alertRulesFile(this, alerts.rulesFile, `monitoring/${name}-alerts.rules.yml`, () => groups);
    }
  }

  /** The environment's control plane; refuses a missing one and the managed kinds, whose etcd nothing can reach. */
  private controlPlaneOf(env: Environment): ControlPlane {
    const controlPlane = env.controlPlane;
    if (controlPlane === undefined) {
      throw new ShipshapeError(this, {
        problem: `environment "${env.name}" does not say who runs its control plane: the backup Job must run on a control-plane node next to etcd, which exists on kubeadm, Cluster API and other self-managed control planes but not on EKS, GKE or AKS (where it would stay Pending forever)`,
        fix: "set controlPlane on the environment, e.g. { kind: 'kubeadm', nodes: 3 } or { kind: 'cluster-api', nodes: 3 }; on EKS, GKE or AKS leave EtcdBackup out",
      });
    }
    if (isManagedControlPlane(controlPlane.kind)) {
      throw new ShipshapeError(this, {
        problem: `environment "${env.name}" runs a managed ${controlPlane.kind.toUpperCase()} control plane: the provider operates etcd (its replication, backups and restores) and gives no access to it, and no node carries ${CONTROL_PLANE_LABEL}, so the backup Job would stay Pending forever`,
        value: controlPlane,
        fix: "remove the EtcdBackup from this environment; keep the cluster's objects recoverable from Git (the synthesized dist/) or with an API-level backup such as Velero",
      });
    }
    return controlPlane;
  }

  private etcdVersionOf(env: Environment, kind: ControlPlaneKind, given: string | undefined): EtcdVersion {
    if (given === undefined) {
      if (kind === 'self-managed') {
        throw new ShipshapeError(this, {
          problem: "a self-managed control plane's etcd version does not follow from the Kubernetes version, and the restore runbook depends on it (etcdutl from 3.5, etcdctl in 3.4)",
          fix: 'set etcdVersion to the cluster\'s etcd, e.g. "3.5.15" (etcd --version on a control-plane node)',
        });
      }
      return parseEtcdVersion(kubeadmEtcdTag(env.kubernetesMinorFor(this)))!;
    }
    const version = parseEtcdVersion(given);
    if (!version || version.minor < MIN_ETCD_MINOR) {
      throw new ShipshapeError(this, {
        problem: `etcdVersion must be an etcd version 3.${MIN_ETCD_MINOR} or newer, written "3.<minor>" or "3.<minor>.<patch>"`,
        value: given,
        fix: 'use the version etcd --version prints on a control-plane node, e.g. "3.5.15"',
      });
    }
    return version;
  }

  /** The etcdctl image: kubeadm's for the version, or the given one, whose tag (when it is a version) must have the same minor. */
  private etcdImageFor(env: Environment, etcd: EtcdVersion, given: string | undefined): string {
    const kubeadmTag = kubeadmEtcdTag(env.kubernetesMinorFor(this));
    if (given === undefined) {
      if (parseEtcdVersion(kubeadmTag)!.minor !== etcd.minor) {
        throw new ShipshapeError(this, {
          problem: `etcdVersion ${etcd.text} is not the etcd kubeadm installs for Kubernetes 1.${env.kubernetesMinorFor(this)} (${kubeadmTag}), so the default image's etcdctl would not match the cluster`,
          value: etcd.text,
          fix: `set etcdImage to an image with etcdctl 3.${etcd.minor}, e.g. "${KUBEADM_ETCD_REPOSITORY}:${etcd.minor === 4 ? '3.4.13-0' : `${etcd.text}-0`}"`,
        });
      }
      return `${KUBEADM_ETCD_REPOSITORY}:${kubeadmTag}`;
    }
    const image = pinned(this, 'etcdImage', given);
    const ref = parseImageReference(image);
    // Only etcd's own images say the etcd version in their tag.
    const tagged = ref && /(^|\/)etcd$/.test(ref.name) ? parseEtcdVersion(ref.tag) : undefined;
    if (tagged && tagged.minor !== etcd.minor) {
      throw new ShipshapeError(this, {
        problem: `etcdImage carries etcd ${tagged.text} but the cluster runs etcd ${etcd.text}: keep etcdctl's minor equal to the server's`,
        value: image,
        fix: `use an image of etcd 3.${etcd.minor}, or set etcdVersion to the cluster's actual etcd`,
      });
    }
    return image;
  }

  /** The reason snapshots may stay on the node, when given; refuses node-local snapshots on a multi-node control plane without one. */
  private nodeLocalReason(nodes: number, upload: SnapshotUpload | undefined, keepOnNodeOnly: { reason: string } | undefined): string | undefined {
    if (keepOnNodeOnly !== undefined) {
      const reason = keepOnNodeOnly?.reason;
      if (typeof reason !== 'string' || reason.trim() === '') {
        throw new ShipshapeError(this, {
          problem: 'keepOnNodeOnly needs a reason',
          value: keepOnNodeOnly,
          fix: 'say what copies the snapshots off the nodes, e.g. { reason: "the node backup agent copies /var/backups/etcd to the vault hourly" }',
        });
      }
      if (upload) {
        throw new ShipshapeError(this, { problem: 'both upload and keepOnNodeOnly are set', value: keepOnNodeOnly, fix: 'keep upload and drop keepOnNodeOnly, or the other way round' });
      }
      return reason;
    }
    if (!upload && nodes > 1) {
      throw new ShipshapeError(this, {
        problem: `the control plane has ${nodes} nodes and snapshots would stay on the node that ran each Job: whichever node the scheduler picked holds the newest snapshot, and it is lost with that node`,
        value: { nodes, upload },
        fix: "set upload: { destination: 's3://<bucket>/<prefix>' } (AWS S3, or any S3-compatible store through endpointUrl), or keepOnNodeOnly: { reason: '…' } when something else copies the snapshot directory off the nodes",
      });
    }
    return undefined;
  }

  private absolutePath(field: string, value: string): string {
    if (typeof value !== 'string' || !ABSOLUTE_PATH.test(value) || value.split('/').some((s) => s === '..' || s === '.')) {
      throw new ShipshapeError(this, { problem: `${field} must be an absolute host path without "." or ".." segments`, value, fix: 'use e.g. "/var/backups/etcd"' });
    }
    return value;
  }

  private validateUpload(upload: SnapshotUpload, env: Environment): void {
    if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._\-/]*)?$/.test(upload.destination ?? '')) {
      throw new ShipshapeError(this, { problem: 'upload.destination must be an s3:// URL of a bucket and optional prefix', value: upload.destination, fix: 'use e.g. "s3://acme-etcd-backups/prod"' });
    }
    if (upload.endpointUrl !== undefined && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/.test(upload.endpointUrl)) {
      throw new ShipshapeError(this, { problem: 'upload.endpointUrl must be an http(s) URL of the object store', value: upload.endpointUrl, fix: 'use e.g. "https://minio.storage.svc:9000"' });
    }
    if (upload.credentialsSecret !== undefined) assertDnsLabel(this, 'upload.credentialsSecret', upload.credentialsSecret);
    if (upload.region !== undefined) assertAwsRegion(this, 'upload.region', upload.region);
    if (upload.roleArn !== undefined) assertIrsaAllowed(this, 'upload.roleArn', env, upload.roleArn);
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
        ...(upload.region ? [{ name: 'AWS_DEFAULT_REGION', value: upload.region }] : []),
        // The CLI writes its cache under HOME; the root filesystem is read-only.
        { name: 'HOME', value: '/tmp' },
      ],
      ...(upload.credentialsSecret ? { envFrom: [{ secretRef: { name: upload.credentialsSecret } }] } : {}),
      resources: resources({ cpu: kplus.Cpu.millis(100), memory: Size.mebibytes(128), memoryLimit: Size.mebibytes(256) }),
      securityContext,
      volumeMounts: [
        { ...snapshotMount, readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
      ],
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

interface RunbookContext {
  readonly env: string;
  readonly name: string;
  readonly snapshotDirectory: string;
  readonly certs: Required<EtcdCertificates>;
  readonly endpoint: string;
  readonly etcdImage: string;
  readonly etcd: EtcdVersion;
  readonly kind: ControlPlaneKind;
  readonly nodes: number;
  readonly upload?: SnapshotUpload;
  readonly keep: number;
  readonly schedule: string;
}

/** The restore procedure for this configuration, with the snapshot tool of the cluster's etcd version. */
function renderRunbook(c: RunbookContext): string {
  const pki = c.certs.directory;
  const etcdutl = c.etcd.minor >= ETCDUTL_MINOR;
  const tool = etcdutl ? 'etcdutl' : 'etcdctl';
  const snapshot = `${c.snapshotDirectory}/etcd-snapshot-<timestamp>.db`;
  const several = c.nodes > 1;
  const aws = c.upload ? `aws s3${c.upload.endpointUrl ? ` --endpoint-url ${c.upload.endpointUrl}` : ''}` : '';
  const destination = c.upload?.destination.replace(/\/$/, '');
  const toolNote = etcdutl
    ? `The snapshot commands use \`etcdutl\`, the offline tool of etcd 3.5 and later (\`etcdctl snapshot restore\` and
\`etcdctl snapshot status\` are deprecated in 3.5 and removed in 3.6). It ships in the \`${c.etcdImage}\` image and
in etcd's release archive; use the same minor as the cluster (3.${c.etcd.minor}).`
    : `The snapshot commands use \`etcdctl\`: etcd 3.4 has no \`etcdutl\`. When the cluster moves to etcd 3.5 or later,
set \`etcdVersion\` and synthesize again: this runbook then uses \`etcdutl\`.`;
  const pick =
    several && c.upload
      ? `1. Fetch the newest snapshot from object storage (with ${c.nodes} control-plane nodes the newest one on this node
   may be older than one another node took) and check it:
   \`\`\`bash
   ${aws} ls ${destination}/ | awk '{print $4}' | grep '^etcd-snapshot-' | sort | tail -n 1
   ${aws} cp ${destination}/etcd-snapshot-<timestamp>.db ${snapshot}
   ls -1 ${c.snapshotDirectory}/etcd-snapshot-*.db | tail -n 1
   ${tool} snapshot status ${snapshot} --write-out=table
   \`\`\`
   Copy the same file to every control-plane node (e.g. \`scp\`): every member restores from one snapshot.`
      : `1. Pick the snapshot and check it:
   \`\`\`bash
   ls -1 ${c.snapshotDirectory}/etcd-snapshot-*.db | tail -n 1${c.upload ? `\n   # or copy one back: ${aws} cp ${destination}/etcd-snapshot-<timestamp>.db ${snapshot}` : ''}
   ${tool} snapshot status ${snapshot} --write-out=table
   \`\`\`${
     several
       ? `\n   With ${c.nodes} control-plane nodes, look on each: the newest snapshot is on whichever node ran the last Job.
   Copy that file to every control-plane node (e.g. \`scp\`): every member restores from one snapshot.`
       : ''
   }`;
  const restore = several
    ? `3. On every control-plane node, restore the snapshot into a NEW data directory (never over the live one), each
   with its own member name (the node name kubeadm gave the member) and peer URL, and one cluster token for all:
   \`\`\`bash
   ${tool} snapshot restore ${snapshot} \\
     --name <this node's name> \\
     --initial-cluster ${Array.from({ length: c.nodes }, (_, i) => `<node-${i + 1} name>=https://<node-${i + 1} IP>:2380`).join(',')} \\
     --initial-cluster-token etcd-restore-<timestamp> \\
     --initial-advertise-peer-urls https://<this node's IP>:2380 \\
     --data-dir ${RESTORE_DIRECTORY}
   \`\`\``
    : `3. Restore the snapshot into a NEW data directory (never over the live one):
   \`\`\`bash
   ${tool} snapshot restore ${snapshot} \\
     --data-dir ${RESTORE_DIRECTORY}
   \`\`\``;
  return `# Restoring etcd from a snapshot (${c.env})

etcd ${c.etcd.text} on a ${c.kind} control plane with ${c.nodes} node${several ? 's' : ''}. Snapshots are taken on the
schedule \`${c.schedule}\` (UTC) by the CronJob kube-system/${c.name} and kept on the control-plane node that ran the
Job, in \`${c.snapshotDirectory}\` (newest ${c.keep} on each node, named \`etcd-snapshot-<UTC timestamp>.db\`)${c.upload ? `, and copied to \`${destination}\`` : ''}.

${toolNote} The health check uses \`etcdctl\`, in every version.

${pick}
2. Stop kube-apiserver${several ? ' on every control-plane node' : ''} so nothing writes while etcd is replaced. On kubeadm clusters
   move the static pod manifests away (the kubelet stops the pods); on systemd installs stop the services:
   \`\`\`bash
   mkdir -p /etc/kubernetes/manifests-stopped
   mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests-stopped/
   # systemd installs: service kube-apiserver stop
   \`\`\`
${restore}
4. Point etcd at the new data directory: in \`/etc/kubernetes/manifests/etcd.yaml\` change only the \`path\` of
   the \`etcd-data\` hostPath volume to \`${RESTORE_DIRECTORY}\`; keep \`--data-dir\` and the volumeMount at
   \`/var/lib/etcd\`, where the container then sees the restored data (a \`--data-dir\` outside the mount makes
   etcd start an empty cluster in the container's own filesystem). systemd installs: edit \`--data-dir\` in
   etcd.service and run \`systemctl daemon-reload\`.
5. Restart etcd and then kube-apiserver${several ? ' (etcd on every node first: the members need each other for a quorum)' : ''}:
   \`\`\`bash
   # kubeadm: the kubelet restarts etcd when etcd.yaml changes; then
   mv /etc/kubernetes/manifests-stopped/kube-apiserver.yaml /etc/kubernetes/manifests/
   # systemd installs: service etcd restart && service kube-apiserver start
   \`\`\`
6. Verify:
   \`\`\`bash
   etcdctl --endpoints=${c.endpoint} --cacert=${pki}/${c.certs.ca} \\
     --cert=${pki}/${c.certs.cert} --key=${pki}/${c.certs.key} endpoint health${several ? ' --cluster' : ''}
   kubectl get nodes && kubectl get pods -A
   \`\`\`
`;
}

/**
 * Alert rules on kube-state-metrics' CronJob series for the backup CronJob: too long since the last success
 * (two of the schedule's longest gaps), never a success since the CronJob was created, runs no longer started,
 * and no series at all. `max by (namespace, cronjob)` folds the copies of several kube-state-metrics replicas.
 */
function backupAlerts(name: string, schedule: string, period: number): AlertRuleGroup[] {
  const sel = `{namespace="${KUBE_SYSTEM}",cronjob="${name}"}`;
  const max = (metric: string) => `max by (namespace, cronjob) (${metric}${sel})`;
  const limit = ALERT_PERIODS * period;
  const labels = (severity: string) => ({ severity, component: 'etcd-backup' });
  const cronJob = `CronJob ${KUBE_SYSTEM}/${name}`;
  const every = `schedule "${schedule}" (UTC): at most ${formatDuration(period)} between runs`;
  const jobs = `kubectl -n ${KUBE_SYSTEM} get jobs,pods -l app.kubernetes.io/name=${name}`;
  const look = `Look at its Jobs and pods (${jobs}): a Pending pod means no node matches its control-plane node selector or toleration, a failed one has the error of etcdctl or the upload in its log.`;
  return [
    {
      name: `${name}.rules`,
      rules: [
        {
          alert: 'EtcdBackupTooOld',
          expr: `time() - ${max('kube_cronjob_status_last_successful_time')} > ${limit}`,
          for: ALERT_FOR,
          labels: labels('critical'),
          annotations: {
            summary: `No etcd backup has succeeded for more than ${formatDuration(limit)} (two schedule periods)`,
            description: `The last successful run of the ${cronJob} is more than two periods old (${every}). A restore would lose every change since then. ${look}`,
          },
        },
        {
          alert: 'EtcdBackupNeverSucceeded',
          expr: `(time() - ${max('kube_cronjob_created')} > ${limit}) unless on (namespace, cronjob) kube_cronjob_status_last_successful_time${sel}`,
          for: ALERT_FOR,
          labels: labels('critical'),
          annotations: {
            summary: `The etcd backup has never succeeded since its CronJob was created, more than ${formatDuration(limit)} ago`,
            description: `The ${cronJob} exists but no run of it has ever completed (${every}): there is no snapshot to restore from. ${look}`,
          },
        },
        {
          alert: 'EtcdBackupNotStarted',
          expr: `time() - ${max('kube_cronjob_next_schedule_time')} > ${period}`,
          for: ALERT_FOR,
          labels: labels('warning'),
          annotations: {
            summary: 'Scheduled etcd backups are not being started',
            description: `The run of the ${cronJob} that was due more than ${formatDuration(period)} ago has not been started (${every}): an earlier Job is still running or Pending (concurrencyPolicy Forbid), or the CronJob controller is down. ${look}`,
          },
        },
        {
          alert: 'EtcdBackupNotWatched',
          expr: `absent(kube_cronjob_created${sel})`,
          for: ABSENT_FOR,
          labels: labels('warning'),
          annotations: {
            summary: `Prometheus sees no ${cronJob}`,
            description: `kube-state-metrics reports no ${cronJob}: the CronJob was deleted, or kube-state-metrics is not scraped. Nothing watches the etcd backups.`,
          },
        },
      ],
    },
  ];
}
