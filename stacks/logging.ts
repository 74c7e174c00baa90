import { Size } from 'cdk8s';
import { Stack } from '../lib/core/stack';
import { EfkStack } from '../lib/logging';

// The collector image with both the Elasticsearch and the S3 plugins; built from the Dockerfile synth writes to
// dist/prod/images/fluentd/Dockerfile (no upstream fluentd-kubernetes-daemonset variant has both).
const FLUENTD_ARCHIVE_IMAGE = 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0';

/**
 * The reference platform's logging: Elasticsearch, Kibana and Fluentd in the `logging` namespace of every
 * environment. dev is one small node (the notes' 256m heap); stage one larger node; prod a 3-node cluster
 * with a two-week hot window and every log line archived to S3 for a year.
 */
export function addLogging(stack: Stack): EfkStack {
  const environment = stack.environment;
  switch (environment.name) {
    case 'prod':
      return new EfkStack(stack, 'logging', {
        retentionDays: 14,
        elasticsearch: { replicas: 3, heap: '2g', memory: Size.gibibytes(4), cpuMillis: 1000, storage: { size: Size.gibibytes(200) } },
        kibana: { replicas: 2 },
        fluentd: { image: FLUENTD_ARCHIVE_IMAGE, memory: Size.mebibytes(512) },
        archive: { bucket: 'acme-platform-logs-prod', region: 'eu-west-1', retentionDays: 365 },
      });
    case 'stage':
      return new EfkStack(stack, 'logging', {
        retentionDays: 7,
        elasticsearch: { replicas: 1, heap: '512m', storage: { size: Size.gibibytes(30) } },
      });
    default:
      // dev and any other environment: one node with the notes' development heap.
      return new EfkStack(stack, 'logging', {
        retentionDays: 3,
        elasticsearch: { replicas: 1, heap: '256m', storage: { size: Size.gibibytes(10) } },
      });
  }
}
