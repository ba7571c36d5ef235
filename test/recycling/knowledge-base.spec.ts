import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import {
  DEFAULT_DATA_DIR,
  KnowledgeBaseError,
  loadKnowledgeBase,
} from '../../src/modules/recycling/knowledge/knowledge-base.loader';
import { RecyclingService } from '../../src/modules/recycling/recycling.service';
import { CATEGORY_IDS, LOCATION_TYPES } from '../../src/modules/recycling/recycling.types';
import { normalize } from '../../src/modules/recycling/search/text-normalize.util';

const NATIONAL = [
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
];

describe('recycling knowledge base data', () => {
  const kb = loadKnowledgeBase();
  const service = new RecyclingService(kb);

  it('defines every national category exactly once, with both languages, ordered steps, cautions and sources', () => {
    const ids = kb.categories.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(NATIONAL));
    expect([...ids].sort()).toEqual([...CATEGORY_IDS].sort());
    for (const c of kb.categories) {
      expect(c.name.ko).toMatch(/[가-힣]/);
      expect(c.name.en).toMatch(/^[A-Z]/);
      expect(c.bin.ko).toMatch(/[가-힣]/);
      expect(c.steps.ko.length).toBeGreaterThanOrEqual(3);
      expect(c.steps.en).toHaveLength(c.steps.ko.length);
      expect(c.cautions.ko.length).toBeGreaterThanOrEqual(2);
      expect(c.cautions.en).toHaveLength(c.cautions.ko.length);
      for (const t of c.dropOff) expect(LOCATION_TYPES).toContain(t);
      for (const s of c.sources) expect(kb.sources[s].url).toMatch(/^https?:\/\//);
      expect(c.redirects).not.toContain(c.id);
    }
  });

  it('uses the official bin names for the key categories', () => {
    const bin = (id: string) => service.getCategory(id)?.bin;
    expect(bin('paper')).toContain('종이류');
    expect(bin('clear-pet')).toBe('투명 페트병 전용 수거함');
    expect(bin('general-waste')).toBe('종량제 봉투');
    expect(bin('non-combustible')).toContain('특수규격마대');
    expect(bin('bulky-waste')).toContain('스티커');
    expect(service.getCategory('clear-pet')?.steps.join(' ')).toMatch(/라벨.*찌그러.*뚜껑을 닫/s);
    expect(service.getCategory('clear-pet', 'en')?.bin).toBe('clear PET bottle bin');
  });

  it('has at least 150 items, every category has items, and no two items share a name, alias or typo', () => {
    expect(kb.items.length).toBeGreaterThanOrEqual(150);
    for (const id of CATEGORY_IDS) {
      expect(kb.items.some((i) => i.category === id)).toBe(true);
    }
    const owner = new Map<string, string>();
    const clashes: string[] = [];
    for (const item of kb.items) {
      for (const term of [item.name, item.nameEn, ...item.aliases, ...(item.typos ?? [])]) {
        const key = normalize(term);
        const prev = owner.get(key);
        if (prev && prev !== item.name) clashes.push(`${term}: ${prev} / ${item.name}`);
        owner.set(key, item.name);
      }
    }
    expect(clashes).toEqual([]);
    for (const item of kb.items) expect(item.redirects ?? []).not.toContain(item.category);
  });

  it.each([
    ['기름 묻은 피자 박스', 'general-waste'],
    ['피자 박스', 'paper'],
    ['영수증', 'general-waste'],
    ['유색 페트병', 'plastic'],
    ['투명 페트병', 'clear-pet'],
    ['생수병', 'clear-pet'],
    ['컵라면 용기', 'styrofoam'],
    ['종이 컵라면 용기', 'paper-pack'],
    ['깨진 유리', 'non-combustible'],
    ['유리컵', 'non-combustible'],
    ['소주병', 'glass-bottle'],
    ['닭뼈', 'general-waste'],
    ['복숭아 씨', 'general-waste'],
    ['과일 껍질', 'food-waste'],
    ['아이스팩', 'general-waste'],
    ['스프레이 캔', 'can-metal'],
    ['부탄가스', 'can-metal'],
    ['보조배터리', 'battery'],
    ['형광등', 'lamp'],
    ['냉장고', 'large-appliance'],
    ['종이컵', 'paper-pack'],
  ])('classic trap: %s → %s', (hint, category) => {
    expect(service.resolveHint(hint)?.categoryId).toBe(category);
  });

  it('traps carry an item-specific tip that reaches the search result', () => {
    const [pizza] = service.search('기름 묻은 피자 박스', 1);
    expect(pizza.categoryId).toBe('general-waste');
    expect(pizza.cautions[0]).toContain('종이류');
    const [pet] = service.search('coloured PET bottle', 1, 'en');
    expect(pet.categoryId).toBe('plastic');
    expect(pet.cautions[0]).toMatch(/not the clear PET bin/);
  });

  describe('label maps', () => {
    const models = service.labelMapModels();
    const byModel = new Map(models.map((m) => [m.model, m.labels]));

    it('ship TrashNet (6), TACO (60) and NAVER Connect (10) classes', () => {
      expect(byModel.get('trashnet')).toHaveLength(6);
      expect(byModel.get('taco')).toHaveLength(60);
      expect(byModel.get('naver-connect')).toHaveLength(10);
      expect(byModel.get('taco')).toEqual(
        expect.arrayContaining([
          'Clear plastic bottle',
          'Plastic glooves',
          'Rope & strings',
          'Cigarette',
        ]),
      );
    });

    it.each(models.map((m) => [m.model, m.labels] as const))(
      'every %s label resolves to an existing category (and its item)',
      (model, labels) => {
        for (const label of labels) {
          const hit = service.mapLabel(model, label);
          expect(hit).toBeDefined();
          expect(service.getCategory(hit!.categoryId)).toBeDefined();
          if (hit!.itemName) {
            expect(service.findItem(hit!.itemName)?.category).toBe(hit!.categoryId);
          }
          // case and spacing do not matter
          expect(service.mapLabel(model, `  ${label.toUpperCase()} `)).toEqual(hit);
        }
      },
    );

    it('maps known traps from the model classes', () => {
      expect(service.mapLabel('taco', 'Clear plastic bottle')?.categoryId).toBe('clear-pet');
      expect(service.mapLabel('taco', 'Other plastic bottle')?.categoryId).toBe('plastic');
      expect(service.mapLabel('taco', 'Broken glass')?.categoryId).toBe('non-combustible');
      expect(service.mapLabel('taco', 'Glass bottle')?.categoryId).toBe('glass-bottle');
      expect(service.mapLabel('taco', 'Aerosol')?.categoryId).toBe('can-metal');
      expect(service.mapLabel('naver-connect', 'Plastic bag')?.categoryId).toBe('vinyl');
      expect(service.mapLabel('trashnet', 'trash')?.categoryId).toBe('general-waste');
    });

    it('falls back to category ids (OpenAI vision), other maps, then item search', () => {
      expect(service.mapLabel('openai', 'clear-pet')).toEqual({ categoryId: 'clear-pet' });
      expect(service.mapLabel('openai', '종이팩')).toEqual({ categoryId: 'paper-pack' });
      expect(service.mapLabel('some-project/3', 'Drink carton')?.categoryId).toBe('paper-pack');
      expect(service.mapLabel('some-project/3', 'power bank')).toEqual({
        categoryId: 'battery',
        itemName: '보조배터리',
      });
      expect(service.mapLabel('taco', 'xqzv')).toBeUndefined();
      expect(service.mapLabel('taco', '   ')).toBeUndefined();
    });
  });
});

