import { allowedTypos, bigrams, normalize, substringDistance, toJamo } from './text-normalize.util';

export interface IndexedTerm {
  text: string;
  /** 1 for a primary name, a little less for aliases, so an exact name wins ties. */
  weight: number;
}

export interface TermHit<T> {
  doc: T;
  score: number;
  /** The term (as written in the data) that matched best. */
  term: string;
}

interface Entry {
  doc: number;
  raw: string;
  norm: string;
  jamo: string;
  weight: number;
  grams: number;
}

/** Scores, best first: exact > prefix > substring > query contains the term > typo match. */
export const SCORE = { exact: 1000, prefix: 900, substring: 800, contains: 600, fuzzy: 500 };
const RELATIVE_CUTOFF = 0.5;
/** Lowest score of a text match (query contains an alias); highest possible typo score + 1. */
const TEXT_MATCH_FLOOR = SCORE.contains * 0.95;
const FUZZY_CEILING = SCORE.fuzzy + 51;

/**
 * An in-memory index over short terms (item names and aliases), built once at boot. Every query
 * is normalised (case, width, spacing, punctuation) and compared both as text and as Hangul jamo,
 * so it tolerates spacing ("우유 팩"), partial words ("페트") and typos ("패트병", "batery").
 * Typo candidates are pre-filtered with a jamo-bigram inverted index before the edit-distance pass.
 */
export class TermIndex<T> {
  private readonly entries: Entry[] = [];
  private readonly gramIndex = new Map<string, number[]>();

  constructor(private readonly docs: readonly { doc: T; terms: IndexedTerm[] }[]) {
    docs.forEach(({ terms }, doc) => {
      for (const { text, weight } of terms) {
        const norm = normalize(text);
        if (!norm) continue;
        const jamo = toJamo(norm);
        const grams = bigrams(jamo);
        const id = this.entries.length;
        this.entries.push({ doc, raw: text, norm, jamo, weight, grams: grams.length });
        for (const g of grams) {
          const list = this.gramIndex.get(g);
          if (list) list.push(id);
          else this.gramIndex.set(g, [id]);
        }
      }
    });
  }

  get size(): number {
    return this.entries.length;
  }

  search(query: string, limit = 10): TermHit<T>[] {
    const q = normalize(query);
    if (!q) return [];
    const qj = toJamo(q);
    const allowed = allowedTypos(qj.length);

    const shared = allowed > 0 ? this.sharedGrams(qj) : undefined;
    const qGrams = allowed > 0 ? bigrams(qj).length : 0;
    const needed = Math.max(1, qGrams - 2 * allowed);

    const best = new Map<number, { score: number; term: string }>();
    for (let id = 0; id < this.entries.length; id++) {
      const e = this.entries[id];
      let score = 0;
      if (e.norm === q) score = SCORE.exact;
      else if (e.norm.startsWith(q)) score = SCORE.prefix + (50 * q.length) / e.norm.length;
      else if (e.norm.includes(q)) score = SCORE.substring + (50 * q.length) / e.norm.length;
      else if (e.norm.length >= 2 && q.includes(e.norm))
        score = SCORE.contains + (100 * e.norm.length) / q.length;
      else if (shared && shared[id] >= needed) {
        const d = substringDistance(qj, e.jamo, allowed);
        if (d <= allowed) {
          const coverage = Math.min(1, qj.length / e.jamo.length);
          score = SCORE.fuzzy - (150 * d) / (allowed + 1) + 50 * coverage;
        }
      }
      if (score === 0) continue;
      score *= e.weight;
      const prev = best.get(e.doc);
      if (!prev || score > prev.score) best.set(e.doc, { score, term: e.raw });
    }

    const ranked = [...best.entries()].sort((a, b) => b[1].score - a[1].score || a[0] - b[0]);
    // Typo matches are noise next to a real (exact/prefix/substring) match: drop them then.
    const topScore = ranked.length ? ranked[0][1].score : 0;
    const floor = topScore >= TEXT_MATCH_FLOOR ? FUZZY_CEILING : topScore * RELATIVE_CUTOFF;
    return ranked
      .filter(([, hit]) => hit.score >= floor)
      .slice(0, Math.max(0, limit))
      .map(([doc, { score, term }]) => ({ doc: this.docs[doc].doc, score, term }));
  }

  /** How many of the query's jamo bigrams each entry shares (the q-gram filter for typos). */
  private sharedGrams(qj: string): Uint16Array {
    const counts = new Uint16Array(this.entries.length);
    for (const g of bigrams(qj)) {
      for (const id of this.gramIndex.get(g) ?? []) counts[id]++;
    }
    return counts;
  }
}
