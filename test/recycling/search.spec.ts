import { loadKnowledgeBase } from '../../src/modules/recycling/knowledge/knowledge-base.loader';
import { RecyclingService } from '../../src/modules/recycling/recycling.service';

describe('recycling item search', () => {
  const kb = loadKnowledgeBase();
  const service = new RecyclingService(kb);
  const top = (q: string, locale?: 'ko' | 'en') => service.search(q, 5, locale)[0];
  const topNames = (q: string, n = 3) => service.scoredSearch(q, n).map((h) => h.doc.name);

  it.each(kb.items.map((i) => [i.name, i] as const))(
    'finds "%s" by its names, aliases and typos',
    (_, item) => {
      for (const name of [item.name, item.nameEn]) {
        expect(service.scoredSearch(name, 1)[0]?.doc).toBe(item);
      }
      for (const alias of [...item.aliases, ...(item.typos ?? [])]) {
        const hits = service.scoredSearch(alias, 3).map((h) => h.doc);
        expect({ alias, hits: hits.map((h) => h.name) }).toEqual({
          alias,
          hits: expect.arrayContaining([item.name]),
        });
        expect(hits[0]).toBe(item);
      }
    },
  );

  it('tolerates spacing and case', () => {
    expect(top('우유 팩').name).toBe('우유팩');
    expect(top('우 유 팩').name).toBe('우유팩');
    expect(top('PET Bottle').name).toBe('투명 페트병');
    expect(top('pet-bottle').name).toBe('투명 페트병');
    expect(top('보조 배터리').name).toBe('보조배터리');
  });

  it('finds partial words, best match first', () => {
    expect(top('페트병').categoryId).toBe('clear-pet');
    expect(topNames('피자')).toEqual(['피자 박스', '기름 묻은 피자 박스']);
    expect(top('스티로').categoryId).toBe('styrofoam');
    expect(top('냉장').name).toBe('냉장고');
    expect(top('refrig').name).toBe('냉장고');
  });

  it('tolerates typical typos (jamo-level in Korean, letters in English)', () => {
    // none of these spellings is in the data
    expect(top('스티로품').categoryId).toBe('styrofoam');
    expect(top('냉장거').name).toBe('냉장고');
    expect(top('전자래인지').name).toBe('전자레인지');
    expect(top('형굉등').categoryId).toBe('lamp');
    expect(top('batery').categoryId).toBe('battery');
    expect(top('refrigerater').name).toBe('냉장고');
    expect(top('styrofom box').name).toBe('스티로폼 상자');
  });

  it('searches misspellings but never shows them', () => {
    const [pan] = service.search('후라이팬');
    expect(pan.name).toBe('프라이팬');
    expect(pan.aliases).not.toContain('후라이팬');
    expect(pan.aliases).toContain('frying pan');
  });

  it('answers in English on request', () => {
    const r = top('pizza box', 'en');
    expect(r).toMatchObject({ name: 'pizza box', categoryId: 'paper', bin: 'paper recycling bin' });
    expect(r.aliases).toContain('피자 박스');
    expect(r.steps[0]).toMatch(/^First remove/);
  });

  it('finds the item inside a sentence-like hint', () => {
    expect(service.resolveHint('기름 묻은 피자 박스는 어디에 버려요?')).toEqual({
      categoryId: 'general-waste',
      itemName: '기름 묻은 피자 박스',
    });
    expect(service.resolveHint('이거 페트병이에요')?.categoryId).toBe('clear-pet');
  });

  it('returns nothing for gibberish or empty queries, and honours the limit', () => {
    expect(service.search('qxzvwk')).toEqual([]);
    expect(service.search(' !? ')).toEqual([]);
    expect(service.search('종이', 2)).toHaveLength(2);
  });
});
