import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment, Manifest, synthesizeApp, synthesizeStack } from '../../lib';
import { EfkLogging } from '../../lib/logging';
import { environments } from '../../stacks/environments';
import { buildApp } from '../../stacks/platform';
import { conformanceSuite } from '../support/conformance';
import { ContainerEnvVar, FluentdProcess, NodeFilesystem, WrittenLine, containerEnvironment, dryRun, parameterLines, runFluentd, stopAllFluentd, withoutStopRace } from '../support/fluentd';
import { ElasticsearchStandIn } from '../support/stand-ins/elasticsearch';
import { KubernetesApiStandIn } from '../support/stand-ins/kubernetes-api';
import { S3StandIn } from '../support/stand-ins/s3';
import { newStack, testEnvironment } from '../support/synth';
import { run } from '../support/tools';

/** A collector as synthesized: its fluent.conf (ConfigMap) and its container's env (DaemonSet). */
interface Collector {
  readonly name: string;
  readonly config: string;
  readonly env: readonly ContainerEnvVar[];
}

/** Every ConfigMap with a fluent.conf, paired with the DaemonSet that mounts it. */
function collectors(source: string, objects: readonly Manifest[]): Collector[] {
  return objects
    .filter((o) => o.kind === 'ConfigMap' && typeof o.data?.['fluent.conf'] === 'string')
    .map((cm) => {
      const ds = objects.find((o) => o.kind === 'DaemonSet' && (o.spec.template.spec.volumes ?? []).some((v: any) => v.configMap?.name === cm.metadata.name));
      if (!ds) throw new Error(`${source}: no DaemonSet mounts ConfigMap ${cm.metadata.name}`);
      return { name: `${source} ${cm.metadata.name}`, config: cm.data['fluent.conf'] as string, env: ds.spec.template.spec.containers[0].env ?? [] };
    });
}

/** An EFK stack on a test environment with the given runtime, with or without the S3 archive. */
function variant(runtime: Environment['containerRuntime'], archive: boolean): Collector[] {
  const stack = newStack(testEnvironment({ name: `${runtime}-rt`, containerRuntime: runtime }));
  new EfkLogging(
    stack,
    'logging',
    archive ? { fluentd: { image: 'registry.example.com/fluentd-efk:v1.17.1-1.0' }, archive: { bucket: 'variant-logs-archive', region: 'eu-west-1', retentionDays: 30 } } : {},
  );
  return collectors(
    `${runtime} runtime${archive ? ' + archive' : ''}:`,
    synthesizeStack(stack).objects.map((o) => o.manifest),
  );
}

const root = path.resolve(__dirname, '../..');

/** Computes once, on first use (synthesis happens inside the tests, so a broken stack fails its tests, not the file). */
function once<T>(f: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: f() }).v;
}

const platform = once(() => synthesizeApp(buildApp()));

/** The collector of one reference-platform environment. */
function platformCollector(environment: string): Collector[] {
  const r = platform().find((x) => x.environment.name === environment);
  if (!r) throw new Error(`the reference platform has no environment ${environment}`);
  return collectors(
    `platform ${environment}:`,
    r.objects.map((o) => o.manifest),
  );
}

/** The parser of the tail source (`cri` or `json`). */
function tailParser(config: string): string | undefined {
  return parameterLines(config.split('\n')).find((p) => p.key === '@type' && p.sections[0]?.name === 'parse' && p.sections[1]?.type === 'tail')?.value;
}

