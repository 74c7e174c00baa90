import { Duration, Size } from 'cdk8s';
import { checkWhenResolved, isDeferred } from '../core/deferred';
import { ContainerRuntime } from '../core/environment';
import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { durationSeconds, sizeMebibytes } from '../core/quantities';
import { assertAwsRegion } from '../core/validate';
import { FluentDirective, FluentEnv, FluentRegexp, FluentValue, renderFluentConf } from './fluent-conf';

/** How container log lines are parsed: `cri` for containerd and CRI-O, `json` for Docker's json-file driver. */
export type FluentdParser = 'cri' | 'json';

/** A lower-case Elasticsearch index name prefix, as Fluentd writes and the bootstrap Job's templates match it. */
export const INDEX_PREFIX = /^[a-z0-9][a-z0-9_-]*$/;

/** The `in_tail` source reading the node's container logs. */
export interface FluentdTailProps {
  /**
   * Glob of the container log files.
   * @default '/var/log/containers/*.log' (kubelet's symlinks for every runtime)
   */
  readonly path?: string;
  /**
   * Globs that are not read (the collector's own logs, to avoid a feedback loop).
   * @default []
   */
  readonly excludePaths?: string[];
  /**
   * Parser of the log lines.
   * @default - `cri` for containerd and CRI-O, `json` for Docker
   */
  readonly parser?: FluentdParser;
  /**
   * How long a rotated file is still read after rotation, so its last lines are not lost (whole seconds, 1 s to 1 h).
   * @default Duration.seconds(5) (in_tail's default)
   */
  readonly rotateWait?: Duration;
  /**
   * Time between re-reads of the glob; new pods' logs are picked up this quickly (whole seconds, 1 s to 1 h).
   * @default Duration.seconds(10) (in_tail's 60 s default misses short-lived pods)
   */
  readonly refreshInterval?: Duration;
  /**
   * How long a split line (CRI `P` pieces, Docker 16 KiB pieces) waits for its last piece; then the pieces
   * joined so far are delivered as one record (`timeout_label`), never dropped (whole seconds, 1 s to 1 h).
   * @default Duration.seconds(60) (fluent-plugin-concat's flush_interval)
   */
  readonly partialLineTimeout?: Duration;
}

/** A buffer of one output. */
export interface FluentdBufferProps {
  /**
   * Buffer type. `file` survives restarts and OOM kills; `memory` loses what is buffered.
   * @default 'file'
   */
  readonly type?: 'file' | 'memory';
  /**
   * Largest chunk (one bulk request / one object).
   * @default - 8 MiB for Elasticsearch (fluentd-kubernetes-daemonset), 64 MiB for S3
   */
  readonly chunkLimitSize?: Size;
  /**
   * Most bytes the buffer holds before `overflowAction` applies.
   * @default - 512 MiB for Elasticsearch, 1 GiB for S3 (file buffers on the node's disk)
   */
  readonly totalLimitSize?: Size;
  /**
   * Time between flushes (whole seconds, 1 s to 1 day); `undefined` flushes per time slice (S3).
   * @default - Duration.seconds(5) for Elasticsearch (docs/practice.md#buffers-and-flushing), per time slice for S3
   */
  readonly flushInterval?: Duration;
  /**
   * Parallel flushes; more threads drain a backlog faster.
   * @default 2
   */
  readonly flushThreadCount?: number;
  /**
   * What happens when the buffer is full. `block` pauses reading: in_tail keeps its place in the pos file and
   * resumes, so nothing is dropped while the logs are still on the node — but it pauses every output.
   * @default - 'block', except Elasticsearch next to an S3 archive: 'drop_oldest_chunk', so an Elasticsearch
   * outage never stops the archive (which keeps those lines)
   */
  readonly overflowAction?: 'block' | 'drop_oldest_chunk' | 'throw_exception';
  /**
   * Longest wait between retries (exponential backoff from 1 s; whole seconds, 1 s to 1 day).
   * @default Duration.seconds(30)
   */
  readonly retryMaxInterval?: Duration;
  /**
   * How long a chunk is retried before it is dropped (whole hours, 1 h to 30 days); `undefined` retries until the
   * store is back (bounded by totalLimitSize and overflowAction).
   * @default - retry forever
   */
  readonly retryTimeout?: Duration;
}

/** The Elasticsearch output. */
export interface FluentdElasticsearchOutputProps {
  /** Host name of the Elasticsearch client Service. */
  readonly host: string;
  /**
   * Port.
   * @default 9200
   */
  readonly port?: number;
  /**
   * Scheme.
   * @default 'http'
   */
  readonly scheme?: 'http' | 'https';
  /**
   * CA certificate file inside the container, for `https`.
   * @default - the system trust store
   */
  readonly caFile?: string;
  /**
   * Environment variable holding the user name.
   * @default 'FLUENT_ELASTICSEARCH_USER'
   */
  readonly userEnv?: string;
  /**
   * Environment variable holding the password (set from a Secret).
   * @default 'FLUENT_ELASTICSEARCH_PASSWORD'
   */
  readonly passwordEnv?: string;
  /** Daily index prefix, e.g. `logs-prod` → `logs-prod-2024.05.01`. */
  readonly indexPrefix: string;
  /**
   * Buffer.
   * @default - a file buffer with the defaults of {@link FluentdBufferProps}
   */
  readonly buffer?: FluentdBufferProps;
}

