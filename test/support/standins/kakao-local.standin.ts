import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Kakao Local (docs/architecture.md → Third parties) on 127.0.0.1: keyword and category
 * search over a list of places, speaking the real wire format — x, y and distance as strings
 * (distance "" without x/y), `meta` with total_count / pageable_count / is_end / same_name, the
 * documented limits (radius 0–20000, page 1–45, size 1–15) and `{ errorType, message }` errors.
 * Also coordinates → region (coord2regioncode) over a list of regions. Tests can inject failures
 * (any status with Kakao's error body, or a stall) and latency.
 */
export interface StandinPlace {
  id: string;
  place_name: string;
  category_name?: string;
  category_group_code?: string;
  category_group_name?: string;
  phone?: string;
  address_name?: string;
  road_address_name?: string;
  lat: number;
  lng: number;
  place_url?: string;
}

/**
 * A district as coord2regioncode knows it: points within `radiusM` of (lat, lng) answer with its
 * 법정동 (B) and 행정동 (H) documents. Points near no region answer with no documents (as Kakao
 * does outside Korea).
 */
export interface StandinRegion {
  lat: number;
  lng: number;
  radiusM: number;
  sido: string;
  sigungu: string;
  legalDong: string;
  adminDong: string;
  /** 10-digit 법정동 and 행정동 codes; the first five digits are the 시군구. */
  legalCode: string;
  adminCode: string;
}

export interface RecordedRequest {
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
}

type Fault = { status: number; errorType: string; message: string } | { stallMs: number };

export const KAKAO_ERRORS = {
  throttled: {
    status: 429,
    errorType: 'RequestThrottled',
    message: 'API limit has been exceeded.',
  },
  unauthorized: { status: 401, errorType: 'AccessDeniedError', message: 'cannot find appkey' },
  notEnabled: {
    status: 403,
    errorType: 'NotAuthorizedError',
    message: 'App(waste-coach) disabled OPEN_MAP_AND_LOCAL service.',
  },
  serverError: { status: 500, errorType: 'InternalServerError', message: 'internal error' },
} as const;

const MAX_PAGE = 45;

function haversine(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const r = (d: number) => (d * Math.PI) / 180;
  const a =
    Math.sin(r(lat2 - lat1) / 2) ** 2 +
    Math.cos(r(lat1)) * Math.cos(r(lat2)) * Math.sin(r(lng2 - lng1) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

export class KakaoLocalStandin {
  readonly requests: RecordedRequest[] = [];
  places: StandinPlace[] = [];
  regions: StandinRegion[] = [];
  /** Added to every answer. */
  latencyMs = 0;
  private faults: Fault[] = [];

  private constructor(
    private readonly server: Server,
    readonly apiKey: string,
  ) {}

  static async start(apiKey = 'test'): Promise<KakaoLocalStandin> {
    const server = createServer();
    const standin = new KakaoLocalStandin(server, apiKey);
    server.on('request', (req, res) => void standin.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return standin;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next request(s) answer with Kakao's error body for this status instead. */
  failNext(error: { status: number; errorType: string; message: string }, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(error);
  }

  /** The next request(s) wait this long before answering (longer than the client's timeout). */
  stallNext(ms: number, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ stallMs: ms });
  }

  reset(): void {
    this.requests.length = 0;
    this.faults = [];
    this.latencyMs = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ path: url.pathname, query, authorization: req.headers.authorization });
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, errorType: string, message: string) =>
      send(status, { errorType, message });

    if (this.latencyMs) await sleep(this.latencyMs);
    const fault = this.faults.shift();
    if (fault && 'stallMs' in fault) await sleep(fault.stallMs);
    else if (fault) return error(fault.status, fault.errorType, fault.message);

    if (req.headers.authorization !== `KakaoAK ${this.apiKey}`) {
      return error(401, 'AccessDeniedError', 'cannot find appkey');
    }
    if (url.pathname === '/v2/local/geo/coord2regioncode.json' && req.method === 'GET') {
      const answer = coord2region(this.regions, query);
      return send(answer.status, answer.body);
    }
    const isKeyword = url.pathname === '/v2/local/search/keyword.json';
    const isCategory = url.pathname === '/v2/local/search/category.json';
    if (req.method !== 'GET' || (!isKeyword && !isCategory)) {
      return error(404, 'NotFound', `no such API: ${req.method} ${url.pathname}`);
    }
    if (isKeyword && !query.query) {
      return error(400, 'MissingParameter', 'query parameter required');
    }
    if (isCategory && !query.category_group_code) {
      return error(400, 'MissingParameter', 'category_group_code parameter required');
    }
    const page = query.page === undefined ? 1 : Number(query.page);
    const size = query.size === undefined ? 15 : Number(query.size);
    const radius = query.radius === undefined ? undefined : Number(query.radius);
    if (!Number.isInteger(page) || page < 1 || page > MAX_PAGE) {
      return error(400, 'InvalidArgument', `page is more than max ${MAX_PAGE}`);
    }
    if (!Number.isInteger(size) || size < 1 || size > 15) {
      return error(400, 'InvalidArgument', 'size is more than max 15');
    }
    if (radius !== undefined && (!Number.isInteger(radius) || radius < 0 || radius > 20000)) {
      return error(400, 'InvalidArgument', 'radius is more than the maximum 20000');
    }
    const hasPoint = query.x !== undefined && query.y !== undefined;
    if (isCategory && !hasPoint && !query.rect) {
      return error(400, 'MissingParameter', 'x, y, radius or rect parameter required');
    }
    const x = Number(query.x);
    const y = Number(query.y);

    const needle = (query.query ?? '').replace(/\s+/g, '');
    let hits = this.places
      .filter((p) =>
        isKeyword
          ? [p.place_name, p.category_name ?? '', p.address_name ?? '', p.road_address_name ?? '']
              .map((s) => s.replace(/\s+/g, ''))
              .some((s) => s.includes(needle))
          : p.category_group_code === query.category_group_code,
      )
      .map((p) => ({ p, d: hasPoint ? haversine(y, x, p.lat, p.lng) : undefined }));
    if (hasPoint && radius !== undefined) hits = hits.filter((h) => h.d! <= radius);
    if (hasPoint && query.sort === 'distance') hits.sort((a, b) => a.d! - b.d!);

    const pageable = Math.min(hits.length, MAX_PAGE * size);
    const documents = hits.slice((page - 1) * size, page * size).map(({ p, d }) => ({
      id: p.id,
      place_name: p.place_name,
      category_name: p.category_name ?? '',
      category_group_code: p.category_group_code ?? '',
      category_group_name: p.category_group_name ?? '',
      phone: p.phone ?? '',
      address_name: p.address_name ?? '',
      road_address_name: p.road_address_name ?? '',
      x: String(p.lng),
      y: String(p.lat),
      place_url: p.place_url ?? `http://place.map.kakao.com/${p.id}`,
      distance: d === undefined ? '' : String(Math.round(d)),
    }));
    send(200, {
      meta: {
        total_count: hits.length,
        pageable_count: pageable,
        is_end: page * size >= pageable,
        same_name: isKeyword ? { region: [], keyword: query.query, selected_region: '' } : null,
      },
      documents,
    });
  }
}

