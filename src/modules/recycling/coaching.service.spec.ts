import { AppConfig } from '../../core/config/app-config';
import { Metrics } from '../../core/observability/metrics';
import { RedisService } from '../../core/redis/redis.service';
import { CoachingService } from './coaching.service';
import { LlmCoachAnswer } from './coaching/coaching-check';
import {
  LlmCoachDriver,
  LlmCoachError,
  LlmCoachRequest,
  NoLlmCoach,
} from './coaching/llm-coach.driver';
import { loadKnowledgeBase } from './knowledge/knowledge-base.loader';
import { RecyclingService } from './recycling.service';

/** Redis as a Map: the service only gets and sets strings. */
function memoryRedis() {
  const store = new Map<string, string>();
  const redis = {
    key: (...parts: (string | number)[]) => ['t', ...parts].join(':'),
    client: {
      get: (k: string) => Promise.resolve(store.get(k) ?? null),
      set: (k: string, v: string) => Promise.resolve(void store.set(k, v)),
    },
  } as unknown as RedisService;
  return { redis, store };
}

/** An LLM driver that answers from a script and remembers what it was asked. */
class ScriptedCoach implements LlmCoachDriver {
  readonly name = 'openai' as const;
  readonly model = 'scripted';
  readonly requests: LlmCoachRequest[] = [];
  constructor(private readonly answer: (req: LlmCoachRequest) => LlmCoachAnswer) {}
  complete(req: LlmCoachRequest): Promise<LlmCoachAnswer> {
    this.requests.push(req);
    return Promise.resolve().then(() => this.answer(req));
  }
}

describe('CoachingService with its LLM driver and Redis replaced', () => {
  const recycling = new RecyclingService(loadKnowledgeBase());
  const config = { CACHE_TTL_DAYS: 1 } as AppConfig;
  const service = (llm: LlmCoachDriver) => {
    const { redis, store } = memoryRedis();
    return { coaching: new CoachingService(recycling, llm, redis, new Metrics(), config), store };
  };
  const pet = { items: [{ categoryId: 'clear-pet', label: '생수병' }] };

  it('the none driver: rule text, never cached', async () => {
    const { coaching, store } = service(new NoLlmCoach());
    const result = await coaching.coach(pet);
    expect(result).toMatchObject({ source: 'rules', cached: false });
    expect(result.message).toContain('투명 페트병 전용 수거함');
    expect(store.size).toBe(0);
  });

  it('a grounded answer is used, then served from the cache without asking again', async () => {
    const llm = new ScriptedCoach((req) => ({
      message: `라벨을 떼고 ${req.bins[0]}에 넣으세요.`,
      bins: [req.bins[0]],
    }));
    const { coaching } = service(llm);
    const first = await coaching.coach(pet);
    expect(first).toEqual({
      message: '라벨을 떼고 투명 페트병 전용 수거함에 넣으세요.',
      source: 'llm',
      cached: false,
    });
    expect(llm.requests[0].bins).toEqual(['투명 페트병 전용 수거함']);
    expect(JSON.parse(llm.requests[0].user)).toMatchObject({ locale: 'ko' });
    expect(await coaching.coach(pet)).toMatchObject({ source: 'llm', cached: true });
    expect(llm.requests).toHaveLength(1);
  });

  it('an answer naming another bin falls back to the rule text', async () => {
    const llm = new ScriptedCoach(() => ({ message: '종량제 봉투에 버리세요.', bins: [] }));
    const { coaching, store } = service(llm);
    expect(await coaching.coach(pet)).toMatchObject({ source: 'rules' });
    expect(store.size).toBe(0);
  });

  it('a driver failure falls back to the rule text', async () => {
    const llm = new ScriptedCoach(() => {
      throw new LlmCoachError('rate_limited', '429');
    });
    const { coaching } = service(llm);
    expect(await coaching.coach(pet)).toMatchObject({ source: 'rules', cached: false });
  });

  it('nothing recognised: no LLM call, the hint grounds the message', async () => {
    const llm = new ScriptedCoach(() => ({ message: 'x', bins: [] }));
    const { coaching } = service(llm);
    const result = await coaching.coach({ items: [], hint: '페트병' });
    expect(result.source).toBe('rules');
    expect(llm.requests).toHaveLength(0);
  });
});
