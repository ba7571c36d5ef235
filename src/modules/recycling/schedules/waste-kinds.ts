import type { CategoryId } from '../recycling.types';

/** The four kinds the district data gives days and hours for. */
export const WASTE_KINDS = ['general', 'food', 'recyclable', 'bulky'] as const;
export type WasteKind = (typeof WASTE_KINDS)[number];

/**
 * Which district schedule a knowledge-base category follows. null: it goes to a drop-off box or a
 * pickup service, not out on collection days (batteries, lamps, clothing, medicine, cooking oil,
 * small appliances), or to the free 폐가전 pickup (large appliances) — the nearby points answer
 * those. Non-combustibles go in 특수규격마대 on general-waste days.
 */
export const KIND_OF_CATEGORY: Record<CategoryId, WasteKind | null> = {
  paper: 'recyclable',
  'paper-pack': 'recyclable',
  'glass-bottle': 'recyclable',
  'can-metal': 'recyclable',
  'scrap-iron': 'recyclable',
  plastic: 'recyclable',
  'clear-pet': 'recyclable',
  vinyl: 'recyclable',
  styrofoam: 'recyclable',
  clothing: null,
  battery: null,
  lamp: null,
  'small-appliance': null,
  'large-appliance': null,
  'food-waste': 'food',
  'general-waste': 'general',
  'bulky-waste': 'bulky',
  'non-combustible': 'general',
  medicine: null,
  'cooking-oil': null,
};

export function kindsOf(categoryIds: string[]): WasteKind[] {
  const kinds = new Set(
    categoryIds.map((id) => KIND_OF_CATEGORY[id as CategoryId]).filter((k) => k != null),
  );
  return WASTE_KINDS.filter((k) => kinds.has(k));
}
