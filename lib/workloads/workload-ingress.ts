import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ErrorScope, ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { Stack } from '../core/stack';
import { assertAnnotations, isDns1123Subdomain } from '../core/validate';
import type { AntiAffinityDeployment } from './anti-affinity-deployment';

/** A path of the host routed to the workload. */
export interface IngressPath {
  /** URL path, starting with `/` (e.g. `/api`). */
  readonly path: string;
  /**
   * How the path matches: `Prefix` matches `/api` and `/api/x` (element-wise), `Exact` only `/api`.
   * @default 'Prefix'
   */
  readonly pathType?: 'Prefix' | 'Exact';
}

/**
 * Where the Ingress's TLS certificate comes from: a Secret created outside Git (`secretName`), or cert-manager
 * (`clusterIssuer` or `issuer`), which issues the certificate into the Secret `secretName`. Never the key itself.
 */
export interface IngressTls {
  /**
   * Name of the `kubernetes.io/tls` Secret holding the certificate and key. Without an issuer the Secret must be
   * created outside Git (the secret manager, External Secrets); with one, cert-manager creates and renews it.
   * @default - `<name>-tls` when an issuer is given; required otherwise
   */
  readonly secretName?: string;
  /**
   * cert-manager ClusterIssuer that issues the certificate (annotation `cert-manager.io/cluster-issuer`).
   * @default - none
   */
  readonly clusterIssuer?: string;
  /**
   * cert-manager Issuer in the Ingress's namespace that issues the certificate (annotation `cert-manager.io/issuer`).
   * @default - none
   */
  readonly issuer?: string;
}

/** Properties of a {@link WorkloadIngress}. */
export interface WorkloadIngressProps {
  /** The workload whose Service receives the traffic; it must have a Service. */
  readonly workload: AntiAffinityDeployment;
  /**
   * Name of the Ingress object.
   * @default - the workload's Service name
   */
  readonly name?: string;
  /** Host name the Ingress answers for (`api.example.com`, or a wildcard `*.example.com`); never an IP address. */
  readonly host: string;
  /**
   * Paths of the host routed to the workload.
   * @default [{ path: '/', pathType: 'Prefix' }]
   */
  readonly paths?: readonly (string | IngressPath)[];
  /**
   * Service port the traffic goes to.
   * @default - the Service's first port
   */
  readonly servicePort?: number;
  /**
   * IngressClass that serves the Ingress.
   * @default 'nginx' (the IngressClass the ingress-nginx Helm chart creates, controller.ingressClassResource.name)
   */
  readonly ingressClassName?: string;
  /**
   * TLS for the host; `undefined` leaves TLS to whatever is in front of the controller.
   * @default - no TLS on the Ingress
   */
  readonly tls?: IngressTls;
  /**
   * Extra annotations (ingress-nginx settings such as `nginx.ingress.kubernetes.io/proxy-body-size`). Canary
   * annotations belong to a CanaryRelease, and cert-manager annotations to `tls`.
   * @default {}
   */
  readonly annotations?: Record<string, string>;
}

/** Default IngressClass: the one the ingress-nginx Helm chart creates (controller.ingressClassResource.name: nginx). */
export const DEFAULT_INGRESS_CLASS = 'nginx';
/** Annotation prefix of ingress-nginx. */
export const NGINX_ANNOTATION_PREFIX = 'nginx.ingress.kubernetes.io/';
/** cert-manager's ingress-shim annotations (https://cert-manager.io/docs/usage/ingress/). */
export const CERT_MANAGER_ANNOTATIONS = { clusterIssuer: 'cert-manager.io/cluster-issuer', issuer: 'cert-manager.io/issuer' } as const;

const DNS1123_SUBDOMAIN_MAX = 253;
const DNS_LABEL_MAX = 63;
const WILDCARD_HOST = /^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// ingress-nginx's strict path validation (strict-validate-path-type, on by default since controller 1.12) accepts
// these characters in Prefix and Exact paths; anything else (regex, spaces, `;`, `{`) is either refused by it or
// pasted into nginx.conf.
const PATH_CHARS = /^\/[A-Za-z0-9\-._~/]*$/;
// The API server refuses these sequences and endings in Prefix and Exact paths (networking validation).
const PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const PATH_SUFFIXES = ['/..', '/.'];
const PATH_MAX = 1024;
const PATH_TYPES = { Prefix: kplus.HttpIngressPathType.PREFIX, Exact: kplus.HttpIngressPathType.EXACT } as const;

