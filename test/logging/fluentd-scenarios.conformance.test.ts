import * as fs from 'node:fs';
import * as http from 'node:http';
import { App } from 'cdk8s';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Manifest, synthesizeStack } from '../../lib';
import { DAEMONSET_EVICTION_ANNOTATION, EfkLogging, FLUENTD_SHUTDOWN_FLUSH_SECONDS } from '../../lib/logging';
import { environmentNamed } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';
import { conformanceSuite } from '../support/conformance';
import { ContainerEnvVar, ContainerLogFile, FluentdProcess, NodeFilesystem, parameterLines, rfc3339Nano, runFluentd, stopAllFluentd } from '../support/fluentd';
import { ElasticsearchStandIn } from '../support/stand-ins/elasticsearch';
import { KubernetesApiStandIn, StandInPod } from '../support/stand-ins/kubernetes-api';
import { S3StandIn } from '../support/stand-ins/s3';
import { RecordedRequest, StandInResponse } from '../support/stand-ins/server';
import { newStack, testEnvironment } from '../support/synth';

/*
 * Behaviour of the synthesized collector on real Fluentd, judged by what the stand-in Elasticsearch and S3
 * received, record by record. Each scenario gets its own node, stand-ins and Fluentd; scenarios run one after
 * the other. Waits poll the stand-ins and Fluentd's monitor_agent, and SIGUSR1 flushes the lazy S3 buffer, so
 * no step sleeps longer than the configuration makes it wait.
 */

/** A collector as synthesized, with the objects it came with. */
interface Collector {
  readonly config: string;
  readonly env: readonly ContainerEnvVar[];
  readonly daemonSet: Manifest;
  readonly objects: readonly Manifest[];
}

function collectorOf(objects: readonly Manifest[]): Collector {
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap' && typeof o.data?.['fluent.conf'] === 'string');
  expect(configMaps.map((c) => c.metadata.name)).toHaveLength(1);
  const daemonSet = objects.find((o) => o.kind === 'DaemonSet' && (o.spec.template.spec.volumes ?? []).some((v: any) => v.configMap?.name === configMaps[0].metadata.name));
  if (!daemonSet) throw new Error(`no DaemonSet mounts ConfigMap ${configMaps[0].metadata.name}`);
  return { config: configMaps[0].data['fluent.conf'] as string, env: daemonSet.spec.template.spec.containers[0].env ?? [], daemonSet, objects };
}

/** The reference platform's prod stack alone (containerd, Elasticsearch and the S3 archive, cluster-autoscaler). */
function prodCollector(): Collector {
  const result = synthesizeStack(buildPlatform(new App(), environmentNamed('prod')));
  expect(result.problems).toEqual([]);
  return collectorOf(result.objects.map((o) => o.manifest));
}

/** The same EFK stack on nodes running Docker (json-file logs), with the archive. */
function dockerCollector(): Collector {
  const stack = newStack(testEnvironment({ name: 'docker-rt', containerRuntime: 'docker' }));
  new EfkLogging(stack, 'logging', { fluentd: { image: 'registry.example.com/fluentd-efk:v1.17.1-1.0' }, archive: { bucket: 'docker-rt-logs-archive', region: 'eu-west-1', retentionDays: 30 } });
  const result = synthesizeStack(stack);
  expect(result.problems).toEqual([]);
  return collectorOf(result.objects.map((o) => o.manifest));
}

/** Settings of a synthesized fluent.conf the assertions depend on. */
interface Settings {
  readonly parser: string;
  readonly indexPrefix: string;
  readonly bucket: string;
  /** S3 `path`, strftime placeholders unfilled, e.g. logs/prod/%Y/%m/%d/. */
  readonly keyPath: string;
  readonly sliceFormat: string;
  readonly timekeySeconds: number;
  readonly s3FlushThreads: number;
  readonly esFlushSeconds: number;
  readonly concatTimeoutSeconds: number;
}

function settingsOf(config: string): Settings {
  const params = parameterLines(config.split('\n'));
  const find = (key: string, where: (s: (typeof params)[number]['sections']) => boolean): string => {
    const p = params.find((x) => x.key === key && where(x.sections));
    if (!p) throw new Error(`the config has no ${key} where expected`);
    return p.value.replace(/^"|"$/g, '');
  };
  const seconds = (v: string) => Number(/^(\d+)s?$/.exec(v)?.[1] ?? Number.NaN);
  return {
    parser: find('@type', (s) => s[0]?.name === 'parse' && s[1]?.type === 'tail'),
    indexPrefix: find('logstash_prefix', (s) => s[0]?.type === 'elasticsearch'),
    bucket: find('s3_bucket', (s) => s[0]?.type === 's3'),
    keyPath: find('path', (s) => s[0]?.type === 's3'),
    sliceFormat: find('time_slice_format', (s) => s[0]?.type === 's3'),
    timekeySeconds: seconds(find('timekey', (s) => s[0]?.name === 'buffer' && s[1]?.type === 's3')),
    s3FlushThreads: Number(find('flush_thread_count', (s) => s[0]?.name === 'buffer' && s[1]?.type === 's3')),
    esFlushSeconds: seconds(find('flush_interval', (s) => s[0]?.name === 'buffer' && s[1]?.type === 'elasticsearch')),
    concatTimeoutSeconds: seconds(find('flush_interval', (s) => s[0]?.type === 'concat')),
  };
}

/** strftime for the placeholders S3 keys and index names use (UTC). */
function strftime(format: string, ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  const parts: Record<string, string> = { Y: String(d.getUTCFullYear()), m: pad(d.getUTCMonth() + 1), d: pad(d.getUTCDate()), H: pad(d.getUTCHours()), M: pad(d.getUTCMinutes()) };
  return format.replace(/%([YmdHM])/g, (_m, c: string) => parts[c]);
}

