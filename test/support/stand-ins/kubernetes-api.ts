import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Countdown, RecordedRequest, StandInResponse, StandInServer } from './server';

/** A container of a registered pod. */
export interface StandInContainer {
  readonly name: string;
  /** 64 hex characters, as containerd and Docker name containers. @default - random */
  readonly id?: string;
  /** @default 'registry.example.com/<name>:1.0.0' */
  readonly image?: string;
}

/** A pod to serve. */
export interface StandInPodSpec {
  readonly name: string;
  readonly namespace: string;
  /** @default - a random UUID */
  readonly uid?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** @default the stand-in's nodeName */
  readonly nodeName?: string;
  readonly containers: readonly StandInContainer[];
  /** Scheme of `status.containerStatuses[].containerID`. @default 'containerd' */
  readonly runtime?: 'containerd' | 'docker' | 'cri-o';
  /** @default '10.244.0.10' */
  readonly podIP?: string;
}

/** A registered pod with every default filled in. */
export interface StandInPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly labels: Record<string, string>;
  readonly nodeName: string;
  readonly containers: readonly { readonly name: string; readonly id: string; readonly image: string }[];
  /** The Kubernetes object served. */
  readonly object: Record<string, any>;
}

/** Options of {@link KubernetesApiStandIn}. */
export interface KubernetesApiStandInOptions {
  /** Node the collector runs on (pods default to it; K8S_NODE_NAME in the collector's environment). @default 'node-a' */
  readonly nodeName?: string;
}

interface WatchEvent {
  readonly resource: 'pods' | 'namespaces';
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Record<string, any>;
  readonly rv: number;
}

interface Watch {
  readonly resource: 'pods' | 'namespaces';
  readonly nodeName?: string;
  readonly res: http.ServerResponse;
}

/**
 * The part of the Kubernetes API fluent-plugin-kubernetes_metadata_filter 3.5.0 (kubeclient 4.9.3)
 * calls, over HTTPS with a self-signed certificate for 127.0.0.1 ({@link caFile}), as the in-cluster
 * API is reached: `GET /api` (api_valid?), `GET /api/v1` (discovery), pods and namespaces
 * list (`?fieldSelector=spec.nodeName=<node>&resourceVersion=0`), watch (`/api/v1/watch/pods`,
 * `/api/v1/watch/namespaces`, newline-delimited events kept open) and get
 * (`/api/v1/namespaces/<ns>/pods/<name>`, `/api/v1/namespaces/<ns>`). Pods and namespaces are
 * registered by the test; registering after the watch started sends ADDED/MODIFIED events.
 *
 * Failure modes (besides down(), which also ends the watches, and delay()): {@link failRequests}.
 */
