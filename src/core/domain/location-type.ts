/**
 * docs/api.md's `locationType`: what a collection point accepts. Shared vocabulary: the knowledge base
 * names a category's drop-off types with it, the locations module filters points by it.
 */
export const LOCATION_TYPES = [
  'recycling',
  'clear_pet',
  'clothing',
  'battery',
  'lamp',
  'small_appliance',
  'medicine',
  'cooking_oil',
  'recycling_center',
  'zero_waste_shop',
] as const;
export type LocationType = (typeof LOCATION_TYPES)[number];
