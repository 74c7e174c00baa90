import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Countdown, RecordedRequest, StandInOptions, StandInResponse, StandInServer } from './server';

/** One PutObject the stand-in received. */
export interface S3Put {
  readonly bucket: string;
  readonly key: string;
  /** Bytes as uploaded. */
  readonly body: Buffer;
  /** The object's content: gunzipped when the upload is gzip (magic bytes 1f 8b). */
  readonly content: string;
  readonly contentType?: string;
  /** Whether an object with this key already existed: the earlier one is lost. */
  readonly overwrote: boolean;
  /** 1-based, in arrival order. */
  readonly number: number;
  readonly at: number;
}

/** An object currently in a bucket. */
export interface S3Object {
  readonly bucket: string;
  readonly key: string;
  readonly body: Buffer;
  readonly content: string;
  readonly etag: string;
  readonly lastModified: Date;
}

/** Which S3 operations {@link S3StandIn.failRequests} applies to. */
export type S3Operation = 'PutObject' | 'HeadObject' | 'GetObject' | 'ListObjects' | 'HeadBucket' | 'CreateBucket' | 'any';

/** Options of {@link S3StandIn}. */
export interface S3StandInOptions extends StandInOptions {
  /** Buckets that exist from the start (fluent-plugin-s3 creates missing ones itself when auto_create_bucket is on). @default [] */
  readonly buckets?: readonly string[];
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const ERROR_CODES: Readonly<Record<number, string>> = { 400: 'BadRequest', 403: 'AccessDenied', 404: 'NoSuchKey', 500: 'InternalError', 503: 'SlowDown' };

/**
 * A path-style S3 (`http://127.0.0.1:PORT/<bucket>/<key>`) with what fluent-plugin-s3 1.7.2 and
 * aws-sdk-s3 call: ListObjects/ListObjectsV2 (`check_apikey_on_start`), HeadBucket and CreateBucket
 * (`check_bucket`, `auto_create_bucket`), HeadObject (`check_object`: finding a free `%{index}`), PutObject,
 * plus GetObject for tests. Signatures are not checked; a Content-MD5 that does not match the body is
 * refused (BadDigest) as S3 does. `aws-chunked` uploads are decoded.
 *
 * Failure modes (besides down()/delay()): {@link failRequests} answers an operation with an S3 error
 * (503 SlowDown, 500 InternalError, 403 AccessDenied...); {@link heal} clears it.
 */
export class S3StandIn extends StandInServer {
  /** Starts one on a free loopback port. */
  public static async start(options: S3StandInOptions = {}): Promise<S3StandIn> {
    return new S3StandIn(options).up();
  }

  private readonly buckets = new Map<string, Map<string, S3Object>>();
  private readonly putLog: S3Put[] = [];
  private readonly created: string[] = [];
  private readonly missed: RecordedRequest[] = [];
  private failure?: { status: number; operation: S3Operation; count: Countdown };

  private constructor(options: S3StandInOptions) {
    super(options);
    for (const b of options.buckets ?? []) this.buckets.set(b, new Map());
  }

  /** Answers the next `times` requests of `operation` (all when undefined) with `status` and the matching S3 error code. */
  public failRequests(status: number, options: { operation?: S3Operation; times?: number } = {}): void {
    this.failure = { status, operation: options.operation ?? 'PutObject', count: new Countdown(options.times) };
  }

  /** Clears {@link failRequests}. */
  public heal(): void {
    this.failure = undefined;
  }

  /** Creates a bucket (as if it existed before Fluentd started). */
  public createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  /** Every PutObject accepted, in order. */
  public puts(): readonly S3Put[] {
    return [...this.putLog];
  }

  /** PutObjects that replaced an existing object (each one lost the earlier object's content). */
  public overwrites(): number {
    return this.putLog.filter((p) => p.overwrote).length;
  }

  /** Objects now stored, by bucket then key. */
  public objects(bucket?: string): readonly S3Object[] {
    const all = [...this.buckets.values()].flatMap((m) => [...m.values()]);
    return all.filter((o) => bucket === undefined || o.bucket === bucket).sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Every JSON line of every stored object (fluent-plugin-s3 with `<format> @type json`), with the key it came from. */
  public records(bucket?: string): readonly { readonly key: string; readonly record: Record<string, any> }[] {
    return this.objects(bucket).flatMap((o) =>
      o.content
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => ({ key: o.key, record: JSON.parse(l) as Record<string, any> })),
    );
  }

  /** Buckets created through the API (CreateBucket). */
  public createdBuckets(): readonly string[] {
    return [...this.created];
  }

  /** Requests this stand-in does not implement. */
  public unhandled(): readonly RecordedRequest[] {
    return [...this.missed];
  }