/** Why `host` is not a host an Ingress rule accepts, or undefined. */
export function ingressHostProblem(host: unknown): string | undefined {
  // An Ingress rule without a host answers for every name pointed at the controller: never by accident.
  if (typeof host !== 'string' || host === '') return 'the host must be a non-empty string';
  if (host.length > DNS1123_SUBDOMAIN_MAX) return `the host must be at most ${DNS1123_SUBDOMAIN_MAX} characters`;
  const plain = host.startsWith('*.') ? host.slice(2) : host;
  if (host.startsWith('*.') ? !WILDCARD_HOST.test(host) : !isDns1123Subdomain(host)) {
    return 'the host must be lower-case letters, digits, "-" and ".", each label starting and ending with a letter or digit, optionally after a leading "*."';
  }
  // The API server checks only the whole length, but DNS refuses a label over 63 octets (RFC 1035), so no client could reach it.
  if (plain.split('.').some((l) => l.length > DNS_LABEL_MAX)) return `every label of the host must be at most ${DNS_LABEL_MAX} characters`;
  // The API server refuses IP addresses; a numeric last label is never a DNS name (RFC 3696), so refuse those too.
  if (/^[0-9]+$/.test(plain.split('.').pop()!)) return 'the host must be a DNS name, not an IP address (its last label is numeric)';
  return undefined;
}

/** Why `path` is not a Prefix/Exact path both the API server and ingress-nginx accept, or undefined. */
export function ingressPathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string' || !path.startsWith('/')) return 'the path must be a string starting with "/"';
  if (path.length > PATH_MAX) return `the path must be at most ${PATH_MAX} characters`;
  if (!PATH_CHARS.test(path)) return 'the path may hold only letters, digits and "-", ".", "_", "~", "/" (ingress-nginx refuses other characters in Prefix and Exact paths)';
  const seq = PATH_SEQUENCES.find((s) => path.includes(s)) ?? PATH_SUFFIXES.find((s) => path.endsWith(s));
  if (seq) return `the path must not contain or end with "${seq}"`;
  return undefined;
}

function assertHost(scope: ErrorScope, field: string, host: unknown): string {
  const problem = ingressHostProblem(host);
  if (problem) throw new ShipshapeError(scope, { problem: `${field}: ${problem}`, value: host, fix: 'use a DNS name such as "api.example.com" or "*.example.com"' });
  return host as string;
}

function assertObjectName(scope: ErrorScope, field: string, value: unknown, example: string): string {
  if (!isDns1123Subdomain(value)) {
    throw new ShipshapeError(scope, { problem: `${field} is not a valid Kubernetes object name`, value, fix: `use lower-case letters, digits, "-" and "." (e.g. "${example}")` });
  }
  return value;
}

/** Paths with defaults applied, each valid and none repeated. */
export function resolveIngressPaths(scope: ErrorScope, paths: readonly (string | IngressPath)[] | undefined): Required<IngressPath>[] {
  if (paths !== undefined && (!Array.isArray(paths) || paths.length === 0)) {
    throw new ShipshapeError(scope, { problem: 'paths must list at least one path', value: paths, fix: "list the paths, e.g. ['/'] or [{ path: '/api', pathType: 'Prefix' }]" });
  }
  const resolved = (paths ?? ['/']).map((p, i) => {
    const entry = typeof p === 'string' ? { path: p } : p;
    const problem = ingressPathProblem(entry?.path);
    if (problem) throw new ShipshapeError(scope, { problem: `paths[${i}]: ${problem}`, value: entry?.path, fix: 'use a plain path such as "/" or "/api/v1"' });
    const pathType = entry.pathType ?? 'Prefix';
    if (pathType !== 'Prefix' && pathType !== 'Exact') {
      throw new ShipshapeError(scope, { problem: `paths[${i}].pathType must be "Prefix" or "Exact"`, value: pathType, fix: 'use "Prefix" (the default) or "Exact"' });
    }
    return { path: entry.path, pathType };
  });
  const seen = resolved.map((p) => p.path);
  const dup = seen.find((p, i) => seen.indexOf(p) !== i);
  if (dup !== undefined) throw new ShipshapeError(scope, { problem: `the path ${dup} is listed twice`, value: paths, fix: 'list each path once' });
  return resolved;
}

/** The Service port the traffic goes to: the asked one, which must be a TCP port of the Service, else the first. */
export function backendPort(scope: ErrorScope, field: string, service: kplus.Service, port: number | undefined): number {
  const tcp = service.ports.filter((p) => (p.protocol ?? kplus.Protocol.TCP) === kplus.Protocol.TCP).map((p) => p.port);
  if (port === undefined) {
    if (tcp.length === 0) throw new ShipshapeError(scope, { problem: 'the Service has no TCP port for HTTP traffic', value: service.ports.map((p) => p.port), fix: 'give the workload a TCP port' });
    return tcp[0];
  }
  assertInteger(scope, field, port, 1, 65535);
  if (!tcp.includes(port)) throw new ShipshapeError(scope, { problem: `${field} is not a TCP port of Service ${service.name}`, value: port, fix: `use one of ${JSON.stringify(tcp)}` });
  return port;
}

