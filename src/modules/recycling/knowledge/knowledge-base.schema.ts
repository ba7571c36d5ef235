import { z } from 'zod';
import { CATEGORY_IDS, LOCATION_TYPES } from '../recycling.types';

const text = z.string().trim().min(1);
const bilingual = z.object({ ko: text, en: text }).strict();
const bilingualList = z
  .object({ ko: z.array(text).min(1), en: z.array(text).min(1) })
  .strict()
  .refine((v) => v.ko.length === v.en.length, {
    message: 'ko and en must have the same number of entries (same order)',
  });

export const sourceSchema = z.object({ title: text, url: z.string().url() }).strict();

export const categorySchema = z
  .object({
    id: z.enum(CATEGORY_IDS),
    name: bilingual,
    bin: bilingual,
    binTerms: z.object({ ko: z.array(text).min(1), en: z.array(text).min(1) }).strict(),
    steps: bilingualList,
    cautions: bilingualList,
    dropOff: z.array(z.enum(LOCATION_TYPES)),
    /** Other categories whose bins this rule sends some cases to (an LLM answer may name them). */
    redirects: z.array(z.enum(CATEGORY_IDS)).default([]),
    sources: z.array(text).min(1),
  })
  .strict();

export const categoriesFileSchema = z
  .object({
    version: z.literal(1),
    sources: z.record(text, sourceSchema),
    categories: z.array(categorySchema).min(1),
  })
  .strict();

export const itemSchema = z
  .object({
    name: text,
    nameEn: text,
    aliases: z.array(text).min(1),
    /** Common misspellings: searchable, never shown. */
    typos: z.array(text).optional(),
    category: z.enum(CATEGORY_IDS),
    tip: bilingual.optional(),
    /** Bins the item's tip sends parts of it to (e.g. the greasy part of a pizza box). */
    redirects: z.array(z.enum(CATEGORY_IDS)).optional(),
  })
  .strict();

export const itemsFileSchema = z
  .object({ version: z.literal(1), items: z.array(itemSchema).min(1) })
  .strict();

/**
 * A vision model's label map. Labels are the model's class names as it spells them; a value is a
 * category id, or `{ category, item }` to also name the item (whose tip then reaches the user).
 * Operators' own maps (ROBOFLOW_LABEL_MAP) use this same schema. `category` is checked against the
 * knowledge base after parsing, so the message can name the unknown id.
 */
export const labelMapSchema = z
  .object({
    model: text,
    description: z.string().optional(),
    source: z.string().optional(),
    labels: z
      .record(text, z.union([text, z.object({ category: text, item: text.optional() }).strict()]))
      .refine((v) => Object.keys(v).length > 0, { message: 'at least one label' }),
  })
  .strict();

export type CategoryRecord = z.infer<typeof categorySchema>;
export type ItemRecord = z.infer<typeof itemSchema>;
export type LabelMapFile = z.infer<typeof labelMapSchema>;
export type SourceRecord = z.infer<typeof sourceSchema>;