/** The S3 archive output. */
export interface FluentdS3OutputProps {
  /** Bucket name. */
  readonly bucket: string;
  /** Region of the bucket. */
  readonly region: string;
  /**
   * Key prefix; strftime placeholders are filled from the chunk's time.
   * @default 'logs/%Y/%m/%d/'
   */
  readonly path?: string;
  /**
   * Time of logs per object (the buffer's timekey): whole minutes that divide a day. Also the bound on what an
   * ungraceful node loss takes from the archive: the open slice plus {@link S3_TIMEKEY_WAIT_SECONDS} sit in the
   * node's file buffer.
   * @default Duration.seconds(300) (S3_TIME_SLICE_SECONDS)
   */
  readonly timeSlice?: Duration;
  /**
   * Buffer.
   * @default - a file buffer with the S3 defaults of {@link FluentdBufferProps}
   */
  readonly buffer?: FluentdBufferProps;
}

/** Properties of a {@link FluentdConfig}. */
export interface FluentdConfigProps {
  /** Container runtime of the nodes; picks the parser and the host paths. */
  readonly runtime: ContainerRuntime;
  /**
   * The tail source.
   * @default - /var/log/containers/*.log with the runtime's parser
   */
  readonly tail?: FluentdTailProps;
  /**
   * Parse JSON application logs into fields (applications log JSON to stdout, docs/practice.md#json-to-stdout);
   * other lines stay text.
   * The record keeps the time of its log line unless the JSON carries a valid `time` (ISO-8601 or epoch seconds).
   * @default true
   */
  readonly parseJson?: boolean;
  /**
   * Replace dots in field names (`app.kubernetes.io/name` → `app_kubernetes_io/name`), so Elasticsearch
   * never sees both `app` and `app.kubernetes.io/name` as a field and rejects documents for a mapping conflict.
   * @default - true when there is an Elasticsearch output
   */
  readonly dedot?: boolean;
  /**
   * Elasticsearch output.
   * @default - none
   */
  readonly elasticsearch?: FluentdElasticsearchOutputProps;
  /**
   * S3 archive output.
   * @default - none
   */
  readonly s3?: FluentdS3OutputProps;
  /**
   * Port of `monitor_agent` (buffer_queue_length, buffer_total_queued_size, retry_count).
   * @default 24220 (monitor_agent's upstream default, see docs/practice.md#watching-the-collector)
   */
  readonly monitorPort?: number;
  /**
   * Port of the Prometheus metrics endpoint.
   * @default 24231 (fluent-plugin-prometheus)
   */
  readonly metricsPort?: number;
  /**
   * Directory on a hostPath for pos files and file buffers; it outlives the pod so a restart resumes.
   * @default '/var/lib/fluentd'
   */
  readonly stateDirectory?: string;
  /**
   * Memory limit of the container; memory buffers must fit in it with room for Fluentd itself.
   * @default - not checked
   */
  readonly memoryLimit?: Size;
}

/** Port of monitor_agent, its upstream default (docs/practice.md#watching-the-collector). */
export const FLUENTD_MONITOR_PORT = 24220;
/** Port fluent-plugin-prometheus serves /metrics on. */
export const FLUENTD_METRICS_PORT = 24231;
/** Host directory for pos files and buffers. */
export const FLUENTD_STATE_DIRECTORY = '/var/lib/fluentd';
/** Seconds of logs per S3 object: small, so an ungraceful node loss costs the archive minutes, not an hour. */
export const S3_TIME_SLICE_SECONDS = 300;
/** Seconds a time slice stays open for late records before it is uploaded (Fluentd's default is 600). */
export const S3_TIMEKEY_WAIT_SECONDS = 60;
/** fluent-plugin-elasticsearch's request_timeout as set here: the longest a single bulk request may take. */
export const ES_REQUEST_TIMEOUT_SECONDS = 30;
/**
 * Seconds a SIGTERM needs to flush both file buffers (flush_at_shutdown): one bulk request that runs into
 * ES_REQUEST_TIMEOUT_SECONDS plus the uploads of the staged S3 slice, two flush threads each.
 */
export const FLUENTD_SHUTDOWN_FLUSH_SECONDS = ES_REQUEST_TIMEOUT_SECONDS + 15;
// kubelet's runtime-independent symlinks to every container's log.
const DEFAULT_TAIL_PATH = '/var/log/containers/*.log';
const DEFAULT_ROTATE_WAIT_SECONDS = 5;
const DEFAULT_REFRESH_INTERVAL_SECONDS = 10;
// fluent-plugin-concat's flush_interval default.
const DEFAULT_PARTIAL_LINE_TIMEOUT_SECONDS = 60;
// fluentd-kubernetes-daemonset's elasticsearch chunk size: well under Elasticsearch's 100 MB http.max_content_length.
const ES_CHUNK_LIMIT = Size.mebibytes(8);
const ES_TOTAL_LIMIT = Size.mebibytes(512);
// flush_interval: how often logs reach Elasticsearch (docs/practice.md#buffers-and-flushing).
const ES_FLUSH_INTERVAL_SECONDS = 5;
// fluent-plugin-elasticsearch's default: the Elasticsearch major assumed when it is not asked at start-up.
const ES_MAJOR_VERSION = 8;
const S3_CHUNK_LIMIT = Size.mebibytes(64);
const S3_TOTAL_LIMIT = Size.gibibytes(1);
// One object per buffer chunk: ${chunk_id} is unique per chunk and stable across retries of it, so parallel
// flush threads never share a key and a retried upload rewrites its own object; %{index} only moves on when
// an earlier attempt of the same chunk already landed (check_object), so nothing is overwritten.
const S3_OBJECT_KEY_FORMAT = '%{path}%{time_slice}_${chunk_id}_%{index}.%{file_extension}';
const DEFAULT_FLUSH_THREADS = 2;
const DEFAULT_RETRY_MAX_INTERVAL_SECONDS = 30;
// Fluentd itself (Ruby, plugins, kubernetes metadata cache) needs about this much besides its memory buffers.
const FLUENTD_BASE_MEMORY_MIB = 128;
// Container runtimes stamp lines with RFC 3339 nanoseconds and drop trailing zeros (`…00.1Z`, even `…00Z`):
// strptime's %N reads any number of digits, and %iso8601 takes what it cannot.
const LINE_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%N%z';
// The application's own time: the field name most JSON loggers use.
const APP_TIME_KEY = 'time';
// ISO-8601 date-times Ruby's Time.iso8601 accepts without error, or epoch seconds from 1973 to 2286 (epoch
// milliseconds do not match and keep the line's time). Anything else keeps the line's time as well.
const APP_TIME_PATTERN =
  '^(?<time>\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])[Tt]([01]\\d|2[0-3]):[0-5]\\d:([0-5]\\d|60)(\\.\\d{1,9})?([Zz]|[+-]([01]\\d|2[0-3]):?[0-5]\\d)?|[1-9]\\d{8,9}(\\.\\d{1,9})?)$';