describe('knowledge base validation at boot', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'recycling-kb-'));
    cpSync(DEFAULT_DATA_DIR, dir, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const edit = (file: string, change: (doc: Record<string, unknown>) => void) => {
    const path = join(dir, file);
    const doc = load(readFileSync(path, 'utf8')) as Record<string, unknown>;
    change(doc);
    writeFileSync(path, dump(doc));
  };
  const problemsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      if (err instanceof KnowledgeBaseError) return err.problems;
      throw err;
    }
    throw new Error('expected a KnowledgeBaseError');
  };

  it('rejects a category whose English steps do not match the Korean ones', () => {
    edit('categories.yaml', (d) => {
      const c = (d.categories as { steps: { en: string[] } }[])[0];
      c.steps.en.pop();
    });
    const problems = problemsOf(() => loadKnowledgeBase({ dataDir: dir }));
    expect(problems.join('\n')).toMatch(/categories\.yaml: categories\.0\.steps: ko and en/);
  });

  it('rejects an unknown source', () => {
    edit('categories.yaml', (d) => {
      (d.categories as Record<string, unknown>[])[2].sources = ['nowhere'];
    });
    const problems = problemsOf(() => loadKnowledgeBase({ dataDir: dir }));
    expect(problems).toEqual([expect.stringMatching(/glass-bottle: unknown source "nowhere"/)]);
  });

  it('rejects an unknown category and an unknown location type', () => {
    edit('categories.yaml', (d) => {
      (d.categories as Record<string, unknown>[])[1].dropOff = ['moon'];
    });
    edit('items.yaml', (d) => {
      (d.items as Record<string, unknown>[])[0].category = 'unobtainium';
    });
    const problems = problemsOf(() => loadKnowledgeBase({ dataDir: dir })).join('\n');
    expect(problems).toMatch(/categories\.1\.dropOff\.0/);
    expect(problems).toMatch(/items\.yaml: items\.0\.category/);
  });

  it('rejects a label map that points at a missing category or item', () => {
    edit('label-maps/trashnet.yaml', (d) => {
      (d.labels as Record<string, unknown>).glass = 'glass-things';
      (d.labels as Record<string, unknown>).metal = { category: 'can-metal', item: '없는 물건' };
    });
    const problems = problemsOf(() => loadKnowledgeBase({ dataDir: dir })).join('\n');
    expect(problems).toMatch(/trashnet\.yaml: labels\.glass: unknown category "glass-things"/);
    expect(problems).toMatch(/labels\.metal: unknown item "없는 물건"/);
  });

  it("loads an operator's Roboflow map (YAML or JSON) under ROBOFLOW_MODEL, and rejects a bad one", () => {
    const json = join(dir, 'operator.json');
    writeFileSync(
      json,
      JSON.stringify({
        model: 'ignored-name',
        labels: { 'pet-clear': 'clear-pet', can_alu: { category: 'can-metal', item: '음료 캔' } },
      }),
    );
    const kb = loadKnowledgeBase({ operatorMap: { path: json, model: 'my-trash/2' } });
    const service = new RecyclingService(kb);
    expect(service.mapLabel('my-trash/2', 'PET clear')).toEqual({ categoryId: 'clear-pet' });
    expect(service.mapLabel('my-trash/2', 'can alu')).toEqual({
      categoryId: 'can-metal',
      itemName: '음료 캔',
    });

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, dump({ model: 'x', labels: { foo: 'not-a-category' }, extra: 1 }));
    const problems = problemsOf(() => loadKnowledgeBase({ operatorMap: { path: bad } })).join('\n');
    expect(problems).toMatch(/bad\.yaml: \(root\): Unrecognized key/);
    expect(
      problemsOf(() => loadKnowledgeBase({ operatorMap: { path: join(dir, 'missing.yaml') } })),
    ).toEqual([expect.stringMatching(/^ROBOFLOW_LABEL_MAP: file not found/)]);
  });

  it('ROBOFLOW_LABEL_MAP may name a built-in map for a Roboflow model trained on that class set', () => {
    const kb = loadKnowledgeBase({ operatorMap: { path: 'taco', model: 'taco-trash/3' } });
    const service = new RecyclingService(kb);
    expect(service.mapLabel('taco-trash/3', 'Broken glass')).toEqual({
      categoryId: 'non-combustible',
      itemName: '깨진 유리',
    });
    expect(service.labelMapModels().find((m) => m.model === 'taco-trash/3')?.labels).toHaveLength(
      60,
    );
  });
});
