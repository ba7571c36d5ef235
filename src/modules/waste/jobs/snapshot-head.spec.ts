import { JobEntity } from './job.entity';
import { snapshotHead, toView } from './jobs.service';

function job(patch: Partial<JobEntity>): JobEntity {
  return Object.assign(new JobEntity(), {
    id: '5b0c8f86-58a4-4c2e-a0c1-0d2b8f1e9a10',
    userId: 'a3f1c9e2-1b7d-4f0a-9c55-2f6e8d1b7c44',
    status: 'processing',
    stage: 'classifying',
    progress: 40,
    version: 7,
    createdAt: new Date('2026-12-04T10:00:00.000Z'),
    updatedAt: new Date('2026-12-04T10:00:02.500Z'),
    result: null,
    errorCode: null,
    errorMessage: null,
    ...patch,
  });
}

/** What JobsService.publish stores. */
const stored = (j: JobEntity) =>
  JSON.stringify({ userId: j.userId, version: j.version, job: toView(j) });

describe('snapshotHead', () => {
  it.each([
    ['processing', job({})],
    ['queued, no stage', job({ status: 'queued', stage: null, progress: 5 })],
    [
      'completed with a result that holds quotes, "job": and non-ASCII text',
      job({
        status: 'completed',
        stage: null,
        progress: 100,
        result: {
          items: [],
          coaching: { message: '라벨을 떼고 "job":{} 헹궈서', source: 'rules' },
          cache: { hit: false, kind: null, source: null },
          nearby: null,
          timings: { totalMs: 1, visionMs: null, coachingMs: null },
        },
      }),
    ],
    [
      'failed',
      job({ status: 'failed', stage: null, errorCode: 'TIMEOUT', errorMessage: 'no progress' }),
    ],
  ])('reads publish()’s layout without parsing: %s', (_name, j) => {
    const head = snapshotHead(stored(j));
    expect(head).toMatchObject({
      userId: j.userId,
      version: 7,
      status: j.status,
      updatedAt: '2026-12-04T10:00:02.500Z',
    });
    expect(head.jobJson()).toBe(JSON.stringify(toView(j)));
    // As Redis's bytes: the same fields, and the job's bytes sent as they are stored.
    const bytes = Buffer.from(stored(j));
    const fromBytes = snapshotHead(bytes);
    expect(fromBytes).toMatchObject({
      userId: j.userId,
      version: 7,
      status: j.status,
      updatedAt: '2026-12-04T10:00:02.500Z',
    });
    const body = fromBytes.jobBody();
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(body.toString()).toBe(JSON.stringify(toView(j)));
    expect(fromBytes.jobJson()).toBe(JSON.stringify(toView(j)));
  });

  it('falls back to parsing any other layout (no version, other key order)', () => {
    const j = job({});
    const view = toView(j);
    const other = JSON.stringify({ job: view, userId: j.userId });
    for (const raw of [other, Buffer.from(other)]) {
      const head = snapshotHead(raw);
      expect(head).toMatchObject({ userId: j.userId, version: 0, status: 'processing' });
      expect(JSON.parse(head.jobJson())).toEqual(view);
      expect(JSON.parse(head.jobBody().toString())).toEqual(view);
    }
  });

  it('throws on text that is not JSON (the caller reads PostgreSQL instead)', () => {
    expect(() => snapshotHead('{"userId":"x"')).toThrow(SyntaxError);
    expect(() => snapshotHead(Buffer.from('{"userId":"x"'))).toThrow(SyntaxError);
  });
});
