import {
  allowedTypos,
  editDistance,
  normalize,
  substringDistance,
  toJamo,
} from './text-normalize.util';

describe('text normalisation', () => {
  it('ignores case, width, spaces and punctuation', () => {
    expect(normalize(' PET  Bottle! ')).toBe('petbottle');
    expect(normalize('ＰＥＴ병')).toBe('pet병');
    expect(normalize('우유 팩·종이팩')).toBe('우유팩종이팩');
  });

  it('splits Hangul into jamo, compound vowels and finals too', () => {
    expect(toJamo('페트병')).toBe('ㅍㅔㅌㅡㅂㅕㅇ');
    expect(toJamo('과')).toBe('ㄱㅗㅏ');
    expect(toJamo('닭')).toBe('ㄷㅏㄹㄱ');
    expect(toJamo('a1')).toBe('a1');
  });

  it('counts a one-letter Hangul typo as one edit', () => {
    expect(editDistance(toJamo('페트병'), toJamo('패트병'))).toBe(1);
    expect(editDistance(toJamo('스티로폼'), toJamo('스티로품'))).toBe(1);
  });

  it('measures the distance to the closest substring', () => {
    expect(substringDistance('ㅍㅐㅌㅡ', toJamo('투명페트병'))).toBe(1);
    expect(substringDistance('batery', 'aabatteryzz')).toBe(1);
    expect(substringDistance('zzzz', 'abc', 1)).toBeGreaterThan(1);
  });

  it('allows more typos for longer queries', () => {
    expect([2, 5, 10, 20].map(allowedTypos)).toEqual([0, 1, 2, 3]);
  });
});
