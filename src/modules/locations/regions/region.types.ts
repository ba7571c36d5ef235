/** A 시군구 (or a city of 일반구, or 세종) as the schedule data and the profile name it. */
export interface Region {
  /** 5-digit 행정구역 code of the 시군구 ("11680"); a city of 일반구 has its own ("41110"). */
  code: string;
  /** 시도, official current name ("서울특별시", "강원특별자치도"). */
  sido: string;
  /** 시군구 as we show it ("강남구", "수원시 장안구", "세종특별자치시"). */
  sigungu: string;
  /** "서울특별시 강남구". */
  name: string;
}

/** Where a request's region came from, and the 동 names when a source knows them (Kakao). */
export interface ResolvedRegion extends Region {
  source: 'kakao' | 'offline' | 'query' | 'profile';
  /** 법정동 and 행정동 (Kakao only; null offline), used to pick a 관리구역 within the 시군구. */
  legalDong: string | null;
  adminDong: string | null;
}