// Labels of the pipeline. Fluentd shuts labels down in the order they are defined, and each emits only to later ones.
const LABEL_CONCAT = '@CONCAT';
const LABEL_NORMALIZE = '@NORMALIZE';
const LABEL_ELASTICSEARCH = '@ELASTICSEARCH';
const LABEL_S3 = '@S3';

/** Gem of each plugin type the model can emit (core plugins need none). */
export const PLUGIN_GEMS: Readonly<Record<string, string>> = {
  cri: 'fluent-plugin-parser-cri',
  concat: 'fluent-plugin-concat',
  kubernetes_metadata: 'fluent-plugin-kubernetes_metadata_filter',
  dedot: 'fluent-plugin-dedot_filter',
  prometheus: 'fluent-plugin-prometheus',
  prometheus_monitor: 'fluent-plugin-prometheus',
  prometheus_output_monitor: 'fluent-plugin-prometheus',
  prometheus_tail_monitor: 'fluent-plugin-prometheus',
  elasticsearch: 'fluent-plugin-elasticsearch',
  elasticsearch_genid: 'fluent-plugin-elasticsearch',
  s3: 'fluent-plugin-s3',
};

/**
 * What Fluentd 1.17's in_tail logs for a line its parser rejects: `pattern not matched: "<line>"` when the
 * parser finds no record (json on CRI lines), `invalid line found` when it fails on it (cri on Docker lines,
 * whose first word is no time stamp). Alert and error texts quote these.
 */
export const FLUENTD_REJECTED_LINE_MESSAGES = ['invalid line found', 'pattern not matched'] as const;

const ABSOLUTE_PATH = /^\/[A-Za-z0-9_.*/-]*$/;
const MATCH_TAG = 'kubernetes.**';

/** A Fluentd size parameter: whole mebibytes as `<n>m`, anything else as a byte count (a fraction of a byte rounds up). */
function sizeValue(mebibytes: number): string {
  return Number.isInteger(mebibytes) ? `${mebibytes}m` : String(Math.ceil(mebibytes * 1024 * 1024));
}

/** The S3 time slice format that names a slice of `seconds` exactly (minutes, hours or days). */
function timeSliceFormat(seconds: number): string {
  if (seconds % 86400 === 0) return '%Y%m%d';
  if (seconds % 3600 === 0) return '%Y%m%d%H';
  return '%Y%m%d%H%M';
}

/** The parser a runtime needs: containerd and CRI-O write CRI lines, Docker's json-file driver writes JSON. */
export function parserForRuntime(runtime: ContainerRuntime): FluentdParser {
  return runtime === 'docker' ? 'json' : 'cri';
}

interface ResolvedBuffer {
  readonly type: 'file' | 'memory';
  readonly totalLimitMiB: number;
}

/**
 * A typed fluent.conf for a node-level collector. The tail source feeds a chain of labels:
 * `@CONCAT` joins split lines per container and stream (a line that never completes is delivered after
 * the timeout, not dropped), `@NORMALIZE` parses JSON messages while keeping each line's own time (or the
 * application's valid `time`), adds Kubernetes metadata and de-dots field names, then fans out with
 * `relabel` to one label per output (`@ELASTICSEARCH`, `@S3`), each with its own file buffer, so one store's
 * outage or retries never reach the other. monitor_agent and Prometheus metrics expose the collector's state.
 * Invalid combinations throw a ShipshapeError naming `scope`.
 */
export class FluentdConfig {
  /** The sections, in rendering order. */
  public readonly directives: readonly FluentDirective[];
  /** Gems the configuration needs, sorted. */
  public readonly plugins: readonly string[];
  /** The parser of container log lines. */
  public readonly parser: FluentdParser;
  public readonly monitorPort: number;
  public readonly metricsPort: number;
  public readonly stateDirectory: string;
  /** Outputs configured, in order. */
  public readonly outputs: readonly ('elasticsearch' | 's3')[];
  /** Environment variables the rendered file reads (credentials come in this way). */
  public readonly environmentVariables: readonly string[];
  /** Seconds of archive data an ungraceful node loss can take from the S3 buffer (time slice + wait), when archiving. */
  public readonly s3LossBoundSeconds?: number;
  /** Seconds a SIGTERM needs to flush every buffer; the pod's grace period must be at least this. */
  public readonly shutdownFlushSeconds = FLUENTD_SHUTDOWN_FLUSH_SECONDS;
  private readonly scope: ErrorScope;
  private readonly buffers: ResolvedBuffer[] = [];

