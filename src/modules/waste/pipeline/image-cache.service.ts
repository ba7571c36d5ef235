import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { Metrics } from '../../../core/observability/metrics';
import { RedisService } from '../../../core/redis/redis.service';
import { ClassifiedItem } from '../jobs/job.types';
import { colourDistance, hammingHex } from './image-processing';

/**
 * Where a cached answer came from: the vision provider (or the user's hint with `none`), or
 * the consensus of several accounts' corrections, or an operator's review (docs/pipeline.md →
 * Corrections).
 */
export type CacheSource = 'vision' | 'consensus' | 'operator';

export interface CachedClassification {
  items: ClassifiedItem[];
  model: string;
  visionMs: number | null;
  /** Absent in entries written before sources were recorded: those came from vision. */
  source?: CacheSource;
}

export interface CacheHit {
  kind: 'exact' | 'similar';
  sha256: string;
  distance: number;
  value: CachedClassification;
}

/**
 * dHash bands: a copy within 7 bits shares at least one 8-bit band for sure (pigeonhole), and
 * one within 8–10 bits almost always does (9 flips leave ~2 of 8 bands untouched on average).
 * Measured (image-processing.spec): re-encoded, resized, 3 %-cropped copies differ by 0–9 bits,
 * different photos by 16 or more.
 */
const BANDS = 8;
const MAX_DISTANCE = 10;
/** Re-encoding and small crops move a 3×3 colour thumbnail by a few units; another colour by far more. */
const MAX_COLOUR_DISTANCE = 32;

/**
 * image → classification, in Redis for CACHE_TTL_DAYS. Exact hits by SHA-256 of the uploaded
 * bytes; near-identical photos (re-encoded, resized, slightly cropped) by the dHash, found
 * through band buckets so the lookup never scans the whole cache.
 */
@Injectable()
export class ImageCacheService {
  private readonly lookups;

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: Metrics,
  ) {
    this.lookups = metrics.counter(
      'waste_cache_lookups_total',
      'Image cache lookups by kind and result',
      ['kind', 'result'],
    );
  }

  private get ttl(): number {
    return this.config.CACHE_TTL_DAYS * 86400;
  }

  private entryKey(sha: string): string {
    return this.redis.key('waste', 'img', sha);
  }

  private bandKey(i: number, fp: string): string {
    return this.redis.key('waste', 'phash', i, fp.slice(i * 2, i * 2 + 2));
  }

  /** `fp` is image-processing's fingerprint: `<dhash hex>.<colour hex>`. */
  async lookup(sha: string, fp: string): Promise<CacheHit | undefined> {
    const [phash, colour] = fp.split('.');
    const exact = await this.redis.client.get(this.entryKey(sha));
    if (exact) {
      this.lookups.labels('exact', 'hit').inc();
      return {
        kind: 'exact',
        sha256: sha,
        distance: 0,
        value: JSON.parse(exact) as CachedClassification,
      };
    }
    const pipeline = this.redis.client.pipeline();
    for (let i = 0; i < BANDS; i++) pipeline.smembers(this.bandKey(i, phash));
    const results = (await pipeline.exec()) ?? [];
    let best: { sha: string; distance: number } | undefined;
    const seen = new Set<string>();
    for (const [, members] of results) {
      for (const m of (members as string[] | null) ?? []) {
        if (seen.has(m)) continue;
        seen.add(m);
        const [candidateFp, candidateSha] = m.split(':');
        const [candidateHash, candidateColour] = candidateFp.split('.');
        const d = hammingHex(phash, candidateHash);
        if (d > MAX_DISTANCE || (best && d >= best.distance)) continue;
        if (colourDistance(colour ?? '', candidateColour ?? '') > MAX_COLOUR_DISTANCE) continue;
        best = { sha: candidateSha, distance: d };
      }
    }
    if (best) {
      const value = await this.redis.client.get(this.entryKey(best.sha));
      if (value) {
        this.lookups.labels('similar', 'hit').inc();
        return {
          kind: 'similar',
          sha256: best.sha,
          distance: best.distance,
          value: JSON.parse(value) as CachedClassification,
        };
      }
    }
    this.lookups.labels('image', 'miss').inc();
    return undefined;
  }

  async store(sha: string, fp: string, value: CachedClassification): Promise<void> {
    const member = `${fp}:${sha}`;
    const m = this.redis.client
      .multi()
      .set(this.entryKey(sha), JSON.stringify(value), 'EX', this.ttl);
    for (let i = 0; i < BANDS; i++) {
      m.sadd(this.bandKey(i, fp), member).expire(this.bandKey(i, fp), this.ttl);
    }
    await m.exec();
  }

  /** Band members whose entry expired (sets outlive entries when refreshed); for sched.cleanup.cache. */
  async pruneBands(): Promise<number> {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.client.scan(
        cursor,
        'MATCH',
        this.redis.key('waste', 'phash', '*'),
        'COUNT',
        500,
      );
      cursor = next;
      for (const key of keys) {
        const members = await this.redis.client.smembers(key);
        const shas = members.map((m) => m.split(':')[1]);
        if (!shas.length) continue;
        const exists = await this.redis.client.mget(...shas.map((s) => this.entryKey(s)));
        const dead = members.filter((_, i) => exists[i] === null);
        if (dead.length) removed += await this.redis.client.srem(key, ...dead);
      }
    } while (cursor !== '0');
    return removed;
  }
}
