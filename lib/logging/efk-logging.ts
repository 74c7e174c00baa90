import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel, assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { Elasticsearch, ElasticsearchProps } from './elasticsearch';
import { DEFAULT_CREDENTIALS_REVISION, ElasticsearchBootstrap } from './elasticsearch-bootstrap';
import { FluentdAlerts, FluentdAlertsProps } from './fluentd-alerts';
import { FluentdDaemonSet, FluentdDaemonSetProps } from './fluentd-daemon-set';
import { Kibana, KibanaProps } from './kibana';

/** Long-term copy of every log line in S3, next to the Elasticsearch hot window. */
export interface EfkArchiveProps {
  /** Bucket name. */
  readonly bucket: string;
  /** Region of the bucket. */
  readonly region: string;
  /** Days objects are kept; the bucket lifecycle rule written to `dist/<env>/logging/` expires them after this. */
  readonly retentionDays: number;
  /**
   * Key prefix; strftime placeholders are filled from the logs' time.
   * @default 'logs/<environment>/%Y/%m/%d/'
   */
  readonly path?: string;
  /**
   * Secret with `access-key-id` and `secret-access-key`; `false` for the node role, or for IRSA (the role named in
   * `fluentd.serviceAccountAnnotations`).
   * @default 'fluentd-s3-credentials'
   */
  readonly credentialsSecret?: string | false;
}

