import { Global, Module } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { loadConfig } from '../../src/core/config/app-config';
import { DatabaseModule } from '../../src/core/database/database.module';
import { ConfigModule } from '../../src/core/config/config.module';
import { Metrics } from '../../src/core/observability/metrics';
import { RedisModule } from '../../src/core/redis/redis.module';
import { RedisService } from '../../src/core/redis/redis.service';
import { CoachingService } from '../../src/modules/recycling/coaching.service';
import { createLlmCoach } from '../../src/modules/recycling/coaching/llm-coach.factory';
import { RecyclingModule } from '../../src/modules/recycling/recycling.module';
import { RecyclingService } from '../../src/modules/recycling/recycling.service';
import { testConfig } from '../support/app';
import { Isolation, isolate } from '../support/isolation';
import {
  ChatRequestBody,
  OpenAiStandin,
  StandinReply,
  reply,
  startOpenAiStandin,
} from '../support/standins/openai.standin';

@Global()
@Module({ providers: [Metrics], exports: [Metrics] })
class MetricsOnlyModule {}

interface PromptItem {
  item: string | null;
  category: string;
  bin: string;
  steps: string[];
  cautions: string[];
  itemTip: string | null;
}

const promptOf = (body: ChatRequestBody) =>
  JSON.parse(String(body.messages[1].content)) as { locale: string; items: PromptItem[] };

/** A model that follows the instructions: names the given bin and repeats the first step. */
function compliantModel(body: ChatRequestBody): StandinReply {
  const { locale, items } = promptOf(body);
  const message = items
    .map((i) =>
      locale === 'en'
        ? `Put the ${i.item ?? i.category} in the ${i.bin}. ${i.steps[0]}`
        : `${i.item ?? i.category}은(는) ${i.bin}에 버려 주세요. ${i.steps[0]}`,
    )
    .join(' ');
  return reply.json({ message, bins: [...new Set(items.map((i) => i.bin))] });
}

