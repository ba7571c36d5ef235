import { CategoryRecord } from '../knowledge/knowledge-base.schema';
import { Locale } from '../recycling.types';
import { normalize } from '../search/text-normalize.util';

export interface LlmCoachAnswer {
  message: string;
  bins: string[];
}

export type CheckResult =
  { ok: true } | { ok: false; reason: 'contradiction' | 'invalid'; detail: string };

const MIN_LENGTH = 10;
const MAX_LENGTH = 900;
const HANGUL = /[\u3131-\u318e\uac00-\ud7a3]/g;
const LATIN = /[a-z]/gi;

/** The words that name a category's bin in a locale: its binTerms plus the bin text itself. */
export function binTerms(c: CategoryRecord, locale: Locale): string[] {
  return [...new Set([...c.binTerms[locale], c.bin[locale]].map(normalize).filter(Boolean))];
}

/**
 * Accepts an LLM answer only if it stays on the rules: the structured `bins` are the detected
 * categories' bins, the message names at least one of them, and it names no other category's bin
 * unless the rule itself redirects some cases there (`redirects` in the data, e.g. "if greasy, use
 * the pay-as-you-throw bag"). A mention we cannot vouch for — even a "do not use X" — falls back
 * to the rule text: a plain correct answer beats a fluent doubtful one.
 */
export function checkAnswer(
  answer: LlmCoachAnswer,
  detected: CategoryRecord[],
  all: CategoryRecord[],
  redirects: ReadonlySet<string>,
  locale: Locale,
): CheckResult {
  const message = answer.message.trim();
  if (message.length < MIN_LENGTH || message.length > MAX_LENGTH) {
    return { ok: false, reason: 'invalid', detail: `message length ${message.length}` };
  }
  const hangul = message.match(HANGUL)?.length ?? 0;
  const latin = message.match(LATIN)?.length ?? 0;
  if (locale === 'ko' && (hangul === 0 || latin > hangul))
    return { ok: false, reason: 'invalid', detail: 'not Korean' };
  if (locale === 'en' && hangul > latin)
    return { ok: false, reason: 'invalid', detail: 'not English' };

  const detectedIds = new Set(detected.map((c) => c.id));
  const allowedBins = new Set(detected.map((c) => normalize(c.bin[locale])));
  const strayBin = answer.bins.find((b) => !allowedBins.has(normalize(b)));
  if (strayBin !== undefined) {
    return { ok: false, reason: 'contradiction', detail: `bins names "${strayBin}"` };
  }

  const text = normalize(message);
  const ownTerms = detected.flatMap((c) => binTerms(c, locale));
  for (const other of all) {
    if (detectedIds.has(other.id) || redirects.has(other.id)) continue;
    for (const term of binTerms(other, locale)) {
      if (!text.includes(term)) continue;
      if (ownTerms.some((own) => own.includes(term) && text.includes(own))) continue;
      return {
        ok: false,
        reason: 'contradiction',
        detail: `names the ${other.id} bin ("${term}")`,
      };
    }
  }
  if (!ownTerms.some((t) => text.includes(t))) {
    return { ok: false, reason: 'invalid', detail: 'message does not name the bin' };
  }
  return { ok: true };
}
