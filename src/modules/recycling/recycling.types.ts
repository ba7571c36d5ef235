/**
 * The knowledge base's public vocabulary. Category ids are fixed in code (so other modules and the
 * OpenAI vision schema can use them as an enum); the data files must define exactly these ids,
 * which the loader checks at boot.
 */
export const CATEGORY_IDS = [
  'paper',
  'paper-pack',
  'glass-bottle',
  'can-metal',
  'scrap-iron',
  'plastic',
  'clear-pet',
  'vinyl',
  'styrofoam',
  'clothing',
  'battery',
  'lamp',
  'small-appliance',
  'large-appliance',
  'food-waste',
  'general-waste',
  'bulky-waste',
  'non-combustible',
  'medicine',
  'cooking-oil',
] as const;
export type CategoryId = (typeof CATEGORY_IDS)[number];

export { LOCATION_TYPES, type LocationType } from '../../core/domain/location-type';
import type { LocationType } from '../../core/domain/location-type';

export const LOCALES = ['ko', 'en'] as const;
export type Locale = (typeof LOCALES)[number];

export interface CategoryGuidance {
  id: string;
  name: string;
  nameEn: string;
  bin: string;
  steps: string[];
  cautions: string[];
  dropOff: LocationType[];
}

/** docs/api.md `Category`: guidance plus example item names. */
export interface CategoryView extends CategoryGuidance {
  examples: string[];
}

/** One item of docs/api.md `GET /recycling/search`. */
export interface SearchResultItem {
  name: string;
  aliases: string[];
  categoryId: string;
  categoryName: string;
  bin: string;
  steps: string[];
  cautions: string[];
}

export interface LabelMatch {
  categoryId: string;
  itemName?: string;
}