  protected handle(req: RecordedRequest): StandInResponse {
    const [, bucket = '', ...rest] = req.path.split('/');
    const key = rest.join('/');
    const operation = this.operation(req.method, bucket, key, req.query);
    if (this.failure && (this.failure.operation === 'any' || this.failure.operation === operation) && this.failure.count.take()) {
      return s3Error(this.failure.status, ERROR_CODES[this.failure.status] ?? 'ServiceUnavailable', `injected by the stand-in for ${operation}`, req.method);
    }
    const objects = this.buckets.get(bucket);
    switch (operation) {
      case 'HeadBucket':
        return objects ? { status: 200, headers: { 'x-amz-bucket-region': 'us-east-1' } } : s3Error(404, 'NoSuchBucket', bucket, req.method);
      case 'CreateBucket':
        if (objects) return s3Error(409, 'BucketAlreadyOwnedByYou', bucket, req.method);
        this.buckets.set(bucket, new Map());
        this.created.push(bucket);
        return { status: 200, headers: { location: `/${bucket}` } };
      case 'ListObjects':
        return objects ? this.list(bucket, objects, req.query) : s3Error(404, 'NoSuchBucket', bucket, req.method);
      case 'HeadObject':
      case 'GetObject': {
        if (!objects) return s3Error(404, 'NoSuchBucket', bucket, req.method);
        const o = objects.get(key);
        if (!o) return s3Error(404, 'NoSuchKey', key, req.method);
        const headers = { etag: o.etag, 'last-modified': o.lastModified.toUTCString(), 'content-length': String(o.body.length) };
        return { status: 200, headers, body: req.method === 'HEAD' ? undefined : o.body };
      }
      case 'PutObject':
        return objects ? this.put(req, bucket, key, objects) : s3Error(404, 'NoSuchBucket', bucket, req.method);
      default:
        this.missed.push(req);
        return s3Error(501, 'NotImplemented', `${req.method} ${req.path}`, req.method);
    }
  }

  private operation(method: string, bucket: string, key: string, query: URLSearchParams): S3Operation | undefined {
    if (!bucket) return undefined;
    if (key === '') {
      if (method === 'HEAD') return 'HeadBucket';
      if (method === 'PUT' && [...query.keys()].length === 0) return 'CreateBucket';
      if (method === 'GET' && !query.has('lifecycle') && !query.has('location')) return 'ListObjects';
      return undefined;
    }
    if (method === 'HEAD') return 'HeadObject';
    if (method === 'GET') return 'GetObject';
    if (method === 'PUT' && !query.has('uploadId') && !query.has('tagging')) return 'PutObject';
    return undefined;
  }

  private put(req: RecordedRequest, bucket: string, key: string, objects: Map<string, S3Object>): StandInResponse {
    const body = isAwsChunked(req) ? decodeAwsChunked(req.body) : req.body;
    const md5 = req.headers['content-md5'];
    if (typeof md5 === 'string' && createHash('md5').update(body).digest('base64') !== md5) {
      return s3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.', req.method);
    }
    const content = body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b ? zlib.gunzipSync(body).toString('utf8') : body.toString('utf8');
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    const overwrote = objects.has(key);
    objects.set(key, { bucket, key, body, content, etag, lastModified: new Date(req.at) });
    const contentType = typeof req.headers['content-type'] === 'string' ? req.headers['content-type'] : undefined;
    this.putLog.push({ bucket, key, body, content, contentType, overwrote, number: this.putLog.length + 1, at: req.at });
    return { status: 200, headers: { etag } };
  }

  private list(bucket: string, objects: Map<string, S3Object>, query: URLSearchParams): StandInResponse {
    const prefix = query.get('prefix') ?? '';
    const max = Number(query.get('max-keys') ?? '1000');
    const v2 = query.get('list-type') === '2';
    const after = (v2 ? query.get('start-after') : query.get('marker')) ?? '';
    const matching = [...objects.values()].filter((o) => o.key.startsWith(prefix) && o.key > after).sort((a, b) => a.key.localeCompare(b.key));
    const page = matching.slice(0, max);
    const contents = page
      .map(
        (o) =>
          `<Contents><Key>${xml(o.key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('');
    const paging = v2 ? `<KeyCount>${page.length}</KeyCount>` : `<Marker>${xml(after)}</Marker>`;
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${XMLNS}"><Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix>${paging}<MaxKeys>${max}</MaxKeys><IsTruncated>${matching.length > page.length}</IsTruncated>${contents}</ListBucketResult>`;
    return { status: 200, headers: { 'content-type': 'application/xml' }, body };
  }
}

function s3Error(status: number, code: string, message: string, method: string): StandInResponse {
  if (method === 'HEAD') return { status };
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message><RequestId>stand-in</RequestId></Error>`,
  };
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function isAwsChunked(req: RecordedRequest): boolean {
  return /aws-chunked/.test(String(req.headers['content-encoding'] ?? '')) || String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
}

/** Decodes `<hex size>;chunk-signature=...\r\n<data>\r\n` frames (SigV4 streaming uploads). */
function decodeAwsChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < raw.length) {
    const eol = raw.indexOf('\r\n', offset);
    if (eol < 0) break;
    const size = Number.parseInt(raw.subarray(offset, eol).toString('latin1').split(';')[0], 16);
    if (!(size > 0)) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    offset = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