describe('coaching (LLM grounded on the rules, with rule-text fallback)', () => {
  let iso: Isolation;
  let standin: OpenAiStandin;
  let moduleRef: TestingModule;
  let coaching: CoachingService;
  let recycling: RecyclingService;
  let redis: RedisService;
  let metrics: Metrics;

  const counter = async (source: string, reason: string): Promise<number> => {
    const m = await metrics.registry.getSingleMetric('recycling_coaching_total')?.get();
    return (
      m?.values.find((v) => v.labels.source === source && v.labels.reason === reason)?.value ?? 0
    );
  };
  const cacheCounter = async (result: string): Promise<number> => {
    const m = await metrics.registry.getSingleMetric('recycling_coaching_cache_total')?.get();
    return m?.values.find((v) => v.labels.result === result)?.value ?? 0;
  };

  beforeAll(async () => {
    iso = await isolate('coaching');
    standin = await startOpenAiStandin({ apiKey: 'sk-standin' });
    // The external worker's view: services only, no controllers (the coaching step runs there).
    const config = testConfig(iso, {
      APP_ROLE: 'external',
      LLM_PROVIDER: 'openai',
      OPENAI_BASE_URL: standin.url,
      OPENAI_API_KEY: 'sk-standin',
      OPENAI_MODEL: 'gpt-standin',
      LLM_TIMEOUT_MS: '1500',
      LLM_MAX_RETRIES: '1',
    });
    moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot(config),
        MetricsOnlyModule,
        RedisModule,
        // RecyclingModule's disposal schedules read PostgreSQL (not used by these tests).
        DatabaseModule.forRoot(),
        RecyclingModule,
      ],
    }).compile();
    await moduleRef.init();
    coaching = moduleRef.get(CoachingService);
    recycling = moduleRef.get(RecyclingService);
    redis = moduleRef.get(RedisService);
    metrics = moduleRef.get(Metrics);
  });
  afterAll(async () => {
    await moduleRef?.close();
    await standin?.close();
    await iso?.cleanup();
  });
  beforeEach(() => standin.reset());

  it('good answer → source llm, grounded request with a strict schema', async () => {
    standin.setHandler(compliantModel);
    const before = await counter('llm', 'ok');
    const result = await coaching.coach({
      items: [{ categoryId: 'clear-pet', label: 'Clear plastic bottle' }],
    });
    expect(result.source).toBe('llm');
    expect(result.cached).toBe(false);
    expect(result.message).toBe(
      '투명 페트병은(는) 투명 페트병 전용 수거함에 버려 주세요. 내용물을 비우고 물로 헹구세요.',
    );
    expect(await counter('llm', 'ok')).toBe(before + 1);

    expect(standin.requests).toHaveLength(1);
    const req = standin.requests[0];
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.authorization).toBe('Bearer sk-standin');
    expect(req.body.model).toBe('gpt-standin');
    expect(req.body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: {
        strict: true,
        schema: {
          additionalProperties: false,
          required: ['message', 'bins'],
          properties: { bins: { items: { enum: ['투명 페트병 전용 수거함'] } } },
        },
      },
    });
    const prompt = promptOf(req.body);
    const rule = recycling.getCategory('clear-pet')!;
    expect(prompt.items[0]).toMatchObject({
      bin: rule.bin,
      steps: rule.steps,
      cautions: rule.cautions,
    });
    expect(String(req.body.messages[0].content)).toContain('규칙에 적힌 내용만');
  });

  it('second identical call is served from the cache (TTL CACHE_TTL_DAYS); locale is part of the key', async () => {
    standin.setHandler(compliantModel);
    const input = { items: [{ categoryId: 'can-metal', label: 'Drink can' }] };
    const hitsBefore = await cacheCounter('hit');
    const first = await coaching.coach(input);
    expect(first).toMatchObject({ source: 'llm', cached: false });
    const second = await coaching.coach({
      items: [
        { categoryId: 'can-metal', label: ' drink  CAN ' },
        { categoryId: 'can-metal', label: 'Drink can' },
      ],
    });
    expect(second).toEqual({ message: first.message, source: 'llm', cached: true });
    expect(standin.requests).toHaveLength(1);
    expect(await cacheCounter('hit')).toBe(hitsBefore + 1);

    const keys = await redis.client.keys(`${iso.redisPrefix}:recycling:coach:*`);
    expect(keys.length).toBeGreaterThanOrEqual(1);
    const ttls = await Promise.all(keys.map((k) => redis.client.ttl(k)));
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(7 * 86400 - 60);
      expect(ttl).toBeLessThanOrEqual(7 * 86400);
    }

    const english = await coaching.coach({ ...input, locale: 'en' });
    expect(english).toMatchObject({ source: 'llm', cached: false });
    expect(english.message).toBe('Put the drink can in the can bin. Empty it and rinse it.');
    expect(standin.requests).toHaveLength(2);
  });

  it('an answer that names a different bin falls back to the rule text (and is not cached)', async () => {
    standin.setHandler(() =>
      reply.json({
        message: '건전지는 음식물 쓰레기 수거함에 버리면 돼요. 폐건전지 수거함까지 갈 필요 없어요.',
        bins: ['폐건전지 수거함'],
      }),
    );
    const before = await counter('rules', 'contradiction');
    const input = { items: [{ categoryId: 'battery', label: 'AA battery' }] };
    const result = await coaching.coach(input);
    expect(result).toMatchObject({ source: 'rules', cached: false });
    expect(result.message.split('\n')[0]).toBe('건전지 → 폐건전지 수거함');
    expect(result.message).toContain('1. 제품에서 빼낼 수 있는 건전지는 빼내세요.');
    expect(result.message).not.toContain('음식물');
    expect(await counter('rules', 'contradiction')).toBe(before + 1);

    await coaching.coach(input);
    expect(standin.requests).toHaveLength(2);
  });

  it('structured bins naming another category fall back too', async () => {
    standin.setHandler(() =>
      reply.json({ message: '우유팩은 종이팩 전용 수거함에 넣으세요.', bins: ['종이류 수거함'] }),
    );
    const result = await coaching.coach({ items: [{ categoryId: 'paper-pack', label: '우유팩' }] });
    expect(result.source).toBe('rules');
    expect(result.message).toContain('우유팩 → 종이팩 전용 수거함');
  });

  it('an answer may name a bin the rule redirects part of the item to (greasy pizza box → paper)', async () => {
    standin.setHandler(() =>
      reply.json({
        message:
          '기름 묻은 피자 박스는 종량제 봉투에 버려 주세요. 깨끗한 부분만 잘라 종이류로 내놓으면 돼요.',
        bins: ['종량제 봉투'],
      }),
    );
    const result = await coaching.coach({
      items: [{ categoryId: 'general-waste', label: 'greasy pizza box' }],
    });
    expect(result.source).toBe('llm');
  });

  it('refusal → rules', async () => {
    standin.setHandler(() => reply.refusal());
    const before = await counter('rules', 'refusal');
    const result = await coaching.coach({
      items: [{ categoryId: 'vinyl', label: 'Plastic film' }],
    });
    expect(result.source).toBe('rules');
    expect(result.message).toContain('비닐 포장재 → 비닐류 수거함');
    expect(await counter('rules', 'refusal')).toBe(before + 1);
  });

  it('429 rate_limit_exceeded → retried LLM_MAX_RETRIES times, then rules', async () => {
    standin.setHandler(() => reply.rateLimited({ retryAfterMs: 10 }));
    const before = await counter('rules', 'rate_limited');
    const result = await coaching.coach({ items: [{ categoryId: 'styrofoam' }] });
    expect(result.source).toBe('rules');
    expect(result.message).toContain('발포합성수지(스티로폼) → 스티로폼 수거함');
    expect(standin.requests).toHaveLength(2);
    expect(await counter('rules', 'rate_limited')).toBe(before + 1);
  });

  it('429 insufficient_quota is not retried', async () => {
    standin.setHandler(() => reply.insufficientQuota());
    const result = await coaching.coach({ items: [{ categoryId: 'lamp' }] });
    expect(result.source).toBe('rules');
    expect(standin.requests).toHaveLength(1);
  });

  it('server error → rules after one retry', async () => {
    standin.setHandler(() => reply.serverError());
    const before = await counter('rules', 'unavailable');
    const result = await coaching.coach({ items: [{ categoryId: 'clothing' }] });
    expect(result.source).toBe('rules');
    expect(standin.requests).toHaveLength(2);
    expect(await counter('rules', 'unavailable')).toBe(before + 1);
  });

  it('timeout → rules within LLM_TIMEOUT_MS (retries included)', async () => {
    // The model would answer after 8 s; the deadline (1.5 s) must cut that short. The upper bound
    // is generous (a loaded CI machine) yet below what ignoring the deadline would take.
    standin.setBehaviour({ latencyMs: 8000, handler: compliantModel });
    const before = await counter('rules', 'timeout');
    const started = Date.now();
    const result = await coaching.coach({ items: [{ categoryId: 'medicine', label: 'pills' }] });
    const elapsed = Date.now() - started;
    expect(result.source).toBe('rules');
    expect(result.message).toContain('알약 → 폐의약품 수거함');
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(6000);
    expect(await counter('rules', 'timeout')).toBe(before + 1);
  });

  it('content that is not JSON, or truncated → rules', async () => {
    standin.setHandler(() => reply.text('그냥 버리세요'));
    expect((await coaching.coach({ items: [{ categoryId: 'food-waste' }] })).source).toBe('rules');
    standin.setHandler(() => reply.truncated('{"message": "음식물'));
    expect((await coaching.coach({ items: [{ categoryId: 'food-waste' }] })).source).toBe('rules');
  });

  it('an answer in the wrong language → rules', async () => {
    standin.setHandler(() =>
      reply.json({
        message: 'Please put this food waste in the bin for food, the 음식물 쓰레기 수거함.',
        bins: [],
      }),
    );
    const result = await coaching.coach({ items: [{ categoryId: 'food-waste' }], locale: 'ko' });
    expect(result.source).toBe('rules');
  });

  it('no items → "nothing recognised" rule text (with the hint\'s guess); the LLM is not called', async () => {
    const plain = await coaching.coach({ items: [] });
    expect(plain).toMatchObject({ source: 'rules', cached: false });
    expect(plain.message).toContain('다른 각도');
    const withHint = await coaching.coach({ items: [], hint: '보조배터리' });
    expect(withHint.message).toContain(
      '보조배터리일 가능성이 높아요. 폐건전지 수거함에 버려 주세요.',
    );
    const english = await coaching.coach({ items: [], hint: 'pizza box', locale: 'en' });
    expect(english.message).toMatch(
      /^From your hint \("pizza box"\) it is probably pizza box: paper recycling bin\./,
    );
    expect(english.message).toContain('another angle');
    expect(standin.requests).toHaveLength(0);
  });

  it('unknown category ids are ignored', async () => {
    const result = await coaching.coach({ items: [{ categoryId: 'moon-rock' }] });
    expect(result.message).toContain('다른 각도');
    expect(standin.requests).toHaveLength(0);
  });

  it('a bad ROBOFLOW_LABEL_MAP stops the boot, naming the variable; a good one is used', async () => {
    const boot = (overrides: Record<string, string>) => {
      const config = testConfig(iso, { APP_ROLE: 'external', ...overrides });
      return Test.createTestingModule({
        imports: [
          ConfigModule.forRoot(config),
          MetricsOnlyModule,
          RedisModule,
          // RecyclingModule's disposal schedules read PostgreSQL (not used by these tests).
          DatabaseModule.forRoot(),
          RecyclingModule,
        ],
      }).compile();
    };
    await expect(boot({ ROBOFLOW_LABEL_MAP: '/nonexistent/map.yaml' })).rejects.toThrow(
      /ROBOFLOW_LABEL_MAP: file not found: \/nonexistent\/map\.yaml/,
    );
    const ok = await boot({ ROBOFLOW_LABEL_MAP: 'naver-connect', ROBOFLOW_MODEL: 'kr-trash/7' });
    try {
      expect(ok.get(RecyclingService).mapLabel('kr-trash/7', 'Paper pack')).toEqual({
        categoryId: 'paper-pack',
        itemName: '우유팩',
      });
    } finally {
      await ok.close();
    }
  });

  it('LLM_PROVIDER=none → rule text straight away', async () => {
    const config = loadConfig({ ...iso.env, LLM_PROVIDER: 'none' });
    const rulesOnly = new CoachingService(
      recycling,
      createLlmCoach(config),
      redis,
      metrics,
      config,
    );
    const result = await rulesOnly.coach({
      items: [
        { categoryId: 'clear-pet', label: '생수병' },
        { categoryId: 'plastic', label: '페트병 뚜껑' },
      ],
    });
    expect(result.source).toBe('rules');
    expect(result.message).toContain('생수병 → 투명 페트병 전용 수거함');
    expect(result.message).toContain('주의: 라벨을 떼고 찌그러뜨린 뒤 뚜껑을 닫아');
    expect(result.message).toContain('플라스틱 병뚜껑 → 플라스틱류 수거함');
    expect(standin.requests).toHaveLength(0);
  });
});