// Real Fluentd 1.17.1 with the image's plugins over every fluent.conf the library synthesizes.
conformanceSuite('fluentd: synthesized fluent.conf', ['fluentd'], () => {
  let exampleOut: string | undefined;
  const example = once(() => {
    exampleOut = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-efk-fluentd-'));
    const out = exampleOut;
    run('npx', ['tsx', 'examples/efk-stack/main.ts', out], { cwd: root });
    return fs
      .readdirSync(out)
      .filter((env) => fs.existsSync(path.join(out, env, 'kubernetes')))
      .sort()
      .flatMap((env) => {
        const dir = path.join(out, env, 'kubernetes');
        const objects = fs
          .readdirSync(dir)
          .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
          .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS() as Manifest));
        return collectors(`examples/efk-stack ${env}:`, objects);
      });
  });
  const sources: { readonly name: string; readonly parser: string; readonly load: () => Collector[] }[] = [
    ...environments.map((e) => ({ name: `the reference platform's ${e.name}`, parser: 'cri', load: () => platformCollector(e.name) })),
    ...['dev', 'prod'].map((env) => ({ name: `examples/efk-stack ${env}`, parser: 'cri', load: () => example().filter((c) => c.name.startsWith(`examples/efk-stack ${env}:`)) })),
    { name: 'the docker runtime', parser: 'json', load: () => variant('docker', false) },
    { name: 'the docker runtime with the S3 archive', parser: 'json', load: () => variant('docker', true) },
    { name: 'the containerd runtime', parser: 'cri', load: () => variant('containerd', false) },
    { name: 'the containerd runtime with the S3 archive', parser: 'cri', load: () => variant('containerd', true) },
    { name: 'the cri-o runtime', parser: 'cri', load: () => variant('cri-o', false) },
  ];
  const results: string[] = [];

  afterAll(() => {
    if (exampleOut) fs.rmSync(exampleOut, { recursive: true, force: true });
    // Per-config results, whatever failed.
    console.log(`fluentd --dry-run results:\n${results.join('\n')}`);
  });

  /** Dry-runs one config with its DaemonSet's environment; exit 0 and not a single [warn] line. */
  async function expectClean(c: Collector): Promise<void> {
    const started = Date.now();
    const r = await dryRun(c.config, { env: containerEnvironment(c.env, 'node-a') });
    results.push(
      `  ${c.name} exit ${r.status}, ${r.warnings.length} warnings, ${r.errors.length} errors (${((Date.now() - started) / 1000).toFixed(1)} s)${[...r.errors, ...r.warnings].map((l) => `\n    ${l}`).join('')}`,
    );
    expect(r.output, c.name).toContain('finished dry run mode');
    expect({ status: r.status, errors: r.errors }, c.name).toEqual({ status: 0, errors: [] });
    // Unused parameters, deprecations and plugin advice are all logged as [warn]: each is a defect of the synthesized config.
    expect(r.warnings, c.name).toEqual([]);
  }

  for (const source of sources) {
    it(`dry-runs the fluent.conf of ${source.name}: exit 0, no [warn]`, async () => {
      const found = source.load();
      expect(found.map((c) => c.name)).toHaveLength(1);
      // The runtime picks the parser of the container log lines.
      expect(tailParser(found[0].config)).toBe(source.parser);
      await expectClean(found[0]);
    });
  }

  it('covers every environment examples/efk-stack writes', () => {
    expect(example().map((c) => c.name)).toEqual(['examples/efk-stack dev: fluentd-config', 'examples/efk-stack prod: fluentd-config']);
  });
});

/** Milliseconds since the epoch of an RFC 3339 time with any number of fraction digits. */
function millis(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/.exec(time);
  if (!m) throw new Error(`not an RFC 3339 time: ${time}`);
  return Date.parse(`${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}${m[3]}`);
}

const utcDate = (t: Date, sep: string) => [t.getUTCFullYear(), String(t.getUTCMonth() + 1).padStart(2, '0'), String(t.getUTCDate()).padStart(2, '0')].join(sep);

