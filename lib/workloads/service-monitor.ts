import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel } from '../core/names';
import { durationSeconds } from '../core/quantities';
import { Stack } from '../core/stack';
import { assertLabels, assertPortName } from '../core/validate';

/** Properties of a {@link ServiceMonitor}. */
export interface ServiceMonitorProps {
  /** Name of the ServiceMonitor; the Prometheus Operator names the scrape job after the Service, not after this. */
  readonly name: string;
  /**
   * Namespace of the ServiceMonitor and of the Services it selects.
   * @default - the environment's namespace
   */
  readonly namespace?: string;
  /** Labels of the Service(s) to scrape. */
  readonly selector: Readonly<Record<string, string>>;
  /** Name of the Service port that serves the metrics. */
  readonly port: string;
  /**
   * HTTP path of the metrics.
   * @default '/metrics'
   */
  readonly path?: string;
  /**
   * Time between scrapes, whole seconds from 10 s (Prometheus' default scrape timeout, which must not exceed it) to 1 h.
   * @default Duration.seconds(30) (kube-prometheus-stack's scrape interval)
   */
  readonly interval?: Duration;
  /**
   * Keep the labels the target exports (`namespace`, `pod`) instead of renaming them to `exported_*`; exporters
   * that report other objects (kube-state-metrics) need it.
   * @default false
   */
  readonly honorLabels?: boolean;
  /**
   * Labels of the object besides the operator's selector labels.
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Labels the Prometheus Operator's serviceMonitorSelector matches.
   * @default - the environment's `monitoring.prometheusLabels`; without a Prometheus Operator in the environment the construct is refused
   */
  readonly prometheusLabels?: Readonly<Record<string, string>>;
}

/** Path of the metrics when a workload does not name one: the Prometheus client libraries' default. */
export const DEFAULT_METRICS_PATH = '/metrics';
/** Scrape interval when none is given (kube-prometheus-stack's own). */
export const DEFAULT_SCRAPE_INTERVAL = Duration.seconds(30);
// Prometheus refuses a scrape config whose timeout (10 s by default) is longer than its interval.
const MIN_SCRAPE_SECONDS = 10;
const MAX_SCRAPE_SECONDS = 3600;
// An absolute URL path without query, fragment or white space.
const METRICS_PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/**
 * The labels the Prometheus Operator's selectors match in `scope`'s environment, or `undefined` when the environment
 * runs no Prometheus Operator (its `monitoring` setting).
 */
export function environmentPrometheusLabels(scope: Construct): Record<string, string> | undefined {
  const labels = Stack.of(scope).environment.monitoring.prometheusLabels;
  return labels === undefined ? undefined : { ...labels };
}

/** Checks a metrics path; returns it. */
export function assertMetricsPath(scope: Construct, field: string, path: unknown): string {
  if (typeof path !== 'string' || !METRICS_PATH.test(path)) {
    throw new ShipshapeError(scope, { problem: `${field} must be an absolute URL path without query or white space`, value: path, fix: `use e.g. "${DEFAULT_METRICS_PATH}"` });
  }
  return path;
}

/** Checks a scrape interval; returns it in Prometheus' notation (`30s`). */
export function scrapeInterval(scope: Construct, field: string, interval: unknown): string {
  return `${durationSeconds(scope, field, interval ?? DEFAULT_SCRAPE_INTERVAL, MIN_SCRAPE_SECONDS, MAX_SCRAPE_SECONDS)}s`;
}

/**
 * A Prometheus Operator ServiceMonitor (`monitoring.coreos.com/v1`): Prometheus scrapes one named port of the
 * selected Services in one namespace. It carries the labels the operator's serviceMonitorSelector matches, from the
 * environment unless given, and is refused in an environment without the operator (its CRD would be missing and
 * the whole sync would fail).
 */
export class ServiceMonitor extends Construct {
  public readonly apiObject: ApiObject;
  /** The scrape interval in Prometheus' notation (`30s`). */
  public readonly interval: string;
  /** The metrics path. */
  public readonly path: string;

