import { createHash } from 'node:crypto';
import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { runsPublishedImages } from '../core/image-tests';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertInteger } from '../core/names';
import { resources } from '../core/resources';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../core/security';
import { Stack } from '../core/stack';
import { imagePullSecretRefs } from '../workloads/workload-metadata';
import { ELASTICSEARCH_CREDENTIAL_KEYS, Elasticsearch } from './elasticsearch';
import { INDEX_PREFIX } from './fluentd-config';
import { assertCredentialsRevision, secretEnv } from './support';

// The Elasticsearch image's own user, which the Job runs as.
const BOOTSTRAP_UID = 1000;

/** Properties of an {@link ElasticsearchBootstrap}. */
export interface ElasticsearchBootstrapProps {
  /** The cluster to configure. */
  readonly elasticsearch: Elasticsearch;
  /** Prefix of the daily log indices (`logs-prod` → `logs-prod-2024.05.01`). */
  readonly indexPrefix: string;
  /**
   * Days an index stays in Elasticsearch (the hot window) before ILM deletes it; the archive keeps logs longer.
   * @default 7
   */
  readonly retentionDays?: number;
  /**
   * Name of the Elasticsearch user Fluentd writes as; it may only create and write `<indexPrefix>-*` indices.
   * @default 'fluentd'
   */
  readonly fluentdUser?: string;
  /**
   * Revision of the credentials Secret. It is part of the Job's name hash: bump it whenever a password in the
   * Secret changes, and a new Job sets the new `fluentd` and `kibana_system` passwords (a Job runs once and
   * cannot see that a Secret changed). `elastic-password` is read by Elasticsearch on its first start only:
   * change the `elastic` password through the security API first, then the Secret, then bump this.
   * @default '1'
   */
  readonly credentialsRevision?: string;
}

// A week of searchable logs; the archive keeps the rest (docs/practice.md#recent-logs-in-elasticsearch-the-rest-in-s3).
const DEFAULT_RETENTION_DAYS = 7;
/** The credentials revision a stack starts with. */
export const DEFAULT_CREDENTIALS_REVISION = '1';
// Daily indices of JSON application logs outgrow Elasticsearch's 1000-field default quickly.
const TOTAL_FIELDS_LIMIT = 2000;
const USER_NAME = /^[a-z][a-z0-9_-]*$/;

/**
 * Applies the Elasticsearch settings that are data, not pods, with a Job:
 * the ILM policy that deletes indices after the hot window, the index template
 * that attaches it (and sets replicas for the cluster size), the write-only
 * role and user Fluentd ships as, and the `kibana_system` password.
 *
 * Why a Job and not a documented manual bootstrap: the policy lives in Git and
 * is reviewed with the rest, every request is an idempotent PUT, and a new
 * cluster gets it without anyone remembering a runbook step. The Job's name
 * carries a hash of its pod template and of the credentials revision, so a
 * changed policy, a new Elasticsearch image or a bumped revision (after a
 * password change in the Secret) is a new Job that runs once (a Job's pod
 * template cannot change), and an unchanged one is left alone.
 */
export class ElasticsearchBootstrap extends Construct {
  public readonly job: kplus.k8s.KubeJob;
  /** Name of the ILM policy, `<indexPrefix>-hot-window`. */
  public readonly policyName: string;
  public readonly retentionDays: number;
  /** The bootstrap script, as run by the Job. */
  public readonly script: string;
  /** The credentials revision hashed into the Job's name. */
  public readonly credentialsRevision: string;

