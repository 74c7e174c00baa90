import { Size } from 'cdk8s';
import { Stack } from '../lib/core/stack';
import { EfkStack, FluentdAlertsProps } from '../lib/logging';

// The collector image with both the Elasticsearch and the S3 plugins; built from the Dockerfile synth writes to
// dist/prod/images/fluentd/Dockerfile (no upstream fluentd-kubernetes-daemonset variant has both).
const FLUENTD_ARCHIVE_IMAGE = 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0';

// Where kube-prometheus-stack runs (its Helm release is called kube-prometheus-stack, which its rule and
// ServiceMonitor selectors match); dev has no Prometheus Operator, so it gets the plain rules file only.
export const ALERTS: Readonly<Record<string, Omit<FluentdAlertsProps, 'collector'>>> = {
  stage: { prometheusOperator: true, prometheusLabels: { release: 'kube-prometheus-stack' } },
  prod: { prometheusOperator: true, prometheusLabels: { release: 'kube-prometheus-stack' } },
};

/** What the rest of the platform hands to the logging stack. */
export interface LoggingOptions {
  /**
   * PriorityClass of Elasticsearch and Kibana, e.g. the platform's `critical` tier.
   * @default - none
   */
  readonly priorityClassName?: string;
}

/**
 * The reference platform's logging: Elasticsearch, Kibana and Fluentd in the `logging` namespace of every
 * environment. dev and stage are one node at Elastic's default size (1g heap, 2 GiB); prod a 3-node cluster
 * with a two-week hot window and every log line archived to S3 for a year.
 */
export function addLogging(stack: Stack, options: LoggingOptions = {}): EfkStack {
  const environment = stack.environment;
  const common = { priorityClassName: options.priorityClassName, alerts: ALERTS[environment.name] ?? {} };
  switch (environment.name) {
    case 'prod':
      return new EfkStack(stack, 'logging', {
        ...common,
        retentionDays: 14,
        elasticsearch: { replicas: 3, heap: '2g', memory: Size.gibibytes(4), cpuMillis: 1000, storage: { size: Size.gibibytes(200) } },
        kibana: { replicas: 2 },
        fluentd: { image: FLUENTD_ARCHIVE_IMAGE, memory: Size.mebibytes(512) },
        archive: { bucket: 'acme-platform-logs-prod', region: 'eu-west-1', retentionDays: 365 },
      });
    case 'stage':
      return new EfkStack(stack, 'logging', {
        ...common,
        retentionDays: 7,
        elasticsearch: { replicas: 1, storage: { size: Size.gibibytes(30) } },
      });
    default:
      // dev and any other environment: one node at Elasticsearch 8's floor (Elastic's 1g heap in 2 GiB).
      return new EfkStack(stack, 'logging', {
        ...common,
        retentionDays: 3,
        elasticsearch: { replicas: 1, storage: { size: Size.gibibytes(10) } },
      });
  }
}
