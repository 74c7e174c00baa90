import { Duration, Size } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShipshapeError } from '../../lib';
import {
  FluentDirective,
  FluentEnv,
  FluentRegexp,
  FluentValue,
  FluentdConfig,
  FluentdConfigProps,
  S3_TIMEKEY_WAIT_SECONDS,
  S3_TIME_SLICE_SECONDS,
  parserForRuntime,
  quoteFluentString,
  renderFluentConf,
  renderFluentValue,
} from '../../lib/logging';

const ES = { host: 'elasticsearch.logging.svc', indexPrefix: 'logs-prod' };
const S3 = { bucket: 'acme-logs', region: 'eu-west-1' };

/** The text of the first section whose first lines contain `marker`, from its opening tag to its closing tag. */
function section(text: string, open: string, marker: string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== open && !lines[i].trim().startsWith(`${open.slice(0, -1)} `)) continue;
    const indent = lines[i].length - lines[i].trimStart().length;
    const close = `${' '.repeat(indent)}</${open.slice(1).split(/[ >]/)[0]}>`;
    const end = lines.indexOf(close, i);
    const body = lines.slice(i, end + 1).join('\n');
    if (body.includes(marker)) return body;
  }
  throw new Error(`no ${open} section with ${marker} in:\n${text}`);
}

/** Reads a double-quoted fluent.conf string back the way Fluentd's literal parser does (escapes, no `#{}` evaluation). */
function unquote(quoted: string): string {
  expect(quoted.startsWith('"') && quoted.endsWith('"')).toBe(true);
  let out = '';
  const body = quoted.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      const n = body[++i];
      out += ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[n] ?? n;
    } else {
      // An unescaped quote would end the string early; an unescaped #{ would run Ruby code.
      expect(c).not.toBe('"');
      if (c === '#') expect(body[i + 1]).not.toBe('{');
      out += c;
    }
  }
  return out;
}

describe('fluent.conf rendering', () => {
  it('writes safe values bare and quotes and escapes the rest', () => {
    expect(renderFluentValue('t', 'path', '/var/log/containers/*.log')).toBe('/var/log/containers/*.log');
    expect(renderFluentValue('t', 'desc', 'two words')).toBe('"two words"');
    expect(renderFluentValue('t', 'x', '')).toBe('""');
    expect(renderFluentValue('t', 'x', 'a"b\\c#{ENV}\nd')).toBe('"a\\"b\\\\c\\#{ENV}\\nd"');
    expect(renderFluentValue('t', 'n', 8)).toBe('8');
    expect(renderFluentValue('t', 'b', false)).toBe('false');
    expect(renderFluentValue('t', 'password', new FluentEnv('ES_PASSWORD'))).toBe(`"#{ENV['ES_PASSWORD']}"`);
    expect(renderFluentValue('t', 'multiline_end_regexp', new FluentRegexp('\\n$'))).toBe('/\\n$/');
    expect(renderFluentValue('t', 'exclude_path', ['/var/log/a.log', '/var/log/b "c".log'])).toBe('["/var/log/a.log", "/var/log/b \\"c\\".log"]');
  });

  it('refuses values that cannot be written safely', () => {
    expect(() => renderFluentValue('root/x', 'password', new FluentEnv("X']}#{`rm -rf /`"))).toThrow(ShipshapeError);
    expect(() => renderFluentValue('root/x', 'r', new FluentRegexp('a#b'))).toThrow(/regular expression/);
    expect(() => renderFluentValue('root/x', 'a', ['ok', 'bad#{x}'])).toThrow(/array parameter a/);
    expect(() => renderFluentValue('root/x', 'n', Number.NaN)).toThrow(/finite/);
    expect(() => renderFluentConf('root/x', [{ name: 'match', arg: 'a b' }])).toThrow(/argument of <match>/);
    expect(() => renderFluentConf('root/x', [{ name: 'Match' }])).toThrow(/section name/);
    expect(() =>
      renderFluentConf('root/x', [
        {
          name: 'source',
          params: [
            ['port', 1],
            ['port', 2],
          ],
        },
      ]),
    ).toThrow(/sets port twice/);
    expect(() => renderFluentConf('root/x', [{ name: 'source', params: [['bad key', 1]] }])).toThrow(/parameter name/);
  });

  it('renders nested sections deterministically with two-space indentation', () => {
    const text = renderFluentConf('t', [{ name: 'match', arg: 'a.**', params: [['@type', 'copy']], children: [{ name: 'store', params: [['@type', 'stdout']] }] }]);
    expect(text).toBe('<match a.**>\n  @type copy\n  <store>\n    @type stdout\n  </store>\n</match>\n');
  });

  it('quotes any string so that Fluentd reads back exactly that string and never evaluates code (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const rendered = renderFluentValue('t', 'v', s);
        expect(rendered).not.toMatch(/[\n\r]/);
        const read = rendered.startsWith('"') ? unquote(rendered) : rendered;
        expect(read).toBe(s);
      }),
      { numRuns: 500 },
    );
  });
});

