import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { bearer, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { OpenAiStandin, reply, startOpenAiStandin } from '../support/standins/openai.standin';

/** Response bodies are asserted field by field; their shape is what the tests check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('recycling HTTP API', () => {
  let iso: Isolation;
  let app: RunningApp;
  let api: string;
  let standin: OpenAiStandin;
  let auth: Record<string, string>;

  beforeAll(async () => {
    iso = await isolate('recyclinghttp');
    standin = await startOpenAiStandin();
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      LLM_PROVIDER: 'openai',
      OPENAI_BASE_URL: standin.url,
      OPENAI_API_KEY: 'sk-standin',
      LLM_TIMEOUT_MS: '2000',
      LLM_MAX_RETRIES: '0',
    });
    api = `${app.url}/api/v1/recycling`;
    auth = bearer(await guestLogin(app.url!));
  });
  afterAll(async () => {
    await app?.close();
    await standin?.close();
    await iso?.cleanup();
  });

  const get = async (path: string) => {
    const res = await fetch(`${api}${path}`, { headers: auth });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: (await res.json()) as Json,
    };
  };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: (await res.json()) as Json,
    };
  };

  it('GET /recycling/categories lists every category in Korean (English on request)', async () => {
    const ko = await get('/categories');
    expect(ko.status).toBe(200);
    expect(ko.body).toHaveLength(20);
    const pet = ko.body.find((c: { id: string }) => c.id === 'clear-pet');
    expect(pet).toEqual({
      id: 'clear-pet',
      name: '투명 페트병',
      nameEn: 'Clear PET bottles',
      bin: '투명 페트병 전용 수거함',
      steps: expect.arrayContaining([expect.stringContaining('라벨')]),
      cautions: expect.any(Array),
      examples: expect.arrayContaining(['생수병']),
      dropOff: ['clear_pet', 'recycling'],
    });
    const en = await get('/categories?locale=en');
    expect(en.body.find((c: { id: string }) => c.id === 'clear-pet')).toMatchObject({
      name: 'Clear PET bottles',
      bin: 'clear PET bottle bin',
      examples: expect.arrayContaining(['water bottle']),
    });
  });

  it('GET /recycling/categories/{id} answers the category, or 404 problem details', async () => {
    const ok = await get('/categories/non-combustible');
    expect(ok.status).toBe(200);
    expect(ok.body.bin).toBe('특수규격마대(불연성 마대)');
    const missing = await get('/categories/moon-rock');
    expect(missing.status).toBe(404);
    expect(missing.type).toContain('application/problem+json');
    expect(missing.body).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it.each([
    ['페트병', 'clear-pet', '투명 페트병'],
    ['우유 팩', 'paper-pack', '우유팩'],
    ['pet bottle', 'clear-pet', '투명 페트병'],
    ['스티로품', 'styrofoam', undefined],
    ['후라이팬', 'scrap-iron', '프라이팬'],
    ['piza box', 'paper', '피자 박스'],
    ['냉장', 'large-appliance', '냉장고'],
  ])('GET /recycling/search?q=%s → %s', async (q, categoryId, name) => {
    const res = await get(`/search?q=${encodeURIComponent(q)}`);
    expect(res.status).toBe(200);
    const [first] = res.body.items;
    expect(first.categoryId).toBe(categoryId);
    if (name) expect(first.name).toBe(name);
    expect(Object.keys(first).sort()).toEqual(
      ['aliases', 'bin', 'categoryId', 'categoryName', 'cautions', 'name', 'steps'].sort(),
    );
  });

  it('search honours limit and locale', async () => {
    const res = await get(`/search?q=${encodeURIComponent('can')}&limit=2&locale=en`);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items[0].bin).toBe('can bin');
  });

  it.each([
    ['', 'q'],
    ['?q=', 'q'],
    [`?q=${'x'.repeat(101)}`, 'q'],
    ['?q=a&limit=0', 'limit'],
    ['?q=a&limit=abc', 'limit'],
    ['?q=a&locale=fr', 'locale'],
    ['?q=a&sort=name', 'sort'],
  ])('GET /recycling/search%s → 400 VALIDATION_FAILED on %s', async (qs, field) => {
    const res = await get(`/search${qs}`);
    expect(res.status).toBe(400);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('POST /recycling/feedback coaches with the LLM, grounded on the rule', async () => {
    standin.setHandler((body) => {
      const prompt = JSON.parse(String(body.messages[1].content));
      const bin = prompt.items[0].bin as string;
      return reply.json({
        message: `유리병은 ${bin}에 넣어 주세요. ${prompt.items[0].steps[0]}`,
        bins: [bin],
      });
    });
    const res = await post('/feedback', {
      items: [{ categoryId: 'glass-bottle', label: 'Glass bottle' }],
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      coaching: {
        message:
          '유리병은 유리병 수거함에 넣어 주세요. 병뚜껑을 떼어 재질에 따라(금속은 캔류, 플라스틱은 플라스틱류) 따로 버리세요.',
        source: 'llm',
      },
    });
  });

  it('POST /recycling/feedback falls back to the rules when the LLM is down, and answers empty items', async () => {
    standin.setHandler(() => reply.serverError());
    const res = await post('/feedback', { items: [{ categoryId: 'paper' }], locale: 'en' });
    expect(res.status).toBe(200);
    expect(res.body.coaching.source).toBe('rules');
    expect(res.body.coaching.message).toMatch(/^Paper → paper recycling bin\n1\. First remove/);
    const empty = await post('/feedback', { items: [], hint: '페트병' });
    expect(empty.status).toBe(200);
    expect(empty.body.coaching).toEqual({
      message: expect.stringContaining('다른 각도'),
      source: 'rules',
    });
  });

  it.each([
    [{ items: [{ categoryId: 'paper' }], extra: true }, 'extra'],
    [{ items: [{ categoryId: 'paper', colour: 'red' }] }, 'items.0.colour'],
    [{ items: [{ categoryId: 'moon-rock' }] }, 'items.0.categoryId'],
    [{}, 'items'],
    [{ items: [], hint: 'x'.repeat(201) }, 'hint'],
    [{ items: [], locale: 'de' }, 'locale'],
  ])('POST /recycling/feedback rejects %j (400 on %s)', async (body, field) => {
    const res = await post('/feedback', body);
    expect(res.status).toBe(400);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('requires a bearer token', async () => {
    for (const [method, path] of [
      ['GET', '/categories'],
      ['GET', '/search?q=a'],
      ['POST', '/feedback'],
    ]) {
      const res = await fetch(`${api}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ items: [] }) } : {}),
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as Json).code).toBe('UNAUTHORIZED');
    }
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${app.url}/docs-json`)).json()) as Json;
    for (const path of [
      '/api/v1/recycling/categories',
      '/api/v1/recycling/categories/{id}',
      '/api/v1/recycling/search',
      '/api/v1/recycling/feedback',
    ]) {
      expect(doc.paths[path]).toBeDefined();
    }
  });
});
