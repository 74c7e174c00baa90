import { Size } from 'cdk8s';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShipshapeError } from '../../lib';
import { FluentEnv, FluentRegexp, FluentdConfig, FluentdConfigProps, parserForRuntime, quoteFluentString, renderFluentConf, renderFluentValue } from '../../lib/logging';

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
    expect(() => renderFluentConf('root/x', [{ name: 'source', params: [['port', 1], ['port', 2]] }])).toThrow(/sets port twice/);
    expect(() => renderFluentConf('root/x', [{ name: 'source', params: [['bad key', 1]] }])).toThrow(/parameter name/);
  });

  it('renders nested sections deterministically with two-space indentation', () => {
    const text = renderFluentConf('t', [{ name: 'match', arg: 'a.**', params: [['@type', 'copy']], children: [{ name: 'store', params: [['@type', 'stdout']] }] }]);
    expect(text).toBe('<match a.**>\n  @type copy\n  <store>\n    @type stdout\n  </store>\n</match>\n');
  });

  it('quotes any string so that Fluentd reads back exactly that string and never evaluates code (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const rendered = renderFluentValue('t', 'v', s);
      expect(rendered).not.toMatch(/[\n\r]/);
      const read = rendered.startsWith('"') ? unquote(rendered) : rendered;
      expect(read).toBe(s);
    }), { numRuns: 500 });
  });
});

