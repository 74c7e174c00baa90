import { Size } from 'cdk8s';
import { ContainerRuntime } from '../core/environment';
import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { FluentDirective, FluentEnv, FluentRegexp, FluentValue, renderFluentConf } from './fluent-conf';

/** How container log lines are parsed: `cri` for containerd and CRI-O, `json` for Docker's json-file driver. */
export type FluentdParser = 'cri' | 'json';

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
   * Seconds a rotated file is still read after rotation, so its last lines are not lost.
   * @default 5 (in_tail's default)
   */
  readonly rotateWaitSeconds?: number;
  /**
   * Seconds between re-reads of the glob; new pods' logs are picked up this quickly.
   * @default 10 (in_tail's 60 s default misses short-lived pods)
   */
  readonly refreshIntervalSeconds?: number;
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
   * Seconds between flushes; `undefined` flushes per time slice (S3).
   * @default - 5 for Elasticsearch (the notes' flush_interval), per time slice for S3
   */
  readonly flushIntervalSeconds?: number;
  /**
   * Parallel flushes; more threads drain a backlog faster.
   * @default 2
   */
  readonly flushThreadCount?: number;
  /**
   * What happens when the buffer is full. `block` pauses reading: in_tail keeps its place in the pos
   * file and resumes, so nothing is dropped while the logs are still on the node.
   * @default 'block'
   */
  readonly overflowAction?: 'block' | 'drop_oldest_chunk' | 'throw_exception';
  /**
   * Longest wait between retries, in seconds (exponential backoff from 1 s).
   * @default 30
   */
  readonly retryMaxIntervalSeconds?: number;
  /**
   * Hours of retrying before a chunk is dropped; `undefined` retries until the store is back
   * (bounded by totalLimitSize and overflowAction).
   * @default - retry forever
   */
  readonly retryTimeoutHours?: number;
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
   * Seconds of logs per object (the buffer's timekey).
   * @default 3600
   */
  readonly timeSliceSeconds?: number;
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
   * Parse JSON application logs (the notes: applications log JSON to stdout) into fields; other lines stay text.
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
   * @default 24220 (the notes)
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

/** Port of monitor_agent in the notes. */
export const FLUENTD_MONITOR_PORT = 24220;
/** Port fluent-plugin-prometheus serves /metrics on. */
export const FLUENTD_METRICS_PORT = 24231;
/** Host directory for pos files and buffers. */
export const FLUENTD_STATE_DIRECTORY = '/var/lib/fluentd';
// kubelet's runtime-independent symlinks to every container's log.
const DEFAULT_TAIL_PATH = '/var/log/containers/*.log';
const DEFAULT_ROTATE_WAIT_SECONDS = 5;
const DEFAULT_REFRESH_INTERVAL_SECONDS = 10;
// fluentd-kubernetes-daemonset's elasticsearch chunk size: well under Elasticsearch's 100 MB http.max_content_length.
const ES_CHUNK_LIMIT = Size.mebibytes(8);
const ES_TOTAL_LIMIT = Size.mebibytes(512);
// The notes' flush_interval: how often logs reach Elasticsearch.
const ES_FLUSH_INTERVAL_SECONDS = 5;
const S3_CHUNK_LIMIT = Size.mebibytes(64);
const S3_TOTAL_LIMIT = Size.gibibytes(1);
const S3_TIME_SLICE_SECONDS = 3600;
const DEFAULT_FLUSH_THREADS = 2;
const DEFAULT_RETRY_MAX_INTERVAL_SECONDS = 30;
// Fluentd itself (Ruby, plugins, kubernetes metadata cache) needs about this much besides its memory buffers.
const FLUENTD_BASE_MEMORY_MIB = 128;

/** Gem of each plugin type the model can emit (core plugins need none). */
export const PLUGIN_GEMS: Readonly<Record<string, string>> = {
  cri: 'fluent-plugin-parser-cri',
  concat: 'fluent-plugin-concat',
  kubernetes_metadata: 'fluent-plugin-kubernetes_metadata_filter',
  dedot: 'fluent-plugin-dedot_filter',
  prometheus: 'fluent-plugin-prometheus',
  prometheus_monitor: 'fluent-plugin-prometheus',
  prometheus_output_monitor: 'fluent-plugin-prometheus',
  elasticsearch: 'fluent-plugin-elasticsearch',
  s3: 'fluent-plugin-s3',
};

const ABSOLUTE_PATH = /^\/[A-Za-z0-9_.*\/-]*$/;
const MATCH_TAG = 'kubernetes.**';

function mib(size: Size): number {
  return size.toMebibytes({ rounding: 1 });
}

function sizeValue(size: Size): string {
  const bytes = size.toKibibytes({ rounding: 1 }) * 1024;
  const mebibytes = bytes / (1024 * 1024);
  return Number.isInteger(mebibytes) ? `${mebibytes}m` : String(bytes);
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
 * A typed fluent.conf for a node-level collector: tail the container logs,
 * join split lines, parse JSON, add Kubernetes metadata, de-dot field names,
 * and ship to Elasticsearch, S3 or both (`copy`), each through its own
 * buffer; monitor_agent and Prometheus metrics expose the collector's state.
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
  private readonly scope: ErrorScope;
  private readonly buffers: ResolvedBuffer[] = [];

  constructor(scope: ErrorScope, props: FluentdConfigProps) {
    this.scope = scope;
    const tail = props.tail ?? {};
    const parser = tail.parser ?? parserForRuntime(props.runtime);
    if (parser !== 'cri' && parser !== 'json') {
      throw new ShipshapeError(scope, { problem: 'tail.parser must be "cri" (containerd, CRI-O) or "json" (Docker)', value: parser, fix: `omit tail.parser to get the one for the "${props.runtime}" runtime` });
    }
    if (props.runtime !== 'docker' && parser === 'json') {
      // The most common collector failure: json parsing of CRI lines logs "pattern not matched" for every line.
      throw new ShipshapeError(scope, { problem: `the ${props.runtime} runtime writes CRI log lines, which the json parser cannot read ("pattern not matched")`, value: parser, fix: 'use parser "cri", or omit tail.parser' });
    }
    this.parser = parser;
    this.monitorPort = assertInteger(scope, 'monitorPort', props.monitorPort ?? FLUENTD_MONITOR_PORT, 1, 65535);
    this.metricsPort = assertInteger(scope, 'metricsPort', props.metricsPort ?? FLUENTD_METRICS_PORT, 1, 65535);
    if (this.monitorPort === this.metricsPort) {
      throw new ShipshapeError(scope, { problem: 'monitorPort and metricsPort are the same port', value: this.monitorPort, fix: `use ${FLUENTD_MONITOR_PORT} and ${FLUENTD_METRICS_PORT}` });
    }
    this.stateDirectory = this.path('stateDirectory', props.stateDirectory ?? FLUENTD_STATE_DIRECTORY).replace(/\/$/, '');

    if (!props.elasticsearch && !props.s3) {
      throw new ShipshapeError(scope, { problem: 'fluent.conf has no output, so every log line would be read and dropped', value: { elasticsearch: undefined, s3: undefined }, fix: 'configure elasticsearch, s3 or both' });
    }
    const stores: FluentDirective[] = [];
    const outputs: ('elasticsearch' | 's3')[] = [];
    const env: string[] = [];
    if (props.elasticsearch) {
      stores.push(this.elasticsearchStore(props.elasticsearch, env));
      outputs.push('elasticsearch');
    }
    if (props.s3) {
      stores.push(this.s3Store(props.s3));
      outputs.push('s3');
    }
    this.outputs = outputs;
    this.environmentVariables = env;
    this.checkMemory(props.memoryLimit);

    const messageKey = parser === 'cri' ? 'message' : 'log';
    const directives: FluentDirective[] = [
      { name: 'source', params: [['@type', 'monitor_agent'], ['@id', 'in_monitor_agent'], ['bind', '0.0.0.0'], ['port', this.monitorPort]] },
      { name: 'source', params: [['@type', 'prometheus'], ['@id', 'in_prometheus'], ['bind', '0.0.0.0'], ['port', this.metricsPort], ['metrics_path', '/metrics']] },
      { name: 'source', params: [['@type', 'prometheus_monitor'], ['@id', 'in_prometheus_monitor']] },
      { name: 'source', params: [['@type', 'prometheus_output_monitor'], ['@id', 'in_prometheus_output_monitor']] },
      this.tailSource(tail, parser),
      this.concatFilter(parser),
    ];
    if (props.parseJson ?? true) {
      directives.push({
        name: 'filter',
        arg: MATCH_TAG,
        params: [['@type', 'parser'], ['@id', 'filter_json_message'], ['key_name', messageKey], ['reserve_data', true], ['remove_key_name_field', true], ['emit_invalid_record_to_error', false]],
        children: [{ name: 'parse', params: [['@type', 'json'], ['json_parser', 'json']] }],
      });
    }
    directives.push({
      name: 'filter',
      arg: MATCH_TAG,
      params: [['@type', 'kubernetes_metadata'], ['@id', 'filter_kubernetes_metadata'], ['skip_master_url', true], ['skip_container_metadata', false], ['skip_labels', false]],
    });
    if (props.dedot ?? props.elasticsearch !== undefined) {
      directives.push({ name: 'filter', arg: MATCH_TAG, params: [['@type', 'dedot'], ['@id', 'filter_dedot'], ['de_dot', true], ['de_dot_separator', '_'], ['de_dot_nested', true]] });
    }
    directives.push({
      name: 'filter',
      arg: MATCH_TAG,
      params: [['@type', 'prometheus'], ['@id', 'filter_records_metric']],
      children: [{
        name: 'metric',
        params: [['name', 'fluentd_input_status_num_records_total'], ['type', 'counter'], ['desc', 'The total number of incoming records']],
        children: [{ name: 'labels', params: [['hostname', '${hostname}']] }],
      }],
    });
    directives.push(
      stores.length === 1
        ? { ...stores[0], name: 'match', arg: MATCH_TAG }
        : { name: 'match', arg: MATCH_TAG, params: [['@type', 'copy'], ['@id', 'out_copy']], children: stores },
    );
    this.directives = directives;
    this.plugins = [...new Set(collectTypes(directives).map((t) => PLUGIN_GEMS[t]).filter((g): g is string => g !== undefined))].sort();
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
    const parse: FluentDirective = parser === 'cri'
      ? { name: 'parse', params: [['@type', 'cri'], ['merge_cri_fields', true]] }
      : { name: 'parse', params: [['@type', 'json'], ['time_key', 'time'], ['time_type', 'string'], ['time_format', '%Y-%m-%dT%H:%M:%S.%NZ'], ['keep_time_key', false]] };
    const exclude = (tail.excludePaths ?? []).map((p, i) => this.path(`tail.excludePaths[${i}]`, p));
    return {
      name: 'source',
      params: [
        ['@type', 'tail'],
        ['@id', 'in_tail_container_logs'],
        ['path', this.path('tail.path', tail.path ?? DEFAULT_TAIL_PATH)],
        ...(exclude.length > 0 ? [['exclude_path', exclude] as const] : []),
        // On the hostPath state directory: a restarted pod resumes where it stopped instead of re-reading or skipping.
        ['pos_file', `${this.stateDirectory}/pos/containers.log.pos`],
        ['pos_file_compaction_interval', '1h'],
        ['tag', 'kubernetes.*'],
        ['read_from_head', true],
        // Track files by inode: kubelet rotates by rename, and path-only tracking loses or re-reads the rotated file.
        ['follow_inodes', true],
        ['rotate_wait', `${assertInteger(this.scope, 'tail.rotateWaitSeconds', tail.rotateWaitSeconds ?? DEFAULT_ROTATE_WAIT_SECONDS, 1, 3600)}s`],
        ['refresh_interval', `${assertInteger(this.scope, 'tail.refreshIntervalSeconds', tail.refreshIntervalSeconds ?? DEFAULT_REFRESH_INTERVAL_SECONDS, 1, 3600)}s`],
      ],
      children: [parse],
    };
  }

  /** Joins lines the runtime split: CRI marks partial lines with logtag P, Docker's json-file splits at 16 KiB without a trailing newline. */
  private concatFilter(parser: FluentdParser): FluentDirective {
    const params: [string, FluentValue][] = parser === 'cri'
      ? [['@type', 'concat'], ['@id', 'filter_concat'], ['key', 'message'], ['use_partial_cri_logtag', true], ['partial_cri_logtag_key', 'logtag'], ['partial_cri_stream_key', 'stream'], ['separator', '']]
      : [['@type', 'concat'], ['@id', 'filter_concat'], ['key', 'log'], ['multiline_end_regexp', new FluentRegexp('\\n$')], ['separator', '']];
    return { name: 'filter', arg: MATCH_TAG, params };
  }

  private buffer(output: string, props: FluentdBufferProps | undefined, defaults: { chunk: Size; total: Size; flush?: number }, chunkKeys?: string, extra: [string, FluentValue][] = []): FluentDirective {
    const field = `${output}.buffer`;
    const type = props?.type ?? 'file';
    if (type !== 'file' && type !== 'memory') {
      throw new ShipshapeError(this.scope, { problem: `${field}.type must be "file" or "memory"`, value: type, fix: 'use "file"' });
    }
    const chunk = mib(props?.chunkLimitSize ?? defaults.chunk);
    const total = mib(props?.totalLimitSize ?? defaults.total);
    if (!(chunk > 0) || !(total > 0) || chunk > total) {
      throw new ShipshapeError(this.scope, { problem: `${field}.chunkLimitSize (${chunk} MiB) must be positive and no larger than totalLimitSize (${total} MiB)`, value: { chunkLimitSize: chunk, totalLimitSize: total }, fix: 'make chunkLimitSize ≤ totalLimitSize' });
    }
    const overflow = props?.overflowAction ?? 'block';
    if (!['block', 'drop_oldest_chunk', 'throw_exception'].includes(overflow)) {
      throw new ShipshapeError(this.scope, { problem: `${field}.overflowAction is not a Fluentd overflow action`, value: overflow, fix: 'use "block", "drop_oldest_chunk" or "throw_exception"' });
    }
    const flush = props?.flushIntervalSeconds ?? defaults.flush;
    const threads = assertInteger(this.scope, `${field}.flushThreadCount`, props?.flushThreadCount ?? DEFAULT_FLUSH_THREADS, 1, 64);
    const retryMax = assertInteger(this.scope, `${field}.retryMaxIntervalSeconds`, props?.retryMaxIntervalSeconds ?? DEFAULT_RETRY_MAX_INTERVAL_SECONDS, 1, 86400);
    this.buffers.push({ type, totalLimitMiB: total });
    const params: [string, FluentValue][] = [['@type', type]];
    if (type === 'file') params.push(['path', `${this.stateDirectory}/buffer/${output}`]);
    params.push(...extra);
    if (flush !== undefined) {
      params.push(['flush_mode', 'interval'], ['flush_interval', `${assertInteger(this.scope, `${field}.flushIntervalSeconds`, flush, 1, 86400)}s`]);
    } else {
      params.push(['flush_mode', 'lazy']);
    }
    // A file buffer is on the node's disk and survives the restart; a memory buffer must be written out before the pod stops.
    params.push(['flush_at_shutdown', type === 'memory']);
    params.push(['flush_thread_count', threads], ['chunk_limit_size', sizeValue(Size.mebibytes(chunk))], ['total_limit_size', sizeValue(Size.mebibytes(total))], ['overflow_action', overflow]);
    params.push(['retry_type', 'exponential_backoff'], ['retry_wait', '1s'], ['retry_max_interval', `${retryMax}s`]);
    if (props?.retryTimeoutHours === undefined) params.push(['retry_forever', true]);
    else params.push(['retry_timeout', `${assertInteger(this.scope, `${field}.retryTimeoutHours`, props.retryTimeoutHours, 1, 24 * 30)}h`]);
    return { name: 'buffer', arg: chunkKeys, params };
  }

  private elasticsearchStore(es: FluentdElasticsearchOutputProps, env: string[]): FluentDirective {
    if (!es.host || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(es.host)) {
      throw new ShipshapeError(this.scope, { problem: 'elasticsearch.host must be a DNS name', value: es.host, fix: 'wire it from Elasticsearch.clientHost' });
    }
    if (!es.indexPrefix || !/^[a-z0-9][a-z0-9_-]*$/.test(es.indexPrefix)) {
      throw new ShipshapeError(this.scope, { problem: 'elasticsearch.indexPrefix must be a lower-case Elasticsearch index name', value: es.indexPrefix, fix: 'use e.g. "logs-prod"' });
    }
    const scheme = es.scheme ?? 'http';
    if (scheme !== 'http' && scheme !== 'https') throw new ShipshapeError(this.scope, { problem: 'elasticsearch.scheme must be "http" or "https"', value: scheme, fix: 'use "https" when Elasticsearch serves TLS' });
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
      ['default_elasticsearch_version', 8],
      ['log_es_400_reason', true],
      // Behind a Service the node list must not be sniffed: pod addresses change and sniffing breaks the connection.
      ['reload_connections', false],
      ['reconnect_on_error', true],
      ['reload_on_failure', true],
      ['request_timeout', '30s'],
    ];
    return { name: 'store', params, children: [this.buffer('elasticsearch', es.buffer, { chunk: ES_CHUNK_LIMIT, total: ES_TOTAL_LIMIT, flush: ES_FLUSH_INTERVAL_SECONDS })] };
  }

  private s3Store(s3: FluentdS3OutputProps): FluentDirective {
    if (!s3.bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s3.bucket)) {
      throw new ShipshapeError(this.scope, { problem: 's3.bucket must be an S3 bucket name (3-63 lower-case letters, digits, . and -)', value: s3.bucket, fix: 'name the archive bucket' });
    }
    if (!s3.region || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(s3.region)) {
      throw new ShipshapeError(this.scope, { problem: 's3.region must be an AWS region name', value: s3.region, fix: 'use e.g. "eu-west-1"' });
    }
    const path = s3.path ?? 'logs/%Y/%m/%d/';
    if (!/^[A-Za-z0-9%._\/-]*$/.test(path) || path.startsWith('/')) {
      throw new ShipshapeError(this.scope, { problem: 's3.path must be a relative key prefix of letters, digits, % . _ - /', value: path, fix: 'use e.g. "logs/prod/%Y/%m/%d/"' });
    }
    const slice = assertInteger(this.scope, 's3.timeSliceSeconds', s3.timeSliceSeconds ?? S3_TIME_SLICE_SECONDS, 60, 86400);
    const params: [string, FluentValue][] = [
      ['@type', 's3'],
      ['@id', 'out_s3'],
      // No keys here: the AWS SDK reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (from a Secret) or the pod's IAM role.
      ['s3_bucket', s3.bucket],
      ['s3_region', s3.region],
      ['path', path],
      ['s3_object_key_format', '%{path}%{time_slice}_%{hostname}_%{index}.%{file_extension}'],
      ['time_slice_format', '%Y%m%d%H'],
      ['store_as', 'gzip'],
    ];
    return {
      name: 'store',
      params,
      children: [
        this.buffer('s3', s3.buffer, { chunk: S3_CHUNK_LIMIT, total: S3_TOTAL_LIMIT }, 'tag,time', [['timekey', slice], ['timekey_wait', '10m'], ['timekey_use_utc', true]]),
        { name: 'format', params: [['@type', 'json']] },
      ],
    };
  }

  private checkMemory(limit: Size | undefined): void {
    if (limit === undefined) return;
    const memory = this.buffers.filter((b) => b.type === 'memory').reduce((sum, b) => sum + b.totalLimitMiB, 0);
    const limitMiB = mib(limit);
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
  return directives.flatMap((d) => [
    ...(d.params ?? []).filter(([k]) => k === '@type').map(([, v]) => String(v)),
    ...collectTypes(d.children ?? []),
  ]);
}
