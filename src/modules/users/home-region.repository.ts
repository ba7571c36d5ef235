import { DataSource } from 'typeorm';

/**
 * users.home_regions: the 시군구 code a user saved on the profile (PATCH /users/me homeRegion).
 * A plain class over a DataSource so the schedule lookup (recycling module) reads the same row
 * without importing the users module. docs/schedules.md → Home region.
 */
export class HomeRegionRepository {
  constructor(private readonly ds: DataSource) {}

  async get(userId: string): Promise<string | null> {
    const rows = (await this.ds.query(
      `SELECT region_code FROM users.home_regions WHERE user_id = $1`,
      [userId],
    )) as { region_code: string }[];
    return rows[0]?.region_code ?? null;
  }

  /** null removes it. */
  async set(userId: string, code: string | null): Promise<void> {
    if (code === null) {
      await this.ds.query(`DELETE FROM users.home_regions WHERE user_id = $1`, [userId]);
      return;
    }
    await this.ds.query(
      `INSERT INTO users.home_regions (user_id, region_code) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET region_code = EXCLUDED.region_code, updated_at = now()`,
      [userId, code],
    );
  }
}