describe('FluentdConfig', () => {
  const prod = new FluentdConfig('prod/fluentd', { runtime: 'containerd', elasticsearch: ES, s3: S3 }).render();

  it('picks the parser from the container runtime', () => {
    expect(parserForRuntime('containerd')).toBe('cri');
    expect(parserForRuntime('cri-o')).toBe('cri');
    expect(parserForRuntime('docker')).toBe('json');
  });

  it('tails container logs with the CRI parser, a pos file on the state hostPath and rotation settings', () => {
    expect(section(prod, '<source>', '@type tail')).toBe([
      '<source>',
      '  @type tail',
      '  @id in_tail_container_logs',
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
      '  </parse>',
      '</source>',
    ].join('\n'));
  });

  it('parses Docker json-file lines with the json parser and joins its 16 KiB splits', () => {
    const text = new FluentdConfig('t', { runtime: 'docker', elasticsearch: ES }).render();
    expect(section(text, '<source>', '@type tail')).toContain('  <parse>\n    @type json\n    time_key time\n');
    expect(section(text, '<filter kubernetes.**>', '@type concat')).toContain('  key log\n  multiline_end_regexp /\\n$/\n  separator ""');
  });

  it('joins CRI partial lines, parses JSON messages, adds Kubernetes metadata and de-dots labels', () => {
    expect(section(prod, '<filter kubernetes.**>', '@type concat')).toContain('  use_partial_cri_logtag true\n  partial_cri_logtag_key logtag\n  partial_cri_stream_key stream\n');
    expect(section(prod, '<filter kubernetes.**>', '@type parser')).toContain('  key_name message\n  reserve_data true\n  remove_key_name_field true\n  emit_invalid_record_to_error false\n');
    expect(section(prod, '<filter kubernetes.**>', '@type kubernetes_metadata')).toContain('@id filter_kubernetes_metadata');
    expect(section(prod, '<filter kubernetes.**>', '@type dedot')).toBe('<filter kubernetes.**>\n  @type dedot\n  @id filter_dedot\n  de_dot true\n  de_dot_separator _\n  de_dot_nested true\n</filter>');
  });

  it('exposes monitor_agent on 24220 and Prometheus metrics on 24231', () => {
    expect(section(prod, '<source>', 'monitor_agent')).toBe('<source>\n  @type monitor_agent\n  @id in_monitor_agent\n  bind 0.0.0.0\n  port 24220\n</source>');
    expect(section(prod, '<source>', '@type prometheus\n')).toContain('  port 24231\n  metrics_path /metrics\n');
    expect(prod).toContain('@type prometheus_output_monitor');
    expect(section(prod, '<filter kubernetes.**>', 'fluentd_input_status_num_records_total')).toContain('hostname "${hostname}"');
  });

  it('copies to Elasticsearch and S3, each through its own file buffer', () => {
    const match = section(prod, '<match kubernetes.**>', '@type copy');
    const es = section(match, '<store>', '@type elasticsearch');
    expect(es).toContain([
      '    host elasticsearch.logging.svc',
      '    port 9200',
      '    scheme http',
      `    user "#{ENV['FLUENT_ELASTICSEARCH_USER']}"`,
      `    password "#{ENV['FLUENT_ELASTICSEARCH_PASSWORD']}"`,
      '    logstash_format true',
      '    logstash_prefix logs-prod',
    ].join('\n'));
    expect(es).toContain('    reload_connections false\n');
    expect(section(es, '<buffer>', '@type file')).toBe([
      '    <buffer>',
      '      @type file',
      '      path /var/lib/fluentd/buffer/elasticsearch',
      '      flush_mode interval',
      '      flush_interval 5s',
      '      flush_at_shutdown false',
      '      flush_thread_count 2',
      '      chunk_limit_size 8m',
      '      total_limit_size 512m',
      '      overflow_action block',
      '      retry_type exponential_backoff',
      '      retry_wait 1s',
      '      retry_max_interval 30s',
      '      retry_forever true',
      '    </buffer>',
    ].join('\n'));
    const s3 = section(match, '<store>', '@type s3');
    expect(s3).toContain('    s3_bucket acme-logs\n    s3_region eu-west-1\n    path logs/%Y/%m/%d/\n');
    expect(s3).toContain('    store_as gzip\n');
    expect(s3).not.toMatch(/aws_key_id|aws_sec_key/);
    expect(section(s3, '<buffer tag,time>', '@type file')).toContain('      path /var/lib/fluentd/buffer/s3\n      timekey 3600\n      timekey_wait 10m\n');
  });

  it('writes a single output directly in the match section, without copy', () => {
    const text = new FluentdConfig('t', { runtime: 'cri-o', s3: S3 }).render();
    expect(text).not.toContain('@type copy');
    expect(section(text, '<match kubernetes.**>', '@type s3')).toContain('  @id out_s3\n');
    // de-dot is for Elasticsearch mappings; the S3 variant image does not have the plugin.
    expect(text).not.toContain('@type dedot');
  });

  it('lists the plugin gems the configuration needs', () => {
    expect(new FluentdConfig('t', { runtime: 'containerd', elasticsearch: ES, s3: S3 }).plugins).toEqual([
      'fluent-plugin-concat', 'fluent-plugin-dedot_filter', 'fluent-plugin-elasticsearch', 'fluent-plugin-kubernetes_metadata_filter',
      'fluent-plugin-parser-cri', 'fluent-plugin-prometheus', 'fluent-plugin-s3',
    ]);
  });

  it('renders the same text every time', () => {
    expect(new FluentdConfig('prod/fluentd', { runtime: 'containerd', elasticsearch: ES, s3: S3 }).render()).toBe(prod);
  });

  it.each<[string, FluentdConfigProps, RegExp]>([
    ['no output', { runtime: 'containerd' }, /has no output/],
    ['an unknown parser', { runtime: 'docker', tail: { parser: 'regexp' as never }, elasticsearch: ES }, /tail\.parser must be/],
    ['json on containerd', { runtime: 'containerd', tail: { parser: 'json' }, elasticsearch: ES }, /pattern not matched/],
    ['s3 without a bucket', { runtime: 'containerd', s3: { bucket: '', region: 'eu-west-1' } }, /s3\.bucket/],
    ['memory buffers above the memory limit', { runtime: 'containerd', memoryLimit: Size.mebibytes(512), elasticsearch: { ...ES, buffer: { type: 'memory', totalLimitSize: Size.mebibytes(512) } } }, /OOM-killed/],
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
    const text = new FluentdConfig('t', { runtime: 'containerd', memoryLimit: Size.mebibytes(512), elasticsearch: { ...ES, buffer: { type: 'memory', totalLimitSize: Size.mebibytes(256) } } }).render();
    expect(text).toContain('    @type memory\n    flush_mode interval');
    expect(text).toContain('flush_at_shutdown true');
  });

  it('renders valid text or throws a ShipshapeError naming the path, for any input (property)', () => {
    // Mostly valid values with a tail of invalid ones, so both outcomes occur often.
    const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: invalid, weight: 1 });
    const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
    const size = optional(mostly(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 0, max: 4096 })).map((n) => Size.mebibytes(n)));
    const buffer = optional(fc.record({
      type: mostly(fc.constantFrom('file', 'memory'), fc.constant('disk')),
      chunkLimitSize: size,
      totalLimitSize: size,
      flushIntervalSeconds: optional(mostly(fc.integer({ min: 1, max: 100 }), fc.integer({ min: -1, max: 0 }))),
      flushThreadCount: optional(mostly(fc.integer({ min: 1, max: 8 }), fc.integer({ min: -1, max: 100 }))),
      overflowAction: mostly(fc.constantFrom('block', 'drop_oldest_chunk', 'throw_exception'), fc.constant('panic')),
    }, { requiredKeys: [] }));
    const props = fc.record({
      runtime: fc.constantFrom('containerd', 'cri-o', 'docker'),
      tail: fc.record({ parser: mostly(fc.constant(undefined), fc.constantFrom('cri', 'json', 'none')), rotateWaitSeconds: optional(mostly(fc.integer({ min: 0, max: 60 }), fc.integer({ min: -5, max: 5000 }))) }, { requiredKeys: [] }),
      elasticsearch: optional(fc.record({ host: mostly(fc.constant('es.logging.svc'), fc.constantFrom('Bad Host', '')), indexPrefix: mostly(fc.constant('logs-dev'), fc.constantFrom('Logs', '')), port: optional(mostly(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: -1, max: 70000 }))), buffer })),
      s3: optional(fc.record({ bucket: mostly(fc.constant('acme-logs'), fc.constantFrom('', 'UPPER')), region: mostly(fc.constant('eu-west-1'), fc.constant('mars')), path: mostly(fc.constantFrom(undefined, 'logs/%Y/'), fc.constantFrom('/abs', 'a b')), buffer })),
      memoryLimit: optional(mostly(fc.integer({ min: 512, max: 4096 }), fc.integer({ min: 0, max: 511 })).map((n) => Size.mebibytes(n))),
      monitorPort: optional(mostly(fc.integer({ min: 1024, max: 65535 }), fc.integer({ min: 0, max: 70000 }))),
    }, { requiredKeys: ['runtime'] });
    let built = 0;
    let rejected = 0;
    fc.assert(fc.property(props, (p) => {
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
      // Balanced sections.
      const opens = (text.match(/^\s*<[a-z_]+[ >]/gm) ?? []).length;
      const closes = (text.match(/^\s*<\/[a-z_]+>/gm) ?? []).length;
      expect(opens).toBe(closes);
    }), { numRuns: 300 });
    // Both branches must be exercised, or the property proves nothing.
    expect(built).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(10);
  });

  it('quoteFluentString escapes the characters Fluentd interprets', () => {
    expect(quoteFluentString('#{x}')).toBe('"\\#{x}"');
  });
});
