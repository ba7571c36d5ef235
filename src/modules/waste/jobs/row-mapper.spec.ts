import { DataSource } from 'typeorm';
import { JobEntity } from './job.entity';
import { rowMapper } from './row-mapper';

/** The entity's metadata as TypeORM builds it at startup, without a connection. */
async function jobColumns() {
  const ds = new DataSource({ type: 'postgres', entities: [JobEntity] });
  await (ds as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas();
  return ds.getMetadata(JobEntity).columns;
}

const row = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: '11111111-1111-4111-8111-111111111111',
  user_id: '22222222-2222-4222-8222-222222222222',
  status: 'processing',
  stage: 'coaching',
  progress: 70,
  version: 4,
  content_type: 'image/jpeg',
  content_length: 12345,
  hint: '페트병',
  locale: 'ko',
  lat: 37.5,
  lng: 127.01,
  storage_key: 'u/j/original',
  upload_expires_at: new Date('2026-12-01T00:10:00Z'),
  image_sha256: 'a'.repeat(64),
  image_phash: 'b'.repeat(32),
  result: { items: [] },
  error_code: null,
  error_message: null,
  timings: { queue: 3 },
  correction: null,
  queued_at: new Date('2026-12-01T00:01:00Z'),
  finished_at: null,
  finalized_at: null,
  images_deleted_at: null,
  created_at: new Date('2026-12-01T00:00:00Z'),
  updated_at: new Date('2026-12-01T00:02:00Z'),
  ...over,
});

describe('rowMapper (job rows from the entity metadata)', () => {
  it('maps every column of waste.jobs to its entity property, as a JobEntity', async () => {
    const toEntity = rowMapper(JobEntity, await jobColumns());
    const job = toEntity(row());
    expect(job).toBeInstanceOf(JobEntity);
    expect({ ...job }).toEqual({
      id: '11111111-1111-4111-8111-111111111111',
      userId: '22222222-2222-4222-8222-222222222222',
      status: 'processing',
      stage: 'coaching',
      progress: 70,
      version: 4,
      contentType: 'image/jpeg',
      contentLength: 12345,
      hint: '페트병',
      locale: 'ko',
      lat: 37.5,
      lng: 127.01,
      storageKey: 'u/j/original',
      uploadExpiresAt: new Date('2026-12-01T00:10:00Z'),
      imageSha256: 'a'.repeat(64),
      imagePhash: 'b'.repeat(32),
      result: { items: [] },
      errorCode: null,
      errorMessage: null,
      timings: { queue: 3 },
      correction: null,
      queuedAt: new Date('2026-12-01T00:01:00Z'),
      finishedAt: null,
      finalizedAt: null,
      imagesDeletedAt: null,
      createdAt: new Date('2026-12-01T00:00:00Z'),
      updatedAt: new Date('2026-12-01T00:02:00Z'),
    });
  });

  it('turns numeric columns handed over as text into numbers, and keeps SQL NULL as null', async () => {
    const toEntity = rowMapper(JobEntity, await jobColumns());
    const job = toEntity(row({ progress: '90', version: '7', lat: null, lng: '126.9' }));
    expect(job.progress).toBe(90);
    expect(job.version).toBe(7);
    expect(job.lat).toBeNull();
    expect(job.lng).toBe(126.9);
    expect(job.storageKey).toBe('u/j/original'); // text stays text
  });

  it('refuses a column with a transformer instead of silently ignoring it', () => {
    class Thing {}
    expect(() =>
      rowMapper(Thing, [
        { propertyName: 'x', databaseName: 'x', type: 'varchar', transformer: { from: String } },
      ]),
    ).toThrow(/transformers/);
  });

  it('refuses bigint and numeric columns, which node-postgres hands over as strings', () => {
    class Thing {}
    for (const type of ['bigint', 'numeric']) {
      expect(() => rowMapper(Thing, [{ propertyName: 'x', databaseName: 'x', type }])).toThrow(
        new RegExp(`${type} columns are not mapped`),
      );
    }
  });

  it('puts names into the generated mapper only as quoted strings', () => {
    class Odd {}
    const toOdd = rowMapper(Odd, [
      { propertyName: "a'); throw new Error('x", databaseName: 'b"]; boom(); ["', type: 'text' },
    ]);
    expect({ ...toOdd({ 'b"]; boom(); ["': 1 }) }).toEqual({ "a'); throw new Error('x": 1 });
  });
});
