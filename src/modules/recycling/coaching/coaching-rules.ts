import { CategoryRecord } from '../knowledge/knowledge-base.schema';
import { Locale } from '../recycling.types';

/** One detected thing, with the rule it is grounded on. */
export interface GroundedItem {
  category: CategoryRecord;
  label?: string;
  /** The knowledge-base item the label resolved to (same category), if any. */
  itemName?: string;
  itemNameEn?: string;
  tip?: { ko: string; en: string };
  /** Extra bins the item's tip sends parts of it to. */
  redirects?: string[];
}

/** Categories whose bins the rules (and item tips) of these items legitimately mention. */
export function redirectsOf(items: GroundedItem[]): Set<string> {
  return new Set(items.flatMap((i) => [...i.category.redirects, ...(i.redirects ?? [])]));
}

function displayName(item: GroundedItem, locale: Locale): string {
  if (locale === 'en') return item.itemNameEn ?? item.category.name.en;
  return item.itemName ?? item.category.name.ko;
}

/**
 * The deterministic coaching text: per category, the bin, the ordered steps and the most important
 * caution (the item's own trap first). Always correct by construction; the LLM only rephrases it.
 */
export function ruleMessage(items: GroundedItem[], locale: Locale): string {
  const seen = new Set<string>();
  const blocks: string[] = [];
  for (const item of items) {
    const key = `${item.category.id}|${item.itemName ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const c = item.category;
    const lines = [`${displayName(item, locale)} → ${c.bin[locale]}`];
    c.steps[locale].forEach((s, i) => lines.push(`${i + 1}. ${s}`));
    const note = locale === 'en' ? 'Note' : '주의';
    if (item.tip) lines.push(`${note}: ${item.tip[locale]}`);
    else lines.push(`${note}: ${c.cautions[locale][0]}`);
    blocks.push(lines.join('\n'));
  }
  return blocks.join('\n\n');
}

/** What the app shows when nothing was recognised: try another angle, or type a hint. */
export function nothingRecognisedMessage(
  locale: Locale,
  fromHint?: GroundedItem,
  hint?: string,
): string {
  const advice =
    locale === 'en'
      ? "We couldn't recognise the item in the photo. Try again with one item filling the middle of the frame, in good light and from another angle — or add a hint such as 'PET bottle' or 'pizza box'."
      : "사진에서 버릴 물건을 알아보지 못했어요. 물건 하나만 화면 가운데에 크게 보이도록, 밝은 곳에서 다른 각도로 다시 찍어 보세요. '페트병', '피자 박스'처럼 물건 이름을 힌트로 적어 주시면 더 정확하게 알려 드릴게요.";
  if (!fromHint || !hint) return advice;
  const c = fromHint.category;
  const guess =
    locale === 'en'
      ? `From your hint ("${hint}") it is probably ${displayName(fromHint, locale)}: ${c.bin.en}. ${c.steps.en[0]}`
      : `힌트("${hint}")로 보면 ${displayName(fromHint, locale)}일 가능성이 높아요. ${c.bin.ko}에 버려 주세요. ${c.steps.ko[0]}`;
  return `${guess}\n\n${advice}`;
}