/** Every directive of the tree, depth first, with the chain of enclosing directives. */
function walk(directives: readonly FluentDirective[], parents: FluentDirective[] = []): { d: FluentDirective; parents: FluentDirective[] }[] {
  return directives.flatMap((d) => [{ d, parents }, ...walk(d.children ?? [], [...parents, d])]);
}

/** The directive whose @id (or @type, for sections without an id) is `id`; throws when there is none or several. */
function byId(config: FluentdConfig, id: string): { d: FluentDirective; parents: FluentDirective[] } {
  const found = walk(config.directives).filter(({ d }) => param(d, '@id') === id);
  if (found.length !== 1) throw new Error(`${found.length} directives with @id ${id}`);
  return found[0];
}

function param(d: FluentDirective, key: string): FluentValue | undefined {
  return (d.params ?? []).find(([k]) => k === key)?.[1];
}

function params(d: FluentDirective): Record<string, unknown> {
  return Object.fromEntries((d.params ?? []).map(([k, v]) => [k, v instanceof FluentRegexp ? `/${v.source}/` : v instanceof FluentEnv ? `ENV[${v.variable}]` : v]));
}

function child(d: FluentDirective, name: string): FluentDirective {
  const found = (d.children ?? []).filter((c) => c.name === name);
  if (found.length !== 1) throw new Error(`${found.length} <${name}> in ${d.name}`);
  return found[0];
}

/** The label a directive sits in, or undefined at the root. */
function labelOf(entry: { parents: FluentDirective[] }): string | undefined {
  return entry.parents.find((p) => p.name === 'label')?.arg;
}

