import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { ZodError, ZodType, ZodTypeDef } from 'zod';
import { CATEGORY_IDS, LabelMatch } from '../recycling.types';
import { normalize } from '../search/text-normalize.util';
import {
  CategoryRecord,
  ItemRecord,
  LabelMapFile,
  SourceRecord,
  categoriesFileSchema,
  itemsFileSchema,
  labelMapSchema,
} from './knowledge-base.schema';

/** Raised at boot when a data file is missing or invalid; the message names the file and field. */
export class KnowledgeBaseError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid recycling knowledge base:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'KnowledgeBaseError';
  }
}

export interface LabelMap {
  model: string;
  file: string;
  /** Keyed by the normalised label (case, spaces and punctuation ignored). */
  labels: Map<string, LabelMatch>;
  /** The labels as the model spells them. */
  rawLabels: string[];
}

export interface KnowledgeBase {
  sources: Record<string, SourceRecord>;
  categories: CategoryRecord[];
  items: ItemRecord[];
  labelMaps: Map<string, LabelMap>;
}

export const DEFAULT_DATA_DIR = join(__dirname, '..', 'data');

export interface LoadOptions {
  dataDir?: string;
  /**
   * Operators' own label map (ROBOFLOW_LABEL_MAP: a YAML/JSON path, or the name of a built-in map),
   * registered under `model` (ROBOFLOW_MODEL; for a file, its own `model` field when unset).
   */
  operatorMap?: { path: string; model?: string };
}

function parseFile<T>(
  file: string,
  schema: ZodType<T, ZodTypeDef, unknown>,
  problems: string[],
): T | undefined {
  let raw: unknown;
  try {
    const textContent = readFileSync(file, 'utf8');
    raw = extname(file) === '.json' ? JSON.parse(textContent) : loadYaml(textContent);
  } catch (err) {
    problems.push(`${file}: cannot read (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of (parsed.error as ZodError).issues) {
      problems.push(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return undefined;
  }
  return parsed.data;
}

/** Reads and validates every data file; throws KnowledgeBaseError listing all problems. */
export function loadKnowledgeBase(options: LoadOptions = {}): KnowledgeBase {
  const dir = options.dataDir ?? DEFAULT_DATA_DIR;
  const problems: string[] = [];
  const catFile = join(dir, 'categories.yaml');
  const itemFile = join(dir, 'items.yaml');
  const cats = parseFile(catFile, categoriesFileSchema, problems);
  const items = parseFile(itemFile, itemsFileSchema, problems);
  if (!cats || !items) throw new KnowledgeBaseError(problems);

  const ids = cats.categories.map((c) => c.id);
  const dupIds = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupIds.length) problems.push(`${catFile}: duplicate category ids ${dupIds.join(', ')}`);
  const missing = CATEGORY_IDS.filter((id) => !ids.includes(id));
  if (missing.length) problems.push(`${catFile}: categories missing: ${missing.join(', ')}`);
  for (const c of cats.categories) {
    for (const s of c.sources) {
      if (!cats.sources[s]) problems.push(`${catFile}: ${c.id}: unknown source "${s}"`);
    }
  }
  const itemNames = new Map<string, ItemRecord>();
  for (const item of items.items) {
    const key = normalize(item.name);
    if (itemNames.has(key)) problems.push(`${itemFile}: duplicate item "${item.name}"`);
    itemNames.set(key, item);
  }

  const labelMaps = new Map<string, LabelMap>();
  const addMap = (file: string, modelOverride?: string) => {
    const parsed = parseFile(file, labelMapSchema, problems);
    if (!parsed) return;
    const map = toLabelMap(file, parsed, modelOverride, itemNames, problems);
    if (labelMaps.has(map.model)) problems.push(`${file}: model "${map.model}" defined twice`);
    labelMaps.set(map.model, map);
  };
  const mapDir = join(dir, 'label-maps');
  for (const f of readdirSync(mapDir).sort()) {
    if (/\.(ya?ml|json)$/.test(f)) addMap(join(mapDir, f));
  }
  if (options.operatorMap) {
    const { path: given, model } = options.operatorMap;
    const builtIn = labelMaps.get(given.trim());
    if (builtIn) {
      // ROBOFLOW_LABEL_MAP=taco: the operator's Roboflow model uses a built-in class set.
      if (model) labelMaps.set(model.trim(), { ...builtIn, model: model.trim() });
    } else {
      const path = resolve(given);
      if (!existsSync(path)) {
        problems.push(
          `ROBOFLOW_LABEL_MAP: file not found: ${path} (or name a built-in map: ${[...labelMaps.keys()].join(', ')})`,
        );
      } else addMap(path, model);
    }
  }

  if (problems.length) throw new KnowledgeBaseError(problems);
  return { sources: cats.sources, categories: cats.categories, items: items.items, labelMaps };
}

function toLabelMap(
  file: string,
  parsed: LabelMapFile,
  modelOverride: string | undefined,
  items: Map<string, ItemRecord>,
  problems: string[],
): LabelMap {
  const labels = new Map<string, LabelMatch>();
  for (const [label, value] of Object.entries(parsed.labels)) {
    const categoryId = typeof value === 'string' ? value : value.category;
    const itemName = typeof value === 'string' ? undefined : value.item;
    if (!(CATEGORY_IDS as readonly string[]).includes(categoryId)) {
      problems.push(`${file}: labels.${label}: unknown category "${categoryId}"`);
      continue;
    }
    if (itemName !== undefined) {
      const item = items.get(normalize(itemName));
      if (!item) problems.push(`${file}: labels.${label}: unknown item "${itemName}"`);
      else if (item.category !== categoryId) {
        problems.push(
          `${file}: labels.${label}: item "${itemName}" belongs to ${item.category}, not ${categoryId}`,
        );
      }
    }
    const key = normalize(label);
    if (labels.has(key)) problems.push(`${file}: labels.${label}: duplicate label`);
    labels.set(key, { categoryId, ...(itemName ? { itemName } : {}) });
  }
  return {
    model: (modelOverride ?? parsed.model).trim(),
    file,
    labels,
    rawLabels: Object.keys(parsed.labels),
  };
}
