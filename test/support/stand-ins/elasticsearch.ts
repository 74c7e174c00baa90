import { randomBytes } from 'node:crypto';
import { Countdown, RecordedRequest, StandInOptions, StandInResponse, StandInServer, decodedBody } from './server';

/** A document Elasticsearch accepted. */
export interface StoredDocument {
  readonly index: string;
  readonly id: string;
  /** The bulk action: `index` or `create` (fluent-plugin-elasticsearch's write_operation). */
  readonly opType: string;
  readonly source: Record<string, any>;
  /** 1-based number of the bulk request that carried it. */
  readonly bulk: number;
}

/** One `_bulk` request and what was answered. */
export interface BulkRecord {
  /** 1-based, in arrival order. */
  readonly number: number;
  /** Index from the URL (`POST /<index>/_bulk`), if any. */
  readonly defaultIndex?: string;
  readonly actions: number;
  /** HTTP status of the whole request. */
  readonly status: number;
  /** Per-item statuses (empty when the whole request failed). */
  readonly itemStatuses: readonly number[];
  readonly at: number;
}

/** A per-item rejection, as Elasticsearch reports it in a `_bulk` answer. */
export interface ItemFailure {
  /** 429 (`es_rejected_execution_exception`, retried by the plugin), 400 (`mapper_parsing_exception`, dropped to @ERROR)... */
  readonly status: number;
  /** @default - es_rejected_execution_exception for 429, mapper_parsing_exception otherwise */
  readonly type?: string;
  readonly reason?: string;
  /** Items to reject; undefined: every matching item until {@link ElasticsearchStandIn.heal}. */
  readonly times?: number;
  /** Only items whose source matches. @default every item */
  readonly match?: (source: Record<string, any>) => boolean;
}

/** Options of {@link ElasticsearchStandIn}. */
export interface ElasticsearchStandInOptions extends StandInOptions {
  /** `version.number` answered on `GET /`. @default '8.15.0' */
  readonly version?: string;
  /** @default 'shipshape-test' */
  readonly clusterName?: string;
}

/**
 * The part of the Elasticsearch 8 HTTP API fluent-plugin-elasticsearch 5.3.0 (with elasticsearch-ruby
 * 8.15) uses: `GET /` (version check at startup, and the client's product check on its first request:
 * every answer carries `X-Elastic-Product: Elasticsearch`), `POST [/<index>]/_bulk`, plus
 * `GET /_cluster/health` and HEAD/GET/PUT of index templates, legacy templates, ILM policies, indices
 * and aliases for configurations that install them. Any other endpoint answers 404 and is listed by
 * {@link unhandled}.
 *
 * Failure modes (besides down()/delay() from StandInServer):
 * - {@link failRequests}: whole `_bulk` requests answered with 429/503/... (the plugin retries the chunk);
 * - {@link failItems}: some items of accepted `_bulk` requests rejected with a status and error type;
 * - {@link heal}: both cleared.
 */
export class ElasticsearchStandIn extends StandInServer {
  /** Starts one on a free loopback port. */
  public static async start(options: ElasticsearchStandInOptions = {}): Promise<ElasticsearchStandIn> {
    return new ElasticsearchStandIn(options).up();
  }