  constructor(scope: ErrorScope, props: FluentdConfigProps) {
    this.scope = scope;
    const tail = props.tail ?? {};
    const parser = tail.parser ?? parserForRuntime(props.runtime);
    if (parser !== 'cri' && parser !== 'json') {
      throw new ShipshapeError(scope, {
        problem: 'tail.parser must be "cri" (containerd, CRI-O) or "json" (Docker)',
        value: parser,
        fix: `omit tail.parser to get the one for the "${props.runtime}" runtime`,
      });
    }
    if (props.runtime !== 'docker' && parser === 'json') {
      // The most common collector failure: every line rejected, and nothing shipped.
      throw new ShipshapeError(scope, {
        problem: `the ${props.runtime} runtime writes CRI log lines, which the json parser cannot read: Fluentd 1.17 logs "[warn]: pattern not matched: <line>" for every line and ships nothing`,
        value: parser,
        fix: 'use parser "cri", or omit tail.parser',
      });
    }
    if (props.runtime === 'docker' && parser === 'cri') {
      throw new ShipshapeError(scope, {
        problem:
          'Docker\'s json-file driver writes JSON log lines, which the cri parser cannot read: Fluentd 1.17 logs "[warn]: invalid line found" (or "pattern not matched") for every line and ships nothing',
        value: parser,
        fix: 'use parser "json", or omit tail.parser',
      });
    }
    this.parser = parser;
    this.monitorPort = assertInteger(scope, 'monitorPort', props.monitorPort ?? FLUENTD_MONITOR_PORT, 1, 65535);
    this.metricsPort = assertInteger(scope, 'metricsPort', props.metricsPort ?? FLUENTD_METRICS_PORT, 1, 65535);
    if (this.monitorPort === this.metricsPort) {
      throw new ShipshapeError(scope, { problem: 'monitorPort and metricsPort are the same port', value: this.monitorPort, fix: `use ${FLUENTD_MONITOR_PORT} and ${FLUENTD_METRICS_PORT}` });
    }
    this.stateDirectory = this.path('stateDirectory', props.stateDirectory ?? FLUENTD_STATE_DIRECTORY).replace(/\/$/, '');

    if (!props.elasticsearch && !props.s3) {
      throw new ShipshapeError(scope, {
        problem: 'fluent.conf has no output, so every log line would be read and dropped',
        value: { elasticsearch: undefined, s3: undefined },
        fix: 'configure elasticsearch, s3 or both',
      });
    }
    const outputLabels: FluentDirective[] = [];
    const outputs: ('elasticsearch' | 's3')[] = [];
    const env: string[] = [];
    // The archive first: its file buffer serializes each record before the Elasticsearch label adds its id.
    if (props.s3) {
      outputLabels.push(this.s3Label(props.s3));
      this.s3LossBoundSeconds = this.timeSliceSeconds(props.s3) + S3_TIMEKEY_WAIT_SECONDS;
    }
    if (props.elasticsearch) outputLabels.push(this.elasticsearchLabel(props.elasticsearch, env, props.s3 !== undefined));
    if (props.elasticsearch) outputs.push('elasticsearch');
    if (props.s3) outputs.push('s3');
    this.outputs = outputs;
    this.environmentVariables = env;
    this.checkMemory(props.memoryLimit);

    const messageKey = parser === 'cri' ? 'message' : 'log';
    const normalize: FluentDirective[] = [];
    if (props.parseJson ?? true) normalize.push(...this.jsonFilters(messageKey));
    normalize.push({
      name: 'filter',
      arg: MATCH_TAG,
      params: [
        ['@type', 'kubernetes_metadata'],
        ['@id', 'filter_kubernetes_metadata'],
        ['skip_master_url', true],
        ['skip_container_metadata', false],
        ['skip_labels', false],
      ],
    });
    if (props.dedot ?? props.elasticsearch !== undefined) {
      normalize.push({
        name: 'filter',
        arg: MATCH_TAG,
        params: [
          ['@type', 'dedot'],
          ['@id', 'filter_dedot'],
          ['de_dot', true],
          ['de_dot_separator', '_'],
          ['de_dot_nested', true],
        ],
      });
    }
    normalize.push({
      name: 'filter',
      arg: MATCH_TAG,
      params: [
        ['@type', 'prometheus'],
        ['@id', 'filter_records_metric'],
      ],
      children: [
        {
          name: 'metric',
          params: [
            ['name', 'fluentd_input_status_num_records_total'],
            ['type', 'counter'],
            ['desc', 'The total number of incoming records'],
          ],
          children: [{ name: 'labels', params: [['hostname', '${hostname}']] }],
        },
      ],
    });
    normalize.push(this.fanOut(outputs));

    const partialTimeout = durationSeconds(scope, 'tail.partialLineTimeout', tail.partialLineTimeout ?? Duration.seconds(DEFAULT_PARTIAL_LINE_TIMEOUT_SECONDS), 1, 3600);
    this.directives = [
      {
        name: 'source',
        params: [
          ['@type', 'monitor_agent'],
          ['@id', 'in_monitor_agent'],
          ['bind', '0.0.0.0'],
          ['port', this.monitorPort],
        ],
      },
      {
        name: 'source',
        params: [
          ['@type', 'prometheus'],
          ['@id', 'in_prometheus'],
          ['bind', '0.0.0.0'],
          ['port', this.metricsPort],
          ['metrics_path', '/metrics'],
        ],
      },
      {
        name: 'source',
        params: [
          ['@type', 'prometheus_monitor'],
          ['@id', 'in_prometheus_monitor'],
        ],
      },
      {
        name: 'source',
        params: [
          ['@type', 'prometheus_output_monitor'],
          ['@id', 'in_prometheus_output_monitor'],
        ],
      },
      // fluentd_tail_file_position: reading goes on even when every line is rejected, which the alerts compare with records emitted.
      {
        name: 'source',
        params: [
          ['@type', 'prometheus_tail_monitor'],
          ['@id', 'in_prometheus_tail_monitor'],
        ],
      },
      this.tailSource(tail, parser),
      // Labels are shut down in this order, so what @CONCAT still holds at SIGTERM reaches outputs that are still open.
      {
        name: 'label',
        arg: LABEL_CONCAT,
        children: [
          this.concatFilter(parser, partialTimeout),
          {
            name: 'match',
            arg: MATCH_TAG,
            params: [
              ['@type', 'relabel'],
              ['@id', 'out_relabel_normalize'],
              ['@label', LABEL_NORMALIZE],
            ],
          },
        ],
      },
      { name: 'label', arg: LABEL_NORMALIZE, children: normalize },
      ...outputLabels,
    ];
    this.plugins = [
      ...new Set(
        collectTypes(this.directives)
          .map((t) => PLUGIN_GEMS[t])
          .filter((g): g is string => g !== undefined),
      ),
    ].sort();
  }

