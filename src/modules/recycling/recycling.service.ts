import { Inject, Injectable } from '@nestjs/common';
import { KnowledgeBase } from './knowledge/knowledge-base.loader';
import { CategoryRecord, ItemRecord } from './knowledge/knowledge-base.schema';
import {
  CategoryGuidance,
  CategoryView,
  LabelMatch,
  Locale,
  SearchResultItem,
} from './recycling.types';
import { TermIndex, TermHit } from './search/term-index';
import { normalize } from './search/text-normalize.util';

export {
  CATEGORY_IDS,
  LOCALES,
  LOCATION_TYPES,
  type CategoryGuidance,
  type CategoryId,
  type CategoryView,
  type LabelMatch,
  type Locale,
  type LocationType,
  type SearchResultItem,
} from './recycling.types';

export const KNOWLEDGE_BASE = Symbol('RECYCLING_KNOWLEDGE_BASE');

const ALIAS_WEIGHT = 0.97;
const TYPO_WEIGHT = 0.95;
const EXAMPLES_PER_CATEGORY = 8;

/**
 * The disposal knowledge base in memory: categories with their rules, items with aliases, label
 * maps per vision model, and the item search index (built once, at boot).
 */
@Injectable()
export class RecyclingService {
  private readonly categories = new Map<string, CategoryRecord>();
  private readonly itemsByName = new Map<string, ItemRecord>();
  private readonly categoryNames = new Map<string, string>();
  private readonly index: TermIndex<ItemRecord>;

  constructor(@Inject(KNOWLEDGE_BASE) private readonly kb: KnowledgeBase) {
    for (const c of kb.categories) {
      this.categories.set(c.id, c);
      for (const n of [c.id, c.name.ko, c.name.en]) this.categoryNames.set(normalize(n), c.id);
    }
    for (const item of kb.items) this.itemsByName.set(normalize(item.name), item);
    this.index = new TermIndex(
      kb.items.map((item) => ({
        doc: item,
        terms: [
          { text: item.name, weight: 1 },
          { text: item.nameEn, weight: 1 },
          ...item.aliases.map((text) => ({ text, weight: ALIAS_WEIGHT })),
          ...(item.typos ?? []).map((text) => ({ text, weight: TYPO_WEIGHT })),
        ],
      })),
    );
  }

  /** Category ids in data order (the same set as CATEGORY_IDS). */
  get categoryIds(): string[] {
    return [...this.categories.keys()];
  }

  listCategories(locale: Locale = 'ko'): CategoryGuidance[] {
    return this.kb.categories.map((c) => this.guidance(c, locale));
  }

  getCategory(id: string, locale: Locale = 'ko'): CategoryGuidance | undefined {
    const c = this.categories.get(id);
    return c && this.guidance(c, locale);
  }

  /** docs/api.md `Category`: guidance plus a few example item names. */
  getCategoryView(id: string, locale: Locale = 'ko'): CategoryView | undefined {
    const c = this.categories.get(id);
    if (!c) return undefined;
    const examples = this.kb.items
      .filter((i) => i.category === id)
      .slice(0, EXAMPLES_PER_CATEGORY)
      .map((i) => (locale === 'en' ? i.nameEn : i.name));
    return { ...this.guidance(c, locale), examples };
  }

  listCategoryViews(locale: Locale = 'ko'): CategoryView[] {
    return this.kb.categories.map((c) => this.getCategoryView(c.id, locale) as CategoryView);
  }

  private readonly categoriesJsonByLocale = new Map<Locale, Buffer>();

  /**
   * `listCategoryViews` as the JSON the API sends, built once per locale: the knowledge base does
   * not change while the process runs, and rebuilding and serializing every view (each scans
   * the items for its examples) was most of the endpoint's cost (docs/benchmarks.md). Kept as
   * UTF-8 bytes: a string body (16 KB, mostly Korean) is measured and encoded again on every
   * send.
   */
  categoriesJson(locale: Locale = 'ko'): Buffer {
    let json = this.categoriesJsonByLocale.get(locale);
    if (json === undefined) {
      json = Buffer.from(JSON.stringify(this.listCategoryViews(locale)));
      this.categoriesJsonByLocale.set(locale, json);
    }
    return json;
  }

  /** The raw record (both languages, bin terms, sources) for coaching and tests. */
  categoryRecord(id: string): CategoryRecord | undefined {
    return this.categories.get(id);
  }