/** coord2regioncode: x/y required (numbers); documents B then H, with x/y as numbers. */
function coord2region(
  regions: StandinRegion[],
  query: Record<string, string>,
): { status: number; body: unknown } {
  const fail = (status: number, errorType: string, message: string) => ({
    status,
    body: { errorType, message },
  });
  if (query.x === undefined || query.y === undefined) {
    return fail(400, 'MissingParameter', 'x, y parameter required');
  }
  const x = Number(query.x);
  const y = Number(query.y);
  if (!Number.isFinite(x) || !Number.isFinite(y)) {
    return fail(400, 'InvalidArgument', 'x, y must be numbers');
  }
  const region = regions.find((r) => haversine(y, x, r.lat, r.lng) <= r.radiusM);
  const documents = region
    ? (['B', 'H'] as const).map((type) => {
        const dong = type === 'B' ? region.legalDong : region.adminDong;
        return {
          region_type: type,
          address_name: `${region.sido} ${region.sigungu} ${dong}`,
          region_1depth_name: region.sido,
          region_2depth_name: region.sigungu,
          region_3depth_name: dong,
          region_4depth_name: '',
          code: type === 'B' ? region.legalCode : region.adminCode,
          x: region.lng,
          y: region.lat,
        };
      })
    : [];
  return { status: 200, body: { meta: { total_count: documents.length }, documents } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