async function until<T>(what: string, seconds: number, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Log lines of a level, without the timestamp and worker prefix, to compare runs. */
function messages(lines: readonly string[]): string[] {
  return lines.map((l) => l.replace(/^\S+ \S+ \S+ \[\w+\]: (#\d+ )?/, ''));
}

// One real run of the reference platform's prod collector, proving the harness end to end.
conformanceSuite('fluentd: prod collector end to end (stand-in Elasticsearch, S3, Kubernetes API)', ['fluentd'], () => {
  let collector: Collector;
  /** Settings of the synthesized config the assertions depend on. */
  let settings: { bucket: string; indexPrefix: string; keyPrefix: string };
  let es: ElasticsearchStandIn;
  let s3: S3StandIn;
  let kube: KubernetesApiStandIn;
  let node: NodeFilesystem;

  beforeAll(async () => {
    collector = platformCollector('prod')[0];
    const param = (type: string, key: string) => parameterLines(collector.config.split('\n')).find((p) => p.key === key && p.sections[0]?.type === type)?.value ?? '';
    // The S3 path prop, e.g. logs/prod/%Y/%m/%d/: objects of a line's day start with it.
    settings = { bucket: param('s3', 's3_bucket'), indexPrefix: param('elasticsearch', 'logstash_prefix'), keyPrefix: param('s3', 'path') };
    es = await ElasticsearchStandIn.start();
    s3 = await S3StandIn.start({ buckets: [settings.bucket] });
    kube = await KubernetesApiStandIn.start({ nodeName: 'node-a' });
    node = new NodeFilesystem();
  });
  afterAll(async () => {
    await stopAllFluentd();
    await Promise.all([es?.close(), s3?.close(), kube?.close()]);
    node?.remove();
  });

  it('ships every line once to Elasticsearch with Kubernetes metadata and its own time, and to S3 on a flush; what SIGTERM leaves is kept as the config says', { timeout: 240_000 }, async () => {
    // prod: containerd (CRI lines), Elasticsearch and the S3 archive.
    expect(tailParser(collector.config)).toBe('cri');
    expect(settings).toMatchObject({ bucket: 'acme-platform-logs-prod', indexPrefix: 'logs-prod', keyPrefix: expect.stringMatching(/^logs\/prod\//) });
    const pod = kube.addPod({ name: 'web-api-7d9f8c6b5-x2x4q', namespace: 'acme', labels: { 'app.kubernetes.io/name': 'web-api', tier: 'api' }, containers: [{ name: 'web-api' }] });
    kube.addNamespace('acme', { team: 'payments' });
    const log = node.containerLog({ pod: pod.name, namespace: pod.namespace, container: 'web-api', containerId: pod.containers[0].id, podUid: pod.uid, format: 'cri' });
    // Lines from 90 s ago: a record stamped with the time Fluentd read it instead of the line's time shows.
    const t0 = Date.now() - 90_000;
    const at = (i: number) => new Date(t0 + i * 7);
    const first: WrittenLine[] = [
      log.write('GET /healthz 200 1ms', { time: at(0) }),
      log.write(JSON.stringify({ level: 'info', msg: 'order accepted', order: 'o-1' }), { time: at(1) }),
      log.writeParts(['a line containerd split: ', 'x'.repeat(200), ' end'], { time: at(2) }),
      log.write('panic: something broke', { stream: 'stderr', time: at(3) }),
      log.write(JSON.stringify({ level: 'warn', msg: 'retrying', attempt: 2 }), { time: at(4) }),
    ];

    const dry = await dryRun(collector.config, { env: containerEnvironment(collector.env, 'node-a') });
    const fluentd: FluentdProcess = await runFluentd({ config: collector.config, containerEnv: collector.env, node, elasticsearch: es, s3, kubernetes: kube, timeoutSeconds: 200 });
    console.log(`harness rewrites:\n  ${fluentd.rewrites.join('\n  ')}`);
    const started = Date.now();
    await fluentd.ready();
    const esMessage = (d: { source: Record<string, any> }) => d.source.message ?? d.source.msg;
    const expectedMessage = (l: WrittenLine) => (l.message.startsWith('{') ? JSON.parse(l.message).msg : l.message);

    // Elasticsearch: each line once, within a few flush intervals (flush_interval 5s).
    await until('every line in Elasticsearch', 60, () => first.every((l) => es.documents().some((d) => esMessage(d) === expectedMessage(l))));
    const esSeconds = (Date.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 7000)); // one more flush interval: a duplicate would arrive now
    const docs = es.documents();
    expect(docs.map(esMessage).sort()).toEqual(first.map(expectedMessage).sort());
    expect(es.unhandled()).toEqual([]);
    const timing: string[] = [];
    for (const line of first) {
      const doc = docs.find((d) => esMessage(d) === expectedMessage(line))!;
      expect.soft(doc.index, line.message).toBe(`${settings.indexPrefix}-${utcDate(line.time, '.')}`);
      expect(doc.source.kubernetes, line.message).toMatchObject({
        namespace_name: 'acme',
        pod_name: pod.name,
        container_name: 'web-api',
        pod_id: pod.uid,
        host: 'node-a',
        // dedot: dots in label keys become _ so Elasticsearch sees no object/field conflict.
        labels: { 'app_kubernetes_io/name': 'web-api', tier: 'api' },
        namespace_labels: { team: 'payments' },
      });
      expect(doc.source.docker?.container_id, line.message).toBe(pod.containers[0].id);
      // stdout/stderr survives the concat filter (merge_cri_fields puts it on every record).
      expect.soft(doc.source.stream, line.message).toBe(line.stream);
      const shipped = millis(String(doc.source['@timestamp']));
      if (shipped !== line.time.getTime())
        timing.push(`${line.message}: @timestamp ${doc.source['@timestamp']}, line written at ${line.time.toISOString()} (${((shipped - line.time.getTime()) / 1000).toFixed(1)} s later)`);
    }
    // Every record keeps the time its line was written (the index date depends on it too). Soft: the rest still runs.
    expect.soft(timing).toEqual([]);

    // S3: the archive buffer flushes lazily, per time slice; SIGUSR1 flushes it now.
    await fluentd.flush();
    await until('every line in S3', 30, () => first.every((l) => s3.records().some((r) => esMessage({ source: r.record }) === expectedMessage(l))));
    await new Promise((r) => setTimeout(r, 3000));
    const archived = s3.records(settings.bucket);
    expect(archived.map((r) => esMessage({ source: r.record })).sort()).toEqual(first.map(expectedMessage).sort());
    expect(s3.overwrites()).toBe(0);
    expect(s3.unhandled()).toEqual([]);
    for (const p of s3.puts()) expect(p.body.subarray(0, 2).toString('hex'), p.key).toBe('1f8b'); // store_as gzip
    for (const r of archived) {
      const line = first.find((l) => expectedMessage(l) === esMessage({ source: r.record }))!;
      expect(r.record.kubernetes, r.key).toMatchObject({ namespace_name: 'acme', pod_name: pod.name, pod_id: pod.uid });
      // The key's date (the path's %Y/%m/%d) is the line's date.
      const keyPrefix = settings.keyPrefix.replace('%Y', String(line.time.getUTCFullYear())).replace('%m', utcDate(line.time, '/').slice(5, 7)).replace('%d', utcDate(line.time, '/').slice(8, 10));
      expect.soft(r.key.startsWith(keyPrefix) && r.key.endsWith('.gz') ? keyPrefix : r.key, line.message).toBe(keyPrefix);
    }

    // SIGTERM with lines still in the S3 buffer (Elasticsearch gets them first, on its 5 s interval).
    const late = [log.write('shutdown is coming', { time: new Date() }), log.write(JSON.stringify({ level: 'info', msg: 'last words' }), { time: new Date() })];
    await until('the late lines in Elasticsearch', 30, () => late.every((l) => es.documents().some((d) => esMessage(d) === expectedMessage(l))));
    const putsBefore = s3.puts().length;
    const stopStarted = Date.now();
    const exit = await fluentd.stop('SIGTERM', 60);
    const stopSeconds = (Date.now() - stopStarted) / 1000;
    expect(exit, fluentd.tail()).toMatchObject({ code: 0, timedOut: false });
    const flushAtShutdown = parameterLines(collector.config.split('\n')).find((p) => p.key === 'flush_at_shutdown' && p.sections[0]?.name === 'buffer' && p.sections[1]?.type === 's3')?.value;
    expect(flushAtShutdown).toMatch(/^(true|false)$/);
    const s3Buffer = () => node.files('/var/lib/fluentd/buffer/s3').filter((f) => !f.endsWith('.meta'));
    const inS3 = (l: WrittenLine) => s3.records().filter((r) => esMessage({ source: r.record }) === expectedMessage(l)).length;
    if (flushAtShutdown === 'true') {
      // Written out before exiting.
      expect(late.map(inS3)).toEqual([1, 1]);
    } else {
      // Kept in the file buffer on the node's disk, for the next pod on the node to ship.
      expect(s3.puts().length).toBe(putsBefore);
      const buffered = s3Buffer()
        .map((f) => fs.readFileSync(f, 'utf8'))
        .join('');
      for (const l of late) expect(buffered).toContain(expectedMessage(l));
    }
    // The next pod on the node: same pos file and buffers. It ships what was left and reads nothing twice.
    const restarted = await runFluentd({ config: collector.config, containerEnv: collector.env, node, elasticsearch: es, s3, kubernetes: kube, timeoutSeconds: 120 });
    await restarted.ready();
    await restarted.flush();
    await until('the late lines in S3 after the restart', 30, () => late.every((l) => inS3(l) > 0));
    await new Promise((r) => setTimeout(r, 7000)); // a re-read of the log file would reach Elasticsearch by now
    expect(await restarted.stop('SIGTERM', 60)).toMatchObject({ code: 0, timedOut: false });
    // The pos file let nothing be read twice, across the restart too.
    expect(es.documents().map(esMessage).sort()).toEqual([...first, ...late].map(expectedMessage).sort());
    expect(
      s3
        .records()
        .map((r) => esMessage({ source: r.record }))
        .sort(),
    ).toEqual([...first, ...late].map(expectedMessage).sort());
    expect(s3.overwrites()).toBe(0);

    // Neither run logged a warning or error beyond what --dry-run already reports for the config (and Fluentd's
    // own thread race at stop, which loses nothing).
    const known = new Set(messages(dry.warnings));
    expect(messages(withoutStopRace([fluentd, restarted].flatMap((f) => [...f.lines('warn'), ...f.lines('error')]))).filter((m) => !known.has(m))).toEqual([]);
    console.log(
      `end to end: ${first.length + late.length} lines; Elasticsearch had the first ${first.length} ${esSeconds.toFixed(1)} s after start (${es.bulkRequests().length} bulk requests in all); S3 ${s3.puts().length} objects (${s3
        .puts()
        .map((p) => p.key)
        .join(', ')}); SIGTERM stop took ${stopSeconds.toFixed(1)} s with flush_at_shutdown ${flushAtShutdown}`,
    );
  });
});