  /** The fluent.conf text. */
  public render(): string {
    return renderFluentConf(this.scope, this.directives, 'fluent.conf rendered by shipshape; edit the FluentdConfig that produces it, not this file.');
  }

  private path(field: string, value: string): string {
    if (typeof value !== 'string' || !ABSOLUTE_PATH.test(value) || value.split('/').includes('..')) {
      throw new ShipshapeError(this.scope, { problem: `${field} must be an absolute path of letters, digits and _ . * - /`, value, fix: `use e.g. "${FLUENTD_STATE_DIRECTORY}"` });
    }
    return value;
  }

  private tailSource(tail: FluentdTailProps, parser: FluentdParser): FluentDirective {
    // The line's own time; not kept as a field (it is the record's time, and @timestamp in Elasticsearch).
    const lineTime: [string, FluentValue][] = [
      ['time_key', 'time'],
      ['time_type', 'mixed'],
      ['time_format', LINE_TIME_FORMAT],
      ['time_format_fallbacks', ['%iso8601']],
      ['keep_time_key', false],
    ];
    const parse: FluentDirective =
      parser === 'cri' ? { name: 'parse', params: [['@type', 'cri'], ['merge_cri_fields', true], ...lineTime] } : { name: 'parse', params: [['@type', 'json'], ...lineTime] };
    const exclude = (tail.excludePaths ?? []).map((p, i) => this.path(`tail.excludePaths[${i}]`, p));
    return {
      name: 'source',
      params: [
        ['@type', 'tail'],
        ['@id', 'in_tail_container_logs'],
        ['@label', LABEL_CONCAT],
        ['path', this.path('tail.path', tail.path ?? DEFAULT_TAIL_PATH)],
        ...(exclude.length > 0 ? [['exclude_path', exclude] as const] : []),
        // On the hostPath state directory: a restarted pod resumes where it stopped instead of re-reading or skipping.
        ['pos_file', `${this.stateDirectory}/pos/containers.log.pos`],
        ['pos_file_compaction_interval', '1h'],
        ['tag', 'kubernetes.*'],
        ['read_from_head', true],
        // Track files by inode: kubelet rotates by rename, and path-only tracking loses or re-reads the rotated file.
        ['follow_inodes', true],
        ['rotate_wait', `${durationSeconds(this.scope, 'tail.rotateWait', tail.rotateWait ?? Duration.seconds(DEFAULT_ROTATE_WAIT_SECONDS), 1, 3600)}s`],
        ['refresh_interval', `${durationSeconds(this.scope, 'tail.refreshInterval', tail.refreshInterval ?? Duration.seconds(DEFAULT_REFRESH_INTERVAL_SECONDS), 1, 3600)}s`],
      ],
      children: [parse],
    };
  }

  /**
   * Joins lines the runtime split (CRI marks pieces with logtag P; Docker's json-file splits at 16 KiB without
   * a trailing newline), one buffer per container and stream so stdout and stderr pieces never mix. The joined
   * record keeps `stream` and the time of its first piece; pieces whose last part never comes are delivered to
   * `@NORMALIZE` after the timeout (and at shutdown) instead of being dropped.
   */
  private concatFilter(parser: FluentdParser, timeoutSeconds: number): FluentDirective {
    const common: [string, FluentValue][] = [
      ['stream_identity_key', 'stream'],
      ['separator', ''],
      ['use_first_timestamp', true],
      ['flush_interval', `${timeoutSeconds}s`],
      ['timeout_label', LABEL_NORMALIZE],
    ];
    const params: [string, FluentValue][] =
      parser === 'cri'
        ? [
            ['@type', 'concat'],
            ['@id', 'filter_concat'],
            ['key', 'message'],
            ['use_partial_cri_logtag', true],
            ['partial_cri_logtag_key', 'logtag'],
            // concat 2.5 uses partial_cri_stream_key only to delete that field from joined records; naming the logtag
            // field (deleted anyway) keeps `stream` in every record.
            ['partial_cri_stream_key', 'logtag'],
            ...common,
          ]
        : [['@type', 'concat'], ['@id', 'filter_concat'], ['key', 'log'], ['multiline_end_regexp', new FluentRegexp('\\n$')], ...common];
    return { name: 'filter', arg: MATCH_TAG, params };
  }