  constructor(scope: Construct, id: string, props: ElasticsearchBootstrapProps) {
    super(scope, id);
    runsPublishedImages(this);
    const env = Stack.of(this).environment;
    const es = props.elasticsearch;
    if (!INDEX_PREFIX.test(props.indexPrefix ?? '')) {
      throw new ShipshapeError(this, { problem: 'indexPrefix must be a lower-case Elasticsearch index name', value: props.indexPrefix, fix: 'use e.g. "logs-prod"' });
    }
    const user = props.fluentdUser ?? 'fluentd';
    if (!USER_NAME.test(user)) throw new ShipshapeError(this, { problem: 'fluentdUser must be lower-case letters, digits, _ and -', value: user, fix: 'use "fluentd"' });
    this.credentialsRevision = assertCredentialsRevision(this, props.credentialsRevision ?? DEFAULT_CREDENTIALS_REVISION);
    this.retentionDays = assertInteger(this, 'retentionDays', props.retentionDays ?? DEFAULT_RETENTION_DAYS, 1, 3650);
    this.policyName = `${props.indexPrefix}-hot-window`;

    const policy = { policy: { phases: { hot: { min_age: '0ms', actions: {} }, delete: { min_age: `${this.retentionDays}d`, actions: { delete: {} } } } } };
    const template = {
      index_patterns: [`${props.indexPrefix}-*`],
      priority: 200,
      template: {
        settings: {
          'index.lifecycle.name': this.policyName,
          // A single node can hold no replica; with one configured the cluster would stay yellow forever.
          'index.number_of_replicas': es.replicas > 1 ? 1 : 0,
          'index.mapping.total_fields.limit': TOTAL_FIELDS_LIMIT,
        },
      },
    };
    const role = { cluster: ['monitor'], indices: [{ names: [`${props.indexPrefix}-*`], privileges: ['create_index', 'index'] }] };
    const lines = [
      'set -eu',
      `ES=${es.url}`,
      // Passwords are read from the environment (a Secret) and JSON-escaped; none is in this script.
      `json_escape() { printf '%s' "$1" | sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g'; }`,
      `call() { curl -sS -f -o /dev/null -u "elastic:\${ELASTIC_PASSWORD}" -H 'Content-Type: application/json' -X "$1" "$ES$2" --data-binary "$3"; echo "$1 $2: ok"; }`,
      `until curl -sS -f -o /dev/null -u "elastic:\${ELASTIC_PASSWORD}" "$ES/_cluster/health?wait_for_status=yellow&timeout=10s"; do echo "waiting for $ES"; sleep 5; done`,
      `call PUT /_ilm/policy/${this.policyName} ${shellQuote(JSON.stringify(policy))}`,
      `call PUT /_index_template/${props.indexPrefix} ${shellQuote(JSON.stringify(template))}`,
      `call PUT /_security/role/${user}_writer ${shellQuote(JSON.stringify(role))}`,
      `call PUT /_security/user/${user} "{\\"password\\":\\"$(json_escape "$FLUENTD_PASSWORD")\\",\\"roles\\":[\\"${user}_writer\\"]}"`,
      `call POST /_security/user/kibana_system/_password "{\\"password\\":\\"$(json_escape "$KIBANA_SYSTEM_PASSWORD")\\"}"`,
    ];
    this.script = `${lines.join('\n')}\n`;
    const name = `${es.name}-bootstrap`;
    const labels = workloadLabels(name, env, 'bootstrap');
    es.allowClient(selectorLabels(name, env));
    const podTemplate: kplus.k8s.PodTemplateSpec = {
      metadata: { labels },
      spec: {
        restartPolicy: 'OnFailure',
        automountServiceAccountToken: false,
        imagePullSecrets: imagePullSecretRefs(es.imagePullSecrets),
        securityContext: restrictedPodSecurityContext({ runAsUser: BOOTSTRAP_UID }),
        containers: [
          {
            name: 'bootstrap',
            // The Elasticsearch image already has curl and is on the node, so no extra image is pulled.
            image: es.image,
            imagePullPolicy: 'IfNotPresent',
            command: ['bash', '-c', this.script],
            env: [
              secretEnv('ELASTIC_PASSWORD', es.credentialsSecret, ELASTICSEARCH_CREDENTIAL_KEYS.elastic),
              secretEnv('FLUENTD_PASSWORD', es.credentialsSecret, ELASTICSEARCH_CREDENTIAL_KEYS.fluentd),
              secretEnv('KIBANA_SYSTEM_PASSWORD', es.credentialsSecret, ELASTICSEARCH_CREDENTIAL_KEYS.kibanaSystem),
            ],
            resources: resources({ cpu: kplus.Cpu.millis(50), memory: Size.mebibytes(64) }),
            securityContext: restrictedContainerSecurityContext(BOOTSTRAP_UID, { seccomp: false }),
          },
        ],
      },
    };
    // A Job's pod template cannot change: anything in it (the script with the policy, the image after an
    // Elasticsearch upgrade, the pull Secrets) and the credentials revision (a changed password) make a new Job.
    const hash = createHash('sha256').update(JSON.stringify(podTemplate)).update(`\ncredentials-revision=${this.credentialsRevision}`).digest('hex').slice(0, 8);

    this.job = new kplus.k8s.KubeJob(this, 'job', {
      metadata: { name: `${name}-${hash}`, namespace: es.namespace, labels },
      spec: { backoffLimit: 10, activeDeadlineSeconds: 3600, template: podTemplate },
    });
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
