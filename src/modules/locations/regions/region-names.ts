/**
 * Korean administrative names: 시도 (by the first two digits of the 행정구역 code) and the forms
 * people, Kakao and the data portal write them in. Gangwon (51) and Jeonbuk (52) became
 * 특별자치도 in 2023/2024 with new codes; the old codes (42, 45) and names still appear in older
 * files, so both map to the same 시도. See docs/schedules.md → Regions.
 */
export const SIDO: Record<string, { name: string; forms: string[] }> = {
  '11': { name: '서울특별시', forms: ['서울특별시', '서울시', '서울'] },
  '26': { name: '부산광역시', forms: ['부산광역시', '부산시', '부산'] },
  '27': { name: '대구광역시', forms: ['대구광역시', '대구시', '대구'] },
  '28': { name: '인천광역시', forms: ['인천광역시', '인천시', '인천'] },
  '29': { name: '광주광역시', forms: ['광주광역시', '광주'] },
  '30': { name: '대전광역시', forms: ['대전광역시', '대전시', '대전'] },
  '31': { name: '울산광역시', forms: ['울산광역시', '울산시', '울산'] },
  '36': { name: '세종특별자치시', forms: ['세종특별자치시', '세종시', '세종'] },
  '41': { name: '경기도', forms: ['경기도', '경기'] },
  '43': { name: '충청북도', forms: ['충청북도', '충북'] },
  '44': { name: '충청남도', forms: ['충청남도', '충남'] },
  '46': { name: '전라남도', forms: ['전라남도', '전남'] },
  '47': { name: '경상북도', forms: ['경상북도', '경북'] },
  '48': { name: '경상남도', forms: ['경상남도', '경남'] },
  '50': { name: '제주특별자치도', forms: ['제주특별자치도', '제주도', '제주'] },
  '51': { name: '강원특별자치도', forms: ['강원특별자치도', '강원도', '강원'] },
  '52': { name: '전북특별자치도', forms: ['전북특별자치도', '전라북도', '전북'] },
};

/** Codes retired when the province changed status: same 시도 as the new code. */
const OLD_SIDO_CODES: Record<string, string> = { '42': '51', '45': '52' };

/**
 * Cities divided into 구 (일반구): the first four digits of their 구' codes. The boundary data
 * names some 구 without their city ("처인구", "덕양구"), and 관리구역 files write either the city
 * or the 구, so the city is part of the canonical name ("용인시 처인구").
 */
export const CITIES_WITH_GU: Record<string, string> = {
  '4111': '수원시',
  '4113': '성남시',
  '4117': '안양시',
  '4119': '부천시',
  '4127': '안산시',
  '4128': '고양시',
  '4146': '용인시',
  '4311': '청주시',
  '4413': '천안시',
  '4711': '포항시',
  '4812': '창원시',
  '5211': '전주시',
};

/** Lookup key: NFC, no whitespace or punctuation. */
export const nameKey = (s: string) =>
  s
    .normalize('NFC')
    .replace(/[\s·.,()]+/g, '')
    .toLowerCase();

const SIDO_BY_FORM = new Map<string, string>();
for (const [code, { forms }] of Object.entries(SIDO)) {
  for (const f of forms) SIDO_BY_FORM.set(nameKey(f), code);
}

/** The 시도 code for a name in any of its forms ("서울", "강원도", "전라북도"), or undefined. */
export function sidoCodeOf(name: string): string | undefined {
  return SIDO_BY_FORM.get(nameKey(name));
}

export function sidoNameOf(code: string): string | undefined {
  return SIDO[OLD_SIDO_CODES[code] ?? code]?.name;
}

/** The current code for a 시군구 code that may use a retired 시도 prefix (42xxx → 51xxx). */
export function currentSigunguCode(code: string): string {
  const sido = OLD_SIDO_CODES[code.slice(0, 2)];
  return sido ? sido + code.slice(2) : code;
}

/**
 * A 시군구 name as we show it: no 시도 prefix ("서울시도봉구" → "도봉구"), the city of a 일반구
 * written once with a space ("성남시수정구" → "성남시 수정구", "처인구" → "용인시 처인구").
 */
export function canonicalSigungu(code: string, rawName: string): string {
  let name = rawName.trim();
  // Only this 시도's long forms: "부산진구" starts with "부산", "광주시" (경기) with "광주".
  for (const f of SIDO[currentSigunguCode(code).slice(0, 2)]?.forms ?? []) {
    if (/[시도]$/.test(f) && name.startsWith(f) && name.length > f.length) {
      name = name.slice(f.length).trim();
      break;
    }
  }
  const city = CITIES_WITH_GU[code.slice(0, 4)];
  if (city) {
    const gu = name.replace(/\s+/g, '').replace(city, '');
    return `${city} ${gu}`;
  }
  return name.replace(/^(\S+시)\s*(\S+구)$/, '$1 $2');
}
