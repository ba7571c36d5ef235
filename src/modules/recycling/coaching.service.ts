import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { Metrics } from '../../core/observability/metrics';
import { RedisService } from '../../core/redis/redis.service';
import { checkAnswer } from './coaching/coaching-check';
import {
  GroundedItem,
  nothingRecognisedMessage,
  redirectsOf,
  ruleMessage,
} from './coaching/coaching-rules';
import { LLM_COACH, LlmCoachDriver, LlmCoachError } from './coaching/llm-coach.driver';
import { CategoryRecord } from './knowledge/knowledge-base.schema';
import { RecyclingService } from './recycling.service';
import { Locale } from './recycling.types';
import { normalize } from './search/text-normalize.util';

export interface CoachInput {
  items: { categoryId: string; label?: string }[];
  hint?: string;
  locale?: Locale;
}

export interface CoachResult {
  message: string;
  source: 'llm' | 'rules';
  cached: boolean;
}

/** Why the answer came from where it came: the `reason` label of recycling_coaching_total. */
export type CoachingReason =
  | 'ok'
  | 'cache'
  | 'disabled'
  | 'no_items'
  | 'contradiction'
  | 'invalid'
  | 'refusal'
  | 'rate_limited'
  | 'timeout'
  | 'unavailable'
  | 'error';

const SYSTEM_PROMPT = {
  ko: `당신은 한국의 생활폐기물 분리배출 코치입니다. 사용자가 버리려는 물건과, 그 물건에 적용되는 공식 분리배출 규칙이 JSON으로 주어집니다.
규칙에 적힌 내용만 사용해 짧고 친절한 한국어 안내(3~4문장, 400자 이내)를 쓰세요.
- 배출할 곳(bin)은 주어진 bin 문구 그대로 적으세요.
- 규칙에 없는 다른 수거함이나 배출 방법을 지어내지 마세요.
- 가장 먼저 할 일(steps의 순서)과 가장 중요한 주의사항 하나를 포함하세요.
JSON으로만 답하세요: {"message": 안내 문장, "bins": 안내에서 말한 bin 문구 목록}.`,
  en: `You are a household recycling coach for residents of South Korea. You receive the items a user wants to throw away and the official Korean disposal rule for each, as JSON.
Write a short, friendly answer in English (3–4 sentences, under 400 characters) using only what the rules say.
- Name where it goes using the given bin text exactly.
- Never invent another bin or disposal method that the rules do not mention.
- Include what to do first (the steps, in order) and the single most important caution.
Answer only with JSON: {"message": the answer, "bins": the bin texts you named}.`,
};

/**
 * Coaching text for a classification: the pipeline's coaching step and POST /recycling/feedback.
 * With an LLM the message is grounded on the rule text and checked (no other bin may be named);
 * anything off — refusal, bad JSON, contradiction, 429, timeout, outage — falls back to the rule
 * text. Good LLM answers are cached in Redis per (categories, labels, locale) for CACHE_TTL_DAYS.
 */
@Injectable()
export class CoachingService {
  private readonly logger = new Logger(CoachingService.name);
  private readonly outcomes: Counter<'source' | 'reason'>;
  private readonly cacheLookups: Counter<'result'>;
  private readonly rulesVersion: string;

  constructor(
    private readonly recycling: RecyclingService,
    @Inject(LLM_COACH) private readonly llm: LlmCoachDriver,
    private readonly redis: RedisService,
    metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.outcomes = metrics.counter(
      'recycling_coaching_total',
      'Coaching answers by source (llm, rules) and reason (ok, cache, disabled, no_items, contradiction, invalid, refusal, rate_limited, timeout, unavailable, error)',
      ['source', 'reason'],
    );
    this.cacheLookups = metrics.counter(
      'recycling_coaching_cache_total',
      'Coaching cache lookups by result (hit, miss, error)',
      ['result'],
    );
    const records = recycling.categoryIds.map((id) => recycling.categoryRecord(id));
    this.rulesVersion = createHash('sha256')
      .update(JSON.stringify(records))
      .digest('hex')
      .slice(0, 12);
  }

