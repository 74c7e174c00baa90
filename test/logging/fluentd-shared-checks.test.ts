import { Size } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Environment } from '../../lib';
import { EfkLogging, EfkLoggingProps, FluentdConfig, FluentdConfigProps } from '../../lib/logging';
import { shipshapeError } from '../support/errors';
import { findObject, synthStack } from '../support/synth';

// Fluentd's buffer sizes and the alert labels go through the checks every other construct uses
// (lib/core/quantities.ts, lib/core/validate.ts), so they refuse and accept the same values.

const ES = { host: 'elasticsearch.logging.svc', indexPrefix: 'logs-prod' };
const prod = new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3 });

const config = (buffer: Record<string, unknown>, extra: Partial<FluentdConfigProps> = {}) =>
  new FluentdConfig('prod/logging/fluentd', { runtime: 'containerd', elasticsearch: { ...ES, buffer: buffer as never }, ...extra });

describe('Fluentd buffer sizes use the shared size check', () => {
  it.each<[string, unknown]>([
    ['a string from JavaScript', '64m'],
    ['a number from JavaScript', 64],
    ['NaN', Size.mebibytes(NaN)],
    ['Infinity', Size.mebibytes(Infinity)],
    ['zero', Size.mebibytes(0)],
  ])('refuses %s as chunkLimitSize with the path, the field and the fix', (_, chunkLimitSize) => {
    const e = shipshapeError(() => config({ chunkLimitSize }));
    expect(e.path).toBe('prod/logging/fluentd');
    expect(e.message).toContain('elasticsearch.buffer.chunkLimitSize must be a finite, positive Size');
    expect(e.message).toMatch(/Fix: set elasticsearch\.buffer\.chunkLimitSize to e\.g\. Size\.mebibytes/);
  });

  it('refuses a bad totalLimitSize and memoryLimit the same way', () => {
    expect(shipshapeError(() => config({ totalLimitSize: '1g' })).message).toContain('elasticsearch.buffer.totalLimitSize must be a finite, positive Size (a Size object, not the string "1g")');
    expect(shipshapeError(() => config({}, { memoryLimit: '512Mi' as never })).message).toContain('memoryLimit must be a finite, positive Size');
  });

  it('writes a size that is not whole mebibytes exactly, in bytes, instead of rounding it down', () => {
    const text = config({ chunkLimitSize: Size.kibibytes(1536), totalLimitSize: Size.kibibytes(512 * 1024 + 512) }).render();
    expect(text).toContain(`chunk_limit_size ${1536 * 1024}\n`);
    expect(text).toContain(`total_limit_size ${(512 * 1024 + 512) * 1024}\n`);
    // Whole mebibytes keep Fluentd's short form.
    expect(config({ chunkLimitSize: Size.mebibytes(8) }).render()).toContain('chunk_limit_size 8m\n');
  });

  it('still refuses a chunk larger than the buffer', () => {
    expect(shipshapeError(() => config({ chunkLimitSize: Size.mebibytes(64), totalLimitSize: Size.mebibytes(32) })).message).toMatch(
      /chunkLimitSize \(64 MiB\) must be no larger than totalLimitSize \(32 MiB\)/,
    );
  });
});

describe('FluentdAlerts prometheusLabels use the shared label checks', () => {
  const attempt = (props: EfkLoggingProps) => shipshapeError(() => synthStack((s) => new EfkLogging(s, 'logging', props), prod));

  it.each<[string, unknown]>([
    ['a prefix with an empty DNS label', { 'a..b/team': 'x' }],
    ['a prefix with a label ending in "-"', { 'a-.b/team': 'x' }],
    ['a prefix longer than a DNS subdomain', { [`${'a'.repeat(254)}/team`]: 'x' }],
    ['a value with a newline', { release: 'x\ny' }],
    ['a value that is not a string', { release: 1 }],
    ['a string instead of a map', 'release'],
  ])('refuses %s with the construct path and the fix', (_, prometheusLabels) => {
    const e = attempt({ alerts: { prometheusOperator: true, prometheusLabels: prometheusLabels as Record<string, string> } });
    expect(e.path).toBe('prod/logging/alerts');
    expect(e.message).toMatch(/prometheusLabels must be (a map of )?Kubernetes label keys (and|to) values/);
    expect(e.message).toContain('Fix: use e.g. { release: "kube-prometheus-stack" }');
  });

  it('accepts every label the API server accepts', () => {
    const labels = { 'example.com/team': 'platform', 'a.b-c.d/x_y.z': '', release: 'A1' };
    const result = synthStack((s) => new EfkLogging(s, 'logging', { alerts: { prometheusLabels: labels } }), prod);
    expect(result.problems).toEqual([]);
    expect(findObject(result, 'PrometheusRule', 'fluentd-alerts').metadata.labels).toMatchObject(labels);
  });
});