  /**
   * JSON messages become fields without touching the record's time (`reserve_time`; the parser reads no time key,
   * so a bad `time` can never make it drop the record). A second parser then takes the application's `time` as
   * the record time only when it is an ISO-8601 string or epoch seconds; otherwise the line's time stays and so
   * does the field (as a string, one mapping for every application).
   */
  private jsonFilters(messageKey: string): FluentDirective[] {
    return [
      {
        name: 'filter',
        arg: MATCH_TAG,
        params: [
          ['@type', 'parser'],
          ['@id', 'filter_json_message'],
          ['key_name', messageKey],
          ['reserve_data', true],
          ['reserve_time', true],
          ['remove_key_name_field', true],
          ['emit_invalid_record_to_error', false],
        ],
        children: [
          {
            name: 'parse',
            params: [
              ['@type', 'json'],
              ['json_parser', 'json'],
              ['time_key', ''],
              ['estimate_current_event', false],
              ['types', `${APP_TIME_KEY}:string`],
            ],
          },
        ],
      },
      {
        name: 'filter',
        arg: MATCH_TAG,
        params: [
          ['@type', 'parser'],
          ['@id', 'filter_app_time'],
          ['key_name', APP_TIME_KEY],
          ['reserve_data', true],
          ['reserve_time', false],
          ['remove_key_name_field', true],
          ['emit_invalid_record_to_error', false],
        ],
        children: [
          {
            name: 'parse',
            params: [
              ['@type', 'regexp'],
              ['expression', new FluentRegexp(APP_TIME_PATTERN)],
              ['time_key', APP_TIME_KEY],
              ['time_type', 'mixed'],
              ['time_format', '%iso8601'],
              ['time_format_fallbacks', ['float']],
              ['keep_time_key', false],
              ['estimate_current_event', false],
            ],
          },
        ],
      },
    ];
  }

  /** One label per output; several are fed by `copy` (archive first, Elasticsearch with ignore_error). */
  private fanOut(outputs: readonly ('elasticsearch' | 's3')[]): FluentDirective {
    const relabel = (output: 'elasticsearch' | 's3'): [string, FluentValue][] => [
      ['@type', 'relabel'],
      ['@label', output === 's3' ? LABEL_S3 : LABEL_ELASTICSEARCH],
    ];
    if (outputs.length === 1) return { name: 'match', arg: MATCH_TAG, params: [...relabel(outputs[0]), ['@id', `out_relabel_${outputs[0]}`]] };
    return {
      name: 'match',
      arg: MATCH_TAG,
      params: [
        ['@type', 'copy'],
        ['@id', 'out_copy'],
      ],
      // ignore_error: a failing Elasticsearch emit never stops the archive; the archive's own errors propagate, so
      // in_tail keeps its place and reads the lines again.
      children: (['s3', 'elasticsearch'] as const).filter((o) => outputs.includes(o)).map((o) => ({ name: 'store', arg: o === 'elasticsearch' ? 'ignore_error' : undefined, params: relabel(o) })),
    };
  }

  private buffer(
    output: string,
    props: FluentdBufferProps | undefined,
    defaults: { chunk: Size; total: Size; flush?: number; overflow: 'block' | 'drop_oldest_chunk' },
    chunkKeys?: string,
    extra: [string, FluentValue][] = [],
  ): FluentDirective {
    const field = `${output}.buffer`;
    const type = props?.type ?? 'file';
    if (type !== 'file' && type !== 'memory') {
      throw new ShipshapeError(this.scope, { problem: `${field}.type must be "file" or "memory"`, value: type, fix: 'use "file"' });
    }
    const chunk = sizeMebibytes(this.scope, `${field}.chunkLimitSize`, props?.chunkLimitSize ?? defaults.chunk);
    const total = sizeMebibytes(this.scope, `${field}.totalLimitSize`, props?.totalLimitSize ?? defaults.total);
    if (chunk > total) {
      throw new ShipshapeError(this.scope, {
        problem: `${field}.chunkLimitSize (${chunk} MiB) must be no larger than totalLimitSize (${total} MiB)`,
        value: { chunkLimitSize: chunk, totalLimitSize: total },
        fix: 'make chunkLimitSize ≤ totalLimitSize',
      });
    }
    const overflow = props?.overflowAction ?? defaults.overflow;
    if (!['block', 'drop_oldest_chunk', 'throw_exception'].includes(overflow)) {
      throw new ShipshapeError(this.scope, { problem: `${field}.overflowAction is not a Fluentd overflow action`, value: overflow, fix: 'use "block", "drop_oldest_chunk" or "throw_exception"' });
    }
    const flush = props?.flushInterval ?? (defaults.flush === undefined ? undefined : Duration.seconds(defaults.flush));
    const threads = assertInteger(this.scope, `${field}.flushThreadCount`, props?.flushThreadCount ?? DEFAULT_FLUSH_THREADS, 1, 64);
    const retryMax = durationSeconds(this.scope, `${field}.retryMaxInterval`, props?.retryMaxInterval ?? Duration.seconds(DEFAULT_RETRY_MAX_INTERVAL_SECONDS), 1, 86400);
    this.buffers.push({ type, totalLimitMiB: total });
    const params: [string, FluentValue][] = [['@type', type]];
    if (type === 'file') params.push(['path', `${this.stateDirectory}/buffer/${output}`]);
    params.push(...extra);
    if (flush !== undefined) {
      params.push(['flush_mode', 'interval'], ['flush_interval', `${durationSeconds(this.scope, `${field}.flushInterval`, flush, 1, 86400)}s`]);
    } else {
      params.push(['flush_mode', 'lazy']);
    }
    // A SIGTERM (rollout, or cluster-autoscaler evicting the pod before it removes the node) writes out every
    // chunk: a file buffer left on a node that is deleted next is lost with it.
    params.push(['flush_at_shutdown', true]);
    params.push(['flush_thread_count', threads], ['chunk_limit_size', sizeValue(chunk)], ['total_limit_size', sizeValue(total)], ['overflow_action', overflow]);
    params.push(['retry_type', 'exponential_backoff'], ['retry_wait', '1s'], ['retry_max_interval', `${retryMax}s`]);
    if (props?.retryTimeout === undefined) params.push(['retry_forever', true]);
    else params.push(['retry_timeout', `${this.retryTimeoutHours(`${field}.retryTimeout`, props.retryTimeout)}h`]);
    return { name: 'buffer', arg: chunkKeys, params };
  }

