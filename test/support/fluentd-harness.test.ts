import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NodeFilesystem, containerEnvironment, parameterLines, rewriteConfig, withoutStopRace } from './fluentd';
import { ElasticsearchStandIn } from './stand-ins/elasticsearch';
import { S3StandIn } from './stand-ins/s3';

// The Fluentd harness and its stand-ins without Fluentd: what later outage scenarios rely on.

function request(url: string, method: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ndjson = (...lines: object[]) => `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;

describe('ElasticsearchStandIn', () => {
  const started: ElasticsearchStandIn[] = [];
  afterAll(async () => Promise.all(started.map((s) => s.close())));
  const start = async () => {
    const es = await ElasticsearchStandIn.start();
    started.push(es);
    return es;
  };

  it('answers the version check and records each bulk document with its index', async () => {
    const es = await start();
    const info = await request(`${es.url}/`, 'GET');
    expect(info.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(JSON.parse(info.body).version.number).toMatch(/^8\./);
    const bulk = await request(`${es.url}/_bulk`, 'POST', ndjson({ index: { _index: 'logs-a' } }, { message: 'one' }, { create: { _index: 'logs-a', _id: 'x1' } }, { message: 'two' }), {
      'content-type': 'application/x-ndjson',
    });
    expect(JSON.parse(bulk.body)).toMatchObject({ errors: false, items: [{ index: { status: 201 } }, { create: { status: 201, _id: 'x1' } }] });
    expect(es.documents().map((d) => [d.index, d.opType, d.source.message])).toEqual([
      ['logs-a', 'index', 'one'],
      ['logs-a', 'create', 'two'],
    ]);
    // create with an id that exists: 409, not stored twice (what elasticsearch_genid relies on).
    const again = await request(`${es.url}/_bulk`, 'POST', zlib.gzipSync(ndjson({ create: { _index: 'logs-a', _id: 'x1' } }, { message: 'two' })), { 'content-encoding': 'gzip' });
    expect(JSON.parse(again.body).items[0].create.status).toBe(409);
    expect(es.documents()).toHaveLength(2);
  });

  it('fails whole requests, then items, as told; heal() ends both', async () => {
    const es = await start();
    es.failRequests(429, { times: 1 });
    expect((await request(`${es.url}/_bulk`, 'POST', ndjson({ index: { _index: 'i' } }, { n: 1 }))).status).toBe(429);
    expect((await request(`${es.url}/_bulk`, 'POST', ndjson({ index: { _index: 'i' } }, { n: 2 }))).status).toBe(200);
    es.failItems({ status: 429, match: (s) => s.n === 4 });
    const partly = JSON.parse((await request(`${es.url}/_bulk`, 'POST', ndjson({ index: { _index: 'i' } }, { n: 3 }, { index: { _index: 'i' } }, { n: 4 }))).body);
    expect(partly.errors).toBe(true);
    expect(partly.items.map((i: any) => i.index.status)).toEqual([201, 429]);
    expect(partly.items[1].index.error.type).toBe('es_rejected_execution_exception');
    es.heal();
    await request(`${es.url}/_bulk`, 'POST', ndjson({ index: { _index: 'i' } }, { n: 4 }));
    expect(es.documents().map((d) => d.source.n)).toEqual([2, 3, 4]);
    expect(es.bulkRequests().map((b) => b.status)).toEqual([429, 200, 200, 200]);
    expect(es.rejectedItems().map((r) => r.source.n)).toEqual([4]);
  });

  it('refuses connections while down and comes back on the same port', async () => {
    const es = await start();
    const port = es.port;
    await es.down();
    await expect(request(`${es.url}/`, 'GET')).rejects.toThrow(/ECONNREFUSED/);
    await es.up();
    expect(es.port).toBe(port);
    expect((await request(`${es.url}/_cluster/health`, 'GET')).status).toBe(200);
  });
});

describe('S3StandIn', () => {
  const started: S3StandIn[] = [];
  afterAll(async () => Promise.all(started.map((s) => s.close())));

  it('serves path-style HEAD/PUT/GET/list, gunzips content and counts overwrites', async () => {
    const s3 = await S3StandIn.start();
    started.push(s3);
    expect((await request(`${s3.url}/logs/`, 'HEAD')).status).toBe(404);
    expect((await request(`${s3.url}/logs`, 'PUT', '<CreateBucketConfiguration/>')).status).toBe(200);
    expect(s3.createdBuckets()).toEqual(['logs']);
    const gz = zlib.gzipSync('{"a":1}\n{"a":2}\n');
    expect((await request(`${s3.url}/logs/k/0.gz`, 'HEAD')).status).toBe(404);
    expect((await request(`${s3.url}/logs/k/0.gz`, 'PUT', gz)).status).toBe(200);
    expect((await request(`${s3.url}/logs/k/0.gz`, 'HEAD')).status).toBe(200);
    expect((await request(`${s3.url}/logs/k/0.gz`, 'PUT', gz, { 'content-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' })).status).toBe(400);
    // An aws-chunked (SigV4 streaming) upload over the same key: an overwrite.
    const chunked = `5;chunk-signature=ab\r\nhello\r\n0;chunk-signature=cd\r\n\r\n`;
    expect((await request(`${s3.url}/logs/k/0.gz`, 'PUT', chunked, { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' })).status).toBe(200);
    expect(s3.puts().map((p) => [p.content, p.overwrote])).toEqual([
      ['{"a":1}\n{"a":2}\n', false],
      ['hello', true],
    ]);
    expect(s3.overwrites()).toBe(1);
    const list = await request(`${s3.url}/logs?list-type=2&prefix=k/&max-keys=1`, 'GET');
    expect(list.body).toContain('<Key>k/0.gz</Key>');
    expect(list.body).toContain('<KeyCount>1</KeyCount>');
    s3.failRequests(503, { times: 1 });
    const slow = await request(`${s3.url}/logs/k/1.gz`, 'PUT', 'x');
    expect([slow.status, /<Code>SlowDown<\/Code>/.test(slow.body)]).toEqual([503, true]);
    expect((await request(`${s3.url}/logs/k/1.gz`, 'PUT', 'x')).status).toBe(200);
  });
});

describe('the Fluentd harness', () => {
  const nodes: NodeFilesystem[] = [];
  afterEach(() => nodes.splice(0).forEach((n) => n.remove()));

  it('writes CRI and Docker json-file lines behind kubelet-style symlinks, and rotates to a new inode', () => {
    const node = new NodeFilesystem();
    nodes.push(node);
    const cri = node.containerLog({ pod: 'web-1', namespace: 'acme', container: 'api', format: 'cri' });
    const time = new Date('2024-05-01T10:00:00.123Z');
    cri.writeParts(['first ', 'second'], { time });
    cri.write('plain', { stream: 'stderr', time });
    expect(path.basename(cri.path)).toBe(`web-1_acme_api-${cri.containerId}.log`);
    expect(fs.realpathSync(cri.path)).toBe(fs.realpathSync(node.hostPath(`/var/log/pods/acme_web-1_${cri.podUid}/api/0.log`)));
    const lines = fs.readFileSync(cri.path, 'utf8').split('\n');
    expect(lines[0]).toMatch(/^2024-05-01T10:00:00\.123\d{6}Z stdout P first $/);
    expect(lines[1]).toMatch(/^2024-05-01T10:00:00\.123\d{6}Z stdout F second$/);
    expect(lines[2]).toMatch(/ stderr F plain$/);

    const docker = node.containerLog({ pod: 'web-1', namespace: 'acme', container: 'sidecar', format: 'docker' });
    docker.writeParts(['a', 'b'], { time });
    expect(fs.realpathSync(docker.path)).toBe(fs.realpathSync(node.hostPath(`/var/lib/docker/containers/${docker.containerId}/${docker.containerId}-json.log`)));
    const json = fs
      .readFileSync(docker.path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json.map((j) => j.log)).toEqual(['a', 'b\n']);
    expect(json[0].time).toMatch(/^2024-05-01T10:00:00\.123\d{6}Z$/);

    const inode = fs.statSync(cri.path).ino;
    const rotated = cri.rotate();
    expect(fs.readFileSync(rotated, 'utf8')).toContain('plain');
    expect(fs.statSync(cri.path).ino).not.toBe(inode);
    expect(fs.readFileSync(cri.path, 'utf8')).toBe('');
  });

  it('rewrites only host paths, listeners and output addresses, and refuses to aim at real services', async () => {
    const node = new NodeFilesystem();
    nodes.push(node);
    const es = await ElasticsearchStandIn.start();
    const s3 = await S3StandIn.start();
    try {
      const config = [
        '<source>',
        '  @type monitor_agent',
        '  bind 0.0.0.0',
        '  port 24220',
        '</source>',
        '<source>',
        '  @type tail',
        '  path /var/log/containers/*.log',
        '  exclude_path ["/var/log/containers/fluentd-*.log"]',
        '  pos_file /var/lib/fluentd/pos/c.pos',
        '  tag kubernetes.*',
        '</source>',
        '<label @OUT>',
        '  <match kubernetes.**>',
        '    @type copy',
        '    <store>',
        '      @type elasticsearch',
        '      host elasticsearch.logging.svc',
        '      port 9200',
        '      scheme https',
        '      ssl_verify true',
        '      user "#{ENV[\'FLUENT_ELASTICSEARCH_USER\']}"',
        '      <buffer>',
        '        path /var/lib/fluentd/buffer/es',
        '        flush_interval 5s',
        '      </buffer>',
        '    </store>',
        '    <store>',
        '      @type s3',
        '      s3_bucket b',
        '      path logs/%Y/',
        '    </store>',
        '  </match>',
        '</label>',
        '',
      ].join('\n');
      const { config: out, rewrites } = rewriteConfig(config, { node, ports: { monitor: 40001 }, elasticsearch: es, s3 });
      const params = parameterLines(out.split('\n'));
      const value = (key: string, type?: string) => params.filter((p) => p.key === key && (type === undefined || p.sections.some((s) => s.type === type))).map((p) => p.value);
      expect(value('port', 'monitor_agent')).toEqual(['40001']);
      expect(value('bind')).toEqual(['127.0.0.1']);
      expect(value('path', 'tail')).toEqual([`${node.root}/var/log/containers/*.log`]);
      expect(value('exclude_path')).toEqual([`["${node.root}/var/log/containers/fluentd-*.log"]`]);
      expect(value('pos_file')).toEqual([`${node.root}/var/lib/fluentd/pos/c.pos`]);
      expect(value('path', 'elasticsearch')).toEqual([`${node.root}/var/lib/fluentd/buffer/es`]);
      expect([value('host'), value('port', 'elasticsearch'), value('scheme'), value('ssl_verify')]).toEqual([['127.0.0.1'], [String(es.port)], ['http'], []]);
      expect(value('s3_endpoint')).toEqual([s3.url]);
      // Untouched: tags, credentials read from the environment, S3 key paths, flush settings.
      expect([value('tag'), value('user'), value('path', 's3'), value('flush_interval')]).toEqual([['kubernetes.*'], ['"#{ENV[\'FLUENT_ELASTICSEARCH_USER\']}"'], ['logs/%Y/'], ['5s']]);
      expect(rewrites).toHaveLength(11);
      expect(() => rewriteConfig(config, { node, ports: {}, s3 })).toThrow(/ElasticsearchStandIn/);
      expect(() => rewriteConfig(config, { node, ports: {}, elasticsearch: es })).toThrow(/S3StandIn/);
      expect(() => rewriteConfig('<filter **>\n  @type kubernetes_metadata\n  kubernetes_url https://k8s:443/api\n</filter>\n', { node, ports: {} })).toThrow(/KubernetesApiStandIn/);
    } finally {
      await es.close();
      await s3.close();
    }
  });

  it('gives the DaemonSet env with dummy secrets and the node name', () => {
    expect(
      containerEnvironment(
        [
          { name: 'K8S_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'FLUENT_ELASTICSEARCH_USER', value: 'fluentd' },
          { name: 'FLUENT_ELASTICSEARCH_PASSWORD', valueFrom: { secretKeyRef: { name: 'es', key: 'pw' } } },
        ],
        'node-b',
      ),
    ).toEqual({ K8S_NODE_NAME: 'node-b', FLUENT_ELASTICSEARCH_USER: 'fluentd', FLUENT_ELASTICSEARCH_PASSWORD: 'dummy-es-pw' });
    expect(() => containerEnvironment([{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }], 'n')).toThrow(/cannot supply env X/);
  });
});

describe('withoutStopRace', () => {
  const at = '2026-12-01 16:40:33 +0000';
  const race = `${at} [warn]: #0 unexpected error while calling stop on input plugin plugin=Fluent::Plugin::PrometheusInput plugin_id="in_prometheus" error_class=ThreadError error="killed thread"`;
  const backtrace = [
    `  ${at} [warn]: #0 /opt/fluentd/lib/fluent/plugin_helper/thread.rb:135:in \`wakeup'`,
    `  ${at} [warn]: #0 /opt/fluentd/lib/fluent/plugin_helper/http_server.rb:112:in \`stop'`,
    `  ${at} [warn]: #0 <internal:/usr/lib/ruby/vendor_ruby/rubygems/core_ext/kernel_require.rb>:85:in \`require'`,
  ];
  const other = `${at} [warn]: #0 failed to flush the buffer. retry_times=0 error_class=Errno::ECONNREFUSED`;

  it('drops the thread-wakeup race at stop with its backtrace, as logged by Fluentd 1.17', () => {
    expect(withoutStopRace([race, ...backtrace])).toEqual([]);
  });

  it('keeps every other warning, and a backtrace that follows one', () => {
    expect(withoutStopRace([other, ...backtrace])).toEqual([other, ...backtrace]);
    expect(withoutStopRace([race, ...backtrace, other, ...backtrace])).toEqual([other, ...backtrace]);
    const elsewhere = race.replace('calling stop', 'calling shutdown');
    expect(withoutStopRace([elsewhere])).toEqual([elsewhere]);
    const otherError = race.replace('error_class=ThreadError error="killed thread"', 'error_class=IOError error="closed stream"');
    expect(withoutStopRace([otherError])).toEqual([otherError]);
  });
});