export class KubernetesApiStandIn extends StandInServer {
  /** Starts one on a free loopback port, with a fresh certificate. Needs `openssl`. */
  public static async start(options: KubernetesApiStandInOptions = {}): Promise<KubernetesApiStandIn> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-kube-api-'));
    const key = path.join(dir, 'tls.key');
    const cert = path.join(dir, 'ca.crt');
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`openssl could not make the stand-in API server's certificate: ${r.error?.message ?? r.stderr}`);
    }
    return new KubernetesApiStandIn(dir, fs.readFileSync(key, 'utf8'), fs.readFileSync(cert, 'utf8'), cert, options).up();
  }

  /** PEM file of the self-signed certificate; clients trust it as the cluster CA. */
  public readonly caFile: string;
  public readonly nodeName: string;
  private readonly pods = new Map<string, StandInPod>();
  private readonly namespaceObjects = new Map<string, Record<string, any>>();
  private readonly events: WatchEvent[] = [];
  private readonly watches = new Set<Watch>();
  private readonly missed: RecordedRequest[] = [];
  private resourceVersion = 1;
  private failure?: { status: number; count: Countdown; paths?: RegExp };

  private constructor(
    private readonly dir: string,
    key: string,
    cert: string,
    caFile: string,
    options: KubernetesApiStandInOptions,
  ) {
    super({ tls: { key, cert } });
    this.caFile = caFile;
    this.nodeName = options.nodeName ?? 'node-a';
  }

  /** Host and port as the kubelet puts them in every pod's environment (KUBERNETES_SERVICE_HOST/PORT). */
  public get serviceEnvironment(): Record<string, string> {
    return { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(this.port) };
  }

  /** Serves a namespace (pods' namespaces are added on demand). */
  public addNamespace(name: string, labels: Record<string, string> = {}): Record<string, any> {
    const existing = this.namespaceObjects.get(name);
    const rv = ++this.resourceVersion;
    const object = {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: {
        name,
        uid: existing?.metadata.uid ?? randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        labels: { 'kubernetes.io/metadata.name': name, ...labels },
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
    this.namespaceObjects.set(name, object);
    this.publish({ resource: 'namespaces', type: existing ? 'MODIFIED' : 'ADDED', object, rv });
    return object;
  }

  /** Serves a pod; returns it with its uid and container ids (needed to name its log files). */
  public addPod(spec: StandInPodSpec): StandInPod {
    if (!this.namespaceObjects.has(spec.namespace)) this.addNamespace(spec.namespace);
    const key = `${spec.namespace}/${spec.name}`;
    const existing = this.pods.get(key);
    const uid = spec.uid ?? existing?.uid ?? randomUUID();
    const nodeName = spec.nodeName ?? this.nodeName;
    const runtime = spec.runtime ?? 'containerd';
    const containers = spec.containers.map((c) => ({ name: c.name, id: c.id ?? randomBytes(32).toString('hex'), image: c.image ?? `registry.example.com/${c.name}:1.0.0` }));
    const rv = ++this.resourceVersion;
    const object = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: spec.name,
        namespace: spec.namespace,
        uid,
        resourceVersion: String(rv),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        labels: spec.labels ?? {},
        annotations: spec.annotations ?? {},
      },
      spec: { nodeName, containers: containers.map((c) => ({ name: c.name, image: c.image })) },
      status: {
        phase: 'Running',
        podIP: spec.podIP ?? '10.244.0.10',
        containerStatuses: containers.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: `${c.image.split(':')[0]}@sha256:${'0'.repeat(64)}`,
          containerID: `${runtime}://${c.id}`,
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: new Date().toISOString() } },
        })),
      },
    };
    const pod: StandInPod = { name: spec.name, namespace: spec.namespace, uid, labels: spec.labels ?? {}, nodeName, containers, object };
    this.pods.set(key, pod);
    this.publish({ resource: 'pods', type: existing ? 'MODIFIED' : 'ADDED', object, rv });
    return pod;
  }

  /** Answers the next `times` requests (all when undefined) whose path matches `paths` (all by default) with `status`. */
  public failRequests(status: number, options: { times?: number; paths?: RegExp } = {}): void {
    this.failure = { status, count: new Countdown(options.times), paths: options.paths };
  }

  /** Clears {@link failRequests}. */
  public heal(): void {
    this.failure = undefined;
  }

  /** Requests to endpoints this stand-in does not implement. */
  public unhandled(): readonly RecordedRequest[] {
    return [...this.missed];
  }

  public override async close(): Promise<void> {
    await super.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  protected override onDown(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  protected override stream(req: RecordedRequest, res: http.ServerResponse): boolean {
    const m = /^\/api\/v1\/watch\/(pods|namespaces)$/.exec(req.path) ?? (req.query.get('watch') === 'true' ? /^\/api\/v1\/(pods|namespaces)$/.exec(req.path) : null);
    if (!m || req.method !== 'GET' || this.injectedFailure(req)) return false;
    const resource = m[1] as 'pods' | 'namespaces';
    const watch: Watch = { resource, nodeName: nodeSelector(req.query), res };
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const since = Number(req.query.get('resourceVersion') ?? '0');
    for (const e of this.events) if (e.rv > since) this.send(watch, e);
    this.watches.add(watch);
    res.on('close', () => this.watches.delete(watch));
    return true;
  }

  protected handle(req: RecordedRequest): StandInResponse {
    if (this.injectedFailure(req)) {
      this.failure!.count.take();
      return status(this.failure!.status, 'injected by the stand-in');
    }
    if (req.method !== 'GET') return this.miss(req);
    const p = req.path.replace(/\/$/, '');
    if (p === '/api') return { status: 200, body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] } };
    if (p === '/api/v1') return { status: 200, body: DISCOVERY };
    if (p === '/api/v1/pods') {
      const node = nodeSelector(req.query);
      return {
        status: 200,
        body: this.list(
          'PodList',
          [...this.pods.values()].filter((pod) => !node || pod.nodeName === node).map((pod) => pod.object),
        ),
      };
    }
    if (p === '/api/v1/namespaces') return { status: 200, body: this.list('NamespaceList', [...this.namespaceObjects.values()]) };
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p);
    if (m) {
      const pod = this.pods.get(`${m[1]}/${m[2]}`);
      return pod ? { status: 200, body: pod.object } : status(404, `pods "${m[2]}" not found`, 'NotFound');
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p);
    if (m) {
      const ns = m[1];
      return {
        status: 200,
        body: this.list(
          'PodList',
          [...this.pods.values()].filter((pod) => pod.namespace === ns).map((pod) => pod.object),
        ),
      };
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
    if (m) {
      const ns = this.namespaceObjects.get(m[1]);
      return ns ? { status: 200, body: ns } : status(404, `namespaces "${m[1]}" not found`, 'NotFound');
    }
    return this.miss(req);
  }

  private injectedFailure(req: RecordedRequest): boolean {
    const f = this.failure;
    return !!f && !f.count.exhausted && (!f.paths || f.paths.test(req.path));
  }

  private miss(req: RecordedRequest): StandInResponse {
    this.missed.push(req);
    return status(404, `the stand-in does not serve ${req.method} ${req.path}`, 'NotFound');
  }

  private list(kind: string, items: Record<string, any>[]): object {
    return { kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private publish(event: WatchEvent): void {
    this.events.push(event);
    for (const w of this.watches) this.send(w, event);
  }

  private send(watch: Watch, event: WatchEvent): void {
    if (event.resource !== watch.resource) return;
    if (watch.nodeName && event.object.spec?.nodeName !== watch.nodeName) return;
    watch.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }
}

function nodeSelector(query: URLSearchParams): string | undefined {
  return /(?:^|,)spec\.nodeName=([^,]+)/.exec(query.get('fieldSelector') ?? '')?.[1];
}

function status(code: number, message: string, reason = 'InternalError'): StandInResponse {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code } };
}

const VERBS = ['get', 'list', 'watch'];
const DISCOVERY = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: VERBS, shortNames: ['ns'] },
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: VERBS, shortNames: ['po'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
  ],
};
