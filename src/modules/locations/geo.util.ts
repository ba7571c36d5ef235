/** IUGG mean Earth radius; distances we report use it (the SQL query uses the same value). */
export const EARTH_MEAN_RADIUS_M = 6_371_008.8;

/**
 * earthdistance's `earth()` sphere (6378168 m) is slightly larger than the mean radius, so its
 * `earth_box(center, r)` covers a smaller angle than a mean-radius circle of r metres. Widening the
 * box by this ratio keeps the index pre-filter a superset of the exact haversine test.
 */
export const EARTHDISTANCE_RADIUS_M = 6_378_168;
export const BOX_WIDENING = EARTHDISTANCE_RADIUS_M / EARTH_MEAN_RADIUS_M;

const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance in metres (haversine on the mean sphere). */
export function haversineM(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const dLat = rad(lat2 - lat1);
  const dLng = rad(lng2 - lng1);
  const a =
    Math.sin(dLat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_MEAN_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

export function validLatLng(lat: number, lng: number): boolean {
  return (
    Number.isFinite(lat) &&
    Number.isFinite(lng) &&
    lat >= -90 &&
    lat <= 90 &&
    lng >= -180 &&
    lng <= 180
  );
}
