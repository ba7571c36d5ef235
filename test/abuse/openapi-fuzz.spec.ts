import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';

/**
 * Every operation of the OpenAPI document, fed malformed values of every kind the abuse review
 * used: deep nesting, many keys, huge strings, NUL and other control characters, wrong types,
 * bad content types, bad path parameters. No answer may be a 5xx; every refusal is an
 * application/problem+json document with a stable UPPER_SNAKE code that does not quote the input
 * back. Bounded: a fixed seed and a few cases per operation (a few hundred requests).
 */
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
/**
 * Carried by every malformed value. Not an identifier (`~`, `!`): a field name that looks like
 * one of the DTOs' own is named back in `errors[].field`; anything else must never be.
 */
const MARK = 'Fz~!7q';

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: Record<string, string[]>[];
}

/** mulberry32: a tiny deterministic PRNG, so every run sends the same requests. */
function prng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const wide = (n: number) =>
  JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`${MARK}${i}`, i])));

/** Values of the wrong kind for any field, each carrying the marker where it can. */
const BAD_VALUES: unknown[] = [
  `${MARK}\u0000nul`,
  `${MARK}\u001b[31m`,
  `${MARK}${'x'.repeat(5000)}`,
  -1,
  1e308,
  3.5,
  true,
  null,
  [],
  [[]],
  [`${MARK}`],
  {},
  { [MARK]: 1 },
];

const BAD_PATH_VALUES = [
  '%00',
  `${MARK}%00`,
  `${MARK}%1F`,
  `${MARK}${'y'.repeat(3000)}`,
  '..%2F..%2Fetc%2Fpasswd',
  '-1',
  'null',
  '%E2%80%AE' + MARK,
  '00000000-0000-4000-8000-000000000000',
];

const BAD_QUERY_VALUES = [
  '%00',
  `${MARK}%00`,
  `${MARK}${'z'.repeat(5000)}`,
  'NaN',
  '-1',
  '1e309',
  `${MARK}%7F`,
];