/**
 * An Ingress (networking.k8s.io/v1) routing a host's paths to an AntiAffinityDeployment's Service: ingress-nginx by
 * default, TLS from a Secret reference or a cert-manager issuer, never a key in the manifest.
 */
export class WorkloadIngress extends Construct {
  /** The Ingress object. */
  public readonly ingress: kplus.Ingress;
  /** The workload behind it. */
  public readonly workload: AntiAffinityDeployment;
  /** Name of the Ingress object. */
  public readonly name: string;
  /** Host it answers for. */
  public readonly host: string;
  /** Paths routed to the workload. */
  public readonly paths: readonly Required<IngressPath>[];
  /** Service port the traffic goes to. */
  public readonly servicePort: number;
  /** IngressClass that serves it. */
  public readonly ingressClassName: string;
  /** Secret that holds the TLS certificate, when TLS is on. */
  public readonly tlsSecretName?: string;
  /** External URL of the first path, e.g. `https://api.example.com/`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: WorkloadIngressProps) {
    super(scope, id);
    Stack.of(this);
    const service = props.workload?.service;
    if (!service) {
      throw new ShipshapeError(this, {
        problem: 'the workload has no Service for the Ingress to route to',
        value: props.workload?.node.path,
        fix: 'give the workload ports and leave its service on (ClusterIP is enough behind an Ingress)',
      });
    }
    this.workload = props.workload;
    this.name = assertObjectName(this, 'name', props.name ?? service.name, 'web-api');
    this.host = assertHost(this, 'host', props.host);
    this.paths = resolveIngressPaths(this, props.paths);
    this.servicePort = backendPort(this, 'servicePort', service, props.servicePort);
    this.ingressClassName = assertObjectName(this, 'ingressClassName', props.ingressClassName ?? DEFAULT_INGRESS_CLASS, DEFAULT_INGRESS_CLASS);
    const annotations = { ...assertAnnotations(this, 'annotations', props.annotations ?? {}) };
    const reserved = Object.keys(annotations).find((k) => k.startsWith(`${NGINX_ANNOTATION_PREFIX}canary`) || k.startsWith('cert-manager.io/'));
    if (reserved) {
      throw new ShipshapeError(this, {
        problem: `annotation ${reserved} is set by shipshape`,
        value: reserved,
        fix: 'use a CanaryRelease for canary routing, and tls.clusterIssuer or tls.issuer for cert-manager',
      });
    }

    let tls: kplus.IngressTls[] | undefined;
    if (props.tls !== undefined) {
      const { secretName, clusterIssuer, issuer } = props.tls;
      if (clusterIssuer !== undefined && issuer !== undefined) {
        throw new ShipshapeError(this, { problem: 'tls names both a clusterIssuer and an issuer', value: props.tls, fix: 'keep one of them' });
      }
      const issuerName = clusterIssuer ?? issuer;
      if (issuerName === undefined && secretName === undefined) {
        throw new ShipshapeError(this, {
          problem: 'tls needs a certificate source',
          value: props.tls,
          fix: 'name the Secret created outside Git (tls.secretName), or a cert-manager issuer (tls.clusterIssuer or tls.issuer)',
        });
      }
      if (issuerName !== undefined) {
        assertObjectName(this, clusterIssuer !== undefined ? 'tls.clusterIssuer' : 'tls.issuer', issuerName, 'letsencrypt-prod');
        annotations[clusterIssuer !== undefined ? CERT_MANAGER_ANNOTATIONS.clusterIssuer : CERT_MANAGER_ANNOTATIONS.issuer] = issuerName;
      }
      this.tlsSecretName = assertObjectName(this, 'tls.secretName', secretName ?? `${this.name}-tls`, `${this.name}-tls`);
      tls = [{ hosts: [this.host], secret: kplus.Secret.fromSecretName(this, 'tls-secret', this.tlsSecretName) }];
    }

    this.ingress = new kplus.Ingress(this, 'ingress', {
      metadata: { name: this.name, labels: ingressLabels(props.workload), ...(Object.keys(annotations).length ? { annotations } : {}) },
      className: this.ingressClassName,
      tls,
    });
    const backend = kplus.IngressBackend.fromService(service, { port: this.servicePort });
    for (const p of this.paths) this.ingress.addHostRule(this.host, p.path, backend, PATH_TYPES[p.pathType]);
    this.url = `${tls ? 'https' : 'http'}://${this.host}${this.paths[0].path}`;
  }
}

/** The workload's own labels (name, instance, component, managed-by, environment) for the objects in front of it. */
export function ingressLabels(workload: AntiAffinityDeployment): Record<string, string> {
  return { ...(workload.deployment.metadata.toJson().labels ?? {}) };
}