  private readonly version: string;
  private readonly clusterName: string;
  private readonly docs: StoredDocument[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly bulks: BulkRecord[] = [];
  private readonly rejected: { readonly source: Record<string, any>; readonly status: number; readonly type: string }[] = [];
  private readonly resources = new Map<string, unknown>();
  private readonly missed: RecordedRequest[] = [];
  private requestFailure?: { status: number; count: Countdown; all: boolean };
  private itemFailure?: ItemFailure & { count: Countdown };

  private constructor(options: ElasticsearchStandInOptions) {
    super(options);
    this.version = options.version ?? '8.15.0';
    this.clusterName = options.clusterName ?? 'shipshape-test';
  }

  /**
   * Answers the next `times` `_bulk` requests (every one when undefined) with `status` and no item
   * stored; `allEndpoints` extends it to every endpoint (`GET /` included).
   */
  public failRequests(status: number, options: { times?: number; allEndpoints?: boolean } = {}): void {
    this.requestFailure = { status, count: new Countdown(options.times), all: options.allEndpoints ?? false };
  }

  /** Rejects items of `_bulk` requests (see {@link ItemFailure}). */
  public failItems(failure: ItemFailure): void {
    this.itemFailure = { ...failure, count: new Countdown(failure.times) };
  }

  /** Clears {@link failRequests} and {@link failItems}. */
  public heal(): void {
    this.requestFailure = undefined;
    this.itemFailure = undefined;
  }

  /** Every document accepted, in order (a record shipped twice appears twice, with two ids). */
  public documents(): readonly StoredDocument[] {
    return [...this.docs];
  }

  /** Every `_bulk` request. */
  public bulkRequests(): readonly BulkRecord[] {
    return [...this.bulks];
  }

  /** Items rejected by {@link failItems}. */
  public rejectedItems(): readonly { readonly source: Record<string, any>; readonly status: number; readonly type: string }[] {
    return [...this.rejected];
  }

  /** Requests to endpoints this stand-in does not implement. */
  public unhandled(): readonly RecordedRequest[] {
    return [...this.missed];
  }

  protected handle(req: RecordedRequest): StandInResponse {
    const headers = { 'x-elastic-product': 'Elasticsearch' };
    const failure = this.requestFailure;
    const isBulk = req.method === 'POST' && /^(\/[^/_][^/]*)?\/_bulk$/.test(req.path);
    if (failure && (failure.all || isBulk) && failure.count.take()) {
      if (isBulk) this.bulks.push({ number: this.bulks.length + 1, actions: 0, status: failure.status, itemStatuses: [], at: req.at });
      return { status: failure.status, headers, body: errorBody(failure.status) };
    }
    const answer = isBulk ? this.bulk(req) : this.route(req);
    return { ...answer, headers: { ...headers, ...answer.headers } };
  }

  private route(req: RecordedRequest): StandInResponse {
    const { method, path } = req;
    if (path === '/' && (method === 'GET' || method === 'HEAD')) {
      return {
        status: 200,
        body: {
          name: 'stand-in-0',
          cluster_name: this.clusterName,
          cluster_uuid: 'c2hpcHNoYXBlLXRlc3Q',
          version: {
            number: this.version,
            build_flavor: 'default',
            build_type: 'docker',
            lucene_version: '9.11.1',
            minimum_wire_compatibility_version: '7.17.0',
            minimum_index_compatibility_version: '7.0.0',
          },
          tagline: 'You Know, for Search',
        },
      };
    }
    if (path === '/_cluster/health' && method === 'GET') {
      return {
        status: 200,
        body: { cluster_name: this.clusterName, status: 'green', timed_out: false, number_of_nodes: 1, number_of_data_nodes: 1, active_primary_shards: 0, active_shards: 0, unassigned_shards: 0 },
      };
    }
    // Templates, ILM policies, indices and aliases: stored as given, so HEAD/GET see what PUT wrote.
    const resource = /^\/(_index_template|_template|_ilm\/policy|_alias)\/([^/]+)$/.exec(path) ?? /^\/()([^/_][^/]*)$/.exec(path);
    if (resource) {
      const key = `${resource[1]}/${resource[2]}`;
      if (method === 'PUT' || method === 'POST') {
        this.resources.set(key, parseJson(req.body.toString('utf8')));
        return { status: 200, body: { acknowledged: true } };
      }
      if (method === 'HEAD' || method === 'GET') {
        if (!this.resources.has(key)) return { status: 404, body: errorBody(404) };
        return { status: 200, body: { [resource[2]]: this.resources.get(key) } };
      }
    }
    this.missed.push(req);
    return { status: 404, body: errorBody(404, `no handler for ${method} ${path}`) };
  }

  private bulk(req: RecordedRequest): StandInResponse {
    const number = this.bulks.length + 1;
    const defaultIndex = /^\/([^/]+)\/_bulk$/.exec(req.path)?.[1];
    const lines = decodedBody(req)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const items: Record<string, any>[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      const action = JSON.parse(lines[i]) as Record<string, Record<string, any>>;
      const opType = Object.keys(action)[0];
      const meta = action[opType] ?? {};
      const index = String(meta._index ?? defaultIndex ?? '');
      if (opType === 'delete') {
        items.push({ delete: { _index: index, _id: meta._id, status: 404, result: 'not_found' } });
        statuses.push(404);
        continue;
      }
      const source = JSON.parse(lines[++i] ?? 'null') as Record<string, any>;
      const id = String(meta._id ?? randomBytes(10).toString('base64url'));
      const failure = this.itemFailure;
      if (failure && (!failure.match || failure.match(source)) && failure.count.take()) {
        const type = failure.type ?? (failure.status === 429 ? 'es_rejected_execution_exception' : 'mapper_parsing_exception');
        this.rejected.push({ source, status: failure.status, type });
        items.push({ [opType]: { _index: index, _id: id, status: failure.status, error: { type, reason: failure.reason ?? `rejected by the stand-in (${type})` } } });
        statuses.push(failure.status);
        continue;
      }
      const key = `${index}/${id}`;
      if (opType === 'create' && this.byKey.has(key)) {
        items.push({ create: { _index: index, _id: id, status: 409, error: { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists` } } });
        statuses.push(409);
        continue;
      }
      const existed = this.byKey.has(key);
      this.byKey.set(key, this.docs.length);
      this.docs.push({ index, id, opType, source, bulk: number });
      const status = existed ? 200 : 201;
      items.push({ [opType]: { _index: index, _id: id, _version: 1, result: existed ? 'updated' : 'created', status, _shards: { total: 1, successful: 1, failed: 0 } } });
      statuses.push(status);
    }
    this.bulks.push({ number, defaultIndex, actions: statuses.length, status: 200, itemStatuses: statuses, at: req.at });
    return { status: 200, body: { took: 1, errors: statuses.some((s) => s >= 300), items } };
  }
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    return text;
  }
}

function errorBody(status: number, reason?: string): object {
  const type = status === 429 ? 'es_rejected_execution_exception' : status === 503 ? 'unavailable_shards_exception' : status === 404 ? 'resource_not_found_exception' : 'stand_in_failure';
  return { error: { root_cause: [{ type, reason: reason ?? type }], type, reason: reason ?? type }, status };
}