  /** Whole hours of a retry timeout, from one hour to 30 days: Fluentd's `retry_timeout` is written in hours. */
  private retryTimeoutHours(field: string, timeout: Duration): number {
    const seconds = durationSeconds(this.scope, field, timeout, 3600, 30 * 86400);
    if (seconds % 3600 !== 0) throw new ShipshapeError(this.scope, { problem: `${field} must be whole hours`, value: `${seconds} s`, fix: 'use e.g. Duration.hours(24)' });
    return seconds / 3600;
  }

  /** Seconds of one S3 time slice: whole minutes that divide a day, so every object name is its slice's start. */
  private timeSliceSeconds(s3: FluentdS3OutputProps): number {
    const slice = durationSeconds(this.scope, 's3.timeSlice', s3.timeSlice ?? Duration.seconds(S3_TIME_SLICE_SECONDS), 60, 86400);
    if (86400 % slice !== 0 || slice % 60 !== 0) {
      throw new ShipshapeError(this.scope, {
        problem: "s3.timeSlice must be whole minutes that divide a day, so every object name is its slice's start",
        value: `${slice} s`,
        fix: `use e.g. Duration.minutes(${S3_TIME_SLICE_SECONDS / 60}) or Duration.hours(1)`,
      });
    }
    return slice;
  }

  private elasticsearchLabel(es: FluentdElasticsearchOutputProps, env: string[], archived: boolean): FluentDirective {
    if (!es.host || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(es.host)) {
      throw new ShipshapeError(this.scope, { problem: 'elasticsearch.host must be a DNS name', value: es.host, fix: 'wire it from Elasticsearch.clientHost' });
    }
    if (!es.indexPrefix || !INDEX_PREFIX.test(es.indexPrefix)) {
      throw new ShipshapeError(this.scope, { problem: 'elasticsearch.indexPrefix must be a lower-case Elasticsearch index name', value: es.indexPrefix, fix: 'use e.g. "logs-prod"' });
    }
    const scheme = es.scheme ?? 'http';
    if (scheme !== 'http' && scheme !== 'https')
      throw new ShipshapeError(this.scope, { problem: 'elasticsearch.scheme must be "http" or "https"', value: scheme, fix: 'use "https" when Elasticsearch serves TLS' });
    if (archived && es.buffer?.overflowAction === 'block') {
      throw new ShipshapeError(this.scope, {
        problem: 'elasticsearch.buffer.overflowAction "block" next to an S3 archive: a long Elasticsearch outage fills the buffer and then stops the archive too',
        value: es.buffer.overflowAction,
        fix: 'omit it for "drop_oldest_chunk" (the archive keeps the dropped lines), or use "throw_exception"',
      });
    }
    const userEnv = es.userEnv ?? 'FLUENT_ELASTICSEARCH_USER';
    const passwordEnv = es.passwordEnv ?? 'FLUENT_ELASTICSEARCH_PASSWORD';
    env.push(userEnv, passwordEnv);
    const params: [string, FluentValue][] = [
      ['@type', 'elasticsearch'],
      ['@id', 'out_elasticsearch'],
      ['host', es.host],
      ['port', assertInteger(this.scope, 'elasticsearch.port', es.port ?? 9200, 1, 65535)],
      ['scheme', scheme],
      ...(scheme === 'https' ? [['ssl_verify', true] as [string, FluentValue], ...(es.caFile ? [['ca_file', this.path('elasticsearch.caFile', es.caFile)] as [string, FluentValue]] : [])] : []),
      ['user', new FluentEnv(userEnv)],
      ['password', new FluentEnv(passwordEnv)],
      ['logstash_format', true],
      ['logstash_prefix', es.indexPrefix],
      ['logstash_dateformat', '%Y.%m.%d'],
      ['suppress_type_name', true],
      // Not asked at start-up: with Elasticsearch down the worker would exit and restart in a loop, tailing nothing.
      ['verify_es_version_at_startup', false],
      ['default_elasticsearch_version', ES_MAJOR_VERSION],
      // Each record carries an id from the genid filter: a bulk retried after a timeout or a 503 creates nothing
      // twice (Elasticsearch answers 409, counted as a duplicate, not an error). The id stays in the document: the
      // plugin's bulk error handler re-reads the records it sent, and with `remove_keys _hash` finds no id for a
      // `create`, so items Elasticsearch refused (429 es_rejected_execution_exception, 400) were dropped unlogged.
      ['id_key', '_hash'],
      ['write_operation', 'create'],
      ['log_es_400_reason', true],
      // Behind a Service the node list must not be sniffed: pod addresses change and sniffing breaks the connection.
      ['reload_connections', false],
      ['reconnect_on_error', true],
      ['reload_on_failure', true],
      ['request_timeout', `${ES_REQUEST_TIMEOUT_SECONDS}s`],
    ];
    const buffer = this.buffer('elasticsearch', es.buffer, { chunk: ES_CHUNK_LIMIT, total: ES_TOTAL_LIMIT, flush: ES_FLUSH_INTERVAL_SECONDS, overflow: archived ? 'drop_oldest_chunk' : 'block' });
    return {
      name: 'label',
      arg: LABEL_ELASTICSEARCH,
      children: [
        // Inside the label, so items Elasticsearch answers 429 for and the plugin re-emits come back here only.
        {
          name: 'filter',
          arg: MATCH_TAG,
          params: [
            ['@type', 'elasticsearch_genid'],
            ['@id', 'filter_elasticsearch_genid'],
            ['hash_id_key', '_hash'],
          ],
        },
        { name: 'match', arg: MATCH_TAG, params, children: [buffer] },
      ],
    };
  }