  async coach(input: CoachInput): Promise<CoachResult> {
    const locale: Locale = input.locale ?? 'ko';
    const items = this.ground(input.items);
    if (!items.length) {
      const fromHint = input.hint ? this.groundHint(input.hint) : undefined;
      return this.rules(nothingRecognisedMessage(locale, fromHint, input.hint?.trim()), 'no_items');
    }
    const fallback = ruleMessage(items, locale);

    const key = this.cacheKey(items, locale);
    const cached = await this.readCache(key);
    if (cached) {
      this.outcomes.labels('llm', 'cache').inc();
      return { message: cached, source: 'llm', cached: true };
    }

    const detected = uniqueCategories(items);
    try {
      const answer = await this.llm.complete({
        system: SYSTEM_PROMPT[locale],
        user: JSON.stringify({ locale, items: items.map((i) => this.promptItem(i, locale)) }),
        bins: detected.map((c) => c.bin[locale]),
      });
      const all = this.recycling.categoryIds.map(
        (id) => this.recycling.categoryRecord(id) as CategoryRecord,
      );
      const check = checkAnswer(answer, detected, all, redirectsOf(items), locale);
      if (!check.ok) {
        this.logger.warn(`LLM coaching rejected (${check.reason}): ${check.detail}`);
        return this.rules(fallback, check.reason);
      }
      const message = answer.message.trim();
      await this.writeCache(key, message);
      this.outcomes.labels('llm', 'ok').inc();
      return { message, source: 'llm', cached: false };
    } catch (err) {
      const reason = err instanceof LlmCoachError ? err.reason : 'error';
      // LLM_PROVIDER=none is a choice, not a failure worth a warning on every message.
      if (reason !== 'disabled') {
        this.logger.warn(
          `LLM coaching failed (${reason}): ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      return this.rules(fallback, reason);
    }
  }

  private rules(message: string, reason: CoachingReason): CoachResult {
    this.outcomes.labels('rules', reason).inc();
    return { message, source: 'rules', cached: false };
  }

  /** Known categories only, each with the item its label names (for the item's own tip). */
  private ground(items: CoachInput['items']): GroundedItem[] {
    const out: GroundedItem[] = [];
    const seen = new Set<string>();
    for (const { categoryId, label } of items) {
      const category = this.recycling.categoryRecord(categoryId);
      // Three detections of the same thing are one classification (and one cache entry).
      const key = `${categoryId}|${normalize(label ?? '')}`;
      if (!category || seen.has(key)) continue;
      seen.add(key);
      const match = label ? this.recycling.mapLabel('', label) : undefined;
      const item =
        match?.itemName && match.categoryId === categoryId
          ? this.recycling.findItem(match.itemName)
          : undefined;
      out.push({
        category,
        label: label?.trim() || undefined,
        itemName: item?.name,
        itemNameEn: item?.nameEn,
        tip: item?.tip,
        redirects: item?.redirects,
      });
    }
    return out;
  }

  private groundHint(hint: string): GroundedItem | undefined {
    const match = this.recycling.resolveHint(hint);
    const category = match && this.recycling.categoryRecord(match.categoryId);
    if (!category) return undefined;
    const item = match.itemName ? this.recycling.findItem(match.itemName) : undefined;
    return { category, itemName: item?.name, itemNameEn: item?.nameEn, tip: item?.tip };
  }

  private promptItem(i: GroundedItem, locale: Locale) {
    const c = i.category;
    return {
      detectedAs: i.label ?? null,
      item: (locale === 'en' ? i.itemNameEn : i.itemName) ?? null,
      category: c.name[locale],
      bin: c.bin[locale],
      steps: c.steps[locale],
      cautions: c.cautions[locale],
      itemTip: i.tip?.[locale] ?? null,
    };
  }

  private cacheKey(items: GroundedItem[], locale: Locale): string {
    const parts = items.map((i) => `${i.category.id}|${normalize(i.label ?? '')}`).sort();
    const digest = createHash('sha256')
      .update(JSON.stringify([this.rulesVersion, this.llm.model, locale, parts]))
      .digest('hex')
      .slice(0, 40);
    return this.redis.key('recycling', 'coach', digest);
  }

  private async readCache(key: string): Promise<string | undefined> {
    try {
      const value = await this.redis.client.get(key);
      this.cacheLookups.labels(value ? 'hit' : 'miss').inc();
      return value ?? undefined;
    } catch (err) {
      this.cacheLookups.labels('error').inc();
      this.logger.warn(`coaching cache read failed: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async writeCache(key: string, message: string): Promise<void> {
    try {
      await this.redis.client.set(key, message, 'EX', this.config.CACHE_TTL_DAYS * 86400);
    } catch (err) {
      this.logger.warn(`coaching cache write failed: ${(err as Error).message}`);
    }
  }
}

function uniqueCategories(items: GroundedItem[]): CategoryRecord[] {
  const seen = new Map<string, CategoryRecord>();
  for (const i of items) seen.set(i.category.id, i.category);
  return [...seen.values()];
}
