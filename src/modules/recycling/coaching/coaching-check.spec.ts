import { loadKnowledgeBase } from '../knowledge/knowledge-base.loader';
import { CategoryRecord } from '../knowledge/knowledge-base.schema';
import { checkAnswer } from './coaching-check';
import { redirectsOf } from './coaching-rules';

describe('checkAnswer (LLM answer must stay on the rule)', () => {
  const kb = loadKnowledgeBase();
  const cat = (id: string) => kb.categories.find((c) => c.id === id) as CategoryRecord;
  const check = (ids: string[], message: string, bins: string[], locale: 'ko' | 'en' = 'ko') => {
    const detected = ids.map(cat);
    const redirects = redirectsOf(detected.map((category) => ({ category })));
    return checkAnswer({ message, bins }, detected, kb.categories, redirects, locale);
  };

  it('accepts an answer that names the rule bin', () => {
    expect(
      check(['battery'], '건전지는 폐건전지 수거함에 넣어 주세요.', ['폐건전지 수거함']),
    ).toEqual({
      ok: true,
    });
    expect(
      check(['clear-pet'], 'Peel off the label and use the clear PET bottle bin.', [], 'en'),
    ).toEqual({ ok: true });
  });

  it('accepts a mention of another bin when the rule redirects some cases there', () => {
    // The plastics rule sends food-stained plastics to the pay-as-you-throw bag.
    expect(
      check(['plastic'], '헹궈서 플라스틱류 수거함에, 안 지워지면 종량제 봉투에 버리세요.', []),
    ).toEqual({ ok: true });
  });

  it('does not let a warning in the rule text license that bin', () => {
    // The battery rule warns against the pay-as-you-throw bag; an answer sending it there is wrong.
    expect(
      check(['battery'], '폐건전지 수거함이 멀면 종량제 봉투에 버려도 돼요.', ['폐건전지 수거함']),
    ).toMatchObject({ ok: false, reason: 'contradiction' });
  });

  it('rejects a different bin in the text or in the structured field', () => {
    expect(check(['battery'], '건전지는 종량제 봉투에 버리세요.', [])).toMatchObject({
      ok: false,
      reason: 'contradiction',
    });
    expect(check(['battery'], '폐건전지 수거함에 넣어 주세요.', ['종량제 봉투'])).toMatchObject({
      ok: false,
      reason: 'contradiction',
    });
    expect(check(['food-waste'], 'Put it in the plastics bin.', [], 'en')).toMatchObject({
      ok: false,
      reason: 'contradiction',
    });
  });

  it('rejects answers that do not name the bin, are empty or in the wrong language', () => {
    expect(check(['paper'], '잘 모으면 돼요. 깨끗하게 해 주세요.', [])).toMatchObject({
      reason: 'invalid',
    });
    expect(check(['paper'], '   ', [])).toMatchObject({ reason: 'invalid' });
    expect(check(['paper'], 'Please use the 종이류 수거함 for this paper item.', [])).toMatchObject(
      {
        reason: 'invalid',
      },
    );
  });
});
