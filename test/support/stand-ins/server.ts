import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as zlib from 'node:zlib';

/** One request a stand-in received, with the answer it gave. */
export interface RecordedRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** Body as received (still gzip-encoded when the client compressed it). */
  readonly body: Buffer;
  /** Milliseconds since the epoch when the request was complete. */
  readonly at: number;
  /** Status answered, once answered. */
  status?: number;
}

/** What a route handler returns: status, headers and a body (objects are sent as JSON). */
export interface StandInResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer | object;
}

/** Options common to every stand-in. */
export interface StandInOptions {
  /** Serve HTTPS with this key and certificate (PEM) instead of HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string };
}

/**
 * A loopback HTTP server that records every request and can be taken down and brought back on the
 * same port. Subclasses answer in {@link handle}; the failure modes shared by every stand-in live here:
 *
 * - {@link down}: the listener is closed and open connections are destroyed, so clients get
 *   `ECONNREFUSED` (a crashed or unreachable server); {@link up} listens again on the same port.
 * - {@link delay}: every answer is held back (a slow server; exercises request timeouts).
 */
export abstract class StandInServer {
  public port = 0;
  private readonly server: http.Server | https.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly log: RecordedRequest[] = [];
  private listening = false;
  private delayMs = 0;

  protected constructor(options: StandInOptions = {}) {
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => this.receive(req, res);
    this.server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, listener) : http.createServer(listener);
    // Fluentd's clients keep connections open; down() destroys them instead of waiting (TLS sockets sit on these too).
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  public get url(): string {
    return `${this.server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** Whether the stand-in accepts connections. */
  public get isUp(): boolean {
    return this.listening;
  }

  /** Listens on 127.0.0.1 (a free port the first time, the same port afterwards). */
  public async up(): Promise<this> {
    if (this.listening) return this;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    this.listening = true;
    return this;
  }

  /** Stops accepting connections and cuts the open ones: clients see connection refused/reset. The port stays reserved by number only. */
  public async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    this.onDown();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Holds every answer back by `ms` (0 to stop). */
  public delay(ms: number): void {
    this.delayMs = ms;
  }

  /** Every request received so far, oldest first. */
  public requests(): readonly RecordedRequest[] {
    return [...this.log];
  }

  /** Stops for good. */
  public async close(): Promise<void> {
    await this.down();
  }

  /** Answers one request; throwing answers 500 with the message. */
  protected abstract handle(req: RecordedRequest): StandInResponse | Promise<StandInResponse>;

  /** Called when the stand-in goes down, before sockets are cut (long-lived responses end here). */
  protected onDown(): void {}

  /** Handles a request whose response stays open (a watch); return true when `res` was taken over. */
  protected stream(_req: RecordedRequest, _res: http.ServerResponse): boolean {
    return false;
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: Date.now(),
      };
      this.log.push(recorded);
      void this.answer(recorded, res);
    });
  }

  private async answer(req: RecordedRequest, res: http.ServerResponse): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (!this.listening || res.destroyed) return;
    if (this.stream(req, res)) {
      req.status = 200;
      return;
    }
    let answer: StandInResponse;
    try {
      answer = await this.handle(req);
    } catch (e) {
      answer = { status: 500, body: { error: (e as Error).message } };
    }
    req.status = answer.status;
    const isObject = answer.body !== undefined && typeof answer.body !== 'string' && !Buffer.isBuffer(answer.body);
    const body = answer.body === undefined ? Buffer.alloc(0) : Buffer.from(isObject ? JSON.stringify(answer.body) : (answer.body as string | Buffer));
    const headers: Record<string, string> = { ...(isObject ? { 'content-type': 'application/json' } : {}), ...answer.headers };
    if (res.destroyed) return;
    res.writeHead(answer.status, { ...headers, 'content-length': String(req.method === 'HEAD' && headers['content-length'] ? headers['content-length'] : body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** A request body, gunzipped when the client sent `Content-Encoding: gzip`. */
export function decodedBody(req: RecordedRequest): Buffer {
  return /gzip/.test(String(req.headers['content-encoding'] ?? '')) ? zlib.gunzipSync(req.body) : req.body;
}

/** A failure mode that applies to the next `times` matching requests (forever when `times` is undefined). */
export class Countdown {
  constructor(private remaining: number | undefined) {}

  /** Consumes one use; false once used up. */
  public take(): boolean {
    if (this.remaining === undefined) return true;
    if (this.remaining <= 0) return false;
    this.remaining -= 1;
    return true;
  }

  public get exhausted(): boolean {
    return this.remaining !== undefined && this.remaining <= 0;
  }
}