/** Properties of an {@link EfkLogging}. */
export interface EfkLoggingProps {
  /**
   * Namespace of every logging object.
   * @default 'logging'
   */
  readonly namespace?: string;
  /**
   * Whether to create the Namespace object.
   * @default true
   */
  readonly createNamespace?: boolean;
  /**
   * Prefix of the daily indices.
   * @default `logs-<environment>`
   */
  readonly indexPrefix?: string;
  /**
   * Days logs stay searchable in Elasticsearch before ILM deletes them.
   * @default 7
   */
  readonly retentionDays?: number;
  /**
   * S3 archive: the same logs go to Elasticsearch and S3.
   * @default - no archive
   */
  readonly archive?: EfkArchiveProps;
  /**
   * Elasticsearch settings.
   * @default - 1 node, or 3 when the environment runs 3 or more replicas; a 1g heap in 2 GiB each (Elastic's defaults)
   */
  readonly elasticsearch?: Omit<ElasticsearchProps, 'namespace' | 'credentialsRevision'>;
  /**
   * Kibana settings.
   * @default - 1 replica, or 2 with a 3-node Elasticsearch
   */
  readonly kibana?: Omit<KibanaProps, 'elasticsearch' | 'credentialsRevision'>;
  /**
   * Collector settings.
   * @default - see FluentdDaemonSetProps
   */
  readonly fluentd?: Omit<FluentdDaemonSetProps, 'elasticsearch' | 'namespace' | 'archive' | 'indexPrefix' | 'credentialsRevision'>;
  /**
   * Collector alerts; `false` for none.
   * @default - the FluentdAlerts defaults
   */
  readonly alerts?: Omit<FluentdAlertsProps, 'collector'> | false;
  /**
   * PriorityClass of Elasticsearch and Kibana (the collector keeps `system-node-critical`). Use the platform's
   * tier for services every workload depends on, so they are not preempted by the workloads whose logs they keep.
   * @default - none, unless set in `elasticsearch` / `kibana`
   */
  readonly priorityClassName?: string;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` in the logging namespace that the images of
   * Elasticsearch (and its bootstrap Job), Kibana and the collector are pulled with, for private mirrors of the
   * upstream images. Each component's own `imagePullSecrets` replaces this list for that component.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
  /**
   * Revision of the credentials Secret. Bump it (`"2"`, a date) whenever a password or key in the Secret
   * changes: the bootstrap Job's name hashes it, so a new Job sets the new `fluentd` and `kibana_system`
   * passwords, and the Fluentd and Kibana pods carry it as an annotation, so they restart with the new values.
   * @default '1'
   */
  readonly credentialsRevision?: string;
}

// Kubernetes namespace the EFK objects live in, apart from the application namespace.
const DEFAULT_NAMESPACE = 'logging';
const DEFAULT_RETENTION_DAYS = 7;

/**
 * Elasticsearch, Kibana and a Fluentd DaemonSet in their own namespace, wired
 * through typed fields (the collector and Kibana read `elasticsearch.host`,
 * `.url` and `.credentialsSecret`), with an ILM hot window, an optional S3
 * archive fed from the same collector, and collector alerts. Credentials come
 * from one Secret; `credentialsRevision` makes a change to it take effect.
 */
export class EfkLogging extends Construct {
  public readonly namespace: string;
  public readonly namespaceObject?: kplus.k8s.KubeNamespace;
  public readonly indexPrefix: string;
  public readonly elasticsearch: Elasticsearch;
  public readonly kibana: Kibana;
  public readonly fluentd: FluentdDaemonSet;
  /** The Job applying the ILM policy, index template and users. */
  public readonly bootstrap: ElasticsearchBootstrap;
  public readonly alerts?: FluentdAlerts;
  /** The S3 lifecycle rule file, when archiving. */
  public readonly archiveLifecycle?: OutputFile;

  constructor(scope: Construct, id: string, props: EfkLoggingProps = {}) {
    super(scope, id);
    const env = Stack.of(this).environment;
    this.namespace = assertDnsLabel(this, 'namespace', props.namespace ?? DEFAULT_NAMESPACE);
    if (this.namespace === env.namespace) {
      throw new ShipshapeError(this, { problem: `the logging objects would share the application namespace ${env.namespace}`, value: this.namespace, fix: `keep the default "${DEFAULT_NAMESPACE}"` });
    }
    this.indexPrefix = props.indexPrefix ?? `logs-${env.name}`;
    const retentionDays = assertInteger(this, 'retentionDays', props.retentionDays ?? DEFAULT_RETENTION_DAYS, 1, 3650);
    if (props.archive) {
      assertInteger(this, 'archive.retentionDays', props.archive.retentionDays, 1, 36500);
      if (props.archive.retentionDays < retentionDays) {
        throw new ShipshapeError(this, {
          problem: `the archive keeps logs ${props.archive.retentionDays} days, less than Elasticsearch's ${retentionDays}-day hot window, so it would not be the long-term copy`,
          value: { archiveRetentionDays: props.archive.retentionDays, retentionDays },
          fix: `set archive.retentionDays ≥ ${retentionDays}`,
        });
      }
    }

    if (props.createNamespace ?? true) {
      this.namespaceObject = new kplus.k8s.KubeNamespace(this, 'namespace', {
        metadata: {
          name: this.namespace,
          labels: {
            [LABELS.managedBy]: MANAGED_BY,
            [LABELS.environment]: env.name,
            [LABELS.partOf]: 'efk',
            // The collector's hostPath mounts and root user (and the sysctl init container) are outside the
            // baseline Pod Security Standard, so this namespace admits privileged pods; the policy engine's
            // exemptions say which ones and why, and the API server audits baseline violations.
            'pod-security.kubernetes.io/enforce': 'privileged',
            'pod-security.kubernetes.io/enforce-version': `v1.${env.kubernetesMinorFor(this)}`,
            'pod-security.kubernetes.io/audit': 'baseline',
          },
        },
      });
    }
    const credentialsRevision = props.credentialsRevision ?? DEFAULT_CREDENTIALS_REVISION;
    const priorityClassName = props.priorityClassName;
    const imagePullSecrets = props.imagePullSecrets;
    this.elasticsearch = new Elasticsearch(this, 'elasticsearch', {
      priorityClassName,
      ...props.elasticsearch,
      imagePullSecrets: props.elasticsearch?.imagePullSecrets ?? imagePullSecrets,
      credentialsRevision,
      namespace: this.namespace,
    });
    this.kibana = new Kibana(this, 'kibana', {
      priorityClassName,
      ...props.kibana,
      imagePullSecrets: props.kibana?.imagePullSecrets ?? imagePullSecrets,
      credentialsRevision,
      elasticsearch: this.elasticsearch,
    });
    this.fluentd = new FluentdDaemonSet(this, 'fluentd', {
      ...props.fluentd,
      imagePullSecrets: props.fluentd?.imagePullSecrets ?? imagePullSecrets,
      credentialsRevision,
      namespace: this.namespace,
      elasticsearch: this.elasticsearch,
      indexPrefix: this.indexPrefix,
      archive: props.archive && {
        bucket: props.archive.bucket,
        region: props.archive.region,
        path: props.archive.path ?? `logs/${env.name}/%Y/%m/%d/`,
        credentialsSecret: props.archive.credentialsSecret,
      },
    });
    this.bootstrap = new ElasticsearchBootstrap(this, 'bootstrap', { elasticsearch: this.elasticsearch, indexPrefix: this.indexPrefix, retentionDays, credentialsRevision });
    if (props.alerts !== false) this.alerts = new FluentdAlerts(this, 'alerts', { ...props.alerts, collector: this.fluentd });
    if (props.archive) {
      const archive = props.archive;
      const prefix = (archive.path ?? `logs/${env.name}/%Y/%m/%d/`).split('%')[0];
      // Kubernetes cannot set a bucket's lifecycle; this file is applied with
      // `aws s3api put-bucket-lifecycle-configuration --bucket <bucket> --lifecycle-configuration file://...`.
      this.archiveLifecycle = new OutputFile(this, 'archive-lifecycle', {
        path: `logging/${archive.bucket}-lifecycle.json`,
        content: `${JSON.stringify({ Rules: [{ ID: `${this.indexPrefix}-archive-retention`, Status: 'Enabled', Filter: { Prefix: prefix }, Expiration: { Days: archive.retentionDays } }] }, null, 2)}\n`,
      });
    }
  }
}

/** @deprecated since 0.2, use EfkLogging */
export const EfkStack = EfkLogging;
/** @deprecated since 0.2, use EfkLogging */
export type EfkStack = EfkLogging;
/** @deprecated since 0.2, use EfkLoggingProps */
export type EfkStackProps = EfkLoggingProps;