  private s3Label(s3: FluentdS3OutputProps): FluentDirective {
    const checkBucket = (bucket: string) => {
      if (!bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
        throw new ShipshapeError(this.scope, { problem: 's3.bucket must be an S3 bucket name (3-63 lower-case letters, digits, . and -)', value: bucket, fix: 'name the archive bucket' });
      }
    };
    // A bucket the deployment creates (fromInput) is checked once its name is known.
    if (isDeferred(s3.bucket)) checkWhenResolved(s3.bucket, checkBucket);
    else checkBucket(s3.bucket);
    assertAwsRegion(this.scope, 's3.region', s3.region);
    const path = s3.path ?? 'logs/%Y/%m/%d/';
    if (!/^[A-Za-z0-9%._/-]*$/.test(path) || path.startsWith('/')) {
      throw new ShipshapeError(this.scope, { problem: 's3.path must be a relative key prefix of letters, digits, % . _ - /', value: path, fix: 'use e.g. "logs/prod/%Y/%m/%d/"' });
    }
    const slice = this.timeSliceSeconds(s3);
    const params: [string, FluentValue][] = [
      ['@type', 's3'],
      ['@id', 'out_s3'],
      // No keys here: the AWS SDK reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (from a Secret) or the pod's IAM role.
      ['s3_bucket', s3.bucket],
      ['s3_region', s3.region],
      ['path', path],
      ['s3_object_key_format', S3_OBJECT_KEY_FORMAT],
      ['time_slice_format', timeSliceFormat(slice)],
      ['store_as', 'gzip'],
    ];
    return {
      name: 'label',
      arg: LABEL_S3,
      children: [
        {
          name: 'match',
          arg: MATCH_TAG,
          params,
          children: [
            // Chunked by time only: one chunk per slice and node, not one per container that each waits for its slice to close.
            this.buffer('s3', s3.buffer, { chunk: S3_CHUNK_LIMIT, total: S3_TOTAL_LIMIT, overflow: 'block' }, 'time', [
              ['timekey', slice],
              ['timekey_wait', `${S3_TIMEKEY_WAIT_SECONDS}s`],
              ['timekey_use_utc', true],
            ]),
            // Each archived line carries its time, as Elasticsearch's @timestamp does.
            {
              name: 'inject',
              params: [
                ['time_key', '@timestamp'],
                ['time_type', 'string'],
                ['time_format', '%Y-%m-%dT%H:%M:%S.%NZ'],
                ['utc', true],
              ],
            },
            { name: 'format', params: [['@type', 'json']] },
          ],
        },
      ],
    };
  }

  private checkMemory(limit: Size | undefined): void {
    if (limit === undefined) return;
    const memory = this.buffers.filter((b) => b.type === 'memory').reduce((sum, b) => sum + b.totalLimitMiB, 0);
    const limitMiB = sizeMebibytes(this.scope, 'memoryLimit', limit);
    if (memory > 0 && memory + FLUENTD_BASE_MEMORY_MIB > limitMiB) {
      throw new ShipshapeError(this.scope, {
        problem: `memory buffers may hold ${memory} MiB, which with Fluentd's own ~${FLUENTD_BASE_MEMORY_MIB} MiB exceeds the container's ${limitMiB} MiB memory limit: the collector would be OOM-killed under backlog and lose the buffered logs`,
        value: { memoryBuffersMiB: memory, memoryLimitMiB: limitMiB },
        fix: `use file buffers (the default), lower totalLimitSize, or raise the memory limit above ${memory + FLUENTD_BASE_MEMORY_MIB} MiB`,
      });
    }
  }
}

function collectTypes(directives: readonly FluentDirective[]): string[] {
  return directives.flatMap((d) => [...(d.params ?? []).filter(([k]) => k === '@type').map(([, v]) => String(v)), ...collectTypes(d.children ?? [])]);
}