describe('OpenAPI fuzz: every operation, malformed input, no 5xx, problem+json, no echo', () => {
  let iso: Isolation;
  let app: RunningApp;
  let doc: {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, Schema> };
  };
  const failures: string[] = [];
  let sent = 0;
  const seen = new Set<string>();

  beforeAll(async () => {
    iso = await isolate('fuzz');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      RATE_LIMIT_LOGIN_PER_IP: '0',
      RATE_LIMIT_ANALYZE_PER_USER: '0',
      RATE_LIMIT_ANALYZE_PER_IP: '0',
      RATE_LIMIT_REFRESH_PER_IP: '0',
      RATE_LIMIT_REFRESH_PER_USER: '0',
      LOCATIONS_SAMPLE_DATA: 'true',
    });
    doc = (await (await fetch(`${app.url}/docs-json`)).json()) as typeof doc;
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const resolve = (s: Schema | undefined): Schema | undefined =>
    s?.$ref ? doc.components.schemas[s.$ref.split('/').pop()!] : s;

  async function check(label: string, url: string, init: RequestInit): Promise<void> {
    sent++;
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      failures.push(`${label}: no answer (${String(err)})`);
      return;
    }
    const type = res.headers.get('content-type') ?? '';
    if (type.startsWith('text/event-stream')) {
      await res.body?.cancel();
      return;
    }
    const text = await res.text();
    const code = text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined;
    if (code) seen.add(`${res.status} ${code}`);
    if (res.status >= 500) {
      failures.push(`${label}: ${res.status} ${text.slice(0, 200)}`);
      return;
    }
    if (res.status < 400) return;
    if (!type.startsWith('application/problem+json')) {
      failures.push(`${label}: ${res.status} with ${type}`);
      return;
    }
    const problem = JSON.parse(text) as Record<string, unknown>;
    if (typeof problem.code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(problem.code)) {
      failures.push(`${label}: code ${String(problem.code)}`);
    }
    if (problem.status !== res.status)
      failures.push(`${label}: status field ${String(problem.status)}`);
    // `instance` is the request path by definition (RFC 9457); nothing else may quote the input.
    delete problem.instance;
    if (JSON.stringify(problem).includes(MARK)) {
      failures.push(`${label}: echoes the input: ${JSON.stringify(problem).slice(0, 300)}`);
    }
  }

  it('answers every malformed request with a 4xx problem document', async () => {
    const random = prng(20261201);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)];
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(25);

    for (const { path, method, op } of operations) {
      // A fresh guest per operation: logout and account deletion must not starve the others.
      const login = await guestLogin(app.url!);
      const auth = path.startsWith('/api/v1/admin')
        ? { authorization: `Bearer ${ADMIN_TOKEN}` }
        : { authorization: `Bearer ${login.accessToken}` };
      const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
      const queryParams = (op.parameters ?? []).filter((p) => p.in === 'query');
      const fill = (value: (p: Parameter) => string) =>
        pathParams.reduce((u, p) => u.replace(`{${p.name}}`, value(p)), path);
      const validPath = fill((p) =>
        resolve(p.schema)?.enum
          ? String(resolve(p.schema)!.enum![0])
          : '00000000-0000-4000-8000-000000000000',
      );
      const url = (p: string, query = '') => `${app.url}${p}${query ? `?${query}` : ''}`;
      const jsonInit = (body: string, headers: Record<string, string> = {}): RequestInit => ({
        method,
        headers: { 'content-type': 'application/json', ...auth, ...headers },
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
      });
      const label = (what: string) => `${method} ${path} ${what}`;

      // Bad path parameters.
      for (let i = 0; i < Math.min(3, pathParams.length * 3); i++) {
        const bad = pick(BAD_PATH_VALUES);
        await check(label(`path=${bad.slice(0, 40)}`), url(fill(() => bad)), {
          method,
          headers: auth,
        });
      }
      // Bad query values, one parameter at a time, plus repeated parameters.
      for (const q of queryParams.slice(0, 3)) {
        const bad = pick(BAD_QUERY_VALUES);
        await check(label(`?${q.name}=${bad.slice(0, 40)}`), url(validPath, `${q.name}=${bad}`), {
          method,
          headers: auth,
        });
        await check(
          label(`?${q.name} twice`),
          url(validPath, `${q.name}=${MARK}&${q.name}=${MARK}`),
          { method, headers: auth },
        );
      }
      // An unknown query parameter with a control character.
      await check(label('unknown query'), url(validPath, `${MARK}=%00`), { method, headers: auth });
      if (method === 'GET') continue;

      // Bodies of every hostile shape, to every operation that takes one (and those that do not).
      const hostile: [string, string, Record<string, string>?][] = [
        ['deep 5,000', deep(5000)],
        ['wide 5,000 keys', wide(5000)],
        ['huge string', JSON.stringify({ [MARK]: 'h'.repeat(300 * 1024) })],
        ['malformed', `{"${MARK}": `],
        ['not JSON', `${MARK}=1`, { 'content-type': 'application/x-www-form-urlencoded' }],
        ['text/plain', MARK, { 'content-type': 'text/plain' }],
        ['xml', `<a>${MARK}</a>`, { 'content-type': 'application/xml' }],
        ['latin1', '{}', { 'content-type': 'application/json; charset=iso-8859-1' }],
        ['null', 'null'],
        ['array', `["${MARK}"]`],
        ['string', `"${MARK}"`],
        ['number', '12345'],
        ['unknown key', JSON.stringify({ [MARK]: 1 })],
        ['unknown nested key', JSON.stringify({ items: [{ [MARK]: 1 }], ids: { [MARK]: [] } })],
      ];
      for (const [what, body, headers] of hostile)
        await check(label(what), url(validPath), jsonInit(body, headers));

      // Wrong types and control characters in each declared field.
      const schema = resolve(op.requestBody?.content['application/json']?.schema);
      for (const [field, prop] of Object.entries(schema?.properties ?? {}).slice(0, 8)) {
        // Arrays of objects: malformed values one level down as well.
        const item = resolve(prop.items);
        for (const sub of Object.keys(item?.properties ?? {}).slice(0, 4)) {
          const bad = pick(BAD_VALUES);
          await check(
            label(`${field}[].${sub}=${JSON.stringify(bad)?.slice(0, 30)}`),
            url(validPath),
            jsonInit(JSON.stringify({ [field]: [{ [sub]: bad }] })),
          );
        }
        for (let i = 0; i < 3; i++) {
          const bad = pick(BAD_VALUES);
          await check(
            label(`${field}=${JSON.stringify(bad)?.slice(0, 30)}`),
            url(validPath),
            jsonInit(JSON.stringify({ [field]: bad })),
          );
        }
      }
    }

    // The local driver's upload target is not in the document (it is a presigned URL).
    for (const query of [
      '',
      `key=${MARK}`,
      `key=%00&sig=${MARK}`,
      `key=uploads%2F..%2F..&expires=1&sig=x`,
    ]) {
      await check(`PUT uploads ?${query}`, `${app.url}/api/v1/waste/uploads?${query}`, {
        method: 'PUT',
        headers: { 'content-type': 'image/jpeg' },
        body: Buffer.alloc(100, 1),
      });
    }

    // The refusals were the intended ones, not one catch-all.
    expect([...seen]).toEqual(
      expect.arrayContaining([
        '400 VALIDATION_FAILED',
        '404 NOT_FOUND',
        '413 PAYLOAD_TOO_LARGE',
        '415 UNSUPPORTED_MEDIA_TYPE',
      ]),
    );
    expect(sent).toBeGreaterThan(200);
    expect(sent).toBeLessThan(1000);
    expect(failures).toEqual([]);
  });
});