describe('FluentdConfig', () => {
  const config = new FluentdConfig('prod/fluentd', { runtime: 'containerd', elasticsearch: ES, s3: S3 });
  const prod = config.render();
  const docker = new FluentdConfig('t', { runtime: 'docker', elasticsearch: ES, s3: S3 });

  it('picks the parser from the container runtime', () => {
    expect(parserForRuntime('containerd')).toBe('cri');
    expect(parserForRuntime('cri-o')).toBe('cri');
    expect(parserForRuntime('docker')).toBe('json');
  });

  it('tails container logs into @CONCAT with the CRI parser, a pos file on the state hostPath and rotation settings', () => {
    expect(section(prod, '<source>', '@type tail')).toBe(
      [
        '<source>',
        '  @type tail',
        '  @id in_tail_container_logs',
        '  @label @CONCAT',
        '  path /var/log/containers/*.log',
        '  pos_file /var/lib/fluentd/pos/containers.log.pos',
        '  pos_file_compaction_interval 1h',
        '  tag kubernetes.*',
        '  read_from_head true',
        '  follow_inodes true',
        '  rotate_wait 5s',
        '  refresh_interval 10s',
        '  <parse>',
        '    @type cri',
        '    merge_cri_fields true',
        '    time_key time',
        '    time_type mixed',
        '    time_format %Y-%m-%dT%H:%M:%S.%N%z',
        '    time_format_fallbacks ["%iso8601"]',
        '    keep_time_key false',
        '  </parse>',
        '</source>',
      ].join('\n'),
    );
  });

  it("reads each line's own time for both runtimes, also when the runtime drops trailing zeros (…00Z)", () => {
    for (const c of [config, docker]) {
      const parse = child(byId(c, 'in_tail_container_logs').d, 'parse');
      expect(params(parse)).toMatchObject({
        '@type': c === docker ? 'json' : 'cri',
        time_key: 'time',
        time_type: 'mixed',
        time_format: '%Y-%m-%dT%H:%M:%S.%N%z',
        time_format_fallbacks: ['%iso8601'],
        keep_time_key: false,
      });
    }
  });

  it("joins split lines per container and stream, keeps stream and the first piece's time, and delivers a line that never completes", () => {
    const cri = byId(config, 'filter_concat');
    expect(labelOf(cri)).toBe('@CONCAT');
    expect(params(cri.d)).toMatchObject({
      key: 'message',
      use_partial_cri_logtag: true,
      partial_cri_logtag_key: 'logtag',
      // concat 2.5 deletes the field named here from every joined record: pointing it at logtag keeps stream.
      partial_cri_stream_key: 'logtag',
      stream_identity_key: 'stream',
      separator: '',
      use_first_timestamp: true,
      flush_interval: '60s',
      timeout_label: '@NORMALIZE',
    });
    const json = byId(docker, 'filter_concat').d;
    expect(params(json)).toMatchObject({ key: 'log', multiline_end_regexp: '/\\n$/', stream_identity_key: 'stream', timeout_label: '@NORMALIZE', use_first_timestamp: true });
    expect(params(json)).not.toHaveProperty('partial_cri_stream_key');
    const custom = new FluentdConfig('t', { runtime: 'containerd', tail: { partialLineTimeout: Duration.seconds(5) }, elasticsearch: ES });
    expect(param(byId(custom, 'filter_concat').d, 'flush_interval')).toBe('5s');
    // What @CONCAT emits goes on to @NORMALIZE too.
    expect(params(byId(config, 'out_relabel_normalize').d)).toEqual({ '@type': 'relabel', '@id': 'out_relabel_normalize', '@label': '@NORMALIZE' });
  });

  it('defines the labels in the order Fluentd shuts them down: what @CONCAT flushes at SIGTERM reaches open outputs', () => {
    const labels = config.directives.filter((d) => d.name === 'label').map((d) => d.arg);
    expect(labels).toEqual(['@CONCAT', '@NORMALIZE', '@S3', '@ELASTICSEARCH']);
    // Nothing is matched at the root: every event flows through the labels.
    expect(config.directives.filter((d) => d.name === 'match' || d.name === 'filter')).toEqual([]);
  });

  it('parses JSON messages without touching the record time, so a bad time can never drop a record', () => {
    const json = byId(config, 'filter_json_message');
    expect(labelOf(json)).toBe('@NORMALIZE');
    expect(params(json.d)).toMatchObject({ '@type': 'parser', key_name: 'message', reserve_data: true, reserve_time: true, remove_key_name_field: true, emit_invalid_record_to_error: false });
    // No time key: the json parser would otherwise raise on an unparsable time and filter_parser would drop the record.
    expect(params(child(json.d, 'parse'))).toMatchObject({ '@type': 'json', time_key: '', estimate_current_event: false, types: 'time:string' });
    expect(param(byId(docker, 'filter_json_message').d, 'key_name')).toBe('log');
  });

  it("takes the application's time only when it is ISO-8601 or epoch seconds, and otherwise keeps the line's", () => {
    const appTime = byId(config, 'filter_app_time');
    const names = walk(config.directives)
      .filter(({ d }) => d.name === 'filter')
      .map(({ d }) => param(d, '@id'));
    expect(names.indexOf('filter_app_time')).toBe(names.indexOf('filter_json_message') + 1);
    expect(params(appTime.d)).toMatchObject({ key_name: 'time', reserve_data: true, reserve_time: false, remove_key_name_field: true, emit_invalid_record_to_error: false });
    const parse = child(appTime.d, 'parse');
    expect(params(parse)).toMatchObject({
      '@type': 'regexp',
      time_key: 'time',
      time_type: 'mixed',
      time_format: '%iso8601',
      time_format_fallbacks: ['float'],
      keep_time_key: false,
      estimate_current_event: false,
    });
    // The same expression in JavaScript: what matches is parsed, everything else keeps the line's time.
    const expression = new RegExp((param(parse, 'expression') as FluentRegexp).source);
    for (const v of ['2024-01-01T00:00:03Z', '2024-01-01T00:00:03.123456789Z', '2024-02-29t23:59:60.5+02:00', '2024-12-31T23:59:59-0530', '2024-01-01T00:00:03', '1704067203', '1704067203.25']) {
      expect(expression.exec(v)?.groups?.time, v).toBe(v);
    }
    // Epoch milliseconds, Python's asctime, words, impossible dates and hours: not a time Ruby's Time.iso8601 or a float reads right.
    for (const v of [
      '1704067203000',
      '2024-01-01 00:00:03,123',
      'yesterday',
      '2024-13-01T00:00:00Z',
      '2024-01-32T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T00:60:00Z',
      '2024',
      '0',
      '',
      ' 1704067203',
    ]) {
      expect(expression.test(v), v).toBe(false);
    }
  });

  it('adds Kubernetes metadata, de-dots field names and counts records after parsing', () => {
    const order = walk(config.directives)
      .filter(({ d }) => d.name === 'filter')
      .map(({ d }) => param(d, '@type'));
    expect(order).toEqual(['concat', 'parser', 'parser', 'kubernetes_metadata', 'dedot', 'prometheus', 'elasticsearch_genid']);
    expect(params(byId(config, 'filter_dedot').d)).toMatchObject({ de_dot: true, de_dot_separator: '_', de_dot_nested: true });
    expect(section(prod, '<filter kubernetes.**>', 'fluentd_input_status_num_records_total')).toContain('hostname "${hostname}"');
  });

  it('exposes monitor_agent on 24220 and Prometheus metrics (outputs, buffers, tail positions) on 24231', () => {
    expect(section(prod, '<source>', 'monitor_agent')).toBe('<source>\n  @type monitor_agent\n  @id in_monitor_agent\n  bind 0.0.0.0\n  port 24220\n</source>');
    expect(section(prod, '<source>', '@type prometheus\n')).toContain('  port 24231\n  metrics_path /metrics\n');
    for (const id of ['in_prometheus_monitor', 'in_prometheus_output_monitor', 'in_prometheus_tail_monitor']) expect(labelOf(byId(config, id))).toBeUndefined();
  });

  it('fans out to one label per output, the archive first and Elasticsearch with ignore_error, so neither output can stop the other', () => {
    const copy = byId(config, 'out_copy').d;
    expect(param(copy, '@type')).toBe('copy');
    expect(copy.children!.map((s) => [s.arg, params(s)])).toEqual([
      [undefined, { '@type': 'relabel', '@label': '@S3' }],
      ['ignore_error', { '@type': 'relabel', '@label': '@ELASTICSEARCH' }],
    ]);
    expect(labelOf(byId(config, 'out_s3'))).toBe('@S3');
    expect(labelOf(byId(config, 'out_elasticsearch'))).toBe('@ELASTICSEARCH');
    // The id filter sits in the Elasticsearch label: items Elasticsearch answers 429 for are re-emitted there, never to S3.
    expect(labelOf(byId(config, 'filter_elasticsearch_genid'))).toBe('@ELASTICSEARCH');
  });

  it('relabels a single output without copy', () => {
    const s3Only = new FluentdConfig('t', { runtime: 'cri-o', s3: S3 });
    expect(s3Only.render()).not.toContain('@type copy');
    expect(params(byId(s3Only, 'out_relabel_s3').d)).toEqual({ '@type': 'relabel', '@label': '@S3', '@id': 'out_relabel_s3' });
    expect(s3Only.directives.filter((d) => d.name === 'label').map((d) => d.arg)).toEqual(['@CONCAT', '@NORMALIZE', '@S3']);
    // de-dot is for Elasticsearch mappings; the S3 variant image does not have the plugin.
    expect(s3Only.render()).not.toContain('@type dedot');
    const esOnly = new FluentdConfig('t', { runtime: 'containerd', elasticsearch: ES });
    expect(param(byId(esOnly, 'out_relabel_elasticsearch').d, '@label')).toBe('@ELASTICSEARCH');
  });

  it('ships to Elasticsearch without asking its version at start-up, with ids that make a retried bulk create nothing twice', () => {
    const es = byId(config, 'out_elasticsearch').d;
    expect(params(es)).toMatchObject({
      host: 'elasticsearch.logging.svc',
      port: 9200,
      scheme: 'http',
      user: 'ENV[FLUENT_ELASTICSEARCH_USER]',
      password: 'ENV[FLUENT_ELASTICSEARCH_PASSWORD]',
      logstash_format: true,
      logstash_prefix: 'logs-prod',
      logstash_dateformat: '%Y.%m.%d',
      verify_es_version_at_startup: false,
      default_elasticsearch_version: 8,
      id_key: '_hash',
      write_operation: 'create',
      reload_connections: false,
      request_timeout: '30s',
    });
    // Removing the id from the record hides it from the plugin's bulk error handler, which then drops refused items.
    expect(params(es)).not.toHaveProperty('remove_keys');
    expect(param(byId(config, 'filter_elasticsearch_genid').d, 'hash_id_key')).toBe('_hash');
  });

  it('gives each output its own file buffer that flushes at shutdown, and lets Elasticsearch drop its oldest chunks rather than block the archive', () => {
    const esBuffer = child(byId(config, 'out_elasticsearch').d, 'buffer');
    expect(esBuffer.arg).toBeUndefined();
    expect(params(esBuffer)).toEqual({
      '@type': 'file',
      path: '/var/lib/fluentd/buffer/elasticsearch',
      flush_mode: 'interval',
      flush_interval: '5s',
      flush_at_shutdown: true,
      flush_thread_count: 2,
      chunk_limit_size: '8m',
      total_limit_size: '512m',
      overflow_action: 'drop_oldest_chunk',
      retry_type: 'exponential_backoff',
      retry_wait: '1s',
      retry_max_interval: '30s',
      retry_forever: true,
    });
    const s3Buffer = child(byId(config, 'out_s3').d, 'buffer');
    expect(params(s3Buffer)).toMatchObject({ '@type': 'file', path: '/var/lib/fluentd/buffer/s3', flush_mode: 'lazy', flush_at_shutdown: true, overflow_action: 'block' });
    // Without an archive, a full Elasticsearch buffer pauses reading: the lines wait in the log files.
    const esOnly = new FluentdConfig('t', { runtime: 'containerd', elasticsearch: ES });
    expect(param(child(byId(esOnly, 'out_elasticsearch').d, 'buffer'), 'overflow_action')).toBe('block');
    expect(esOnly.render().match(/flush_at_shutdown true/g)).toHaveLength(1);
    expect(prod.match(/flush_at_shutdown (true|false)/g)).toEqual(['flush_at_shutdown true', 'flush_at_shutdown true']);
  });

  it('archives one object per chunk under a unique key, in 5-minute time slices, each line with its time', () => {
    const s3 = byId(config, 'out_s3').d;
    expect(params(s3)).toMatchObject({ s3_bucket: 'acme-logs', s3_region: 'eu-west-1', path: 'logs/%Y/%m/%d/', time_slice_format: '%Y%m%d%H%M', store_as: 'gzip' });
    const key = String(param(s3, 's3_object_key_format'));
    expect(key).toBe('%{path}%{time_slice}_${chunk_id}_%{index}.%{file_extension}');
    expect(key).not.toContain('%{hostname}');
    expect(param(s3, 'aws_key_id')).toBeUndefined();
    const buffer = child(s3, 'buffer');
    // Chunked by time only, not per tag: one chunk per slice and node.
    expect(buffer.arg).toBe('time');
    expect(params(buffer)).toMatchObject({ timekey: S3_TIME_SLICE_SECONDS, timekey_wait: `${S3_TIMEKEY_WAIT_SECONDS}s`, timekey_use_utc: true });
    expect(S3_TIME_SLICE_SECONDS).toBe(300);
    expect(config.s3LossBoundSeconds).toBe(360);
    expect(params(child(s3, 'inject'))).toEqual({ time_key: '@timestamp', time_type: 'string', time_format: '%Y-%m-%dT%H:%M:%S.%NZ', utc: true });
    // The slice format names a slice exactly.
    const hourly = new FluentdConfig('t', { runtime: 'containerd', s3: { ...S3, timeSlice: Duration.hours(1) } });
    expect(param(byId(hourly, 'out_s3').d, 'time_slice_format')).toBe('%Y%m%d%H');
    expect(hourly.s3LossBoundSeconds).toBe(3660);
    const daily = new FluentdConfig('t', { runtime: 'containerd', s3: { ...S3, timeSlice: Duration.days(1) } });
    expect(param(byId(daily, 'out_s3').d, 'time_slice_format')).toBe('%Y%m%d');
  });

  it('lists the plugin gems the configuration needs', () => {
    expect(config.plugins).toEqual([
      'fluent-plugin-concat',
      'fluent-plugin-dedot_filter',
      'fluent-plugin-elasticsearch',
      'fluent-plugin-kubernetes_metadata_filter',
      'fluent-plugin-parser-cri',
      'fluent-plugin-prometheus',
      'fluent-plugin-s3',
    ]);
  });

  it('renders the same text every time', () => {
    expect(new FluentdConfig('prod/fluentd', { runtime: 'containerd', elasticsearch: ES, s3: S3 }).render()).toBe(prod);
  });

  it.each<[string, FluentdConfigProps, RegExp]>([
    ['no output', { runtime: 'containerd' }, /has no output/],
    ['an unknown parser', { runtime: 'docker', tail: { parser: 'regexp' as never }, elasticsearch: ES }, /tail\.parser must be/],
    // What Fluentd 1.17's in_tail logs for such lines (in_tail.rb convert_line_to_event).
    ['json on containerd', { runtime: 'containerd', tail: { parser: 'json' }, elasticsearch: ES }, /"\[warn\]: pattern not matched: <line>" for every line/],
    ['cri on Docker', { runtime: 'docker', tail: { parser: 'cri' }, elasticsearch: ES }, /"\[warn\]: invalid line found"/],
    ['s3 without a bucket', { runtime: 'containerd', s3: { bucket: '', region: 'eu-west-1' } }, /s3\.bucket/],
    ['a time slice that does not divide a day', { runtime: 'containerd', s3: { ...S3, timeSlice: Duration.minutes(7) } }, /s3\.timeSlice must be whole minutes that divide a day/],
    ['a time slice of seconds', { runtime: 'containerd', s3: { ...S3, timeSlice: Duration.seconds(90) } }, /whole minutes/],
    ['Elasticsearch blocking next to an archive', { runtime: 'containerd', s3: S3, elasticsearch: { ...ES, buffer: { overflowAction: 'block' } } }, /stops the archive/],
    [
      'a partial-line timeout of 0',
      { runtime: 'containerd', tail: { partialLineTimeout: Duration.seconds(0) }, elasticsearch: ES },
      /tail\.partialLineTimeout must be a Duration of whole seconds from 1 to 3600 s/,
    ],
    [
      'a retry timeout that is not whole hours',
      { runtime: 'containerd', elasticsearch: { ...ES, buffer: { retryTimeout: Duration.minutes(90) } } },
      /elasticsearch\.buffer\.retryTimeout must be whole hours/,
    ],
    [
      'a flush interval given as a number',
      { runtime: 'containerd', elasticsearch: { ...ES, buffer: { flushInterval: 5 as unknown as Duration } } },
      /flushInterval must be a Duration.*not the number 5/,
    ],
    [
      'memory buffers above the memory limit',
      { runtime: 'containerd', memoryLimit: Size.mebibytes(512), elasticsearch: { ...ES, buffer: { type: 'memory', totalLimitSize: Size.mebibytes(512) } } },
      /OOM-killed/,
    ],
    ['a chunk larger than the buffer', { runtime: 'containerd', elasticsearch: { ...ES, buffer: { chunkLimitSize: Size.mebibytes(64), totalLimitSize: Size.mebibytes(32) } } }, /chunkLimitSize/],
    ['an unknown overflow action', { runtime: 'containerd', elasticsearch: { ...ES, buffer: { overflowAction: 'explode' as never } } }, /overflowAction/],
    ['a relative pos directory', { runtime: 'containerd', stateDirectory: 'var/lib', elasticsearch: ES }, /stateDirectory/],
    ['the same port twice', { runtime: 'containerd', metricsPort: 24220, elasticsearch: ES }, /same port/],
  ])('throws a ShipshapeError for %s', (_, props, message) => {
    let error: unknown;
    try {
      new FluentdConfig('prod/logging/fluentd', props);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ShipshapeError);
    expect((error as ShipshapeError).path).toBe('prod/logging/fluentd');
    expect((error as Error).message).toMatch(message);
  });

  it('accepts memory buffers that fit in the memory limit', () => {
    const text = new FluentdConfig('t', {
      runtime: 'containerd',
      memoryLimit: Size.mebibytes(512),
      elasticsearch: { ...ES, buffer: { type: 'memory', totalLimitSize: Size.mebibytes(256) } },
    }).render();
    expect(text).toContain('      @type memory\n      flush_mode interval');
    expect(text).toContain('flush_at_shutdown true');
  });

  it('renders valid text or throws a ShipshapeError naming the path, for any input (property)', () => {
    // Mostly valid values with a tail of invalid ones, so both outcomes occur often.
    const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: invalid, weight: 1 });
    const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
    const asDuration = (n: number) => (n < 0 ? (n as unknown as Duration) : Duration.seconds(n));
    const size = optional(mostly(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 0, max: 4096 })).map((n) => Size.mebibytes(n)));
    const buffer = optional(
      fc.record(
        {
          type: mostly(fc.constantFrom('file', 'memory'), fc.constant('disk')),
          chunkLimitSize: size,
          totalLimitSize: size,
          // cdk8s refuses a negative Duration itself; a negative number stands for a value that is no Duration at all.
          flushInterval: optional(mostly(fc.integer({ min: 1, max: 100 }), fc.integer({ min: -1, max: 0 })).map(asDuration)),
          flushThreadCount: optional(mostly(fc.integer({ min: 1, max: 8 }), fc.integer({ min: -1, max: 100 }))),
          overflowAction: mostly(fc.constantFrom('block', 'drop_oldest_chunk', 'throw_exception'), fc.constant('panic')),
        },
        { requiredKeys: [] },
      ),
    );
    const props = fc.record(
      {
        runtime: fc.constantFrom('containerd', 'cri-o', 'docker'),
        tail: fc.record(
          {
            parser: mostly(fc.constant(undefined), fc.constantFrom('cri', 'json', 'none')),
            rotateWait: optional(mostly(fc.integer({ min: 0, max: 60 }), fc.integer({ min: -5, max: 5000 })).map(asDuration)),
          },
          { requiredKeys: [] },
        ),
        elasticsearch: optional(
          fc.record({
            host: mostly(fc.constant('es.logging.svc'), fc.constantFrom('Bad Host', '')),
            indexPrefix: mostly(fc.constant('logs-dev'), fc.constantFrom('Logs', '')),
            port: optional(mostly(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: -1, max: 70000 }))),
            buffer,
          }),
        ),
        s3: optional(
          fc.record({
            bucket: mostly(fc.constant('acme-logs'), fc.constantFrom('', 'UPPER')),
            region: mostly(fc.constant('eu-west-1'), fc.constant('mars')),
            path: mostly(fc.constantFrom(undefined, 'logs/%Y/'), fc.constantFrom('/abs', 'a b')),
            buffer,
          }),
        ),
        memoryLimit: optional(mostly(fc.integer({ min: 512, max: 4096 }), fc.integer({ min: 0, max: 511 })).map((n) => Size.mebibytes(n))),
        monitorPort: optional(mostly(fc.integer({ min: 1024, max: 65535 }), fc.integer({ min: 0, max: 70000 }))),
      },
      { requiredKeys: ['runtime'] },
    );
    let built = 0;
    let rejected = 0;
    fc.assert(
      fc.property(props, (p) => {
        let text: string;
        try {
          text = new FluentdConfig('env/logging/fluentd', p as unknown as FluentdConfigProps).render();
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect((e as ShipshapeError).path).toBe('env/logging/fluentd');
          rejected++;
          return;
        }
        built++;
        expect(text).toMatch(/<match kubernetes\.\*\*>/);
        expect(text).toContain(`@type ${p.runtime === 'docker' ? 'json' : 'cri'}\n`);
        // Every output in a label of its own, every buffer flushed at shutdown.
        const outputs = [p.elasticsearch && '<label @ELASTICSEARCH>', p.s3 && '<label @S3>'].filter(Boolean) as string[];
        for (const label of outputs) expect(text).toContain(label);
        expect(text.match(/flush_at_shutdown true/g)).toHaveLength(outputs.length);
        expect(text).not.toContain('flush_at_shutdown false');
        // Balanced sections.
        const opens = (text.match(/^\s*<[a-z_]+[ >]/gm) ?? []).length;
        const closes = (text.match(/^\s*<\/[a-z_]+>/gm) ?? []).length;
        expect(opens).toBe(closes);
      }),
      { numRuns: 300 },
    );
    // Both branches must be exercised, or the property proves nothing.
    expect(built).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(10);
  });

  it('quoteFluentString escapes the characters Fluentd interprets', () => {
    expect(quoteFluentString('#{x}')).toBe('"\\#{x}"');
  });
});