  constructor(scope: Construct, id: string, props: ServiceMonitorProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const name = assertDnsLabel(this, 'name', props.name);
    const namespace = assertDnsLabel(this, 'namespace', props.namespace ?? env.namespace);
    const selector = assertLabels(this, 'selector', props.selector);
    if (Object.keys(selector).length === 0) {
      throw new ShipshapeError(this, {
        problem: 'selector is empty, so every Service of the namespace would be scraped',
        value: selector,
        fix: "pass the Service's selector labels, e.g. { 'app.kubernetes.io/name': 'web-api' }",
      });
    }
    const port = assertPortName(this, 'port', props.port);
    this.path = assertMetricsPath(this, 'path', props.path ?? DEFAULT_METRICS_PATH);
    this.interval = scrapeInterval(this, 'interval', props.interval);
    const prometheusLabels = props.prometheusLabels === undefined ? environmentPrometheusLabels(this) : assertLabels(this, 'prometheusLabels', props.prometheusLabels);
    if (prometheusLabels === undefined) {
      throw new ShipshapeError(this, {
        problem: `environment "${env.name}" runs no Prometheus Operator, so the ServiceMonitor CRD would be missing and applying this object would fail the sync`,
        value: props.name,
        fix: 'set monitoring: { prometheusOperator: true } on the environment (or pass prometheusLabels), or scrape the port with a plain Prometheus scrape config',
      });
    }
    this.apiObject = new ApiObject(this, 'resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name, namespace, labels: { ...assertLabels(this, 'labels', props.labels ?? {}), ...prometheusLabels } },
      spec: {
        selector: { matchLabels: { ...selector } },
        namespaceSelector: { matchNames: [namespace] },
        endpoints: [{ port, path: this.path, interval: this.interval, ...(props.honorLabels ? { honorLabels: true } : {}) }],
      },
    });
  }
}

/** Where a workload serves Prometheus metrics. */
export interface WorkloadMetrics {
  /**
   * Container port serving the metrics. A port of the workload's `ports` with this number is reused (with its
   * name); otherwise a port named `metrics` is added to the container and the Service.
   */
  readonly port: number;
  /**
   * HTTP path of the metrics.
   * @default '/metrics'
   */
  readonly path?: string;
  /**
   * Time between scrapes.
   * @default Duration.seconds(30)
   */
  readonly interval?: Duration;
}

/** Name of the container and Service port added for metrics. */
export const METRICS_PORT_NAME = 'metrics';

/** `ports` with the metrics port added unless one of them already has its number. */
export function withMetricsPort<P extends { readonly port: number; readonly name?: string }>(ports: readonly P[], metrics: WorkloadMetrics | undefined): Array<P | { port: number; name: string }> {
  if (metrics === undefined || ports.some((p) => p.port === metrics.port)) return [...ports];
  return [...ports, { port: metrics.port, name: METRICS_PORT_NAME }];
}

/** What {@link monitorWorkload} needs to know about the workload. */
export interface MonitoredWorkload {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Labels the workload's Service carries and its ServiceMonitor selects. */
  readonly serviceLabels: Readonly<Record<string, string>>;
  /** Whether the workload has a Service (a ServiceMonitor scrapes through one). */
  readonly hasService: boolean;
  /** Pod-template annotations, for a Prometheus without the operator. */
  readonly annotatePods: (key: string, value: string) => void;
  /** Ports after defaults, to find the metrics port's name and protocol. */
  readonly ports: ReadonlyArray<{ readonly port: number; readonly name: string; readonly protocol: string }>;
}

/**
 * Makes a workload's metrics port scraped: a ServiceMonitor selecting its Service where the environment runs the
 * Prometheus Operator, otherwise the `prometheus.io/scrape`, `/port` and `/path` pod annotations that Prometheus'
 * example `kubernetes-pods` scrape job reads. Returns the ServiceMonitor when there is one.
 */
export function monitorWorkload(scope: Construct, workload: MonitoredWorkload, metrics: WorkloadMetrics): ServiceMonitor | undefined {
  const port = workload.ports.find((p) => p.port === metrics.port);
  if (port === undefined || port.protocol !== 'TCP') {
    throw new ShipshapeError(scope, {
      problem: `metrics.port ${metrics.port} must be a TCP port of the container`,
      value: metrics.port,
      fix: 'serve metrics over HTTP on a TCP port, or drop metrics',
    });
  }
  if (environmentPrometheusLabels(scope) === undefined) {
    const path = assertMetricsPath(scope, 'metrics.path', metrics.path ?? DEFAULT_METRICS_PATH);
    scrapeInterval(scope, 'metrics.interval', metrics.interval);
    workload.annotatePods('prometheus.io/scrape', 'true');
    workload.annotatePods('prometheus.io/port', String(port.port));
    workload.annotatePods('prometheus.io/path', path);
    return undefined;
  }
  if (!workload.hasService) {
    throw new ShipshapeError(scope, {
      problem: "metrics are scraped through the workload's Service (a ServiceMonitor selects it), but service is false",
      value: { metrics: metrics.port, service: false },
      fix: 'keep the Service (omit service: false), or drop metrics',
    });
  }
  return new ServiceMonitor(scope, 'service-monitor', {
    name: workload.name,
    selector: workload.serviceLabels,
    port: port.name,
    path: metrics.path,
    interval: metrics.interval,
    labels: workload.labels,
  });
}