/** Milliseconds since the epoch of an RFC 3339 time with any number of fraction digits. */
function millis(time: unknown): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/.exec(String(time));
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}${m[3]}`);
}

async function until<T>(what: string, seconds: number, check: () => T | undefined | false | Promise<T | undefined | false>, describe?: () => string): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}${describe ? `:\n${describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** GET on loopback; resolves with the status and body, rejects on a refused connection or after 5 s. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on ${port} timed out`)));
    req.on('error', reject);
  });
}

type Stream = 'stdout' | 'stderr';

/** What one written log line must become in each store. */
interface Expected {
  readonly id: string;
  readonly pod: StandInPod;
  readonly container: string;
  readonly stream: Stream;
  /** Time stamped on the line by the runtime. */
  readonly lineTime: number;
  /** The record's time: the line's, or the application's valid `time`. */
  readonly time: number;
  /** Plain text lines: the message as shipped. */
  readonly text?: string;
  /** JSON lines: the fields parsed out of it (the message field itself is gone). */
  readonly fields?: Record<string, unknown>;
  /** JSON lines whose `time` is no valid time keep it, as a string. */
  readonly keptTime?: string;
}

/** A pod's container whose log file the test writes as its runtime would, recording what each line must become. */
class Writer {
  public readonly expected: Expected[] = [];
  private clock: number;

  constructor(
    public readonly log: ContainerLogFile,
    public readonly pod: StandInPod,
    start: number,
  ) {
    this.clock = start;
  }

  /** The next line time: 7 ms apart, so every line's time is its own. */
  public tick(): number {
    this.clock += 7;
    return this.clock;
  }

  /** A plain text line carrying `key=<id>`. */
  public plain(id: string, text: string, stream: Stream = 'stdout'): void {
    const message = `${text} key=${id}`;
    const t = this.tick();
    this.piece(stream, message, true, t);
    this.expect({ id, stream, lineTime: t, time: t, text: message });
  }

  /** A JSON line; `appTime` is the `time` field written, `recordTime` what the record's time must be. */
  public json(id: string, fields: Record<string, unknown>, options: { stream?: Stream; appTime?: unknown; recordTime?: number } = {}): void {
    const t = this.tick();
    const body = { ...fields, key: id, ...(options.appTime === undefined ? {} : { time: options.appTime }) };
    this.piece(options.stream ?? 'stdout', JSON.stringify(body), true, t);
    const valid = options.recordTime !== undefined;
    this.expect({
      id,
      stream: options.stream ?? 'stdout',
      lineTime: t,
      time: options.recordTime ?? t,
      fields: { ...fields, key: id },
      keptTime: options.appTime !== undefined && !valid ? String(options.appTime) : undefined,
    });
  }

  /** An empty line (the application printed a bare newline). */
  public empty(stream: Stream = 'stdout'): void {
    const t = this.tick();
    this.piece(stream, '', true, t);
    this.expect({ id: `empty:${stream}:${t}`, stream, lineTime: t, time: t, text: '' });
  }

  /** One piece of a line: CRI `P`/`F`, Docker json-file without/with the newline. */
  public piece(stream: Stream, text: string, last: boolean, time: number): void {
    const stamp = rfc3339Nano(new Date(time), 1 + Math.floor(Math.random() * 999_998));
    this.log.writeRaw(this.log.format === 'cri' ? `${stamp} ${stream} ${last ? 'F' : 'P'} ${text}\n` : `${JSON.stringify({ log: last ? `${text}\n` : text, stream, time: stamp })}\n`);
  }

  public expect(e: Omit<Expected, 'pod' | 'container'>): void {
    this.expected.push({ ...e, pod: this.pod, container: this.log.ref.container });
  }
}

/** Which written line a shipped record is: its `key` field, `key=<id>` in its text, or stream and time for an empty line. */
function identify(r: Record<string, any>): string {
  if (typeof r.key === 'string') return r.key;
  const text = String(r.message ?? r.log ?? '');
  const m = /\bkey=([\w.-]+)/.exec(text);
  if (m) return m[1];
  if (text.trim() === '') return `empty:${r.stream}:${millis(r['@timestamp'])}`;
  return `unidentified:${text.slice(0, 80)}`;
}

/** The parts of a record the scenarios judge, side by side with what the line must become. */
function view(r: Record<string, any> | undefined, copies: number, messageKey: string, fieldNames: readonly string[]): Record<string, unknown> {
  if (!r) return { copies };
  const fields: Record<string, unknown> = {};
  for (const f of fieldNames) fields[f] = r[f];
  const k = r.kubernetes ?? {};
  return {
    copies,
    timestamp: Number.isNaN(millis(r['@timestamp'])) ? `unparsable ${r['@timestamp']}` : new Date(millis(r['@timestamp'])).toISOString(),
    stream: r.stream,
    message: r[messageKey],
    fields,
    time: r.time,
    kubernetes: { namespace: k.namespace_name, pod: k.pod_name, container: k.container_name, podId: k.pod_id, host: k.host, labels: k.labels },
    containerId: r.docker?.container_id,
  };
}

function expectedView(e: Expected, parser: string, nodeName: string): Record<string, unknown> {
  const container = e.pod.containers.find((c) => c.name === e.container)!;
  const labels = Object.fromEntries(Object.entries(e.pod.labels).map(([key, value]) => [key.replace(/\./g, '_'), value]));
  return {
    copies: 1,
    timestamp: new Date(e.time).toISOString(),
    stream: e.stream,
    message: e.text === undefined ? undefined : parser === 'cri' ? e.text : `${e.text}\n`,
    fields: e.fields ?? {},
    time: e.keptTime,
    // kubernetes_metadata leaves `labels` out for a pod without any.
    kubernetes: { namespace: e.pod.namespace, pod: e.pod.name, container: e.container, podId: e.pod.uid, host: nodeName, labels: Object.keys(labels).length > 0 ? labels : undefined },
    containerId: container.id,
  };
}

/** Records grouped by the line they came from. */
function byLine<T>(items: readonly T[], record: (item: T) => Record<string, any>): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const id = identify(record(item));
    out.set(id, [...(out.get(id) ?? []), item]);
  }
  return out;
}

/**
 * Compares, line by line, what Elasticsearch stored with what each line must become: one document, its own
 * time as @timestamp, the daily index of that time, stream, fields and Kubernetes metadata. Nothing else stored
 * but the `tolerated` lines (whose delivery the scenario does not promise).
 */
function expectElasticsearch(es: ElasticsearchStandIn, expected: readonly Expected[], s: Settings, tolerated: readonly string[] = [], nodeName = 'node-a'): void {
  const messageKey = s.parser === 'cri' ? 'message' : 'log';
  const docs = byLine(es.documents(), (d) => d.source);
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const e of expected) {
    const found = docs.get(e.id) ?? [];
    const fieldNames = Object.keys(e.fields ?? {});
    got[e.id] = { ...view(found[0]?.source, found.length, messageKey, fieldNames), index: found[0]?.index };
    want[e.id] = { ...expectedView(e, s.parser, nodeName), index: `${s.indexPrefix}-${strftime('%Y.%m.%d', e.time)}` };
  }
  const unexpected = [...docs.keys()].filter((id) => !expected.some((e) => e.id === id) && !tolerated.includes(id));
  expect({ records: got, unexpected }).toEqual({ records: want, unexpected: [] });
}

/** The same for the S3 archive: one record per line, in an object whose key is the slice of the record's time. */
function expectArchive(s3: S3StandIn, expected: readonly Expected[], s: Settings, tolerated: readonly string[] = [], nodeName = 'node-a'): void {
  const messageKey = s.parser === 'cri' ? 'message' : 'log';
  const records = byLine(s3.records(s.bucket), (r) => r.record);
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const e of expected) {
    const found = records.get(e.id) ?? [];
    const slice = Math.floor(e.time / 1000 / s.timekeySeconds) * s.timekeySeconds * 1000;
    const keyPrefix = `${strftime(s.keyPath, slice)}${strftime(s.sliceFormat, slice)}_`;
    got[e.id] = { ...view(found[0]?.record, found.length, messageKey, Object.keys(e.fields ?? {})), key: found[0] && (found[0].key.startsWith(keyPrefix) ? keyPrefix : found[0].key) };
    want[e.id] = { ...expectedView(e, s.parser, nodeName), key: keyPrefix };
  }
  const unexpected = [...records.keys()].filter((id) => !expected.some((e) => e.id === id) && !tolerated.includes(id));
  expect({ records: got, unexpected }).toEqual({ records: want, unexpected: [] });
}

/** How many of the expected lines a store holds at least once. */
function arrived(ids: ReadonlySet<string>, records: readonly Record<string, any>[]): number {
  const seen = new Set(records.map(identify).filter((id) => ids.has(id)));
  return seen.size;
}

/** One scenario's world: stand-ins, a node and the collector. */
interface Rig {
  readonly es: ElasticsearchStandIn;
  readonly s3: S3StandIn;
  readonly kube: KubernetesApiStandIn;
  readonly node: NodeFilesystem;
  readonly settings: Settings;
}

const cleanups: (() => Promise<void> | void)[] = [];

async function rig(collector: Collector): Promise<Rig> {
  const settings = settingsOf(collector.config);
  const es = await ElasticsearchStandIn.start();
  cleanups.push(() => es.close());
  const s3 = await S3StandIn.start({ buckets: [settings.bucket] });
  cleanups.push(() => s3.close());
  const kube = await KubernetesApiStandIn.start({ nodeName: 'node-a' });
  cleanups.push(() => kube.close());
  const node = new NodeFilesystem();
  cleanups.push(() => node.remove());
  return { es, s3, kube, node, settings };
}

/** A pod with one container per name, its log files on the node in the runtime's format. */
function pod(r: Rig, name: string, namespace: string, containers: readonly string[], labels: Record<string, string> = {}): { pod: StandInPod; logs: ContainerLogFile[] } {
  const p = r.kube.addPod({ name, namespace, labels, containers: containers.map((c) => ({ name: c })), runtime: r.settings.parser === 'cri' ? 'containerd' : 'docker' });
  const logs = p.containers.map((c) => r.node.containerLog({ pod: p.name, namespace, container: c.name, containerId: c.id, podUid: p.uid, format: r.settings.parser === 'cri' ? 'cri' : 'docker' }));
  return { pod: p, logs };
}

async function start(r: Rig, collector: Collector, timeoutSeconds: number): Promise<FluentdProcess> {
  const fluentd = await runFluentd({ config: collector.config, containerEnv: collector.env, node: r.node, elasticsearch: r.es, s3: r.s3, kubernetes: r.kube, timeoutSeconds });
  await fluentd.ready();
  return fluentd;
}

/** Per-output state from monitor_agent (the numbers the liveness probe and the alerts read). */
async function outputState(fluentd: FluentdProcess, id: 'out_elasticsearch' | 'out_s3'): Promise<{ queued: number; emitted: number; retries: number; writes: number }> {
  const plugins = (await fluentd.monitor()).plugins as any[];
  const p = plugins.find((x) => x.plugin_id === id);
  if (!p) throw new Error(`monitor_agent lists no ${id}`);
  return { queued: p.buffer_total_queued_size ?? 0, emitted: p.emit_records ?? 0, retries: p.retry_count ?? 0, writes: p.write_count ?? 0 };
}

/** Waits until both outputs hold nothing (staged or queued): whatever could still arrive has arrived. */
async function drained(fluentd: FluentdProcess, seconds = 30): Promise<void> {
  await until('both buffers empty', seconds, async () => {
    const [es, s3] = await Promise.all([outputState(fluentd, 'out_elasticsearch'), outputState(fluentd, 'out_s3')]);
    return es.queued === 0 && s3.queued === 0;
  });
}

/** Stops as kubelet does with the DaemonSet's grace period; the stop must be clean. */
async function stopClean(fluentd: FluentdProcess, graceSeconds: number): Promise<number> {
  const started = Date.now();
  const exit = await fluentd.stop('SIGTERM', graceSeconds);
  expect(exit, fluentd.tail()).toMatchObject({ code: 0, timedOut: false });
  return (Date.now() - started) / 1000;
}

/** Worker (re)starts the supervisor logged: 1 means the worker never died. */
function workerStarts(fluentd: FluentdProcess): { starts: number; deaths: string[] } {
  const logs = fluentd.logs();
  return { starts: (logs.match(/fluentd worker is now running worker=0/g) ?? []).length, deaths: logs.split('\n').filter((l) => /Worker 0 (finished|exited) unexpectedly/.test(l)) };
}

/** Warnings and errors a run logged, counted by kind (plugin and error class; backtraces left out). */
function complaints(fluentd: FluentdProcess): string[] {
  const counts = new Map<string, number>();
  for (const l of [...fluentd.lines('warn'), ...fluentd.lines('error')]) {
    if (/\.rb:\d+:in /.test(l)) continue;
    const kind = `${/\[(warn|error)\]/.exec(l)?.[1]} ${/\[(\w+)\] /.exec(l.replace(/^.*?\]: (#\d+ )?/, ''))?.[1] ?? ''} ${
      /error_class=(\S+)/.exec(l)?.[1] ??
      l
        .replace(/^.*?\]: (#\d+ )?(\[\w+\] )?/, '')
        .replace(/chunk_id="?[0-9a-f]+"?/, '')
        .slice(0, 60)
    }`;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n}× ${k.trim()}`);
}

/**
 * Elasticsearch indexes the next `times` bulk requests but the client gets 503, as when the coordinating node
 * answers after the shards wrote (or the connection drops on the way back): the collector must send again.
 */
function loseBulkAnswers(es: ElasticsearchStandIn, times: number): { readonly lost: number } {
  const target = es as unknown as { handle(req: RecordedRequest): StandInResponse };
  const handle = target.handle.bind(es);
  const state = { lost: 0 };
  target.handle = (req) => {
    const answer = handle(req);
    if (state.lost < times && req.method === 'POST' && /\/_bulk$/.test(req.path) && answer.status === 200) {
      state.lost += 1;
      return { status: 503, headers: answer.headers, body: { error: { type: 'unavailable_shards_exception', reason: 'answer lost after indexing' }, status: 503 } };
    }
    return answer;
  };
  return state;
}

/** Same for S3: the object is stored, the answer is a 500 (the SDK and then the plugin retry). */
function loseS3PutAnswers(s3: S3StandIn, times: number): { readonly lost: number } {
  const target = s3 as unknown as { handle(req: RecordedRequest): StandInResponse };
  const handle = target.handle.bind(s3);
  const state = { lost: 0 };
  target.handle = (req) => {
    const answer = handle(req);
    if (state.lost < times && req.method === 'PUT' && req.path.split('/').length > 2 && answer.status === 200) {
      state.lost += 1;
      return {
        status: 500,
        headers: { 'content-type': 'application/xml' },
        body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>answer lost after storing</Message><RequestId>stand-in</RequestId></Error>',
      };
    }
    return answer;
  };
  return state;
}

const measurements: string[] = [];

conformanceSuite('fluentd scenarios: the synthesized collector under outage, throttling, concurrency and shutdown', ['fluentd'], () => {
  let prod: Collector;
  let docker: Collector;

  beforeAll(() => {
    prod = prodCollector();
    docker = dockerCollector();
  });
  afterEach(async () => {
    await stopAllFluentd();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => {
    console.log(`fluentd scenarios, measured:\n  ${measurements.join('\n  ')}`);
  });

  /**
   * (a) Every kind of line both runtimes write: complete lines, split lines with the other stream interleaved,
   * JSON with and without an application time, plain text, empty lines; part written before Fluentd starts
   * (read_from_head backlog, two days old) and part while it runs.
   */
  for (const runtime of ['containerd', 'docker'] as const) {
    it(`a. ${runtime}: every line arrives once in Elasticsearch and S3 with its own time, stream, index and Kubernetes metadata`, { timeout: 150_000 }, async () => {
      const collector = runtime === 'containerd' ? prod : docker;
      const r = await rig(collector);
      expect(r.settings.parser).toBe(runtime === 'containerd' ? 'cri' : 'json');
      const api = pod(r, 'shop-api-7d9f8c6b5-x2x4q', 'shop', ['api'], { 'app.kubernetes.io/name': 'shop-api', tier: 'api' });
      const jobs = pod(r, 'report-worker-0', 'batch', ['worker'], { 'app.kubernetes.io/name': 'report-worker' });
      const twoDaysAgo = Date.now() - 2 * 86_400_000;
      const w = new Writer(api.logs[0], api.pod, twoDaysAgo);
      const v = new Writer(jobs.logs[0], jobs.pod, twoDaysAgo + 3_600_000);
      const appTime = Date.parse('2024-01-01T00:00:03Z');

      // The backlog read_from_head finds: two days old.
      w.plain('a01', 'GET /healthz 200 1ms');
      w.json('a02', { level: 'info', msg: 'order accepted' });
      w.json('a03', { level: 'info', msg: 'string time' }, { appTime: '2024-01-01T00:00:03Z', recordTime: appTime });
      w.json('a04', { level: 'info', msg: 'offset time' }, { appTime: '2024-01-01T02:00:04.250+02:00', recordTime: appTime + 1250 });
      w.json('a05', { level: 'info', msg: 'epoch seconds' }, { appTime: 1704067205, recordTime: appTime + 2000 });
      w.json('a06', { level: 'info', msg: 'epoch float' }, { appTime: 1704067205.5, recordTime: appTime + 2500 });
      // Not a time Fluentd may trust: the line's time stays, and so does the field (as a string).
      w.json('a07', { level: 'warn', msg: 'epoch millis' }, { appTime: 1704067206000 });
      w.json('a08', { level: 'warn', msg: 'word time' }, { appTime: 'yesterday' });
      w.plain('a09', 'panic: something broke', 'stderr');
      w.empty('stdout');
      w.empty('stderr');
      // Split lines, the other stream interleaved: each stream's pieces join on their own.
      const t1 = w.tick();
      w.piece('stdout', '{"level":"info","msg":"split json","ke', false, t1);
      const t2 = w.tick();
      w.piece('stderr', 'interleaved stderr key=a11', true, t2);
      w.piece('stdout', 'y":"a10","time":"2024-01-01T00:00:07Z"}', true, t1);
      w.expect({ id: 'a10', stream: 'stdout', lineTime: t1, time: appTime + 4000, fields: { level: 'info', msg: 'split json', key: 'a10' } });
      w.expect({ id: 'a11', stream: 'stderr', lineTime: t2, time: t2, text: 'interleaved stderr key=a11' });
      // Both streams split at once, pieces alternating.
      const t3 = w.tick();
      const t4 = w.tick();
      w.piece('stdout', `out ${'x'.repeat(300)} `, false, t3);
      w.piece('stderr', `err ${'y'.repeat(300)} `, false, t4);
      w.piece('stdout', 'out-end key=a12', true, t3);
      w.piece('stderr', 'err-end key=a13', true, t4);
      w.expect({ id: 'a12', stream: 'stdout', lineTime: t3, time: t3, text: `out ${'x'.repeat(300)} out-end key=a12` });
      w.expect({ id: 'a13', stream: 'stderr', lineTime: t4, time: t4, text: `err ${'y'.repeat(300)} err-end key=a13` });
      v.plain('b01', 'report started');
      v.json('b02', { level: 'error', msg: 'report failed', attempt: 3 }, { stream: 'stderr' });
      const fluentd = await start(r, collector, 140);
      // While it runs: lines of now.
      const live = Date.now();
      const w2 = new Writer(api.logs[0], api.pod, live);
      w2.plain('c01', 'live line');
      w2.json('c02', { level: 'info', msg: 'live json' });
      w2.json('c03', { level: 'info', msg: 'live with app time' }, { appTime: '2024-01-01T00:00:03Z', recordTime: appTime });
      const t5 = w2.tick();
      w2.piece('stdout', 'live split ', false, t5);
      w2.piece('stdout', 'end key=c04', true, t5);
      w2.expect({ id: 'c04', stream: 'stdout', lineTime: t5, time: t5, text: 'live split end key=c04' });
      w2.empty('stdout');
      const expected = [...w.expected, ...v.expected, ...w2.expected];
      const ids = new Set(expected.map((e) => e.id));

      await until(
        `all ${expected.length} lines in Elasticsearch`,
        60,
        () =>
          arrived(
            ids,
            r.es.documents().map((d) => d.source),
          ) === ids.size,
        () =>
          `${arrived(
            ids,
            r.es.documents().map((d) => d.source),
          )} of ${ids.size}; ${r.es
            .documents()
            .map((d) => identify(d.source))
            .join(', ')}`,
      );
      await fluentd.flush();
      await until(
        `all ${expected.length} lines in S3`,
        60,
        () =>
          arrived(
            ids,
            r.s3.records().map((x) => x.record),
          ) === ids.size,
      );
      await drained(fluentd);
      expectElasticsearch(r.es, expected, r.settings);
      expectArchive(r.s3, expected, r.settings);
      expect(r.s3.overwrites()).toBe(0);
      expect({ es: r.es.unhandled(), s3: r.s3.unhandled() }).toEqual({ es: [], s3: [] });
      const stopSeconds = await stopClean(fluentd, collector.daemonSet.spec.template.spec.terminationGracePeriodSeconds);
      measurements.push(
        `a (${runtime}): ${expected.length} lines (JSON with string/numeric/invalid/missing time, split pairs interleaved, empty lines), each once in Elasticsearch and S3; ${r.es.bulkRequests().length} bulk requests, ${r.s3.puts().length} objects; SIGTERM stop ${stopSeconds.toFixed(1)} s`,
      );
    });
  }

  /**
   * (b) Elasticsearch unreachable for the first 30 s. The worker must not restart (the version check at start-up
   * is off), the probes' ports must answer, the archive must keep receiving, and every record must reach
   * Elasticsearch once it is back.
   */
  it('b. Elasticsearch down at start for 30 s: Fluentd stays up, probes answer, S3 keeps flowing, Elasticsearch gets every record after', { timeout: 180_000 }, async () => {
    // The ports the liveness and readiness probes (monitor_agent) and Prometheus (metrics) use; the harness moves them to free ones.
    const sourcePort = (type: string) => parameterLines(prod.config.split('\n')).find((p) => p.key === 'port' && p.sections[0]?.type === type)?.value;
    expect({ monitor: sourcePort('monitor_agent'), metrics: sourcePort('prometheus') }).toEqual({ monitor: '24220', metrics: '24231' });
    expect(prod.daemonSet.spec.template.spec.containers[0].livenessProbe.httpGet).toMatchObject({ path: '/api/plugins.json', port: 'monitor' });
    const r = await rig(prod);
    const app = pod(r, 'web-api-6c4d9b7f8-q8w2e', 'acme', ['web-api'], { 'app.kubernetes.io/name': 'web-api' });
    const w = new Writer(app.logs[0], app.pod, Date.now() - 60_000);
    for (let i = 0; i < 10; i++) w.plain(`b${String(i).padStart(2, '0')}`, `backlog ${i}`);
    await r.es.down();
    const downAt = Date.now();
    const fluentd = await start(r, prod, 170);
    const readySeconds = (Date.now() - downAt) / 1000;
    const probes: string[] = [];
    const probe = async () => {
      const [monitor, metrics] = await Promise.all([get(fluentd.ports.monitor!, '/api/plugins.json'), get(fluentd.ports.metrics!, '/metrics')]);
      probes.push(`${((Date.now() - downAt) / 1000).toFixed(0)}s: monitor ${monitor.status}, metrics ${metrics.status}`);
      expect(monitor.status).toBe(200);
      expect(JSON.parse(monitor.body).plugins.some((p: any) => p.plugin_id === 'out_elasticsearch')).toBe(true);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^fluentd_input_status_num_records_total\{/m);
    };
    await probe();
    // The archive during the outage: a flush ships the backlog and the lines written now.
    const live = new Writer(app.logs[0], app.pod, Date.now());
    for (let i = 0; i < 5; i++) live.plain(`d${String(i).padStart(2, '0')}`, `during the outage ${i}`);
    const expected = [...w.expected, ...live.expected];
    const ids = new Set(expected.map((e) => e.id));
    await until('the Elasticsearch output to fail and retry', 30, async () => (await outputState(fluentd, 'out_elasticsearch')).retries > 0);
    await fluentd.flush();
    await until(
      'every line in S3 while Elasticsearch is down',
      30,
      () =>
        arrived(
          ids,
          r.s3.records().map((x) => x.record),
        ) === ids.size,
    );
    const archivedDuringOutage = (Date.now() - downAt) / 1000;
    while (Date.now() - downAt < 30_000) {
      await probe();
      await new Promise((res) => setTimeout(res, Math.min(5000, 30_000 - (Date.now() - downAt))));
    }
    await probe();
    expect(r.es.requests()).toEqual([]);
    expect(workerStarts(fluentd)).toEqual({ starts: 1, deaths: [] });
    const retriesDuringOutage = (await outputState(fluentd, 'out_elasticsearch')).retries;
    await r.es.up();
    const upAt = Date.now();
    await until(
      'every line in Elasticsearch after it is back',
      75,
      () =>
        arrived(
          ids,
          r.es.documents().map((d) => d.source),
        ) === ids.size,
    );
    const catchUp = (Date.now() - upAt) / 1000;
    await fluentd.flush();
    await drained(fluentd);
    expectElasticsearch(r.es, expected, r.settings);
    expectArchive(r.s3, expected, r.settings);
    expect(r.s3.overwrites()).toBe(0);
    expect(workerStarts(fluentd)).toEqual({ starts: 1, deaths: [] });
    const stopSeconds = await stopClean(fluentd, prod.daemonSet.spec.template.spec.terminationGracePeriodSeconds);
    measurements.push(
      `b: Elasticsearch down ${((upAt - downAt) / 1000).toFixed(0)} s from start; worker ready after ${readySeconds.toFixed(1)} s and never restarted; probes ${probes.join('; ')}; S3 had all ${ids.size} lines ${archivedDuringOutage.toFixed(0)} s into the outage; ${retriesDuringOutage} Elasticsearch retries during it; all ${ids.size} in Elasticsearch ${catchUp.toFixed(1)} s after it came back, each once; stop ${stopSeconds.toFixed(1)} s`,
    );
  });

  /**
   * (c) Elasticsearch throttling (whole bulk requests answered 429, then 503, then single items rejected with
   * 429 es_rejected_execution_exception) and answers lost after indexing, while lines keep coming; S3 answering
   * 503 SlowDown and one stored upload answered 500. Delivery is at-least-once. The bound asserted: Elasticsearch
   * holds every record exactly once (each record carries a stable _id and is written with `create`, so a resend
   * gets 409); S3 holds every record at least once and at most twice per lost answer, both copies from the same
   * chunk (the SDK rewrites the same key with the same bytes, or the plugin's retry takes the chunk's next %{index}).
   */
  it('c. Elasticsearch 429/503 for a while, S3 throttling: nothing lost, resends absorbed by the stable _id', { timeout: 180_000 }, async () => {
    const r = await rig(prod);
    const app = pod(r, 'web-api-6c4d9b7f8-t7k2m', 'acme', ['web-api'], { 'app.kubernetes.io/name': 'web-api' });
    const fluentd = await start(r, prod, 170);
    const w = new Writer(app.logs[0], app.pod, Date.now());
    let n = 0;
    const writeFor = async (ms: number, phase: string) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        w.plain(`${phase}${String(n++).padStart(3, '0')}`, `phase ${phase}`);
        if (n % 3 === 0) w.json(`${phase}${String(n++).padStart(3, '0')}`, { level: 'info', msg: `phase ${phase}` });
        await new Promise((res) => setTimeout(res, 150));
      }
    };
    const esPhases: string[] = [];
    // Each window spans several retries (1 s, 2 s, 4 s... backoff) without pushing the next one past ~15 s.
    const windowMs = 6000;
    r.es.failRequests(429);
    r.s3.failRequests(503, { operation: 'PutObject', times: 2 });
    await writeFor(windowMs, 'q');
    esPhases.push(`429 for ${windowMs / 1000} s (${r.es.bulkRequests().filter((b) => b.status === 429).length} bulk requests refused)`);
    r.es.failRequests(503);
    await fluentd.flush();
    await writeFor(windowMs, 'u');
    esPhases.push(`503 for ${windowMs / 1000} s (${r.es.bulkRequests().filter((b) => b.status === 503).length} refused)`);
    r.es.heal();
    const healedAt = Date.now();
    // Single items refused inside an accepted bulk request: what Elasticsearch does when a shard's write queue is full.
    r.es.failItems({ status: 429, times: 6 });
    await writeFor(3000, 'i');
    await until('the refused items to be used up', 40, () => r.es.rejectedItems().length === 6);
    const lost = loseBulkAnswers(r.es, 2);
    const s3Lost = loseS3PutAnswers(r.s3, 1);
    await writeFor(3000, 'l');
    await fluentd.flush();
    const ids = new Set(w.expected.map((e) => e.id));
    await until(
      `all ${ids.size} lines in Elasticsearch`,
      100,
      () =>
        arrived(
          ids,
          r.es.documents().map((d) => d.source),
        ) === ids.size,
      () =>
        `missing ${[...ids].filter((id) => !r.es.documents().some((d) => identify(d.source) === id)).join(' ')}; refused items ${r.es
          .rejectedItems()
          .map((x) => identify(x.source))
          .join(' ')}; logged ${complaints(fluentd).join(', ')}`,
    );
    const catchUp = (Date.now() - healedAt) / 1000;
    await until('the lost answers to be used up', 30, () => lost.lost === 2 && s3Lost.lost === 1);
    await fluentd.flush();
    await until(
      `all ${ids.size} lines in S3`,
      60,
      () =>
        arrived(
          ids,
          r.s3.records().map((x) => x.record),
        ) === ids.size,
    );
    await drained(fluentd);
    expectElasticsearch(r.es, w.expected, r.settings);
    // The id a resend is recognised by: the genid filter's _hash, kept in the document.
    expect(r.es.documents().filter((d) => d.source._hash !== d.id)).toEqual([]);
    // Resends Elasticsearch refused as duplicates (409 on create): the at-least-once traffic that never became a copy.
    const conflicts = r.es
      .bulkRequests()
      .flatMap((b) => b.itemStatuses)
      .filter((s) => s === 409).length;
    expect(conflicts).toBeGreaterThan(0);
    // S3: at-least-once. A stored upload whose answer was lost is sent again; the copy lands under the same key
    // (the SDK's retry, identical bytes) or under the chunk's next %{index}, never over another chunk's object.
    const copies = [...byLine(r.s3.records(r.settings.bucket), (x) => x.record).entries()].filter(([, v]) => v.length > 1);
    const puts = r.s3.puts();
    const rewrites = puts.filter((p) => p.overwrote);
    for (const p of rewrites) expect(puts.find((q) => q.key === p.key && q.number < p.number)?.body.equals(p.body), p.key).toBe(true);
    const chunkOf = (key: string) => /_([0-9a-f]{32})_\d+\.gz$/.exec(key)?.[1];
    for (const [id, v] of copies) {
      expect(new Set(v.map((x) => chunkOf(x.key))).size, `${id} in ${v.map((x) => x.key).join(', ')}`).toBe(1);
      expect(v.length, id).toBe(2);
    }
    const stopSeconds = await stopClean(fluentd, prod.daemonSet.spec.template.spec.terminationGracePeriodSeconds);
    measurements.push(
      `c: ${ids.size} lines; Elasticsearch ${esPhases.join(', then ')}, then ${r.es.rejectedItems().length} items refused with 429 and ${lost.lost} bulk answers lost after indexing: all in Elasticsearch ${catchUp.toFixed(1)} s after the throttling ended, 0 duplicates, ${conflicts} resent items answered 409; S3 ${r.s3.requests().filter((q) => q.status === 503).length} PUTs refused with 503 and ${s3Lost.lost} answer lost: ${copies.length} records archived twice, ${rewrites.length} rewrites of a key with identical bytes; stop ${stopSeconds.toFixed(1)} s; logged: ${complaints(fluentd).join(', ')}`,
    );
  });

  /**
   * (d) 12 containers logging into one S3 time slice while the flush threads upload in parallel (S3 answers
   * slowly, and a flush is forced between rounds, so several chunks of the slice are in flight at once).
   */
  it('d. 12 containers in one time slice, parallel flush threads: every record in S3 exactly once, no key overwritten', { timeout: 150_000 }, async () => {
    const r = await rig(prod);
    const slice = r.settings.timekeySeconds * 1000;
    // A slice that has closed: its chunks are uploaded as soon as they are staged, like a backlog after a restart.
    const sliceStart = Math.floor((Date.now() - 3 * slice) / slice) * slice;
    const writers = Array.from({ length: 12 }, (_, i) => {
      const p = pod(r, `load-${String(i).padStart(2, '0')}-5f6d7c8b9-abcde`, 'load', ['app'], { 'app.kubernetes.io/name': `load-${i}` });
      return new Writer(p.logs[0], p.pod, sliceStart + 1000 + i * 50);
    });
    const fluentd = await start(r, prod, 140);
    // Slow answers keep each upload (HEAD for %{index}, then PUT) in flight while the next round's chunk is queued.
    const delayMs = 2000;
    r.s3.delay(delayMs);
    const rounds = 2 * r.settings.s3FlushThreads;
    for (let round = 0; round < rounds; round++) {
      for (const [i, w] of writers.entries()) {
        for (let j = 0; j < 4; j++) {
          if (j % 2 === 0) w.plain(`d${i}-${round}-${j}`, `container ${i} round ${round}`);
          else w.json(`d${i}-${round}-${j}`, { level: 'info', msg: `container ${i} round ${round}` });
        }
      }
      // Once the round is in the buffer, a forced flush closes its chunk and hands it to a free flush thread.
      const emitted = writers.reduce((n, w) => n + w.expected.length, 0);
      await until(`round ${round} in the S3 buffer`, 20, async () => (await outputState(fluentd, 'out_s3')).emitted >= emitted);
      await fluentd.flush();
    }
    const expected = writers.flatMap((w) => w.expected);
    expect(new Set(expected.map((e) => Math.floor(e.time / slice))).size).toBe(1);
    const ids = new Set(expected.map((e) => e.id));
    await until(`all ${ids.size} lines in S3`, 90, async () => {
      if (
        arrived(
          ids,
          r.s3.records().map((x) => x.record),
        ) === ids.size
      )
        return true;
      await fluentd.flush();
      return false;
    });
    await until(
      `all ${ids.size} lines in Elasticsearch`,
      30,
      () =>
        arrived(
          ids,
          r.es.documents().map((d) => d.source),
        ) === ids.size,
    );
    await drained(fluentd);
    r.s3.delay(0);
    expectArchive(r.s3, expected, r.settings);
    expectElasticsearch(r.es, expected, r.settings);
    const puts = r.s3.puts();
    expect(r.s3.overwrites()).toBe(0);
    expect(new Set(puts.map((p) => p.key)).size).toBe(puts.length);
    // Uploads of the same slice overlapped (in flight at once), so the old HEAD-then-PUT race had its chance.
    const objectRequests = r.s3.requests().filter((q) => q.path.split('/').length > 2 && (q.method === 'PUT' || q.method === 'HEAD'));
    const events = objectRequests
      .flatMap(
        (q) =>
          [
            [q.at, 1],
            [q.at + delayMs, -1],
          ] as const,
      )
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let inFlight = 0;
    let most = 0;
    for (const [, d] of events) most = Math.max(most, (inFlight += d));
    expect(most).toBe(r.settings.s3FlushThreads);
    const stopSeconds = await stopClean(fluentd, prod.daemonSet.spec.template.spec.terminationGracePeriodSeconds);
    measurements.push(
      `d: 12 containers × ${rounds} rounds = ${ids.size} lines in one ${r.settings.timekeySeconds} s slice, ${r.settings.s3FlushThreads} flush threads, up to ${most} S3 requests in flight: ${puts.length} objects under ${puts.length} distinct keys, 0 overwrites, each record once in S3 and in Elasticsearch; stop ${stopSeconds.toFixed(1)} s`,
    );
  });

  /**
   * (e) Node removal. cluster-autoscaler evicts the collector before deleting a node (its flags, and the pod's
   * opt-in annotation), which is a SIGTERM: every buffered chunk must be flushed within the grace period. For
   * contrast, a SIGKILL (OOM kill, node crash): what is on the node's disk survives a restart on the same node.
   */
  it('e. SIGTERM flushes every unflushed chunk within terminationGracePeriodSeconds; cluster-autoscaler evicts DaemonSet pods on scale-down', { timeout: 180_000 }, async () => {
    const autoscaler = prod.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'cluster-autoscaler');
    expect(autoscaler, 'prod has a cluster-autoscaler Deployment').toBeDefined();
    const container = autoscaler!.spec.template.spec.containers[0];
    const flags = [...(container.command ?? []), ...(container.args ?? [])];
    expect(flags).toEqual(expect.arrayContaining(['--daemonset-eviction-for-occupied-nodes=true', '--daemonset-eviction-for-empty-nodes=true']));
    expect(flags.filter((f: string) => /^--daemonset-eviction-for-(occupied|empty)-nodes=/.test(f))).toHaveLength(2);
    expect(prod.daemonSet.spec.template.metadata.annotations[DAEMONSET_EVICTION_ANNOTATION]).toBe('true');
    const grace = prod.daemonSet.spec.template.spec.terminationGracePeriodSeconds as number;
    expect(grace).toBeGreaterThanOrEqual(FLUENTD_SHUTDOWN_FLUSH_SECONDS);

    const r = await rig(prod);
    const app = pod(r, 'web-api-6c4d9b7f8-z9x8c', 'acme', ['web-api'], { 'app.kubernetes.io/name': 'web-api' });
    const esBuffer = () => r.node.files('/var/lib/fluentd/buffer/elasticsearch').filter((f) => /\.log$/.test(f));
    const s3Buffer = () => r.node.files('/var/lib/fluentd/buffer/s3').filter((f) => /\.log$/.test(f));
    const onDisk = (files: string[]) => files.map((f) => fs.readFileSync(f).toString('latin1')).join('');
    const emittedTo = async (fluentd: FluentdProcess, n: number) => {
      const [es, s3] = await Promise.all([outputState(fluentd, 'out_elasticsearch'), outputState(fluentd, 'out_s3')]);
      return es.emitted >= n && s3.emitted >= n;
    };

    // SIGKILL with records in both buffers: nothing is flushed, the chunks stay on the node's disk.
    const first = await start(r, prod, 120);
    const w1 = new Writer(app.logs[0], app.pod, Date.now());
    for (let i = 0; i < 6; i++) w1.plain(`k${i}`, `before the kill ${i}`);
    w1.json('k6', { level: 'info', msg: 'json before the kill' });
    const killedPartial = w1.tick();
    w1.piece('stdout', 'half a line when the pod is killed key=kp', false, killedPartial);
    await until('the lines in both buffers', 20, () => emittedTo(first, w1.expected.length));
    expect(r.es.documents()).toEqual([]);
    await first.kill();
    // Each record's text (a JSON line's msg) as stored: msgpack for Elasticsearch, formatted JSON for S3.
    const token = (e: Expected) => e.text ?? String(e.fields?.msg);
    const killedOnDisk = { es: w1.expected.filter((e) => onDisk(esBuffer()).includes(token(e))).length, s3: w1.expected.filter((e) => onDisk(s3Buffer()).includes(token(e))).length };
    expect(killedOnDisk).toEqual({ es: w1.expected.length, s3: w1.expected.length });

    // The next pod on the node resumes from the buffers and the pos file.
    const second = await start(r, prod, 120);
    await until(
      "the killed run's lines in Elasticsearch",
      30,
      () =>
        arrived(
          new Set(w1.expected.map((e) => e.id)),
          r.es.documents().map((d) => d.source),
        ) === w1.expected.length,
    );
    // Records that reach the buffers, then SIGTERM before any flush: Elasticsearch flushes every 5 s, S3 per slice.
    const w2 = new Writer(app.logs[0], app.pod, Date.now());
    for (let i = 0; i < 8; i++) w2.plain(`t${i}`, `before the eviction ${i}`);
    w2.json('t8', { level: 'warn', msg: 'json before the eviction' });
    const pendingAt = w2.tick();
    w2.piece('stderr', 'a split line still being joined at SIGTERM ', false, pendingAt);
    w2.piece('stderr', 'second piece key=tp', false, pendingAt);
    w2.expect({ id: 'tp', stream: 'stderr', lineTime: pendingAt, time: pendingAt, text: 'a split line still being joined at SIGTERM second piece key=tp' });
    const complete = w2.expected.filter((e) => e.id !== 'tp');
    await until('the new lines in both buffers', 20, () => emittedTo(second, complete.length));
    const w2ids = new Set(w2.expected.map((e) => e.id));
    const beforeTerm = {
      es: arrived(
        w2ids,
        r.es.documents().map((d) => d.source),
      ),
      s3: arrived(
        w2ids,
        r.s3.records().map((x) => x.record),
      ),
      esChunks: esBuffer().length,
      s3Chunks: s3Buffer().length,
    };
    expect(beforeTerm.s3).toBe(0);
    expect(beforeTerm.s3Chunks).toBeGreaterThan(0);
    expect(beforeTerm.es).toBeLessThan(w2ids.size);
    const stopSeconds = await stopClean(second, grace);
    expect(stopSeconds).toBeLessThan(grace);
    const expected = [...w1.expected, ...w2.expected];
    // The split line pending at the SIGKILL lived only in concat's memory, its piece already behind the pos file:
    // a kill may lose it (at most one pending line per container and stream), never deliver it twice.
    expectElasticsearch(r.es, expected, r.settings, ['kp']);
    expectArchive(r.s3, expected, r.settings, ['kp']);
    const killedPartialCopies = r.es.documents().filter((d) => identify(d.source) === 'kp').length;
    expect(killedPartialCopies).toBeLessThanOrEqual(1);
    expect(r.s3.overwrites()).toBe(0);
    // Nothing left on the node: a node deleted now loses nothing.
    expect({ es: esBuffer(), s3: s3Buffer() }).toEqual({ es: [], s3: [] });

    // SIGTERM while Elasticsearch is unreachable: the archive still gets everything; what Elasticsearch could not
    // take stays in the node's buffer (the next pod on the node ships it; a deleted node loses it from Elasticsearch only).
    await r.es.down();
    const third = await start(r, prod, 120);
    const w3 = new Writer(app.logs[0], app.pod, Date.now());
    for (let i = 0; i < 5; i++) w3.plain(`x${i}`, `while Elasticsearch is down ${i}`);
    await until('the lines in both buffers', 20, () => emittedTo(third, w3.expected.length));
    const downStopSeconds = await stopClean(third, grace);
    expect(downStopSeconds).toBeLessThan(grace);
    expectArchive(r.s3, [...expected, ...w3.expected], r.settings, ['kp']);
    const leftForElasticsearch = w3.expected.filter((e) => onDisk(esBuffer()).includes(token(e))).length;
    expect(leftForElasticsearch).toBe(w3.expected.length);
    expect(s3Buffer()).toEqual([]);
    measurements.push(
      `e: cluster-autoscaler ${flags.filter((f: string) => /daemonset-eviction/.test(f)).join(' ')}, pod annotation ${DAEMONSET_EVICTION_ANNOTATION}=true, grace ${grace} s (flush budget ${FLUENTD_SHUTDOWN_FLUSH_SECONDS} s). SIGKILL with ${w1.expected.length} records buffered: all ${killedOnDisk.es} in both file buffers on disk, delivered by the next pod on the node, 0 duplicates; the split line pending in concat at the kill was ${killedPartialCopies === 1 ? 'delivered' : 'lost (memory only, its piece already behind the pos file)'}. SIGTERM with ${w2.expected.length} records unflushed (${beforeTerm.es} already in Elasticsearch, ${beforeTerm.s3} in S3, ${beforeTerm.esChunks} + ${beforeTerm.s3Chunks} chunk files): stop took ${stopSeconds.toFixed(1)} s, every record once in both stores, the pending split line delivered, buffers empty. SIGTERM with Elasticsearch down: stop ${downStopSeconds.toFixed(1)} s, all ${w3.expected.length} records in S3, ${leftForElasticsearch} left in the node's Elasticsearch buffer`,
    );
  });

  /** (f) A split line whose last piece never comes is delivered, joined so far, once the concat timeout passes. */
  it('f. a partial line that never completes is delivered after the concat timeout, not dropped', { timeout: 150_000 }, async () => {
    const r = await rig(prod);
    const app = pod(r, 'web-api-6c4d9b7f8-p4r5t', 'acme', ['web-api'], { 'app.kubernetes.io/name': 'web-api' });
    const fluentd = await start(r, prod, 140);
    const w = new Writer(app.logs[0], app.pod, Date.now());
    const t1 = w.tick();
    w.piece('stdout', '{"level":"error","msg":"the process died while writing this line ', false, t1);
    w.piece('stdout', 'key=f1 ', false, t1);
    w.expect({ id: 'f1', stream: 'stdout', lineTime: t1, time: t1, text: '{"level":"error","msg":"the process died while writing this line key=f1 ' });
    const t2 = w.tick();
    w.piece('stderr', 'stderr piece without an end key=f2', false, t2);
    w.expect({ id: 'f2', stream: 'stderr', lineTime: t2, time: t2, text: 'stderr piece without an end key=f2' });
    const writtenAt = Date.now();
    // Other lines keep flowing meanwhile (another container: the pending pieces hold only their own stream).
    const sidecar = pod(r, 'web-api-6c4d9b7f8-p4r5t-sidecar', 'acme', ['proxy']);
    const s = new Writer(sidecar.logs[0], sidecar.pod, Date.now());
    s.plain('f3', 'the proxy keeps logging');
    await until('the sidecar line in Elasticsearch', 40, () => r.es.documents().some((d) => identify(d.source) === 'f3'));
    expect(r.es.documents().filter((d) => ['f1', 'f2'].includes(identify(d.source)))).toEqual([]);
    const ids = new Set(['f1', 'f2']);
    await until(
      'the partial lines in Elasticsearch',
      r.settings.concatTimeoutSeconds + r.settings.esFlushSeconds + 30,
      () =>
        arrived(
          ids,
          r.es.documents().map((d) => d.source),
        ) === 2,
    );
    const latency = (Date.now() - writtenAt) / 1000;
    expect(latency).toBeGreaterThanOrEqual(r.settings.concatTimeoutSeconds - 1);
    expect(fluentd.logs()).toMatch(/Timeout flush: kubernetes\.\S+:stdout/);
    await fluentd.flush();
    const expected = [...w.expected, ...s.expected];
    await until(
      'the lines in S3',
      30,
      () =>
        arrived(
          new Set(expected.map((e) => e.id)),
          r.s3.records().map((x) => x.record),
        ) === expected.length,
    );
    await drained(fluentd);
    expectElasticsearch(r.es, expected, r.settings);
    expectArchive(r.s3, expected, r.settings);
    const stopSeconds = await stopClean(fluentd, prod.daemonSet.spec.template.spec.terminationGracePeriodSeconds);
    measurements.push(
      `f: 2 split lines never completed (stdout, stderr): delivered ${latency.toFixed(1)} s after writing (concat timeout ${r.settings.concatTimeoutSeconds} s, Elasticsearch flush ${r.settings.esFlushSeconds} s), with their own time and stream, once in each store; stop ${stopSeconds.toFixed(1)} s`,
    );
  });
});