  /** An item by its Korean name (normalised), e.g. the `itemName` from mapLabel/resolveHint. */
  findItem(name: string): ItemRecord | undefined {
    return this.itemsByName.get(normalize(name));
  }

  /** Models with a label map (built-in and the operator's). */
  labelMapModels(): { model: string; labels: string[] }[] {
    return [...this.kb.labelMaps.entries()].map(([model, m]) => ({ model, labels: m.rawLabels }));
  }

  /**
   * Maps a vision label to a category for the given model key ('trashnet' | 'taco' |
   * 'naver-connect' | the operator's ROBOFLOW_MODEL | 'openai'). Case/space-insensitive. Order:
   * the model's own map, a category id or name (the OpenAI provider answers with ids), the
   * built-in maps, then the item names/aliases; undefined when nothing matches.
   */
  mapLabel(model: string, label: string): LabelMatch | undefined {
    const key = normalize(label);
    if (!key) return undefined;
    const own = this.kb.labelMaps.get(model) ?? this.kb.labelMaps.get(model.trim().toLowerCase());
    const mapped = own?.labels.get(key);
    if (mapped) return { ...mapped };
    const categoryId = this.categoryNames.get(key);
    if (categoryId) return { categoryId };
    for (const map of this.kb.labelMaps.values()) {
      if (map === own) continue;
      const hit = map.labels.get(key);
      if (hit) return { ...hit };
    }
    return this.resolveHint(label);
  }

  /** Resolves a user's free-text hint (e.g. '페트병', 'pizza box') to the best category, or undefined. */
  resolveHint(hint: string): LabelMatch | undefined {
    const key = normalize(hint);
    if (!key) return undefined;
    const categoryId = this.categoryNames.get(key);
    const top = this.scoredSearch(hint, 1)[0];
    if (!top) return categoryId ? { categoryId } : undefined;
    if (categoryId && top.doc.category !== categoryId) return { categoryId };
    return { categoryId: top.doc.category, itemName: top.doc.name };
  }

  /** Ranked item search (docs/api.md /recycling/search items), Korean and English. */
  search(q: string, limit = 10, locale: Locale = 'ko'): SearchResultItem[] {
    return this.scoredSearch(q, limit).map(({ doc }) => this.toResult(doc, locale));
  }

  /** Search with scores and the matched term (for ranking tests and the bench). */
  scoredSearch(q: string, limit = 10): TermHit<ItemRecord>[] {
    return this.index.search(q, limit);
  }

  /** Item-specific tip in the locale, if the item has one. */
  itemTip(itemName: string | undefined, locale: Locale = 'ko'): string | undefined {
    if (!itemName) return undefined;
    return this.findItem(itemName)?.tip?.[locale];
  }

  stats(): {
    categories: number;
    items: number;
    aliases: number;
    typos: number;
    terms: number;
    labels: number;
  } {
    const aliases = this.kb.items.reduce((n, i) => n + i.aliases.length, 0);
    const typos = this.kb.items.reduce((n, i) => n + (i.typos?.length ?? 0), 0);
    const labels = [...this.kb.labelMaps.values()].reduce((n, m) => n + m.labels.size, 0);
    return {
      categories: this.categories.size,
      items: this.kb.items.length,
      aliases,
      typos,
      terms: this.index.size,
      labels,
    };
  }

  private guidance(c: CategoryRecord, locale: Locale): CategoryGuidance {
    return {
      id: c.id,
      name: c.name[locale],
      nameEn: c.name.en,
      bin: c.bin[locale],
      steps: [...c.steps[locale]],
      cautions: [...c.cautions[locale]],
      dropOff: [...c.dropOff],
    };
  }

  private toResult(item: ItemRecord, locale: Locale): SearchResultItem {
    const c = this.categories.get(item.category) as CategoryRecord;
    const tip = item.tip?.[locale];
    return {
      name: locale === 'en' ? item.nameEn : item.name,
      aliases: [locale === 'en' ? item.name : item.nameEn, ...item.aliases],
      categoryId: c.id,
      categoryName: c.name[locale],
      bin: c.bin[locale],
      steps: [...c.steps[locale]],
      cautions: tip ? [tip, ...c.cautions[locale]] : [...c.cautions[locale]],
    };
  }
}
